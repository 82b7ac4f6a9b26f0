"""Colours after the paper's Fig. 5: yellow composed with seven colours on a gray
background (THEORY §6 "Colours (Fig. 5)": Theorem 5.3 / C1–C3, Theorem 6.1 / C6,
Lemma 8.1 / C10). Computation only; ``projcomp.experiments.colours`` writes the report.

**Laws.** A pixel is ``x = (R, G, B) ∈ R³``. A colour is a law over pixels built from its
nominal RGB value ``v ∈ [0, 1]³`` (the CSS colour keyword's value, read as the fraction
of each channel the colour reflects) and one channel noise shared by every colour and
channel:

    x_c ~ N(ILLUMINATION · v_c, CHANNEL_NOISE²),   independently for c = R, G, B.

The background is a neutral surface, ``v = (1, 1, 1)``, which the illumination renders
gray, ``(0.6, 0.6, 0.6)``. Yellow ``(1, 1, 0)`` reflects R and G like it and absorbs B, so
its R and G are distributed exactly like the background's and its B is peaked at 0 (the
shape of the caption's histograms). Composing colours that own disjoint channels gives
their subtractive mix (yellow + cyan = green).

**The criterion (Theorem 5.3, coordinate FC).** ``M_c`` is the set of channels whose law
under colour ``c`` differs from the background's (exact normalized L2 between the 1-D
laws, above ``EXACT_TOL``); every member is a product over channels, so the pair
``(yellow, c)`` has FC with blocks ``M_yellow, M_c`` iff the blocks are disjoint.
``M_yellow = {B}``, so yellow + c is FC iff c's B channel is distributed like the
background's B. Then ``C[p⃗]`` is the projective composition ``p_b|M_b · yellow|B ·
c|M_c`` (C1), noise keeps FC (C2) and reverse diffusion on the summed scores samples it
(C3). Where the blocks overlap, ``C[p⃗]`` divides the background's B law out twice and
is not projective: the pair fails at ``t = 0``. The split of the paper's figure is
computed from the nominal values, never looked up.

**Theorem 6.1 (FC in some feature space).** If a diffeomorphism ``A`` made the pair FC,
the log-likelihood ratios ``ℓ_i = log p_i/p_b`` — Jacobians cancel (Lemma 6.2), so
``ℓ_i`` is a function of ``A(x)|M_i`` alone — would be independent under ``p_b``, hence
uncorrelated. :func:`log_ratio_correlation` computes ``corr_{p_b}(ℓ_yellow, ℓ_c)`` by
Gauss–Hermite quadrature channel by channel (exact for these laws, whose ratios are linear
in ``x``): a nonzero value rules out every feature space. For Gaussians with one isotropic
covariance zero is also sufficient (an orthogonal map sends the two mean differences to
coordinate axes, C7), and the correlation equals the heuristic's cosine (C10).

**Sampling.** Per pair, the probability-flow ODE on the composed scores (the composed run)
beside the same sampler on the exact scores of ``N_t[C[p⃗]]`` (the oracle run), through
``numerics.sampling.section``: its replicate permutation test of composed against oracle
says whether sampling reaches ``C[p⃗]``; per member ``i`` a calibrated test of the composed run's
channels ``M_i`` against exact draws of ``p_i`` on ``M_i`` says whether the samples show
the member's own law there (projective in samples). The pair composes in samples when all
three hold. Every law here is ``N(μ, s² I)`` at the samplers' last time, with one ``s``
for all: the lens tests' sliced Wasserstein statistic is translation invariant, scales with
``s`` and its random directions are rotation invariant, so the null law of each lens test
is ``s`` times that of ``N(0, I_d)``, one calibration per dimension ``d``
(:func:`scaled_calibration`).
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass
from functools import cache

import numpy as np
import torch

from numerics.checks.gaps import compose_c, noise_commutation_gaps
from numerics.checks.judge import check_family
from numerics.checks.metrics import normalized_l2
from numerics.composition.compose import compose
from numerics.laws import BlockProduct, Distribution, GaussianMixture
from numerics.laws.family import Family
from numerics.sampling.calibration import Calibration, calibrate, statistic
from numerics.sampling.section import T_MIN, SamplingOptions, sampling_section_with_draws
from numerics.sampling.times import time_grid
from numerics.threads import single_threaded
from numerics.tolerances import EXACT_TOL, FALSE_ALARM_BUDGET

Tensor = torch.Tensor
F64 = torch.float64

CHANNELS = ("R", "G", "B")
# The light: a surface that reflects a whole channel renders it at 0.6 (the neutral
# background is the gray (0.6, 0.6, 0.6)); 0.6 keeps every nominal colour inside [0, 1]
# with the channel noise's 3σ margin above it.
ILLUMINATION = 0.6
# One pixel noise for every channel and colour: 0.08 makes an absorbed channel (mean 0)
# and a reflected one (mean 0.6) 7.5 standard deviations apart.
CHANNEL_NOISE = 0.08
BACKGROUND = "background"
BASE = "yellow"
# Nominal RGB values: the CSS colour keywords (#RRGGBB / 255); the background is the
# neutral surface that the illumination renders gray.
NOMINAL = {
    BACKGROUND: (1.0, 1.0, 1.0),
    "yellow": (1.0, 1.0, 0.0),
    "blue": (0.0, 0.0, 1.0),
    "cyan": (0.0, 1.0, 1.0),
    "magenta": (1.0, 0.0, 1.0),
    "brown": (165 / 255, 42 / 255, 42 / 255),
    "gray": (128 / 255, 128 / 255, 128 / 255),
    "green": (0.0, 128 / 255, 0.0),
    "red": (1.0, 0.0, 0.0),
}
PARTNERS = ("blue", "cyan", "magenta", "brown", "gray", "green", "red")
# What the paper's Fig. 5 reports (used only to compare with the computed split).
PAPER_COMPOSES = ("blue", "cyan", "magenta")

SAMPLER = "ode"
STEPS = 100
SAMPLES = 1000
QUICK_SAMPLES = 200
# Gauss–Hermite nodes per mixture component: exact for polynomials of degree < 2·64, so
# for the (linear) log-ratios of these laws and their products.
QUADRATURE_NODES = 64
NOISE_TIMES = 12
SEED = 0


# the laws -----------------------------------------------------------------------------
def channel_law(value: float) -> GaussianMixture:
    """A channel of nominal value ``value``: ``N(ILLUMINATION · value, CHANNEL_NOISE²)``."""
    return GaussianMixture.gaussian(torch.tensor([ILLUMINATION * value], dtype=F64),
                                    torch.tensor([[CHANNEL_NOISE**2]], dtype=F64))


def colour_law(name: str) -> BlockProduct:
    """The pixel law of a colour of ``NOMINAL``: a product of its three channel laws."""
    return BlockProduct([([c], channel_law(v)) for c, v in enumerate(NOMINAL[name])])


def pair_family(partner: str) -> Family:
    """``(background, yellow, partner)``; the blocks are left to ``check`` to infer."""
    return Family(colour_law(BACKGROUND), (colour_law(BASE), colour_law(partner)),
                  name=f"{BASE}+{partner}")


# the criterion ------------------------------------------------------------------------
@dataclass(frozen=True)
class ChannelBlock:
    """Where a colour's law differs from the background's: ``distances[c]`` is the exact
    normalized L2 between the two laws of channel ``c``; ``block`` (``M_colour``) the
    channels where it exceeds ``EXACT_TOL``."""

    colour: str
    nominal: tuple[float, float, float]
    distances: tuple[float, ...]
    block: tuple[int, ...]


@cache
def channel_block(colour: str) -> ChannelBlock:
    """:class:`ChannelBlock` of ``colour``, from the laws alone."""
    bg, law = colour_law(BACKGROUND), colour_law(colour)
    distances = tuple(normalized_l2(law.dists[c], bg.dists[c]) for c in range(len(CHANNELS)))
    return ChannelBlock(colour, NOMINAL[colour], distances,
                        tuple(c for c, d in enumerate(distances) if d > EXACT_TOL))


def coordinate_fc(partner: str) -> bool:
    """Theorem 5.3's prediction: yellow's and the partner's blocks are disjoint (with
    ``M_yellow = {B}``: the partner's B is distributed like the background's)."""
    return not set(channel_block(BASE).block) & set(channel_block(partner).block)


def log_ratio_correlation(background: BlockProduct, p: BlockProduct, q: BlockProduct) -> float:
    """``corr_{p_b}(log p/p_b, log q/p_b)`` for products over the same 1-D channels: the
    ratios are sums of per-channel functions, independent across channels under ``p_b``,
    so covariances add up channel by channel; each channel's expectations by
    Gauss–Hermite quadrature on the components of the background's channel law."""
    cov = var_p = var_q = 0.0
    for bg_c, p_c, q_c in zip(background.dists, p.dists, q.dists, strict=True):
        x, w = _quadrature(bg_c)
        f = p_c.log_prob(x) - bg_c.log_prob(x)
        g = q_c.log_prob(x) - bg_c.log_prob(x)
        ef, eg = w @ f, w @ g
        cov += float(w @ (f * g) - ef * eg)
        var_p += float(w @ (f * f) - ef * ef)
        var_q += float(w @ (g * g) - eg * eg)
    return cov / math.sqrt(var_p * var_q)


