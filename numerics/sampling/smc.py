"""Sequential Monte Carlo samplers for composed targets (THEORY C13).

Both samplers move a weighted particle cloud ``(x_i, W_i)`` through a sequence of
unnormalized targets ``γ_0, γ_1, ..., γ_K`` (Del Moral, Doucet & Jasra 2006). Step ``k``
proposes ``x' ~ K_k(·|x)``, chooses a backward kernel ``L_{k−1}(x|x')`` and multiplies each
weight by the incremental weight

    w_k(x, x') = γ_k(x') L_{k−1}(x | x') / (γ_{k−1}(x) K_k(x' | x))      (their eq. 30)

(in the log domain). The estimate ``log Ẑ = Σ_k log Σ_i W_{k−1,i} w_{k,i}`` of
``log ∫ γ_K − log ∫ γ_0`` is unbiased in ``Ẑ`` (their §3.3; Del Moral 2004). When the
effective sample size ``ESS = (Σ w)² / Σ w²`` (Kong, Liu & Wong 1994) falls below
``ess_fraction · N``, particles are resampled systematically (one uniform ``U``, draws at
``(U + j)/N``, Kitagawa 1996; Douc & Cappé 2005) and weights reset to ``1/N``; then MALA
moves invariant for ``γ_k`` rejuvenate them without changing the weights.

- :func:`path_smc` follows the noisy path ``q_t`` (THEORY C13(a); for a composition
  ``q_t = C[p⃗^t]``, known through its score and unnormalized log-density). ``K`` is a
  reverse-SDE (or ancestral) step from ``t_i`` to ``t_{i+1}``; ``L`` is the forward noising
  kernel ``N(x_{t_i}; r x_{t_{i+1}}, (s_{t_i}² − r² s_{t_{i+1}}²) I)``, ``r = a_{t_i}/a_{t_{i+1}}``,
  which makes ``w ≡`` const when ``q_t`` is a true diffusion path and ``K`` its exact
  reverse. The start is ``x ~ N(0, s_T² I)`` weighted by ``q_T(x) / N(x; 0, s_T² I)``.
  With exact weights it is consistent as ``N → ∞`` for any path; C13(a) is about finite
  ``N``, when ``q_t`` moves mass between separated modes that hold few particles.
- :func:`tempered_smc` needs only the ``t = 0`` target ``π`` (THEORY C13(b)): the geometric
  path ``π_β ∝ ρ^{1−β} π^β`` from a Gaussian reference ``ρ = N(m, σ² I)`` with MCMC
  proposals and their time reversals as backward kernels, so that
  ``w = π_{β'}(x) / π_β(x) = exp((β' − β)(log π − log ρ)(x))`` (Del Moral et al. 2006,
  §3.3.2.3). The next ``β'`` solves ``ESS(w) = ess_fraction · N`` by bisection (Jasra,
  Stephens, Doucet & Tsagaris 2011; Zhou, Johansen & Aston 2016); particles are then
  resampled and moved at every stage.

MALA step sizes adapt between sweeps to an acceptance target from the population's mean
acceptance (each sweep is an exact ``γ_k``-invariant kernel; the population-based choice is
the adaptive SMC of Jasra et al. 2011, consistent by Beskos, Jasra, Kantas & Thiery 2016).
After a resampling the particles are duplicates, i.e. dependent draws; the tempered SMC (and
the path SMC's final step with ``equalize``) therefore moves them with MALA preconditioned
by the population's covariance until their residual correlation with the resampled start
is at most ``DECORRELATION`` (:func:`_decorrelating_sweeps`, issue 11), and reports the
stages, sweeps, acceptance and residual correlations as :class:`TemperedDiagnostics`.
Measured: this leaves no bias (40 pooled runs match exact draws) but the runs are still
more spread than independent draws at N = 200 (``benchmarks/results/calibration.md``).

Both follow the samplers' convention (``numerics.sampling.samplers``):
``path_smc(score, x, times, process, *, log_prob, generator, callback, **options)``, and
:func:`tempered_smc` as far as its maths allows (its docstring). Scores and log-densities
have the ``(x (N, n), t) -> (N, n) / (N,)`` signature of ``numerics.sampling.samplers``; the
``t = 0`` target of :func:`tempered_smc` is called with ``t = 0.0``. The particles travel
with their target's values as named records (:class:`~numerics.sampling.samplers.MCMCState`,
:class:`TemperedState`). Costs are per-particle evaluations (``samplers.counted``). Every
random draw takes an explicit ``torch.Generator``; dtype and device follow the particles.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, replace
from typing import Any, NamedTuple

import torch
from torch import Tensor

from numerics.laws.processes import ForwardProcess
from numerics.sampling.samplers import (
    DEFAULT_STEP_SCALE,
    PREDICTORS,
    Callback,
    Counted,
    Evaluate,
    LogProb,
    MCMCState,
    Score,
    State,
    choose,
    counted,
    mala_step,
    require_generator,
)

PATH_CALLBACK_KEYS = ("x", "i", "t", "log_w", "ess")
TEMPERED_CALLBACK_KEYS = ("x", "i", "beta", "log_w", "ess")
# Target mean MALA acceptance probability: 0.574 is optimal in high dimension (Roberts &
# Rosenthal 1998); in 2-D larger steps pay less, and 0.6 sits in the usual 0.5–0.7 range.
ACCEPT_TARGET = 0.6
# Step-size adaptation between sweeps: h ← h exp(ADAPT_GAIN (ᾱ − ACCEPT_TARGET)); from
# ᾱ = 0 the step shrinks ×0.30 per sweep, from ᾱ = 1 it grows ×2.2.
ADAPT_GAIN = 2.0
# Bisection on β' − β ∈ (0, 1 − β]: 60 halvings resolve it to 2^-60 ≈ 1e-18, below
# float64 resolution, so the ESS criterion is met as exactly as floats allow.
BISECTION_STEPS = 60


@dataclass(frozen=True)
class SMCResult:
    """Output of an SMC sampler.

    ``x (N, n)`` particles with normalized log-weights ``log_weights (N,)``
    (``logsumexp = 0``; all ``−log N`` after a final resampling, which
    :func:`tempered_smc` always does and :func:`path_smc` does when the last ESS fell below
    its threshold); ``schedule (K + 1,)`` the times (path) or inverse temperatures β
    (tempered), float64; per stage ``k = 1..K``: ``ess (K,)`` the ESS after reweighting,
    ``resampled (K,)`` whether it resampled, ``acceptance (K,)`` the mean MALA acceptance
    probability; ``log_normalizer`` ``log Ẑ`` (module docstring); cost in per-particle
    score and log-density evaluations; ``diagnostics`` the move phases of
    :func:`tempered_smc` (``None`` for :func:`path_smc`).
    """

    x: Tensor
    log_weights: Tensor
    schedule: Tensor
    ess: Tensor
    resampled: Tensor
    acceptance: Tensor
    log_normalizer: float
    score_evals: int
    density_evals: int
    diagnostics: TemperedDiagnostics | None = None

    @property
    def weights(self) -> Tensor:
        """Normalized weights ``(N,)``."""
        return self.log_weights.exp()

    @property
    def resamplings(self) -> int:
        """How many stages resampled."""
        return int(self.resampled.sum())


# weights ------------------------------------------------------------------------------
def effective_sample_size(log_w: Tensor) -> float:
    """``(Σ w)² / Σ w²`` for unnormalized log-weights ``(N,)`` (Kong, Liu & Wong 1994):
    ``N`` for equal weights, 1 when one weight dominates; 0 when every weight is zero."""
    value = torch.exp(2.0 * torch.logsumexp(log_w, 0) - torch.logsumexp(2.0 * log_w, 0))
    return float(torch.nan_to_num(value, nan=0.0))


def systematic_resample(log_w: Tensor, generator: torch.Generator) -> Tensor:
    """Systematic resampling (Kitagawa 1996): indices ``(N,)`` (long) with ``idx_j`` the
    ``i`` whose cumulative weight interval ``[C_{i−1}, C_i)`` holds ``(U + j)/N``, one
    ``U ~ U[0, 1)``. Index ``i`` is drawn ``⌊N W_i⌋`` or ``⌈N W_i⌉`` times (``W`` the
    normalized weights), so a zero weight is never drawn. Cumulative sums run in float64 and
    are divided by their last entry, so that they end at exactly 1 and every point falls
    in some interval. Raises ``ValueError`` when every weight is zero."""
    n = log_w.shape[0]
    if not bool(torch.isfinite(log_w).any()) or bool(torch.isnan(log_w).any()):
        raise ValueError("systematic_resample needs log-weights without NaN, not all -inf")
    cum = torch.cumsum(torch.softmax(log_w.to(torch.float64), 0), 0)
    cum = cum / cum[-1]
    u = torch.rand(1, generator=generator, dtype=torch.float64, device=log_w.device)
    points = (u + torch.arange(n, dtype=torch.float64, device=log_w.device)) / n
    return torch.searchsorted(cum[:-1], points, right=True)


def _normalized(log_w: Tensor) -> Tensor:
    return log_w - torch.logsumexp(log_w, 0)


def _gaussian_log_density(x: Tensor, mean: Tensor | float, var: float) -> Tensor:
    """``log N(x; mean, var I)`` ``(N,)`` for ``x (N, n)``."""
    n = x.shape[-1]
    return -(x - mean).square().sum(-1) / (2.0 * var) - 0.5 * n * math.log(2.0 * math.pi * var)


class _Weights:
    """Normalized log-weights ``(N,)``, the ``log Ẑ`` they accumulate and the per-stage
    history (ESS, resampled)."""

    def __init__(self, log_w: Tensor) -> None:
        self.log_w = torch.full_like(log_w, -math.log(log_w.shape[0]))
        self.log_z = 0.0
        self.ess: list[float] = []
        self.resampled: list[bool] = []
        self.reweight(log_w)

    def reweight(self, log_inc: Tensor) -> None:
        """``W ← W w`` and ``log Ẑ += log Σ W w``; NaN increments count as zero weight."""
        total = self.log_w + torch.nan_to_num(log_inc, nan=-math.inf)
        self.log_z += float(torch.logsumexp(total, 0))
        self.log_w = _normalized(total)

    def resample_if(self, threshold: float, generator: torch.Generator) -> Tensor | None:
        """Record the ESS; below ``threshold`` return systematic indices and reset weights."""
        ess = effective_sample_size(self.log_w)
        self.ess.append(ess)
        self.resampled.append(ess < threshold)
        if ess >= threshold:
            return None
        idx = systematic_resample(self.log_w, generator)
        self.log_w = torch.full_like(self.log_w, -math.log(self.log_w.shape[0]))
        return idx


def _take(idx: Tensor | None, state: State) -> State:
    """The particles ``idx (N,)`` of every field of a state record (all of them for
    ``None``)."""
    if idx is None:
        return state
    return type(state)._make(a[idx] for a in state)


def _mala_sweeps(evaluate: Evaluate[State], state: State, h: float, steps: int,
                 generator: torch.Generator) -> tuple[State, float, float]:
    """``steps`` MALA sweeps, the step ``h`` adapted after each (``ADAPT_GAIN``); returns
    ``(state, mean acceptance, adapted h)``."""
    rates = []
    for _ in range(steps):
        state, alpha = mala_step(evaluate, state, h, generator)
        rate = float(alpha.mean())
        rates.append(rate)
        h *= math.exp(ADAPT_GAIN * (rate - ACCEPT_TARGET))
    return state, (sum(rates) / len(rates) if rates else math.nan), h


def _result(x: Tensor, weights: _Weights, schedule: list[float], acceptance: list[float],
            score: Counted, density: Counted) -> SMCResult:
    return SMCResult(
        x=x, log_weights=weights.log_w,
        schedule=torch.tensor(schedule, dtype=torch.float64),
        ess=torch.tensor(weights.ess, dtype=torch.float64),
        resampled=torch.tensor(weights.resampled, dtype=torch.bool),
        acceptance=torch.tensor(acceptance, dtype=torch.float64),
        log_normalizer=weights.log_z, score_evals=score.rows, density_evals=density.rows)


def _emit(callback: Callback | None, keys: tuple[str, ...], *values: Any) -> None:
    if callback is not None:
        callback(dict(zip(keys, values, strict=True)))


# SMC along the noisy path -------------------------------------------------------------
def _backward_log_density(process: ForwardProcess, x: Tensor, y: Tensor, t: float,
                          t_next: float) -> Tensor:
    """``log L(x | y)`` ``(N,)`` for the forward noising kernel from ``t_next`` to ``t``:
    ``N(x; r y, (s_t² − r² s_{t_next}²) I)``, ``r = a_t / a_{t_next}``."""
    a_t, s_t = process.coefficients(t)
    a_n, s_n = process.coefficients(t_next)
    r = a_t / a_n
    return _gaussian_log_density(x, r * y, s_t**2 - r * r * s_n**2)


@torch.no_grad()
def path_smc(score: Score, x: Tensor, times: Tensor, process: ForwardProcess, *,
             log_prob: LogProb, generator: torch.Generator | None = None,
             callback: Callback | None = None, predictor: str = "sde",
             ess_fraction: float = 0.5, mcmc_steps: int = 2,
             step_scale: float = DEFAULT_STEP_SCALE, equalize: bool = False) -> SMCResult:
    """SMC along ``q_t`` (THEORY C13(a); module docstring): ``x (N, n)`` drawn from
    ``N(0, s_T² I)`` (``samplers.prior_sample``), ``times`` decreasing from ``T``,
    ``score``/``log_prob`` those of ``q_t``.

    Step ``i``: propose with the ``predictor`` kernel (``"sde"`` or ``"ancestral"``) from
    ``t_i`` to ``t_{i+1}``, reweight by ``q_{t_{i+1}}(x') L(x|x') / (q_{t_i}(x) K(x'|x))``,
    resample if ``ESS < ess_fraction · N``, then ``mcmc_steps`` MALA sweeps on
    ``q_{t_{i+1}}`` starting at ``h = (step_scale · s_{t_{i+1}})² / 2`` (proposal std
    ``step_scale · s``), adapted between sweeps. The callback receives
    ``PATH_CALLBACK_KEYS`` before step ``i``. Cost per particle: ``1 + steps (1 +
    mcmc_steps)`` score and as many density evaluations, plus the final sweeps.

    With ``equalize`` the run ends with equally weighted, decorrelated particles: a
    systematic resampling at the last time, then preconditioned MALA sweeps on
    ``q_{t_K}`` until the residual correlation with the resampled start is at most
    ``DECORRELATION`` (:func:`_decorrelating_sweeps`, initial ``h = 1/2``; ``diagnostics``
    reports them as one stage). Without it, the duplicates of a final resampling are
    dependent draws, which a two-sample test calibrated on independent draws takes for a
    discrepancy (``benchmarks/results/calibration.md``).
    """
    kernel = choose(PREDICTORS, predictor, "predictor")
    generator = require_generator(generator, "path_smc")
    score, density = counted(score), counted(log_prob)

    def at(t: float) -> Evaluate[MCMCState]:
        return lambda y: MCMCState(y, density(y, t).to(y), score(y, t).to(y))

    t0 = float(times[0])
    state = at(t0)(x.clone())
    weights = _Weights(state.log_density
                       - _gaussian_log_density(state.position, 0.0, process.s(t0) ** 2))
    acceptance: list[float] = []
    h: float | None = None
    for i in range(len(times) - 1):
        t, t_next = float(times[i]), float(times[i + 1])
        x = state.position
        _emit(callback, PATH_CALLBACK_KEYS, x, i, t, weights.log_w,
              effective_sample_size(weights.log_w))
        mean, var = kernel(process, x, state.score, t, t_next)
        z = torch.randn(x.shape, generator=generator, dtype=x.dtype, device=x.device)
        proposed = at(t_next)(mean + math.sqrt(var) * z)
        y = proposed.position
        log_k = _gaussian_log_density(y, mean, var)
        weights.reweight(proposed.log_density + _backward_log_density(process, x, y, t, t_next)
                         - state.log_density - log_k)
        state = _take(weights.resample_if(ess_fraction * len(x), generator), proposed)
        h = (0.5 * (step_scale * process.s(t_next)) ** 2 if h is None
             else h * (process.s(t_next) / process.s(t)) ** 2)
        state, rate, h = _mala_sweeps(at(t_next), state, h, mcmc_steps, generator)
        acceptance.append(rate)
    if not equalize:
        return _result(state.position, weights, times.tolist(), acceptance, score, density)
    state = _take(systematic_resample(weights.log_w, generator), state)
    weights.log_w = torch.full_like(weights.log_w, -math.log(len(weights.log_w)))
    state, phase = _decorrelating_sweeps(at(float(times[-1])), state, 0.5,
                                         decorrelation=DECORRELATION, min_sweeps=MIN_SWEEPS,
                                         max_sweeps=MAX_SWEEPS, generator=generator)
    result = _result(state.position, weights, times.tolist(), acceptance, score, density)
    return replace(result, diagnostics=_diagnostics([phase], DECORRELATION))


# SMC along a tempering path at t = 0 ---------------------------------------------------
class GaussianReference(NamedTuple):
    """The tempering reference ``ρ = N(mean, scale² I)``, ``mean (n,)``."""

    mean: Tensor
    scale: float

    def sample(self, n: int, generator: torch.Generator, dtype: torch.dtype = torch.float64,
               device: torch.device | str = "cpu") -> Tensor:
        """``(n, dim)`` draws of ``ρ``: the initial particles of :func:`tempered_smc`."""
        mean = self.mean.to(dtype=dtype, device=device)
        return mean + self.scale * torch.randn(n, mean.shape[0], generator=generator,
                                               dtype=dtype, device=device)

    def log_prob(self, x: Tensor) -> Tensor:
        """``log ρ(x)`` ``(N,)``."""
        return _gaussian_log_density(x, self.mean, self.scale**2)

    def score(self, x: Tensor) -> Tensor:
        """``∇log ρ(x) = −(x − m)/σ²`` ``(N, n)``."""
        return -(x - self.mean) / self.scale**2


class TemperedState(NamedTuple):
    """Particles ``position (N, n)`` with the values of ``π_β ∝ ρ^{1−β} π^β`` a MALA move
    needs (``log_density (N,)``, ``score (N, n)``) and those of ``π`` itself
    (``target_log_density``, ``target_score``), carried so that a new ``β`` needs no new
    evaluation of ``π``."""

    position: Tensor
    log_density: Tensor
    score: Tensor
    target_log_density: Tensor
    target_score: Tensor


def _tempered(beta: float, ref: GaussianReference, x: Tensor, lp: Tensor,
              sc: Tensor) -> TemperedState:
    """The state at ``x`` for ``π_β`` from ``lp = log π(x)``, ``sc = ∇log π(x)``:
    ``log π_β = (1−β) log ρ + β log π``, ``∇log π_β = (1−β)∇log ρ + β∇log π``."""
    return TemperedState(x, (1.0 - beta) * ref.log_prob(x) + beta * lp,
                         (1.0 - beta) * ref.score(x) + beta * sc, lp, sc)


def _next_beta(log_ratio: Tensor, beta: float, target: float) -> float:
    """The ``β' ∈ (β, 1]`` with ``ESS((β' − β) log_ratio) = target`` by bisection (the ESS
    falls monotonically in ``β'``: its log-derivative is ``2(E_δ − E_{2δ})[log_ratio] ≤ 0``
    under the tilts ``∝ e^{δ log_ratio}``), or 1 when even ``β' = 1`` keeps it."""
    if effective_sample_size((1.0 - beta) * log_ratio) >= target:
        return 1.0
    lo, hi = 0.0, 1.0 - beta
    for _ in range(BISECTION_STEPS):
        mid = 0.5 * (lo + hi)
        if effective_sample_size(mid * log_ratio) >= target:
            lo = mid
        else:
            hi = mid
    return beta + (lo if lo > 0.0 else hi)


