"""SMC samplers (numerics.sampling.smc): weights and resampling, recovery of exact targets, and
THEORY C13 on the shear family — tempered SMC at ``t = 0`` recovers ``C[p⃗]``, samplers that
follow the noisy path ``q_t = C[p⃗^t]`` lose the modes ``C[p⃗]`` needs.

Failure budget: every statistical assertion is calibrated to fail with probability below
1e-4 for a fresh seed. SMC estimates are not binomial (resampling and weights inflate
their variance), so their tolerances come from the spread over CAL_SEEDS = 20 other seeds
of the same configuration (measured values inline): a fresh value lies beyond
Z · sd · √(1 + 1/20) from the truth with probability P(|t_19| > Z) ≈ 1e-5 at Z = 6 if
the estimate were Gaussian. With the fixed seeds the tests are deterministic.
"""

from __future__ import annotations

import inspect
import math
from collections.abc import Callable
from functools import lru_cache

import pytest
import torch

from numerics.claims.named_families import shear_family
from numerics.claims.sampled import SHEAR_VARIANTS, shear_variant
from numerics.composition.compose import compose, weighted_exponents
from numerics.laws import GaussianMixture
from numerics.laws.family import Family
from numerics.laws.processes import VP
from numerics.sampling import samplers as S
from numerics.sampling import smc
from numerics.sampling.section import TEMPERED_ESS, reference_gaussian
from numerics.sampling.times import geometric_times, uniform_times

F64 = torch.float64
Z = 6.0
CAL_INFLATION = math.sqrt(1 + 1 / 20)


def _tolerance(sd: float) -> float:
    """``Z · sd · √(1 + 1/20)`` for an ``sd`` measured over 20 calibration seeds."""
    return Z * sd * CAL_INFLATION


# weights and resampling ---------------------------------------------------------------
def test_effective_sample_size_known_weights():
    def ess(w: list[float]) -> float:
        return smc.effective_sample_size(torch.log(torch.tensor(w, dtype=F64)))

    assert math.isclose(ess([1.0] * 8), 8.0)
    assert math.isclose(ess([1.0, 0.0, 0.0]), 1.0)
    assert math.isclose(ess([1.0, 2.0, 3.0]), 36.0 / 14.0)
    # scale-free: (Σ c w)² / Σ (c w)²
    assert math.isclose(ess([1e-300, 2e-300, 3e-300]), 36.0 / 14.0)
    assert smc.effective_sample_size(torch.full((4,), -math.inf, dtype=F64)) == 0.0


@pytest.mark.parametrize("n", [1, 7, 100, 1000])
def test_systematic_resample_counts_lie_between_floor_and_ceil(n):
    """The defining property of systematic resampling: index ``i`` is drawn ``⌊N W_i⌋`` or
    ``⌈N W_i⌉`` times (exact, not statistical); zero weights are never drawn."""
    g = torch.Generator().manual_seed(n)
    for _ in range(20):
        log_w = 3.0 * torch.randn(n, generator=g, dtype=F64)
        log_w[torch.rand(n, generator=g, dtype=F64) < 0.3] = -math.inf
        if not bool(torch.isfinite(log_w).any()):
            log_w[0] = 0.0
        idx = smc.systematic_resample(log_w, g)
        expected = n * torch.softmax(log_w, 0)
        counts = torch.bincount(idx, minlength=n).to(F64)
        assert idx.shape == (n,) and idx.dtype == torch.long
        assert bool((counts >= expected.floor()).all() and (counts <= expected.ceil()).all())


def test_systematic_resample_refuses_zero_total_weight():
    with pytest.raises(ValueError, match="not all -inf"):
        smc.systematic_resample(torch.full((3,), -math.inf), torch.Generator())


# recovery of exact targets ------------------------------------------------------------
# Three modes, unequal weights, 1.5 apart with widths 0.2–0.3.
MIX = GaussianMixture([0.2, 0.3, 0.5], [[-1.5, 0.0], [1.5, 0.0], [0.0, 1.5]],
                      [[[0.04, 0.0], [0.0, 0.09]], [[0.09, 0.03], [0.03, 0.04]],
                       [[0.0625, 0.0], [0.0, 0.0625]]])
