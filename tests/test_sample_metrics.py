"""Sample-versus-sample metrics (issue 4): exact identities, no statistical thresholds."""

from __future__ import annotations

import math

import pytest
import torch

from numerics.sampling.sample_metrics import (
    energy_distance,
    per_projection,
    random_directions,
    sliced_wasserstein2,
)

F64 = torch.float64
# Identities below hold exactly in real arithmetic; float64 sums of ~1e4 terms of O(1)
# carry ~1e-12 relative error, so 1e-10 relative is a safe bound.
RTOL = 1e-10


def sample(n: int, dim: int, seed: int) -> torch.Tensor:
    return torch.randn(n, dim, generator=torch.Generator().manual_seed(seed), dtype=F64)


def test_sliced_w2_of_a_shift_is_exact() -> None:
    """Shifting every point by δ shifts each projection by θ·δ, and sorting keeps the
    pairing, so SW₂² = mean_θ (θ·δ)² exactly for the directions used."""
    x = sample(500, 3, 0)
    delta = torch.tensor([0.3, -1.2, 0.5], dtype=F64)
    theta = random_directions(3, 64, torch.Generator().manual_seed(1))
    expected = math.sqrt(float((theta @ delta).square().mean()))
    assert sliced_wasserstein2(x, x + delta, theta) == pytest.approx(expected, rel=RTOL)


def test_sliced_w2_in_one_dimension_is_w2_of_sorted_samples() -> None:
    x, y = sample(400, 1, 2), 2.0 * sample(400, 1, 3) + 1.0
    theta = torch.ones(1, 1, dtype=F64)
    direct = float((x.sort(0).values - y.sort(0).values).square().mean().sqrt())
    assert sliced_wasserstein2(x, y, theta) == pytest.approx(direct, rel=RTOL)


def test_metrics_vanish_on_identical_samples_and_are_symmetric() -> None:
    x, y = sample(300, 2, 4), sample(300, 2, 5) + 0.5
    theta = random_directions(2, 16, torch.Generator().manual_seed(6))
    assert sliced_wasserstein2(x, x, theta) == 0.0
    # x against x: the cross term averages all N² pairs (diagonal zeros included), the
    # U-statistics only the N(N−1) distinct ones, so the estimate is slightly negative:
    n = len(x)
    all_pairs = float(torch.cdist(x, x, compute_mode="donot_use_mm_for_euclid_dist").sum())
    expected = 2 * all_pairs / n**2 - 2 * all_pairs / (n * (n - 1))
    assert energy_distance(x, x) == pytest.approx(expected, rel=RTOL)
    assert energy_distance(x, y) == pytest.approx(energy_distance(y, x), rel=RTOL)
    assert sliced_wasserstein2(x, y, theta) == pytest.approx(sliced_wasserstein2(y, x, theta),
                                                             rel=RTOL)


def test_energy_distance_is_invariant_under_rigid_motions() -> None:
    x, y = sample(300, 3, 7), sample(200, 3, 8) * 1.5
    q, _ = torch.linalg.qr(sample(3, 3, 9))
    shift = torch.tensor([1.0, -2.0, 0.5], dtype=F64)
    moved = energy_distance(x @ q.T + shift, y @ q.T + shift)
    assert moved == pytest.approx(energy_distance(x, y), rel=1e-9)


def test_energy_distance_chunks_agree_with_one_block(monkeypatch) -> None:
    import numerics.sampling.sample_metrics as sm

    x, y = sample(300, 2, 10), sample(250, 2, 11)
    whole = energy_distance(x, y)
    monkeypatch.setattr(sm, "CHUNK", 7)
    # the result cancels O(1) pairwise means: chunked sums differ by round-off of those
    # terms (~1e-14), so the comparison is absolute, at 1e-10
    assert energy_distance(x, y) == pytest.approx(whole, abs=1e-10)


def test_per_projection_uses_each_lens() -> None:
    x = sample(200, 3, 12)
    y = x.clone()
    y[:, 2] += 1.0
    theta = torch.ones(1, 1, dtype=F64)
    gaps = per_projection(lambda a, b: sliced_wasserstein2(a, b, theta), x, y,
                          [[0], [1], [2]])
    assert gaps[:2] == [0.0, 0.0]
    assert gaps[2] == pytest.approx(1.0, rel=RTOL)


def test_bad_shapes_raise() -> None:
    with pytest.raises(ValueError, match="dimensions"):
        energy_distance(sample(10, 2, 0), sample(10, 3, 0))
    with pytest.raises(ValueError, match="equal sample shapes"):
        sliced_wasserstein2(sample(10, 2, 0), sample(11, 2, 0), torch.ones(1, 2, dtype=F64))