def _quadrature(law: GaussianMixture) -> tuple[Tensor, Tensor]:
    """Nodes ``(K·Q, 1)`` and weights ``(K·Q,)`` with ``Σ w f(x) = E_law[f]`` for
    polynomials ``f`` of degree < 2Q, for a 1-D mixture of ``K`` Gaussians."""
    nodes, weights = np.polynomial.hermite_e.hermegauss(QUADRATURE_NODES)
    nodes = torch.as_tensor(nodes, dtype=F64)
    weights = torch.as_tensor(weights, dtype=F64) / math.sqrt(2 * math.pi)
    sd = law.covs[:, 0, 0].sqrt()
    x = law.means[:, :1] + sd[:, None] * nodes[None]
    return x.reshape(-1, 1), (law.weights[:, None] * weights[None]).reshape(-1)


# sampling -----------------------------------------------------------------------------
def tests_that_must_hold() -> int:
    """The calibrated tests whose false rejection would change a reported outcome: each
    pair's composed-vs-oracle test (every pair commutes with noise here), and both lens
    tests of each pair the criterion predicts to compose."""
    return len(PARTNERS) + 2 * sum(coordinate_fc(p) for p in PARTNERS)


def level_per_test() -> float:
    """``1/m`` with ``m = ⌈tests / FALSE_ALARM_BUDGET⌉``: the budget split (Bonferroni)
    over :func:`tests_that_must_hold`, as a level the Monte Carlo test can have."""
    return 1.0 / math.ceil(tests_that_must_hold() / FALSE_ALARM_BUDGET - 1e-9)


