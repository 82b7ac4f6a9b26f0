"""Benchmark of C15's sweep (``numerics.claims.power``): wall time per family and the AUC
intervals that a sweep of a given size gives, to size ``projcomp verify``'s profiles.

For each ``--per-class`` value: the sweep of ``per_class`` families of every class (the
first ``--sampled`` of each allowed to run the sampling verdict), timed end to end in
one process (``serial_map``) in wall and in CPU seconds (the process's own CPU time: on a
shared machine, close to what the wall time would be on a quiet one, since the sweep runs
single-threaded), then every AUC interval of the measurement. With ``--scheduler
local:N|ADDRESS`` (projcomp.campaigns) the families are Dask tasks instead; every task
carries its seed, so the outcomes and AUCs equal the serial ones, and the CPU seconds are
then the driver's alone. Writes
``benchmarks/results/c15_sweep.{json,md}``. Numbers depend on the machine's load: say
what else ran when you record them.

    python benchmarks/bench_c15_sweep.py --per-class 10 20 --sampled 3 [--scheduler local:2]
"""

from __future__ import annotations

import argparse
import json
import os
import time
from pathlib import Path

from numerics.campaigns import Mapper, serial_map
from numerics.claims import power
from numerics.threads import single_threaded
from projcomp.campaigns import SchedulerError, mapper_for, parse_scheduler

RESULTS = Path(__file__).parent / "results"


def run(per_class: int, sampled: int, mapper: Mapper = serial_map) -> dict:
    start, cpu = time.perf_counter(), time.process_time()
    with single_threaded():
        outcomes = power.sweep(per_class, sampled, mapper)
    seconds, cpu = time.perf_counter() - start, time.process_time() - cpu
    report = power.measure(outcomes, per_class, sampled)
    return {"per_class": per_class, "sampled_per_class": sampled,
            "families": len(outcomes), "seconds": round(seconds, 1),
            "seconds_per_family": round(seconds / len(outcomes), 3),
            "cpu_seconds": round(cpu, 1),
            "decided_by": report.decided_by,
            "auc": [{"statistic": p.statistic, "truth": p.truth, "stratum": p.stratum,
                     "families": p.families, "auc": p.auc,
                     "width": round(p.auc[2] - p.auc[0], 4)} for p in report.predictors]}


def markdown(rows: list[dict], note: str) -> str:
    lines = ["# C15 sweep: time and AUC intervals", "", note, "",
             "| per class | families | sampled per class | scheduler | wall s | CPU s | "
             "wall s/family | statistic | truth | stratum | AUC [lo, mid, hi] | width |",
             "|---|---|---|---|---|---|---|---|---|---|---|---|"]
    for r in rows:
        for a in r["auc"]:
            lo, mid, hi = a["auc"]
            lines.append(f"| {r['per_class']} | {r['families']} | {r['sampled_per_class']} | "
                         f"{r.get('scheduler', 'serial')} | {r['seconds']} | "
                         f"{r['cpu_seconds']} | {r['seconds_per_family']} | "
                         f"{a['statistic']} | "
                         f"{a['truth']} | {a['stratum']} | {mid:.3f} [{lo:.3f}, {hi:.3f}] | "
                         f"{a['width']:.3f} |")
    return "\n".join(lines) + "\n"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--per-class", type=int, nargs="+", default=[10])
    parser.add_argument("--sampled", type=int, default=3)
    parser.add_argument("--note", default=f"Machine: {os.cpu_count()} cores; load average "
                                         f"{os.getloadavg()[0]:.1f} at the start.")
    parser.add_argument("--out", type=Path, default=RESULTS, help="folder of the results")
    parser.add_argument("--scheduler", metavar="local:N|ADDRESS",
                        help="run the sweep's families as Dask tasks (projcomp.campaigns): "
                             "local:N worker processes here, or a scheduler address "
                             "(default: serial)")
    args = parser.parse_args()
    try:
        parse_scheduler(args.scheduler)
        with mapper_for(args.scheduler) as mapper:
            rows = [run(n, args.sampled, mapper) for n in args.per_class]
    except SchedulerError as err:
        parser.exit(2, f"bench_c15_sweep: error: {err}\n")
    for row in rows:
        row["scheduler"] = args.scheduler or "serial"
    args.out.mkdir(exist_ok=True)
    (args.out / "c15_sweep.json").write_text(json.dumps({"note": args.note, "runs": rows},
                                                        indent=1))
    (args.out / "c15_sweep.md").write_text(markdown(rows, args.note))
    print(markdown(rows, args.note))


if __name__ == "__main__":
    main()
