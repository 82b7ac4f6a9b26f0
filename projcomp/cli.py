"""The ``projcomp`` command (DESIGN.md, command line).

Exit status: 0 when the command ran (whatever the verdict), 2 for invalid input or a run
stopped by ``--timeout`` (one line on stderr naming the field or the phase and the
problem), 1 for an internal error (a bug: one line asking for the spec; the traceback with
``PROJCOMP_DEBUG=1``).
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import math
import os
import signal
import sys
import threading
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Any, NoReturn

from numerics.sampling.options import DEFAULT_SAMPLER, DEFAULT_SAMPLES, DEFAULT_STEPS, SAMPLERS
from projcomp.experiments import EXPERIMENTS
from projcomp.limits import Limits, SpecError
from projcomp.profiles import PROFILES
from theory.catalogue import CLAIMS

# What a command needs is imported when it runs (torch, the checks, the samplers), so
# that `projcomp --help` starts at once and `check --samples 0` imports no sampler, SMC
# or plotting code (tests/test_cli_imports.py).
if TYPE_CHECKING:
    from numerics.checks.report import CheckReport
    from numerics.sampling.section import SamplingOptions

# `projcomp counterexamples` searches counterexamples to the negative claims.
SEARCHABLE = tuple(c.id for c in CLAIMS if c.expected == "fails")


class UsageError(Exception):
    """Invalid command-line input: reported in one line, exit status 2."""


class TimedOut(BaseException):
    """``--timeout`` expired: reported in one line naming the phase, exit status 2. A
    ``BaseException`` like ``KeyboardInterrupt``, so no ``except Exception`` in the
    numerics can swallow it."""


# On a terminal, a line on stderr every PROGRESS_SECONDS while a phase runs longer.
PROGRESS_SECONDS = 5.0
# After --timeout's deadline SIGALRM repeats at this interval until ``TimedOut`` gets
# through: raised while Python runs a weakref callback or a finalizer (the garbage
# collector's), an exception is unraisable, printed and dropped, so a one-shot alarm could
# be lost and the run go on unbounded (seen once in the fuzz campaign, test_fuzz_specs).
REARM_SECONDS = 0.25


class _Parser(argparse.ArgumentParser):
    def error(self, message: str) -> NoReturn:
        raise UsageError(message)


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(prog="projcomp", description=__doc__.splitlines()[0])
    commands = parser.add_subparsers(dest="command", required=True, parser_class=_Parser)
    check = commands.add_parser("check", help="judge the composition of a family spec")
    check.add_argument("family", help="family spec (JSON, format projcomp.family/1)")
    check.add_argument("--json", action="store_true", help="print the report as JSON")
    check.add_argument("--samples", type=_non_negative, default=DEFAULT_SAMPLES,
                       help="samples per run of the sampling check (0 skips it; default "
                            f"{DEFAULT_SAMPLES})")
    check.add_argument("--steps", type=_positive, default=DEFAULT_STEPS,
                       help=f"sampler steps (default {DEFAULT_STEPS})")
    check.add_argument("--sampler", choices=SAMPLERS, default=DEFAULT_SAMPLER,
                       help=f"sampler of the sampling check (default {DEFAULT_SAMPLER}; smc is "
                            "the tempered SMC at t = 0)")
    check.add_argument("--device", default="cpu",
                       help="torch device of the sampling check, e.g. cuda (default cpu)")
    check.add_argument("--seed", type=_non_negative, default=0,
                       help="seed of everything that samples (default 0)")
    check.add_argument("--timeout", type=_seconds, metavar="SECONDS",
                       help="stop with exit status 2 after SECONDS, naming the phase "
                            "(default: no limit)")
    check.add_argument("--limit", action="append", type=_limit, default=[],
                       metavar="NAME=VALUE",
                       help="raise a structural limit of the spec (repeatable): "
                            + ", ".join(f"{f.name} (default {f.default})"
                                        for f in dataclasses.fields(Limits)))
    check.add_argument("--operator", metavar="MODULE:FUNCTION",
                       help="compose with a user operator (or a registered name: "
                            "linear_combination, cfg_weighted, simple_product) and report "
                            "which properties of C it keeps")
    check.set_defaults(run=_run_check)
    verify = commands.add_parser("verify", help="verify the claim catalogue (the main job)")
    verify.add_argument("--out", type=Path, default=Path("reports/verification"),
                        help="report folder (default reports/verification)")
    verify.add_argument("--profile", choices=PROFILES, default="default",
                        help="size of the measured sweeps: default (minutes on 2 cores) or "
                             "thorough (C15 over 10,000 families; hours)")
    verify.add_argument("--scheduler", type=_scheduler, metavar="local:N|ADDRESS",
                        help="run the claims as tasks on Dask: local:N starts N worker "
                             "processes here, an address (tcp://host:8786) names a running "
                             "scheduler (default: serial, in this process)")
    verify.set_defaults(run=_run_verify)
    search = commands.add_parser("counterexamples",
                                 help="search and shrink counterexamples to negative claims")
    search.add_argument("--claim", choices=SEARCHABLE,
                        help="one claim (default: all of them)")
    search.add_argument("--max-examples", type=_positive, default=100,
                        help="instances tried per claim before shrinking (default 100)")
    search.add_argument("--seed", type=int, default=0, help="search seed (default 0)")
    search.add_argument("--out", type=Path, default=Path("reports/counterexamples"),
                        help="report folder (default reports/counterexamples)")
    search.set_defaults(run=_run_counterexamples)
    experiment = commands.add_parser("experiment",
                                     help="the paper's experiments in miniature (Figs. 3, 5, 12)")
    experiment.add_argument("name", choices=sorted(EXPERIMENTS))
    experiment.add_argument("--quick", action="store_true",
                            help="a smaller run (under 2 minutes on 2 cores)")
    experiment.add_argument("--json", action="store_true", help="print results.json")
    experiment.add_argument("--out", type=Path,
                            help="report folder (default reports/experiments/NAME)")
    experiment.add_argument("--models", choices=("exact", "learned", "both"), default="exact",
                            help="clevr-lite: exact scores (default); learned: add the "
                                 "learned models' rows to OUT/results.json, reusing its exact "
                                 "rows when they match (models trained first if no "
                                 "checkpoint); both: rerun the exact rows too")
    experiment.add_argument("--device", default="cpu",
                            help="clevr-lite --models learned|both: torch device of the "
                                 "learned networks (and of training, if a checkpoint is "
                                 "missing), e.g. cuda (default cpu)")
    experiment.set_defaults(run=_run_experiment)
    trainer = commands.add_parser("train", help="train learned score models (issue 12)")
    trainer.add_argument("name", choices=["clevr-lite"])
    trainer.add_argument("--quick", action="store_true",
                         help="the small recipe (about 3 minutes on 2 cores)")
    trainer.add_argument("--arch", choices=("mlp", "cnn", "both"), default="both",
                         help="architecture: global MLP, local CNN or both (default)")
    trainer.add_argument("--out", type=Path,
                         help="checkpoint folder (default models/clevr-lite[-quick])")
    trainer.add_argument("--device", default="cpu",
                         help="torch device of training, e.g. cuda (default cpu)")
    trainer.set_defaults(run=_run_train)
    return parser


def _positive(text: str) -> int:
    value = _non_negative(text)
    if value == 0:
        raise argparse.ArgumentTypeError("expected a positive integer, got 0")
    return value


def _non_negative(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a non-negative integer, got {text!r}") from None
    if value < 0:
        raise argparse.ArgumentTypeError(f"expected a non-negative integer, got {value}")
    return value


def _seconds(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a number of seconds, got {text!r}") from None
    if not 0 < value < math.inf:
        raise argparse.ArgumentTypeError(f"expected a positive number of seconds, got {text}")
    return value


def _scheduler(text: str) -> str:
    """A ``--scheduler`` value, checked for its form (``projcomp.campaigns``)."""
    from projcomp.campaigns import SchedulerError, parse_scheduler

    try:
        parse_scheduler(text)
    except SchedulerError as err:
        raise argparse.ArgumentTypeError(str(err).removeprefix("--scheduler ")) from None
    return text


def _limit(text: str) -> tuple[str, int]:
    names = [f.name for f in dataclasses.fields(Limits)]
    name, _, value = text.partition("=")
    if name not in names:
        raise argparse.ArgumentTypeError(f"unknown limit {name!r} (expected NAME=VALUE, NAME "
                                         f"one of {', '.join(names)})")
    return name, _positive(value)


def _run_check(args: argparse.Namespace) -> int:
    from numerics.checks.judge import check_family
    from numerics.laws.unnormalized import OperatorFailed
    from numerics.models.family import ModelFamily
    from projcomp.model_spec import load_spec
    from projcomp.render import render_check

    sampling = _sampling_options(args)
    operator = None
    if args.operator:
        from numerics.composition.operators import load_operator

        try:
            operator = load_operator(args.operator)
        except ValueError as err:
            raise UsageError(f"--operator: {err}") from None
    limits = dataclasses.replace(Limits(), **dict(args.limit))
    phase = _Phase("reading the spec")
    with _deadline(args.timeout, phase), _progress(phase):
        family = load_spec(args.family, limits)
        if isinstance(family, ModelFamily):  # learned members (issue 12)
            from projcomp import model_check

            return model_check.run(family, args)
        phase.enter("checking the family (FC, projective gaps, noise commutation"
                    + (", sampling)" if sampling else ")"))
        try:
            report = check_family(family, seed=args.seed, operator=operator, sampling=sampling)
        except OperatorFailed as err:
            raise UsageError(f"--operator {args.operator}: {err}") from None
    doc = report_json(report)
    _require_finite(doc, "report")
    print(json.dumps(doc, indent=2) if args.json else render_check(report))
    return 0


class _Phase:
    """What ``check`` is doing now and since when (for ``--timeout`` and progress)."""

    def __init__(self, name: str) -> None:
        self.started = time.monotonic()
        self.enter(name)

    def enter(self, name: str) -> None:
        self.name, self.since = name, time.monotonic()

    def elapsed(self) -> float:
        return time.monotonic() - self.since


@contextmanager
def _deadline(seconds: float | None, phase: _Phase) -> Iterator[None]:
    """Raise ``TimedOut`` naming ``phase`` after ``seconds`` of wall time, and again every
    ``REARM_SECONDS`` until it is raised where it propagates (SIGALRM; the main thread
    only, where the command runs)."""
    if seconds is None:
        yield
        return

    def expire(signum: int, frame: object) -> None:
        raise TimedOut(f"--timeout {seconds:g} s reached while {phase.name} (after "
                       f"{phase.elapsed():.1f} s in that phase): stopped. Raise --timeout, "
                       f"or make the run smaller (--samples, --steps, a smaller spec)")

    previous = signal.signal(signal.SIGALRM, expire)
    signal.setitimer(signal.ITIMER_REAL, seconds, REARM_SECONDS)
    try:
        yield
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, previous)


@contextmanager
def _progress(phase: _Phase) -> Iterator[None]:
    """On a terminal, one stderr line every ``PROGRESS_SECONDS`` naming the phase and the
    time spent (a daemon thread; nothing when stderr is not a terminal)."""
    if not sys.stderr.isatty():
        yield
        return
    done = threading.Event()

    def report() -> None:
        while not done.wait(PROGRESS_SECONDS):
            print(f"projcomp: {phase.name}... {time.monotonic() - phase.started:.0f} s",
                  file=sys.stderr, flush=True)

    thread = threading.Thread(target=report, daemon=True)
    thread.start()
    try:
        yield
    finally:
        done.set()
        thread.join()


def _require_finite(value: Any, path: str) -> None:
    """A report never holds NaN or infinity: a quantity that cannot be computed is
    reported in words by the checks; one that slipped through is a bug (``RuntimeError``,
    exit status 1, naming the field)."""
    if isinstance(value, float) and not math.isfinite(value):
        raise RuntimeError(f"the report's {path} is {value}")
    items = value.items() if isinstance(value, dict) else \
        enumerate(value) if isinstance(value, list) else ()
    for key, item in items:
        _require_finite(item, f"{path}[{key!r}]")


def _sampling_options(args: argparse.Namespace) -> SamplingOptions | None:
    if args.samples == 0:
        return None
    if args.samples < 2:
        raise UsageError("--samples: need at least 2 samples (or 0 to skip sampling)")
    import torch

    from numerics.sampling.section import SamplingOptions

    try:
        device = torch.device(args.device)
        torch.empty(0, device=device)
    except (RuntimeError, AssertionError) as err:
        raise UsageError(f"--device {args.device}: {err}") from None
    return SamplingOptions(samples=args.samples, steps=args.steps, sampler=args.sampler,
                           device=str(device), progress=sys.stderr.isatty())


def report_json(report: CheckReport) -> dict[str, Any]:
    """The ``check --json`` document: the report's records with every ``Family`` (an
    operator's counterexample) written as a family spec."""
    from numerics.laws.family import Family
    from numerics.records import to_json
    from projcomp.spec import family_to_dict

    return to_json(report, {Family: family_to_dict})