def isotropic_scale(law: Distribution) -> float:
    """``s`` for a Gaussian law ``N(μ, s² I)`` (one Gaussian, or a product of Gaussian
    blocks); ``ValueError`` otherwise (:func:`scaled_calibration` needs it)."""
    blocks = law.dists if isinstance(law, BlockProduct) else [law]
    if any(not isinstance(d, GaussianMixture) or len(d.weights) != 1 for d in blocks):
        raise ValueError(f"{law!r}: the scaled calibration needs a Gaussian law")
    cov = law.covariance
    variance = float(cov.diagonal().mean())
    if float((cov - variance * torch.eye(law.dim, dtype=cov.dtype)).abs().max()) > \
            EXACT_TOL * variance:
        raise ValueError(f"covariance {cov.tolist()} is not isotropic")
    return math.sqrt(variance)


@cache
def standard_calibration(dim: int, n: int, level: float, seed: int) -> Calibration:
    """The two-sample test's calibration for ``N(0, I_dim)`` at sample size ``n`` and
    ``level`` (made once per dimension and reused by every law of that dimension)."""
    def draw(count: int, generator: torch.Generator) -> Tensor:
        return torch.randn(count, dim, dtype=F64, generator=generator)

    return calibrate(draw, n, torch.Generator().manual_seed(seed + dim), level)


def scaled_calibration(law: Distribution, n: int, level: float, seed: int) -> Calibration:
    """The calibration for ``law = N(μ, s² I_d)``: the standard one's null values times
    ``s`` (module docstring: the statistic's null law scales with ``s``)."""
    scale = isotropic_scale(law)
    base = standard_calibration(law.dim, n, level, seed)
    return Calibration(level=base.level, n=base.n, threshold=base.threshold * scale,
                       null=tuple(v * scale for v in base.null), statistic=base.statistic)