@dataclass(frozen=True)
class MovePhase:
    """What the MALA sweeps after one resampling did (:func:`_decorrelating_sweeps`):
    ``sweeps`` made, their mean ``acceptance``, the final ``step_size`` ``h``, the
    ``moved`` share of particles whose position changed, and ``correlation``, the residual
    correlation with the resampled start estimated from the squared jump distances
    (:func:`_residual_correlation`; ``≤ decorrelation`` when the criterion was met)."""

    sweeps: int
    acceptance: float
    step_size: float
    moved: float
    correlation: float


@dataclass(frozen=True)
class TemperedDiagnostics:
    """Per run of :func:`tempered_smc`: ``stages``, and per stage the move phase's
    ``sweeps``, ``acceptance`` and residual ``correlation`` (the diversity statistic), plus
    ``unmet``, how many stages hit ``max_sweeps`` before the decorrelation criterion."""

    stages: int
    sweeps: tuple[int, ...]
    acceptance: tuple[float, ...]
    correlation: tuple[float, ...]
    moved: tuple[float, ...]
    unmet: int

    @property
    def total_sweeps(self) -> int:
        return sum(self.sweeps)

    @property
    def max_correlation(self) -> float:
        """The largest residual correlation over the stages (the run's diversity
        statistic: 0 for fully decorrelated moves, 1 for particles that never moved)."""
        return max(self.correlation, default=0.0)


