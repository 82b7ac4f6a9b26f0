"""Colour amounts: THEORY C6–C10 illustrated with colour concepts that are FC in a feature
space of colour amounts (not the paper's Fig. 5, which is a coordinate-FC argument:
``numerics.experiments.colours``). Computation only; ``projcomp.experiments.colours``
writes both parts of the colours report.

A pixel ``x ∈ R³`` is an RGB colour. Its features ``z = A x`` are the *amounts* of three
colour directions ``b_1, b_2, b_3`` (the columns of ``B = A⁻¹``, so ``x = B z``): the two
concepts' colours and a third direction completing them to a basis. In feature space the
family is FC with partition ``{0}, {1}`` (the third feature is background only):

- background "black": every amount ``N(0, BACKGROUND_SD²)``;
- conditional ``i``: amount ``z_i`` is a two-brightness mixture, ``½ N(0.5, WIDTH²) +
  ½ N(1.0, WIDTH²)``; the other amounts stay black.

``C[p⃗]`` then has four modes, (dim | bright) × (dim | bright), of mass ¼ each, and is a
projective composition in pixel space (C6). Whether reverse diffusion with the summed
scores reaches it depends on the colour directions: noise in feature space has
covariance ``s_t² A Aᵀ``; it is block-diagonal when the two colours are orthogonal in RGB
(C7; with unnormalized columns ``A = D Q``, block-orthogonal, C8), and couples the two
amounts when they are not (C9). A Gaussian family with one shared covariance would
commute under every ``A`` (C9's note), hence the two brightness levels.

Columns are not normalized: one unit of "yellow" is ``(1, 1, 0)``, so amount 1 is the pure
colour.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Any

import torch

from numerics.checks.judge import check_family
from numerics.checks.report import CheckReport
from numerics.claims.named_families import in_features
from numerics.claims.sampled import Setup, setup
from numerics.laws import BlockProduct, Distribution, GaussianMixture
from numerics.laws.family import Family
from numerics.sampling.section import T_MIN, SamplingOptions, sampling_section_with_draws
from numerics.sampling.times import time_grid
from numerics.threads import single_threaded
from numerics.tolerances import FALSE_ALARM_BUDGET

Tensor = torch.Tensor
F64 = torch.float64

# "Black": small amounts of every colour, well inside one brightness level's width.
BACKGROUND_SD = 0.05
# Two brightness levels per concept, 0.5 / WIDTH = 6.25 widths apart: well-separated modes
# (the mass of one level beyond the midpoint is Φ(−3.1) ≈ 1e-3), which is what breaks the
# shared-covariance commutation of C9's note.
LEVELS = (0.5, 1.0)
WIDTH = 0.08
# A sample's amount counts as "bright" above the midpoint of the two levels.
MIDPOINT = 0.5 * (LEVELS[0] + LEVELS[1])
MODES = ("dim+dim", "dim+bright", "bright+dim", "bright+bright")

COLOURS = {"red": (1.0, 0.0, 0.0), "green": (0.0, 1.0, 0.0), "blue": (0.0, 0.0, 1.0),
           "yellow": (1.0, 1.0, 0.0)}

SAMPLERS = ("ode", "sde")
STEPS = 100
SAMPLES = 2000
QUICK_SAMPLES = 500
# The project's false-failure budget (FALSE_ALARM_BUDGET) is split (Bonferroni) over the
# tests whose false rejection would fail the experiment: each
# orthogonal case under each sampler (2 × 2 tests, so 2.5e-4 each, 3999 null runs).
# Times at which the path C[p⃗^t] is compared with N_t[C[p⃗]]: geometric as in check, but
# from 1e-6 (s_t ≈ 3e-4) rather than check's 1e-3 (s_t ≈ 0.01), because the non-orthogonal
# path only returns to C[p⃗] for s_t ≲ 1e-3, and 30 points rather than 12 for a smooth
# curve (closed-form gaps, so cheap).
TIME_POINTS = 30
PATH_T_MIN = 1e-6
SEED = 0


@dataclass(frozen=True)
class Case:
    """Two colour concepts and the direction completing their colours to a basis of RGB."""

    name: str
    colours: tuple[str, str]
    completion: tuple[float, float, float]

    @property
    def directions(self) -> Tensor:
        """``B (3, 3)``: columns ``b_1, b_2`` (the colours) and ``b_3`` (the completion)."""
        cols = [COLOURS[c] for c in self.colours] + [self.completion]
        return torch.tensor(cols, dtype=F64).T

    @property
    def feature_map(self) -> Tensor:
        """``A = B⁻¹ (3, 3)``: pixel (RGB) to amounts."""
        return torch.linalg.inv(self.directions)

    @property
    def rgb_cosine(self) -> float:
        """``cos(b_1, b_2)`` in RGB: 0 for orthogonal colours."""
        b = self.directions
        return float(b[:, 0] @ b[:, 1] / (b[:, 0].norm() * b[:, 1].norm()))

    @property
    def orthogonal(self) -> bool:
        """Are the two colours orthogonal in RGB? (exact: small integer entries)"""
        return self.rgb_cosine == 0.0


CASES = (
    Case("yellow+blue", ("yellow", "blue"), (1.0, -1.0, 0.0)),
    Case("red+green", ("red", "green"), (0.0, 0.0, 1.0)),
    Case("yellow+red", ("yellow", "red"), (0.0, 0.0, 1.0)),
)


def level_per_test(cases=CASES, samplers=SAMPLERS) -> float:
    """``FALSE_ALARM_BUDGET / (#orthogonal cases × #samplers)``: the level of each
    calibrated test."""
    return FALSE_ALARM_BUDGET / (sum(c.orthogonal for c in cases) * len(samplers))


# the family ---------------------------------------------------------------------------
def _amount(levels: tuple[float, ...], sd: float) -> GaussianMixture:
    """A 1-D amount: equal-weight modes at ``levels``, each ``N(level, sd²)``."""
    k = len(levels)
    return GaussianMixture(torch.full((k,), 1.0 / k, dtype=F64),
                           torch.tensor(levels, dtype=F64)[:, None],
                           torch.full((k, 1, 1), sd**2, dtype=F64))


def feature_family() -> Family:
    """The FC family of amounts ``z ∈ R³``, partition ``{0}, {1}`` (module docstring)."""
    black = _amount((0.0,), BACKGROUND_SD)
    two = _amount(LEVELS, WIDTH)

    def member(bright: int | None) -> BlockProduct:
        return BlockProduct([([j], two if j == bright else black) for j in range(3)])

    return Family(member(None), (member(0), member(1)), projections=((0,), (1,)))


def colour_family(case: Case) -> Family:
    """The family in RGB: ``x = B z`` with ``z`` from :func:`feature_family`."""
    return in_features(feature_family(), case.feature_map, case.name)


# measurements -------------------------------------------------------------------------
def amounts(case: Case, x: Tensor) -> Tensor:
    """The two concepts' amounts ``(A x)_{0,1}`` of RGB points ``x (N, 3) -> (N, 2)``."""
    return x.to(F64) @ case.feature_map[:2].T


def mode_masses(z: Tensor) -> list[float]:
    """Share of amounts ``z (N, 2)`` in each brightness mode, ordered as ``MODES`` (split at
    ``MIDPOINT``); ``C[p⃗]`` puts ¼ on each."""
    index = 2 * (z[:, 0] > MIDPOINT).long() + (z[:, 1] > MIDPOINT).long()
    return (torch.bincount(index, minlength=4).to(F64) / len(z)).tolist()


def bright_weight(law: Distribution, case: Case) -> float:
    """Weight of the bright+bright component of ``C[p⃗^t]`` (a 4-component mixture once
    expanded): the component whose mean has the largest total amount ``(A μ)_0 + (A μ)_1``.
    ``N_t[C[p⃗]]`` keeps ¼ at every ``t``; C9 is the path moving away from it."""
    mix = law.to_mixture()
    total = (mix.means @ case.feature_map[:2].T).sum(1)
    return float(mix.weights[int(total.argmax())])


def path(s: Setup, case: Case, times: list[float]) -> dict[str, Any]:
    """At each of ``times``: the noise scale ``s_t`` and the bright+bright weight of
    ``C[p⃗^t]`` (:func:`bright_weight`); and that weight at ``T_MIN``, where the samplers
    stop."""
    process = s.family.process

    def weight(t: float) -> float:
        return bright_weight(s.compose_at(s.family.noised(t)), case)

    return {"noise_scale": [process.coefficients(t)[1] for t in times],
            "bright_weight": [weight(t) for t in times],
            "bright_weight_at_t_min": weight(T_MIN)}


def sampled(s: Setup, case: Case, samples: int, level: float,
            seed: int) -> tuple[dict[str, Any], dict[str, Tensor]]:
    """Each sampler's composed run against its oracle run and exact draws (C3, C7–C9): the
    section's replicate permutation test at ``level`` and the mode masses. Returns the
    plain results per sampler and the RGB points ``(N, 3)`` for the figures: ``"exact"``
    (draws of ``C[p⃗]``) and each sampler's composed run."""
    results, points = {}, {"exact": s.result.sample(samples, torch.Generator().manual_seed(seed))}
    for sampler in SAMPLERS:
        options = SamplingOptions(samples, STEPS, sampler, level=level)
        section, draws = sampling_section_with_draws(s.family, s.result, s.lenses, options,
                                                     seed=seed)
        test, joint = section.test, section.joint
        results[sampler] = {
            "holds": section.holds, "statistic": test.value, "threshold": test.threshold,
            "p_value": test.p_value, "level": level, "null_runs": test.null_runs,
            "replicates": test.replicates, "test_statistic": test.statistic,
            "composed_vs_exact": joint.composed, "oracle_vs_exact": joint.oracle,
            "floor": joint.floor, "oracle_reaches_target": section.sampler_reaches_target,
            "mode_masses": mode_masses(amounts(case, draws.composed)),
            "oracle_mode_masses": mode_masses(amounts(case, draws.oracle)),
            "score_evals": section.cost.composed.score_evals}
        points[sampler] = draws.composed
    return results, points


def verdict(report: CheckReport, holds: list[bool]) -> str:
    """``check``'s rule (``numerics.checks.judge``) with every sampler's test: the
    distribution-level verdict when ``C[p⃗]`` is not projective or not normalizable, else
    ``works`` iff every composed run passes."""
    if report.verdict in ("non-normalizable", "fails-at-t0"):
        return report.verdict
    return "works" if all(holds) else "fails-in-sampling"


@dataclass(frozen=True)
class CaseResult:
    """One case: ``summary`` (plain, JSON-ready) and ``points`` (RGB ``(N, 3)`` tensors:
    exact draws of ``C[p⃗]`` and each sampler's composed run)."""

    case: Case
    summary: dict[str, Any]
    points: dict[str, Tensor]


def measure(case: Case, samples: int, level: float, seed: int = SEED) -> CaseResult:
    """Distribution level (``check_family``: FC, projective gaps, noise commutation, the
    heuristic) and sampling level (:func:`sampled`) for one case."""
    start = time.perf_counter()
    family = colour_family(case)
    times = time_grid(family.process, TIME_POINTS, PATH_T_MIN)
    report = check_family(family, seed=seed, times=times)
    s = setup(family)
    with single_threaded():
        curve = path(s, case, times)
        runs, points = sampled(s, case, samples, level, seed)
    nc, fc, heuristic = report.noise_commutation, report.factorized_conditionals, report.heuristic
    a = case.feature_map
    primary = runs[SAMPLERS[0]]
    summary = {
        "name": case.name, "colours": list(case.colours),
        "directions": case.directions.T.tolist(), "orthogonal": case.orthogonal,
        "feature_noise_covariance": (a @ a.T).tolist(),
        "rgb_cosine": case.rgb_cosine,
        "heuristic_cosine": heuristic.cosines[0][1],
        "heuristic_predicts_success": heuristic.predicts_success,
        "fc_holds": fc.holds, "fc_violation": fc.violation,
        "projective_holds": report.projective.holds,
        "projective_gaps": report.projective.gaps,
        "noise_commutation_holds": nc.holds,
        "noise_commutation_max_gap": nc.max_gap, "noise_commutation_worst_t": nc.worst_t,
        "noise_commutation_worst_s": family.process.coefficients(nc.worst_t)[1],
        "exact_tolerance": nc.tolerance,
        "path": {"t": times, **curve, "gap": nc.gaps},
        "distribution_verdict": report.verdict,
        "sampling_holds": all(r["holds"] for r in runs.values()),
        "statistic": primary["statistic"], "threshold": primary["threshold"],
        "mode_masses": primary["mode_masses"],
        "samplers": runs,
        "verdict": verdict(report, [r["holds"] for r in runs.values()]),
        "seconds": time.perf_counter() - start,
    }
    return CaseResult(case, summary, points)


def experiment(quick: bool = False) -> list[CaseResult]:
    """Every case of ``CASES`` with ``QUICK_SAMPLES`` (quick) or ``SAMPLES`` samples per
    run, each test at :func:`level_per_test`."""
    samples = QUICK_SAMPLES if quick else SAMPLES
    return [measure(case, samples, level_per_test()) for case in CASES]


def settings(quick: bool) -> dict[str, Any]:
    """What the experiment fixed, for the report."""
    process = colour_family(CASES[0]).process
    return {"background_sd": BACKGROUND_SD, "levels": list(LEVELS), "width": WIDTH,
            "midpoint": MIDPOINT, "modes": list(MODES),
            "process": {"type": type(process).__name__, **vars(process)},
            "samplers": list(SAMPLERS), "steps": STEPS, "t_min": T_MIN,
            "samples": QUICK_SAMPLES if quick else SAMPLES, "level_per_test": level_per_test(),
            "budget": FALSE_ALARM_BUDGET, "time_points": TIME_POINTS,
            "path_t_min": PATH_T_MIN, "seed": SEED,
            "normalized_directions": False}
