"""Noise-level grids (numerics/sampling/times.py) and DPM-Solver++(2M)
(numerics/sampling/samplers.py).

Grids: ``geometric_times`` and ``time_grid`` are one geometric grid with exact endpoints,
``t(σ)`` inverts ``σ(t) = s_t / a_t`` (closed form for VP, bisection for VE), and
``karras_times`` has the spacing, endpoints and monotonicity it promises. Solver: on a
Gaussian target every noisy law is Gaussian, so the probability-flow ODE has the closed
form ``x_t = a_t μ + sqrt(a_t² v + s_t²) / sqrt(a_T² v + s_T²) · (x_T − a_T μ)`` (per
coordinate, diagonal covariance ``v``) and the Tweedie denoiser is
``x̂_0 = μ + a v / (a² v + s²) · (x − a μ)``; the ODE steps are compared with it pointwise
(second-order convergence), the stochastic steps in law (mean and variance).
"""

from __future__ import annotations

import math

import pytest
import torch

from numerics.laws import GaussianMixture
from numerics.laws.processes import VE, VP, ForwardProcess
from numerics.sampling.samplers import dpm_solver_2m
from numerics.sampling.times import (
    geometric_times,
    karras_times,
    sigma,
    time_grid,
    time_of_sigma,
    two_phase_times,
)

F64 = torch.float64
# Geometric grid against the closed form T (t_min / T)^{i/steps}: float64 round-off of
# log10, the linear ramp and the power, amplified by |log t| ≤ 14 (measured ≤ 1.4e-14 at
# 200 steps, ≤ 1.1e-15 at the checks' 12 and 30 points).
GEOMETRIC_RTOL = 1e-13
# t(σ) round trip: VP's closed form and VE's bisection are exact to float64 round-off of
# σ(t) (exp/expm1/sqrt, ~1e-15 relative; measured ≤ 4e-16).
ROUND_TRIP_RTOL = 1e-12
# Statistical checks: |estimate − exact| ≤ N_SE standard errors; 4 comparisons in this
# module at a 6-sigma two-sided normal tail (2e-9 each).
N_SE = 6.0

# Largest pointwise ODE error allowed after 80 steps (4x the measured one).
ODE_TOL = 0.02

MEAN = torch.tensor([8.0, -6.0], dtype=F64)
VAR = torch.tensor([0.25, 0.64], dtype=F64)
TARGET = GaussianMixture.gaussian(MEAN, torch.diag(VAR))


def _score(process):
    return lambda x, t: TARGET.noised(t, process).score(x)


def _flow(x_T: torch.Tensor, t: float, process) -> torch.Tensor:
    """Exact probability-flow ODE map from ``T`` to ``t`` for the Gaussian target."""
    a_T, s_T = process.coefficients(process.T)
    a, s = process.coefficients(t)
    return a * MEAN + torch.sqrt((a * a * VAR + s * s) / (a_T**2 * VAR + s_T**2)) \
        * (x_T - a_T * MEAN)


def _tweedie(x: torch.Tensor, t: float, process) -> torch.Tensor:
    a, s = process.coefficients(t)
    return MEAN + a * VAR / (a * a * VAR + s * s) * (x - a * MEAN)


class _Horizon(ForwardProcess):
    """A process seen only through its horizon ``T`` (all a time grid reads); 0.3 and 5.0
    are horizons with ``10^(log10 T) ≠ T`` in float64."""

    def __init__(self, horizon: float) -> None:
        self.T = horizon


@pytest.mark.parametrize("t_min", [1e-3, 1e-6])
@pytest.mark.parametrize("steps", [1, 3, 11, 29, 200])
@pytest.mark.parametrize("horizon", [1.0, 0.3, 5.0])
def test_geometric_times_and_time_grid_are_one_grid(horizon, steps, t_min):
    """Decreasing for the samplers, increasing for the checks, endpoints exact, geometric
    to round-off."""
    process = _Horizon(horizon)
    times = geometric_times(process, steps, t_min)
    assert times.shape == (steps + 1,) and times.dtype == F64
    assert float(times[0]) == horizon and float(times[-1]) == t_min
    assert bool((times[1:] < times[:-1]).all())
    ratio = (horizon / t_min) ** (1.0 / steps)
    closed = torch.tensor([t_min * ratio**i for i in range(steps + 1)], dtype=F64).flip(0)
    assert torch.allclose(times, closed, rtol=GEOMETRIC_RTOL, atol=0.0)
    grid = time_grid(process, steps + 1, t_min)
    assert grid == times.flip(0).tolist()
    assert grid[0] == t_min and grid[-1] == horizon


