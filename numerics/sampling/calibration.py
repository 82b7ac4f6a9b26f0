"""Calibrated two-sample verdicts: thresholds set from null runs (DESIGN.md, sample-level
metrics; "a measured null distribution for sample statistics").

A *null run* compares two independent sets of ``N`` exact draws from the target. With
``R`` null values ``T_1..T_R`` and a fresh value ``T_0`` from the same law (the situation
under the null hypothesis: both sample sets come from one law), the ranks of
``T_0, ..., T_R`` are exchangeable, so for continuous statistics

    P(T_0 > T_(m))  =  m / (R + 1),

where ``T_(m)`` is the ``m``-th largest null value: a Monte Carlo test of exact level
(Barnard 1963; Besag & Clifford 1989). :func:`calibrate` picks ``R = m / α − 1`` runs with
``m = 1`` (the threshold is the largest null value), so the declared level ``α`` is the
test's false-alarm rate exactly, not asymptotically; the benchmark
``benchmarks/bench_calibration.py`` measures it. Its statistic is the sliced
Wasserstein-2 distance (``numerics.sampling.sample_metrics``) over ``DIRECTIONS`` random
directions, fresh for every comparison, so that observed and null values share one law;
null draws are made in batches of ``BATCH`` runs.

*Replicate permutation tests* (:func:`replicate_test`) serve samplers whose output is not
iid (SMC: resampled duplicates; a population-adapted step). Each of two runs comes as ``R``
independent replicates ``x_1..x_R`` and ``y_1..y_R`` of ``m`` points each (``(R, m, n)``).
Under the null hypothesis the ``2R`` replicates are iid as whole replicates (one law for
both runs: C2, or the tempered SMC at ``t = 0`` on a projective family), so the joint law
of ``(x_1..x_R, y_1..y_R)`` is invariant under every relabeling, and the statistic of a
uniformly random balanced relabeling (``R`` replicates against the other ``R``) is
exchangeable with the observed one — whatever the dependence *inside* a replicate. With
``B = 1/α − 1`` random relabelings and the largest permuted value as threshold, the test
rejects with probability ``α`` (the Monte Carlo argument above; for random permutations,
Hemerik & Goeman 2018), up to the tie with the relabeling that swaps the groups
(probability ``2/C(2R, R)`` per relabeling; it only makes the test conservative).

Its statistic is a *sliced Cramér–von Mises distance*: over ``DIRECTIONS`` random
directions ``θ`` (one set for the observed value and every relabeling), the root mean
square of ``F_x^θ − F_y^θ``, the gap between the two groups' empirical CDFs of the
projections, taken at ``BINS`` pooled quantiles ``e_k`` of the ``2Rm`` projected points,

    T = sqrt( mean_θ mean_k (F_x^θ(e_k) − F_y^θ(e_k))² ),

the two-sample Cramér–von Mises statistic (Anderson 1962) integrated against the pooled law
on a grid of its quantiles. Unitless and scale-free, it weighs every region by its mass: a
mode that loses most of its mass counts however close the mode it moved to (measured on the
wide-background shear variant, where the SDE run leaves the outer modes 0.14–0.16 of the
mass instead of ¼: p = 0.0004 at N = 2000 and 4999 relabelings, where a binned sliced
Wasserstein-1 distance of the same counts gave p = 0.006). The edges are a function of the
pooled points alone, the same for every labeling, so the test stays exact; and the
statistic is a function of per-replicate bin counts, so a relabeling costs one small matrix
product rather than a sort of ``2Rm`` values per direction. That makes many replicates
affordable: the p-value's resolution is set by how finely ``2R`` replicates split — with
``R = 10`` the relabelings that keep 9 of 10 replicates together are 1 in 1000 and carry
most of a discrepancy, so at a level of 1e-3 gross errors went unrejected (measured: a
shear family whose ODE run left two modes nearly empty gave p = 0.0095) — and samplers
whose particles are independent use ``R = INDEPENDENT_REPLICATES``
(``numerics.sampling.section``), any block size being exact for them.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass

import torch

from numerics.sampling.sample_metrics import (
    random_directions,
    sliced_wasserstein2_batched,
)
from numerics.tolerances import FALSE_ALARM_BUDGET

Tensor = torch.Tensor
Draw = Callable[[int, torch.Generator], Tensor]
DIRECTIONS = 32
BATCH = 64
# Pooled quantiles per direction in the replicate test: the CDF gaps are read at 128 points
# (a gap confined to less than 1/128 of the pooled mass is seen only through its neighbours),
# and each relabeling costs 2R × 32 × 128 multiply-adds.
BINS = 128
# Relabelings per matrix product in the replicate test: a (1024, 32 · 128) block of CDF gaps
# is 32 MiB in float64, so a level of 1e-5 (99,999 relabelings) still tests in bounded memory.
RELABELINGS_PER_PRODUCT = 1024
STATISTIC = f"sliced Wasserstein-2 over {DIRECTIONS} random directions"
REPLICATE_STATISTIC = (f"sliced Cramér–von Mises over {DIRECTIONS} random directions "
                       f"(root mean square CDF gap at {BINS} pooled quantiles)")
# Replicates per run for samplers whose replicates are separate runs (a population-adapted
# step, resampling): 2R = 20 give 92378 distinct balanced splits, while each replicate keeps
# N/10 points (200 at check's default N), enough for a tempered SMC run to adapt its moves
# from its own population.
REPLICATES = 10
EXACT_NULL = "exact draws against exact draws"
PERMUTATION_NULL = "balanced random relabelings of {r} + {r} independent replicates"


@dataclass(frozen=True)
class Calibration:
    """The null distribution of the two-sample statistic at sample size ``n``, and the
    threshold above which a value is declared a discrepancy at level ``level``. ``design``
    says where the null values come from (``EXACT_NULL``, or the relabelings of
    ``replicates`` replicates per group, :func:`replicate_test`)."""

    level: float
    n: int
    threshold: float
    null: tuple[float, ...]
    statistic: str = STATISTIC
    design: str = EXACT_NULL
    replicates: int = 1

    @property
    def runs(self) -> int:
        return len(self.null)

    def rejects(self, value: float) -> bool:
        """``True`` when ``value`` exceeds the threshold (a false alarm has probability
        ``level`` when ``value`` is a fresh null value)."""
        return not value <= self.threshold

    def p_value(self, value: float) -> float:
        """Monte Carlo p-value ``(1 + #{T_r ≥ value}) / (R + 1)``."""
        exceed = sum(v >= value for v in self.null)
        return (1 + exceed) / (self.runs + 1)

    @property
    def null_median(self) -> float:
        """The median null value (the upper one for an even count)."""
        return sorted(self.null)[self.runs // 2]


def null_runs_for(level: float) -> int:
    """``R = 1/α − 1`` null runs give a test of level exactly ``α`` with the largest null
    value as threshold (module docstring); ``α`` must be ``1/integer``."""
    runs = round(1.0 / level) - 1
    if runs < 1 or not math.isclose((runs + 1) * level, 1.0, rel_tol=1e-9):
        raise ValueError(f"level must be 1/m for an integer m >= 2, got {level}")
    return runs


def statistic(x: Tensor, y: Tensor, generator: torch.Generator) -> float:
    """The two-sample statistic on ``x, y (N, n)`` with fresh random directions."""
    return float(_batched(x[None], y[None], generator)[0])


def _batched(x: Tensor, y: Tensor, generator: torch.Generator) -> Tensor:
    runs, _, dim = x.shape
    directions = random_directions(dim, runs * DIRECTIONS, generator).reshape(
        runs, DIRECTIONS, dim)
    return sliced_wasserstein2_batched(x, y, directions)


def null_statistics(draw: Draw, n: int, runs: int, generator: torch.Generator) -> Tensor:
    """``runs`` values of the statistic between two independent ``(n, dim)`` draws of
    ``draw(count, generator)`` (exact samples of the target) ``-> (runs,)``."""
    values = []
    for start in range(0, runs, BATCH):
        r = min(BATCH, runs - start)
        pair = draw(2 * r * n, generator)
        pair = pair.reshape(2, r, n, pair.shape[-1])
        values.append(_batched(pair[0], pair[1], generator))
    return torch.cat(values)


def calibrate(draw: Draw, n: int, generator: torch.Generator,
              level: float = FALSE_ALARM_BUDGET) -> Calibration:
    """The Monte Carlo test of level ``level`` for samples of size ``n`` of the law that
    ``draw`` samples: ``1/level − 1`` null runs, threshold their maximum."""
    null = null_statistics(draw, n, null_runs_for(level), generator)
    return Calibration(level=level, n=n, threshold=float(null.max()),
                       null=tuple(float(v) for v in null))


def replicate_blocks(x: Tensor, replicates: int) -> Tensor:
    """``(N, n) -> (R, m, n)``: ``R = replicates`` consecutive blocks of ``m = N // R`` rows
    (the last ``N − R m < R`` rows are left out)."""
    m = len(x) // replicates
    if replicates < 1 or m < 1:
        raise ValueError(f"cannot split {len(x)} rows into {replicates} replicates")
    return x[:replicates * m].reshape(replicates, m, x.shape[-1])


def replicate_test(x: Tensor, y: Tensor, generator: torch.Generator,
                   level: float = FALSE_ALARM_BUDGET) -> tuple[float, Calibration]:
    """The replicate permutation test (module docstring) of ``x`` against ``y``, each
    ``(R, m, n)``: ``R`` independent replicates of ``m`` points. Returns the observed
    statistic (pooled ``x`` against pooled ``y``) and the :class:`Calibration` of its
    ``1/level − 1`` relabeled values; ``calibration.rejects(value)`` is the test of
    level ``level``.

    One set of ``DIRECTIONS`` random directions and one set of bin edges serve the observed
    value and every relabeling: given them the statistic is a fixed function of the labeled
    replicates, so the test stays exact, and a relabeling close to the observed split
    cannot exceed the observed value by the directions' noise alone. The relabeling that
    swaps the groups ties with the observed value (the statistic is symmetric), which makes
    the test conservative by at most ``2/C(2R, R)`` per relabeling."""
    if x.shape != y.shape or x.dim() != 3:
        raise ValueError(f"need two (R, m, n) replicate batches of one shape, got "
                         f"{tuple(x.shape)} and {tuple(y.shape)}")
    r, m, dim = x.shape
    runs = null_runs_for(level)
    directions = random_directions(dim, DIRECTIONS, generator)
    projected = torch.cat([x, y]) @ directions.T.to(x)  # (2R, m, P)
    counts = binned_counts(projected)
    order = torch.argsort(torch.rand(runs, 2 * r, generator=generator), dim=1)
    signs = torch.full((runs + 1, 2 * r), -1.0, dtype=counts.dtype, device=counts.device)
    signs[0, :r] = 1.0  # the observed labeling, then the relabelings
    signs[1:].scatter_(1, order[:, :r].to(counts.device), 1.0)
    flat = counts.flatten(1) / (r * m)
    values = torch.cat([_cdf_gap(part @ flat, counts.shape[1])
                        for part in signs.split(RELABELINGS_PER_PRODUCT)])
    null = values[1:]
    return float(values[0]), Calibration(
        level=level, n=r * m, threshold=float(null.max()), null=tuple(null.tolist()),
        statistic=REPLICATE_STATISTIC, design=PERMUTATION_NULL.format(r=r), replicates=r)


def binned_counts(projected: Tensor) -> Tensor:
    """Per-replicate bin counts of projections ``(G, m, P)`` (``G`` replicates, ``P``
    directions) at ``K = min(BINS, G m)`` pooled quantiles ``e_0 ≤ ... ≤ e_{K-1}`` per
    direction ``-> (G, P, K)``: bin ``k`` holds the points in ``[e_k, e_{k+1})``, ``e_0``
    is the pooled minimum (tied edges, e.g. from resampled duplicates, leave empty bins
    between them). Edges are read off the sorted pooled values, so they do not depend on
    which replicate holds which point."""
    g, m, p = projected.shape
    pooled = projected.permute(2, 0, 1).reshape(p, g * m).contiguous()
    k = min(BINS, g * m)
    device, dtype = projected.device, projected.dtype
    ranks = torch.arange(k, device=device) * (g * m) // k
    edges = torch.sort(pooled, dim=1).values[:, ranks].contiguous()  # (P, K)
    bins = torch.searchsorted(edges, pooled, right=True) - 1  # (P, G m), in [0, K)
    owner = torch.arange(g, device=device).repeat_interleave(m)
    flat = (owner[None] * p + torch.arange(p, device=device)[:, None]) * k + bins
    counts = torch.zeros(g * p * k, dtype=dtype, device=device)
    counts.index_add_(0, flat.flatten(), torch.ones(flat.numel(), dtype=dtype, device=device))
    return counts.reshape(g, p, k)


def _cdf_gap(differences: Tensor, directions: int) -> Tensor:
    """``sqrt(mean_θ mean_k (F_x(e_{k+1}−) − F_y(e_{k+1}−))²)`` for rows ``differences (B,
    P K)`` of bin-mass differences ``x − y`` ``-> (B,)``: the CDF gaps below each edge
    after the first (the gap below ``e_0`` is zero, the one past the last bin too)."""
    gaps = differences.reshape(len(differences), directions, -1).cumsum(dim=2)[:, :, :-1]
    return gaps.square().mean(dim=(1, 2)).sqrt()
