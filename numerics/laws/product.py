"""Products of independent blocks that stay factored (DESIGN.md: never K^k components).

``p(x) = Π_j p_j(x|S_j)`` where the coordinate sets ``S_j`` partition ``{0..n-1}``.
Densities, scores, samples, noising and marginals are computed block by block, so a
product of ``k`` blocks costs ``O(k)`` block operations; only ``to_mixture`` expands,
and it refuses past ``MAX_COMPONENTS``.
"""

from __future__ import annotations

import copy
import math
from collections.abc import Sequence
from functools import cached_property

import torch

from numerics.laws.base import (
    MAX_COMPONENTS,
    Distribution,
    ExpansionTooLarge,
    check_coords,
    check_full_row_rank,
    conversion_target,
    noise_matrix,
)
from numerics.laws.mixture import GaussianMixture

# Off-block entries of a matrix below this fraction of its largest entry count as zero
# when deciding block structure: products like A·A⁻¹ leave ~n·1e-16 of round-off.
BLOCK_TOL = 1e-10


def is_block_diagonal(matrix: torch.Tensor, blocks: Sequence[torch.Tensor]) -> bool:
    """True when ``matrix`` (square) has no entry, beyond round-off, coupling two blocks."""
    mask = torch.ones_like(matrix, dtype=torch.bool)
    for c in blocks:
        mask[c[:, None], c[None, :]] = False
    scale = float(matrix.abs().max())
    return bool((matrix[mask].abs() <= BLOCK_TOL * scale).all()) if mask.any() else True


def _flattened(blocks: Sequence[tuple[Sequence[int], Distribution]]
               ) -> list[tuple[list[int], Distribution]]:
    """A product of products is one product: inner blocks are lifted, coordinates mapped."""
    out = []
    for coords, dist in blocks:
        if isinstance(coords, torch.Tensor):
            coords = coords.tolist()
        elif not isinstance(coords, tuple):
            coords = [int(c) for c in coords]
        if isinstance(dist, BlockProduct):
            out.extend(([coords[i] for i in inner], d)
                       for inner, d in zip(dist.keys, dist.dists, strict=True))
        else:
            out.append((coords, dist))
    return out