def test_time_grid_edge_cases():
    assert time_grid(VP(), 1) == [VP().T]
    with pytest.raises(ValueError, match="n >= 1"):
        time_grid(VP(), 0)
    with pytest.raises(ValueError, match="t_min"):
        geometric_times(VP(), 4, 2.0)


@pytest.mark.parametrize("process", [VP(), VE()], ids=["VP", "VE"])
def test_time_of_sigma_inverts_sigma(process):
    for t in torch.linspace(0.0, 1.0, 41, dtype=F64).tolist():
        back = time_of_sigma(process, sigma(process, t))
        assert math.isclose(sigma(process, back), sigma(process, t), rel_tol=ROUND_TRIP_RTOL,
                            abs_tol=1e-300)
    assert time_of_sigma(process, 0.0) == 0.0
    assert time_of_sigma(process, sigma(process, process.T)) == pytest.approx(process.T)
    with pytest.raises(ValueError, match="sigma"):
        time_of_sigma(process, 2.0 * sigma(process, process.T))
    with pytest.raises(ValueError, match="sigma"):
        time_of_sigma(process, -1.0)


@pytest.mark.parametrize("rho", [7.0, 3.0, math.inf])
@pytest.mark.parametrize("process", [VP(), VE()], ids=["VP", "VE"])
def test_karras_times_spacing_and_endpoints(process, rho):
    steps, sigma_min = 12, 0.01
    times = karras_times(process, steps, sigma_min, rho=rho)
    assert times.shape == (steps + 1,) and times.dtype == F64
    assert float(times[0]) == process.T and float(times[-1]) == 0.0
    assert bool((times[1:] < times[:-1]).all())
    sigmas = torch.tensor([sigma(process, float(t)) for t in times[:-1]], dtype=F64)
    assert math.isclose(float(sigmas[-1]), sigma_min, rel_tol=ROUND_TRIP_RTOL)
    spaced = sigmas.log() if math.isinf(rho) else sigmas ** (1.0 / rho)
    gaps = spaced[1:] - spaced[:-1]
    assert torch.allclose(gaps, gaps.mean().expand_as(gaps), rtol=1e-9, atol=0.0)
    inner = karras_times(process, steps, sigma_min, sigma_max=1.0, rho=rho)
    assert math.isclose(sigma(process, float(inner[0])), 1.0, rel_tol=ROUND_TRIP_RTOL)


@pytest.mark.parametrize(("steps", "sigma_min", "sigma_max", "rho"), [
    (1, 0.01, None, 7.0), (10, 0.0, None, 7.0), (10, 0.5, 0.1, 7.0), (10, 0.01, None, 0.0),
])
def test_karras_times_rejects_bad_arguments(steps, sigma_min, sigma_max, rho):
    with pytest.raises(ValueError, match="steps"):
        karras_times(VP(), steps, sigma_min, sigma_max, rho)


@pytest.mark.parametrize("process", [VP(), VE()], ids=["VP", "VE"])
def test_ode_steps_converge_at_second_order_to_the_exact_flow(process):
    """Without the final step to ``t = 0`` the output is the ODE solution at ``t_min``:
    doubling the steps divides the error by ≈ 4 (measured 4.2–4.5); at 80 steps it is
    below ``ODE_TOL`` (measured 3.2e-3 VE, 5.2e-3 VP, for outputs of size ``|μ| = 10``)."""
    x_T = torch.randn(500, 2, generator=torch.Generator().manual_seed(0), dtype=F64) \
        * process.s(process.T)
    errors = []
    for steps in (20, 40, 80):
        times = karras_times(process, steps, 0.02, rho=7.0)[:-1]
        got = dpm_solver_2m(_score(process), x_T, times, process)
        errors.append(float((got - _flow(x_T, float(times[-1]), process)).abs().max()))
    assert errors[0] / errors[1] > 3.0 and errors[1] / errors[2] > 3.0, errors
    assert errors[2] < ODE_TOL


