"""Hand-built 1-D laws shared by the tests of C7 and C8."""

from __future__ import annotations

import torch

from numerics.laws import GaussianMixture

F64 = torch.float64


def gaussian_1d(mean: float, var: float) -> GaussianMixture:
    return GaussianMixture.gaussian(torch.tensor([mean], dtype=F64),
                                    torch.tensor([[var]], dtype=F64))


def bimodal_1d(centre: float) -> GaussianMixture:
    """Two equal modes at ``centre ± 1`` with variance 0.05 (width 0.22)."""
    return GaussianMixture(torch.tensor([0.5, 0.5], dtype=F64),
                           torch.tensor([[centre - 1.0], [centre + 1.0]], dtype=F64),
                           torch.full((2, 1, 1), 0.05, dtype=F64))