class BlockProduct(Distribution):
    """``Π_j p_j(x|S_j)``: ``blocks`` is a sequence of ``(coords, distribution)`` pairs."""

    def __init__(self, blocks: Sequence[tuple[Sequence[int], Distribution]]) -> None:
        if not blocks:
            raise ValueError("a block product needs at least one block")
        blocks = _flattened(blocks)
        first = blocks[0][1]
        self.dtype, self.device = first.dtype, first.device
        self.keys = [tuple(c) for c, _ in blocks]
        self.dists = [d for _, d in blocks]
        for j, (c, d) in enumerate(zip(self.keys, self.dists, strict=True)):
            if len(c) != d.dim:
                raise ValueError(f"block {j} has {len(c)} coords but its distribution has "
                                 f"dimension {d.dim}")
        self.dim = sum(len(c) for c in self.keys)
        if sorted(c for key in self.keys for c in key) != list(range(self.dim)):
            raise ValueError(f"block coords must partition 0..{self.dim - 1} (each once)")

    @cached_property
    def coords(self) -> list[torch.Tensor]:
        """The blocks' coordinates as index tensors (built on first use: most operations
        need only ``keys``, and an FC family's k + 1 members hold k blocks each)."""
        return [torch.as_tensor(c, dtype=torch.long, device=self.device) for c in self.keys]

    def __repr__(self) -> str:
        return f"BlockProduct(blocks={len(self.dists)}, dim={self.dim})"

    @property
    def blocks(self) -> list[tuple[list[int], Distribution]]:
        return [(list(c), d) for c, d in zip(self.keys, self.dists, strict=True)]

    def splits(self, block: Sequence[int]) -> bool:
        """Whether every block lies inside ``block`` or outside it (``respects`` of
        ``block`` and its complement) in ``O(|block|)``: the blocks that meet ``block``
        are disjoint and cover its coordinates in ``0..n-1``, so they lie inside it
        exactly when their sizes add up to the number of those coordinates."""
        owner = self._owner
        inside = [c for c in set(block) if c in owner]
        return sum(len(self.keys[j]) for j in {owner[c] for c in inside}) == len(inside)

    @cached_property
    def _owner(self) -> dict[int, int]:
        """Coordinate -> the index of its block."""
        return {c: j for j, key in enumerate(self.keys) for c in key}

    def respects(self, parts: Sequence[Sequence[int]]) -> bool:
        """True when every block lies inside one of ``parts``: then the parts are
        independent by construction."""
        owner = {c: i for i, part in enumerate(parts) for c in part}
        return all(len({owner.get(x, -1) for x in c}) == 1 and c[0] in owner
                   for c in self.keys)

    def log_prob(self, x: torch.Tensor) -> torch.Tensor:
        x = self._check_points(torch.as_tensor(x))
        return sum(d.log_prob(x[..., c]) for c, d in zip(self._selectors, self.dists, strict=True))

    @cached_property
    def _selectors(self) -> list[slice | torch.Tensor]:
        """Each block's coordinates as a slice when they are consecutive and increasing
        (``x[..., slice]`` is a view, no gather), else as an index tensor."""
        return [slice(c[0], c[-1] + 1) if list(c) == list(range(c[0], c[-1] + 1)) else idx
                for c, idx in zip(self.keys, self.coords, strict=True)]

    def score(self, x: torch.Tensor) -> torch.Tensor:
        """Block by block; a mixture block on consecutive coordinates writes its columns
        of the result in place (``GaussianMixture.score_into``: no copy per block)."""
        x = self._check_points(torch.as_tensor(x))
        flat = x.reshape(-1, self.dim)
        out = torch.empty_like(flat)
        for c, d in zip(self._selectors, self.dists, strict=True):
            if isinstance(c, slice) and isinstance(d, GaussianMixture) \
                    and not d._differentiated(flat):
                d.score_into(flat[:, c], out[:, c])
            else:
                out[:, c] = d.score(flat[:, c])
        return out.reshape(x.shape)

    def to(self, dtype: torch.dtype | None = None,
           device: torch.device | str | None = None) -> BlockProduct:
        """Block by block (``Distribution.to``)."""
        dtype, device = conversion_target(self, dtype, device)
        if dtype == self.dtype and device == self.device:
            return self
        return self.with_dists([d.to(dtype, device) for d in self.dists])

    def sample(self, n: int, generator: torch.Generator | None = None) -> torch.Tensor:
        out = torch.empty(n, self.dim, dtype=self.dtype, device=self.device)
        for c, d in zip(self.coords, self.dists, strict=True):
            out[:, c] = d.sample(n, generator)
        return out

    def with_dists(self, dists: Sequence[Distribution]) -> BlockProduct:
        """This product's partition over new block laws, ``dists[j]`` on the coordinates
        of block ``j`` (of its dimension). Unless a new block is itself a product (which
        the constructor lifts), the constructor's flattening and partition check would
        change nothing, so they are skipped, and the blocks' index tensors are shared:
        checking one FC family builds ~40 products per noise time."""
        if len(dists) != len(self.keys) or any(
                isinstance(d, BlockProduct) or d.dim != len(c)
                for c, d in zip(self.keys, dists, strict=False)):
            return BlockProduct(list(zip(self.keys, dists, strict=True)))
        out = object.__new__(BlockProduct)
        out.dtype, out.device = dists[0].dtype, dists[0].device
        out.keys, out.dists, out.dim = self.keys, list(dists), self.dim
        if out.device == self.device:
            out.__dict__.update((name, value) for name, value in vars(self).items()
                                if name in ("coords", "_selectors", "_order", "_owner"))
        return out

    def convolved(self, a: float, noise_cov) -> Distribution:
        """Block by block when the noise covariance is block-diagonal for this partition;
        otherwise the blocks are coupled and the product is expanded (guarded)."""
        if not (isinstance(noise_cov, torch.Tensor) and noise_cov.dim() == 2):
            return self.with_dists([d.convolved(a, noise_cov) for d in self.dists])
        noise = noise_matrix(noise_cov, self.dim, self.coords[0].to(self.dtype))
        if is_block_diagonal(noise, self.coords):
            return self.with_dists([d.convolved(a, noise[c[:, None], c[None, :]])
                               for c, d in zip(self.coords, self.dists, strict=True)])
        return self.to_mixture().convolved(a, noise)

    def marginal(self, coords: Sequence[int]) -> Distribution:
        wanted = check_coords(coords, self.dim)
        position = {c: i for i, c in enumerate(wanted)}
        parts = []
        for c, d in zip(self.keys, self.dists, strict=True):
            inside = [i for i, ci in enumerate(c) if ci in position]
            if inside:
                sub = d if len(inside) == d.dim else d.marginal(inside)
                parts.append(([position[c[i]] for i in inside], sub))
        return parts[0][1] if len(parts) == 1 and parts[0][0] == list(range(len(wanted))) \
            else BlockProduct(parts)

    def pushforward(self, matrix, offset=None) -> Distribution:
        """Block-diagonal square maps act block by block; other invertible square maps give
        a lazy ``LinearPushforward``; non-square maps expand only the blocks they touch."""
        a = torch.as_tensor(matrix, dtype=self.dtype, device=self.device)
        c = torch.zeros(a.shape[0], dtype=self.dtype, device=self.device) if offset is None \
            else torch.as_tensor(offset, dtype=self.dtype, device=self.device)
        if a.shape == (self.dim, self.dim):
            if is_block_diagonal(a, self.coords):
                out = []
                for idx, d in zip(self.coords, self.dists, strict=True):
                    out.append(d.pushforward(a[idx[:, None], idx[None, :]], c[idx]))
                return self.with_dists(out)
            return LinearPushforward(self, a, c)
        touched = torch.nonzero(a.abs().amax(0) > BLOCK_TOL * a.abs().max()).flatten().tolist()
        return self.marginal(touched).to_mixture().pushforward(a[:, touched], c)

    @property
    def num_components(self) -> int:
        return math.prod(d.num_components for d in self.dists)

    def to_mixture(self) -> GaussianMixture:
        """Explicit mixture over all combinations of block components (guarded)."""
        total = self.num_components
        if total > MAX_COMPONENTS:
            raise ExpansionTooLarge(
                f"expanding {len(self.dists)} blocks needs {total} mixture components "
                f"(limit {MAX_COMPONENTS})")
        mixes = [d.to_mixture() for d in self.dists]
        weights = torch.ones(1, dtype=self.dtype, device=self.device)
        means = torch.zeros(1, self.dim, dtype=self.dtype, device=self.device)
        covs = torch.zeros(1, self.dim, self.dim, dtype=self.dtype, device=self.device)
        for c, m in zip(self.coords, mixes, strict=True):
            kk, kj = weights.shape[0], m.num_components
            weights = (weights[:, None] * m.weights[None]).reshape(-1)
            means = means.repeat_interleave(kj, 0)
            covs = covs.repeat_interleave(kj, 0)
            means[:, c] = m.means.repeat(kk, 1)
            covs[:, c[:, None], c[None, :]] = m.covs.repeat(kk, 1, 1)
        return GaussianMixture(weights, means, covs, dtype=self.dtype, device=self.device,
                               validate=False)

    @property
    def mean(self) -> torch.Tensor:
        """The blocks' means, concatenated and placed by one scatter (``_order``)."""
        out = torch.empty(self.dim, dtype=self.dtype, device=self.device)
        out[self._order] = torch.cat([d.mean for d in self.dists])
        return out

    @cached_property
    def _order(self) -> torch.Tensor:
        """The blocks' coordinates in block order, ``(n,)``: entry ``i`` of the blocks'
        concatenated vectors belongs at coordinate ``_order[i]``."""
        return torch.as_tensor([c for key in self.keys for c in key], dtype=torch.long,
                               device=self.device)

    @property
    def covariance(self) -> torch.Tensor:
        out = torch.zeros(self.dim, self.dim, dtype=self.dtype, device=self.device)
        for c, d in zip(self.coords, self.dists, strict=True):
            out[c[:, None], c[None, :]] = d.covariance
        return out


