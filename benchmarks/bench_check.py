"""Benchmark of ``projcomp check`` on large FC families (issue 2, item 7).

Measures, on this machine:

1. end to end ``projcomp check FAMILY.json --samples 0`` (spec reading included; the
   distribution-level checks, as when this benchmark was first recorded — the sampling
   section's cost is measured by ``bench_sampling.py``) on an FC family with n = 256
   dimensions, k = 32 conditionals, 4-component 8-D mixture blocks: wall time and peak
   resident memory of the child process;
2. ``check_family`` in process as k doubles from 4 to 64 (8-D blocks, n = 8k): the time
   per doubling, which must stay near 2 (linear cost in k).

Results go to ``benchmarks/results/check.json`` and ``check.md``. Run: ``make bench``.
"""

from __future__ import annotations

import itertools
import json
import math
import os
import platform
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).parent))
from fc_family import fc_family

from numerics.checks.judge import check_family
from projcomp.spec import family_to_dict

RESULTS = Path(__file__).parent / "results"
REPEATS = 3


def end_to_end(k: int) -> dict[str, float]:
    """Wall time and peak RSS of ``projcomp check`` in a fresh process (best of REPEATS)."""
    with tempfile.TemporaryDirectory() as tmp:
        spec = Path(tmp) / "family.json"
        spec.write_text(json.dumps(family_to_dict(fc_family(k))))
        times, peaks = [], []
        for _ in range(REPEATS):
            start = time.perf_counter()
            proc = subprocess.run([sys.executable, "-m", "projcomp.cli", "check", str(spec),
                                   "--json", "--samples", "0"],
                                  capture_output=True, text=True, check=True)
            times.append(time.perf_counter() - start)
            peaks.append(resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024)
        verdict = json.loads(proc.stdout)["verdict"]
        size = spec.stat().st_size
    return {"k": k, "n": 8 * k, "seconds": min(times), "peak_rss_mib": max(peaks),
            "spec_mib": size / 2**20, "verdict": verdict}


def scaling(ks: list[int]) -> list[dict[str, float]]:
    """In-process ``check_family`` time (best of REPEATS) for each k."""
    rows = []
    for k in ks:
        family = fc_family(k)
        best = min(_timed(family) for _ in range(REPEATS))
        rows.append({"k": k, "n": 8 * k, "seconds": best})
    for prev, row in itertools.pairwise(rows):
        row["ratio_to_half_k"] = row["seconds"] / prev["seconds"]
    return rows


def growth_exponent(rows: list[dict[str, float]]) -> float:
    """Least-squares slope of log(seconds) against log(k): 1 is linear growth."""
    xs = [math.log(r["k"]) for r in rows]
    ys = [math.log(r["seconds"]) for r in rows]
    mx, my = sum(xs) / len(xs), sum(ys) / len(ys)
    return sum((x - mx) * (y - my) for x, y in zip(xs, ys, strict=True)) / \
        sum((x - mx) ** 2 for x in xs)


def _timed(family) -> float:
    start = time.perf_counter()
    check_family(family)
    return time.perf_counter() - start


def main() -> None:
    RESULTS.mkdir(exist_ok=True)
    machine = {"cpu": platform.processor() or platform.machine(),
               "python": platform.python_version(), "torch": torch.__version__,
               "cpu_count": os.cpu_count()}
    rows = scaling([4, 8, 16, 32, 64])
    report = {"machine": machine, "end_to_end_n256_k32": end_to_end(32), "scaling": rows,
              "growth_exponent": growth_exponent(rows)}
    (RESULTS / "check.json").write_text(json.dumps(report, indent=2) + "\n")
    e2e = report["end_to_end_n256_k32"]
    lines = ["# `projcomp check` benchmark", "",
             f"Machine: {machine}", "",
             "End to end (`--samples 0`), n = 256, k = 32, 4-component 8-D blocks: "
             f"**{e2e['seconds']:.2f} s**, "
             f"peak RSS {e2e['peak_rss_mib']:.0f} MiB (spec file {e2e['spec_mib']:.1f} MiB, "
             f"verdict `{e2e['verdict']}`).", "",
             "| k | n | seconds (in process) | ratio to k/2 |", "|---|---|---|---|"]
    lines += [f"| {r['k']} | {r['n']} | {r['seconds']:.3f} | "
              f"{r['ratio_to_half_k']:.2f} |" if "ratio_to_half_k" in r else
              f"| {r['k']} | {r['n']} | {r['seconds']:.3f} | |" for r in report["scaling"]]
    lines += ["", f"Fitted growth: time ∝ k^{report['growth_exponent']:.2f} (1 is linear)."]
    (RESULTS / "check.md").write_text("\n".join(lines) + "\n")
    print("\n".join(lines))


if __name__ == "__main__":
    main()
