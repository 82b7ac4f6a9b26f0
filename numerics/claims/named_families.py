"""Named families that the claims, examples and benchmarks share (THEORY §4, §6).

- ``fc_family``: FC in coordinate blocks ``M_1 = {0, 1}``, ``M_2 = {2, 3}``,
  ``M_b = {4}`` with two-mode mixture conditionals (C1–C3);
- ``fc_orthogonal`` / ``fc_block_orthogonal``: the same family in the features of a
  rotation ``Q`` (C7) and of ``D Q`` with ``D`` block-diagonal (C8);
- ``shear_family``: THEORY C13's 2-D witness. In features ``z = S x`` (``S`` the shear
  ``[[1, 2], [0, 1]]``) the family is FC with partition ``{0}, {1}``: background
  ``N(0, 0.1² I)``; conditional ``i`` makes ``z_i`` bimodal (modes at ``±0.5``, width
  ``0.15``, equal weights). ``C[p⃗]`` has four modes of mass ``1/4`` at ``z ∈ {±0.5}²``.
  The noise in feature space, ``s_t² S Sᵀ``, is correlated and dwarfs the background's
  narrow spread, so the noised path ``C[p⃗^t]`` (exact mixtures) leaves the modes with
  ``z_1 z_2 > 0`` almost empty while they are separated: mass 8e-4 each at ``s_t = 0.3``,
  5e-7 at 0.1, 4e-5 at 0.045, 0.019 at 0.02, 0.14 at 0.01, 0.22 at 0.005 (C9, C13).
"""

from __future__ import annotations

import torch

from numerics.laws import BlockProduct, GaussianMixture
from numerics.laws.family import Family, FeatureMap

F64 = torch.float64
SHEAR = ((1.0, 2.0), (0.0, 1.0))
MODE = 0.5
WIDTH = 0.15
BACKGROUND = 0.1


def gaussian(mean, cov) -> GaussianMixture:
    return GaussianMixture.gaussian(torch.tensor(mean, dtype=F64), torch.tensor(cov, dtype=F64))


def bimodal_2d(center: float) -> GaussianMixture:
    """Two modes at ``±(center, center/2)`` with a little correlation."""
    cov = [[0.05, 0.01], [0.01, 0.04]]
    return GaussianMixture(torch.tensor([0.4, 0.6], dtype=F64),
                           torch.tensor([[center, center / 2], [-center, -center / 2]], dtype=F64),
                           torch.tensor([cov, cov], dtype=F64))


def fc_family() -> Family:
    """``M_1 = {0, 1}``, ``M_2 = {2, 3}``, ``M_b = {4}``: Gaussian background blocks, each
    conditional replaces its own block by a two-mode mixture."""
    bg = {(0, 1): gaussian([0.0, 0.0], [[1.0, 0.3], [0.3, 0.8]]),
          (2, 3): gaussian([0.5, -0.5], [[0.7, -0.2], [-0.2, 1.2]]),
          (4,): gaussian([0.0], [[1.0]])}
    own = {(0, 1): bimodal_2d(1.0), (2, 3): bimodal_2d(-1.5)}

    def member(replaced: tuple[int, ...] | None) -> BlockProduct:
        return BlockProduct([(list(c), own[c] if c == replaced else d) for c, d in bg.items()])

    return Family(member(None), (member((0, 1)), member((2, 3))),
                  projections=((0, 1), (2, 3)), name="fc")


def in_features(family: Family, matrix: torch.Tensor, name: str) -> Family:
    """Pixel-space family ``x = A⁻¹ z`` whose features ``z = A x`` are ``family``."""
    inverse = torch.linalg.inv(matrix)
    members = [p.pushforward(inverse) for p in family.members]
    fm = FeatureMap(matrix, torch.zeros(len(matrix), dtype=F64), family.projections)
    return Family(members[0], tuple(members[1:]), feature_map=fm, name=name)


def rotation(n: int, seed: int) -> torch.Tensor:
    """A fixed orthogonal matrix: QR of a seeded Gaussian matrix, signs fixed."""
    g = torch.Generator().manual_seed(seed)
    q, r = torch.linalg.qr(torch.randn(n, n, generator=g, dtype=F64))
    return q * torch.sign(torch.diagonal(r))


def fc_orthogonal() -> Family:
    """:func:`fc_family` in the features of a fixed rotation of ``R^5`` (C7)."""
    return in_features(fc_family(), rotation(5, seed=7), "fc_orthogonal")


def fc_block_orthogonal() -> Family:
    """:func:`fc_family` in the features of ``D Q``: ``Q`` the rotation of
    :func:`fc_orthogonal`, ``D`` block-diagonal on the blocks ``(0, 1), (2, 3), (4,)`` (C8)."""
    scale = torch.block_diag(torch.tensor([[2.0, 0.5], [0.0, 1.0]], dtype=F64),
                             torch.tensor([[0.5, 0.0], [1.0, 1.5]], dtype=F64),
                             torch.tensor([[3.0]], dtype=F64))
    return in_features(fc_family(), scale @ rotation(5, seed=7), "fc_block_orthogonal")


def shear_family(name: str = "shear_mixture", width: float = WIDTH, separation: float = MODE,
                 shear: float = SHEAR[0][1], background: float = BACKGROUND) -> Family:
    """THEORY C13's family (module docstring), in pixel space ``x = S⁻¹ z``: in features
    ``z = S x``, ``S = [[1, shear], [0, 1]]``, the background is ``N(0, background² I)``
    and conditional ``i`` makes ``z_i`` bimodal with modes at ``±separation`` of sd
    ``width``; ``C[p⃗]`` has four modes of mass ``1/4`` at ``z ∈ {±separation}²``."""
    narrow = gaussian([0.0], [[background**2]])
    two = GaussianMixture(torch.tensor([0.5, 0.5], dtype=F64),
                          torch.tensor([[-separation], [separation]], dtype=F64),
                          torch.full((2, 1, 1), width**2, dtype=F64))
    features = Family(BlockProduct([([0], narrow), ([1], narrow)]),
                      (BlockProduct([([0], two), ([1], narrow)]),
                       BlockProduct([([0], narrow), ([1], two)])),
                      projections=((0,), (1,)))
    return in_features(features, torch.tensor([[1.0, shear], [0.0, 1.0]], dtype=F64), name)


def mode_masses(family: Family, x: torch.Tensor) -> torch.Tensor:
    """Share of the points ``x (N, 2)`` in each quadrant of feature space (the four modes of
    ``C[p⃗]`` for :func:`shear_family`), ordered ``(−,−), (−,+), (+,−), (+,+)`` ``-> (4,)``."""
    fm = family.feature_map
    z = x.to(fm.matrix) @ fm.matrix.T + fm.offset
    index = 2 * (z[:, 0] > 0).long() + (z[:, 1] > 0).long()
    return torch.bincount(index, minlength=4).to(F64) / len(x)
