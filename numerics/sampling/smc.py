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
more spread than independent draws at N = 200, so ``check`` tests them with replicate
permutation tests (``numerics.sampling.calibration.replicate_test``), exact whatever the
dependence inside a run; :func:`path_smc_runs` and :func:`tempered_smc_runs` make its
independent replicates as one batch (one evaluation call per step for all of them).

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
from collections.abc import Callable
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
    require_generator,
)

# The target at new positions ``y (M, n)`` for the rows ``rows (N,)`` (bool) of a batch of
# runs that they fill (``M = rows.sum()``): a state record of the mover's own type.
RowEvaluate = Callable[[Tensor, Tensor], State]
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
    return float(_group_ess(log_w[None])[0])


def systematic_resample(log_w: Tensor, generator: torch.Generator) -> Tensor:
    """Systematic resampling (Kitagawa 1996): indices ``(N,)`` (long) with ``idx_j`` the
    ``i`` whose cumulative weight interval ``[C_{i−1}, C_i)`` holds ``(U + j)/N``, one
    ``U ~ U[0, 1)``. Index ``i`` is drawn ``⌊N W_i⌋`` or ``⌈N W_i⌉`` times (``W`` the
    normalized weights), so a zero weight is never drawn. Cumulative sums run in float64 and
    are divided by their last entry, so that they end at exactly 1 and every point falls
    in some interval. Raises ``ValueError`` when every weight is zero."""
    return _group_resample(log_w[None], generator)[0]


def _gaussian_log_density(x: Tensor, mean: Tensor | float, var: float) -> Tensor:
    """``log N(x; mean, var I)`` ``(N,)`` for ``x (N, n)``."""
    n = x.shape[-1]
    return -(x - mean).square().sum(-1) / (2.0 * var) - 0.5 * n * math.log(2.0 * math.pi * var)


def _group_ess(log_w: Tensor) -> Tensor:
    """:func:`effective_sample_size` of each row of ``(G, m)`` log-weights ``-> (G,)``."""
    value = torch.exp(2.0 * torch.logsumexp(log_w, -1) - torch.logsumexp(2.0 * log_w, -1))
    return torch.nan_to_num(value, nan=0.0)


def _group_resample(log_w: Tensor, generator: torch.Generator) -> Tensor:
    """:func:`systematic_resample` within each row of ``(G, m)`` log-weights: indices
    ``(G, m)`` into the row, one uniform per row."""
    if bool((~torch.isfinite(log_w).any(-1)).any()) or bool(torch.isnan(log_w).any()):
        raise ValueError("systematic_resample needs log-weights without NaN, not all -inf")
    g, m = log_w.shape
    cum = torch.cumsum(torch.softmax(log_w.to(torch.float64), -1), -1)
    cum = cum / cum[:, -1:]
    u = torch.rand(g, 1, generator=generator, dtype=torch.float64, device=log_w.device)
    points = (u + torch.arange(m, dtype=torch.float64, device=log_w.device)) / m
    return torch.searchsorted(cum[:, :-1].contiguous(), points, right=True)