def _residual_correlation(jump: float, half_jump: float) -> float:
    """The correlation ``ρ^k`` left after ``k`` sweeps, from the mean squared jump
    distances ``J_k`` (``jump``) and ``J_{⌈k/2⌉}`` (``half_jump``) from the resampled start.

    For a chain started in its stationary law whose state correlates with the start as
    ``ρ^k`` (AR(1), the shape of a Metropolis chain's slowest mode), ``J_k = 2 V (1 − ρ^k)``
    with ``V`` the within-mode variance, so ``J_k / J_{k/2} = 1 + ρ^{k/2}`` and
    ``ρ^k = (J_k / J_{k/2} − 1)²``. It needs neither ``V`` nor the modes: jumps between
    modes (which MALA does not make at large ``β``) do not enter. 1 when nothing moved."""
    if half_jump <= 0.0:
        return 1.0
    return min(1.0, max(jump / half_jump - 1.0, 0.0) ** 2)


def population_factor(x: Tensor) -> Tensor:
    """A Cholesky factor ``L (n, n)`` of the particles' covariance ``Σ̂`` plus a ridge of
    ``RIDGE · tr(Σ̂)/n`` (so that a degenerate population still gives a factor): the MALA
    preconditioner of :func:`preconditioned_mala_step` (the population-adapted proposal
    scale of SMC samplers: Chopin 2002; Jasra et al. 2011)."""
    centred = x - x.mean(0)
    cov = centred.T @ centred / max(len(x) - 1, 1)
    ridge = RIDGE * float(cov.diagonal().mean()) + torch.finfo(x.dtype).tiny
    return torch.linalg.cholesky(cov + ridge * torch.eye(x.shape[1], dtype=x.dtype,
                                                         device=x.device))