# Well separated (6 apart, widths ≤ 0.5): no MALA move crosses between modes at β = 1.
SEPARATED = GaussianMixture([0.15, 0.35, 0.5], [[-3.0, -3.0], [3.0, -3.0], [0.0, 3.0]],
                            [[[0.09, 0.0], [0.0, 0.09]], [[0.16, 0.05], [0.05, 0.16]],
                             [[0.25, 0.0], [0.0, 0.25]]])


def _mode_masses(mix: GaussianMixture, x: torch.Tensor, w: torch.Tensor) -> torch.Tensor:
    """Weighted share of the points nearest to each component mean ``-> (K,)``."""
    nearest = torch.cdist(x.to(F64), mix.means).argmin(1)
    return torch.zeros(mix.num_components, dtype=F64).index_add(0, nearest, w.to(F64))


# path_smc along the exact diffusion path of MIX (VP), PATH_STEPS uniform steps: plain
# Euler–Maruyama on this grid puts 0.22/0.30/0.48 on the modes (seeds 0–2), the weights
# remove that bias. Spread over seeds 0–19: mode masses sd 0.0065/0.0098/0.0108, log Ẑ
# (exactly 0: the path is normalized) mean −0.003, sd 0.025.
PATH_N, PATH_STEPS = 20_000, 10
PATH_MASS_TOL = _tolerance(0.0108)
PATH_LOGZ_TOL = _tolerance(0.025)


def test_path_smc_recovers_mixture_and_normalizer():
    vp = VP()
    g = torch.Generator().manual_seed(2024)
    result = smc.path_smc(S.exact_score(MIX, vp), S.prior_sample(PATH_N, 2, vp, g),
                          uniform_times(vp, PATH_STEPS), vp,
                          log_prob=S.exact_log_prob(MIX, vp), generator=g)
    masses = _mode_masses(MIX, result.x, result.weights)
    assert float((masses - MIX.weights).abs().max()) < PATH_MASS_TOL, masses
    assert abs(result.log_normalizer) < PATH_LOGZ_TOL
    assert result.schedule.shape == (PATH_STEPS + 1,)
    assert result.ess.shape == result.acceptance.shape == (PATH_STEPS,)
    assert bool(((result.acceptance > 0) & (result.acceptance <= 1)).all())
    assert math.isclose(float(result.weights.sum()), 1.0, rel_tol=1e-12)


# tempered_smc on SEPARATED + LOG_C (an unnormalized target with log Z = LOG_C), reference
# at the mean, scale 3 sqrt(λ_max(Cov)), TEMPERED_N particles, 5 stages. Spread over seeds
# 0–19: mode masses mean error ≤ 0.0036, sd 0.0088/0.0093/0.0079 (2.5× binomial: the
# masses are fixed where the modes part, then resampling adds noise); log Ẑ − LOG_C mean
# −0.007, sd 0.0136.
LOG_C = 2.5
TEMPERED_N = 16_000
TEMPERED_MASS_SD, TEMPERED_LOGZ_SD = 0.0093, 0.0136


def _reference(law) -> smc.GaussianReference:
    return smc.GaussianReference(
        law.mean, 3.0 * float(torch.linalg.eigvalsh(law.covariance)[-1].sqrt()))


def test_tempered_smc_recovers_masses_and_normalizer():
    reference = _reference(SEPARATED)
    g = torch.Generator().manual_seed(2024)
    result = smc.tempered_smc(lambda x, t: SEPARATED.score(x),
                              reference.sample(TEMPERED_N, g),
                              log_prob=lambda x, t: SEPARATED.log_prob(x) + LOG_C,
                              reference=reference, generator=g)
    masses = _mode_masses(SEPARATED, result.x, result.weights)
    assert float((masses - SEPARATED.weights).abs().max()) < _tolerance(TEMPERED_MASS_SD)
    assert abs(result.log_normalizer - LOG_C) < _tolerance(TEMPERED_LOGZ_SD)
    assert float(result.schedule[0]) == 0.0 and float(result.schedule[-1]) == 1.0
    assert bool((result.schedule.diff() > 0).all())
    assert bool(result.resampled.all())  # every stage resamples
    # each stage but the last is cut at ESS = N/2 (the last may keep more)
    assert torch.allclose(result.ess[:-1], torch.full_like(result.ess[:-1], TEMPERED_N / 2),
                          rtol=1e-6)


