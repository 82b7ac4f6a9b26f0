"""Samplers for the reverse of ``x_t = a(t) x_0 + s(t) ε`` (THEORY §0), driven by a score.

The forward process as an SDE. ``x_t = a_t x_0 + s_t ε`` is the marginal law of the linear
SDE ``dx = f(t) x dt + g(t) dW`` with

    f(t) = d log a / dt,        g²(t) = d(s²)/dt − 2 f(t) s²(t),

since its mean obeys ``dm/dt = f m`` (so ``m = a x_0``) and its variance
``dv/dt = 2 f v + g²`` (so ``v = s²`` when ``g²`` is as above). Its reverse in time
(Anderson 1982; Song et al. 2021) and the probability-flow ODE with the same marginals are

    dx = [f x − g² ∇log p_t(x)] dt + g dW̄      (t running from T down to 0),
    dx/dt = f x − ½ g² ∇log p_t(x).

Closed forms are used for the two supported processes: VP (``β(t)`` linear) has
``f = −β/2``, ``g² = β``; VE (``s = σ_min (σ_max/σ_min)^t``, ``a = 1``) has ``f = 0``,
``g² = 2 s² log(σ_max/σ_min)``. Any other :class:`ForwardProcess` falls back to a central
finite difference of ``log a`` and ``s²`` (step ``1e-5 T``, one-sided at the ends).

A *score* is any callable ``(x (N, n), t: float) -> (N, n)``: an exact model
(:func:`exact_score`), a user's model or a learned network plug in alike; a *log-density*
(for Metropolis steps) is ``(x (N, n), t) -> (N,)``, up to a constant. Time grids are plain
decreasing tensors ``(steps + 1,)`` from ``T`` to ``t_min > 0``; a sampler's output
approximates ``p^{t_min} = N_{t_min}[p]``, not ``p`` itself. Every random draw takes an
explicit ``torch.Generator``; device and dtype follow the input ``x``. A callback receives
``{"x", "i", "t", "score"}``: the state at ``times[i]`` before step ``i`` and its score.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from functools import lru_cache
from typing import Any

import torch
from torch import Tensor

from numerics.distributions import Distribution
from numerics.processes import VE, VP, ForwardProcess

Score = Callable[[Tensor, float], Tensor]
LogProb = Callable[[Tensor, float], Tensor]
Callback = Callable[[dict[str, Any]], None]
CALLBACK_KEYS = ("x", "i", "t", "score")
# Relative step of the central finite difference for processes without closed forms:
# the truncation error is O(δ²) and the round-off O(1e-16/δ), balanced near 1e-5.
FD_STEP = 1e-5
# Noised laws kept by exact_score/exact_log_prob: a Heun step needs two times at once.
CACHE_TIMES = 16


# time grids ---------------------------------------------------------------------------
def uniform_times(process: ForwardProcess, steps: int, t_min: float = 1e-3) -> Tensor:
    """``steps + 1`` times, uniform in ``t``, decreasing from ``T`` to ``t_min``."""
    _check_grid(process, steps, t_min)
    return torch.linspace(process.T, t_min, steps + 1, dtype=torch.float64)


def geometric_times(process: ForwardProcess, steps: int, t_min: float = 1e-3) -> Tensor:
    """``steps + 1`` times, uniform in ``log t``, decreasing from ``T`` to ``t_min``
    (dense at small noise)."""
    _check_grid(process, steps, t_min)
    return torch.logspace(math.log10(process.T), math.log10(t_min), steps + 1,
                          dtype=torch.float64)


def _check_grid(process: ForwardProcess, steps: int, t_min: float) -> None:
    if steps < 1 or not 0.0 < t_min < process.T:
        raise ValueError(f"need steps >= 1 and 0 < t_min < T={process.T}; "
                         f"got steps={steps}, t_min={t_min}")


# the SDE coefficients -----------------------------------------------------------------
def drift_diffusion(process: ForwardProcess, t: float) -> tuple[float, float]:
    """``(f(t), g²(t))`` of the forward SDE (module docstring); closed forms for VP/VE,
    else a central finite difference."""
    if isinstance(process, VP):
        beta = process.beta_min + (process.beta_max - process.beta_min) * t
        return -0.5 * beta, beta
    if isinstance(process, VE):
        s = process.s(t)
        return 0.0, 2.0 * s * s * math.log(process.sigma_max / process.sigma_min)
    d = FD_STEP * process.T
    lo, hi = max(0.0, t - d), min(process.T, t + d)
    a_lo, s_lo = process.coefficients(lo)
    a_hi, s_hi = process.coefficients(hi)
    f = (math.log(a_hi) - math.log(a_lo)) / (hi - lo)
    return f, (s_hi**2 - s_lo**2) / (hi - lo) - 2.0 * f * process.s(t) ** 2


# scores -------------------------------------------------------------------------------
def exact_score(dist: Distribution, process: ForwardProcess) -> Score:
    """``(x, t) ↦ ∇log p^t(x)`` for ``p^t = dist.noised(t, process)``, cast to ``x``'s dtype
    and device; the last ``CACHE_TIMES`` noised laws are cached by ``t``."""
    noised = lru_cache(maxsize=CACHE_TIMES)(lambda t: dist.noised(t, process))
    return lambda x, t: noised(float(t)).score(x).to(x)


def exact_log_prob(dist: Distribution, process: ForwardProcess) -> LogProb:
    """``(x, t) ↦ log p^t(x)`` ``(N,)``, like :func:`exact_score`."""
    noised = lru_cache(maxsize=CACHE_TIMES)(lambda t: dist.noised(t, process))
    return lambda x, t: noised(float(t)).log_prob(x).to(x)


def prior_sample(n: int, dim: int, process: ForwardProcess, generator: torch.Generator,
                 dtype: torch.dtype = torch.float64,
                 device: torch.device | str = "cpu") -> Tensor:
    """``(n, dim)`` draws of ``N(0, s_T² I)``, standing in for ``p^T``, the law of
    ``a_T x_0 + s_T ε``: the neglected signal ``a_T x_0`` shifts points by ``a_T |x_0|``,
    ``a_T / s_T`` noise units per unit of ``|x_0|`` (VP defaults: ``a_T = 6.6e-3``;
    VE: ``a_T = 1``, so ``|x_0| / σ_max``, 0.02 per unit at ``σ_max = 50``)."""
    s_t = process.s(process.T)
    return s_t * torch.randn(n, dim, generator=generator, dtype=dtype, device=device)


def _score(score: Score, x: Tensor, t: float) -> Tensor:
    return score(x, t).to(x)


def _report(callback: Callback | None, x: Tensor, i: int, t: float, sc: Tensor) -> None:
    if callback is not None:
        callback({"x": x, "i": i, "t": t, "score": sc})


# samplers -----------------------------------------------------------------------------
@torch.no_grad()
def reverse_sde_euler(score: Score, x_T: Tensor, times: Tensor, process: ForwardProcess,
                      generator: torch.Generator, callback: Callback | None = None) -> Tensor:
    """Euler–Maruyama on the reverse SDE (Song et al. 2021, eq. 6); ``x_T (N, n) -> (N, n)``.

    ``x ← x − (f x − g² ∇log p_t) h + g √h z``, ``h = t_i − t_{i+1} > 0``, ``z ~ N(0, I)``.
    """
    x = x_T.clone()
    for i in range(len(times) - 1):
        t, t_next = float(times[i]), float(times[i + 1])
        sc = _score(score, x, t)
        _report(callback, x, i, t, sc)
        f, g2 = drift_diffusion(process, t)
        h = t - t_next
        z = torch.randn(x.shape, generator=generator, dtype=x.dtype, device=x.device)
        x = x - (f * x - g2 * sc) * h + math.sqrt(g2 * h) * z
    return x


@torch.no_grad()
def ancestral(score: Score, x_T: Tensor, times: Tensor, process: ForwardProcess,
              generator: torch.Generator, callback: Callback | None = None) -> Tensor:
    """Ancestral sampling (Ho et al. 2020): the exact Gaussian ``q(x_{t'} | x_t, x̂_0)``
    at the Tweedie estimate ``x̂_0 = (x + s_t² ∇log p_t(x)) / a_t``; ``(N, n) -> (N, n)``.

    With ``a = a_t / a_{t'}`` and ``v = s_t² − a² s_{t'}²`` (the variance of ``x_t`` given
    ``x_{t'}``): mean ``(a s_{t'}² x + a_{t'} v x̂_0) / s_t²``, variance ``v s_{t'}² / s_t²``.
    """
    x = x_T.clone()
    for i in range(len(times) - 1):
        t, t_next = float(times[i]), float(times[i + 1])
        sc = _score(score, x, t)
        _report(callback, x, i, t, sc)
        a_t, s_t = process.coefficients(t)
        a_n, s_n = process.coefficients(t_next)
        x0 = (x + s_t**2 * sc) / a_t
        a = a_t / a_n
        v = max(s_t**2 - a * a * s_n**2, 0.0)
        mean = (a * s_n**2 * x + a_n * v * x0) / s_t**2
        z = torch.randn(x.shape, generator=generator, dtype=x.dtype, device=x.device)
        x = mean + math.sqrt(v * s_n**2) / s_t * z
    return x


@torch.no_grad()
def probability_flow_heun(score: Score, x_T: Tensor, times: Tensor, process: ForwardProcess,
                          callback: Callback | None = None) -> Tensor:
    """Heun's 2nd-order method on the probability-flow ODE (Karras et al. 2022, Alg. 1);
    ``dx/dt = f x − ½ g² ∇log p_t(x)``, deterministic, ``(N, n) -> (N, n)``."""

    def velocity(y: Tensor, t: float, sc: Tensor) -> Tensor:
        f, g2 = drift_diffusion(process, t)
        return f * y - 0.5 * g2 * sc

    x = x_T.clone()
    for i in range(len(times) - 1):
        t, t_next = float(times[i]), float(times[i + 1])
        sc = _score(score, x, t)
        _report(callback, x, i, t, sc)
        d = velocity(x, t, sc)
        x_euler = x + (t_next - t) * d
        d_next = velocity(x_euler, t_next, _score(score, x_euler, t_next))
        x = x + (t_next - t) * 0.5 * (d + d_next)
    return x


@torch.no_grad()
def langevin_corrector(score: Score, x: Tensor, t: float, step_size: float, n_steps: int,
                       generator: torch.Generator) -> Tensor:
    """Unadjusted Langevin (Song et al. 2021, Alg. 4 corrector) on ``p_t``:
    ``x ← x + h ∇log p_t(x) + √(2h) z``; biased by ``O(h)``, ``(N, n) -> (N, n)``."""
    for _ in range(n_steps):
        z = torch.randn(x.shape, generator=generator, dtype=x.dtype, device=x.device)
        x = x + step_size * _score(score, x, t) + math.sqrt(2.0 * step_size) * z
    return x


@torch.no_grad()
def mala_corrector(score: Score, log_prob: LogProb, x: Tensor, t: float, step_size: float,
                   n_steps: int, generator: torch.Generator) -> tuple[Tensor, Tensor]:
    """MALA (Roberts & Tweedie 1996) on ``p_t``, per-particle accept/reject; returns the
    moved ``x (N, n)`` and each particle's mean acceptance probability ``(N,)``.

    Proposal ``y ~ Q(·|x) = N(x + h ∇log p_t(x), 2h I)``; accept with probability
    ``min(1, p_t(y) Q(x|y) / (p_t(x) Q(y|x)))``, ``log Q(a|b) = −|a − b − h∇(b)|² / 4h + c``.
    """
    h = step_size
    lp, sc = log_prob(x, t).to(x), _score(score, x, t)
    rate = torch.zeros(x.shape[0], dtype=x.dtype, device=x.device)
    for _ in range(n_steps):
        z = torch.randn(x.shape, generator=generator, dtype=x.dtype, device=x.device)
        y = x + h * sc + math.sqrt(2.0 * h) * z
        lp_y, sc_y = log_prob(y, t).to(x), _score(score, y, t)
        log_fwd = -(y - x - h * sc).square().sum(-1) / (4.0 * h)
        log_bwd = -(x - y - h * sc_y).square().sum(-1) / (4.0 * h)
        log_alpha = (lp_y - lp + log_bwd - log_fwd).clamp(max=0.0).nan_to_num(nan=-math.inf)
        u = torch.rand(x.shape[0], generator=generator, dtype=x.dtype, device=x.device)
        accept = torch.log(u) < log_alpha
        x = torch.where(accept[:, None], y, x)
        sc = torch.where(accept[:, None], sc_y, sc)
        lp = torch.where(accept, lp_y, lp)
        rate += log_alpha.exp()
    return x, rate / max(n_steps, 1)


def in_chunks(fn: Callable[[Tensor], Any], x: Tensor, chunk: int) -> Any:
    """``fn(x[c])`` over row chunks ``c`` of ``x (N, n)``, outputs concatenated (tuples
    elementwise), so that work arrays are ``chunk × n`` rather than ``N × n``; e.g.
    ``in_chunks(lambda c: probability_flow_heun(score, c, times, vp), x_T, 65536)``.

    Deterministic samplers give the unchunked result; random ones draw in another order
    (same law). Callbacks then see each chunk's trajectory in turn.
    """
    if chunk < 1:
        raise ValueError(f"chunk must be >= 1, got {chunk}")
    parts = [fn(c) for c in x.split(chunk)]
    if isinstance(parts[0], tuple):
        return tuple(torch.cat(col) for col in zip(*parts, strict=True))
    return torch.cat(parts)