def preconditioned_mala_step(evaluate: Evaluate[State], state: State, step_size: float,
                             factor: Tensor, generator: torch.Generator
                             ) -> tuple[State, Tensor]:
    """One MALA step with mass matrix ``M = L Lᵀ`` (``factor = L``; Roberts & Stramer
    2002), per-particle accept/reject; ``(new state, α (N,))``.

    Proposal ``y ~ Q(·|x) = N(x + h M ∇log π(x), 2h M)``, i.e. ``y = x + h M g + √(2h) L z``;
    ``log Q(a|b) = −|L⁻¹(a − b − h M ∇log π(b))|² / 4h + c``. ``L = I`` is
    ``samplers.mala_step``. One evaluation (score and density) per particle."""
    h, x = step_size, state.position
    mass = factor @ factor.T
    drift = h * state.score @ mass
    z = torch.randn(x.shape, generator=generator, dtype=x.dtype, device=x.device)
    y = x + drift + math.sqrt(2.0 * h) * z @ factor.T
    proposed = evaluate(y)

    def log_q(a: Tensor, b: Tensor, drift_b: Tensor) -> Tensor:
        r = torch.linalg.solve_triangular(factor, (a - b - drift_b).T, upper=False)
        return -r.square().sum(0) / (4.0 * h)

    log_ratio = (proposed.log_density - state.log_density
                 + log_q(x, y, h * proposed.score @ mass) - log_q(y, x, drift))
    ok = torch.isfinite(y).all(-1) & ~torch.isnan(log_ratio)
    log_alpha = torch.where(ok, log_ratio.clamp(max=0.0), -math.inf)
    u = torch.rand(x.shape[0], generator=generator, dtype=x.dtype, device=x.device)
    accept = torch.log(u) < log_alpha
    return type(state)._make(torch.where(accept.view(-1, *[1] * (a.dim() - 1)), a, b)
                             for a, b in zip(proposed, state, strict=True)), log_alpha.exp()


