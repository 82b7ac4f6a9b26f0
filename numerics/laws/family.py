"""Families ``p⃗ = (p_b, p_1, ..., p_k)`` with weights and projections (THEORY §0, §2).

A family also says how each conditional is looked at (Definition 4.1's ``Π_i``):
either coordinate blocks ``Π_i(x) = x|M_i``, or a linear feature map
``Π_i(x) = (A x + c)|blocks[i]``, or nothing (the partition is then inferred).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field, replace

import torch

from numerics.laws import BlockProduct, Distribution, LinearPushforward, is_block_diagonal
from numerics.laws.processes import VP, ForwardProcess
from numerics.tolerances import MAX_CONDITION


@dataclass(frozen=True)
class FeatureMap:
    """``z = A x + c`` with ``A`` square and invertible; ``blocks[i]`` are the feature
    coordinates that ``Π_i`` keeps."""

    matrix: torch.Tensor
    offset: torch.Tensor
    blocks: tuple[tuple[int, ...], ...]

    def __post_init__(self) -> None:
        n = self.matrix.shape[0]
        if self.matrix.shape != (n, n):
            raise ValueError(f"feature map matrix must be square, got {tuple(self.matrix.shape)}")
        if self.offset.shape != (n,):
            raise ValueError(f"feature map offset must have shape ({n},)")
        cond = torch.linalg.cond(self.matrix)
        if not torch.isfinite(cond) or float(cond) > MAX_CONDITION:
            raise ValueError(f"feature map matrix is singular (condition number {float(cond):.3g})")


@dataclass(frozen=True)
class Family:
    """Background, conditionals and how to compose and look at them.

    ``weights[i]`` is the exponent of ``p_i/p_b`` in ``C_w`` (THEORY §2; all 1 is ``C``).
    ``projections`` are coordinate blocks ``M_i`` (one per conditional) or ``None``.
    """

    background: Distribution
    conditionals: tuple[Distribution, ...]
    weights: tuple[float, ...] | None = None
    projections: tuple[tuple[int, ...], ...] | None = None
    feature_map: FeatureMap | None = None
    process: ForwardProcess = field(default_factory=VP)
    name: str = "family"

    def __post_init__(self) -> None:
        n = self.background.dim
        if not self.conditionals:
            raise ValueError("a family needs at least one conditional")
        for i, p in enumerate(self.conditionals):
            if p.dim != n:
                raise ValueError(f"conditionals[{i}] has dimension {p.dim}, background has {n}")
        dtypes = {p.dtype for p in self.members}
        if len(dtypes) > 1:
            raise ValueError(f"family members have different dtypes: {sorted(map(str, dtypes))}")
        k = len(self.conditionals)
        if self.weights is not None and len(self.weights) != k:
            raise ValueError(f"weights has {len(self.weights)} entries for {k} conditionals")
        if self.projections is not None and len(self.projections) != k:
            raise ValueError(f"projections has {len(self.projections)} blocks for {k} conditionals")
        if self.feature_map is not None:
            if self.feature_map.matrix.shape[0] != n:
                raise ValueError(f"feature map acts on dimension "
                                 f"{self.feature_map.matrix.shape[0]}, the family has "
                                 f"dimension {n}")
            if len(self.feature_map.blocks) != k:
                raise ValueError(f"feature map has {len(self.feature_map.blocks)} blocks for "
                                 f"{k} conditionals")

    @property
    def dim(self) -> int:
        return self.background.dim

    @property
    def k(self) -> int:
        return len(self.conditionals)

    @property
    def members(self) -> tuple[Distribution, ...]:
        """``(p_b, p_1, ..., p_k)``."""
        return (self.background, *self.conditionals)

    @property
    def effective_weights(self) -> tuple[float, ...]:
        return self.weights if self.weights is not None else (1.0,) * self.k

    def with_members(self, members: Sequence[Distribution]) -> Family:
        """The same family description over new ``(p_b, p_1, ..., p_k)``."""
        return replace(self, background=members[0], conditionals=tuple(members[1:]))

    def noised(self, t: float) -> Family:
        """``p⃗^t = (N_t[p_b], N_t[p_1], ...)`` under the family's process.

        Members of an FC family share the background's block objects; each distinct
        block is noised once, so the cost is ``O(k)`` blocks rather than ``O(k²)``.
        """
        a, s = self.process.coefficients(t)
        memo: dict[tuple, tuple[Distribution, Distribution]] = {}
        return self.with_members([_convolved_shared(p, a, s * s, memo) for p in self.members])

    def in_feature_space(self) -> Family:
        """``A♯p⃗`` with projections ``blocks``: the family seen through its feature map."""
        fm = self.feature_map
        if fm is None:
            return self
        pushed = [p.pushforward(fm.matrix, fm.offset) for p in self.members]
        return replace(self.with_members(pushed), feature_map=None, projections=fm.blocks)


def _convolved_shared(p: Distribution, a: float, noise, memo: dict) -> Distribution:
    """``p.convolved(a, noise)``, reusing the result for block objects seen before (keyed by
    object identity, and for a noise matrix by coordinates and map too: isotropic noise is
    the same on every block; ``memo`` keeps the keys' objects alive)."""
    if isinstance(p, LinearPushforward) and isinstance(p.base, BlockProduct):
        pulled = p.pulled_noise(noise)
        if is_block_diagonal(pulled, p.base.coords):
            base = _convolved_shared_blocks(p.base, a, pulled, memo, key=id(p.matrix))
            return LinearPushforward(base, p.matrix, a * p.offset)
    if isinstance(p, BlockProduct) and not isinstance(noise, torch.Tensor):
        return _convolved_shared_blocks(p, a, noise, memo, key=None)
    return p.convolved(a, noise)


def _convolved_shared_blocks(p: BlockProduct, a: float, noise, memo, key) -> BlockProduct:
    """``p`` noised block by block through ``memo`` (``_convolved_shared``); ``key``
    names a noise matrix's map (None for isotropic noise)."""
    matrix = isinstance(noise, torch.Tensor)
    dists = []
    for j, (key_c, d) in enumerate(zip(p.keys, p.dists, strict=True)):
        k = (id(d), key_c, key) if matrix else id(d)
        hit = memo.get(k)
        if hit is None:
            c = p.coords[j] if matrix else None
            local = noise if c is None else noise[c[:, None], c[None, :]]
            hit = memo[k] = (d, d.convolved(a, local))
        dists.append(hit[1])
    return p.with_dists(dists)
