"""Time grids in the noise-to-signal ratio and a second-order exponential integrator.

Noise level. For ``x_t = a_t x_0 + s_t ε`` (THEORY §0) the noise-to-signal ratio
``σ(t) = s_t / a_t`` increases from ``σ(0) = 0``, and ``λ(t) = −log σ(t) = log(a_t / s_t)`` is
the half log-SNR. Karras et al. (2022, "Elucidating the design space of diffusion-based
generative models", eq. 5) space ``σ`` as

    σ_i = (σ_max^{1/ρ} + i/(M − 1) (σ_min^{1/ρ} − σ_max^{1/ρ}))^ρ,   i = 0..M−1,

then ``σ_M = 0``; ``ρ = 7`` concentrates steps at low noise, ``ρ → ∞`` is uniform in
``λ``. :func:`karras_times` maps that grid back to process times ``t(σ)``: closed form for
VP (``σ² = e^{B(t)} − 1`` with ``B(t) = ∫_0^t β``, a quadratic in ``t``), bisection for any
other process.

Solver. With the data prediction (Tweedie) ``x̂_0(x, t) = (x + s_t² ∇log p_t(x)) / a_t``
and ``h = λ_{t'} − λ_t > 0`` for a step from ``t`` to ``t' < t``, the probability-flow ODE
and the reverse SDE have the exact solutions (Lu et al. 2022, "DPM-Solver++: fast solver
for guided sampling of diffusion probabilistic models", arXiv 2211.01095, in the data
prediction form; ``z ~ N(0, I)``)

    ODE: x_{t'} = (s_{t'}/s_t) x_t + s_{t'} ∫_{λ_t}^{λ_{t'}} e^{λ} x̂_0(x_λ, λ) dλ,
    SDE: x_{t'} = (s_{t'}/s_t) e^{−h} x_t + 2 a_{t'} ∫_{λ_t}^{λ_{t'}} e^{−2(λ_{t'} − λ)}
                  x̂_0(x_λ, λ) dλ + s_{t'} sqrt(1 − e^{−2h}) z.

DPM-Solver++(2M) (their Algorithm 2) and SDE-DPM-Solver++(2M) replace ``x̂_0`` along the
step by ``D = (1 + 1/(2r)) x̂_0(t) − 1/(2r) x̂_0(t_prev)``, ``r = h_prev / h``, a
linear extrapolation in ``λ`` through the previous prediction (first order, ``D = x̂_0(t)``,
on the first step):

    ODE: x_{t'} = (s_{t'}/s_t) x_t + a_{t'} (1 − e^{−h}) D,
    SDE: x_{t'} = (s_{t'}/s_t) e^{−h} x_t + a_{t'} (1 − e^{−2h}) D + s_{t'} sqrt(1 − e^{−2h}) z;

a final step to ``s = 0`` returns ``x_0 = x̂_0``. One score evaluation per step.

Why stochastic steps at high noise. Samplers start from ``N(0, s_T² I)`` in place of
``p^T``, neglecting ``a_T x_0``. The ODE is a deterministic bijection that carries this
error to ``t = 0`` unchanged (it maps the prior's law to the output's, and ``p^T`` to ``p``);
with well-separated modes a prior error of order ``a_T`` (``6.6e-3`` for the default VP)
moves mass between modes. Each SDE step multiplies the state's dependence on the past by
``e^{−h}`` on top of the ODE's ``s_{t'}/s_t``, so ``k`` SDE steps spanning ``Δλ`` contract
the prior error by ``e^{−Δλ}``, while their own discretization error is small where
``x̂_0`` is nearly affine (high noise). :func:`two_phase_times` therefore takes SDE steps
from ``σ(T)`` down to a switch level and ODE steps below it.

Grids are decreasing float64 tensors ``(M + 1,)`` as in :mod:`numerics.samplers`; grids from
:func:`karras_times` and :func:`two_phase_times` end at ``t = 0``, so the last step is the
Tweedie denoising ``x̂_0(x_{t_{M−1}}, t_{M−1})`` and the output approximates ``p`` itself.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any

import torch
from torch import Tensor

from numerics.processes import VP, ForwardProcess

Score = Callable[[Tensor, float], Tensor]
Callback = Callable[[dict[str, Any]], None]
# Bisection for t(σ) on processes without a closed form: 200 halvings of [0, T] reach the
# float64 spacing of any t in it (the loop stops when the bracket stops shrinking).
BISECTIONS = 200


def sigma(process: ForwardProcess, t: float) -> float:
    """``σ(t) = s_t / a_t``, the noise-to-signal ratio (0 at ``t = 0``)."""
    a, s = process.coefficients(t)
    return s / a


def time_of_sigma(process: ForwardProcess, value: float) -> float:
    """The smallest ``t ∈ [0, T]`` with ``σ(t) ≥ value`` (``σ(t) = value`` where ``σ`` is
    continuous; VE jumps from 0 to ``σ_min`` at ``t = 0``); ``ValueError`` outside
    ``[0, σ(T)]``.

    VP: ``B(t) = β_min t + ½ (β_max − β_min) t² = log(1 + σ²)``, solved as
    ``t = 2B / (β_min + sqrt(β_min² + 2 (β_max − β_min) B))`` (no cancellation). Otherwise
    bisection on the increasing ``σ(t)``."""
    top = sigma(process, process.T)
    if not 0.0 <= value <= top * (1.0 + 1e-12):
        raise ValueError(f"sigma={value} outside [0, sigma(T)={top}]")
    if value == 0.0:
        return 0.0
    if isinstance(process, VP):
        b = math.log1p(value * value)
        slope = process.beta_max - process.beta_min
        return min(process.T, 2.0 * b / (process.beta_min + math.sqrt(
            process.beta_min**2 + 2.0 * slope * b)))
    lo, hi = 0.0, process.T
    for _ in range(BISECTIONS):
        mid = 0.5 * (lo + hi)
        if mid in (lo, hi):
            break
        lo, hi = (mid, hi) if sigma(process, mid) < value else (lo, mid)
    return hi


def karras_times(process: ForwardProcess, steps: int, sigma_min: float,
                 sigma_max: float | None = None, rho: float = 7.0) -> Tensor:
    """``steps`` times with ``σ`` spaced as Karras et al. (2022, eq. 5) from ``sigma_max``
    (default ``σ(T)``, i.e. ``t = T``) down to ``sigma_min``, then ``t = 0``: a decreasing
    float64 tensor ``(steps + 1,)``. ``rho = inf`` spaces ``log σ`` uniformly."""
    top = sigma(process, process.T) if sigma_max is None else sigma_max
    if steps < 2 or not 0.0 < sigma_min < top or not rho > 0.0:
        raise ValueError(f"need steps >= 2, 0 < sigma_min < sigma_max and rho > 0; got "
                         f"steps={steps}, sigma_min={sigma_min}, sigma_max={top}, rho={rho}")
    ramp = torch.linspace(0.0, 1.0, steps, dtype=torch.float64)
    if math.isinf(rho):
        sigmas = top * (sigma_min / top) ** ramp
    else:
        lo, hi = sigma_min ** (1.0 / rho), top ** (1.0 / rho)
        sigmas = (hi + ramp * (lo - hi)) ** rho
    times = [process.T if sigma_max is None and i == 0 else time_of_sigma(process, float(v))
             for i, v in enumerate(sigmas)]
    return torch.tensor([*times, 0.0], dtype=torch.float64)


def two_phase_times(process: ForwardProcess, stochastic_steps: int, ode_steps: int,
                    sigma_switch: float, sigma_min: float, rho: float = math.inf) -> Tensor:
    """``stochastic_steps`` steps uniform in ``log σ`` from ``t = T`` down to
    ``σ = sigma_switch``, then :func:`karras_times` (``ode_steps`` steps, ``rho``) from there
    to ``sigma_min`` and ``t = 0``: a decreasing float64 tensor
    ``(stochastic_steps + ode_steps + 1,)``, meant for :func:`dpm_solver_2m` with the same
    ``stochastic_steps``."""
    if stochastic_steps < 1:
        raise ValueError(f"need stochastic_steps >= 1, got {stochastic_steps}")
    high = karras_times(process, stochastic_steps + 1, sigma_switch, rho=math.inf)
    low = karras_times(process, ode_steps, sigma_min, sigma_max=sigma_switch, rho=rho)
    return torch.cat([high[:-2], low])


@torch.no_grad()
def dpm_solver_2m(score: Score, x_T: Tensor, times: Tensor, process: ForwardProcess, *,
                  stochastic_steps: int = 0, generator: torch.Generator | None = None,
                  callback: Callback | None = None) -> Tensor:
    """DPM-Solver++(2M) (Lu et al. 2022, Alg. 2) on the probability-flow ODE, with its SDE
    variant (their SDE-DPM-Solver++(2M)) on the first ``stochastic_steps`` steps; one score
    evaluation per step, ``x_T (N, n) -> (N, n)`` in the dtype and device of ``x_T``. Module
    docstring for the updates; ``generator`` is required when ``stochastic_steps > 0``. A
    callback receives ``{"x", "i", "t", "score"}`` before step ``i``."""
    if stochastic_steps > 0 and generator is None:
        raise ValueError("stochastic steps need a generator")
    x = x_T.clone()
    x0_prev, h_prev = None, None
    for i in range(len(times) - 1):
        t, t_next = float(times[i]), float(times[i + 1])
        a, s = process.coefficients(t)
        a_next, s_next = process.coefficients(t_next)
        sc = score(x, t).to(x)
        if callback is not None:
            callback({"x": x, "i": i, "t": t, "score": sc})
        x0 = torch.add(x, sc, alpha=s * s).div_(a)
        if s_next == 0.0:
            x = a_next * x0
            continue
        h = math.log(a_next * s / (a * s_next))
        # D = x0 + (h / 2h_prev)(x0 − x0_prev), as one fused lerp
        d = x0 if x0_prev is None else torch.lerp(x0, x0_prev, -0.5 * h / h_prev)
        if i < stochastic_steps:
            keep = -math.expm1(-2.0 * h)
            decay = s_next / s * math.exp(-h)
            x = torch.add(x, d, alpha=a_next * keep / decay).mul_(decay)
            noise = torch.randn(x.shape, generator=generator, dtype=x.dtype, device=x.device)
            x.add_(noise, alpha=s_next * math.sqrt(keep))
        else:
            decay = s_next / s
            x = torch.add(x, d, alpha=-a_next * math.expm1(-h) / decay).mul_(decay)
        x0_prev, h_prev = x0, h
    return x
