"""Benchmark of the calibrated sampling verdict: false-alarm rates and power (issue 4).

``numerics.sampling.calibration`` declares that its Monte Carlo test (threshold = the largest of
``R = 1/α − 1`` null values of the sliced Wasserstein-2 statistic between exact draws)
has false-alarm rate exactly ``α``. This script measures that, and the power of the
test, on this machine:

1. *The calibrated test alone* on ``C[p⃗]`` of ``numerics.claims.named_families.fc_family``
   (5-D, ``setup(fc_family()).result``). One trial = a fresh ``calibrate(law.sample, N,
   g, α)`` plus the statistic of one fresh pair of exact draws (``statistic``, the
   function the sampling section applies to its runs); a rejection is a false alarm.
   Trials draw disjoint stretches of one generator, so they are independent and the
   rejection count is Binomial(trials, rate). Level 1e-2 (``check``'s default) at
   ``N = 2000`` (``check``'s default); level 1e-3 (the claims' level) at ``N = 100``,
   because a trial there costs 1000 statistics: the exactness argument (ranks of
   exchangeable continuous values) does not involve ``N``, and the ``N = 2000``
   experiment at level 1e-2 checks the part that could depend on it (that ``statistic``
   on a fresh pair and ``null_statistics`` give values of one law).
2. *The full sampling verdict*: ``sampling_section`` on ``fc_family`` with the
   probability-flow ODE at ``check``'s defaults (2000 samples, 100 steps, level 1e-2), one
   run per seed ``1..runs``, each with its own calibration. Under FC the composed and
   exact scores coincide (C2), so the composed and oracle runs are two independent draws
   of one law ``q`` and every ``holds == False`` is a false alarm. The calibration,
   however, compares exact draws of the aimed law ``p = N_{t_min}[C[p⃗]]``, so the level
   is exact only when ``q = p``; the same measurement at 16 and 4 steps (where the ODE's
   law ``q`` departs from ``p``) shows how the false-alarm rate moves with the sampler's
   own error. Beside each rate: the mean ratio of the test value to its calibration's null
   median (for exact null pairs see part 1), and how often the oracle run itself is
   rejected against exact draws (``sampler_reaches_target`` false: the test sees
   ``q ≠ p``). Seed 0 is left out: its sampler streams (``1_000_003·seed + 1, + 2``) are
   the main generators of seeds 1 and 2, which would make runs 0, 1 and 2 dependent.
3. *Power against a known total-variation perturbation*: ``p`` is a 2-D mixture of four
   unit-covariance Gaussians at ``(±4, ±4)`` with weights 1/4; ``p_ε`` moves mass ``ε``
   from the mode at ``(−4, −4)`` to its neighbour at ``(4, −4)``. Then
   ``p − p_ε = ε (φ_1 − φ_2)``, so ``TV(p, p_ε) = ε TV(φ_1, φ_2) = ε (2Φ(d/2) − 1)`` with
   ``d = 8`` the distance of the two means (exact; ``2Φ(4) − 1 = 1 − 6.3e-5``). One trial =
   a fresh calibration on ``p`` at level 1e-2 and ``N = 2000``, then for each ``ε`` the
   statistic between a fresh ``p_ε`` sample and a fresh ``p`` sample. Trials are
   independent for each ``ε``; the calibration is shared across the ``ε`` of one trial, so
   the estimates at different ``ε`` are correlated (this does not bias any of them).
   ``ε = 0`` is a further null point.
4. *Every sampler's full verdict* (issue 11): ``sampling_section`` of each ``--sampler``
   (``ORDER``) on two null families where the composed and oracle laws coincide, 200
   seeded runs each at N = 200 (100 blocks of 2 for samplers with independent particles, 10
   runs of 20 for the others) and 8 path steps; the verdict is the
   replicate permutation test (``numerics.sampling.calibration.replicate_test``), so a
   *fails* is a false alarm and an oracle that misses its target makes the run undecided.
5. *The tempered SMC on the shear test set* (issue 11, first "done when"): 40 seeded
   sections per family of ``SHEAR_VARIANTS``; a run holds when the verdict holds and both
   runs pass their test against exact draws.
6. *The replicate test's power* on part 3's perturbation (issue 11, "power kept"): one
   trial = ``replicate_test`` of ``N = 2000`` draws of ``p_ε`` against ``N`` draws of
   ``p``, each split into ``R`` blocks, with ``R`` the section's two designs
   (``INDEPENDENT_REPLICATES`` blocks for samplers with independent particles,
   ``REPLICATES`` runs for the others), at ``check``'s level 1e-2 and the claims' 1e-3.
   ``ε = 0`` is a null point of each design.

Statistics behind each number:

- a rate is ``k / trials`` with its exact Clopper–Pearson 95% interval (beta quantiles);
  beside a false-alarm rate, the one-sided exact binomial p-value ``P(X ≥ k)`` for
  ``X ~ Binomial(trials, α)`` (small: evidence that the rate exceeds ``α``), and where the
  declared ``α`` lies relative to the interval;
- the Monte Carlo p-values ``(1 + #{T_r ≥ T_0}) / (R + 1)`` of the null trials are uniform
  on ``{1/(R+1), ..., 1}`` under exchangeability; their counts in ten equal bins get a
  chi-square goodness-of-fit test against 1/10 each, a more sensitive check than the
  rejection count (a rejection is the smallest p-value, ``1/(R+1)``);
- the ``ε`` at which power reaches 0.9 is the smallest grid ``ε`` whose estimate is
  ≥ 0.9, beside a linear interpolation of the estimates between the bracketing grid points.

Torch runs on one thread (on a shared 2-core machine one thread measured 2–7× faster
than two for these shapes); rates do not depend on it, timings do, and they are noisy.

Run: ``python benchmarks/bench_calibration.py`` writes ``benchmarks/results/calibration.json``
and ``calibration.md`` (atomically; parts 1–3 took 23 minutes on a busy 2-core machine,
parts 2, 4, 5 and 6 together 39 minutes at ``nice 10`` beside other jobs, 13 of them part
6). ``--parts`` and ``--samplers`` rerun a part or some of part 4's rows (the others
are kept); ``--scheduler local:N`` or an address runs the null runs of parts 4 and 5 as Dask
tasks (``projcomp.campaigns.mapper_for``). ``--quick`` runs a few trials of each part and
writes both files to a fresh temporary folder, printed at the end, leaving the results
folder untouched.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import platform
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import torch
from scipy import stats

from numerics.campaigns import Mapper, serial_map
from numerics.claims.named_families import fc_family, fc_orthogonal, shear_family
from numerics.claims.sampled import SHEAR_VARIANTS, Setup, setup, shear_variant
from numerics.laws import Distribution, GaussianMixture
from numerics.sampling.calibration import (
    REPLICATE_STATISTIC,
    REPLICATES,
    STATISTIC,
    calibrate,
    null_runs_for,
    replicate_blocks,
    replicate_test,
    statistic,
)
from numerics.sampling.options import (
    DEFAULT_SAMPLER,
    DEFAULT_SAMPLES,
    DEFAULT_STEPS,
    PATH_SAMPLERS,
    TEMPERED,
)
from numerics.sampling.section import (
    CHECK_LEVEL,
    INDEPENDENT_REPLICATES,
    SamplingOptions,
    sampling_section,
)
from numerics.tolerances import FALSE_ALARM_BUDGET
from projcomp.atomic import write_text
from projcomp.campaigns import SchedulerError, mapper_for

RESULTS = Path(__file__).parent / "results"
PARTS = ("calibrated_test", "sampling_verdict", "power", "every_sampler", "tempered_holds",
         "replicate_power")
CONFIDENCE = 0.95
BINS = 10
POWER_TARGET = 0.9
# Part 3: the four means, the pair mass moves between, and the perturbation grid.
CORNER = 4.0
MODES = ((-CORNER, -CORNER), (CORNER, -CORNER), (-CORNER, CORNER), (CORNER, CORNER))
SOURCE, SINK = 0, 1
EPSILONS = (0.0, 0.01, 0.02, 0.03, 0.04, 0.05, 0.06, 0.075, 0.1, 0.2)
SEED = 20240


@dataclass(frozen=True)
class Plan:
    """Trial counts and sample sizes of one run of the benchmark; ``section_runs`` pairs
    ODE step counts with numbers of ``sampling_section`` runs."""

    trials_check_level: int
    samples_check_level: int
    trials_claims_level: int
    samples_claims_level: int
    section_runs: tuple[tuple[int, int], ...]
    power_trials: int
    power_samples: int
    sampler_runs: int
    sampler_samples: int
    sampler_steps: int
    holds_runs: int
    holds_samples: int
    replicate_power_trials: int = 200


# Part 4 at N = 200 (100 or 10 replicates) and 8 path steps, part 5 at N = 200: the
# permutation tests are exact at any N and step count, and these sizes keep parts 4 and 5
# near 40 minutes of one core (about 1–2 s per section).
FULL = Plan(400, DEFAULT_SAMPLES, 1000, 100, ((DEFAULT_STEPS, 200), (4, 200)),
            200, DEFAULT_SAMPLES, 200, 200, 8, 40, 200)
QUICK = Plan(20, DEFAULT_SAMPLES, 10, 100, ((DEFAULT_STEPS, 3), (4, 3)), 10, DEFAULT_SAMPLES,
             3, 200, 8, 2, 200, replicate_power_trials=5)


# statistics ---------------------------------------------------------------------------
def clopper_pearson(k: int, n: int, confidence: float = CONFIDENCE) -> tuple[float, float]:
    """Exact two-sided interval for a binomial rate from ``k`` successes in ``n`` trials."""
    tail = (1.0 - confidence) / 2.0
    lower = 0.0 if k == 0 else float(stats.beta.ppf(tail, k, n - k + 1))
    upper = 1.0 if k == n else float(stats.beta.ppf(1.0 - tail, k + 1, n - k))
    return lower, upper


def rate(k: int, n: int) -> dict[str, Any]:
    """``k / n`` with its Clopper–Pearson interval."""
    lower, upper = clopper_pearson(k, n)
    return {"count": k, "trials": n, "rate": k / n, "ci95": [lower, upper]}


def false_alarms(k: int, n: int, level: float) -> dict[str, Any]:
    """:func:`rate` for rejections under the null, judged against the declared ``level``."""
    out = rate(k, n)
    lower, upper = out["ci95"]
    where = "inside" if lower <= level <= upper else ("above" if level > upper else "below")
    return {**out, "declared_level": level, "level_vs_ci95": where,
            "p_rate_exceeds_level": float(stats.binom.sf(k - 1, n, level))}


def uniformity(p_values: list[float], runs: int) -> dict[str, Any]:
    """Counts of the Monte Carlo p-values (on ``{1/(R+1), ..., 1}``) in ``BINS`` equal bins
    and the chi-square goodness-of-fit p-value against equal bins."""
    if (runs + 1) % BINS:
        raise ValueError(f"R + 1 = {runs + 1} is not a multiple of {BINS}")
    width = (runs + 1) // BINS
    counts = [0] * BINS
    for p in p_values:
        counts[(round(p * (runs + 1)) - 1) // width] += 1
    return {"bins": BINS, "counts": counts,
            "chi2_p_value": float(stats.chisquare(counts).pvalue)}


def crossing(epsilons: list[float], powers: list[float],
             target: float = POWER_TARGET) -> dict[str, float | None]:
    """The smallest grid ``ε`` with power ≥ ``target`` and the linear interpolation of the
    power estimates between it and the grid point before it."""
    for i, (eps, power) in enumerate(zip(epsilons, powers, strict=True)):
        if power >= target:
            if i == 0:
                return {"grid": eps, "interpolated": eps}
            e0, p0 = epsilons[i - 1], powers[i - 1]
            return {"grid": eps, "interpolated": e0 + (target - p0) * (eps - e0) / (power - p0)}
    return {"grid": None, "interpolated": None}


# 1. the calibrated test alone -----------------------------------------------------------
def null_trials(draw: Callable[[int, torch.Generator], torch.Tensor], n: int, level: float,
                trials: int, generator: torch.Generator) -> dict[str, Any]:
    """``trials`` independent (fresh calibration, fresh null pair) trials at ``level``."""
    start = time.perf_counter()
    rejections, p_values, ratio = 0, [], 0.0
    for _ in range(trials):
        cal = calibrate(draw, n, generator, level)
        value = statistic(draw(n, generator), draw(n, generator), generator)
        rejections += cal.rejects(value)
        p_values.append(cal.p_value(value))
        ratio += value / cal.null_median / trials
    return {"samples": n, "null_runs": null_runs_for(level),
            **false_alarms(rejections, trials, level),
            "p_value_uniformity": uniformity(p_values, null_runs_for(level)),
            "mean_value_over_null_median": ratio,
            "seconds": time.perf_counter() - start}


def calibrated_test(plan: Plan) -> list[dict[str, Any]]:
    law = setup(fc_family()).result
    generator = torch.Generator().manual_seed(SEED)
    return [{"name": f"level {level:g}", "law": "C[p] of fc_family (5-D)",
             **null_trials(law.sample, n, level, trials, generator)}
            for level, n, trials in ((CHECK_LEVEL, plan.samples_check_level,
                                      plan.trials_check_level),
                                     (FALSE_ALARM_BUDGET, plan.samples_claims_level,
                                      plan.trials_claims_level))]


# 2. the full sampling verdict ---------------------------------------------------------
def sampling_verdicts(plan: Plan) -> list[dict[str, Any]]:
    """:func:`sampling_verdict` for each ``(steps, runs)`` of the plan."""
    s = setup(fc_family())
    return [sampling_verdict(s, steps, runs) for steps, runs in plan.section_runs]


def sampling_verdict(s: Setup, steps: int, runs: int) -> dict[str, Any]:
    """``sampling_section`` with ``steps`` ODE steps on ``s`` for seeds ``1..runs``."""
    options = SamplingOptions(DEFAULT_SAMPLES, steps, DEFAULT_SAMPLER, level=CHECK_LEVEL)
    start = time.perf_counter()
    fails, misses, p_values, ratios = 0, 0, [], []
    for seed in range(1, runs + 1):
        section = sampling_section(s.family, s.result, s.lenses, options, seed=seed)
        fails += not section.holds
        misses += not section.sampler_reaches_target
        p_values.append(section.test.p_value)
        ratios.append(section.test.value / section.test.null_median)
    seconds = time.perf_counter() - start
    return {"family": "fc_family", "options": asdict(options),
            "seeds": [1, runs],
            "false_alarms": false_alarms(fails, runs, CHECK_LEVEL),
            "p_value_uniformity": uniformity(p_values, null_runs_for(CHECK_LEVEL)),
            "mean_value_over_null_median": sum(ratios) / runs,
            "oracle_vs_exact_rejections": rate(misses, runs),
            "seconds": seconds, "seconds_per_run": seconds / runs}


# 4. every sampler's full verdict --------------------------------------------------------
# Null families per sampler: the composed and oracle laws coincide on each. FC (C2) and FC
# under an orthogonal map (C7) keep the noisy composition exact at every t, so every
# sampler's two runs share one law; on the shear family (C9) they coincide only at t = 0,
# where the tempered SMC samples: narrow modes (width 0.15, 0.5 apart, background 0.1).
NULL_FAMILIES: dict[str, Callable[[], Any]] = {
    "fc_family": fc_family, "fc_orthogonal": fc_orthogonal, "shear_mixture": shear_family,
    "shear_narrow": lambda: shear_variant(0.1, 0.8, 2.0, 0.1, "shear_narrow")}
# Part 5: the test set of narrow-mode shear families (``numerics.claims.sampled``).
VARIANTS: dict[str, Callable[[], Any]] = {
    shear_variant(*knobs).name: (lambda knobs=knobs: shear_variant(*knobs))
    for knobs in SHEAR_VARIANTS}
FAMILIES_FOR = {**{name: ("fc_family", "fc_orthogonal") for name in PATH_SAMPLERS},
                TEMPERED: ("shear_mixture", "shear_narrow")}
# Part 4's test (rows made with another test are never merged with its rows).
DESIGN = f"replicate permutation, {REPLICATE_STATISTIC}"
# Part 4 runs the tempered SMC first: it is the sampler the issue is about.
ORDER = (TEMPERED, *PATH_SAMPLERS)


@dataclass(frozen=True)
class NullTask:
    """One null run of the full sampling verdict: ``sampling_section`` of ``sampler`` on
    the named null family with seed ``seed`` (each task carries its own seed)."""

    sampler: str
    family: str
    seed: int
    samples: int
    steps: int
    level: float


@dataclass(frozen=True)
class NullOutcome:
    """What one null run gave: the verdict's test (``holds``), whether the oracle reached
    the target (``calibrated``; when false the verdict is undecided) and the composed run
    did (``composed_reaches``), the three permutation p-values, the test value over its
    null median, the tempered SMC's mean stages and sweeps per replicate (composed run; 0
    for path samplers) and the seconds it took."""

    holds: bool
    calibrated: bool
    composed_reaches: bool
    p_value: float
    composed_reach_p: float
    oracle_reach_p: float
    value_over_null_median: float
    stages: float
    sweeps: float
    seconds: float


_SETUPS: dict[str, Setup] = {}


def _setup_of(name: str) -> Setup:
    if name not in _SETUPS:
        _SETUPS[name] = setup({**NULL_FAMILIES, **VARIANTS}[name]())
    return _SETUPS[name]


def null_section(task: NullTask) -> NullOutcome:
    """The sampling section of one null run (module-level, so that a Dask mapper can ship
    it); path-following repairs beside a tempered run are left out (they are not part of
    the verdict)."""
    torch.set_num_threads(1)
    s = _setup_of(task.family)
    options = SamplingOptions(task.samples, task.steps, task.sampler, level=task.level,
                              repairs=False)
    start = time.perf_counter()
    section = sampling_section(s.family, s.result, s.lenses, options, seed=task.seed)
    runs = section.tempered.composed if section.tempered is not None else ()
    return NullOutcome(holds=section.holds, calibrated=section.calibrated,
                       composed_reaches=section.reach.composed.p_value > task.level,
                       p_value=section.test.p_value,
                       composed_reach_p=section.reach.composed.p_value,
                       oracle_reach_p=section.reach.oracle.p_value,
                       value_over_null_median=section.test.value / section.test.null_median,
                       stages=sum(d.stages for d in runs) / max(len(runs), 1),
                       sweeps=sum(d.total_sweeps for d in runs) / max(len(runs), 1),
                       seconds=time.perf_counter() - start)


def logged_map(fn: Callable[[NullTask], NullOutcome], tasks: list[NullTask]
               ) -> list[NullOutcome]:
    """The serial map, printing each outcome to stderr as it comes (so that a long run's
    progress, and its partial counts, can be read from its log)."""
    out = []
    for task in tasks:
        out.append(fn(task))
        print(f"null run: {asdict(task)} -> {asdict(out[-1])}", file=sys.stderr, flush=True)
    return out


def every_sampler(plan: Plan, mapper: Mapper = serial_map,
                  samplers: tuple[str, ...] = ORDER,
                  families: tuple[str, ...] = tuple(NULL_FAMILIES)) -> list[dict[str, Any]]:
    """``plan.sampler_runs`` null runs (seeds ``1..runs``) of each sampler on each of its
    null families, at ``plan.sampler_samples`` samples, ``plan.sampler_steps`` steps and
    level ``CHECK_LEVEL``. A false alarm is a *fails* verdict (calibrated and rejected);
    an uncalibrated run is undecided, counted apart. ``samplers`` picks the rows (in
    ``ORDER``), ``families`` the null families."""
    rows = []
    for sampler in (name for name in ORDER if name in samplers):
        for family in (name for name in FAMILIES_FOR[sampler] if name in families):
            tasks = [NullTask(sampler, family, seed, plan.sampler_samples, plan.sampler_steps,
                              CHECK_LEVEL) for seed in range(1, plan.sampler_runs + 1)]
            got = mapper(null_section, tasks)
            runs = len(got)
            fails = sum(o.calibrated and not o.holds for o in got)
            rows.append({
                "sampler": sampler, "family": family, "samples": plan.sampler_samples,
                "design": DESIGN,
                "replicates": len(SamplingOptions(plan.sampler_samples, sampler=sampler).sizes),
                "steps": plan.sampler_steps if sampler != TEMPERED else None,
                "false_alarms": false_alarms(fails, runs, CHECK_LEVEL),
                "rejected": rate(sum(not o.holds for o in got), runs),
                "undecided": rate(sum(not o.calibrated for o in got), runs),
                "composed_missed": rate(sum(not o.composed_reaches for o in got), runs),
                "p_value_uniformity": uniformity([o.p_value for o in got],
                                                 null_runs_for(CHECK_LEVEL)),
                "reach_p_value_uniformity": {
                    "composed": uniformity([o.composed_reach_p for o in got],
                                           null_runs_for(CHECK_LEVEL)),
                    "oracle": uniformity([o.oracle_reach_p for o in got],
                                         null_runs_for(CHECK_LEVEL))},
                "mean_value_over_null_median": sum(o.value_over_null_median
                                                   for o in got) / runs,
                "mean_stages": sum(o.stages for o in got) / runs,
                "mean_sweeps": sum(o.sweeps for o in got) / runs,
                "seconds_per_run": sum(o.seconds for o in got) / runs})
            print(f"every_sampler: {sampler} on {family}: "
                  f"{rows[-1]['false_alarms']['count']}/{runs} fails "
                  f"(CI {rows[-1]['false_alarms']['ci95']}, "
                  f"{rows[-1]['false_alarms']['level_vs_ci95']}), "
                  f"{rows[-1]['undecided']['count']} undecided, "
                  f"{rows[-1]['seconds_per_run']:.1f} s per run", file=sys.stderr, flush=True)
    return rows


# 5. the tempered SMC on the shear test set ---------------------------------------------
HOLDS_TARGET = 0.95


def tempered_holds(plan: Plan, mapper: Mapper = serial_map) -> list[dict[str, Any]]:
    """Issue 11's first "done when": on each narrow-mode shear family of ``SHEAR_VARIANTS``,
    ``plan.holds_runs`` seeded tempered-SMC sections at ``plan.holds_samples`` samples and
    level ``CHECK_LEVEL``; a run *holds* when the verdict holds and the composed and the
    oracle run each pass their replicate test against exact draws. Three tests at level
    0.01 each, so about 0.97 of the runs hold when all three nulls are true."""
    rows = []
    for family in VARIANTS:
        tasks = [NullTask(TEMPERED, family, seed, plan.holds_samples, 1, CHECK_LEVEL)
                 for seed in range(1, plan.holds_runs + 1)]
        got = mapper(null_section, tasks)
        runs = len(got)
        good = sum(o.holds and o.calibrated and o.composed_reaches for o in got)
        rows.append({"family": family, "samples": plan.holds_samples,
                     "holds": rate(good, runs),
                     "verdict_rejected": rate(sum(not o.holds for o in got), runs),
                     "oracle_missed": rate(sum(not o.calibrated for o in got), runs),
                     "composed_missed": rate(sum(not o.composed_reaches for o in got), runs),
                     "meets_target": good / runs >= HOLDS_TARGET,
                     "mean_stages": sum(o.stages for o in got) / runs,
                     "mean_sweeps": sum(o.sweeps for o in got) / runs,
                     "seconds_per_run": sum(o.seconds for o in got) / runs})
        print(f"tempered_holds: {family}: {good}/{runs} hold", file=sys.stderr, flush=True)
    return rows


# 3. power -----------------------------------------------------------------------------
def four_modes(eps: float) -> GaussianMixture:
    """``p_ε``: mass ``ε`` moved from mode ``SOURCE`` to mode ``SINK`` (``p_0 = p``)."""
    weights = [0.25] * len(MODES)
    weights[SOURCE] -= eps
    weights[SINK] += eps
    f64 = torch.float64
    return GaussianMixture(torch.tensor(weights, dtype=f64), torch.tensor(MODES, dtype=f64),
                           torch.eye(2, dtype=f64).expand(len(MODES), 2, 2).clone())


def total_variation(eps: float) -> float:
    """``TV(p, p_ε) = ε (2Φ(d/2) − 1)``, ``d`` the distance between the two modes."""
    d = math.dist(MODES[SOURCE], MODES[SINK])
    return eps * math.erf(d / (2.0 * math.sqrt(2.0)))


def power(plan: Plan) -> dict[str, Any]:
    p = four_modes(0.0)
    laws: list[Distribution] = [four_modes(eps) for eps in EPSILONS]
    generator = torch.Generator().manual_seed(SEED + 1)
    n, trials = plan.power_samples, plan.power_trials
    start = time.perf_counter()
    rejections, values, thresholds = [0] * len(EPSILONS), [0.0] * len(EPSILONS), []
    for _ in range(trials):
        cal = calibrate(p.sample, n, generator, CHECK_LEVEL)
        thresholds.append(cal.threshold)
        for i, law in enumerate(laws):
            value = statistic(law.sample(n, generator), p.sample(n, generator), generator)
            rejections[i] += cal.rejects(value)
            values[i] += value / trials
    rows = [{"epsilon": eps, "total_variation": total_variation(eps),
             "mean_statistic": values[i], **rate(rejections[i], trials)}
            for i, eps in enumerate(EPSILONS)]
    thresholds.sort()
    return {"law": f"four unit Gaussians at (±{CORNER:g}, ±{CORNER:g}), weights 1/4",
            "perturbation": f"mass ε moved from {MODES[SOURCE]} to {MODES[SINK]}",
            "samples": n, "level": CHECK_LEVEL, "trials": trials,
            "median_threshold": thresholds[len(thresholds) // 2], "curve": rows,
            "null_point": false_alarms(rejections[0], trials, CHECK_LEVEL),
            "power_0.9_at": crossing([r["epsilon"] for r in rows[1:]],
                                     [r["rate"] for r in rows[1:]]),
            "seconds": time.perf_counter() - start}


# 6. the replicate test's power --------------------------------------------------------
REPLICATE_LEVELS = (CHECK_LEVEL, FALSE_ALARM_BUDGET)


def replicate_power(plan: Plan) -> dict[str, Any]:
    """Part 6: the rejection rate of ``replicate_test`` on ``p_ε`` against ``p`` per level,
    design (replicates per run) and ``ε``; trials draw disjoint stretches of one
    generator."""
    p = four_modes(0.0)
    laws: list[Distribution] = [four_modes(eps) for eps in EPSILONS]
    generator = torch.Generator().manual_seed(SEED + 2)
    n, trials = plan.power_samples, plan.replicate_power_trials
    rows = []
    for level in REPLICATE_LEVELS:
        for replicates in (INDEPENDENT_REPLICATES, REPLICATES):
            start = time.perf_counter()
            rejections = [0] * len(EPSILONS)
            for _ in range(trials):
                for i, law in enumerate(laws):
                    value, null = replicate_test(
                        replicate_blocks(law.sample(n, generator), replicates),
                        replicate_blocks(p.sample(n, generator), replicates), generator, level)
                    rejections[i] += null.rejects(value)
            curve = [{"epsilon": eps, **rate(rejections[i], trials)}
                     for i, eps in enumerate(EPSILONS)]
            rows.append({"level": level, "replicates": replicates, "trials": trials,
                         "curve": curve,
                         "null_point": false_alarms(rejections[0], trials, level),
                         "power_0.9_at": crossing(list(EPSILONS[1:]),
                                                  [r["rate"] for r in curve[1:]]),
                         "seconds": time.perf_counter() - start})
    return {"samples": n, "statistic": REPLICATE_STATISTIC, "rows": rows}


# report -------------------------------------------------------------------------------
def machine() -> dict[str, Any]:
    cpu = platform.processor() or platform.machine()
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    return {"cpu": cpu, "cpu_count": os.cpu_count(), "python": platform.python_version(),
            "torch": torch.__version__, "torch_threads": torch.get_num_threads(),
            "load_average_at_start": list(os.getloadavg())}


def _interval(r: dict[str, Any]) -> str:
    lower, upper = r["ci95"]
    return f"[{lower:.4f}, {upper:.4f}]"


MEANING = {"inside": "consistent with the declared level",
           "above": "the test is conservative", "below": "the false-alarm rate exceeds it"}


def markdown(report: dict[str, Any]) -> str:
    m, plan = report["machine"], report["plan"]
    lines = ["# Calibration benchmark: false-alarm rates and power of the sampling verdict", "",
             f"Machine: {m['cpu']}, {m['cpu_count']} cores, Python {m['python']}, torch "
             f"{m['torch']} on {m['torch_threads']} thread(s), load average at start "
             f"{m['load_average_at_start'][0]:.2f}. Total {report['seconds'] / 60:.1f} min"
             f"{' (quick run)' if report['quick'] else ''}.", *_copied(report),
             *(["", f"Note: {report['note']}."] if "note" in report else []), "",
             f"Statistics: parts 1 and 3 (thresholds from exact draws), {STATISTIC}; parts "
             f"2, 4, 5 and 6 (the sampling verdict's replicate permutation test), "
             f"{REPLICATE_STATISTIC}. Intervals are exact Clopper–Pearson 95%; "
             "`P(X ≥ k)` is the one-sided binomial p-value of the count at the declared "
             "level; `χ²` is the p-value of the ten-bin uniformity test of the Monte Carlo "
             "p-values (method in `benchmarks/bench_calibration.py`).", "",
             "## 1. The calibrated test alone (fresh calibration + fresh null pair per trial)",
             "", "| level | law | N | null runs | trials | false alarms | rate | 95% CI | "
             "level vs CI | P(X ≥ k) | χ² | mean value / null median | seconds |",
             "|---|---|---|---|---|---|---|---|---|---|---|---|---|"]
    for r in report["calibrated_test"]:
        lines.append(f"| {r['declared_level']:g} | {r['law']} | {r['samples']} | "
                     f"{r['null_runs']} | {r['trials']} | {r['count']} | {r['rate']:.4f} | "
                     f"{_interval(r)} | {r['level_vs_ci95']} | "
                     f"{r['p_rate_exceeds_level']:.3f} | "
                     f"{r['p_value_uniformity']['chi2_p_value']:.3f} | "
                     f"{r['mean_value_over_null_median']:.3f} | {r['seconds']:.0f} |")
    sections = report["sampling_verdict"]
    lines += ["", "## 2. The full sampling verdict (`sampling_section`, FC family)", "",
              "`sampling_section` on `fc_family`, probability-flow ODE, "
              f"{sections[0]['options']['samples']} samples, level "
              f"{sections[0]['options']['level']:g}, seeds 1..runs, each run's verdict as "
              "`sampling_section` made it when the part ran (before issue 11: calibration "
              "on exact draws of the aimed law; since: the replicate permutation test of "
              "part 4 — see the copied-parts line above for when). Composed and oracle runs share "
              "one law, so every rejection is a false alarm. *Oracle rejected*: the oracle "
              "run against exact draws (`sampler_reaches_target` false), i.e. how often the "
              "test sees the ODE's own error.", "",
              "| steps | runs | `holds == False` | rate | 95% CI | level vs CI | P(X ≥ k) | "
              "χ² | p-value counts (ten bins, lowest first) | mean value / null median | "
              "oracle rejected | s per run |", "|---|---|---|---|---|---|---|---|---|---|---|---|"]
    for v in sections:
        fa, oracle = v["false_alarms"], v["oracle_vs_exact_rejections"]
        lines.append(f"| {v['options']['steps']} | {fa['trials']} | {fa['count']} | "
                     f"{fa['rate']:.4f} | {_interval(fa)} | {fa['level_vs_ci95']} | "
                     f"{fa['p_rate_exceeds_level']:.3f} | "
                     f"{v['p_value_uniformity']['chi2_p_value']:.3f} | "
                     f"{v['p_value_uniformity']['counts']} | "
                     f"{v['mean_value_over_null_median']:.3f} | "
                     f"{oracle['count']}/{oracle['trials']} | {v['seconds_per_run']:.1f} |")
    lines.append("")
    pw = report["power"]
    cross = pw["power_0.9_at"]
    lines += ["## 3. Power against a known total-variation perturbation", "",
              f"p: {pw['law']}; p_ε: {pw['perturbation']}; TV(p, p_ε) = ε (2Φ(4) − 1). "
              f"N = {pw['samples']}, level {pw['level']:g}, {pw['trials']} trials per ε, "
              f"median threshold {pw['median_threshold']:.4f}.", "",
              "| ε | TV(p, p_ε) | rejections | power | 95% CI | mean statistic |",
              "|---|---|---|---|---|---|"]
    lines += [f"| {r['epsilon']:g} | {r['total_variation']:.5f} | {r['count']} | "
              f"{r['rate']:.3f} | {_interval(r)} | {r['mean_statistic']:.4f} |"
              for r in pw["curve"]]
    if cross["grid"] is None:
        reach = "Power does not reach 0.9 on the grid."
    else:
        reach = (f"Power first reaches 0.9 at ε = {cross['grid']:g} on the grid (linear "
                 f"interpolation: ε ≈ {cross['interpolated']:.3f}, TV ≈ "
                 f"{total_variation(cross['interpolated']):.3f}).")
    lines += ["", reach, ""]
    lines += _every_sampler_table(report.get("every_sampler", []))
    lines += _tempered_holds_table(report.get("tempered_holds", []))
    lines += _replicate_power_table(report.get("replicate_power"), pw)
    lines += ["## Reading", ""]
    measured = [(f"Calibrated test, level {r['declared_level']:g}", r, r["samples"])
                for r in report["calibrated_test"]]
    measured += [(f"Full sampling verdict, {v['options']['steps']} ODE steps, level "
                  f"{v['options']['level']:g}", v["false_alarms"], v["options"]["samples"])
                 for v in sections]
    lines += [f"- {what}: measured false-alarm rate {r['rate']:.4f} (95% CI {_interval(r)}, "
              f"{r['trials']} trials at N = {n}); the declared level lies "
              f"{r['level_vs_ci95']} the interval ({MEANING[r['level_vs_ci95']]})."
              for what, r, n in measured]
    measured = [(f"Full sampling verdict, {r['sampler']} on {r['family']}, level "
                 f"{CHECK_LEVEL:g}", r["false_alarms"], r["samples"])
                for r in report.get("every_sampler", [])]
    lines += [f"- {what}: measured false-alarm rate {r['rate']:.4f} (95% CI {_interval(r)}, "
              f"{r['trials']} runs at N = {n}); the declared level lies "
              f"{r['level_vs_ci95']} the interval ({MEANING[r['level_vs_ci95']]})."
              for what, r, n in measured]
    lines += [_sampler_error(v, report["calibrated_test"][0]) for v in sections
              if v["oracle_vs_exact_rejections"]["ci95"][0] > v["options"]["level"]]
    lines += [f"- The ε = 0 column of the power table is a further null check: "
              f"{pw['null_point']['count']} false alarms in {pw['trials']} trials "
              f"(declared level {pw['null_point']['declared_level']:g}, "
              f"{pw['null_point']['level_vs_ci95']} the interval).",
              _power_reading(pw),
              "- Plan: " + ", ".join(f"{k} = {v}" for k, v in plan.items()) + "."]
    return "\n".join(lines) + "\n"


def _copied(report: dict[str, Any]) -> list[str]:
    """A line per origin of the parts copied from earlier runs, with its machine line."""
    groups = report.get("copied_parts", [])
    if isinstance(groups, dict):
        groups = [groups]
    return [line for g in groups for line in (
        "", f"Parts {', '.join(g['parts'])} are copied from an earlier run (machine: "
        f"{g['machine']['cpu']}, load average {g['machine']['load_average_at_start'][0]:.2f};"
        " plan " + ", ".join(f"{k} = {v}" for k, v in g["plan"].items()) + ").")]


def _every_sampler_table(rows: list[dict[str, Any]]) -> list[str]:
    """Part 4's table."""
    if not rows:
        return []
    first = rows[0]
    steps = next((r["steps"] for r in rows if r["steps"] is not None), "no")
    lines = ["## 4. Every sampler's full verdict on null families", "",
             f"`sampling_section` of each `--sampler` at {first['samples']} samples in R "
             f"independent replicates (column R: blocks of one run for samplers with "
             f"independent particles, separate runs for the others; {steps} steps for the path "
             f"samplers; the tempered SMC's stages are adaptive), level {CHECK_LEVEL:g}, "
             "seeds 1..runs, path-following repairs left out. The verdict is the replicate "
             "permutation test of the composed run's replicates against the oracle run's "
             f"({null_runs_for(CHECK_LEVEL)} balanced random relabelings; "
             "`numerics.sampling.calibration.replicate_test`). On each family the composed "
             "and oracle laws coincide (FC: C2; FC under an orthogonal map: C7; the shear "
             "family at t = 0 for the tempered SMC), so every *fails* verdict (calibrated and "
             "rejected) is a false alarm. *Undecided*: the oracle run failed its replicate "
             "test against exact draws (not calibrated), counted apart; *rejected*: "
             "`holds == False` whatever the calibration; *composed missed*: the composed run "
             "failed its test against exact draws. χ² columns: ten-bin uniformity of the "
             "verdict's p-values and of the oracle's reach-test p-values.", "",
             "| sampler | family | R | runs | fails (false alarms) | rate | 95% CI | level vs "
             "CI | P(X ≥ k) | χ² verdict | rejected | undecided | composed missed | χ² oracle "
             "reach | mean value / null median | stages | sweeps | s per run |",
             "|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|"]
    for r in rows:
        fa = r["false_alarms"]
        lines.append(f"| {r['sampler']} | {r['family']} | {r['replicates']} | {fa['trials']} | "
                     f"{fa['count']} | "
                     f"{fa['rate']:.4f} | {_interval(fa)} | {fa['level_vs_ci95']} | "
                     f"{fa['p_rate_exceeds_level']:.3f} | "
                     f"{r['p_value_uniformity']['chi2_p_value']:.3f} | "
                     f"{r['rejected']['count']} | {r['undecided']['count']} | "
                     f"{r['composed_missed']['count']} | "
                     f"{r['reach_p_value_uniformity']['oracle']['chi2_p_value']:.3f} | "
                     f"{r['mean_value_over_null_median']:.3f} | {r['mean_stages']:.1f} | "
                     f"{r['mean_sweeps']:.0f} | {r['seconds_per_run']:.1f} |")
    return [*lines, ""]


