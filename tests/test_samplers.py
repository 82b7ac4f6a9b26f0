"""Samplers (numerics.samplers): calibrated sample-level accuracy on exact scores, MALA
invariance, determinism, dtype, callbacks and chunking.

Failure budget: every statistical assertion below is calibrated to fail with probability
below 1e-4 for a fresh seed (arguments inline), so the whole module stays below 1e-3; with
the fixed seeds the tests are deterministic.
"""

from __future__ import annotations

import math

import pytest
import torch

import numerics.estimators as estimators
from numerics import samplers as S
from numerics.distributions import GaussianMixture
from numerics.estimators import WeightedSample, relative_mmd
from numerics.processes import VE, VP, ForwardProcess

T_MIN = 1e-3
# relative_mmd keeps GRAM_POINTS (2000) points: the statistic below is on that many.
N_MMD = estimators.GRAM_POINTS
NULL_SEEDS = 10
# Null runs give the threshold; with NULL_SEEDS = 10 a fresh null value exceeds
# mean + Z_NULL·sd (sample sd) with probability P(t_9 > 6/√1.1) ≈ 1.4e-4 if the statistic
# were Gaussian (a mean of ~2·10^6 kernel terms, close to it).
Z_NULL = 6.0
# MALA: mean and variance within 6 standard errors (two-sided Gaussian tail 2e-9 each).
Z_MOMENT = 6.0

BIMODAL = GaussianMixture([0.3, 0.7], [[-1.0], [1.0]], [[[0.01]], [[0.04]]])


def _uniform(x: torch.Tensor) -> WeightedSample:
    return WeightedSample(x, torch.full((len(x),), 1.0 / len(x), dtype=x.dtype))


@pytest.fixture(scope="module")
def mmd():
    """``x -> relative MMD² of x to p^{T_MIN}`` under VP; the bootstrap error bar of
    relative_mmd is unused (null runs calibrate instead), so it is cut to 2 draws."""
    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(estimators, "BOOTSTRAP", 2)
        target = BIMODAL.noised(T_MIN, VP())
        gen = torch.Generator().manual_seed(12345)
        yield lambda x: relative_mmd(_uniform(x), target, gen).value


@pytest.fixture(scope="module")
def null_threshold(mmd) -> tuple[float, float]:
    """(threshold, sd) of the statistic for N_MMD exact draws of the target."""
    target = BIMODAL.noised(T_MIN, VP())
    vals = torch.tensor([mmd(target.sample(N_MMD, torch.Generator().manual_seed(100 + k)))
                         for k in range(NULL_SEEDS)])
    sd = float(vals.std())
    return float(vals.mean()) + Z_NULL * sd * math.sqrt(1 + 1 / NULL_SEEDS), sd


def _run(name: str, steps: int, seed: int = 1) -> torch.Tensor:
    vp = VP()
    g = torch.Generator().manual_seed(seed)
    x_t = S.prior_sample(N_MMD, 1, vp, g)
    times = S.uniform_times(vp, steps, T_MIN)
    score = S.exact_score(BIMODAL, vp)
    if name == "heun":
        return S.probability_flow_heun(score, x_t, times, vp)
    return S.reverse_sde_euler(score, x_t, times, vp, g)


# (sampler, coarse steps, fine steps, weak order). Measured (seed 1): Heun 4 steps 1.3e-2,
# 32 steps −2.9e-4; Euler–Maruyama 8 steps 4.7e-2, 200 steps −1.5e-4; null sd ≈ 4.5e-4.
CASES = [("heun", 4, 32, 2), ("euler", 8, 200, 1)]


@pytest.mark.parametrize(("name", "coarse", "fine", "order"), CASES)
def test_sampling_error_falls_to_noise_floor(mmd, null_threshold, name, coarse, fine, order):
    threshold, sd = null_threshold
    err_coarse, err_fine = mmd(_run(name, coarse)), mmd(_run(name, fine))
    # Discretization allowance: a method of weak order p moves the law by O(h^p), and MMD²
    # is quadratic in that change, so the bias at `fine` is at most about
    # err_coarse·(coarse/fine)^{2p} (Heun: ×2.4e-4, Euler: ×1.6e-3; both < 1e-4 here,
    # far below the null sd, so the threshold is essentially the null one).
    allowance = max(err_coarse, 0.0) * (coarse / fine) ** (2 * order)
    assert err_coarse > threshold + Z_NULL * sd, (err_coarse, threshold)
    assert err_fine < err_coarse
    assert err_fine <= threshold + allowance, (err_fine, threshold, allowance)


