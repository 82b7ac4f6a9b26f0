"""Grid backend (numerics/laws/grid.py) against the closed forms of Gaussian mixtures.

Mixtures are the one family with exact noised laws, marginals and moments, so they check
every grid operation. Each tolerance is the measured error (noted beside it) with a
margin of ~10×, or more where the error is float64 round-off, which varies with the
platform's FFT and summation order.
"""

from __future__ import annotations

import math
from functools import cache

import pytest
import torch

from numerics.laws import GaussianMixture
from numerics.laws.grid import GridDensity, default_bounds, grid_normalized_l2, total_variation
from numerics.laws.processes import VE, VP

F64 = torch.float64


def _t(x) -> torch.Tensor:
    return torch.tensor(x, dtype=F64)


MIX = {
    1: GaussianMixture(_t([0.3, 0.7]), _t([[-1.5], [1.0]]), _t([[[0.25]], [[0.6]]])),
    2: GaussianMixture(_t([0.4, 0.6]), _t([[-1.0, 0.5], [1.2, -0.3]]),
                       _t([[[0.5, 0.2], [0.2, 0.4]], [[0.3, -0.1], [-0.1, 0.6]]])),
}
DIMS = pytest.mark.parametrize("dim", [1, 2])
# (a, s²): VE-like, VP-like (a² + s² = 1), a ≪ 1 (VP near t = 1) and s = 50 (VE's s_max);
# the last two make noising coarsen the output grid.
NOISE = [(1.0, 0.5), (0.8, 0.36), (0.3, 0.91), (0.0067, 1.0), (1.0, 2500.0)]
# Grid-vs-grid distances when the axes differ: q is linearly interpolated onto p's nodes,
# error ~h²/8·|p''|. Measured max over NOISE: TV 4.4e-6, L2 4.1e-11 in 1-D (h = 0.011);
# TV 1.5e-4, L2 4.5e-8 in 2-D (h = 0.05).
RESAMPLED_TOL = {1: (5e-5, 5e-10), 2: (2e-3, 5e-7)}


@cache
def grid(dim: int) -> GridDensity:
    return GridDensity.from_distribution(MIX[dim])


def _exact_at_nodes(g: GridDensity, dist) -> torch.Tensor:
    return dist.log_prob(g.points).exp()


@DIMS
def test_grid_matches_log_prob_and_moments(dim):
    g, mix = grid(dim), MIX[dim]
    assert g.values.shape == ((2001,) if dim == 1 else (401, 401))
    assert g.points.shape == (*g.values.shape, dim)
    # Riemann sums of smooth densities with e⁻³² tails converge spectrally: measured
    # 6e-16 (values, relative to the peak), 4e-16 (log normalizer) — round-off.
    exact = _exact_at_nodes(g, mix)
    assert float((g.values - exact).abs().max() / exact.max()) < 1e-12
    assert abs(g.log_normalizer) < 1e-12
    # Measured 1e-15 (mean) and 1e-13 (covariance): round-off of 1.6e5-term sums.
    assert torch.allclose(g.mean, mix.mean, rtol=0, atol=1e-10)
    assert torch.allclose(g.covariance, mix.covariance, rtol=0, atol=1e-10)


def test_log_prob_interpolation_is_second_order():
    mix = MIX[1]
    errors = []
    for points in (1001, 2001):
        g = GridDensity.from_distribution(mix, points=points)
        mid = (g.axes[0][:-1] + g.axes[0][1:]) / 2
        mid = mid[(mid > -4) & (mid < 4)][:, None]  # the bulk, where p'' / p is moderate
        errors.append(float((g.log_prob(mid) - mix.log_prob(mid)).abs().max()))
    # Linear interpolation: error ∝ h²; halving h divides it by 4 (measured 4.01; the
    # band allows for the h⁴ term).
    assert 3.5 < errors[0] / errors[1] < 4.5
    # ≈ h²/8·|p''/p|, largest at x = −4 (5 sd out on the narrow component): measured 1.4e-3.
    assert errors[1] < 1e-2


@DIMS
def test_score_is_exact_for_a_gaussian(dim):
    gauss = GaussianMixture.gaussian(torch.zeros(dim, dtype=F64), 0.7 * torch.eye(dim, dtype=F64))
    g = GridDensity.from_distribution(gauss)
    x = gauss.sample(500, torch.Generator().manual_seed(0))
    # Central differences of a quadratic log p are exact and the score is linear, so only
    # round-off remains (measured 1.4e-13: log values ~30 divided by h ~0.01).
    assert g.score(x).shape == (500, dim)
    assert float((g.score(x) - gauss.score(x)).abs().max()) < 1e-10
    outside = torch.full((2, dim), 1e3, dtype=F64)
    assert torch.isneginf(g.log_prob(outside)).all()
    assert torch.isnan(g.score(outside)).all()


@DIMS
@pytest.mark.parametrize(("a", "s2"), NOISE)
def test_noising_matches_exact_noised_law(dim, a, s2):
    mix = MIX[dim].convolved(a, s2)
    noisy = grid(dim).convolved(a, s2)
    # Reference on the very same nodes: what remains is FFT round-off (measured TV ≤ 2.3e-15,
    # L2 ≤ 8e-30), so the convolution itself is exact to float64.
    same = GridDensity.from_log_density(
        mix.log_prob, [(float(ax[0]), float(ax[-1])) for ax in noisy.axes],
        [len(ax) for ax in noisy.axes])
    assert total_variation(noisy, same) < 1e-13
    assert grid_normalized_l2(noisy, same) < 1e-26
    # Reference on its own default grid: the gap is the resampling error (RESAMPLED_TOL).
    reference = GridDensity.from_distribution(mix)
    tv_tol, l2_tol = RESAMPLED_TOL[dim]
    assert total_variation(noisy, reference) < tv_tol
    assert grid_normalized_l2(noisy, reference) < l2_tol
    # Noising a normalized density keeps its mass (measured ≤ 1.4e-15: round-off).
    assert abs(noisy.log_normalizer) < 1e-12