def _tempered_holds_table(rows: list[dict[str, Any]]) -> list[str]:
    """Part 5's table."""
    if not rows:
        return []
    lines = ["## 5. Tempered SMC on the narrow-mode shear test set (issue 11, done when 1)",
             "", f"`sampling_section --sampler smc` at {rows[0]['samples']} samples "
             f"({REPLICATES} replicates), level {CHECK_LEVEL:g}, seeds 1..runs, on each family "
             "of `numerics.claims.sampled.SHEAR_VARIANTS`. A run *holds* when the verdict "
             "holds and the composed and the oracle run each pass their replicate test "
             f"against exact draws (three tests at level {CHECK_LEVEL:g}: about 0.97 when all "
             f"hold); the target is ≥ {HOLDS_TARGET:g}.", "",
             "| family | runs | hold | rate | 95% CI | ≥ 0.95 | verdict rejected | oracle "
             "missed | composed missed | stages | sweeps | s per run |",
             "|---|---|---|---|---|---|---|---|---|---|---|---|"]
    for r in rows:
        h = r["holds"]
        lines.append(f"| {r['family']} | {h['trials']} | {h['count']} | {h['rate']:.3f} | "
                     f"{_interval(h)} | {'yes' if r['meets_target'] else 'no'} | "
                     f"{r['verdict_rejected']['count']} | {r['oracle_missed']['count']} | "
                     f"{r['composed_missed']['count']} | {r['mean_stages']:.1f} | "
                     f"{r['mean_sweeps']:.0f} | {r['seconds_per_run']:.1f} |")
    return [*lines, ""]