class LinearPushforward(Distribution):
    """``A♯p`` for an invertible affine ``y = A x + c``, kept lazy over its base.

    Change of variables: ``log q(y) = log p(A⁻¹(y − c)) − log|det A|`` and
    ``∇ log q(y) = A⁻ᵀ ∇ log p(A⁻¹(y − c))``. Noising pulls back to the base:
    ``a Y + η = A (a X + A⁻¹η) + a c`` with ``Cov(A⁻¹η) = A⁻¹ Cov(η) A⁻ᵀ``.
    """

    def __init__(self, base: Distribution, matrix: torch.Tensor, offset: torch.Tensor) -> None:
        self.base, self.dtype, self.device, self.dim = base, base.dtype, base.device, base.dim
        self.matrix = matrix
        self.offset = offset
        if matrix.shape != (self.dim, self.dim):
            raise ValueError(f"linear pushforward needs a ({self.dim}, {self.dim}) matrix")
        check_full_row_rank(matrix)
        self.log_abs_det = torch.linalg.slogdet(matrix)[1]
        self.inverse = torch.linalg.inv(matrix)

    def __repr__(self) -> str:
        return f"LinearPushforward({self.base!r})"

    def _pull(self, y: torch.Tensor) -> torch.Tensor:
        return (self._check_points(torch.as_tensor(y)) - self.offset) @ self.inverse.T

    def log_prob(self, y: torch.Tensor) -> torch.Tensor:
        return self.base.log_prob(self._pull(y)) - self.log_abs_det

    def score(self, y: torch.Tensor) -> torch.Tensor:
        return self.base.score(self._pull(y)) @ self.inverse

    def sample(self, n: int, generator: torch.Generator | None = None) -> torch.Tensor:
        return self.base.sample(n, generator) @ self.matrix.T + self.offset

    def to(self, dtype: torch.dtype | None = None,
           device: torch.device | str | None = None) -> LinearPushforward:
        """The base converted, and ``A``, ``c``, ``A⁻¹``, ``log|det A|`` cast from the
        current dtype (``Distribution.to``)."""
        dtype, device = conversion_target(self, dtype, device)
        if dtype == self.dtype and device == self.device:
            return self
        out = copy.copy(self)
        out.base = self.base.to(dtype, device)
        for name in ("matrix", "offset", "inverse", "log_abs_det"):
            setattr(out, name, getattr(self, name).to(dtype=dtype, device=device))
        out.dtype, out.device = dtype, out.base.device
        return out

    def pulled_noise(self, noise_cov) -> torch.Tensor:
        """``A⁻¹ Cov(η) A⁻ᵀ``: the noise as seen by the base."""
        noise = noise_matrix(noise_cov, self.dim, self.matrix)
        pulled = self.inverse @ noise @ self.inverse.T
        return 0.5 * (pulled + pulled.T)

    def convolved(self, a: float, noise_cov) -> Distribution:
        return LinearPushforward(self.base.convolved(a, self.pulled_noise(noise_cov)),
                                 self.matrix, a * self.offset)

    def marginal(self, coords: Sequence[int]) -> Distribution:
        idx = torch.as_tensor(check_coords(coords, self.dim), dtype=torch.long,
                              device=self.device)
        return self.base.pushforward(self.matrix[idx], self.offset[idx])

    def pushforward(self, matrix, offset=None) -> Distribution:
        """``B♯(A♯p) = (BA)♯p``: the maps are composed and handed to the base, which
        recognizes identity or block-diagonal products up to round-off."""
        b = torch.as_tensor(matrix, dtype=self.dtype, device=self.device)
        d = torch.zeros(b.shape[0], dtype=self.dtype, device=self.device) if offset is None \
            else torch.as_tensor(offset, dtype=self.dtype, device=self.device)
        return self.base.pushforward(b @ self.matrix, b @ self.offset + d)

    @property
    def num_components(self) -> int:
        return self.base.num_components

    def to_mixture(self) -> GaussianMixture:
        return self.base.to_mixture().pushforward(self.matrix, self.offset)

    @property
    def mean(self) -> torch.Tensor:
        return self.matrix @ self.base.mean + self.offset

    @property
    def covariance(self) -> torch.Tensor:
        return self.matrix @ self.base.covariance @ self.matrix.T
