"""``check`` of a family whose members are learned models (issue 12; THEORY C10, C20).

A :class:`~numerics.models.family.ModelFamily` has score callables and no densities, so of
``check``'s sections only those that need scores alone run:

- **sampling**: the composed run — a path sampler on ``Σ_m e_m s_m`` (what a user who
  adds the networks' scores gets) — with no oracle run and no test: ``C[p⃗]`` of learned
  members has no exact scores to run an oracle on, and no exact draws. The section says
  so and summarizes the run (finite fraction, root mean square per projection block);
- **heuristic** (Lemma 8.1, C10): cosines between the members' mean differences
  ``δ_i = E_{p_i}[x_0] − E_{p_b}[x_0]``, from the denoisers: Tweedie's
  ``E[x_0 | x_T] = (x_T + s_T² s_m(x_T, T)) / a_T`` averaged over prior draws ``x_T``.
  At ``t = T`` the data are nearly forgotten, ``E[x_0 | x_T] = E_{p_m}[x_0] + O(a_T/s_T)``
  (VP default: ``a_T/s_T = 0.0066``), so the estimate is the network's own mean up to
  that bias and the Monte Carlo error;
- **locality** (C20): :func:`numerics.checks.locality.locality_statistic` at
  ``LOCALITY_T`` on the projection blocks, at points drawn by each member's own sampler
  run (``p_b^t`` and ``p_j^t`` as the networks model them).

FC, projective gaps and noise commutation need densities or exact marginals: they are
not computed, and the verdict is ``undecided`` with that reason.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch
from torch import Tensor

from numerics.checks.heuristic import MAX_COSINE, largest_off_diagonal, reported
from numerics.checks.locality import POINTS, PROBES, locality_statistic
from numerics.laws.processes import ForwardProcess
from numerics.models.family import ModelFamily, NoisyScore
from numerics.models.schedules import DiscreteSchedule
from numerics.sampling import samplers as S
from numerics.sampling.times import geometric_times

# The path samplers that need only scores (check --sampler); the others need densities.
MODEL_SAMPLERS: dict[str, S.Sampler] = {
    "ode": S.probability_flow_heun,
    "sde": S.reverse_sde_euler,
    "ancestral": S.ancestral,
}
# Where a continuous run stops and where locality is measured: check's T_MIN (the
# sampling section's t_min, nearest the data a learned score is trained for).
T_MIN = 1e-3
LOCALITY_T = T_MIN
# Prior draws behind each denoiser mean: E[x_0 | x_T] varies with x_T only through terms
# of relative size O(a_T/s_T), so 256 draws resolve each mean far below that bias.
MEAN_DRAWS = 256
NO_ORACLE = ("no oracle run and no test: learned members have no exact composed law, so "
             "there is nothing exact to sample beside the composed run")
UNDECIDED = ("learned members have no densities: FC, projective gaps, noise commutation "
             "and the sampling test need them (or an oracle); the sections above are "
             "what scores alone decide")


@dataclass(frozen=True)
class ModelSampling:
    """The composed run: ``samples`` points after ``steps`` steps of ``sampler``;
    ``finite_fraction`` of rows without NaN/inf; ``rms`` over all coordinates and
    ``block_rms`` per projection block (``None`` without projections)."""

    sampler: str
    steps: int
    samples: int
    score_evals: int
    finite_fraction: float
    rms: float
    block_rms: list[float] | None
    oracle: str = NO_ORACLE


@dataclass(frozen=True)
class ModelHeuristic:
    """Cosines of the denoisers' mean differences (C10) at ``t``, from ``draws`` prior
    draws; ``predicts_success`` when every off-diagonal ``|cos| ≤ tolerance``."""

    cosines: list[list[float]]
    largest: float
    predicts_success: bool
    tolerance: float
    t: float
    draws: int


@dataclass(frozen=True)
class ModelLocality:
    """C20's statistic per conditional on its projection block at ``t``, with standard
    errors, at ``points`` sampled points (half from the background model, half from the
    conditional)."""

    statistic: list[float]
    stderr: list[float]
    largest: float
    t: float
    points: int
    probes: int


@dataclass(frozen=True)
class ModelCheckReport:
    """``check`` of a model family: what scores alone decide, and why the rest is not."""

    family: str
    dim: int
    k: int
    members: list[str]
    sampling: ModelSampling | None
    heuristic: ModelHeuristic
    locality: ModelLocality | None
    locality_skipped: str | None
    verdict: str
    reason: str


def sampler_times(process: ForwardProcess, steps: int) -> Tensor:
    """Decreasing sampler times: integer timesteps of a discrete schedule, else the
    geometric grid from ``T`` to ``T_MIN`` of ``check``'s sampling section."""
    if isinstance(process, DiscreteSchedule):
        return process.times(min(steps, int(process.T)))
    return geometric_times(process, steps, T_MIN)