def _run_verify(args: argparse.Namespace) -> int:
    from projcomp import reports
    from projcomp.campaigns import SchedulerError, mapper_for
    from projcomp.verify import RunTiming, verify

    start = time.perf_counter()
    try:
        with mapper_for(args.scheduler) as mapper:
            results = verify(profile=args.profile,
                             mapper=None if args.scheduler is None else mapper)
    except SchedulerError as err:
        raise UsageError(str(err)) from None
    timing = RunTiming(args.scheduler or "serial", round(time.perf_counter() - start, 2),
                       round(sum(r.seconds for r, _ in results), 2))
    reports.write(results, args.out, timing)
    print(reports.plain_table([r for r, _ in results]))
    failed = [r.id for r, _ in results if r.outcome != "pending" and not r.as_predicted]
    print(f"report: {args.out / 'index.md'} ({timing.scheduler}: {timing.wall_seconds:.1f} s "
          f"wall, speed-up {timing.speedup:.2f}x over the claims one after the other)")
    print("every non-pending claim came out as THEORY.md predicts" if not failed
          else f"NOT as predicted: {', '.join(failed)}")
    return 1 if failed else 0


def _run_counterexamples(args: argparse.Namespace) -> int:
    from projcomp.counterexamples import run

    for claim_id in [args.claim] if args.claim else SEARCHABLE:
        print(f"{claim_id}: searching (up to {args.max_examples} instances, then shrinking)",
              file=sys.stderr)
        found = run(claim_id, args.out, args.max_examples, args.seed)
        if found is not None:
            v = found.violation
            print(f"{claim_id}: dim {found.family.dim}, k {found.family.k}: {v.violated} "
                  f"off by {v.amount:.4g} ({v.metric}) -> {args.out / (claim_id + '.md')}")
        else:
            print(f"{claim_id}: no counterexample in {args.max_examples} instances")
    return 0