def _decorrelating_sweeps(evaluate: Evaluate[State], state: State, h: float, *,
                          decorrelation: float, min_sweeps: int, max_sweeps: int,
                          generator: torch.Generator) -> tuple[State, MovePhase]:
    """Preconditioned MALA sweeps on ``γ`` (``evaluate``; mass matrix the population's
    covariance at the start, :func:`population_factor`) after a resampling until the
    residual correlation with the start (:func:`_residual_correlation`) is at most
    ``decorrelation``, at least ``min_sweeps`` and at most ``max_sweeps`` of them; ``h``
    adapts after every sweep toward ``ACCEPT_TARGET`` from the population's mean
    acceptance (``ADAPT_GAIN``)."""
    start = state.position
    factor = population_factor(start)
    jumps, rates = [0.0], []
    correlation = 1.0
    while len(rates) < max_sweeps:
        state, alpha = preconditioned_mala_step(evaluate, state, h, factor, generator)
        rate = float(alpha.mean())
        rates.append(rate)
        h *= math.exp(ADAPT_GAIN * (rate - ACCEPT_TARGET))
        jumps.append(float((state.position - start).square().sum(-1).mean()))
        k = len(rates)
        correlation = _residual_correlation(jumps[k], jumps[(k + 1) // 2])
        if k >= min_sweeps and correlation <= decorrelation:
            break
    moved = float((state.position != start).any(-1).to(torch.float64).mean())
    return state, MovePhase(sweeps=len(rates), acceptance=sum(rates) / len(rates),
                            step_size=h, moved=moved, correlation=correlation)


# Move phase of tempered_smc: sweeps until the residual correlation with the resampled start
# is ≤ 0.01 (an AR(1) chain then keeps 1 % of its start), at least 4 sweeps (the criterion
# compares J_k with J_{k/2}: 4 sweeps give two halves of two), at most 200.
DECORRELATION = 0.01
MIN_SWEEPS = 4
MAX_SWEEPS = 200
# Ridge of the population covariance, relative to its mean variance.
RIDGE = 1e-6


@torch.no_grad()
def tempered_smc(score: Score, x: Tensor, *, log_prob: LogProb, reference: GaussianReference,
                 generator: torch.Generator | None = None, callback: Callback | None = None,
                 ess_fraction: float = 0.5, decorrelation: float = DECORRELATION,
                 min_sweeps: int = MIN_SWEEPS, max_sweeps: int = MAX_SWEEPS,
                 max_stages: int = 1000) -> SMCResult:
    """Adaptive tempered SMC for ``π`` (THEORY C13(b); module docstring).

    The samplers' convention at ``t = 0``: ``score``/``log_prob`` are ``π``'s score and
    unnormalized log-density, called as ``(x, 0.0)``; ``x (N, n)`` are the initial particles,
    draws of the reference ``ρ`` (``reference.sample(N, generator)``), as the path samplers'
    are draws of ``N(0, s_T² I)``; there are no ``times`` and no ``process``: the schedule is
    the inverse temperatures ``β`` from 0 to 1, chosen adaptively and returned as
    ``schedule``. ``ρ`` must cover ``π``: take ``π``'s mean (or any central point) and a few
    times its largest standard deviation plus the spread of its modes, e.g.
    ``3 sqrt(λ_max(Cov π))``; a ``ρ`` narrower than ``π`` leaves tails unexplored (the
    weights cannot recover them).

    Each stage picks ``β'`` so that the ESS of the incremental weights is
    ``ess_fraction · N`` (``_next_beta``), reweights by ``exp((β' − β)(log π − log ρ))``,
    resamples systematically and moves the particles by MALA sweeps on ``π_{β'}`` until
    their residual correlation with the resampled start is at most ``decorrelation``
    (:func:`_decorrelating_sweeps`; ``min_sweeps`` to ``max_sweeps`` sweeps; the step
    ``h``, initially ``1/2`` (proposal std ``√(2h)`` times the population's), adapts
    toward ``ACCEPT_TARGET`` and carries across stages).
    Raises ``RuntimeError`` if ``β`` has not reached 1 after ``max_stages``.
    ``log_normalizer`` estimates ``log ∫ exp(log_prob(·, 0))``; ``diagnostics`` holds the
    stages, sweeps, acceptance and residual correlation (:class:`TemperedDiagnostics`).
    The callback receives ``TEMPERED_CALLBACK_KEYS`` before each stage. Cost per particle:
    ``1 + total sweeps`` evaluations of each.
    """
    generator = require_generator(generator, "tempered_smc")
    ref = GaussianReference(reference.mean.to(x), float(reference.scale))
    score, density = counted(score), counted(log_prob)

    def at(beta: float) -> Evaluate[TemperedState]:
        return lambda y: _tempered(beta, ref, y, density(y, 0.0).to(y), score(y, 0.0).to(y))

    state = at(0.0)(x.clone())
    weights, betas, phases = _Weights(torch.zeros_like(state.log_density)), [0.0], []
    h = 0.5
    while betas[-1] < 1.0:
        if len(betas) > max_stages:
            raise RuntimeError(f"tempering reached beta={betas[-1]:.4g} after {max_stages} "
                               "stages; widen the reference or raise max_stages")
        beta = betas[-1]
        _emit(callback, TEMPERED_CALLBACK_KEYS, state.position, len(betas) - 1, beta,
              weights.log_w, effective_sample_size(weights.log_w))
        log_ratio = torch.nan_to_num(state.target_log_density - ref.log_prob(state.position),
                                     nan=-math.inf)
        new = _next_beta(log_ratio, beta, ess_fraction * len(state.position))
        weights.reweight((new - beta) * log_ratio)
        state = _take(weights.resample_if(math.inf, generator), state)
        state = _tempered(new, ref, state.position, state.target_log_density,
                          state.target_score)
        state, phase = _decorrelating_sweeps(at(new), state, h, decorrelation=decorrelation,
                                             min_sweeps=min_sweeps, max_sweeps=max_sweeps,
                                             generator=generator)
        h = phase.step_size
        betas.append(new)
        phases.append(phase)
    result = _result(state.position, weights, betas, [p.acceptance for p in phases], score,
                     density)
    return replace(result, diagnostics=_diagnostics(phases, decorrelation))


def _diagnostics(phases: list[MovePhase], decorrelation: float) -> TemperedDiagnostics:
    return TemperedDiagnostics(
        stages=len(phases), sweeps=tuple(p.sweeps for p in phases),
        acceptance=tuple(p.acceptance for p in phases),
        correlation=tuple(p.correlation for p in phases),
        moved=tuple(p.moved for p in phases),
        unmet=sum(p.correlation > decorrelation for p in phases))
