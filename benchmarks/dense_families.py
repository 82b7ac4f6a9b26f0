"""Dense families in high dimension for the check benchmark (issue 15, item 2).

Every member is a full-covariance Gaussian or Gaussian mixture on all ``d`` coordinates,
so no coordinate is independent of another, and no partition is given: ``check`` must
infer that the blocks overlap (every coordinate in every block) and judge the family
without factorizing it.
"""

from __future__ import annotations

import torch

from numerics.laws import GaussianMixture
from numerics.laws.family import Family


def dense_mixture(dim: int, components: int, generator: torch.Generator) -> GaussianMixture:
    """``components`` Gaussians with dense covariances ``R Rᵀ/d + I/2`` (eigenvalues in
    about ``[0.5, 4.5]``) and means ``N(0, I)``; equal weights."""
    f64 = torch.float64
    raw = torch.randn(components, dim, dim, generator=generator, dtype=f64) / dim**0.5
    covs = raw @ raw.transpose(-1, -2) + 0.5 * torch.eye(dim, dtype=f64)
    covs = 0.5 * (covs + covs.transpose(-1, -2))
    means = torch.randn(components, dim, generator=generator, dtype=f64)
    return GaussianMixture(torch.full((components,), 1.0 / components, dtype=f64), means, covs)


def dense_family(dim: int, components: int = 1, k: int = 2, seed: int = 0) -> Family:
    """A dense Gaussian background ``N(0, 8 Σ)`` and ``k`` conditionals, each a dense
    ``components``-mode mixture on ``R^dim`` (``components = 1``: dense Gaussians). The
    background is broad (precision at most 1/4, the conditionals' at least 2/9), so
    ``C[p⃗] ∝ p_b^{1−k} Π p_i`` is normalizable for k = 2 and a mixture in closed form."""
    g = torch.Generator().manual_seed(seed)
    base = dense_mixture(dim, 1, g)
    background = GaussianMixture.gaussian(torch.zeros(dim, dtype=torch.float64),
                                          8.0 * base.covs[0])
    conditionals = tuple(dense_mixture(dim, components, g) for _ in range(k))
    name = f"dense-{'gaussian' if components == 1 else f'{components}-mixture'}-d{dim}"
    return Family(background, conditionals, name=name)
