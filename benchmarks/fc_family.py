"""Random FC families of block products for the benchmarks (THEORY §3)."""

from __future__ import annotations

import torch

from numerics.laws import BlockProduct, GaussianMixture
from numerics.laws.family import Family


def random_block(dim: int, components: int, generator: torch.Generator) -> GaussianMixture:
    """A ``components``-mode mixture on ``R^dim`` with well-conditioned covariances."""
    f64 = torch.float64
    raw = torch.randn(components, dim, dim, generator=generator, dtype=f64) / dim**0.5
    covs = raw @ raw.transpose(-1, -2) + 0.5 * torch.eye(dim, dtype=f64)
    means = 2.0 * torch.randn(components, dim, generator=generator, dtype=f64)
    weights = torch.softmax(torch.randn(components, generator=generator, dtype=f64), 0)
    return GaussianMixture(weights, means, covs)


def fc_family(k: int, block_dim: int = 8, components: int = 4, seed: int = 0) -> Family:
    """``k`` conditionals on disjoint ``block_dim``-D blocks (``n = k·block_dim``); the
    background and each conditional's own block are ``components``-mode mixtures."""
    g = torch.Generator().manual_seed(seed)
    coords = [list(range(i * block_dim, (i + 1) * block_dim)) for i in range(k)]
    bg_blocks = [random_block(block_dim, components, g) for _ in range(k)]
    own = [random_block(block_dim, components, g) for _ in range(k)]
    background = BlockProduct(list(zip(coords, bg_blocks, strict=True)))
    conditionals = tuple(
        BlockProduct([(c, own[i] if j == i else bg_blocks[j]) for j, c in enumerate(coords)])
        for i in range(k))
    return Family(background, conditionals, projections=tuple(tuple(c) for c in coords),
                  name=f"fc-k{k}")