def _replicate_power_table(part: dict[str, Any] | None, iid: dict[str, Any]) -> list[str]:
    """Part 6's table, with part 3's power (the iid-calibrated test) beside it."""
    if not part:
        return []
    rows = part["rows"]
    head = " | ".join(f"level {r['level']:g}, R = {r['replicates']}" for r in rows)
    lines = ["## 6. Power of the replicate permutation test (the sampling verdict's test)",
             "", f"Part 3's perturbation at N = {part['samples']}: `replicate_test` of p_ε "
             "against p, each split into R blocks (R = "
             f"{INDEPENDENT_REPLICATES}: the section's design for samplers with independent "
             f"particles; R = {REPLICATES}: independent runs of the others), "
             f"{rows[0]['trials']} trials per cell; statistic: {part['statistic']}. The last "
             f"column is part 3's test (exact-draw calibration, {STATISTIC}, level "
             f"{iid['level']:g}, {iid['trials']} trials) on the same perturbation. The "
             "ε = 0 row is a null point (false alarms).", "",
             f"| ε | {head} | part 3 |", "|---|" + "---|" * (len(rows) + 1)]
    for i, eps in enumerate(EPSILONS):
        cells = " | ".join(f"{r['curve'][i]['rate']:.3f}" for r in rows)
        lines.append(f"| {eps:g} | {cells} | {iid['curve'][i]['rate']:.3f} |")
    reach = "; ".join(
        f"level {r['level']:g}, R = {r['replicates']}: "
        + ("not reached" if r["power_0.9_at"]["grid"] is None
           else f"ε ≈ {r['power_0.9_at']['interpolated']:.3f}")
        + f" ({r['seconds']:.0f} s)" for r in rows)
    return [*lines, "", f"Power 0.9 first reached at: {reach}.", ""]