def run_path(score: NoisyScore, family: ModelFamily, sampler: str, samples: int, steps: int,
             generator: torch.Generator, device: str = "cpu") -> tuple[Tensor, int]:
    """``samples`` points of the path sampler ``sampler`` on ``score`` (without autograd)
    and the number of per-particle score evaluations."""
    if sampler not in MODEL_SAMPLERS:
        raise ValueError(f"sampler {sampler!r} needs densities; a model family runs "
                         f"{', '.join(MODEL_SAMPLERS)}")
    counted = S.counted(score)
    x_T = S.prior_sample(samples, family.dim, family.process, generator, device=device)
    with torch.no_grad():
        x = MODEL_SAMPLERS[sampler](counted, x_T, sampler_times(family.process, steps),
                                    family.process, generator=generator)
    return x, counted.rows


def denoiser_means(family: ModelFamily, generator: torch.Generator,
                   draws: int = MEAN_DRAWS) -> Tensor:
    """``E_{p_m}[x_0]`` per member ``(k + 1, n)`` by Tweedie at ``t = T`` (module
    docstring)."""
    process = family.process
    t = mean_time(process)
    a, s = process.coefficients(t)
    x = S.prior_sample(draws, family.dim, process, generator)
    with torch.no_grad():
        return torch.stack([((x + s * s * member(x, t)) / a).mean(0) for member in family.members])


def heuristic(family: ModelFamily, generator: torch.Generator) -> ModelHeuristic:
    """Lemma 8.1's cosines between the denoisers' mean differences (C10)."""
    means = denoiser_means(family, generator)
    deltas = means[1:] - means[0]
    norms = deltas.norm(dim=1).clamp_min(math.ulp(1.0))
    cosines = deltas @ deltas.T / (norms[:, None] * norms[None, :])
    largest = largest_off_diagonal(cosines)
    return ModelHeuristic(cosines=reported(cosines), largest=largest,
                          predicts_success=largest <= MAX_COSINE, tolerance=MAX_COSINE,
                          t=mean_time(family.process), draws=MEAN_DRAWS)


def mean_time(process: ForwardProcess) -> float:
    """``T``, or ``T − 1`` on a discrete schedule with zero terminal SNR (``a_T = 0``:
    Tweedie divides by ``a``)."""
    t = float(process.T)
    return t - 1.0 if isinstance(process, DiscreteSchedule) and process.a(t) == 0.0 else t


def locality(family: ModelFamily, sampler: str, steps: int,
             generator: torch.Generator) -> ModelLocality:
    """C20's statistic for each conditional on its projection block at the sampler's last
    time, at ``POINTS`` draws of each of the background's and the conditional's own runs."""
    times = sampler_times(family.process, steps)
    t = float(times[-1])
    background, _ = run_path(family.background, family, sampler, POINTS, steps, generator)
    stats, errors = [], []
    for member, block in zip(family.conditionals, family.projections, strict=True):
        own, _ = run_path(member, family, sampler, POINTS, steps, generator)
        estimate = locality_statistic(lambda x, m=member: m(x, t),
                                      lambda x: family.background(x, t),
                                      torch.cat([background, own]), block, generator, PROBES)
        stats.append(estimate.statistic)
        errors.append(estimate.stderr)
    return ModelLocality(statistic=stats, stderr=errors, largest=max(stats), t=t,
                         points=2 * POINTS, probes=PROBES)


def check_model_family(family: ModelFamily, *, seed: int = 0, samples: int = 2000,
                       steps: int = 100, sampler: str = "ode",
                       device: str = "cpu") -> ModelCheckReport:
    """Every section of a model family's check (module docstring); ``samples = 0`` skips
    the composed run. ``ValueError`` for a sampler that needs densities."""
    if sampler not in MODEL_SAMPLERS:
        raise ValueError(f"sampler {sampler!r} needs densities; a model family runs "
                         f"{', '.join(MODEL_SAMPLERS)}")
    section = None
    if samples > 0:
        x, evals = run_path(family.composed_score, family, sampler, samples, steps,
                            torch.Generator(device).manual_seed(seed), device)
        finite = torch.isfinite(x).all(1)
        kept = x[finite]
        blocks = None if family.projections is None or not len(kept) else \
            [float(kept[:, list(b)].square().mean().sqrt()) for b in family.projections]
        section = ModelSampling(sampler=sampler, steps=steps, samples=samples,
                                score_evals=evals, finite_fraction=float(finite.double().mean()),
                                rms=float(kept.square().mean().sqrt()) if len(kept) else 0.0,
                                block_rms=blocks)
    local, skipped = None, None
    if family.projections is None:
        skipped = "no projections: C20's blocks are the conditionals' projections"
    else:
        local = locality(family, sampler, steps, torch.Generator().manual_seed(seed + 1))
    return ModelCheckReport(
        family=family.name, dim=family.dim, k=family.k, members=list(family.kinds),
        sampling=section, heuristic=heuristic(family, torch.Generator().manual_seed(seed + 2)),
        locality=local, locality_skipped=skipped, verdict="undecided", reason=UNDECIDED)