# THEORY C13 on the shear family -------------------------------------------------------
def composed_path(family: Family) -> tuple[S.Score, S.LogProb]:
    """``(x, t) ↦ Σ_m e_m ∇log p_m^t(x)`` and ``Σ_m e_m log p_m^t(x)`` (unnormalized), ``e``
    the exponents of ``C`` over ``family.noised(t)`` (THEORY §2): what adding the members'
    noisy scores gives, ``q_t = C[p⃗^t]``."""
    exps = weighted_exponents(family)
    noised = lru_cache(maxsize=None)(family.noised)

    def combine(of: Callable[[object], torch.Tensor], t: float) -> torch.Tensor:
        members = noised(float(t)).members
        return sum(e * of(p) for e, p in zip(exps, members, strict=True))

    return (lambda x, t: combine(lambda p: p.score(x), t).to(x),
            lambda x, t: combine(lambda p: p.log_prob(x), t).to(x))


def quadrant_masses(family: Family, x: torch.Tensor, w: torch.Tensor) -> torch.Tensor:
    """Weighted share of ``x`` in each feature quadrant ``(−,−), (−,+), (+,−), (+,+)`` of
    ``z = A x`` (the four modes of ``C[p⃗]``, THEORY C13) ``-> (4,)``."""
    z = x.to(F64) @ family.feature_map.matrix.T
    index = 2 * (z[:, 0] > 0).long() + (z[:, 1] > 0).long()
    return torch.zeros(4, dtype=F64).index_add(0, index, w.to(F64))


def _uniform(x: torch.Tensor) -> torch.Tensor:
    return torch.full((len(x),), 1.0 / len(x), dtype=F64)


def _diagonal(masses: torch.Tensor) -> float:
    """Mass on the modes with ``z_1 z_2 > 0`` (the ones ``q_t`` starves)."""
    return float(masses[0] + masses[3])


# Tempered SMC on C[p⃗] at t = 0 with C13_N particles. C[p⃗] does not depend on the
# background (C1: it cancels), only on the shear and the modes. Mode masses over seeds
# 0–19: mean 0.249–0.252, sd ≤ 0.0068; 5 stages.
C13_N = 16_000
C13_MASS_SD = 0.0068


def test_c13_tempered_smc_recovers_the_four_modes():
    family = shear_family()
    target = compose(family)
    reference = _reference(target)
    g = torch.Generator().manual_seed(2024)
    result = smc.tempered_smc(lambda x, t: target.score(x), reference.sample(C13_N, g),
                              log_prob=lambda x, t: target.log_prob(x), reference=reference,
                              generator=g)
    masses = quadrant_masses(family, result.x, result.weights)
    assert float((masses - 0.25).abs().max()) < _tolerance(C13_MASS_SD), masses


# Path following on q_t: C13_STEPS geometric steps down to C13_T_MIN, where q_t itself is
# close to C[p⃗] (premise: every quadrant within ENDPOINT_TOL of 1/4), so a sampler that
# stayed on q_t would end near 1/4 per mode. On the way q_t all but empties the two modes
# with z_1 z_2 > 0 ("starved") while all four are separated (premise: an upper bound on
# q_t's mass in those quadrants, min over the grid, at most STARVED_MAX; measured 2.9e-4
# at s_t = 0.048, mode distance 1). FAR: a mode off by more than this from 1/4 is missed;
# it needs a starved mode below 0.15, i.e. a starved share D = m(−,−) + m(+,+) < 0.3 when
# the two are even.
C13_STEPS, C13_T_MIN = 100, 1e-4
ENDPOINT_TOL = 0.05
STARVED_MAX = 1e-3
FAR = 0.1


@pytest.fixture(scope="module")
def c13() -> tuple[Family, torch.Tensor, S.Score, S.LogProb]:
    """The shear family, its time grid and ``q_t``'s callables, premises checked once."""
    family = shear_family()
    times = geometric_times(family.process, C13_STEPS, C13_T_MIN)
    end = compose(family.noised(C13_T_MIN)).to_mixture()
    # components have sd ≤ 0.16 at distance 0.5 from the axes there: counting each in the
    # quadrant of its mean misplaces < Φ(−3) = 1.3e-3 of mass, far below ENDPOINT_TOL
    masses = quadrant_masses(family, end.means, end.weights)
    assert float((masses - 0.25).abs().max()) < ENDPOINT_TOL, masses
    assert min(_starved_bound(family, float(t)) for t in times) < STARVED_MAX
    return (family, times, *composed_path(family))