class _Weights:
    """Normalized log-weights ``(G, m)`` of ``G`` independent runs of ``m`` particles, the
    ``log Ẑ`` each accumulates ``(G,)`` and each run's history (ESS, resampled)."""

    def __init__(self, log_w: Tensor) -> None:
        g, m = log_w.shape
        self.log_w = torch.full_like(log_w, -math.log(m))
        self.log_z = torch.zeros(g, dtype=torch.float64, device=log_w.device)
        self.ess: list[list[float]] = [[] for _ in range(g)]
        self.resampled: list[list[bool]] = [[] for _ in range(g)]
        self.reweight(log_w, torch.ones(g, dtype=torch.bool, device=log_w.device))

    def reweight(self, log_inc: Tensor, active: Tensor) -> None:
        """``W ← W w`` and ``log Ẑ += log Σ W w`` for the ``active (G,)`` runs; NaN
        increments count as zero weight."""
        total = self.log_w + torch.nan_to_num(log_inc, nan=-math.inf)
        level = torch.logsumexp(total, -1, keepdim=True)
        self.log_z = self.log_z + torch.where(active, level[:, 0].to(self.log_z), 0.0)
        self.log_w = torch.where(active[:, None], total - level, self.log_w)

    def resample_if(self, threshold: float, active: Tensor,
                    generator: torch.Generator) -> Tensor | None:
        """Record each active run's ESS; where it is below ``threshold`` return systematic
        indices ``(G, m)`` (the identity for the other runs) and reset those weights;
        ``None`` when no run resamples."""
        ess = _group_ess(self.log_w)
        low = active & (ess < threshold)
        for r in torch.nonzero(active).flatten().tolist():
            self.ess[r].append(float(ess[r]))
            self.resampled[r].append(bool(low[r]))
        if not bool(low.any()):
            return None
        m = self.log_w.shape[1]
        idx = torch.where(low[:, None], _group_resample(self.log_w, generator),
                          torch.arange(m, device=self.log_w.device))
        self.log_w = torch.where(low[:, None], -math.log(m), self.log_w)
        return idx


def _take(idx: Tensor | None, state: State) -> State:
    """The particles ``idx (G, m)`` (indices within each run's block of ``m`` rows) of every
    field of a state record whose rows are ``G`` consecutive blocks (all of them for
    ``None``)."""
    if idx is None:
        return state
    g, m = idx.shape
    flat = (idx + m * torch.arange(g, device=idx.device)[:, None]).flatten()
    return type(state)._make(a[flat] for a in state)


def _rows(values: Tensor, m: int) -> Tensor:
    """Per-run values ``(G,)`` repeated for each of the run's ``m`` rows ``-> (G m,)``."""
    return values.repeat_interleave(m)


def _mala_sweeps(evaluate: RowEvaluate[State], state: State, h: Tensor, steps: int,
                 generator: torch.Generator) -> tuple[State, Tensor, Tensor]:
    """``steps`` MALA sweeps of ``G = len(h)`` runs, each run's step ``h`` adapted after
    each sweep from its own mean acceptance (``ADAPT_GAIN``); returns ``(state, mean
    acceptance (G,), adapted h (G,))``."""
    g = len(h)
    n = state.position.shape[-1]
    identity = torch.eye(n, dtype=state.position.dtype,
                         device=state.position.device).expand(g, n, n)
    moving = torch.ones(g, dtype=torch.bool, device=h.device)
    rates = []
    for _ in range(steps):
        state, alpha = _grouped_mala_step(evaluate, state, h, identity, moving, generator)
        rate = alpha.mean(-1)
        rates.append(rate)
        h = h * torch.exp(ADAPT_GAIN * (rate - ACCEPT_TARGET))
    mean = torch.stack(rates).mean(0) if rates else torch.full_like(h, math.nan)
    return state, mean, h


