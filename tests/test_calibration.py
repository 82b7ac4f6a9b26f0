"""Calibrated two-sample verdicts (numerics.sampling.calibration, sample_metrics batched SW2).

The Monte Carlo test's level is exact by exchangeability; checked here are the arithmetic
(runs for a level, p-values, thresholds), that the batched statistic equals the one-pair
statistic, and — statistically, with fixed seeds — that null pairs are accepted and a
pair from laws at total variation 0.5 is rejected; and that the replicate permutation test
keeps its level on runs of duplicated draws, where a threshold from iid null runs does
not (false-failure probabilities stated at each test).
"""

from __future__ import annotations

import pytest
import torch

from numerics.laws import GaussianMixture
from numerics.sampling.calibration import (
    BINS,
    DIRECTIONS,
    Calibration,
    calibrate,
    null_runs_for,
    null_statistics,
    replicate_blocks,
    replicate_test,
    statistic,
)
from numerics.sampling.sample_metrics import (
    random_directions,
    sliced_wasserstein2,
    sliced_wasserstein2_batched,
)

TWO_MODES = GaussianMixture([0.5, 0.5], [[-1.0, 0.0], [1.0, 0.0]],
                            [[[0.02, 0.0], [0.0, 0.02]]] * 2)
# Mode masses 0.75/0.25 instead of 0.5/0.5: total variation 0.25 from TWO_MODES (the modes
# are 7 standard deviations apart, so the overlap changes it by < 1e-11).
TILTED = GaussianMixture([0.75, 0.25], [[-1.0, 0.0], [1.0, 0.0]],
                         [[[0.02, 0.0], [0.0, 0.02]]] * 2)


def test_runs_for_a_level() -> None:
    assert null_runs_for(1e-3) == 999
    assert null_runs_for(0.01) == 99
    assert null_runs_for(0.5) == 1
    with pytest.raises(ValueError, match="1/m"):
        null_runs_for(0.3)


def test_p_value_and_threshold_by_rank() -> None:
    cal = Calibration(level=0.25, n=10, threshold=3.0, null=(1.0, 2.0, 3.0))
    assert cal.p_value(3.5) == 0.25 and cal.p_value(2.5) == 0.5 and cal.p_value(0.0) == 1.0
    assert cal.rejects(3.01) and not cal.rejects(3.0)
    assert cal.rejects(float("nan"))  # a NaN statistic never passes


def test_batched_statistic_equals_the_single_pair_one() -> None:
    g = torch.Generator().manual_seed(1)
    x, y = torch.randn(3, 50, 4, generator=g, dtype=torch.float64), torch.randn(
        3, 50, 4, generator=g, dtype=torch.float64)
    d = torch.randn(3, 7, 4, generator=g, dtype=torch.float64)
    batched = sliced_wasserstein2_batched(x, y, d)
    for r in range(3):
        # same sorted projections, same arithmetic up to summation order
        assert batched[r].item() == pytest.approx(sliced_wasserstein2(x[r], y[r], d[r]),
                                                  rel=1e-12)


def test_null_statistics_are_independent_draws() -> None:
    g = torch.Generator().manual_seed(2)
    null = null_statistics(TWO_MODES.sample, 200, 130, g)
    assert null.shape == (130,) and bool((null > 0).all())
    assert len(set(null.tolist())) == 130  # continuous statistic: no ties


def test_calibrated_test_accepts_null_and_rejects_a_tv_quarter_shift() -> None:
    g = torch.Generator().manual_seed(3)
    cal = calibrate(TWO_MODES.sample, 1000, g, level=0.01)
    assert cal.runs == 99 and cal.threshold == max(cal.null)
    # A fresh null value exceeds the threshold with probability 0.01 (exact level); with
    # this fixed seed it does not.
    assert not cal.rejects(statistic(TWO_MODES.sample(1000, g), TWO_MODES.sample(1000, g), g))
    # TV 0.25 moves a quarter of the mass by 2 along x: SW2 ≈ √(0.25·2²·½) ≈ 0.7 (½ the mean cos²)
    # over directions, against a null threshold near 0.2 (N = 1000): missed with
    # probability far below 1e-4.
    value = statistic(TILTED.sample(1000, g), TWO_MODES.sample(1000, g), g)
    assert cal.rejects(value) and cal.p_value(value) == 0.01


# A dependent toy sampler: each replicate is M points made of M / COPIES exact draws of
# TWO_MODES, each repeated COPIES times (what resampling leaves before any move).
REPLICATES, M, COPIES = 10, 10, 5
TOY_RUNS = 120
# Rejections of the replicate test at level 0.1 over TOY_RUNS null pairs are
# Binomial(120, 0.1): P(X <= 2) = 3.3e-4 and P(X >= 25) = 3.1e-4, so the two-sided band
# fails with probability 6.4e-4 for an exact test.
EXACT_BAND = (3, 24)
# The iid threshold on the same pairs rejects about 40 % of them (60/120 at seed 11, 35–54
# at seeds 0–3, where the replicate test rejected 17 and 9–13); at least 30 rejections
# has probability 2.7e-6 under a test of level 0.1.
IID_AT_LEAST = 30


def _duplicated_run(g: torch.Generator) -> torch.Tensor:
    distinct = TWO_MODES.sample(REPLICATES * M // COPIES, g).reshape(REPLICATES, M // COPIES,
                                                                      1, 2)
    return distinct.expand(-1, -1, COPIES, -1).reshape(REPLICATES, M, 2)