def _starved_bound(family: Family, t: float) -> float:
    """Upper bound on ``q_t``'s mass in the quadrants with ``z_1 z_2 > 0``: per component,
    ``P(z_1 > 0, z_2 > 0) ≤ min_i P(z_i > 0)`` (likewise for ``< 0``), from the exact
    Gaussian marginals of the normalized mixture ``C[p⃗^t]``."""
    law = compose(family.noised(t)).to_mixture().pushforward(family.feature_map.matrix)
    ratio = law.means / law.covs.diagonal(dim1=-2, dim2=-1).sqrt()
    pos, neg = torch.special.ndtr(ratio), torch.special.ndtr(-ratio)
    per_component = pos.min(-1).values + neg.min(-1).values
    return float(law.weights @ per_component)


def _starved(masses: torch.Tensor) -> float:
    return float(masses[0] + masses[3])


# Annealed MCMC correctors (MALA, HMC) aimed at q_t after every predictor step, C13_PC_N
# particles, no weights: the starved share is what q_t leaves there, and no move of length
# ≤ s_t crosses back. Over seeds 0–19: D mean 1e-4, sd 3e-4 (MALA); 0.0041, 0.0024 (HMC);
# mean + 6.15 sd ≤ 0.019, far below the 0.3 a miss allows.
C13_PC_N = 1000


@pytest.mark.parametrize("corrector", ["mala", "hmc"])
def test_c13_path_following_correctors_lose_two_modes(c13, corrector):
    family, times, score, log_prob = c13
    vp = family.process
    g = torch.Generator().manual_seed(0)
    result = S.predictor_corrector(score, S.prior_sample(C13_PC_N, 2, vp, g), times, vp,
                                   generator=g, corrector=corrector, log_prob=log_prob)
    assert _starved(quadrant_masses(family, result.x, _uniform(result.x))) < 2 * (0.25 - FAR)


# path_smc along q_t with exact Feynman–Kac weights, C13_PATH_N particles, seeds
# PATH_SEEDS. Mechanism (each run): the weighted starved share at the bottleneck has mean
# ≤ STARVED_MAX and sd ≈ sqrt(STARVED_MAX / (N/2)) ≈ 1e-3 (ESS ≥ N/2 after each
# resampling), so BOTTLENECK_MAX = 0.02 is > 15 sd above it. Verdict: the weights can only
# reweight particles that cross back after the bottleneck, so a run recovers all four
# modes only if both starved modes get ≥ 0.15. Over seeds 0–19, 1 of the 40 starved modes
# got that much (0.835, its twin 0.009); all 20 runs missed by more than 0.249. With a
# per-mode rate ≤ 0.13 (95% bound from 1/40) and the two modes of a run no more likely
# together than apart, a run recovers with p ≤ 0.017, all of three with p³ ≈ 5e-6.
C13_PATH_N = 2000
PATH_SEEDS = (0, 1, 2)
BOTTLENECK_MAX = 0.02


def test_c13_path_smc_loses_two_modes(c13):
    family, times, score, log_prob = c13
    vp = family.process
    misses = []
    for seed in PATH_SEEDS:
        shares: list[float] = []
        g = torch.Generator().manual_seed(seed)
        result = smc.path_smc(score, S.prior_sample(C13_PATH_N, 2, vp, g), times, vp,
                              log_prob=log_prob, generator=g,
                              callback=lambda d, shares=shares: shares.append(
                                  _starved(quadrant_masses(family, d["x"], d["log_w"].exp()))))
        assert min(shares) < BOTTLENECK_MAX
        masses = quadrant_masses(family, result.x, result.weights)
        misses.append(float((masses - 0.25).abs().max()) > FAR)
    assert any(misses)


# mechanics ----------------------------------------------------------------------------
def _tiny_path(dtype: torch.dtype, seed: int, **kw) -> smc.SMCResult:
    vp = VP()
    g = torch.Generator().manual_seed(seed)
    return smc.path_smc(S.exact_score(MIX, vp), S.prior_sample(50, 2, vp, g, dtype=dtype),
                        uniform_times(vp, 4), vp, log_prob=S.exact_log_prob(MIX, vp),
                        generator=g, **kw)


