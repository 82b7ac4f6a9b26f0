"""The sampling section of ``check``: does a sampler driven by the composed scores reach
``C[p⃗]``? (THEORY C3, C7, C9, C13; DESIGN.md, sample-level metrics.)

Three sample sets of size ``N``, all independent:

- the *composed run*: the sampler driven by the composed scores
  ``∇log C[p⃗^t] = Σ_m e_m ∇log p_m^t`` (and the matching unnormalized log-density for
  Metropolis and SMC steps), i.e. what a user who adds scores gets;
- the *oracle run*: the same sampler, steps and ``N`` on the exact target's scores
  ``∇log N_t[C[p⃗]]``, so that discretization error and composition error are told apart;
- exact draws of the law the sampler aims at: ``N_{t_min}[C[p⃗]]`` for the path samplers
  (they stop at ``t_min > 0``), ``C[p⃗]`` for the tempered SMC at ``t = 0``.

Each run comes as ``R`` independent replicates of about ``N/R`` points: for samplers whose
particles never interact (``INDEPENDENT_PARTICLES``) up to ``INDEPENDENT_REPLICATES``
blocks of one run of ``N`` particles, for the others (a population-averaged step,
resampling) ``R = REPLICATES`` runs with generators of their own
(``SamplingOptions.sizes_for``).

The verdict is a replicate permutation test of *composed against oracle*
(``numerics.sampling.calibration.replicate_test``): under C2 (and C7/C8) the composed and
exact scores coincide, so the ``2R`` replicates are iid as whole replicates, and the test
rejects with probability exactly its level ``α`` — whatever the dependence inside a
replicate (SMC's resampled duplicates) and whether or not the sampler reaches its target.
A composition error beyond the sampler's own moves the composed run away from the oracle
and is detected. Beside it the report gives each run's distance to the exact draws, per
lens ``Π_i`` and on the joint, with the exact-vs-exact noise floor, and each run's
replicate test against ``R`` replicates of exact draws (``reach``). When the oracle's
fails (``sampler_reaches_target`` false) the verdict is "not calibrated": the sampler
does not reach the law the question is about, so neither "works" nor "fails" is said.

The same section aims at the law of any other composition ``op`` (``C`` on a
non-projective family, ``C_w``, the simple product, a user operator;
``numerics.composition.composed_law``): ``result = op[p⃗]``, the composed run on
``op[p⃗^t]`` (``composer``), the oracle on ``N_t[op[p⃗]]``; ``check`` then reports it without
letting it decide the verdict (``numerics.checks.judge``).

The composed scores evaluate ``C[p⃗^t]`` through ``compose`` (an FC family: one
evaluation per block, C1/C2), falling back to the linear combination of the members'
scores when ``C[p⃗^t]`` is not normalizable (the scores are still defined; they target no
law, THEORY §2).
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable
from contextlib import nullcontext
from dataclasses import dataclass
from functools import cache
from typing import Any

import numpy as np
import torch

from numerics.composition.compose import compose
from numerics.laws import Distribution
from numerics.laws.family import Family
from numerics.laws.processes import ForwardProcess
from numerics.laws.unnormalized import NonNormalizable
from numerics.sampling import samplers as S
from numerics.sampling import smc
from numerics.sampling.calibration import (
    REPLICATES,
    Calibration,
    replicate_blocks,
    replicate_test,
    statistic,
)
from numerics.sampling.options import (
    DEFAULT_SAMPLER,
    DEFAULT_SAMPLES,
    DEFAULT_STEPS,
    SAMPLERS,
    TEMPERED,
)
from numerics.sampling.report import (
    Cost,
    Draws,
    JointDistances,
    PathRepair,
    RunCosts,
    SamplingSection,
    SamplingTest,
    TargetTests,
    TemperedRuns,
)
from numerics.sampling.times import geometric_times
from numerics.threads import single_threaded

Tensor = torch.Tensor
Compose = Callable[[Family], Distribution]

T_MIN = 1e-3
CHECK_LEVEL = 1e-2
# Below this many samples the per-step work is small and intra-op threads only add
# synchronization: check's default 2000-sample pc-mala section took 4.8 s on one thread and
# 18 s on two on this (busy) 2-core machine.
SINGLE_THREAD_ROWS = 20000
# Reported beside a tempered-SMC run: the path-following repairs THEORY C13(a) rules out.
PATH_REPAIRS = ("pc-mala", "pc-hmc", "path-smc")
# The section's note when the oracle run misses the target (``sampler_reaches_target``
# false): the verdict is then neither "works" nor "fails".
UNCALIBRATED_NOTE = ("not calibrated — raise steps/particles: the oracle run itself misses the "
                     "target ({length}, {samples} samples; its replicate test against exact "
                     "draws p = {p:.3g} at level {level:g}), so the sampler does not reach the "
                     "law in question and the verdict is neither works nor fails; raise "
                     "--steps (path samplers) or --samples")
# Samplers whose particles never interact: the R blocks of one run of N particles are R
# independent replicates. pc-langevin's step is averaged over the population, and path and
# tempered SMC resample, so their replicates are separate runs.
INDEPENDENT_PARTICLES = ("ode", "sde", "ancestral", "pc-mala", "pc-hmc")
# Their replicates per run: 2 × 100 blocks split finely enough that no relabeling keeps most
# of a discrepancy together (``numerics.sampling.calibration``), and the per-replicate bin
# counts stay small (200 × 32 × 128 values).
INDEPENDENT_REPLICATES = 100
# Tempered SMC: each stage's β cut where the ESS of the incremental weights is 0.9 N.
# Measured on the shear family (N = 2000, 20 seeds): at 0.5 the mode masses spread 1.3–1.7×
# the binomial sd and 7–13 % of runs exceed the exact-vs-exact threshold; at 0.9 they
# spread 1.1–1.4× and none exceed it (measured by hand for issue 11, not a benchmark part).
TEMPERED_ESS = 0.9


@dataclass(frozen=True)
class SamplingOptions:
    """What ``check --samples/--steps/--sampler/--device`` choose. ``level`` is the declared
    false-alarm rate of the verdict; ``check`` uses 1e-2 (99 null runs), the claims and
    tests 1e-3 (999 null runs, the project's false-failure budget). ``progress`` prints
    each run's progress to stderr (``check`` turns it on when stderr is a terminal).
    ``repairs`` runs the path-following repairs beside a tempered-SMC section
    (``path_following``; the calibration benchmark turns it off). ``replicates`` is the
    number ``R`` of independent replicates per run for the permutation tests; ``None``
    chooses by sampler (module docstring; fewer when ``samples < R``)."""

    samples: int = DEFAULT_SAMPLES
    steps: int = DEFAULT_STEPS
    sampler: str = DEFAULT_SAMPLER
    device: str = "cpu"
    level: float = CHECK_LEVEL
    progress: bool = False
    repairs: bool = True
    replicates: int | None = None

    def __post_init__(self) -> None:
        if self.sampler not in SAMPLERS:
            raise ValueError(f"unknown sampler {self.sampler!r}; choose from "
                             f"{', '.join(SAMPLERS)}")
        if self.samples < 2 or self.steps < 1:
            raise ValueError(f"need samples >= 2 and steps >= 1, got samples={self.samples}, "
                             f"steps={self.steps}")
        if self.replicates is not None and self.replicates < 2:
            raise ValueError(f"need replicates >= 2, got {self.replicates}")

    @property
    def sizes(self) -> tuple[int, ...]:
        """The replicates' sizes for ``sampler``: :meth:`sizes_for`."""
        return self.sizes_for(self.sampler)

    def sizes_for(self, sampler: str) -> tuple[int, ...]:
        """The replicates' sizes of a ``sampler`` run: ``r`` parts of ``samples`` that
        differ by at most one. ``r = min(replicates, samples)`` when ``replicates`` is
        given, else ``REPLICATES`` runs for the samplers whose replicates are runs, and for
        ``INDEPENDENT_PARTICLES`` as many blocks of ``b = ⌈samples /
        INDEPENDENT_REPLICATES⌉`` as fit: the tests use ``min(sizes)`` points per replicate,
        so at most ``b − 1`` points of the run go unused (``r = min(100, samples)`` would
        leave a third of 299 samples out)."""
        if self.replicates is not None:
            r = min(self.replicates, self.samples)
        elif sampler in INDEPENDENT_PARTICLES:
            r = self.samples // -(-self.samples // INDEPENDENT_REPLICATES)
        else:
            r = min(REPLICATES, self.samples)
        return tuple(self.samples // r + (i < self.samples % r) for i in range(r))


@dataclass(frozen=True)
class Target:
    """Score and unnormalized log-density callables ``(x (N, n), t) -> (N, n) / (N,)``."""

    score: S.Score
    log_prob: S.LogProb


@dataclass(frozen=True)
class Run:
    """One sampler run: the samples ``x (N, n)``, the sizes of its consecutive
    independent replicates, and what it cost."""

    x: Tensor
    score_evals: int
    density_evals: int
    info: dict[str, Any]
    tempered: tuple[smc.TemperedDiagnostics, ...] | None = None
    sizes: tuple[int, ...] = ()

    def blocks(self, m: int) -> Tensor:
        """``(R, m, n)``: the first ``m`` points of each replicate."""
        return torch.stack([part[:m] for part in self.x.split(list(self.sizes))])


# targets ------------------------------------------------------------------------------
def composed_target(family: Family, composer: Compose = compose,
                    device: str = "cpu") -> Target:
    """``∇log C[p⃗^t]`` and ``log C[p⃗^t]`` (unnormalized) from the family's members.

    ``C[p⃗^t]`` is built once per ``t`` by ``composer`` (``numerics.composition.compose.compose``:
    an FC family gives a block product, one evaluation per block) in float64 on the CPU,
    then moved to ``device``; where it is not normalizable the members' scores are
    combined directly. Every ``t`` is kept: a run visits ``steps + 1`` times (Heun twice).
    """
    @cache
    def at(t: float) -> Distribution | Family:
        noisy = family if t == 0.0 else family.noised(t)
        try:
            return _on(composer(noisy), device)
        except NonNormalizable:
            return noisy.with_members([_on(p, device) for p in noisy.members])

    def score(x: Tensor, t: float) -> Tensor:
        law = at(float(t))
        if isinstance(law, Family):
            return _combined(law, lambda p: p.score(x)).to(x)
        return law.score(x).to(x)

    def log_prob(x: Tensor, t: float) -> Tensor:
        law = at(float(t))
        if isinstance(law, Family):
            return _combined(law, lambda p: p.log_prob(x)).to(x)
        return law.log_prob(x).to(x)

    return Target(score, log_prob)


def _on(law: Distribution, device: str) -> Distribution:
    return law if device == "cpu" else law.to(device=device)


def _combined(family: Family, of: Callable[[Distribution], Tensor]) -> Tensor:
    """``Σ_m e_m of(p_m)`` with ``e = (1 − Σw, w_1, ..., w_k)`` (THEORY §2)."""
    weights = family.effective_weights
    total = (1.0 - sum(weights)) * of(family.background)
    for w, p in zip(weights, family.conditionals, strict=True):
        total = total + w * of(p)
    return total


def exact_target(law: Distribution, process: ForwardProcess, device: str = "cpu") -> Target:
    """``∇log N_t[law]`` and ``log N_t[law]``: the oracle's callables (each ``t`` kept)."""
    @cache
    def at(t: float) -> Distribution:
        return _on(law.noised(t, process), device)

    return Target(lambda x, t: at(float(t)).score(x).to(x),
                  lambda x, t: at(float(t)).log_prob(x).to(x))


def reference_gaussian(family: Family) -> smc.GaussianReference:
    """``(m, σ)`` of the tempered SMC's reference ``ρ = N(m, σ² I)``, from the members only
    (what a user has): ``m`` the mean of their means, ``σ`` twice the largest of their
    standard deviations along any direction plus the spread of their means, so that ``ρ``
    covers every region a member puts mass on."""
    means = torch.stack([p.mean for p in family.members])
    spread = float((means - means.mean(0)).norm(dim=1).max())
    sd = max(float(torch.linalg.eigvalsh(p.covariance).max().sqrt()) for p in family.members)
    return smc.GaussianReference(means.mean(0), 2.0 * sd + spread)


# the sampling section -----------------------------------------------------------------
def aimed_law(result: Distribution, sampler: str, process: ForwardProcess) -> Distribution:
    """What the sampler's output approximates: ``C[p⃗]`` for the tempered SMC at ``t = 0``,
    ``N_{t_min}[C[p⃗]]`` for the path samplers."""
    return result if sampler == TEMPERED else result.noised(T_MIN, process)


def sampling_section(family: Family, result: Distribution, lenses, options: SamplingOptions,
                     seed: int = 0, *, composer: Compose = compose,
                     law: str = "C[p]") -> SamplingSection:
    """The ``sampling`` section of ``check`` (module docstring) for a normalizable
    ``result = C[p⃗]`` with exact samples and noisy scores. Up to ``SINGLE_THREAD_ROWS``
    samples torch runs on one thread (``numerics.threads``).

    Any other composition ``op`` aims the section at its law: ``result = op[p⃗]`` (exact
    draws and noising path, ``numerics.composition.composed_law``), ``composer`` maps
    ``p⃗^t ↦ op[p⃗^t]`` (the composed run's scores) and ``law`` names it in the report."""
    return sampling_section_with_draws(family, result, lenses, options, seed,
                                       composer=composer, law=law)[0]


def sampling_section_with_draws(family: Family, result: Distribution, lenses,
                                options: SamplingOptions, seed: int = 0, *,
                                composer: Compose = compose, law: str = "C[p]"
                                ) -> tuple[SamplingSection, Draws]:
    """:func:`sampling_section` and its three sample sets ``(N, n)``: the composed run,
    the oracle run and exact draws of the aimed law."""
    threads = single_threaded() if options.samples <= SINGLE_THREAD_ROWS else nullcontext()
    with threads:
        return _sampling_section(family, result, lenses, options, seed, composer, law)


def _sampling_section(family: Family, result: Distribution, lenses, options: SamplingOptions,
                      seed: int, composer: Compose, law: str) -> tuple[SamplingSection, Draws]:
    samples, steps, sampler = options.samples, options.steps, options.sampler
    device, level = options.device, options.level
    generator = _seeded(seed, 0)
    aimed = aimed_law(result, sampler, family.process)
    run = _replicated(sampler, family, options, reference_gaussian(family))
    composed = run(composed_target(family, composer, device), seed, 1)
    oracle = run(exact_target(result, family.process, device), seed, 2)
    exact, exact2 = (aimed.sample(samples, generator) for _ in range(2))
    x, y = composed.x.to(exact), oracle.x.to(exact)
    m = min(options.sizes)
    composed_blocks, oracle_blocks = composed.blocks(m).to(exact), oracle.blocks(m).to(exact)
    exact_blocks = replicate_blocks(exact, len(options.sizes))
    value, null = replicate_test(composed_blocks, oracle_blocks, generator, level)
    reach = TargetTests(
        composed=SamplingTest.of(*_swap(replicate_test(composed_blocks, exact_blocks,
                                                       generator, level))),
        oracle=SamplingTest.of(*_swap(replicate_test(oracle_blocks, exact_blocks,
                                                     generator, level))))
    reaches = reach.oracle.p_value > level
    view = _lens_view(family, lenses)
    section = SamplingSection(
        holds=not null.rejects(value),
        gaps=_per_lens(view, x, exact, generator),
        oracle_gaps=_per_lens(view, y, exact, generator),
        floor=_per_lens(view, exact2, exact, generator),
        metric=f"{null.statistic} per lens, samples against exact draws",
        method=(f"{sampler} ({describe(sampler)}), {_length(sampler, steps, composed)}, "
                f"{samples} samples in {len(options.sizes)} independent replicates; composed "
                f"run against an independent oracle run, replicate permutation test at "
                f"level {level:g}"),
        test=SamplingTest.of(null, value),
        joint=JointDistances(composed=statistic(x, exact, generator),
                             oracle=statistic(y, exact, generator),
                             floor=statistic(exact2, exact, generator)),
        reach=reach,
        sampler_reaches_target=reaches,
        calibrated=reaches,
        target=f"{law} at t = 0" if sampler == TEMPERED else f"N_t[{law}] at t = {T_MIN:g}",
        cost=RunCosts(composed=_cost(composed), oracle=_cost(oracle)),
        composed_info=composed.info,
        sampler=sampler, steps=steps, samples=samples, seed=seed, device=device,
        path_following=(path_following(family, result, options, seed, composer)
                        if sampler == TEMPERED and options.repairs else None),
        tempered=(TemperedRuns(composed=composed.tempered, oracle=oracle.tempered)
                  if sampler == TEMPERED else None),
        note=None if reaches else UNCALIBRATED_NOTE.format(
            length=_length(sampler, steps, oracle), samples=samples,
            p=reach.oracle.p_value, level=level))
    return section, Draws(composed=x, oracle=y, exact=exact)


def _swap(test: tuple[float, Calibration]) -> tuple[Calibration, float]:
    """``(value, calibration) -> (calibration, value)``, the order of ``SamplingTest.of``."""
    return test[1], test[0]


def path_following(family: Family, result: Distribution, options: SamplingOptions,
                   seed: int, composer: Compose = compose) -> dict[str, PathRepair]:
    """The path-following repairs' composed runs (scores of ``composer(p⃗^t)``) against
    exact draws of ``N_{t_min}[result]`` (C13(a)), reported beside a tempered-SMC run: per
    sampler ``holds`` (the replicate permutation test against as many replicates of exact
    draws) and its p-value, the joint distance of the pooled run to exact draws beside the
    floor (``statistic``), and the cost."""
    generator = _seeded(seed, 3)
    aimed = aimed_law(result, PATH_REPAIRS[0], family.process)
    exact, exact2 = (aimed.sample(options.samples, generator) for _ in range(2))
    floor = statistic(exact2, exact, generator)
    reference = reference_gaussian(family)
    out = {}
    for i, name in enumerate(PATH_REPAIRS):
        target = composed_target(family, composer, device=options.device)
        run = _replicated(name, family, options, reference)(target, seed, 4 + i)
        sizes = options.sizes_for(name)
        value, null = replicate_test(run.blocks(min(sizes)).to(exact),
                                     replicate_blocks(exact, len(sizes)), generator,
                                     options.level)
        out[name] = PathRepair(holds=not null.rejects(value),
                               joint=statistic(run.x.to(exact), exact, generator),
                               floor=floor, p_value=null.p_value(value),
                               score_evals=run.score_evals, density_evals=run.density_evals)
    return out



def _length(sampler: str, steps: int, run: Run) -> str:
    if sampler == TEMPERED:
        stages = run.info["stages"]
        low, high = min(stages), max(stages)
        span = f"{low}" if low == high else f"{low}–{high}"
        return f"{span} adaptive tempering stages per replicate"
    return f"{steps} steps"


def _seeded(seed: int, stream: int, device: str = "cpu") -> torch.Generator:
    """Stream ``stream`` of seed ``seed``: ``SeedSequence`` mixes the pair, so no stream of
    one seed is another seed's stream; on ``device``, where a sampler's draws are made."""
    state = int(np.random.SeedSequence([seed, stream]).generate_state(1, np.uint64)[0])
    return torch.Generator(device=device).manual_seed(state)


def _cost(run: Run) -> Cost:
    return Cost(score_evals=run.score_evals, density_evals=run.density_evals)


def _per_lens(views: list[Callable[[Tensor], Tensor] | None], x: Tensor, y: Tensor,
              generator: torch.Generator) -> list[float]:
    """The statistic between ``Π_i♯x`` and ``Π_i♯y`` per lens (0 for an empty lens)."""
    return [0.0 if v is None else statistic(v(x), v(y), generator) for v in views]


def _lens_view(family: Family, lenses) -> list[Callable[[Tensor], Tensor] | None]:
    """``x ↦ Π_i(x) = (A x + c)|lenses[i]`` (``x|lenses[i]`` without a feature map)."""
    fm = family.feature_map

    def view(lens: list[int]) -> Callable[[Tensor], Tensor] | None:
        if not lens:
            return None
        if fm is None:
            return lambda x: x[:, lens]
        return lambda x: (x @ fm.matrix.T.to(x) + fm.offset.to(x))[:, lens]

    return [view(list(lens)) for lens in lenses]


# running a named sampler --------------------------------------------------------------
DESCRIPTIONS = {
    "ode": "probability-flow ODE, Heun",
    "sde": "reverse SDE, Euler–Maruyama",
    "ancestral": "reverse SDE, ancestral steps",
    "pc-langevin": "predictor–corrector, reverse SDE with Langevin corrector",
    "pc-mala": "predictor–corrector, reverse SDE with MALA corrector",
    "pc-hmc": "predictor–corrector, reverse SDE with HMC corrector",
    "path-smc": "SMC along the noisy path with Feynman–Kac weights",
    "smc": "tempered SMC at t = 0 from a broad Gaussian, MALA moves",
}


def describe(sampler: str) -> str:
    return DESCRIPTIONS[sampler]


Runner = Callable[[Target, torch.Generator, int, int], list[Run]]
Replicated = Callable[[Target, int, int], Run]


def _replicated(sampler: str, family: Family, options: SamplingOptions,
                reference: smc.GaussianReference) -> Replicated:
    """``(target, seed, stream) -> Run`` of ``options.samples`` points in
    ``len(options.sizes)`` independent replicates (module docstring), all drawn from stream
    ``stream`` of ``seed``: one run split into blocks for ``INDEPENDENT_PARTICLES``, else
    one run per replicate (batched where the sampler allows: the runs draw disjoint random
    numbers, so they are independent). A run of several replicates lists each one's
    diagnostics (``acceptance`` averaged)."""
    run, sizes = _runner(sampler, family, options, reference), options.sizes_for(sampler)

    def replicated(target: Target, seed: int, stream: int) -> Run:
        generator = _seeded(seed, stream, options.device)
        if sampler in INDEPENDENT_PARTICLES:
            one = run(target, generator, options.samples, 1)[0]
            return Run(one.x, one.score_evals, one.density_evals,
                       {"replicates": len(sizes), **one.info}, one.tempered, sizes)
        parts = [part for size, count in Counter(sizes).items()
                 for part in run(target, generator, size, count)]
        info: dict[str, Any] = {"replicates": len(sizes)}
        for key in parts[0].info:
            values = [p.info[key] for p in parts]
            info[key] = _mean_of(values) if key == "acceptance" else values
        tempered = (tuple(d for p in parts for d in p.tempered or ())
                    if sampler == TEMPERED else None)
        return Run(torch.cat([p.x for p in parts]), sum(p.score_evals for p in parts),
                   sum(p.density_evals for p in parts), info, tempered, sizes)

    return replicated


def _mean_of(values: list[float | None]) -> float | None:
    known = [v for v in values if v is not None]
    return sum(known) / len(known) if known else None


def _runner(sampler: str, family: Family, options: SamplingOptions,
            reference: smc.GaussianReference) -> Runner:
    """``(target, generator, N, R) -> R`` independent runs of ``N`` particles each for the
    named sampler, float64 on ``options.device`` (path and tempered SMC batch the ``R``
    runs: ``smc.path_smc_runs``, ``smc.tempered_smc_runs``; the others make them in turn).

    Path samplers run ``steps`` steps on a geometric time grid from ``T`` to ``T_MIN``, in
    chunks of ``CHUNK`` particles (work arrays stay ``CHUNK × n``, so ``N = 10⁶`` fits in a
    few GB); path SMC ends with a systematic resampling and decorrelating MALA sweeps
    (``equalize``), so every run returns ``N`` equally weighted points. The tempered SMC's stage
    count is adaptive (``steps`` does not apply), its ESS cut ``TEMPERED_ESS`` and its
    MALA sweeps per stage set by the decorrelation criterion of ``smc.tempered_smc``.
    With ``options.progress`` the path samplers print progress to stderr (the tempered
    SMC's few adaptive stages need none).
    """
    process, device = family.process, options.device
    times = geometric_times(process, options.steps, T_MIN)

    def progress(label: str, total: int) -> S.Callback | None:
        return S.progress(total, f"{sampler} {label}") if options.progress else None

    def run(target: Target, generator: torch.Generator, n: int, runs: int) -> list[Run]:
        if sampler == TEMPERED:
            x = reference.sample(n * runs, generator, device=device)
            return [Run(out.x, out.score_evals, out.density_evals,
                        {"stages": len(out.ess), "acceptance": _mean(out.acceptance)},
                        (out.diagnostics,) if out.diagnostics is not None else None)
                    for out in smc.tempered_smc_runs(
                        target.score, x, log_prob=target.log_prob, reference=reference,
                        runs=runs, generator=generator, ess_fraction=TEMPERED_ESS)]
        if sampler == "path-smc":
            x_T = S.prior_sample(n * runs, family.dim, process, generator, device=device)
            return [Run(out.x, out.score_evals, out.density_evals,
                        {"resamplings": out.resamplings, "final_ess": float(out.ess[-1]),
                         "acceptance": _mean(out.acceptance)})
                    for out in smc.path_smc_runs(
                        target.score, x_T, times, process, log_prob=target.log_prob,
                        runs=runs, generator=generator,
                        callback=progress("step", options.steps), equalize=True)]
        return [single(target, generator, n) for _ in range(runs)]

    def single(target: Target, generator: torch.Generator, n: int) -> Run:
        x_T = S.prior_sample(n, family.dim, process, generator, device=device)
        parts = [_path_run(sampler, target, chunk, times, process, generator,
                           progress(f"chunk {i + 1}/{-(-n // CHUNK)}, step", options.steps))
                 for i, chunk in enumerate(x_T.split(CHUNK))]
        rates = [p.info["acceptance"] for p in parts if p.info.get("acceptance") is not None]
        return Run(torch.cat([p.x for p in parts]), sum(p.score_evals for p in parts),
                   sum(p.density_evals for p in parts),
                   {"acceptance": sum(rates) / len(rates)} if rates else {})

    return run


def _path_run(sampler: str, target: Target, x_T: Tensor, times: Tensor,
              process: ForwardProcess, generator: torch.Generator,
              callback: S.Callback | None) -> Run:
    """One chunk of a plain or predictor–corrector path sampler."""
    if sampler in UNCORRECTED:
        score = S.counted(target.score)
        return Run(UNCORRECTED[sampler](score, x_T, times, process, generator=generator,
                                        callback=callback), score.rows, 0, {})
    out = S.predictor_corrector(target.score, x_T, times, process, generator=generator,
                                callback=callback, corrector=sampler.removeprefix("pc-"),
                                log_prob=target.log_prob)
    return Run(out.x, out.score_evals, out.density_evals, {"acceptance": _mean(out.acceptance)})


UNCORRECTED: dict[str, S.Sampler] = {
    "ode": S.probability_flow_heun,
    "sde": S.reverse_sde_euler,
    "ancestral": S.ancestral,
}
CHUNK = 65536


def _mean(values: Tensor | None) -> float | None:
    return None if values is None or values.numel() == 0 else float(values.mean())