@DIMS
def test_noised_follows_process_and_special_cases(dim):
    g, mix = grid(dim), MIX[dim]
    for process in (VP(), VE()):
        reference = GridDensity.from_distribution(mix.noised(0.5, process))
        assert total_variation(g.noised(0.5, process), reference) < RESAMPLED_TOL[dim][0]
    # s² = 0 only rescales; a < 0 also reflects: exact at nodes up to round-off (2e-16).
    for a in (0.5, -1.0):
        scaled = g.convolved(a, 0.0)
        exact = _exact_at_nodes(scaled, mix.pushforward(a * torch.eye(dim, dtype=F64)))
        assert float((scaled.values - exact).abs().max() / exact.max()) < 1e-12
    # A kernel far narrower than a cell acts as the identity (one padding node per side):
    # measured TV 9e-16 (round-off).
    assert total_variation(g.convolved(1.0, 1e-12), g) < 1e-13
    with pytest.raises(ValueError, match="a != 0"):
        g.convolved(0.0, 1.0)


def test_marginal_matches_exact_marginal():
    g, mix = grid(2), MIX[2]
    for axis in (0, 1):
        marginal = g.marginal(axis)
        exact = mix.marginal([axis]).log_prob(marginal.axes[0][:, None]).exp()
        # Quadrature over the other axis is spectral: measured 3.3e-16 (round-off).
        assert marginal.dim == 1
        assert float((marginal.values - exact).abs().max()) < 1e-12


def test_log_normalizer_of_unnormalized_densities():
    std = GaussianMixture.gaussian(_t([0.0]), _t([[1.0]]))
    # Spectral quadrature: the constant comes back to round-off (≤ 1e-15 measured); the
    # offset 1000 would overflow exp without the max subtraction.
    for offset in (3.0, 1000.0, -1000.0):
        g = GridDensity.from_log_density(lambda x, c=offset: c + std.log_prob(x), [(-9.0, 9.0)])
        assert abs(g.log_normalizer - offset) < 1e-12
    # c · N(x; μ1, Σ1) · N(x; μ2, Σ2) integrates to c · N(μ1 − μ2; 0, Σ1 + Σ2).
    log_c = 2.5
    cases = [
        (_t([0.5]), _t([[0.8]]), _t([-0.7]), _t([[1.5]])),
        (_t([0.3, -0.2]), _t([[0.7, 0.2], [0.2, 0.5]]),
         _t([-0.4, 0.6]), _t([[0.9, -0.3], [-0.3, 1.1]])),
    ]
    for mu1, cov1, mu2, cov2 in cases:
        n1, n2 = GaussianMixture.gaussian(mu1, cov1), GaussianMixture.gaussian(mu2, cov2)
        g = GridDensity.from_log_density(lambda x, n1=n1, n2=n2: log_c + n1.log_prob(x)
                                         + n2.log_prob(x), default_bounds(n1, n2))
        exact = log_c + GaussianMixture.gaussian(mu1 - mu2, cov1 + cov2).log_prob(
            torch.zeros_like(mu1))
        assert abs(g.log_normalizer - float(exact)) < 1e-12


def test_total_variation_closed_form():
    g = grid(2)
    assert total_variation(g, g) == 0.0
    assert grid_normalized_l2(g, g) == 0.0

    def normal(mean):
        return GaussianMixture.gaussian(_t([mean]), _t([[1.0]]))
    p = GridDensity.from_distribution(normal(0.0), bounds=[(-10.0, 13.0)])
    for delta in (0.3, 1.0, 3.0):
        exact = math.erf(delta / (2 * math.sqrt(2)))  # 2Φ(δ/2σ) − 1 with σ = 1
        same = GridDensity.from_distribution(normal(delta), bounds=[(-10.0, 13.0)])
        own = GridDensity.from_distribution(normal(delta))
        # |p − q| has a kink at δ/2, so its Riemann sum is only O(h²) with h = 0.0115:
        # measured ≤ 4.3e-6 on shared nodes and ≤ 5.3e-6 after resampling.
        assert abs(total_variation(p, same) - exact) < 5e-5
        assert abs(total_variation(p, own) - exact) < 5e-5


def test_bad_input_raises():
    with pytest.raises(ValueError, match="d = 1 or 2"):
        GridDensity.from_log_density(lambda x: -(x ** 2).sum(-1), [(-1.0, 1.0)] * 3)
    with pytest.raises(ValueError, match="integral is 0 or inf"):
        GridDensity.from_log_density(lambda x: torch.full(x.shape[:-1], -math.inf), [(-1.0, 1.0)])
    with pytest.raises(ValueError, match="integral is 0 or inf"):
        GridDensity.from_log_density(lambda x: torch.full(x.shape[:-1], math.inf), [(-1.0, 1.0)])
    with pytest.raises(ValueError, match="without NaN"):
        GridDensity.from_log_density(lambda x: torch.log(x[..., 0] - 5.0), [(-1.0, 1.0)])
    with pytest.raises(ValueError, match="lo < hi"):
        GridDensity.from_log_density(lambda x: -x[..., 0] ** 2, [(1.0, -1.0)])