@dataclass(frozen=True)
class LensTest:
    """A member's channels ``block`` in a run against exact draws of the member there
    (at the samplers' last time): the statistic for the composed and the oracle run, the
    calibrated threshold and the verdicts."""

    member: str
    block: tuple[int, ...]
    composed: float
    oracle: float
    threshold: float
    composed_holds: bool
    oracle_holds: bool


@dataclass(frozen=True)
class PairSampling:
    """The sampled outcome of one pair (module docstring, "Sampling")."""

    reaches_composition: bool
    statistic: float
    threshold: float
    p_value: float
    oracle_reaches_target: bool
    lenses: tuple[LensTest, ...]
    composes: bool
    composed_mean: tuple[float, ...]
    oracle_mean: tuple[float, ...]
    samples: int
    steps: int
    sampler: str
    level: float
    null_runs: int


def sampled(partner: str, family: Family, result: BlockProduct, blocks: list[list[int]],
            n: int, level: float, seed: int) -> tuple[PairSampling, Tensor]:
    """The sampled outcome of yellow + ``partner`` (``family``, ``result = C[p⃗]``, the
    members' blocks), ``n`` samples per run, each test at ``level``; and the composed run
    ``(n, 3)`` for the figures."""
    options = SamplingOptions(n, STEPS, SAMPLER, level=level)
    section, draws = sampling_section_with_draws(family, result, blocks, options, seed=seed)
    generator = torch.Generator().manual_seed(seed)
    lenses = []
    for name, member, block in zip((BASE, partner), family.conditionals, blocks, strict=True):
        own = member.noised(T_MIN, family.process).marginal(block)
        calibration = scaled_calibration(own, n, level, seed)
        exact = own.sample(n, generator)
        composed = statistic(draws.composed[:, block], exact, generator)
        oracle = statistic(draws.oracle[:, block], exact, generator)
        lenses.append(LensTest(name, tuple(block), composed, oracle, calibration.threshold,
                               not calibration.rejects(composed),
                               not calibration.rejects(oracle)))
    test = section.test
    return PairSampling(
        reaches_composition=section.holds, statistic=test.value, threshold=test.threshold,
        p_value=test.p_value, oracle_reaches_target=section.sampler_reaches_target,
        lenses=tuple(lenses),
        composes=section.holds and all(t.composed_holds for t in lenses),
        composed_mean=tuple(draws.composed.mean(0).tolist()),
        oracle_mean=tuple(draws.oracle.mean(0).tolist()),
        samples=n, steps=STEPS, sampler=SAMPLER, level=level,
        null_runs=test.null_runs), draws.composed


# one pair -----------------------------------------------------------------------------
@dataclass(frozen=True)
class PairResult:
    """Everything the report says about yellow + ``partner``."""

    partner: str
    blocks: tuple[tuple[int, ...], tuple[int, ...]]
    b_distance: float
    coordinate_fc: bool
    fc_holds: bool
    fc_violation: float
    fc_reason: str | None
    log_ratio_correlation: float
    feature_fc: bool
    theorem_6_1: str
    projective_holds: bool
    projective_gaps: tuple[float, ...]
    noise_commutation_holds: bool
    noise_commutation_max_gap: float
    exact_tolerance: float
    heuristic_cosine: float
    heuristic_predicts_success: bool
    composition_mean: tuple[float, ...]
    composition_sd: tuple[float, ...]
    sampling: PairSampling
    seconds: float


def theorem_6_1_reading(coordinate: bool, feature: bool) -> str:
    """What Theorem 6.1 adds to the coordinate criterion, in words."""
    if coordinate:
        return "FC in coordinates (Theorem 5.3 applies directly)"
    if feature:
        return ("FC in some feature space but not in coordinates: C[p] is projective "
                "w.r.t. the feature blocks (Theorem 6.1); whether sampling reaches it is "
                "the sampled outcome")
    return ("FC in no feature space (the log-likelihood ratios are correlated under the "
            "background): Theorem 6.1 does not apply")