def _tiny_tempered(dtype: torch.dtype, seed: int, **kw) -> smc.SMCResult:
    g = torch.Generator().manual_seed(seed)
    reference = _reference(MIX)
    return smc.tempered_smc(lambda x, t: MIX.score(x).to(x),
                            reference.sample(50, g, dtype=dtype),
                            log_prob=lambda x, t: MIX.log_prob(x).to(x), reference=reference,
                            generator=g, **kw)


@pytest.mark.parametrize("run", [_tiny_path, _tiny_tempered])
def test_same_seed_same_result(run):
    a, b = run(F64, 5), run(F64, 5)
    assert torch.equal(a.x, b.x) and torch.equal(a.log_weights, b.log_weights)
    assert a.log_normalizer == b.log_normalizer and torch.equal(a.schedule, b.schedule)
    assert not torch.equal(a.x, run(F64, 6).x)


@pytest.mark.parametrize("run", [_tiny_path, _tiny_tempered])
def test_dtype_follows_input(run):
    result = run(torch.float32, 0)
    assert result.x.dtype == result.log_weights.dtype == torch.float32
    assert bool(torch.isfinite(result.x).all())


def test_path_smc_counts_evaluations():
    """``1 + steps (1 + mcmc_steps)`` of each per particle."""
    result = _tiny_path(F64, 0, mcmc_steps=3)
    assert result.score_evals == result.density_evals == 50 * (1 + 4 * (1 + 3))


def test_tempered_smc_counts_evaluations():
    """``1 + total sweeps`` of each per particle; with ``min_sweeps = max_sweeps = 2`` every
    stage makes exactly two."""
    result = _tiny_tempered(F64, 0, min_sweeps=2, max_sweeps=2)
    stages = len(result.schedule) - 1
    assert result.diagnostics.sweeps == (2,) * stages == tuple([2] * result.diagnostics.stages)
    assert result.score_evals == result.density_evals == 50 * (1 + stages * 2)
    free = _tiny_tempered(F64, 0)
    assert free.score_evals == 50 * (1 + free.diagnostics.total_sweeps)


