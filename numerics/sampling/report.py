"""Records of the sampling section of ``check`` (``numerics.sampling.section``; THEORY C3,
C7, C9, C13).

Field names are the JSON keys that README.md ("The sampling section") and DESIGN.md
document; ``numerics.records.to_json`` is their one conversion. Distances are the
calibrated statistic (sliced Wasserstein-2 over random directions,
``numerics.sampling.calibration``) between two sample sets of ``N`` points; costs count
per-particle evaluations summed over the ``N`` particles.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import torch

from numerics.records import optional

if TYPE_CHECKING:  # annotations only: `check --samples 0` imports no sampler or SMC code
    from numerics.sampling.calibration import Calibration
    from numerics.sampling.smc import TemperedDiagnostics


@dataclass(frozen=True, kw_only=True)
class Cost:
    """What one run cost: score and (unnormalized) density evaluations, one per particle
    per call."""

    score_evals: int
    density_evals: int


@dataclass(frozen=True, kw_only=True)
class RunCosts:
    """The costs of the composed run and of the oracle run."""

    composed: Cost
    oracle: Cost


@dataclass(frozen=True, kw_only=True)
class SamplingTest:
    """A Monte Carlo test of two sample sets: ``value`` is the observed statistic ``T_0``,
    ``p_value = (1 + #{T_r ≥ T_0}) / (R + 1)``, ``threshold`` the largest of
    ``R = null_runs`` null values ``T_r`` at ``samples`` points per set, so the test rejects
    with probability ``level = 1/(R + 1)`` under the null. ``design`` says where the null
    values come from: in the sampling section, balanced random relabelings of
    ``replicates`` independent replicates per set
    (``numerics.sampling.calibration.replicate_test``), exact whatever the dependence
    inside a replicate."""

    value: float
    p_value: float
    statistic: str
    level: float
    null_runs: int
    threshold: float
    samples: int
    null_median: float
    design: str
    replicates: int

    @classmethod
    def of(cls, calibration: Calibration, value: float) -> SamplingTest:
        """The test of ``value`` against ``calibration``'s null runs."""
        return cls(value=value, p_value=calibration.p_value(value),
                   statistic=calibration.statistic, level=calibration.level,
                   null_runs=calibration.runs, threshold=calibration.threshold,
                   samples=calibration.n, null_median=calibration.null_median,
                   design=calibration.design, replicates=calibration.replicates)


@dataclass(frozen=True, kw_only=True)
class TargetTests:
    """Does each run reach the aimed law? The replicate permutation test (same level) of
    the composed run's and of the oracle run's replicates against as many replicates of
    exact draws of equal size. With equal group sizes the relabeled values match the
    observed one's spread even where the runs' replicates are internally dependent and the
    exact draws are not (balanced design), so it tests the runs' marginal law —
    approximately for dependent samplers (measured: ``benchmarks/results/calibration.md``),
    exactly for samplers with independent particles."""

    composed: SamplingTest
    oracle: SamplingTest


@dataclass(frozen=True, kw_only=True)
class JointDistances:
    """Joint distances to exact draws of the aimed law: the composed run's, the oracle
    run's, and the floor (a second set of exact draws)."""

    composed: float
    oracle: float
    floor: float


@dataclass(frozen=True, kw_only=True)
class PathRepair:
    """A path-following repair (C13(a)) beside a tempered-SMC run: ``holds`` (its composed
    run passes the replicate permutation test against exact draws of ``N_{t_min}[C[p⃗]]``)
    with the test's ``p_value``; the run's joint distance to exact draws and the
    exact-vs-exact ``floor`` (``JointDistances``' statistic); and its cost."""

    holds: bool
    joint: float
    floor: float
    p_value: float
    score_evals: int
    density_evals: int


@dataclass(frozen=True, kw_only=True)
class TemperedRuns:
    """The tempered SMC's move diagnostics (``numerics.sampling.smc.TemperedDiagnostics``:
    stages, sweeps, acceptance and residual correlation per stage), one per replicate, for
    the composed and the oracle run."""

    composed: tuple[TemperedDiagnostics, ...]
    oracle: tuple[TemperedDiagnostics, ...]


@dataclass(frozen=True, kw_only=True)
class Draws:
    """The section's sample sets, each ``(N, n)``: the composed run, the oracle run and
    exact draws of the aimed law (for figures and further statistics; no part of the
    report)."""

    composed: torch.Tensor
    oracle: torch.Tensor
    exact: torch.Tensor


@dataclass(frozen=True, kw_only=True)
class AimedLaw:
    """Which law the section aimed at (issue 11 item 6): ``law`` names it (``"C[p]"``,
    ``"C_w[p] (w = 2)"``, ``"simple product"``, ``"user operator m:f on a 201×201
    grid"``), ``form`` says how its exact draws and noising path are computed,
    ``resolution`` is a grid's total-variation error (``None`` in closed form), and
    ``decides_verdict`` whether the section decides the verdict (projective ``C`` only;
    for any other law it says whether the samplers reach that law and leaves the verdict
    — "is it projective" — alone)."""

    law: str
    form: str
    decides_verdict: bool
    resolution: float | None = optional()


@dataclass(frozen=True, kw_only=True)
class SamplingSection:
    """Does a sampler on the composed scores reach ``C[p⃗]``? ``holds``: the composed run
    passes ``test`` against the oracle run (a replicate permutation test, exact under the
    null whatever the sampler's within-run dependence). Per lens ``Π_i`` (``k`` values
    each, reported, not tested): ``gaps`` (composed vs exact), ``oracle_gaps`` (oracle vs
    exact), ``floor`` (exact vs exact). ``reach``: each run's test against exact draws;
    ``sampler_reaches_target`` (also ``calibrated``): the oracle run passes it; when it
    does not, ``note`` says "not calibrated". ``composed_info`` holds the sampler's own
    diagnostics (``replicates``; ``acceptance``, averaged over replicates; per replicate
    ``stages`` for the tempered SMC, ``resamplings`` and ``final_ess`` for path SMC).
    ``path_following`` (tempered SMC only) maps each path-following repair to its
    result; ``tempered`` (tempered SMC only) holds both runs' move diagnostics;
    ``aimed`` says which composed law the runs aimed at and whether the section decides
    the verdict (``AimedLaw``). When
    ``calibrated`` is false the verdict is undecided ("not calibrated", ``note``), whatever
    ``holds`` says."""

    holds: bool
    gaps: list[float]
    oracle_gaps: list[float]
    floor: list[float]
    metric: str
    method: str
    test: SamplingTest
    joint: JointDistances
    reach: TargetTests
    sampler_reaches_target: bool
    calibrated: bool
    target: str
    cost: RunCosts
    composed_info: dict[str, Any]
    sampler: str
    steps: int
    samples: int
    seed: int
    device: str
    path_following: Mapping[str, PathRepair] | None = optional()
    tempered: TemperedRuns | None = optional()
    note: str | None = optional()
    aimed: AimedLaw | None = optional()


@dataclass(frozen=True, kw_only=True)
class SamplingSkipped:
    """The sampling section when ``C[p⃗]`` has no closed form: no exact draws or oracle
    scores to compare with, so no test (``holds`` is ``None``)."""

    holds: None = None
    skipped: str
