"""Time grids: every grid of noise levels the project uses, in one place (THEORY §0).

- ``uniform_times`` / ``geometric_times``: sampler grids, decreasing float64 tensors
  ``(steps + 1,)`` from ``T`` to ``t_min > 0`` (a sampler's output then approximates
  ``N_{t_min}[p]``);
- ``time_grid``: the same geometric grid read upward, ``n`` times over ``[t_min, T]`` as a
  list: where the distribution-level checks compare ``C[p⃗^t]`` with ``N_t[C[p⃗]]``
  (C2, C7–C9);
- ``karras_times`` / ``two_phase_times``: grids in the noise-to-signal ratio ending at
  ``t = 0`` (the last step is the Tweedie denoising, the output approximates ``p``).

Noise level. For ``x_t = a_t x_0 + s_t ε`` (THEORY §0) the noise-to-signal ratio
``σ(t) = s_t / a_t`` increases from ``σ(0) = 0``, and ``λ(t) = −log σ(t) = log(a_t / s_t)`` is
the half log-SNR. Karras et al. (2022, "Elucidating the design space of diffusion-based
generative models", eq. 5) space ``σ`` as

    σ_i = (σ_max^{1/ρ} + i/(M − 1) (σ_min^{1/ρ} − σ_max^{1/ρ}))^ρ,   i = 0..M−1,

then ``σ_M = 0``; ``ρ = 7`` concentrates steps at low noise, ``ρ → ∞`` is uniform in
``λ``. :func:`karras_times` maps that grid back to process times ``t(σ)``: closed form for
VP (``σ² = e^{B(t)} − 1`` with ``B(t) = ∫_0^t β``, a quadratic in ``t``), bisection for any
other process.
"""

from __future__ import annotations

import math

import torch
from torch import Tensor

from numerics.laws.processes import VP, ForwardProcess

# Bisection for t(σ) on processes without a closed form: 200 halvings of [0, T] reach the
# float64 spacing of any t in it (the loop stops when the bracket stops shrinking).
BISECTIONS = 200


def uniform_times(process: ForwardProcess, steps: int, t_min: float = 1e-3) -> Tensor:
    """``steps + 1`` times, uniform in ``t``, decreasing from ``T`` to ``t_min``."""
    _check_grid(process, steps, t_min)
    return torch.linspace(process.T, t_min, steps + 1, dtype=torch.float64)


def geometric_times(process: ForwardProcess, steps: int, t_min: float = 1e-3) -> Tensor:
    """``steps + 1`` times, uniform in ``log t``, decreasing from ``T`` to ``t_min`` (dense
    at small noise): ``t_i = T (t_min / T)^{i / steps}``, computed as
    ``10^(log10 T + i/steps (log10 t_min − log10 T))``, with ``t_0 = T`` and
    ``t_steps = t_min`` set exactly."""
    _check_grid(process, steps, t_min)
    times = torch.logspace(math.log10(process.T), math.log10(t_min), steps + 1,
                           dtype=torch.float64)
    times[0], times[-1] = process.T, t_min
    return times


def time_grid(process: ForwardProcess, n: int = 12, t_min: float = 1e-3) -> list[float]:
    """``n`` times spread geometrically over ``[t_min, T]``, increasing (dense at small
    noise, where composition errors of C9 type live): :func:`geometric_times` with
    ``n − 1`` steps, read upward (``[T]`` for ``n = 1``)."""
    if n < 1:
        raise ValueError(f"time grid needs n >= 1, got {n}")
    if n == 1:
        return [process.T]
    return geometric_times(process, n - 1, t_min).flip(0).tolist()


def _check_grid(process: ForwardProcess, steps: int, t_min: float) -> None:
    if steps < 1 or not 0.0 < t_min < process.T:
        raise ValueError(f"need steps >= 1 and 0 < t_min < T={process.T}; "
                         f"got steps={steps}, t_min={t_min}")


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
