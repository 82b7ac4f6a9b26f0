"""Campaign benchmark (issue 15, item 3): `projcomp verify` serial against `--scheduler`.

Runs ``projcomp verify`` twice as the user does, end to end (interpreter start, proofs,
report): once serially and once with ``--scheduler local:N`` (default N = 2), each into
its own temporary report folder. Records the wall times, their ratio (the speed-up), the
claims' own times, and checks that every claim's outcome, verdict, methods and instance
count agree between the two runs. Writes ``benchmarks/results/campaigns.json`` and
``campaigns.md``; exits 1 when the outcomes differ.

    .venv/bin/python benchmarks/bench_campaigns.py [--workers 2]
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

RESULTS = Path(__file__).parent / "results"
COMPARED = ("outcome", "as_predicted", "methods", "instances")


def verify_run(scheduler: str | None, out: Path) -> dict:
    """Wall seconds and ``results.json`` of one ``projcomp verify`` run."""
    argv = [sys.executable, "-m", "projcomp.cli", "verify", "--out", str(out)]
    if scheduler:
        argv += ["--scheduler", scheduler]
    start = time.perf_counter()
    done = subprocess.run(argv, capture_output=True, text=True)
    wall = time.perf_counter() - start
    if done.returncode not in (0, 1):
        raise SystemExit(f"bench_campaigns: {' '.join(argv[3:])} exited {done.returncode}: "
                         f"{done.stderr.strip().splitlines()[-1:]}")
    return {"scheduler": scheduler or "serial", "wall_seconds": wall,
            "results": json.loads((out / "results.json").read_text())}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--out", type=Path, default=RESULTS)
    args = parser.parse_args(argv)
    load_start = os.getloadavg()[0]
    with tempfile.TemporaryDirectory() as tmp:
        serial = verify_run(None, Path(tmp) / "serial")
        dask = verify_run(f"local:{args.workers}", Path(tmp) / "dask")
    pairs = zip(serial["results"]["claims"], dask["results"]["claims"], strict=True)
    differ = [a["id"] for a, b in pairs if any(a[k] != b[k] for k in COMPARED)]
    claim_seconds = {r["scheduler"]: sum(c["seconds"] for c in r["results"]["claims"])
                     for r in (serial, dask)}
    report = {
        "cpu_count": os.cpu_count(), "load_average_start": load_start,
        "load_average_end": os.getloadavg()[0], "workers": args.workers,
        "serial_wall_seconds": serial["wall_seconds"],
        "scheduler_wall_seconds": dask["wall_seconds"],
        "speedup": serial["wall_seconds"] / dask["wall_seconds"],
        "claim_seconds": claim_seconds, "claims": len(serial["results"]["claims"]),
        "outcomes_differ": differ,
        "scheduler_run": dask["results"].get("run"),
    }
    lines = [
        "# Campaign benchmark: `projcomp verify` serial and on Dask", "",
        f"Machine: {report['cpu_count']} cores, shared (load average "
        f"{load_start:.1f} at start, {report['load_average_end']:.1f} at end: other "
        "processes ran beside it, so both times are inflated and the ratio is rough).", "",
        "| run | wall time (s) | claims' own times, summed (s) |", "|---|---|---|",
        f"| serial | {serial['wall_seconds']:.1f} | {claim_seconds['serial']:.1f} |",
        f"| `--scheduler local:{args.workers}` | {dask['wall_seconds']:.1f} | "
        f"{claim_seconds[dask['scheduler']]:.1f} |", "",
        f"Speed-up, end to end (interpreter, cluster start, proofs, report): "
        f"**{report['speedup']:.2f}×** with {args.workers} workers.", "",
        f"Outcomes, verdicts, methods and instance counts of the {report['claims']} claims: "
        + ("identical in both runs." if not differ else f"DIFFER for {', '.join(differ)}."),
        ""]
    args.out.mkdir(parents=True, exist_ok=True)
    for name, text in (("campaigns.json", json.dumps(report, indent=2) + "\n"),
                       ("campaigns.md", "\n".join(lines))):
        tmp_path = args.out / (name + ".tmp")
        tmp_path.write_text(text)
        os.replace(tmp_path, args.out / name)
    print("\n".join(lines))
    return 1 if differ else 0


if __name__ == "__main__":
    sys.exit(main())
