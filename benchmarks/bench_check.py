"""Benchmark of ``projcomp check --samples 0`` (issue 2, item 7; issue 15, items 1 and 2).

Measures, on this machine:

1. the front door on the FC benchmark family (n = 256 dimensions, k = 32 conditionals,
   4-component 8-D mixture blocks; ``fc_family.py``): ``projcomp check FAMILY.json
   --json --samples 0`` end to end (wall time and peak resident memory of the child
   process; ``FRONT_REPEATS`` runs, each after one of the interpreter with torch alone,
   the floor under it), and the same work in a child timed per phase — ``start`` (interpreter and
   imports), ``parse`` (reading the JSON), ``validate`` (sizes, structure, numbers, JSON
   Schema), ``build`` (arrays, covariance factorizations, the Family), ``check``
   (``check_family``) and ``render`` (the JSON report);
2. ``check_family`` in process as k doubles from 4 to 64 (8-D blocks, n = 8k): linear
   cost in k;
3. ``check`` in high dimension (``dense_families.py``: a broad dense Gaussian background
   and two dense conditionals, no partition given): in process against the dimension d,
   with the fitted exponent of time ∝ d^e, and end to end at the largest d — three dense
   Gaussians up to d = 1024, and 8-component mixtures up to d = 256.

Times are the best of ``REPEATS`` runs (the large ones run once); the machine's load
average is recorded beside them, since other work on a shared machine inflates them.
Results go to ``benchmarks/results/check.json`` and ``check.md``. Run: ``make bench``.
"""

from __future__ import annotations

import itertools
import json
import math
import os
import platform
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import torch

sys.path.insert(0, str(Path(__file__).parent))
from dense_families import dense_family
from fc_family import fc_family

from numerics.checks.judge import check_family
from numerics.laws.family import Family
from projcomp.atomic import write_text
from projcomp.spec import family_from_dict, family_to_dict

RESULTS = Path(__file__).parent / "results"
REPEATS = 3
# End-to-end runs of the FC spec, alternating with torch's import (front_door)
FRONT_REPEATS = 7
PHASES = ("start", "parse", "validate", "build", "check", "render")
# Dense specs are written with 7 significant digits (the family is the one the spec
# describes): 3 dense 1024 × 1024 covariances in full repr would pass the 64 MiB limit.
DIGITS = 7
GAUSSIAN_DIMS = [128, 256, 512, 1024]
MIXTURE_DIMS = [32, 64, 128, 256]
MIXTURE_COMPONENTS = 8
# A child that times each phase of `projcomp check FAMILY --json --samples 0` as the
# command runs it; argv: the spec and the parent's clock when it started the child.
PHASE_SCRIPT = """
import time
started = float(__import__("sys").argv[2])
import json, sys
from numerics.checks.judge import check_family
from projcomp import spec
from projcomp.cli import report_json
marks = {"start": time.time() - started}
cpu = {"start": time.process_time()}  # CPU seconds since the process began
def mark(name, since=[time.perf_counter(), time.process_time()]):
    now = [time.perf_counter(), time.process_time()]
    marks[name], cpu[name] = now[0] - since[0], now[1] - since[1]
    since[:] = now
doc = spec.read_json(sys.argv[1]); mark("parse")
spec.check_document(doc); mark("validate")
family = spec.build_family(doc); mark("build")
report = check_family(family); mark("check")
text = json.dumps(report_json(report), indent=2); mark("render")
print(json.dumps({"phases": marks, "cpu": cpu, "verdict": report.verdict}))
"""