def test_mala_leaves_target_invariant():
    vp, t, n = VP(), 0.01, 100_000
    target = BIMODAL.noised(t, vp)
    g = torch.Generator().manual_seed(7)
    x0 = target.sample(n, g)
    x, rate = S.mala_corrector(S.exact_score(BIMODAL, vp), S.exact_log_prob(BIMODAL, vp),
                               x0, t, step_size=0.01, n_steps=5, generator=g)
    assert rate.shape == (n,) and bool(((rate > 0) & (rate <= 1)).all())
    assert 0.5 < float(rate.mean()) < 1.0
    assert not torch.equal(x, x0)
    mean, var = float(target.mean[0]), float(target.covariance[0, 0])
    # Exact fourth central moment of the mixture for the variance's standard error.
    d = target.means[:, 0] - mean
    v = target.covs[:, 0, 0]
    m4 = float(target.weights @ (d**4 + 6 * d**2 * v + 3 * v**2))
    assert abs(float(x.mean()) - mean) < Z_MOMENT * math.sqrt(var / n)
    assert abs(float(x.var()) - var) < Z_MOMENT * math.sqrt((m4 - var**2) / n)


def test_same_generator_same_output():
    vp, score = VP(), S.exact_score(BIMODAL, VP())
    times = S.geometric_times(vp, 10, T_MIN)

    def once(sampler):
        g = torch.Generator().manual_seed(3)
        return sampler(score, S.prior_sample(500, 1, vp, g), times, vp, g)

    for sampler in (S.reverse_sde_euler, S.ancestral):
        assert torch.equal(once(sampler), once(sampler))


@pytest.mark.parametrize("process", [VP(), VE()])
def test_dtype_follows_input(process):
    g = torch.Generator().manual_seed(0)
    x_t = S.prior_sample(300, 1, process, g, dtype=torch.float32)
    score, times = S.exact_score(BIMODAL, process), S.uniform_times(process, 5, T_MIN)
    outs = [S.reverse_sde_euler(score, x_t, times, process, g),
            S.ancestral(score, x_t, times, process, g),
            S.probability_flow_heun(score, x_t, times, process),
            S.langevin_corrector(score, x_t, 0.1, 1e-3, 2, g),
            *S.mala_corrector(score, S.exact_log_prob(BIMODAL, process), x_t, 0.1, 1e-3, 2, g)]
    for out in outs:
        assert out.dtype == torch.float32 and out.device == x_t.device
        assert bool(torch.isfinite(out).all())


def test_callback_sees_every_step():
    vp, steps = VP(), 7
    seen: list[dict] = []
    score, times = S.exact_score(BIMODAL, vp), S.uniform_times(vp, steps, T_MIN)
    x_t = S.prior_sample(50, 1, vp, torch.Generator().manual_seed(0))
    S.probability_flow_heun(score, x_t, times, vp, callback=seen.append)
    assert [d["i"] for d in seen] == list(range(steps))
    assert all(tuple(d) == S.CALLBACK_KEYS for d in seen)
    assert [d["t"] for d in seen] == times[:-1].tolist()
    assert all(d["x"].shape == d["score"].shape == x_t.shape for d in seen)


def test_chunked_equals_unchunked():
    vp = VP()
    score, times = S.exact_score(BIMODAL, vp), S.uniform_times(vp, 6, T_MIN)
    x_t = S.prior_sample(1000, 1, vp, torch.Generator().manual_seed(0))
    whole = S.probability_flow_heun(score, x_t, times, vp)
    parts = S.in_chunks(lambda c: S.probability_flow_heun(score, c, times, vp), x_t, 300)
    assert torch.allclose(parts, whole, rtol=0, atol=1e-12)


class _Wrapped(ForwardProcess):
    """A process seen only through ``a(t)`` and ``s(t)``: forces the finite difference."""

    def __init__(self, inner: ForwardProcess) -> None:
        self.inner, self.T = inner, inner.T

    def a(self, t: float) -> float:
        return self.inner.a(t)

    def s(self, t: float) -> float:
        return self.inner.s(t)


@pytest.mark.parametrize("process", [VP(), VE()])
def test_sde_coefficients_closed_form_match_finite_difference(process):
    """Closed forms of ``f`` and ``g²`` against the generic fallback (truncation O(δ²),
    round-off ~1e-16/δ: agreement to 1e-6 relative)."""
    for t in (0.05, 0.5, 0.95):
        f, g2 = S.drift_diffusion(process, t)
        f_fd, g2_fd = S.drift_diffusion(_Wrapped(process), t)
        assert math.isclose(f, f_fd, rel_tol=1e-6, abs_tol=1e-9)
        assert math.isclose(g2, g2_fd, rel_tol=1e-6)
