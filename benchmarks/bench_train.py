"""Benchmark of ``projcomp train clevr-lite`` (issue 12): wall and CPU time per
architecture, quick recipe by default (``--full`` for the full one; ``--device cuda`` to
train on a GPU).

The issue asks ``--quick`` to finish in ≤ 3 minutes and the full recipe in ≤ 30 minutes
on 2 CPU cores. Each architecture is trained in a child process (``projcomp train
clevr-lite --arch NAME``) so that its wall time, user + system CPU time and peak memory
are its own; the load average before and after is recorded, since on a shared machine
wall time measures the neighbours too. Results: ``benchmarks/results/train.json`` and
``train.md``. Run: ``python benchmarks/bench_train.py [--full] [--device DEV]``.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

RESULTS = Path(__file__).parent / "results"


def measure(name: str, quick: bool, out: Path, device: str) -> dict:
    load = os.getloadavg()[0]
    start = time.perf_counter()
    command = [sys.executable, "-m", "projcomp.cli", "train", "clevr-lite", "--arch", name,
               "--out", str(out), "--device", device, *(["--quick"] if quick else [])]
    proc = subprocess.Popen(command, stderr=subprocess.DEVNULL)
    # this child's own usage (RUSAGE_CHILDREN's peak would be the largest of all children
    # so far); this process imports no torch, so its own memory stays below the reading
    _, status, usage = os.wait4(proc.pid, 0)
    wall = time.perf_counter() - start
    if os.waitstatus_to_exitcode(status) != 0:
        raise subprocess.CalledProcessError(os.waitstatus_to_exitcode(status), command)
    doc = json.loads((out / f"{name}.json").read_text())
    return {"arch": name, "wall_s": wall, "cpu_s": usage.ru_utime + usage.ru_stime,
            "peak_rss_mib": usage.ru_maxrss / 1024, "parameters": doc["parameters"],
            "steps": doc["recipe"]["steps"], "batch": doc["recipe"]["batch"],
            "final_loss": doc["losses"][-1], "device": device, "load_before": load,
            "load_after": os.getloadavg()[0]}


def main() -> None:
    quick = "--full" not in sys.argv
    device = sys.argv[sys.argv.index("--device") + 1] if "--device" in sys.argv else "cpu"
    with tempfile.TemporaryDirectory() as tmp:
        rows = [measure(name, quick, Path(tmp), device) for name in ("mlp", "cnn")]
    total = sum(r["wall_s"] for r in rows)
    doc = {"recipe": "quick" if quick else "full", "device": device, "cores": os.cpu_count(),
           "rows": rows,
           "total_wall_s": total,
           "budget_s": 180 if quick else 1800, "within_budget": total <= (180 if quick else 1800)}
    RESULTS.mkdir(exist_ok=True)
    (RESULTS / "train.json").write_text(json.dumps(doc, indent=2) + "\n")
    lines = [f"# projcomp train clevr-lite ({doc['recipe']} recipe, {device})", "",
             f"{doc['cores']} cores; total wall {total:.0f} s (budget {doc['budget_s']} s). "
             "Wall time includes the machine's other load (load average columns).", "",
             "| arch | parameters | steps × batch | wall s | CPU s | peak MiB | final loss | "
             "load before / after |", "|---|---|---|---|---|---|---|---|"]
    lines += [f"| {r['arch']} | {r['parameters']} | {r['steps']} × {r['batch']} | "
              f"{r['wall_s']:.0f} | {r['cpu_s']:.0f} | {r['peak_rss_mib']:.0f} | "
              f"{r['final_loss']:.4f} | {r['load_before']:.1f} / {r['load_after']:.1f} |"
              for r in rows]
    (RESULTS / "train.md").write_text("\n".join(lines) + "\n")
    print("\n".join(lines))


if __name__ == "__main__":
    main()