# Children are started by this small launcher, which reports their wall time and
# ``wait4`` usage: Linux keeps in a process's peak RSS the peak of the memory it ran in
# before its exec, so a child started from this benchmark (a few hundred MiB of torch and
# families) would report this process's peak as its own (/bin/true measured 250 MiB; from
# the launcher, 11 MiB: the launcher's own peak is the floor of every reading).
# argv: the files for the child's stdout and stderr, then the child's argv.
LAUNCHER = """
import json, os, subprocess, sys, time
with open(sys.argv[1], "w") as out, open(sys.argv[2], "w") as err:
    start = time.perf_counter()
    proc = subprocess.Popen(sys.argv[3:], stdout=out, stderr=err)
    _, status, usage = os.wait4(proc.pid, 0)
    seconds = time.perf_counter() - start
print(json.dumps({"seconds": seconds, "code": os.waitstatus_to_exitcode(status),
                  "rss_kib": usage.ru_maxrss, "cpu": usage.ru_utime + usage.ru_stime}))
"""


def run_child(argv: list[str]) -> tuple[float, float, str, float]:
    """Wall seconds, peak RSS (MiB, the child's own), stdout and CPU seconds (user +
    system) of a child started by ``LAUNCHER``."""
    with tempfile.TemporaryDirectory() as folder:
        out, err = Path(folder) / "out", Path(folder) / "err"
        launched = subprocess.run([sys.executable, "-S", "-c", LAUNCHER, str(out), str(err),
                                   *argv], capture_output=True, text=True, check=True)
        usage = json.loads(launched.stdout)
        if usage["code"] != 0:
            raise RuntimeError(f"{argv[:4]} exited {usage['code']}: {err.read_text()[-500:]}")
        return usage["seconds"], usage["rss_kib"] / 1024, out.read_text(), usage["cpu"]


def end_to_end(spec: Path, repeats: int = REPEATS, limits: tuple[str, ...] = ()) -> dict:
    """``projcomp check SPEC --json --samples 0`` in a fresh process (the installed console
    command, beside this interpreter): best wall time, largest peak RSS, verdict."""
    argv = [str(Path(sys.executable).with_name("projcomp")), "check", str(spec), "--json",
            "--samples", "0", *limits]
    runs = [run_child(argv) for _ in range(repeats)]
    return {"seconds": min(r[0] for r in runs), "cpu_seconds": min(r[3] for r in runs),
            "peak_rss_mib": max(r[1] for r in runs),
            "verdict": json.loads(runs[-1][2])["verdict"],
            "spec_mib": spec.stat().st_size / 2**20}


def front_door(spec: Path, repeats: int = FRONT_REPEATS) -> dict:
    """``end_to_end`` of the FC spec, each run preceded by ``python -c "import torch"``
    (the interpreter and torch alone: the floor under any command that checks a family;
    this machine's speed drifts by ±30 % over an hour, so the two are measured in
    alternation): the check's best, and both sides' wall seconds run by run."""
    checks, floors = [], []
    for _ in range(repeats):
        floors.append(run_child([sys.executable, "-c", "import torch"])[0])
        checks.append(end_to_end(spec, repeats=1))
    best = min(checks, key=lambda r: r["seconds"])
    return {**best, "peak_rss_mib": max(r["peak_rss_mib"] for r in checks),
            "runs": [r["seconds"] for r in checks], "torch_import_runs": floors}


def phases(spec: Path, repeats: int = REPEATS) -> dict[str, dict[str, float]]:
    """Wall and CPU seconds per phase (best of ``repeats`` for each) and their totals."""
    best: dict[str, dict[str, float]] = {"wall": {}, "cpu": {}}
    for _ in range(repeats):
        out = json.loads(run_child([sys.executable, "-c", PHASE_SCRIPT, str(spec),
                                    repr(time.time())])[2])
        for kind, key in (("wall", "phases"), ("cpu", "cpu")):
            for name, value in out[key].items():
                best[kind][name] = min(best[kind].get(name, math.inf), value)
    for kind in best.values():
        kind["total"] = sum(kind[p] for p in PHASES)
    return best


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