def _run_experiment(args: argparse.Namespace) -> int:
    from projcomp import experiments

    out = args.out if args.out is not None else Path("reports/experiments") / args.name
    if args.models == "exact" and args.device != "cpu":
        raise UsageError("--device: only the learned models run on a device "
                         "(--models learned|both)")
    if args.models != "exact":
        if args.name != "clevr-lite":
            raise UsageError(f"--models {args.models}: only clevr-lite has learned models")
        from projcomp.experiments import clevr_learned

        results = clevr_learned.run(out, quick=args.quick, reuse_exact=args.models == "learned",
                                    device=_train_device(args.device))
    else:
        results = experiments.run(args.name, out, quick=args.quick)
    if args.json:
        print(json.dumps(results, indent=2))
    else:
        print(f"report: {out / 'index.md'}")
    return 0


def _train_device(name: str) -> str:
    from projcomp import train

    try:
        return str(train.usable_device(name))
    except ValueError as err:
        raise UsageError(str(err)) from None


def _run_train(args: argparse.Namespace) -> int:
    from projcomp import train

    out = args.out if args.out is not None else train.CHECKPOINTS[args.quick]
    names = ("mlp", "cnn") if args.arch == "both" else (args.arch,)
    for name, doc in train.train(out, args.quick, names, _train_device(args.device)).items():
        print(f"{name}: {doc['parameters']} parameters, final loss {doc['losses'][-1]:.4f}, "
              f"{doc['seconds']:.0f} s -> {out / doc['weights']}")
    return 0


