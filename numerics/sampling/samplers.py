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
(for Metropolis steps) is ``(x (N, n), t) -> (N,)``, up to a constant. Time grids
(``numerics.sampling.times``) are plain decreasing tensors ``(steps + 1,)`` from ``T`` to
``t_min > 0`` (a sampler's output then approximates ``p^{t_min} = N_{t_min}[p]``, not ``p``
itself) or to ``t = 0`` (:func:`dpm_solver_2m`'s last step is the Tweedie denoiser).

One convention for every sampler (:class:`Sampler`)::

    sampler(score, x, times, process, *, generator=None, callback=None, **options) -> ...

``x (N, n)`` is the state at ``times[0]`` (for ``times[0] = T``, draws of
:func:`prior_sample`); ``generator`` makes every random draw (no global RNG): a sampler that
draws raises ``ValueError`` without one, a deterministic one accepts it and ignores it;
``callback`` receives the dict ``{"x", "i", "t", "score"}`` (``CALLBACK_KEYS``): the state at
``times[i]`` before step ``i`` and its score (:func:`progress` builds one that prints a
progress line); a sampler that needs a log-density takes it as ``log_prob=``; the method's
own options follow as keywords. Device and dtype follow ``x``. The correctors move at one
time ``t``: ``corrector(score, x, t, *, generator=None, **options)``. The SMC samplers of
``numerics.sampling.smc`` follow the same shape.

Metropolis correctors (:func:`mala_corrector`, :func:`hmc_corrector`) accept or reject each
particle on its own and reject non-finite proposals. :func:`predictor_corrector` interleaves
a predictor step with corrector moves aimed at the next noise level (Song et al. 2021).

Cost is counted in per-particle evaluations (THEORY C13 compares samplers by their cost in
score and density evaluations): :class:`Counted` wraps a score or log-density and adds
``N`` to ``rows`` for every call on ``N`` points; :class:`PCResult` and the SMC results
(``numerics.sampling.smc``) report ``score_evals`` and ``density_evals`` counted this way.

DPM-Solver++(2M). With the data prediction (Tweedie) ``x̂_0(x, t) = (x + s_t² ∇log p_t(x)) / a_t``
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
"""

from __future__ import annotations

import math
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass
from functools import lru_cache
from typing import Any, NamedTuple, Protocol, TextIO, TypeVar

import torch
from torch import Tensor

from numerics.laws import Distribution
from numerics.laws.processes import VE, VP, ForwardProcess

Score = Callable[[Tensor, float], Tensor]
LogProb = Callable[[Tensor, float], Tensor]
Callback = Callable[[dict[str, Any]], None]
CALLBACK_KEYS = ("x", "i", "t", "score")

# Relative step of the central finite difference for processes without closed forms:
# the truncation error is O(δ²) and the round-off O(1e-16/δ), balanced near 1e-5.
FD_STEP = 1e-5
# Noised laws kept by exact_score/exact_log_prob: a Heun step needs two times at once.
CACHE_TIMES = 16
# Song et al. (2021)'s signal-to-noise ratio for the Langevin corrector (their VE setting).
DEFAULT_SNR = 0.16
# MALA/HMC corrector step in noise units: proposal std √(2h) = c s_t (MALA), leapfrog step
# ε = c s_t (HMC). Every component of p^t = N_t[p] has covariance ⪰ s_t² I, so s_t is the
# shortest length scale of a noised target; c = 1 keeps acceptance high (measured mean
# acceptance 0.92–1.0 on the 1-D bimodal law of tests/test_samplers.py under VP, 0.96 on
# THEORY C13's composed path, 5 leapfrog steps for HMC).
DEFAULT_STEP_SCALE = 1.0
DEFAULT_LEAPFROG = 5


class Sampler(Protocol):
    """The shared signature (module docstring): ``x (N, n)`` at ``times[0]`` ``-> (N, n)``
    at ``times[-1]``; method options are further keywords."""

    def __call__(self, score: Score, x: Tensor, times: Tensor, process: ForwardProcess, *,
                 generator: torch.Generator | None = None,
                 callback: Callback | None = None) -> Tensor: ...


# evaluation counting ------------------------------------------------------------------
class Counted:
    """A score or log-density ``(x (N, n), t) -> ...`` that tallies its cost.

    ``rows`` is the number of points evaluated over all calls: a call on ``N`` points adds
    ``N`` (per-particle evaluations, the unit in which THEORY C13 compares samplers).
    Wrapping a ``Counted`` again counts in both wrappers.
    """

    def __init__(self, fn: Callable[[Tensor, float], Tensor]) -> None:
        self.fn = fn
        self.rows = 0

    def __call__(self, x: Tensor, t: float) -> Tensor:
        self.rows += x.shape[0]
        return self.fn(x, t)


def counted(fn: Callable[[Tensor, float], Tensor]) -> Counted:
    """``fn`` wrapped in a fresh :class:`Counted` (``rows = 0``)."""
    return Counted(fn)


# progress -----------------------------------------------------------------------------
def progress(total: int, label: str = "sampling", stream: TextIO | None = None,
             every_s: float = 1.0) -> Callback:
    """A callback printing ``"label: step i/total, 12.3 s"`` (``i`` counted from 1, time since
    the first call) to ``stream`` (``None``: ``sys.stderr`` at call time), at most once per
    ``every_s`` seconds plus the first and last steps. It reads only ``state["i"]``, so it
    fits every sampler here and in ``numerics.sampling.smc``."""
    start: float | None = None
    last = -math.inf

    def report(state: dict[str, Any]) -> None:
        nonlocal start, last
        now = time.monotonic()
        if start is None:
            start = now
        step = int(state["i"]) + 1
        if now - last >= every_s or step == total:
            last = now
            print(f"{label}: step {step}/{total}, {now - start:.1f} s",
                  file=stream if stream is not None else sys.stderr, flush=True)

    return report


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


def _normal(x: Tensor, generator: torch.Generator) -> Tensor:
    """``z ~ N(0, I)`` shaped, typed and placed like ``x``."""
    return torch.randn(x.shape, generator=generator, dtype=x.dtype, device=x.device)


def require_generator(generator: torch.Generator | None, who: str) -> torch.Generator:
    """``generator``, or a ``ValueError`` naming ``who``: a sampler that draws random numbers
    takes them from an explicit generator, never from torch's global RNG."""
    if generator is None:
        raise ValueError(f"{who} draws random numbers: pass generator=torch.Generator()")
    return generator


# predictor kernels --------------------------------------------------------------------
# A predictor step from t to t' < t is a Gaussian kernel K(x'|x) = N(x'; m(x), v I): the
# samplers draw from it and numerics.sampling.smc also needs its density.
def euler_kernel(process: ForwardProcess, x: Tensor, sc: Tensor, t: float,
                 t_next: float) -> tuple[Tensor, float]:
    """``(m (N, n), v)`` of one Euler–Maruyama step of the reverse SDE (Song et al. 2021,
    eq. 6): ``m = x − (f x − g² ∇log p_t(x)) h``, ``v = g² h``, ``h = t − t' > 0``."""
    f, g2 = drift_diffusion(process, t)
    h = t - t_next
    return x - (f * x - g2 * sc) * h, g2 * h


def ancestral_kernel(process: ForwardProcess, x: Tensor, sc: Tensor, t: float,
                     t_next: float) -> tuple[Tensor, float]:
    """``(m (N, n), v)`` of the ancestral step (Ho et al. 2020): the exact Gaussian
    ``q(x_{t'} | x_t, x̂_0)`` at the Tweedie estimate ``x̂_0 = (x + s_t² ∇log p_t(x)) / a_t``.

    With ``a = a_t / a_{t'}`` and ``u = s_t² − a² s_{t'}²`` (the variance of ``x_t`` given
    ``x_{t'}``): ``m = (a s_{t'}² x + a_{t'} u x̂_0) / s_t²``, ``v = u s_{t'}² / s_t²``.
    """
    a_t, s_t = process.coefficients(t)
    a_n, s_n = process.coefficients(t_next)
    x0 = (x + s_t**2 * sc) / a_t
    a = a_t / a_n
    u = max(s_t**2 - a * a * s_n**2, 0.0)
    return (a * s_n**2 * x + a_n * u * x0) / s_t**2, u * s_n**2 / s_t**2


PREDICTORS = {"sde": euler_kernel, "ancestral": ancestral_kernel}


def choose(registry: dict[str, Any], name: str, what: str) -> Any:
    """``registry[name]``, or a ``ValueError`` naming ``what`` and the valid names."""
    if name not in registry:
        raise ValueError(f"unknown {what} {name!r}; choose from {sorted(registry)}")
    return registry[name]


# samplers -----------------------------------------------------------------------------
@torch.no_grad()
def reverse_sde_euler(score: Score, x: Tensor, times: Tensor, process: ForwardProcess, *,
                      generator: torch.Generator | None = None,
                      callback: Callback | None = None) -> Tensor:
    """Euler–Maruyama on the reverse SDE (Song et al. 2021, eq. 6); ``x (N, n) -> (N, n)``.

    ``x ← x − (f x − g² ∇log p_t) h + g √h z``, ``h = t_i − t_{i+1} > 0``, ``z ~ N(0, I)``
    (:func:`euler_kernel`); one score evaluation per particle and step.
    """
    return predictor_corrector(score, x, times, process,
                               generator=require_generator(generator, "reverse_sde_euler"),
                               callback=callback, predictor="sde").x


@torch.no_grad()
def ancestral(score: Score, x: Tensor, times: Tensor, process: ForwardProcess, *,
              generator: torch.Generator | None = None,
              callback: Callback | None = None) -> Tensor:
    """Ancestral sampling (Ho et al. 2020; :func:`ancestral_kernel`); ``(N, n) -> (N, n)``,
    one score evaluation per particle and step."""
    return predictor_corrector(score, x, times, process,
                               generator=require_generator(generator, "ancestral"),
                               callback=callback, predictor="ancestral").x


@torch.no_grad()
def probability_flow_heun(score: Score, x: Tensor, times: Tensor, process: ForwardProcess, *,
                          generator: torch.Generator | None = None,
                          callback: Callback | None = None) -> Tensor:
    """Heun's 2nd-order method on the probability-flow ODE (Karras et al. 2022, Alg. 1);
    ``dx/dt = f x − ½ g² ∇log p_t(x)``, deterministic, ``(N, n) -> (N, n)``; two score
    evaluations per particle and step. It draws nothing: ``generator`` is accepted for the
    shared signature and ignored."""

    def velocity(y: Tensor, t: float, sc: Tensor) -> Tensor:
        f, g2 = drift_diffusion(process, t)
        return f * y - 0.5 * g2 * sc

    x = x.clone()
    for i in range(len(times) - 1):
        t, t_next = float(times[i]), float(times[i + 1])
        sc = _score(score, x, t)
        _report(callback, x, i, t, sc)
        d = velocity(x, t, sc)
        x_euler = x + (t_next - t) * d
        d_next = velocity(x_euler, t_next, _score(score, x_euler, t_next))
        x = x + (t_next - t) * 0.5 * (d + d_next)
    return x


# correctors ---------------------------------------------------------------------------
@torch.no_grad()
def langevin_corrector(score: Score, x: Tensor, t: float, *, step_size: float, n_steps: int,
                       generator: torch.Generator | None = None) -> Tensor:
    """Unadjusted Langevin (Song et al. 2021, Alg. 4 corrector) on ``p_t``:
    ``x ← x + h ∇log p_t(x) + √(2h) z``; biased by ``O(h)``, ``(N, n) -> (N, n)``;
    ``n_steps`` score evaluations per particle."""
    generator = require_generator(generator, "langevin_corrector")
    for _ in range(n_steps):
        z = _normal(x, generator)
        x = x + step_size * _score(score, x, t) + math.sqrt(2.0 * step_size) * z
    return x


def _langevin_snr_step(score: Score, x: Tensor, t: float, snr: float,
                       generator: torch.Generator) -> Tensor:
    """One Langevin step with Song et al. (2021, Alg. 4)'s step rule
    ``h = 2 (r ‖z‖ / ‖∇log p_t(x)‖)²``, the norms averaged over particles (as in their
    code), so that the noise is ``r`` times the drift on average."""
    sc = _score(score, x, t)
    z = _normal(x, generator)
    ratio = z.norm(dim=-1).mean() / sc.norm(dim=-1).mean().clamp_min(torch.finfo(x.dtype).tiny)
    h = 2.0 * float(snr * ratio) ** 2
    return x + h * sc + math.sqrt(2.0 * h) * z


# Metropolis building blocks -----------------------------------------------------------
class MCMCState(NamedTuple):
    """Particles and their target's values there (like blackjax's ``MALAState``):
    ``position (N, n)``, unnormalized ``log_density (N,)`` and ``score (N, n)``."""

    position: Tensor
    log_density: Tensor
    score: Tensor


class ParticleState(Protocol):
    """What a Metropolis move reads from a state record (:class:`MCMCState`, or a record
    carrying more per-particle values, like ``numerics.sampling.smc.TemperedState``)."""

    @property
    def position(self) -> Tensor: ...

    @property
    def log_density(self) -> Tensor: ...

    @property
    def score(self) -> Tensor: ...


State = TypeVar("State", bound=ParticleState)
# The target evaluated at new positions y (N, n): a state record of the mover's own type.
Evaluate = Callable[[Tensor], State]


def _metropolis(log_ratio: Tensor, y: Tensor,
               generator: torch.Generator) -> tuple[Tensor, Tensor]:
    """Per-particle accept/reject: ``(accept (N,) bool, α (N,))`` with
    ``α = min(1, exp(log_ratio))``; a proposal with a non-finite coordinate or a NaN ratio
    has ``α = 0`` and is rejected."""
    ok = torch.isfinite(y).all(-1) & ~torch.isnan(log_ratio)
    log_alpha = torch.where(ok, log_ratio.clamp(max=0.0), -math.inf)
    u = torch.rand(y.shape[0], generator=generator, dtype=y.dtype, device=y.device)
    return torch.log(u) < log_alpha, log_alpha.exp()


def _select(accept: Tensor, new: State, old: State) -> State:
    """The record whose row ``i`` of every field is ``new``'s where ``accept[i]`` (``(N,)``
    bool), else ``old``'s; ``new`` and ``old`` are records of one NamedTuple type."""
    return type(old)._make(torch.where(accept.view(-1, *[1] * (a.dim() - 1)), a, b)
                           for a, b in zip(new, old, strict=True))


def mala_step(evaluate: Evaluate[State], state: State, step_size: float,
              generator: torch.Generator) -> tuple[State, Tensor]:
    """One MALA step (Roberts & Tweedie 1996), per-particle accept/reject; returns the new
    state (``evaluate`` at the kept positions) and the acceptance probabilities ``α (N,)``.

    ``state = evaluate(x)``, ``x = state.position (N, n)``. Proposal
    ``y ~ Q(·|x) = N(x + h ∇log π(x), 2h I)``; accept with
    ``min(1, π(y) Q(x|y) / (π(x) Q(y|x)))``, ``log Q(a|b) = −|a − b − h ∇log π(b)|² / 4h + c``.
    One evaluation (score and density) per particle.
    """
    h, x, sc = step_size, state.position, state.score
    y = x + h * sc + math.sqrt(2.0 * h) * _normal(x, generator)
    proposed = evaluate(y)
    log_fwd = -(y - x - h * sc).square().sum(-1) / (4.0 * h)
    log_bwd = -(x - y - h * proposed.score).square().sum(-1) / (4.0 * h)
    accept, alpha = _metropolis(proposed.log_density - state.log_density + log_bwd - log_fwd,
                                y, generator)
    return _select(accept, proposed, state), alpha


def _at_time(score: Score, log_prob: LogProb, t: float) -> Evaluate[MCMCState]:
    return lambda y: MCMCState(y, log_prob(y, t).to(y), _score(score, y, t))


@torch.no_grad()
def mala_corrector(score: Score, x: Tensor, t: float, *, log_prob: LogProb, step_size: float,
                   n_steps: int,
                   generator: torch.Generator | None = None) -> tuple[Tensor, Tensor]:
    """``n_steps`` of :func:`mala_step` on ``p_t``; returns the moved ``x (N, n)`` and each
    particle's mean acceptance probability ``(N,)``. Cost per particle: ``n_steps + 1``
    score and ``n_steps + 1`` density evaluations."""
    generator = require_generator(generator, "mala_corrector")
    evaluate = _at_time(score, log_prob, t)
    state = evaluate(x)
    rate = torch.zeros(x.shape[0], dtype=x.dtype, device=x.device)
    for _ in range(n_steps):
        state, alpha = mala_step(evaluate, state, step_size, generator)
        rate += alpha
    return state.position, rate / max(n_steps, 1)


def _leapfrog(score: Score, x: Tensor, p: Tensor, sc: Tensor, t: float, eps: float,
              n_leapfrog: int) -> tuple[Tensor, Tensor, Tensor]:
    """``n_leapfrog`` leapfrog steps of ``H = −log p_t(x) + |p|²/2`` (Neal 2011, eq. 5.18):
    ``p ← p + ½ε∇, x ← x + ε p, p ← p + ½ε∇``; returns ``(x, p, ∇log p_t(x))`` at the end."""
    p = p + 0.5 * eps * sc
    for k in range(n_leapfrog):
        x = x + eps * p
        sc = _score(score, x, t)
        p = p + (eps if k < n_leapfrog - 1 else 0.5 * eps) * sc
    return x, p, sc


@torch.no_grad()
def hmc_corrector(score: Score, x: Tensor, t: float, *, log_prob: LogProb, step_size: float,
                  n_leapfrog: int, n_steps: int,
                  generator: torch.Generator | None = None) -> tuple[Tensor, Tensor]:
    """HMC (Duane et al. 1987; Neal 2011) on ``p_t`` with identity mass; returns the moved
    ``x (N, n)`` and each particle's mean acceptance probability ``(N,)``.

    Each step draws ``p ~ N(0, I)``, runs :func:`_leapfrog` (``ε = step_size``) from
    ``(x, p)`` to ``(y, p')`` and accepts per particle with ``min(1, exp(H(x, p) − H(y, p')))``,
    ``H = −log p_t + |p|²/2``; non-finite proposals are rejected. Cost per particle:
    ``n_steps · n_leapfrog + 1`` score and ``n_steps + 1`` density evaluations.
    """
    generator = require_generator(generator, "hmc_corrector")
    state = MCMCState(x, log_prob(x, t).to(x), _score(score, x, t))
    rate = torch.zeros(x.shape[0], dtype=x.dtype, device=x.device)
    for _ in range(n_steps):
        p = _normal(state.position, generator)
        y, q, sc_y = _leapfrog(score, state.position, p, state.score, t, step_size,
                               n_leapfrog)
        proposed = MCMCState(y, log_prob(y, t).to(x), sc_y)
        kinetic = 0.5 * (q.square().sum(-1) - p.square().sum(-1))
        accept, alpha = _metropolis(proposed.log_density - state.log_density - kinetic, y,
                                    generator)
        state = _select(accept, proposed, state)
        rate += alpha
    return state.position, rate / max(n_steps, 1)


# predictor–corrector ------------------------------------------------------------------
@dataclass(frozen=True)
class CorrectorRule:
    """How a corrector moves at noise level ``s_t``: ``steps`` moves; Langevin with the
    signal-to-noise ratio ``snr`` (:func:`_langevin_snr_step`); MALA with ``h = (c s_t)²/2``
    (proposal std ``c s_t``); HMC with ``ε = c s_t`` and ``n_leapfrog`` leapfrog steps;
    ``c = step_scale``."""

    steps: int = 1
    snr: float = DEFAULT_SNR
    step_scale: float = DEFAULT_STEP_SCALE
    n_leapfrog: int = DEFAULT_LEAPFROG


def _langevin_move(score: Score, log_prob: LogProb | None, x: Tensor, t: float, s_t: float,
                   rule: CorrectorRule, generator: torch.Generator) -> tuple[Tensor, None]:
    for _ in range(rule.steps):
        x = _langevin_snr_step(score, x, t, rule.snr, generator)
    return x, None


def _mala_move(score: Score, log_prob: LogProb, x: Tensor, t: float, s_t: float,
               rule: CorrectorRule, generator: torch.Generator) -> tuple[Tensor, Tensor]:
    return mala_corrector(score, x, t, log_prob=log_prob,
                          step_size=0.5 * (rule.step_scale * s_t) ** 2, n_steps=rule.steps,
                          generator=generator)


def _hmc_move(score: Score, log_prob: LogProb, x: Tensor, t: float, s_t: float,
              rule: CorrectorRule, generator: torch.Generator) -> tuple[Tensor, Tensor]:
    return hmc_corrector(score, x, t, log_prob=log_prob, step_size=rule.step_scale * s_t,
                         n_leapfrog=rule.n_leapfrog, n_steps=rule.steps, generator=generator)


CORRECTORS = {"langevin": _langevin_move, "mala": _mala_move, "hmc": _hmc_move}
METROPOLIS_CORRECTORS = ("mala", "hmc")


@dataclass(frozen=True)
class PCResult:
    """Output of :func:`predictor_corrector`: samples ``x (N, n)``; ``acceptance (steps,)``,
    the corrector's mean acceptance probability over particles after step ``i`` (``None``
    without a Metropolis corrector); cost in per-particle evaluations."""

    x: Tensor
    acceptance: Tensor | None
    score_evals: int
    density_evals: int


@torch.no_grad()
def predictor_corrector(score: Score, x: Tensor, times: Tensor, process: ForwardProcess, *,
                        generator: torch.Generator | None = None,
                        callback: Callback | None = None, predictor: str = "sde",
                        corrector: str | None = None, log_prob: LogProb | None = None,
                        rule: CorrectorRule | None = None) -> PCResult:
    """Annealed predictor–corrector sampling (Song et al. 2021, Alg. 1–2); ``(N, n) -> (N, n)``.

    Step ``i``: a predictor step (``"sde"``: :func:`euler_kernel`, ``"ancestral"``:
    :func:`ancestral_kernel`) from ``times[i]`` to ``times[i+1]``, then corrector moves
    (``None``, ``"langevin"``, ``"mala"``, ``"hmc"``) aimed at ``p_{times[i+1]}`` with the
    step rule of ``rule`` (default :class:`CorrectorRule`). MALA and HMC need ``log_prob``.
    THEORY C13(a): the correctors follow the path ``p_t`` the scores describe; they repair
    discretization error, never the path.
    """
    kernel = choose(PREDICTORS, predictor, "predictor")
    move = None if corrector is None else choose(CORRECTORS, corrector, "corrector")
    if corrector in METROPOLIS_CORRECTORS and log_prob is None:
        raise ValueError(f"corrector {corrector!r} needs log_prob")
    generator = require_generator(generator, "predictor_corrector")
    rule = rule or CorrectorRule()
    score = counted(score)
    density = counted(log_prob) if log_prob is not None else None
    x, rates = x.clone(), []
    for i in range(len(times) - 1):
        t, t_next = float(times[i]), float(times[i + 1])
        sc = _score(score, x, t)
        _report(callback, x, i, t, sc)
        mean, var = kernel(process, x, sc, t, t_next)
        x = mean + math.sqrt(var) * _normal(x, generator)
        if move is not None:
            x, rate = move(score, density, x, t_next, process.s(t_next), rule, generator)
            rates.append(rate)
    acceptance = torch.stack([r.mean() for r in rates]) if rates and rates[0] is not None \
        else None
    return PCResult(x, acceptance, score.rows, density.rows if density is not None else 0)


def in_chunks(fn: Callable[[Tensor], Any], x: Tensor, chunk: int) -> Any:
    """``fn(x[c])`` over row chunks ``c`` of ``x (N, n)``, outputs concatenated (tuples
    elementwise), so that work arrays are ``chunk × n`` rather than ``N × n``; e.g.
    ``in_chunks(lambda c: probability_flow_heun(score, c, times, vp), x, 65536)``.

    Deterministic samplers give the unchunked result; random ones draw in another order
    (same law). Callbacks then see each chunk's trajectory in turn.
    """
    if chunk < 1:
        raise ValueError(f"chunk must be >= 1, got {chunk}")
    parts = [fn(c) for c in x.split(chunk)]
    if isinstance(parts[0], tuple):
        return tuple(torch.cat(col) for col in zip(*parts, strict=True))
    return torch.cat(parts)


# DPM-Solver++(2M) ---------------------------------------------------------------------
@torch.no_grad()
def dpm_solver_2m(score: Score, x: Tensor, times: Tensor, process: ForwardProcess, *,
                  generator: torch.Generator | None = None, callback: Callback | None = None,
                  stochastic_steps: int = 0) -> Tensor:
    """DPM-Solver++(2M) (Lu et al. 2022, Alg. 2) on the probability-flow ODE, with its SDE
    variant (their SDE-DPM-Solver++(2M)) on the first ``stochastic_steps`` steps; one score
    evaluation per step, ``x (N, n) -> (N, n)`` in the dtype and device of ``x``. Module
    docstring for the updates; ``generator`` is required when ``stochastic_steps > 0``
    (ignored otherwise)."""
    if stochastic_steps > 0:
        generator = require_generator(generator, "dpm_solver_2m with stochastic steps")
    x = x.clone()
    x0_prev, h_prev = None, None
    for i in range(len(times) - 1):
        t, t_next = float(times[i]), float(times[i + 1])
        a, s = process.coefficients(t)
        a_next, s_next = process.coefficients(t_next)
        sc = _score(score, x, t)
        _report(callback, x, i, t, sc)
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
            x.add_(_normal(x, generator), alpha=s_next * math.sqrt(keep))
        else:
            decay = s_next / s
            x = torch.add(x, d, alpha=-a_next * math.expm1(-h) / decay).mul_(decay)
        x0_prev, h_prev = x0, h
    return x