def _result(x: Tensor, weights: _Weights, r: int, schedule: list[float],
            acceptance: list[float], score: Counted, density: Counted) -> SMCResult:
    """Run ``r`` of a batch of ``G``: its block of ``x`` and its history; the batch's
    evaluations shared equally (``G = 1``: the run's own)."""
    g, m = weights.log_w.shape
    return SMCResult(
        x=x[r * m:(r + 1) * m], log_weights=weights.log_w[r],
        schedule=torch.tensor(schedule, dtype=torch.float64),
        ess=torch.tensor(weights.ess[r], dtype=torch.float64),
        resampled=torch.tensor(weights.resampled[r], dtype=torch.bool),
        acceptance=torch.tensor(acceptance, dtype=torch.float64),
        log_normalizer=float(weights.log_z[r]), score_evals=score.rows // g,
        density_evals=density.rows // g)


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
    return path_smc_runs(score, x, times, process, log_prob=log_prob, generator=generator,
                         callback=callback, predictor=predictor, ess_fraction=ess_fraction,
                         mcmc_steps=mcmc_steps, step_scale=step_scale, equalize=equalize,
                         runs=1)[0]


@torch.no_grad()
def path_smc_runs(score: Score, x: Tensor, times: Tensor, process: ForwardProcess, *,
                  log_prob: LogProb, runs: int, generator: torch.Generator | None = None,
                  callback: Callback | None = None, predictor: str = "sde",
                  ess_fraction: float = 0.5, mcmc_steps: int = 2,
                  step_scale: float = DEFAULT_STEP_SCALE,
                  equalize: bool = False) -> list[SMCResult]:
    """``runs`` independent :func:`path_smc` runs at once: ``x (runs · m, n)`` holds run
    ``r``'s particles in rows ``r m .. (r + 1) m − 1``; every weight, ESS, resampling,
    step-size adaptation and stopping rule is the run's own, and the runs draw disjoint
    random numbers, so they are independent runs (one batched evaluation per step serves
    them all). Evaluations are shared equally among the results. The callback sees the
    whole batch (the ESS of run 0)."""
    kernel = choose(PREDICTORS, predictor, "predictor")
    generator = require_generator(generator, "path_smc")
    score, density = counted(score), counted(log_prob)
    m = _run_size(x, runs)
    everyone = torch.ones(runs, dtype=torch.bool, device=x.device)

    def at(t: float) -> RowEvaluate[MCMCState]:
        return lambda y, rows: MCMCState(y, density(y, t).to(y), score(y, t).to(y))

    t0 = float(times[0])
    state = at(t0)(x.clone(), torch.ones(len(x), dtype=torch.bool))
    weights = _Weights((state.log_density - _gaussian_log_density(state.position, 0.0,
                                                                  process.s(t0) ** 2))
                       .view(runs, m))
    acceptance: list[Tensor] = []
    h: Tensor | None = None
    for i in range(len(times) - 1):
        t, t_next = float(times[i]), float(times[i + 1])
        x = state.position
        _emit(callback, PATH_CALLBACK_KEYS, x, i, t, weights.log_w.flatten(),
              effective_sample_size(weights.log_w[0]))
        mean, var = kernel(process, x, state.score, t, t_next)
        z = torch.randn(x.shape, generator=generator, dtype=x.dtype, device=x.device)
        proposed = at(t_next)(mean + math.sqrt(var) * z, everyone)
        y = proposed.position
        log_k = _gaussian_log_density(y, mean, var)
        weights.reweight((proposed.log_density
                          + _backward_log_density(process, x, y, t, t_next)
                          - state.log_density - log_k).view(runs, m), everyone)
        state = _take(weights.resample_if(ess_fraction * m, everyone, generator), proposed)
        h = (torch.full((runs,), 0.5 * (step_scale * process.s(t_next)) ** 2,
                        dtype=torch.float64, device=x.device) if h is None
             else h * (process.s(t_next) / process.s(t)) ** 2)
        state, rate, h = _mala_sweeps(at(t_next), state, h, mcmc_steps, generator)
        acceptance.append(rate)
    rates = torch.stack(acceptance, 1).tolist() if acceptance else [[]] * runs
    if not equalize:
        return [_result(state.position, weights, r, times.tolist(), rates[r], score, density)
                for r in range(runs)]
    state = _take(_group_resample(weights.log_w, generator), state)
    weights.log_w = torch.full_like(weights.log_w, -math.log(m))
    state, phases = _grouped_decorrelating_sweeps(
        at(float(times[-1])), state, torch.full((runs,), 0.5, dtype=torch.float64,
                                                device=x.device),
        everyone, decorrelation=DECORRELATION, min_sweeps=MIN_SWEEPS, max_sweeps=MAX_SWEEPS,
        generator=generator)
    return [replace(_result(state.position, weights, r, times.tolist(), rates[r], score,
                            density), diagnostics=_diagnostics([phases[r]], DECORRELATION))
            for r in range(runs)]


def _run_size(x: Tensor, runs: int) -> int:
    """Particles per run for ``x (runs · m, n)``; ``ValueError`` unless ``runs`` divides
    the rows."""
    if runs < 1 or len(x) % runs:
        raise ValueError(f"{len(x)} particles do not split into {runs} runs of equal size")
    return len(x) // runs


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


def _tempered(beta: Tensor, ref: GaussianReference, x: Tensor, lp: Tensor,
              sc: Tensor) -> TemperedState:
    """The state at ``x`` for ``π_β`` from ``lp = log π(x)``, ``sc = ∇log π(x)``, with
    ``beta (N,)`` the inverse temperature of each row's run:
    ``log π_β = (1−β) log ρ + β log π``, ``∇log π_β = (1−β)∇log ρ + β∇log π``."""
    b = beta[:, None]
    return TemperedState(x, (1.0 - beta) * ref.log_prob(x) + beta * lp,
                         (1.0 - b) * ref.score(x) + b * sc, lp, sc)


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
    return _population_factors(x[None])[0]


def _population_factors(x: Tensor) -> Tensor:
    """:func:`population_factor` of each run ``x (G, m, n) -> (G, n, n)``."""
    centred = x - x.mean(1, keepdim=True)
    cov = centred.transpose(1, 2) @ centred / max(x.shape[1] - 1, 1)
    ridge = RIDGE * cov.diagonal(dim1=-2, dim2=-1).mean(-1) + torch.finfo(x.dtype).tiny
    eye = torch.eye(x.shape[2], dtype=x.dtype, device=x.device)
    return torch.linalg.cholesky(cov + ridge[:, None, None] * eye)


def preconditioned_mala_step(evaluate: Evaluate[State], state: State, step_size: float,
                             factor: Tensor, generator: torch.Generator
                             ) -> tuple[State, Tensor]:
    """One MALA step with mass matrix ``M = L Lᵀ`` (``factor = L``; Roberts & Stramer
    2002), per-particle accept/reject; ``(new state, α (N,))``.

    Proposal ``y ~ Q(·|x) = N(x + h M ∇log π(x), 2h M)``, i.e. ``y = x + h M g + √(2h) L z``;
    ``log Q(a|b) = −|L⁻¹(a − b − h M ∇log π(b))|² / 4h + c``. ``L = I`` is
    ``samplers.mala_step``. One evaluation (score and density) per particle."""
    h = torch.tensor([step_size], dtype=torch.float64, device=factor.device)
    everyone = torch.ones(1, dtype=torch.bool, device=factor.device)
    state, alpha = _grouped_mala_step(_all_rows(evaluate), state, h, factor[None], everyone,
                                      generator)
    return state, alpha[0]


def _all_rows(evaluate: Evaluate[State]) -> RowEvaluate[State]:
    """A single run's ``evaluate(y)`` as a :data:`RowEvaluate` (every row moves)."""
    return lambda y, rows: evaluate(y)


def _grouped_mala_step(evaluate: RowEvaluate[State], state: State, h: Tensor, factor: Tensor,
                       moving: Tensor, generator: torch.Generator) -> tuple[State, Tensor]:
    """:func:`preconditioned_mala_step` for ``G`` runs at once: the state's rows are ``G``
    blocks of ``m``, run ``r`` with step ``h[r]`` and factor ``factor[r] (n, n)``; runs with
    ``moving[r]`` false are neither evaluated nor moved. ``α (G, m)`` (0 where not moving)."""
    g = len(h)
    x = state.position.view(g, -1, state.position.shape[-1])
    hh = h.to(x)[:, None, None]
    factor = factor.to(x)
    mass = factor @ factor.transpose(1, 2)
    drift = hh * (state.score.view(x.shape) @ mass)
    z = torch.randn(x.shape, generator=generator, dtype=x.dtype, device=x.device)
    y = x + drift + torch.sqrt(2.0 * hh) * (z @ factor.transpose(1, 2))
    proposed = _evaluate_moving(evaluate, state, y.reshape(state.position.shape),
                                _rows(moving, x.shape[1]))

    def log_q(a: Tensor, b: Tensor, drift_b: Tensor) -> Tensor:
        r = torch.linalg.solve_triangular(factor, (a - b - drift_b).transpose(1, 2),
                                          upper=False)
        return -r.square().sum(1) / (4.0 * hh[:, :, 0])

    log_ratio = (proposed.log_density.view(g, -1) - state.log_density.view(g, -1)
                 + log_q(x, y, hh * (proposed.score.view(x.shape) @ mass))
                 - log_q(y, x, drift))
    ok = torch.isfinite(y).all(-1) & ~torch.isnan(log_ratio) & moving[:, None]
    log_alpha = torch.where(ok, log_ratio.clamp(max=0.0), -math.inf)
    u = torch.rand(log_alpha.shape, generator=generator, dtype=x.dtype, device=x.device)
    accept = (torch.log(u) < log_alpha).flatten()
    return type(state)._make(torch.where(accept.view(-1, *[1] * (a.dim() - 1)), a, b)
                             for a, b in zip(proposed, state, strict=True)), log_alpha.exp()


def _evaluate_moving(evaluate: RowEvaluate[State], state: State, y: Tensor,
                     rows: Tensor) -> State:
    """``evaluate`` at ``y`` on the ``rows (N,)`` that move; the other rows keep ``state``'s
    values (they are not evaluated, nor counted)."""
    if bool(rows.all()):
        return evaluate(y, rows)
    fresh = evaluate(y[rows], rows)
    out = []
    for new, old in zip(fresh, state, strict=True):
        full = old.clone()
        full[rows] = new
        out.append(full)
    return type(state)._make(out)


def _decorrelating_sweeps(evaluate: Evaluate[State], state: State, h: float, *,
                          decorrelation: float, min_sweeps: int, max_sweeps: int,
                          generator: torch.Generator) -> tuple[State, MovePhase]:
    """Preconditioned MALA sweeps on ``γ`` (``evaluate``; mass matrix the population's
    covariance at the start, :func:`population_factor`) after a resampling until the
    residual correlation with the start (:func:`_residual_correlation`) is at most
    ``decorrelation``, at least ``min_sweeps`` and at most ``max_sweeps`` of them; ``h``
    adapts after every sweep toward ``ACCEPT_TARGET`` from the population's mean
    acceptance (``ADAPT_GAIN``)."""
    everyone = torch.ones(1, dtype=torch.bool, device=state.position.device)
    state, phases = _grouped_decorrelating_sweeps(
        _all_rows(evaluate), state, torch.tensor([h], dtype=torch.float64), everyone,
        decorrelation=decorrelation, min_sweeps=min_sweeps, max_sweeps=max_sweeps,
        generator=generator)
    return state, phases[0]


def _grouped_decorrelating_sweeps(evaluate: RowEvaluate[State], state: State, h: Tensor,
                                  active: Tensor, *, decorrelation: float, min_sweeps: int,
                                  max_sweeps: int, generator: torch.Generator
                                  ) -> tuple[State, list[MovePhase | None]]:
    """:func:`_decorrelating_sweeps` for ``G = len(h)`` runs (rows in ``G`` blocks), each
    with its own factor, step, acceptance and stopping rule; runs with ``active[r]`` false
    do not move (their phase is ``None``)."""
    g = len(h)
    start = state.position.view(g, -1, state.position.shape[-1]).clone()
    factor = _population_factors(start)
    h = h.clone()
    moving = active.clone()
    jumps = [torch.zeros(g, dtype=torch.float64)]
    sweeps = torch.zeros(g, dtype=torch.long)
    total_rate = torch.zeros(g, dtype=torch.float64)
    correlation = torch.ones(g, dtype=torch.float64)
    k = 0
    while bool(moving.any()) and k < max_sweeps:
        state, alpha = _grouped_mala_step(evaluate, state, h, factor, moving, generator)
        k += 1
        rate = alpha.mean(-1).to(torch.float64).cpu()
        mask = moving.cpu()
        sweeps += mask
        total_rate += torch.where(mask, rate, 0.0)
        h = torch.where(mask, h * torch.exp(ADAPT_GAIN * (rate - ACCEPT_TARGET)), h)
        jumps.append((state.position.view(start.shape) - start).square().sum(-1).mean(-1)
                     .to(torch.float64).cpu())
        corr = _residual_correlations(jumps[k], jumps[(k + 1) // 2])
        correlation = torch.where(mask, corr, correlation)
        moving = moving & ~((k >= min_sweeps) & (correlation <= decorrelation)).to(
            moving.device)
    moved = (state.position.view(start.shape) != start).any(-1).to(torch.float64).mean(-1)
    return state, [MovePhase(sweeps=int(sweeps[r]),
                             acceptance=float(total_rate[r] / sweeps[r]),
                             step_size=float(h[r]), moved=float(moved[r]),
                             correlation=float(correlation[r]))
                   if bool(active[r]) else None for r in range(g)]


def _residual_correlations(jump: Tensor, half_jump: Tensor) -> Tensor:
    """:func:`_residual_correlation` of each run ``(G,)``."""
    ratio = (jump / half_jump.clamp_min(torch.finfo(jump.dtype).tiny) - 1.0).clamp_min(0.0)
    return torch.where(half_jump <= 0.0, 1.0, ratio.square().clamp_max(1.0))


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
    ``ess_fraction · N`` (``_next_betas``), reweights by ``exp((β' − β)(log π − log ρ))``,
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
    return tempered_smc_runs(score, x, log_prob=log_prob, reference=reference, runs=1,
                             generator=generator, callback=callback,
                             ess_fraction=ess_fraction, decorrelation=decorrelation,
                             min_sweeps=min_sweeps, max_sweeps=max_sweeps,
                             max_stages=max_stages)[0]


@torch.no_grad()
def tempered_smc_runs(score: Score, x: Tensor, *, log_prob: LogProb,
                      reference: GaussianReference, runs: int,
                      generator: torch.Generator | None = None,
                      callback: Callback | None = None, ess_fraction: float = 0.5,
                      decorrelation: float = DECORRELATION, min_sweeps: int = MIN_SWEEPS,
                      max_sweeps: int = MAX_SWEEPS, max_stages: int = 1000
                      ) -> list[SMCResult]:
    """``runs`` independent :func:`tempered_smc` runs at once: ``x (runs · m, n)`` holds
    run ``r``'s particles in rows ``r m .. (r + 1) m − 1``. Each run has its own ``β``
    schedule, weights, resamplings, preconditioner, step size and stopping rule, and draws
    disjoint random numbers, so the runs are independent; a run that reached ``β = 1``
    waits (neither evaluated nor moved) while the others finish, and each evaluation call
    serves every run still moving. Evaluations are shared equally among the results. The
    callback sees the whole batch (``β`` and ESS of run 0)."""
    generator = require_generator(generator, "tempered_smc")
    ref = GaussianReference(reference.mean.to(x), float(reference.scale))
    score, density = counted(score), counted(log_prob)
    m = _run_size(x, runs)

    def at(beta: Tensor) -> RowEvaluate[TemperedState]:
        def evaluate(y: Tensor, rows: Tensor) -> TemperedState:
            b = _rows(beta, m).to(y)[rows.to(y.device)]
            return _tempered(b, ref, y, density(y, 0.0).to(y), score(y, 0.0).to(y))
        return evaluate

    state = at(torch.zeros(runs, dtype=torch.float64))(
        x.clone(), torch.ones(len(x), dtype=torch.bool))
    weights = _Weights(torch.zeros(runs, m, dtype=x.dtype, device=x.device))
    betas = torch.zeros(runs, dtype=torch.float64)
    schedules: list[list[float]] = [[0.0] for _ in range(runs)]
    phases: list[list[MovePhase]] = [[] for _ in range(runs)]
    h = torch.full((runs,), 0.5, dtype=torch.float64)
    stage = 0
    while bool((betas < 1.0).any()):
        if stage >= max_stages:
            raise RuntimeError(f"tempering reached beta={float(betas.min()):.4g} after "
                               f"{max_stages} stages; widen the reference or raise max_stages")
        active = betas < 1.0
        _emit(callback, TEMPERED_CALLBACK_KEYS, state.position, stage, float(betas[0]),
              weights.log_w.flatten(), effective_sample_size(weights.log_w[0]))
        log_ratio = torch.nan_to_num(state.target_log_density - ref.log_prob(state.position),
                                     nan=-math.inf).view(runs, m)
        new = torch.where(active, _next_betas(log_ratio.to(torch.float64).cpu(), betas,
                                              ess_fraction * m), betas)
        increment = torch.where(active[:, None], (new - betas)[:, None], 0.0).to(log_ratio)
        weights.reweight(torch.where(increment > 0, increment * log_ratio, 0.0),
                         active.to(log_ratio.device))
        state = _take(weights.resample_if(math.inf, active.to(log_ratio.device), generator),
                      state)
        state = _tempered(_rows(new, m).to(x), ref, state.position, state.target_log_density,
                          state.target_score)
        state, moved = _grouped_decorrelating_sweeps(
            at(new), state, h, active, decorrelation=decorrelation, min_sweeps=min_sweeps,
            max_sweeps=max_sweeps, generator=generator)
        for r in torch.nonzero(active).flatten().tolist():
            phase = moved[r]
            if phase is not None:
                h[r] = phase.step_size
                phases[r].append(phase)
                schedules[r].append(float(new[r]))
        betas = new
        stage += 1
    return [replace(_result(state.position, weights, r, schedules[r],
                            [p.acceptance for p in phases[r]], score, density),
                    diagnostics=_diagnostics(phases[r], decorrelation)) for r in range(runs)]


def _next_betas(log_ratio: Tensor, beta: Tensor, target: float) -> Tensor:
    """Per run (``log_ratio (G, m)``, ``beta (G,) -> (G,)``): the ``β' ∈ (β, 1]`` with
    ``ESS((β' − β) log_ratio) = target`` by bisection (the ESS falls monotonically in
    ``β'``: its log-derivative is ``2(E_δ − E_{2δ})[log_ratio] ≤ 0`` under the tilts
    ``∝ e^{δ log_ratio}``), or 1 when even ``β' = 1`` keeps it."""
    full = _group_ess((1.0 - beta)[:, None] * log_ratio) >= target
    lo, hi = torch.zeros_like(beta), 1.0 - beta
    for _ in range(BISECTION_STEPS):
        mid = 0.5 * (lo + hi)
        ok = _group_ess(mid[:, None] * log_ratio) >= target
        lo, hi = torch.where(ok, mid, lo), torch.where(ok, hi, mid)
    return torch.where(full, 1.0, beta + torch.where(lo > 0.0, lo, hi))


def _diagnostics(phases: list[MovePhase], decorrelation: float) -> TemperedDiagnostics:
    return TemperedDiagnostics(
        stages=len(phases), sweeps=tuple(p.sweeps for p in phases),
        acceptance=tuple(p.acceptance for p in phases),
        correlation=tuple(p.correlation for p in phases),
        moved=tuple(p.moved for p in phases),
        unmet=sum(p.correlation > decorrelation for p in phases))
