"""Batched closed-form inner products (numerics.checks.metrics._log_inners): the same
numbers, bit for bit, as one ``log_inner`` per pair (issue 15: FC noise commutation)."""

from __future__ import annotations

import pytest
import torch

from numerics.checks import metrics
from numerics.laws import BlockProduct, GaussianMixture

F64 = torch.float64


def mixture(k: int, n: int, seed: int) -> GaussianMixture:
    g = torch.Generator().manual_seed(seed)
    q = torch.linalg.qr(torch.randn(k, n, n, generator=g, dtype=F64)).Q
    covs = (q * (0.1 + torch.rand(k, 1, n, generator=g, dtype=F64))) @ q.transpose(-1, -2)
    return GaussianMixture(torch.softmax(torch.randn(k, generator=g, dtype=F64), 0),
                           torch.randn(k, n, generator=g, dtype=F64),
                           0.5 * (covs + covs.transpose(-1, -2)))


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_batched_inner_products_equal_one_per_pair(seed: int) -> None:
    shapes = [(1, 1), (3, 2), (4, 8), (2, 3), (3, 2), (4, 8), (4, 8), (1, 1)]
    laws = [mixture(k, n, 10 * seed + j) for j, (k, n) in enumerate(shapes)]
    others = [mixture(k, n, 100 + 10 * seed + j) for j, (k, n) in enumerate(shapes)]
    product = BlockProduct([([0], mixture(2, 1, 7)), ([1, 2], mixture(1, 2, 8))])
    pairs = [*zip(laws, others, strict=True), *((p, p) for p in laws[:5]),
             (product, product), (laws[2], laws[2])]
    metrics._SELF_INNER.clear()
    batched = metrics._log_inners(pairs)
    metrics._SELF_INNER.clear()
    single = [metrics.log_inner(a, b) for a, b in pairs]
    assert len(batched) == len(single)
    for got, want in zip(batched, single, strict=True):
        assert torch.equal(got, want)


def test_self_pairs_fill_and_use_the_memo() -> None:
    a, b, c = mixture(3, 4, 0), mixture(3, 4, 1), mixture(3, 4, 2)
    metrics._SELF_INNER.clear()
    first = metrics._log_inners([(a, a), (b, b), (c, b)])
    assert metrics._SELF_INNER[a][0.0] is first[0]
    again = metrics._log_inners([(a, a), (c, c)])
    assert again[0] is first[0]
