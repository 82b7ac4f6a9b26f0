"""Calibrated two-sample verdicts (numerics.sampling.calibration, sample_metrics batched SW2).

The Monte Carlo test's level is exact by exchangeability; checked here are the arithmetic
(runs for a level, p-values, thresholds), that the batched statistic equals the one-pair
statistic, and — statistically, with fixed seeds — that null pairs are accepted and a
pair from laws at total variation 0.5 is rejected.
"""

from __future__ import annotations

import pytest
import torch

from numerics.laws import GaussianMixture
from numerics.sampling.calibration import (
    Calibration,
    calibrate,
    null_runs_for,
    null_statistics,
    statistic,
)
from numerics.sampling.sample_metrics import sliced_wasserstein2, sliced_wasserstein2_batched

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