# the move phase: decorrelation criterion and preconditioned MALA ------------------------
def test_residual_correlation_of_an_ar1_chain():
    """For ``J_k = 2V(1 − ρ^k)`` the estimate returns ``ρ^k`` exactly; 1 before any move,
    0 once the jumps stop growing."""
    for rho in (0.3, 0.7, 0.95):
        for k in (4, 10, 40):
            got = smc._residual_correlation(2.0 * (1.0 - rho**k), 2.0 * (1.0 - rho**(k // 2)))
            assert math.isclose(got, rho**k, rel_tol=1e-12, abs_tol=1e-15)
    assert smc._residual_correlation(0.0, 0.0) == 1.0
    assert smc._residual_correlation(1.0, 1.0) == 0.0


def test_preconditioned_mala_leaves_a_correlated_gaussian_invariant():
    """MALA with the population's covariance as mass matrix on ``N(m, Σ)`` (``Σ`` with
    correlation 0.95): starting from exact draws, 30 sweeps keep the mean and covariance
    within Z standard errors, and the decorrelation criterion stops within
    ``MAX_SWEEPS``."""
    cov = torch.tensor([[1.0, 0.95 * 0.3], [0.95 * 0.3, 0.09]], dtype=F64)
    law = GaussianMixture([1.0], [[1.0, -2.0]], cov[None])
    g = torch.Generator().manual_seed(7)
    n = 20_000
    x = law.sample(n, g)

    def evaluate(y):
        return S.MCMCState(y, law.log_prob(y), law.score(y))

    state, phase = smc._decorrelating_sweeps(evaluate, evaluate(x), 0.5, decorrelation=0.01,
                                             min_sweeps=30, max_sweeps=smc.MAX_SWEEPS,
                                             generator=g)
    y = state.position
    se_mean = (cov.diagonal() / n).sqrt()
    assert bool(((y.mean(0) - law.mean).abs() < Z * se_mean).all())
    # sd of a sample variance of n Gaussian draws: σ² √(2/n)
    se_var = cov.diagonal() * math.sqrt(2.0 / n)
    assert bool(((y.T.cov().diagonal() - cov.diagonal()).abs() < Z * se_var).all())
    assert phase.correlation <= 0.01 and phase.moved > 0.9
    assert abs(phase.acceptance - smc.ACCEPT_TARGET) < 0.2


def test_tempered_diagnostics_report_every_stage():
    result = _tiny_tempered(F64, 3)
    d = result.diagnostics
    assert d.stages == len(result.schedule) - 1 == len(d.sweeps) == len(d.correlation)
    assert all(smc.MIN_SWEEPS <= k <= smc.MAX_SWEEPS for k in d.sweeps)
    assert d.unmet == sum(c > smc.DECORRELATION for c in d.correlation)
    assert all(0.0 <= a <= 1.0 for a in d.acceptance)


def test_callbacks_see_every_stage():
    path_seen: list[dict] = []
    _tiny_path(F64, 0, callback=path_seen.append)
    assert [d["i"] for d in path_seen] == list(range(4))
    assert all(tuple(d) == smc.PATH_CALLBACK_KEYS for d in path_seen)
    tempered_seen: list[dict] = []
    result = _tiny_tempered(F64, 0, callback=tempered_seen.append)
    assert [d["beta"] for d in tempered_seen] == result.schedule[:-1].tolist()
    assert all(tuple(d) == smc.TEMPERED_CALLBACK_KEYS for d in tempered_seen)


def test_smc_samplers_follow_the_shared_signature():
    """``path_smc(score, x, times, process, *, log_prob, generator=None, callback=None,
    ...)``; ``tempered_smc(score, x, *, log_prob, reference, generator=None, callback=None,
    ...)`` (no time grid, no process at ``t = 0``); both refuse to draw without a
    generator."""
    keyword = inspect.Parameter.KEYWORD_ONLY
    for sampler, positional in ((smc.path_smc, ["score", "x", "times", "process"]),
                                (smc.tempered_smc, ["score", "x"])):
        params = inspect.signature(sampler).parameters
        assert [p.name for p in params.values() if p.kind is not keyword] == positional
        assert params["log_prob"].kind is keyword
        assert all(params[k].kind is keyword and params[k].default is None
                   for k in ("generator", "callback"))
    vp, reference = VP(), _reference(MIX)
    x = reference.sample(5, torch.Generator().manual_seed(0))
    with pytest.raises(ValueError, match="generator"):
        smc.path_smc(S.exact_score(MIX, vp), x, uniform_times(vp, 2), vp,
                     log_prob=S.exact_log_prob(MIX, vp))
    with pytest.raises(ValueError, match="generator"):
        smc.tempered_smc(lambda y, t: MIX.score(y), x, log_prob=lambda y, t: MIX.log_prob(y),
                         reference=reference)


def test_tempered_smc_stops_after_max_stages():
    with pytest.raises(RuntimeError, match="after 1 stages"):
        _tiny_tempered(F64, 0, max_stages=1)


# C13 on a test set of shear families (issue 11, item 4) ----------------------------------
# Mode width, separation, shear and background width varied (numerics.claims.sampled.
# SHEAR_VARIANTS). Tempered SMC at t = 0 with VARIANT_N particles and the section's ESS cut
# must put 1/4 on every mode. Binomial sd at N = 1000 is 0.0137; the measured spread of the
# masses is 1.1–1.4× binomial (N = 2000, 20 seeds, THEORY C13's family), so VARIANT_TOL =
# 0.1 is more than 5 sd of a mass (two-sided 6e-7 each, 24 masses); a path-following
# sampler leaves two of the four modes nearly empty (off by 0.25).
VARIANT_N = 1000
VARIANT_TOL = 0.1


@pytest.mark.parametrize("knobs", SHEAR_VARIANTS)
def test_c13_tempered_smc_recovers_four_modes_on_every_shear_variant(knobs):
    family = shear_variant(*knobs)
    target = compose(family)
    reference = reference_gaussian(family)
    g = torch.Generator().manual_seed(11)
    result = smc.tempered_smc(lambda x, t: target.score(x), reference.sample(VARIANT_N, g),
                              log_prob=lambda x, t: target.log_prob(x), reference=reference,
                              generator=g, ess_fraction=TEMPERED_ESS)
    masses = quadrant_masses(family, result.x, result.weights)
    assert float((masses - 0.25).abs().max()) < VARIANT_TOL, (knobs, masses)
    assert result.diagnostics.unmet <= 1, result.diagnostics