def test_replicate_test_is_exact_on_a_dependent_sampler() -> None:
    """Under the null (both runs from the toy sampler) the replicate permutation test rejects
    at its level; the test calibrated on iid exact draws of the same size does not."""
    g = torch.Generator().manual_seed(11)
    iid = calibrate(TWO_MODES.sample, REPLICATES * M, g, 0.1)
    permuted = pooled = 0
    for _ in range(TOY_RUNS):
        x, y = _duplicated_run(g), _duplicated_run(g)
        value, null = replicate_test(x, y, g, 0.1)
        permuted += null.rejects(value)
        pooled += iid.rejects(statistic(x.reshape(-1, 2), y.reshape(-1, 2), g))
    assert EXACT_BAND[0] <= permuted <= EXACT_BAND[1], permuted
    assert pooled >= IID_AT_LEAST, pooled


def test_replicate_test_rejects_a_tilted_law_and_reports_its_design() -> None:
    """Mode masses 0.75/0.25 against 0.5/0.5 at 10 × 50 points per run: the counts differ
    by 125 points, 5.8 standard deviations of their difference (√(2·500·¼·¾) ≈ 13.7
    points; tail < 1e-8), and the replicates' relabelings cannot produce that."""
    g = torch.Generator().manual_seed(12)
    x = TWO_MODES.sample(500, g).reshape(10, 50, 2)
    y = TILTED.sample(500, g).reshape(10, 50, 2)
    value, null = replicate_test(x, y, g, 0.01)
    assert null.rejects(value) and null.p_value(value) == 0.01
    assert null.runs == 99 and null.replicates == 10 and null.n == 500
    assert "10 + 10 independent replicates" in null.design


def test_replicate_blocks_and_shapes() -> None:
    x = torch.arange(23.0).reshape(23, 1)
    blocks = replicate_blocks(x, 5)
    assert blocks.shape == (5, 4, 1) and blocks[1, 0, 0] == 4.0
    with pytest.raises(ValueError, match="replicates"):
        replicate_blocks(x, 24)
    with pytest.raises(ValueError, match="replicate batches"):
        replicate_test(torch.zeros(3, 4, 2), torch.zeros(3, 5, 2), torch.Generator(), 0.5)


def _reference_statistic(x: torch.Tensor, y: torch.Tensor, directions: torch.Tensor,
                         bins: int) -> float:
    """The replicate test's statistic computed directly (module docstring of
    ``numerics.sampling.calibration``): per direction, the fractions of each group's
    projections strictly below each pooled-quantile edge after the first, by sorting."""
    px, py = x @ directions.T, y @ directions.T  # (N, P)
    pooled = torch.sort(torch.cat([px, py]), dim=0).values
    edges = pooled[torch.arange(bins) * len(pooled) // bins][1:]  # (K − 1, P)
    gaps = []
    for j in range(directions.shape[0]):
        at = edges[:, j].contiguous()
        below_x = torch.searchsorted(torch.sort(px[:, j]).values, at).double() / len(px)
        below_y = torch.searchsorted(torch.sort(py[:, j]).values, at).double() / len(py)
        gaps.append(below_x - below_y)
    return float(torch.stack(gaps).square().mean().sqrt())


@pytest.mark.parametrize("replicates, size, dim", [(10, 37, 2), (100, 3, 5), (4, 200, 1)])
def test_replicate_statistic_matches_a_direct_computation(replicates, size, dim) -> None:
    """The observed value, built from per-replicate bin counts, equals the CDF gaps read
    off sorted projections (float64 sums of at most 2·10⁴ terms of size ≤ 1: 1e-12)."""
    g = torch.Generator().manual_seed(replicates + dim)
    x = torch.randn(replicates, size, dim, dtype=torch.float64, generator=g)
    y = 1.3 * torch.randn(replicates, size, dim, dtype=torch.float64, generator=g) + 0.1
    value, _ = replicate_test(x, y, torch.Generator().manual_seed(3), 0.1)
    directions = random_directions(dim, DIRECTIONS, torch.Generator().manual_seed(3))
    bins = min(BINS, 2 * replicates * size)
    expected = _reference_statistic(x.reshape(-1, dim), y.reshape(-1, dim), directions, bins)
    assert value == pytest.approx(expected, abs=1e-12)


# Independent particles in 100 blocks of 5: at level 0.1 over TOY_RUNS null pairs the
# rejections are Binomial(120, 0.1), inside EXACT_BAND with probability 1 − 6.4e-4.
def test_many_small_blocks_keep_the_level() -> None:
    g = torch.Generator().manual_seed(13)
    rejected = 0
    for _ in range(TOY_RUNS):
        x, y = (TWO_MODES.sample(500, g).reshape(100, 5, 2) for _ in range(2))
        value, null = replicate_test(x, y, g, 0.1)
        rejected += null.rejects(value)
    assert EXACT_BAND[0] <= rejected <= EXACT_BAND[1], rejected


def test_many_blocks_reach_small_levels() -> None:
    """TILTED against TWO_MODES at 100 blocks of 5 per run, level 1e-3: the mode counts
    differ by 125 points, 5.8 standard deviations of their difference (see above), so every
    one of the 999 balanced relabelings of 200 blocks — which mix the two runs about half
    and half — falls far below the observed value, and the test rejects with the
    smallest p-value (false failure < 1e-8 by the normal tail of the count difference)."""
    g = torch.Generator().manual_seed(14)
    x = TWO_MODES.sample(500, g).reshape(100, 5, 2)
    y = TILTED.sample(500, g).reshape(100, 5, 2)
    value, null = replicate_test(x, y, g, 1e-3)
    assert null.rejects(value) and null.p_value(value) == 1e-3
    assert null.replicates == 100 and null.runs == 999