def measure(partner: str, samples: int, seed: int = SEED) -> tuple[PairResult, Tensor]:
    """The criterion, the exact checks (``check_family``: FC on the inferred blocks,
    projective gaps, the heuristic; the noise-commutation gaps on ``NOISE_TIMES``
    geometric times) and the sampled outcome of yellow + ``partner`` with ``samples``
    per run; and the composed run ``(samples, 3)``."""
    start = time.perf_counter()
    family = pair_family(partner)
    report = check_family(family, seed=seed)
    fc = report.factorized_conditionals
    blocks = [list(b) for b in fc.candidate_blocks]
    result = compose(family)
    times = time_grid(family.process, NOISE_TIMES)
    with single_threaded():
        commutation = noise_commutation_gaps(family, result, times,
                                             torch.Generator().manual_seed(seed),
                                             compose_c(None))
        outcome, run = sampled(partner, family, result, blocks, samples, level_per_test(),
                               seed)
    correlation = log_ratio_correlation(*family.members)
    coordinate, feature = coordinate_fc(partner), abs(correlation) <= EXACT_TOL
    largest = max(g.value for g in commutation)
    return PairResult(
        partner=partner, blocks=(channel_block(BASE).block, channel_block(partner).block),
        b_distance=channel_block(partner).distances[CHANNELS.index("B")],
        coordinate_fc=coordinate, fc_holds=bool(fc.holds), fc_violation=fc.violation,
        fc_reason=fc.reason, log_ratio_correlation=correlation, feature_fc=feature,
        theorem_6_1=theorem_6_1_reading(coordinate, feature),
        projective_holds=report.projective.holds, projective_gaps=tuple(report.projective.gaps),
        noise_commutation_holds=largest <= EXACT_TOL, noise_commutation_max_gap=largest,
        exact_tolerance=EXACT_TOL, heuristic_cosine=report.heuristic.cosines[0][1],
        heuristic_predicts_success=report.heuristic.predicts_success,
        composition_mean=tuple(result.mean.tolist()),
        composition_sd=tuple(result.covariance.diagonal().sqrt().tolist()),
        sampling=outcome, seconds=time.perf_counter() - start), run


@dataclass(frozen=True)
class Fig5:
    """The whole Fig. 5 part: the channel blocks of every colour, one result per pair,
    the computed split and its comparison with the paper's."""

    channel_blocks: tuple[ChannelBlock, ...]
    pairs: tuple[PairResult, ...]
    composes: tuple[str, ...]
    fails: tuple[str, ...]
    predicted: tuple[str, ...]
    paper_composes: tuple[str, ...]
    reproduces_paper: bool
    prediction_matches_samples: bool
    level: float
    tests: int


def experiment(quick: bool = False, seed: int = SEED) -> tuple[Fig5, dict[str, Tensor]]:
    """Every pair of ``PARTNERS`` with ``QUICK_SAMPLES`` (quick) or ``SAMPLES`` samples
    per run; and each pair's composed run ``(N, 3)`` keyed by partner."""
    samples = QUICK_SAMPLES if quick else SAMPLES
    pairs, runs = [], {}
    for partner in PARTNERS:
        result, runs[partner] = measure(partner, samples, seed)
        pairs.append(result)
    composes = tuple(p.partner for p in pairs if p.sampling.composes)
    predicted = tuple(p.partner for p in pairs if p.coordinate_fc)
    return Fig5(channel_blocks=tuple(channel_block(c) for c in NOMINAL),
                pairs=tuple(pairs), composes=composes,
                fails=tuple(p for p in PARTNERS if p not in composes), predicted=predicted,
                paper_composes=PAPER_COMPOSES,
                reproduces_paper=set(composes) == set(PAPER_COMPOSES),
                prediction_matches_samples=set(composes) == set(predicted),
                level=level_per_test(), tests=tests_that_must_hold()), runs


def settings(quick: bool) -> dict[str, object]:
    """What the Fig. 5 part fixed, for the report."""
    process = pair_family(PARTNERS[0]).process
    return {"illumination": ILLUMINATION, "channel_noise": CHANNEL_NOISE,
            "nominal": {k: list(v) for k, v in NOMINAL.items()}, "base": BASE,
            "partners": list(PARTNERS),
            "process": {"type": type(process).__name__, **vars(process)},
            "sampler": SAMPLER, "steps": STEPS, "t_min": T_MIN,
            "samples": QUICK_SAMPLES if quick else SAMPLES, "level_per_test": level_per_test(),
            "budget": FALSE_ALARM_BUDGET, "noise_times": NOISE_TIMES,
            "quadrature_nodes": QUADRATURE_NODES, "seed": SEED}