def dimension_sweep(dims: list[int], components: int, folder: Path) -> dict[str, Any]:
    """In-process ``check_family`` time against d for dense families (as read from their
    specs), the fitted exponent, and end to end at the largest d."""
    rows = []
    for d in dims:
        spec = folder / f"dense-{components}-{d}.json"
        family = _written(dense_family(d, components), spec)
        repeats = REPEATS if d < dims[-1] else 1
        rows.append({"d": d, "seconds": min(_timed(family) for _ in range(repeats)),
                     "verdict": check_family(family).verdict if d < dims[-1] else None})
    last = folder / f"dense-{components}-{dims[-1]}.json"
    return {"components": components, "rows": rows,
            "exponent": fitted_exponent([r["d"] for r in rows], [r["seconds"] for r in rows]),
            "end_to_end": {"d": dims[-1], **end_to_end(last, repeats=1,
                                                       limits=("--limit", "bytes=200000000"))},
            "phases": phases(last, repeats=1)}


def _written(family: Family, spec: Path) -> Family:
    """Write ``family`` to ``spec`` with ``DIGITS`` significant digits and return the
    family that spec describes."""
    doc = _rounded(family_to_dict(family))
    spec.write_text(json.dumps(doc))
    return family_from_dict(doc)


def _rounded(value: Any) -> Any:
    if isinstance(value, float):
        return float(f"{value:.{DIGITS - 1}e}")
    if isinstance(value, list):
        return [_rounded(v) for v in value]
    if isinstance(value, dict):
        return {key: _rounded(v) for key, v in value.items()}
    return value


def fitted_exponent(sizes: list[float], seconds: list[float]) -> float:
    """Least-squares slope of log(seconds) against log(size): time ∝ size^slope."""
    xs = [math.log(s) for s in sizes]
    ys = [math.log(t) for t in seconds]
    mx, my = sum(xs) / len(xs), sum(ys) / len(ys)
    return sum((x - mx) * (y - my) for x, y in zip(xs, ys, strict=True)) / \
        sum((x - mx) ** 2 for x in xs)


def _timed(family: Family) -> float:
    start = time.perf_counter()
    check_family(family)
    return time.perf_counter() - start


def main() -> None:
    started = time.perf_counter()
    RESULTS.mkdir(exist_ok=True)
    machine = {"cpu": platform.processor() or platform.machine(),
               "python": platform.python_version(), "torch": torch.__version__,
               "cpu_count": os.cpu_count(), "load_average_before": os.getloadavg()}
    with tempfile.TemporaryDirectory() as tmp:
        spec = Path(tmp) / "fc-k32.json"
        spec.write_text(json.dumps(family_to_dict(fc_family(32))))
        e2e = front_door(spec)
        per_phase = phases(spec)
        rows = scaling([4, 8, 16, 32, 64])
        gaussians = dimension_sweep(GAUSSIAN_DIMS, 1, Path(tmp))
        mixtures = dimension_sweep(MIXTURE_DIMS, MIXTURE_COMPONENTS, Path(tmp))
    machine["load_average_after"] = os.getloadavg()
    machine["omp_num_threads"] = os.environ.get("OMP_NUM_THREADS")
    machine["benchmark_seconds"] = round(time.perf_counter() - started, 1)
    report = {"machine": machine, "end_to_end_n256_k32": e2e, "phases_n256_k32": per_phase,
              "scaling": rows,
              "growth_exponent": fitted_exponent([r["k"] for r in rows],
                                                 [r["seconds"] for r in rows]),
              "dense_gaussians": gaussians, "dense_mixtures": mixtures}
    write_text(RESULTS / "check.json", json.dumps(report, indent=2) + "\n")
    write_text(RESULTS / "check.md", markdown(report))
    print(markdown(report))