def main(argv: Sequence[str] | None = None) -> int:
    try:
        args = build_parser().parse_args(argv)
        return args.run(args)
    except (UsageError, SpecError, TimedOut) as err:
        print(f"projcomp: error: {_one_line(err)}", file=sys.stderr)
        return 2
    except BrokenPipeError:
        # the reader went away (e.g. `| head`): silence the interpreter's flush at exit
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 1
    except KeyboardInterrupt:
        print("projcomp: interrupted", file=sys.stderr)
        return 130
    except Exception as err:
        if os.environ.get("PROJCOMP_DEBUG"):
            raise
        print(f"projcomp: internal error: {type(err).__name__}: {_one_line(err)[:300]}. "
              "This is a bug in projcomp: please report it with the spec and the command; "
              "PROJCOMP_DEBUG=1 writes the traceback to stderr", file=sys.stderr)
        return 1


def _one_line(err: BaseException) -> str:
    return " ".join(str(err).split())


def run() -> NoReturn:
    """The ``projcomp`` console command: :func:`main`, then a prompt exit. Every output is
    written (reports atomically) and flushed first, so the interpreter's teardown — mostly
    unloading torch, 0.45–0.9 s measured on this 2-core machine, a fifth of a ``check
    --samples 0`` — would only keep the shell waiting; ``os._exit`` skips it. A command
    stopped by an exception gets the usual exit (``main`` turns every expected one into a
    status)."""
    try:
        status = main()
    except SystemExit as stop:  # argparse: --help, usage errors
        if stop.code is None or isinstance(stop.code, int):
            status = stop.code or 0
        else:
            print(stop.code, file=sys.stderr)
            status = 1
    try:
        sys.stdout.flush()
        sys.stderr.flush()
    except BrokenPipeError:  # the reader went away (e.g. `| head`)
        status = status or 1
    os._exit(status)


if __name__ == "__main__":
    sys.exit(main())