def test_final_step_to_zero_is_the_tweedie_denoiser():
    process = VP()
    x_T = torch.randn(50, 2, generator=torch.Generator().manual_seed(1), dtype=F64)
    times = karras_times(process, 30, 0.02)
    before = dpm_solver_2m(_score(process), x_T, times[:-1], process)
    after = dpm_solver_2m(_score(process), x_T, times, process)
    assert torch.allclose(after, _tweedie(before, float(times[-2]), process), rtol=1e-12,
                          atol=1e-12)


def test_two_phase_times_joins_two_grids():
    process = VP()
    times = two_phase_times(process, 5, 8, 3.0, 0.01)
    assert times.shape == (5 + 8 + 1,)
    assert bool((times[1:] < times[:-1]).all())
    assert float(times[0]) == process.T and float(times[-1]) == 0.0
    sigmas = torch.tensor([sigma(process, float(t)) for t in times[:-1]], dtype=F64)
    assert math.isclose(float(sigmas[5]), 3.0, rel_tol=ROUND_TRIP_RTOL)
    assert math.isclose(float(sigmas[-1]), 0.01, rel_tol=ROUND_TRIP_RTOL)
    high = sigmas[:6].log()
    assert torch.allclose(high[1:] - high[:-1], (high[1] - high[0]).expand(5), rtol=1e-9)
    assert torch.equal(times[5:], karras_times(process, 8, 0.01, sigma_max=3.0, rho=math.inf))
    with pytest.raises(ValueError, match="stochastic_steps"):
        two_phase_times(process, 0, 8, 3.0, 0.01)


def test_stochastic_steps_forget_the_prior_error():
    """From ``N(0, s_T² I)`` instead of ``p^T`` (mean ``a_T μ`` neglected), the ODE keeps the
    error: its output mean is off by ``sqrt(v) a_T μ / sqrt(a_T² v + s_T²)`` (0.026 and
    0.032 here, 24 and 18 standard errors). Stochastic steps down to ``σ = 3`` contract it
    by ``e^{−Δλ} = 0.02``: mean and variance match the target within ``N_SE`` standard
    errors (measured |z| ≤ 1.4; the ODE's offset is the predicted one within 0.7 of them)."""
    process, n = VP(), 200_000
    gen = torch.Generator().manual_seed(2)
    x_T = torch.randn(n, 2, generator=gen, dtype=F64) * process.s(process.T)
    times = two_phase_times(process, 20, 40, 3.0, 0.01)
    a_T, s_T = process.coefficients(process.T)
    ode = dpm_solver_2m(_score(process), x_T, times, process)
    ode_bias = VAR.sqrt() * a_T * MEAN / torch.sqrt(a_T**2 * VAR + s_T**2)
    assert torch.allclose(ode.mean(0) - MEAN, -ode_bias, rtol=0.0,
                          atol=N_SE * float(VAR.max().sqrt()) / math.sqrt(n))
    x = dpm_solver_2m(_score(process), x_T, times, process, stochastic_steps=20,
                      generator=gen)
    se_mean = (VAR / n).sqrt()
    se_var = VAR * math.sqrt(2.0 / n)
    assert ((x.mean(0) - MEAN).abs() <= N_SE * se_mean).all(), (x.mean(0) - MEAN) / se_mean
    assert ((x.var(0) - VAR).abs() <= N_SE * se_var).all(), (x.var(0) - VAR) / se_var
    assert ((ode.mean(0) - MEAN).abs() > 10 * se_mean).all()


def test_stochastic_steps_need_a_generator():
    process = VP()
    with pytest.raises(ValueError, match="generator"):
        dpm_solver_2m(_score(process), torch.zeros(3, 2, dtype=F64),
                      karras_times(process, 5, 0.1), process, stochastic_steps=2)
