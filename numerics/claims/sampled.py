"""Sampled evidence for the sampling claims C3, C7, C9 and C13 (THEORY §4, §6).

Each function runs named samplers (``numerics.sampling.section``) on one family and
returns plain numbers; ``projcomp verify`` and the tests judge them. Every verdict is a
calibrated Monte Carlo test (``numerics.sampling.calibration``) at a stated level; a claim that
runs several tests splits its false-failure budget ``FALSE_ALARM_BUDGET`` between them (Bonferroni).

- C3/C7 (``step_sweep``): on a family whose noisy composition is exact (FC, or FC under
  an orthogonal or block-orthogonal map), the composed run is indistinguishable from the
  oracle run at every step count, and its distance to exact draws falls as steps grow.
- C9 (``shear_sampling``): on the shear family the composed run is far from both the
  oracle and exact draws, while the oracle reaches them.
- C13 (``repairs``): path-following repairs (annealed MALA/HMC correctors, SMC along
  ``C[p⃗^t]``) still miss ``C[p⃗]``; tempered SMC at ``t = 0`` recovers it. For each, the
  share of the plain sampler's gap it closes and its cost in score and density
  evaluations.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any

import torch

from numerics.checks.fc import factorized_family, fc_violation
from numerics.checks.gaps import compose_c
from numerics.claims.named_families import mode_masses, shear_family
from numerics.laws import Distribution
from numerics.laws.family import Family
from numerics.records import to_json
from numerics.sampling.calibration import statistic
from numerics.sampling.options import DEFAULT_STEPS, TEMPERED
from numerics.sampling.section import (
    PATH_REPAIRS,
    Compose,
    SamplingOptions,
    sampling_section,
    sampling_section_with_draws,
)
from numerics.tolerances import EXACT_TOL, FALSE_ALARM_BUDGET

SAMPLES = 2000
SWEEP_STEPS = (4, 16, 64)


@dataclass(frozen=True)
class Setup:
    """A family ready to sample: ``C[p⃗]`` and how to compose its noised members."""

    family: Family
    result: Distribution
    compose_at: Compose
    lenses: list[list[int]]


def setup(family: Family) -> Setup:
    """``C[p⃗]`` for a family with projections or a feature map, factorized when FC holds
    exactly in its feature space (as ``check`` does)."""
    feature = family.in_feature_space()
    if feature.projections is None:
        raise ValueError("the sampled claims need families with projections or a feature map")
    lenses = [list(b) for b in feature.projections]
    fc = max(fc_violation(feature, lenses).values()) <= EXACT_TOL
    work = factorized_family(family, lenses) if fc else family
    compose_at = compose_c(lenses if fc else None)
    return Setup(work, compose_at(work), compose_at, lenses)


@dataclass(frozen=True)
class Sweep:
    """One family, one sampler, several step counts (C3, C7): per step count the
    replicate test's statistic of the composed run against the oracle run, and both
    runs' joint distances to exact draws; the test's threshold and verdict at the largest
    step count (the one C3's limit is about)."""

    name: str
    sampler: str
    steps: list[int]
    composed_vs_oracle: list[float]
    threshold: float
    level: float
    indistinguishable: bool
    composed_vs_exact: list[float]
    oracle_vs_exact: list[float]
    floor: float

    @property
    def falls(self) -> bool:
        """The composed run's distance to exact draws is smaller at the largest step count
        than at the smallest."""
        return self.composed_vs_exact[-1] < self.composed_vs_exact[0]

    def as_dict(self) -> dict[str, Any]:
        return {**asdict(self), "falls": self.falls}


def step_sweep(family: Family, *, sampler: str = "ode", steps=SWEEP_STEPS,
               samples: int = SAMPLES, level: float = FALSE_ALARM_BUDGET, seed: int = 0) -> Sweep:
    """Composed and oracle runs of ``sampler`` at each step count (C3, C7); the verdict is
    the replicate permutation test at level ``level`` at the largest step count."""
    s = setup(family)
    sections = [sampling_section(s.family, s.result, s.lenses,
                                 SamplingOptions(samples, n, sampler, level=level), seed=seed)
                for n in steps]
    last = sections[-1]
    return Sweep(family.name, sampler, list(steps),
                 [x.test.value for x in sections], last.test.threshold, level, last.holds,
                 [x.joint.composed for x in sections],
                 [x.joint.oracle for x in sections], sections[-1].joint.floor)


# C9 and C13: samplers on the shear family ---------------------------------------------
def shear_variant(width: float, separation: float, shear: float, background: float,
                  name: str | None = None) -> Family:
    """THEORY C13's shear family (``named_families.shear_family``) with its four knobs set;
    ``shear_variant(0.15, 0.5, 2.0, 0.1)`` is ``shear_family()``."""
    label = name or f"shear_w{width:g}_d{separation:g}_s{shear:g}_b{background:g}"
    return shear_family(label, width, separation, shear, background)


# The test set of shear families for C13 and the calibration benchmark (issue 11): mode
# width, separation, shear and background width varied around THEORY C13's family, every
# one with narrow modes (width ≤ separation / 2).
SHEAR_VARIANTS = ((0.15, 0.5, 2.0, 0.1), (0.1, 0.8, 2.0, 0.1), (0.25, 1.5, 2.0, 0.1),
                  (0.15, 0.5, 1.0, 0.1), (0.15, 0.5, 3.0, 0.1), (0.15, 0.5, 2.0, 0.3))

PLAIN_SAMPLERS = ("ode", "sde")
BASELINE = "sde"
REPAIR = TEMPERED


def shear_run(family: Family, sampler: str, *, samples: int = SAMPLES,
              level: float = FALSE_ALARM_BUDGET, steps: int = DEFAULT_STEPS,
              seed: int = 0) -> dict[str, Any]:
    """The composed run of ``sampler`` against its oracle and exact draws, with the mode
    masses of both runs and their costs (C9, C13). ``composed_rejected`` is the section's
    replicate permutation test of composed against oracle at ``level`` (``threshold`` its
    largest relabeled value); ``composed_reaches_target`` the same test of the composed
    run against exact draws (``section.reach``). ``"features"`` holds the composed run in
    feature coordinates ``(N, 2)`` (a tensor, for figures)."""
    s = setup(family)
    options = SamplingOptions(samples, steps, sampler, level=level, repairs=False)
    section, draws = sampling_section_with_draws(s.family, s.result, s.lenses, options,
                                                 seed=seed)
    exact_vs = statistic(draws.composed, draws.exact, torch.Generator().manual_seed(seed))
    return {"sampler": sampler, "steps": steps, "samples": samples,
            "level": level, "threshold": section.test.threshold,
            "composed_vs_oracle": section.test.value,
            "composed_rejected": not section.holds,
            "composed_vs_exact": exact_vs,
            "composed_reaches_target": section.reach.composed.p_value > level,
            "oracle_vs_exact": section.joint.oracle,
            "oracle_reaches_target": section.sampler_reaches_target,
            "floor": section.joint.floor,
            "composed_masses": mode_masses(family, draws.composed).tolist(),
            "oracle_masses": mode_masses(family, draws.oracle).tolist(),
            "cost": to_json(section.cost.composed), "info": section.composed_info,
            "features": _features(family, draws.composed)}


def _features(family: Family, x: torch.Tensor) -> torch.Tensor:
    """``z = A x + c``: where the modes of the shear family are axis-aligned."""
    fm = family.feature_map
    return x.to(fm.matrix) @ fm.matrix.T + fm.offset


def plain_failures(family: Family, *, samples: int = SAMPLES, level: float = FALSE_ALARM_BUDGET,
                   seed: int = 0) -> list[dict[str, Any]]:
    """C9: each plain sampler's composed run on the shear family. A false failure of the
    claim is an oracle run wrongly rejected, so ``level`` is split over the samplers."""
    split = 1.0 / (len(PLAIN_SAMPLERS) * round(1.0 / level))  # Bonferroni, still 1/integer
    return [shear_run(family, sampler, samples=samples, level=split, seed=seed)
            for sampler in PLAIN_SAMPLERS]


def repairs(family: Family, *, samples: int = SAMPLES, level: float = FALSE_ALARM_BUDGET,
            seed: int = 0) -> dict[str, Any]:
    """C13: the plain reverse SDE, the path-following repairs and tempered SMC at ``t = 0``
    on the shear family. For each, the share of the plain sampler's gap it closes,
    ``(D_plain − D) / (D_plain − D_floor)`` with ``D`` the joint distance to exact draws,
    and its cost. A false failure is the tempered SMC wrongly rejected (one test at
    ``level``); the path-following runs take the same test at the same level."""
    runs = {name: shear_run(family, name, samples=samples, level=level, seed=seed)
            for name in (BASELINE, *PATH_REPAIRS, REPAIR)}
    base = runs[BASELINE]
    for run in runs.values():
        span = base["composed_vs_exact"] - run["floor"]
        run["gap_closed"] = (base["composed_vs_exact"] - run["composed_vs_exact"]) / span
    holds = (all(not runs[m]["composed_reaches_target"] for m in PATH_REPAIRS)
             and runs[REPAIR]["composed_reaches_target"])
    return {"holds": holds, "runs": runs}