def _sampler_error(v: dict[str, Any], exact: dict[str, Any]) -> str:
    """Reading of a sampling-verdict row whose oracle run is told from exact draws."""
    fa, oracle = v["false_alarms"], v["oracle_vs_exact_rejections"]
    return (f"- At {v['options']['steps']} steps the oracle run is rejected against exact "
            f"draws in {oracle['count']}/{oracle['trials']} runs: the ODE's law q is not the "
            f"aimed law p. The calibration's null runs compare exact draws of p, while the "
            f"tested pair is two draws of q; the mean value / null median is "
            f"{v['mean_value_over_null_median']:.3f} against "
            f"{exact['mean_value_over_null_median']:.3f} for exact null pairs (part 1), and the "
            f"false-alarm rate is {fa['rate']:.4f} (declared {fa['declared_level']:g}: "
            f"{MEANING[fa['level_vs_ci95']]}). The verdict's level is exact only where the "
            "sampler reaches its target.")


def _power_reading(pw: dict[str, Any]) -> str:
    """Reading of the power curve."""
    low = pw["curve"][1]
    at = pw["power_0.9_at"]["interpolated"]
    reach = "does not reach 0.9 on the grid" if at is None else f"reaches 0.9 near ε ≈ {at:.3f}"
    sd = math.sqrt(2 * pw["samples"] * 0.25 * 0.75)
    return (f"- Power: moving mass ε between two modes 8 apart, at N = {pw['samples']} and "
            f"level {pw['level']:g}, the test's power {reach}; at ε = {low['epsilon']:g} "
            f"({round(low['epsilon'] * pw['samples'])} of {pw['samples']} points' worth of "
            f"mass) it is {low['rate']:.3f}. For scale: the difference of two samples' counts "
            f"in one mode has standard deviation √(2N·¼·¾) ≈ {sd:.0f} points, so moving "
            f"εN points is εN/{sd:.0f} standard deviations of it, and perturbations of a few "
            "points are hard for any two-sample test at this N.")