def markdown(report: dict[str, Any]) -> str:
    machine, e2e, per_phase = (report["machine"], report["end_to_end_n256_k32"],
                               report["phases_n256_k32"])
    lines = ["# `projcomp check` benchmark", "",
             f"Machine: {machine}", "",
             f"The benchmark took {machine.get('benchmark_seconds', float('nan')):.0f} s; "
             f"OMP_NUM_THREADS={machine.get('omp_num_threads')}.", "",
             "Load averages before and after are in the machine line: on a shared machine "
             "other work inflates wall times (CPU times, given beside them, much less).", "",
             "## The front door (issue 15, item 1)", "",
             "End to end (`projcomp check FAMILY.json --json --samples 0`), n = 256, k = 32, "
             f"4-component 8-D blocks: **{e2e['seconds']:.2f} s**, "
             f"peak RSS {e2e['peak_rss_mib']:.0f} MiB (spec file {e2e['spec_mib']:.1f} MiB, "
             f"verdict `{e2e['verdict']}`).", "",
             f"CPU (user + system) of that run: {e2e['cpu_seconds']:.2f} s.", "",
             f"Best of {len(e2e['runs'])} runs, each after a run of the interpreter with "
             f"`import torch` alone (the floor under any check; best "
             f"{min(e2e['torch_import_runs']):.2f} s, median "
             f"{statistics.median(e2e['torch_import_runs']):.2f} s). Run by run, check and "
             "floor, seconds: " + ", ".join(
                 f"{c:.2f}/{f:.2f}" for c, f in zip(e2e["runs"], e2e["torch_import_runs"],
                                                    strict=True)) + ".", "",
             "Per phase, seconds (a child doing what the command does, best of "
             f"{REPEATS}; `start` is the interpreter and the imports):", "",
             "| | " + " | ".join(PHASES) + " | total |", "|---|" + "---|" * (len(PHASES) + 1)]
    lines += _phase_rows(per_phase)
    lines += ["",
             "`check_family` in process as k doubles (8-D blocks, n = 8k):", "",
             "| k | n | seconds | ratio to k/2 |", "|---|---|---|---|"]
    lines += [f"| {r['k']} | {r['n']} | {r['seconds']:.3f} | "
              + (f"{r['ratio_to_half_k']:.2f} |" if "ratio_to_half_k" in r else " |")
              for r in report["scaling"]]
    lines += ["", f"Fitted growth: time ∝ k^{report['growth_exponent']:.2f} (1 is linear).", "",
              "## High dimension (issue 15, item 2)", "",
              "Dense families, no partition given (`benchmarks/dense_families.py`): a broad "
              "dense Gaussian background and two dense conditionals. `check_family` in "
              "process (the largest d once), and end to end at the largest d.", ""]
    for key, title in (("dense_gaussians", "three dense Gaussians"),
                       ("dense_mixtures", f"{MIXTURE_COMPONENTS}-component mixtures")):
        sweep = report[key]
        end = sweep["end_to_end"]
        lines += [f"**{title}**: time ∝ d^{sweep['exponent']:.2f}; end to end at "
                  f"d = {end['d']}: **{end['seconds']:.2f} s** ({end['cpu_seconds']:.2f} s "
                  f"CPU), peak RSS "
                  f"{end['peak_rss_mib']:.0f} MiB (spec {end['spec_mib']:.1f} MiB, verdict "
                  f"`{end['verdict']}`).", "", "| d | seconds (in process) |", "|---|---|"]
        lines += [f"| {r['d']} | {r['seconds']:.3f} |" for r in sweep["rows"]]
        lines += ["", f"Per phase at d = {end['d']}, seconds (one child):", "",
                  "| | " + " | ".join(PHASES) + " | total |",
                  "|---|" + "---|" * (len(PHASES) + 1), *_phase_rows(sweep["phases"]), ""]
    return "\n".join(lines)


def _phase_rows(per_phase: dict[str, dict[str, float]]) -> list[str]:
    return ["| " + kind + " | " + " | ".join(f"{per_phase[kind][p]:.3f}"
                                             for p in (*PHASES, "total")) + " |"
            for kind in ("wall", "cpu")]


if __name__ == "__main__":
    main()
