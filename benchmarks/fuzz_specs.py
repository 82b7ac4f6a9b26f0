"""Fuzz campaign of ``projcomp check`` on hostile specs (issue 16).

Draws ``--specs`` specs from ``tests/spec_strategies.hostile_specs`` (mutated examples,
documents from scratch, damaged bytes, small limits), runs each in-process through the
command's entry point with ``--timeout`` and counts: exit statuses, breaches of the
error contract (exit 1, NaN or infinity in a report, tracebacks, more than 3 lines), and
runs that went past their timeout by more than a second without the timeout's message.
Writes ``benchmarks/results/fuzz_specs.{json,md}``; the breaching specs go to
``benchmarks/results/fuzz_failures/``.

    .venv/bin/python benchmarks/fuzz_specs.py [--specs 1000] [--seed 0] [--timeout 20]
        [--scheduler local:N|ADDRESS]

The specs are drawn first (Hypothesis, derandomized by ``--seed``), then checked in
batches of ``BATCH`` as campaign tasks (``projcomp.campaigns``): serially in this
process, or on Dask workers with ``--scheduler``, where each batch runs in a child
process (``--timeout`` is a SIGALRM, which only a main thread can take). The counts are
the same either way for the same seed; the timings are each run's own.
"""

from __future__ import annotations

import argparse
import importlib
import json
import os
import pickle
import subprocess
import sys
import tempfile
import threading
from collections import Counter
from pathlib import Path

from hypothesis import HealthCheck, Phase, given, seed, settings

from numerics.campaigns import Mapper, serial_map
from projcomp.campaigns import SchedulerError, mapper_for

ROOT = Path(__file__).resolve().parent.parent
sys.path[:0] = [str(ROOT), str(ROOT / "tests")]
fuzz = importlib.import_module("spec_strategies")

RESULTS = ROOT / "benchmarks" / "results"
# A run counts as past its limit when it outlives --timeout by more than this: SIGALRM
# is handled between Python bytecodes, so one long torch call can delay it.
OVERRUN_SLACK_S = 1.0
# Specs per campaign task: a child process's start (~2 s with torch) amortized over them.
BATCH = 25


def draw_specs(specs: int, seed_value: int) -> list:
    """``specs`` hostile specs, drawn by Hypothesis from ``seed_value``."""
    drawn = []

    @seed(seed_value)
    @settings(max_examples=specs, database=None, deadline=None, phases=[Phase.generate],
              suppress_health_check=list(HealthCheck))
    @given(spec=fuzz.hostile_specs())
    def one(spec) -> None:
        drawn.append(spec)

    one()
    return drawn


def check_batch(task: tuple[list, float]) -> list:
    """The outcomes of ``projcomp check`` on a batch of specs: in this process when it is
    a main thread, else (a Dask worker's thread) in a child process running
    ``--batch``."""
    if threading.current_thread() is threading.main_thread():
        os.environ.pop("PROJCOMP_DEBUG", None)
        specs, timeout = task
        folder = Path(tempfile.mkdtemp())
        return [fuzz.run_check(spec, folder, timeout) for spec in specs]
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "batch.pickle"
        path.write_bytes(pickle.dumps(task))
        subprocess.run([sys.executable, __file__, "--batch", str(path)], check=True,
                       stdout=subprocess.DEVNULL)
        return pickle.loads(path.read_bytes())


def campaign(specs: int, seed_value: int, timeout: float, mapper: Mapper | None = None
             ) -> dict:
    """Run ``specs`` hostile specs (batches mapped by ``mapper``, default serial); counts
    and the breaching cases."""
    counts: Counter[str] = Counter()
    origins: Counter[str] = Counter()
    failures: list[dict] = []
    drawn = draw_specs(specs, seed_value)
    batches = [(drawn[i:i + BATCH], timeout) for i in range(0, len(drawn), BATCH)]
    module = importlib.import_module("fuzz_specs")  # by name, for Dask workers
    outcomes = [o for batch in (mapper or serial_map)(module.check_batch, batches)
                for o in batch]
    for spec, outcome in zip(drawn, outcomes, strict=True):
        counts[f"exit {outcome.status}"] += 1
        origins[spec.origin] += 1
        breaches = fuzz.contract_breaches(outcome)
        if "--timeout" in outcome.stderr:
            counts["timed out (exit 2, phase named)"] += 1
        if outcome.seconds > timeout + OVERRUN_SLACK_S:
            breaches.append(f"ran {outcome.seconds:.1f} s past --timeout {timeout:g}")
        counts["NaN or inf in a report"] += any(
            "report holds" in b or "the report's" in b for b in breaches)
        counts["tracebacks"] += any("traceback" in b for b in breaches)
        if breaches:
            failures.append({"breaches": breaches, "limits": spec.limits,
                             "origin": spec.origin, "bytes": spec.data[:2000].decode(
                                 "utf-8", "replace")})
    return {"specs": specs, "seed": seed_value, "timeout_s": timeout, "counts": dict(counts),
            "origins": dict(origins),
            "slowest_s": round(max((o.seconds for o in outcomes), default=0.0), 2),
            "breaching_specs": len(failures), "failures": failures}


def write(result: dict, out: Path = RESULTS) -> None:
    out.mkdir(parents=True, exist_ok=True)
    failures = result.pop("failures")
    (out / "fuzz_specs.json").write_text(json.dumps(result, indent=2) + "\n")
    lines = [f"# Fuzz campaign: {result['specs']} hostile specs (seed {result['seed']}, "
             f"--timeout {result['timeout_s']:g} s)", "", "| count | value |", "|---|---|"]
    lines += [f"| {k} | {v} |" for k, v in sorted(result["counts"].items())]
    lines += [f"| specs from: {k} | {v} |" for k, v in sorted(result["origins"].items())]
    lines += [f"| slowest run (s) | {result['slowest_s']} |",
              f"| specs breaking the contract | {result['breaching_specs']} |"]
    (out / "fuzz_specs.md").write_text("\n".join(lines) + "\n")
    folder = out / "fuzz_failures"
    for i, failure in enumerate(failures):
        folder.mkdir(exist_ok=True)
        (folder / f"{i:04d}.json").write_text(json.dumps(failure, indent=2) + "\n")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--specs", type=int, default=1000)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--timeout", type=float, default=20.0)
    parser.add_argument("--scheduler", metavar="local:N|ADDRESS",
                        help="check the batches as Dask tasks (default: serial)")
    parser.add_argument("--out", type=Path, default=RESULTS, help="results folder")
    parser.add_argument("--batch", type=Path, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.batch is not None:  # a child of check_batch: outcomes replace the batch
        args.batch.write_bytes(pickle.dumps(check_batch(pickle.loads(args.batch.read_bytes()))))
        return
    try:
        with mapper_for(args.scheduler) as mapper:
            result = campaign(args.specs, args.seed, args.timeout, mapper)
    except SchedulerError as err:
        parser.exit(2, f"fuzz_specs: error: {err}\n")
    print(json.dumps({k: v for k, v in result.items() if k != "failures"}, indent=2))
    write(result, args.out)


if __name__ == "__main__":
    main()