def main(argv: list[str] | None = None, mapper: Mapper = serial_map) -> None:
    """Run the benchmark; ``mapper`` runs the null runs of parts 4 and 5
    (``numerics.campaigns``: the serial map here; ``--scheduler`` picks a Dask map through
    ``projcomp.campaigns.mapper_for``)."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true",
                        help="a few trials per part; write to a fresh temporary folder")
    parser.add_argument("--parts", nargs="+", choices=PARTS, default=list(PARTS),
                        help="parts to run; the others are copied from the "
                             "calibration.json in --out, else from results/ (their plan and "
                             "machine line too)")
    parser.add_argument("--samplers", nargs="+", choices=ORDER, default=list(ORDER),
                        help="samplers of part 4 (default: all); rows of the others made "
                             "with the same test are kept from the earlier results")
    parser.add_argument("--families", nargs="+", choices=list(NULL_FAMILIES),
                        default=list(NULL_FAMILIES), help="null families of part 4")
    parser.add_argument("--scheduler", default=None,
                        help="run parts 4 and 5 as Dask tasks: local:N or a scheduler "
                             "address (projcomp.campaigns; default: serial)")
    parser.add_argument("--out", type=Path, default=None,
                        help="folder for the results (default benchmarks/results)")
    args = parser.parse_args(argv)
    try:
        with mapper_for(args.scheduler) as scheduled:
            run(args, scheduled if args.scheduler else
                (logged_map if mapper is serial_map else mapper))
    except SchedulerError as err:
        parser.exit(2, f"bench_calibration: error: {err}\n")


def run(args: argparse.Namespace, mapper: Mapper) -> None:
    """The benchmark for parsed options ``args``, null runs through ``mapper``."""
    torch.set_num_threads(1)
    plan = QUICK if args.quick else FULL
    out = Path(tempfile.mkdtemp(prefix="bench_calibration.")) if args.quick else RESULTS
    out = args.out or out
    out.mkdir(exist_ok=True)
    start = time.perf_counter()
    report: dict[str, Any] = {"machine": machine(), "quick": args.quick, "plan": asdict(plan)}
    earlier = out / "calibration.json"
    earlier = earlier if earlier.exists() else RESULTS / "calibration.json"
    previous = json.loads(earlier.read_text())
    kept = [key for key in PARTS if key not in args.parts and key in previous]
    if kept:
        report.update({key: previous[key] for key in kept})
        report["copied_parts"] = _provenance(previous, kept)
    parts = {"calibrated_test": calibrated_test, "sampling_verdict": sampling_verdicts,
             "power": power,
             "every_sampler": lambda p: _merged(previous.get("every_sampler", []),
                                                every_sampler(p, mapper, tuple(args.samplers),
                                                              tuple(args.families))),
             "tempered_holds": lambda p: tempered_holds(p, mapper),
             "replicate_power": replicate_power}
    for key in args.parts:
        report[key] = parts[key](plan)
        print(f"{key}: {time.perf_counter() - start:.0f} s", file=sys.stderr, flush=True)
    report["seconds"] = time.perf_counter() - start
    write_text(out / "calibration.json", json.dumps(report, indent=2) + "\n")
    text = markdown(report)
    write_text(out / "calibration.md", text)
    print(text)
    print(f"written to {out}")


def _provenance(previous: dict[str, Any], kept: list[str]) -> list[dict[str, Any]]:
    """Where each of the ``kept`` parts was measured: groups ``{"parts", "machine",
    "plan"}``, from the earlier results' own provenance for parts it had copied itself."""
    earlier = previous.get("copied_parts", [])
    if isinstance(earlier, dict):  # the format before per-part provenance
        earlier = [earlier]
    origin = {part: (g["machine"], g["plan"]) for g in earlier for part in g["parts"]}
    groups: list[dict[str, Any]] = []
    for part in kept:
        machine, plan = origin.get(part, (previous["machine"], previous["plan"]))
        group = next((g for g in groups if (g["machine"], g["plan"]) == (machine, plan)),
                     None)
        if group is None:
            groups.append({"parts": [part], "machine": machine, "plan": plan})
        else:
            group["parts"].append(part)
    return groups


def _merged(earlier: list[dict[str, Any]], rows: list[dict[str, Any]]
            ) -> list[dict[str, Any]]:
    """Part 4's new ``rows`` with the earlier rows of the same test (``DESIGN``) for the
    (sampler, family) pairs not run now, in ``ORDER``."""
    done = {(r["sampler"], r["family"]) for r in rows}
    keep = [r for r in earlier if r.get("design") == DESIGN
            and (r["sampler"], r["family"]) not in done]
    return sorted(keep + rows, key=lambda r: (ORDER.index(r["sampler"]),
                                              list(NULL_FAMILIES).index(r["family"])))


if __name__ == "__main__":
    main()
