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
``benchmarks/bench_calibration.py`` measures it.

*Replicate permutation tests* (:func:`replicate_test`) serve samplers whose output is not
iid (SMC: resampled duplicates; a population-adapted step). Each of two runs comes as ``R``
independent replicates ``x_1..x_R`` and ``y_1..y_R`` of ``m`` points each (``(R, m, n)``);
the statistic is the same two-sample statistic of the pooled ``x`` against the pooled
``y``. Under the null hypothesis the ``2R`` replicates are iid as whole replicates (one
law for both runs: C2, or the tempered SMC at ``t = 0`` on a projective family), so the
joint law of ``(x_1..x_R, y_1..y_R)`` is invariant under every relabeling, and the
statistic of a uniformly random balanced relabeling (``R`` replicates against the other
``R``) is exchangeable with the observed one — whatever the dependence *inside* a
replicate. With ``B = 1/α − 1`` random relabelings (one set of random directions, drawn
independently of the data, for the observed value and all of them) and the largest
permuted value as threshold, the test rejects with probability ``α`` (the Monte Carlo
argument above; for random permutations, Hemerik & Goeman 2018), up to the tie with the
relabeling that swaps the groups (probability ``2/C(2R, R)`` per relabeling; it only makes
the test conservative). With ``R = 10`` there are ``C(20, 10)/2 = 92378`` distinct
splits.

The statistic is the sliced Wasserstein-2 distance (``numerics.sampling.sample_metrics``) over
``DIRECTIONS`` random directions, fresh for every comparison, so that observed and null
values share one law. Null draws are made in batches of ``BATCH`` runs, so the cost is a
few sorted projections per run rather than Python overhead.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass

import torch

from numerics.sampling.sample_metrics import (
    _sorted_rows,
    random_directions,
    sliced_wasserstein2_batched,
)
from numerics.tolerances import FALSE_ALARM_BUDGET

Tensor = torch.Tensor
Draw = Callable[[int, torch.Generator], Tensor]
DIRECTIONS = 32
BATCH = 64
# A relabeling batch holds at most this many pooled rows (2 · R · m per relabeling), so that
# N = 10⁶ samples still test in a few hundred MB.
BATCH_ROWS = 1 << 21
STATISTIC = f"sliced Wasserstein-2 over {DIRECTIONS} random directions"
# Replicates per run in the sampling section: 2R = 20 replicates give 92378 distinct
# balanced splits (enough for levels down to 1e-3 with room), while each replicate keeps
# N/10 points (200 at check's default N), enough for a tempered SMC run to adapt its
# moves from its own population.
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

    One set of ``DIRECTIONS`` random directions serves the observed value and every
    relabeling: given the directions the statistic is a fixed function of the labeled
    replicates, so the test stays exact, and a relabeling close to the observed split
    (9 of 10 replicates kept) cannot exceed the observed value by the directions' noise
    alone, which would cap the power against large discrepancies. The relabeling that swaps
    the groups ties with the observed value (the statistic is symmetric), which makes the
    test conservative by at most ``2/C(2R, R)`` per relabeling."""
    if x.shape != y.shape or x.dim() != 3:
        raise ValueError(f"need two (R, m, n) replicate batches of one shape, got "
                         f"{tuple(x.shape)} and {tuple(y.shape)}")
    r, m, dim = x.shape
    runs = null_runs_for(level)
    directions = random_directions(dim, DIRECTIONS, generator)
    projected = torch.cat([x, y]) @ directions.T.to(x)  # (2R, m, P)
    order = torch.argsort(torch.rand(runs, 2 * r, generator=generator), dim=1)
    batch = max(1, BATCH_ROWS // (2 * r * m))
    values = [_pooled_sw2(projected[order[start:start + batch]], r)
              for start in range(0, runs, batch)]
    null = torch.cat(values)
    value = float(_pooled_sw2(projected[None], r)[0])
    return value, Calibration(level=level, n=r * m, threshold=float(null.max()),
                              null=tuple(float(v) for v in null),
                              design=PERMUTATION_NULL.format(r=r), replicates=r)


def _pooled_sw2(groups: Tensor, r: int) -> Tensor:
    """Sliced W2 between the first ``r`` and the last ``r`` replicates of each labeling:
    ``groups (B, 2R, m, P)`` projections ``-> (B,)``."""
    b, _, m, p = groups.shape
    first = _sorted_rows(groups[:, :r].reshape(b, r * m, p).transpose(1, 2))
    second = _sorted_rows(groups[:, r:].reshape(b, r * m, p).transpose(1, 2))
    return (first - second).square().mean(dim=(1, 2)).sqrt()
