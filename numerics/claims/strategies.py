"""Hypothesis strategies for families, partitions, maps and diffeomorphisms (THEORY §3–§9).

Public and meant for users' own property tests::

    from hypothesis import given
    from numerics.claims.strategies import fc_families

    @given(fc_families(max_dim=4))
    def test_mine(family): ...

Conventions (docs/STYLE.md, "Strategies — like Hypothesis"):

- bounds are keyword-only ``min_*`` / ``max_*`` arguments with the defaults stated in each
  docstring; arguments are checked when the strategy is *created*, and a bad one raises
  ``hypothesis.errors.InvalidArgument`` naming the argument and its value;
- valid objects are built directly, never filtered: weights are a softmax of bounded
  floats, covariances ``scale² · Q diag(κ^u) Qᵀ`` with ``u ∈ [0, 1]`` (condition number
  at most ``κ``), matrices ``U diag(σ) Vᵀ`` with bounded singular values;
- every float is drawn with ``allow_nan=False, allow_infinity=False``; random orthogonal
  matrices come from an integer seed drawn by Hypothesis and a seeded
  ``torch.Generator``, so a failing example replays exactly (Hypothesis seeds only
  ``random`` and ``numpy.random`` itself), while the parameters that matter (means,
  eigenvalues, weights, sizes) are drawn as floats so that they shrink;
- everything is float64.

A *partition* is a list of ``k`` disjoint, non-empty, sorted coordinate lists
``[M_1, ..., M_k]``; coordinates in no block form the background block ``M_b``
(Definition 5.2), which may be empty. This is the form ``numerics.checks.gaps.fc_violation``
and ``Family.projections`` take.
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Sequence
from dataclasses import replace

import torch
from hypothesis import strategies as st
from hypothesis.errors import InvalidArgument
from hypothesis.strategies import DrawFn, SearchStrategy

from numerics.laws import BlockProduct, Distribution, GaussianMixture
from numerics.laws.diffeomorphisms import (
    Affine,
    Coordinatewise,
    Diffeomorphism,
    MonotoneTanh,
    Triangular2D,
)
from numerics.laws.family import Family, FeatureMap
from numerics.laws.processes import VE, VP, ForwardProcess
from numerics.laws.scenes import Scene

F64 = torch.float64
Partition = list[list[int]]

# Largest seed for torch.Generator.manual_seed drawn here (any 32-bit value replays).
MAX_SEED = 2**32 - 1
# Mixture weights are softmax(logits) with logits in [-2, 2]: no weight below e^-4/K.
MAX_LOGIT = 2.0
# Block laws inside generated families: standard deviations in [0.5, 0.5·√10] and means
# in [-2, 2], so components overlap or separate and every block is well conditioned.
FAMILY_MIXTURE = {"max_condition": 10.0, "scale": 0.5, "max_mean": 2.0}

#: Each kind of FC violation (THEORY C12, C16) and the condition of Definition 5.2 that
#: ``numerics.checks.gaps.fc_violation(family, family.projections)`` reports for it.
VIOLATION_KINDS = {
    "cross_block_dependence": "conditional_independence",
    "off_block_mismatch": "off_block_mismatch",
    "background_dependence": "background_independence",
    "overlapping_blocks": "off_block_mismatch",
}
# Kinds whose size is a canonical correlation (must lie in [0, 1)); the others are mean
# shifts in standard deviations (any size >= 0).
_CORRELATION_KINDS = ("cross_block_dependence", "background_dependence")
# Default sizes when none is given: large enough that every violation is far above
# EXACT_TOL (the normalized L2 of a violation grows like size²).
DEFAULT_MIN_SIZE, DEFAULT_MAX_SIZE = 0.1, 0.9

DIFFEOMORPHISM_KINDS = {1: ("affine", "monotone"), 2: ("affine", "coordinatewise", "triangular")}


# argument checks ------------------------------------------------------------------------
def _check_int(name: str, value, min_value: int | None = None,
               max_value: int | None = None) -> int:
    if isinstance(value, bool) or not isinstance(value, int):
        raise InvalidArgument(f"{name}={value!r} must be an integer")
    if min_value is not None and value < min_value:
        raise InvalidArgument(f"{name}={value!r} must be at least {min_value}")
    if max_value is not None and value > max_value:
        raise InvalidArgument(f"{name}={value!r} must be at most {max_value}")
    return value


def _check_float(name: str, value, min_value: float = -math.inf, max_value: float = math.inf,
                 *, exclude_min: bool = False, exclude_max: bool = False) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise InvalidArgument(f"{name}={value!r} must be a real number")
    v = float(value)
    low_ok = v > min_value if exclude_min else v >= min_value
    high_ok = v < max_value if exclude_max else v <= max_value
    if not (math.isfinite(v) and low_ok and high_ok):
        lo = "(" if exclude_min else "["
        hi = ")" if exclude_max else "]"
        raise InvalidArgument(f"{name}={value!r} must be finite and in "
                              f"{lo}{min_value}, {max_value}{hi}")
    return v


def _check_order(low_name: str, low, high_name: str, high) -> None:
    if low > high:
        raise InvalidArgument(f"{low_name}={low!r} must not exceed {high_name}={high!r}")


# building blocks --------------------------------------------------------------------------
def _floats(lo: float, hi: float) -> SearchStrategy[float]:
    return st.floats(lo, hi, allow_nan=False, allow_infinity=False)


def _float_lists(size: int, lo: float, hi: float) -> SearchStrategy[list[float]]:
    return st.lists(_floats(lo, hi), min_size=size, max_size=size)


def _seeds() -> SearchStrategy[int]:
    return st.integers(0, MAX_SEED)


def _generator(seed: int) -> torch.Generator:
    return torch.Generator().manual_seed(seed)


def haar_orthogonal(n: int, generator: torch.Generator) -> torch.Tensor:
    """A Haar-distributed ``(n, n)`` orthogonal matrix: ``Q R = G`` for Gaussian ``G``, with
    ``Q``'s columns multiplied by ``sign(diag R)`` (without the fix, QR is not Haar)."""
    g = torch.randn(n, n, generator=generator, dtype=F64)
    q, r = torch.linalg.qr(g)
    return q * torch.where(torch.diagonal(r) < 0, -1.0, 1.0)


def _spread(exponents: Sequence[float], max_condition: float) -> torch.Tensor:
    """``κ^{u − 1/2}`` for ``u ∈ [0, 1]``: values in ``[κ^{-1/2}, κ^{1/2}]``, ratio ≤ κ."""
    return max_condition ** (torch.tensor(exponents, dtype=F64) - 0.5)


# partitions -------------------------------------------------------------------------------
@st.composite
def _layout(draw: DrawFn, n: int, min_blocks: int, max_blocks: int, allow_background: bool,
            min_background: int = 0) -> tuple[Partition, list[int]]:
    """``(blocks, rest)``: ``k`` non-empty blocks and the background coordinates."""
    k = draw(st.integers(min_blocks, max_blocks))
    most = n - k if allow_background else 0
    size_b = draw(st.integers(min(min_background, most), most))
    order = draw(st.permutations(range(n)))
    m = n - size_b
    cuts = [] if k == 1 else sorted(draw(st.lists(st.integers(1, m - 1), min_size=k - 1,
                                                  max_size=k - 1, unique=True)))
    ends = [0, *cuts, m]
    blocks = [sorted(order[a:b]) for a, b in itertools.pairwise(ends)]
    return blocks, sorted(order[m:])


def partitions(n: int, *, min_blocks: int = 1, max_blocks: int | None = None,
               allow_background: bool = True) -> SearchStrategy[Partition]:
    """Partitions ``[M_1, ..., M_k]`` of (part of) ``{0..n-1}`` (Definition 5.2).

    ``k ∈ [min_blocks, max_blocks]`` disjoint, non-empty blocks, each sorted; with
    ``allow_background`` some coordinates may be left out of every block: they are the
    background block ``M_b`` (``k = n`` leaves none). ``max_blocks=None`` means ``n``.
    Shrinks towards few blocks of consecutive coordinates and an empty ``M_b``.
    """
    _check_int("n", n, 1)
    _check_int("min_blocks", min_blocks, 1, n)
    max_blocks = n if max_blocks is None else _check_int("max_blocks", max_blocks, 1, n)
    _check_order("min_blocks", min_blocks, "max_blocks", max_blocks)
    if not isinstance(allow_background, bool):
        raise InvalidArgument(f"allow_background={allow_background!r} must be a bool")
    return _layout(n, min_blocks, max_blocks, allow_background).map(lambda bs: bs[0])


# mixtures ---------------------------------------------------------------------------------
@st.composite
def _gaussian_mixtures(draw: DrawFn, dim: int, min_components: int, max_components: int,
                       max_condition: float, scale: float, max_mean: float) -> GaussianMixture:
    k = draw(st.integers(min_components, max_components))
    logits = torch.tensor(draw(_float_lists(k, -MAX_LOGIT, MAX_LOGIT)), dtype=F64)
    means = torch.tensor(draw(_float_lists(k * dim, -max_mean, max_mean)), dtype=F64)
    exponents = torch.tensor(draw(_float_lists(k * dim, 0.0, 1.0)), dtype=F64)
    eig = scale * scale * max_condition ** exponents.reshape(k, dim)
    seed = draw(st.none() | _seeds()) if dim > 1 else None
    if seed is None:  # axis-aligned (the diagonal fast path); shrinks here
        covs = torch.diag_embed(eig)
    else:
        gen = _generator(seed)
        q = torch.stack([haar_orthogonal(dim, gen) for _ in range(k)])
        covs = (q * eig[:, None, :]) @ q.transpose(-1, -2)
        covs = 0.5 * (covs + covs.transpose(-1, -2))
    return GaussianMixture(torch.softmax(logits, 0), means.reshape(k, dim), covs)


def gaussian_mixtures(dim: int, *, min_components: int = 1, max_components: int = 3,
                      max_condition: float = 100.0, scale: float = 1.0,
                      max_mean: float = 3.0) -> SearchStrategy[GaussianMixture]:
    """Gaussian mixtures on ``R^dim`` with ``K ∈ [min_components, max_components]``.

    - weights ``softmax(l)``, ``l_k ∈ [-2, 2]`` (every weight ≥ e⁻⁴/K);
    - means ``μ_k ∈ [-max_mean, max_mean]^dim``;
    - covariances ``Σ_k = Q_k diag(λ_k) Q_kᵀ`` with eigenvalues
      ``λ_kj = scale² · max_condition^{u_kj}``, ``u ∈ [0, 1]``, so every eigenvalue lies in
      ``[scale², max_condition · scale²]`` and ``cond(Σ_k) ≤ max_condition``; ``Q_k`` is
      Haar-orthogonal from a drawn seed, or the identity (diagonal covariances).

    Defaults: ``K ≤ 3``, ``max_condition = 100``, ``scale = 1`` (smallest standard
    deviation), ``max_mean = 3``. Shrinks towards one isotropic component at the origin.
    """
    _check_int("dim", dim, 1)
    _check_int("min_components", min_components, 1)
    _check_int("max_components", max_components, 1)
    _check_order("min_components", min_components, "max_components", max_components)
    _check_float("max_condition", max_condition, 1.0, 1e12)
    _check_float("scale", scale, 0.0, 1e100, exclude_min=True)
    _check_float("max_mean", max_mean, 0.0, 1e100)
    return _gaussian_mixtures(dim, min_components, max_components, float(max_condition),
                              float(scale), float(max_mean))


# families ---------------------------------------------------------------------------------
def _block_mixtures(dim: int, max_components: int) -> SearchStrategy[GaussianMixture]:
    return gaussian_mixtures(dim, max_components=max_components, **FAMILY_MIXTURE)


def _shared_product(parts: Partition, background: Sequence[Distribution],
                    replaced: dict[int, Distribution]) -> BlockProduct:
    """The background's block objects, with ``replaced[j]`` on part ``j``."""
    return BlockProduct([(p, replaced.get(j, d))
                         for j, (p, d) in enumerate(zip(parts, background, strict=True))])


@st.composite
def _fc_families(draw: DrawFn, min_dim: int, max_dim: int, min_k: int, max_k: int,
                 max_components: int, allow_background: bool) -> Family:
    n = draw(st.integers(max(min_dim, min_k), max_dim))
    k = draw(st.integers(min_k, min(max_k, n)))
    blocks, rest = draw(_layout(n, k, k, allow_background))
    parts = [*blocks, rest] if rest else blocks
    background = [draw(_block_mixtures(len(p), max_components)) for p in parts]
    own = [draw(_block_mixtures(len(b), max_components)) for b in blocks]
    return Family(_shared_product(parts, background, {}),
                  tuple(_shared_product(parts, background, {i: own[i]}) for i in range(k)),
                  projections=tuple(tuple(b) for b in blocks),
                  name=f"fc_family(n={n}, k={k})")


def fc_families(*, min_dim: int = 2, max_dim: int = 8, min_k: int = 1, max_k: int = 4,
                max_components: int = 3, allow_background: bool = True
                ) -> SearchStrategy[Family]:
    """Families with Factorized Conditionals (Definition 5.2; C1–C3 hold for them).

    ``n ∈ [max(min_dim, min_k), max_dim]`` coordinates, ``k ∈ [min_k, min(max_k, n)]``
    conditionals, a partition ``M_1..M_k`` from ``partitions`` (with a background block
    ``M_b`` when ``allow_background``). The background is a ``BlockProduct`` of one
    Gaussian mixture per part (``≤ max_components`` components, standard deviations in
    ``[0.5, 1.6]``, means in ``[-2, 2]``); conditional ``p_i`` is a ``BlockProduct`` that
    *shares the background's block objects* and replaces only block ``M_i`` by its own
    mixture, so ``p_i = p_i|M_i ⊗ p_b|M_i^c`` exactly. ``projections`` is the partition;
    weights ``None`` (``C``), process VP. Defaults: ``2 ≤ n ≤ 8``, ``1 ≤ k ≤ 4``,
    ``≤ 3`` components per block.
    """
    _check_int("min_dim", min_dim, 1)
    _check_int("max_dim", max_dim, 1)
    _check_order("min_dim", min_dim, "max_dim", max_dim)
    _check_int("min_k", min_k, 1)
    _check_int("max_k", max_k, 1)
    _check_order("min_k", min_k, "max_k", max_k)
    _check_order("min_k", min_k, "max_dim", max_dim)
    _check_int("max_components", max_components, 1)
    if not isinstance(allow_background, bool):
        raise InvalidArgument(f"allow_background={allow_background!r} must be a bool")
    return _fc_families(min_dim, max_dim, min_k, max_k, max_components, allow_background)


# FC violations (C12, C16) -------------------------------------------------------------------
def coupled(mixture: GaussianMixture, a: int, b: int, rho: float) -> GaussianMixture:
    """``mixture`` with coordinates ``a`` and ``b`` coupled at canonical correlation ``rho``.

    Each component's ``Σ = L Lᵀ`` becomes ``Σ' = L (I + ρ (e_a e_bᵀ + e_b e_aᵀ)) Lᵀ``
    (positive definite for ``|ρ| < 1``). When ``Σ`` is block-diagonal for a partition with
    ``a`` and ``b`` in different parts, ``L`` inherits the block pattern, so ``L e_a`` and
    ``L e_b`` live on their own parts: the marginal of each part is unchanged, and in
    whitened coordinates ``w = L⁻¹ x`` the only cross-part correlation is
    ``corr(w_a, w_b) = ρ`` — the first canonical correlation between the two parts.
    """
    chol = torch.linalg.cholesky(mixture.covs)
    u, v = chol[:, :, a], chol[:, :, b]
    cross = u[:, :, None] * v[:, None, :]
    return GaussianMixture(mixture.weights, mixture.means,
                           mixture.covs + rho * (cross + cross.transpose(-1, -2)))


def shifted(mixture: GaussianMixture, position: int, size: float) -> GaussianMixture:
    """``mixture`` translated along coordinate ``position`` by ``size`` standard deviations
    of that coordinate's marginal (every other marginal unchanged)."""
    sd = float(mixture.covariance[position, position]) ** 0.5
    means = mixture.means.clone()
    means[:, position] += size * sd
    return GaussianMixture(mixture.weights, means, mixture.covs)


@st.composite
def _violating(draw: DrawFn, kind: str, sizes: SearchStrategy[float], partner: str,
               min_dim: int, max_dim: int, max_k: int,
               max_components: int) -> tuple[Family, float]:
    n = draw(st.integers(min_dim, max_dim))
    most = min(max_k, n - 1 if partner == "background" else n)
    k = draw(st.integers(2 if partner == "conditional" else 1, most))
    # the partner part must exist: another block, or a non-empty M_b
    need_rest = partner == "background" or (partner == "any" and k == 1)
    blocks, rest = draw(_layout(n, k, k, True, min_background=1 if need_rest else 0))
    parts = [*blocks, rest] if rest else blocks
    background = [draw(_block_mixtures(len(p), max_components)) for p in parts]
    # own blocks moved 0.5-2 sd along their first coordinate, so that p_m ≠ p_b on M_m
    # even in the minimal example (where both draws give the same mixture)
    own = [shifted(draw(_block_mixtures(len(b), max_components)), 0, draw(_floats(0.5, 2.0)))
           for b in blocks]
    size = draw(sizes)
    _check_size(kind, size)
    i = draw(st.integers(0, k - 1))
    candidates = {"conditional": range(k), "background": range(k, len(parts)),
                  "any": range(len(parts))}[partner]
    j = draw(st.sampled_from([m for m in candidates if m != i]))
    bg: Distribution = _shared_product(parts, background, {})
    members = [_shared_product(parts, background, {m: own[m]}) for m in range(k)]
    if kind == "cross_block_dependence":
        a, b = draw(st.sampled_from(blocks[i])), draw(st.sampled_from(parts[j]))
        members[i] = coupled(members[i].to_mixture(), a, b, size)
    elif kind == "off_block_mismatch":
        b = draw(st.integers(0, len(parts[j]) - 1))
        members[i] = _shared_product(parts, background,
                                     {i: own[i], j: shifted(background[j], b, size)})
    elif kind == "background_dependence":
        a, b = draw(st.sampled_from(blocks[i])), draw(st.sampled_from(parts[j]))
        bg = coupled(bg.to_mixture(), a, b, size)
        members = []
        for m, block in enumerate(blocks):
            comp = [c for c in range(n) if c not in block]
            members.append(BlockProduct([(block, own[m]), (comp, bg.marginal(comp).merged())]))
    else:  # overlapping_blocks (partner "conditional"): p_i and p_j both move s ∈ M_i
        s = draw(st.integers(0, len(blocks[i]) - 1))
        target = float(background[i].mean[s]) \
            + size * float(background[i].covariance[s, s]) ** 0.5
        mine = own[i].means.clone()
        mine[:, s] += target - float(own[i].mean[s])
        members[i] = _shared_product(parts, background,
                                     {i: GaussianMixture(own[i].weights, mine, own[i].covs)})
        members[j] = _shared_product(parts, background,
                                     {j: own[j], i: shifted(background[i], s, size)})
    family = Family(bg, tuple(members), projections=tuple(tuple(b) for b in blocks),
                    name=f"{kind}(size={size:.6g})")
    return family, size


def _check_size(kind: str, size) -> float:
    if kind in _CORRELATION_KINDS:
        return _check_float("size", size, 0.0, 1.0, exclude_max=True)
    return _check_float("size", size, 0.0, 1e6)


def fc_violating_families(kind: str, *, size: float | SearchStrategy[float] | None = None,
                          partner: str = "conditional", min_dim: int = 2, max_dim: int = 6,
                          max_k: int = 3, max_components: int = 2
                          ) -> SearchStrategy[tuple[Family, float]]:
    """``(family, size)``: a family that violates FC in one named way (C12, C16).

    The family is built like ``fc_families`` (``n ∈ [min_dim, max_dim]``, ``k ≤ max_k``,
    ``≤ max_components`` per block; each conditional's own mixture is translated by 0.5-2
    standard deviations, so that ``p_m ≠ p_b`` on ``M_m`` even in the minimal example)
    and then broken between block ``M_i`` of one
    conditional and a *partner* part; ``projections`` stays the intended partition
    ``M_1..M_k``, and ``VIOLATION_KINDS[kind]`` names the condition of
    ``fc_violation(family, family.projections)`` that the break violates (the other two
    stay 0). ``size = 0`` gives an FC family (within ``EXACT_TOL``: round-off of flat
    mixtures), so a C16 curve starts at 0; the violation grows with ``size`` (like
    ``size²`` in normalized L2 for small sizes, so tiny sizes can fall below ``EXACT_TOL``).

    - ``"cross_block_dependence"``: conditional ``p_i`` (a flat ``GaussianMixture``) has
      its own block ``M_i`` correlated with the partner: ``size ∈ [0, 1)`` is the
      canonical correlation of one coordinate pair in every component (``coupled``);
      ``p_i``'s marginals on ``M_i`` and ``M_i^c`` are unchanged (condition 1 only).
    - ``"off_block_mismatch"``: ``p_i`` also translates a coordinate of the partner by
      ``size ≥ 0`` background standard deviations (``shifted``; condition 3 only).
    - ``"background_dependence"``: the background (a flat ``GaussianMixture``) couples a
      coordinate of ``M_i`` to the partner at canonical correlation ``size ∈ [0, 1)``;
      each ``p_m = p_m|M_m ⊗ p_b|M_m^c`` keeps conditions 1 and 3 (condition 2 only).
    - ``"overlapping_blocks"``: two conditionals ``p_i``, ``p_j`` both move the mean of a
      coordinate ``s ∈ M_i`` to ``size`` background standard deviations above its
      background mean; no disjoint partition is FC for ``size > 0``, and with
      ``projections=None`` ``infer_partition`` reports overlapping blocks.

    ``partner``: ``"conditional"`` (default; another conditional's block ``M_j``, so
    ``k ≥ 2``), ``"background"`` (the background block ``M_b``, made non-empty) or
    ``"any"``. The partner decides whether ``C[p⃗]`` stays projective: a break confined
    to ``M_i ∪ M_b`` leaves ``C[p⃗] = p_i|(M_i ∪ M_b) · Π_{m≠i} p_m|M_m`` exactly (FC is
    sufficient, not necessary), while a break that reaches another conditional's block
    gives C12's failures in general, and ``"background_dependence"`` can make ``C[p⃗]``
    non-normalizable (THEORY §2). With ``k = 1``, ``C[p⃗] = p_1`` whatever the break.
    ``"overlapping_blocks"`` needs ``"conditional"``.

    ``size``: ``None`` draws from ``[0.1, 0.9]``, a number fixes it, a strategy draws it
    (checked per draw). Defaults: ``2 ≤ n ≤ 6``, ``k ≤ 3``, ``≤ 2`` components per block.
    """
    if kind not in VIOLATION_KINDS:
        raise InvalidArgument(f"kind={kind!r} must be one of {sorted(VIOLATION_KINDS)}")
    if partner not in ("conditional", "background", "any"):
        raise InvalidArgument(f"partner={partner!r} must be 'conditional', 'background' "
                              "or 'any'")
    if kind == "overlapping_blocks" and partner != "conditional":
        raise InvalidArgument(f"partner={partner!r}: overlapping blocks are two "
                              "conditionals' blocks, use partner='conditional'")
    if size is None:
        sizes = _floats(DEFAULT_MIN_SIZE, DEFAULT_MAX_SIZE)
    elif isinstance(size, SearchStrategy):
        sizes = size
    else:
        sizes = st.just(_check_size(kind, size))
    _check_int("min_dim", min_dim, 2)
    _check_int("max_dim", max_dim, 2)
    _check_order("min_dim", min_dim, "max_dim", max_dim)
    _check_int("max_k", max_k, 2 if partner == "conditional" else 1)
    _check_int("max_components", max_components, 1)
    return _violating(kind, sizes, partner, min_dim, max_dim, max_k, max_components)


def families_in_feature_space(family: Family, matrix, offset=None) -> Family:
    """The pixel-space family whose features ``z = A x + c`` follow ``family`` (C6–C9).

    ``family`` lives in feature space with ``projections`` ``M_1..M_k`` (e.g. from
    ``fc_families``); each member ``q`` becomes ``p = (A⁻¹)♯q``, the law of
    ``x = A⁻¹(z − c)``, and the result carries ``feature_map=FeatureMap(A, c, M)`` and no
    coordinate projections, so ``result.in_feature_space()`` recovers ``family`` (up to
    round-off). ``matrix`` ``(n, n)`` invertible, ``offset`` ``(n,)`` (default 0).
    Raises ``ValueError`` when ``family`` has no projections or already has a feature map.
    """
    if family.projections is None:
        raise ValueError("family.projections is None: the feature blocks must be given")
    if family.feature_map is not None:
        raise ValueError("family already has a feature map")
    a = torch.as_tensor(matrix, dtype=family.background.dtype)
    if a.shape != (family.dim, family.dim):
        raise ValueError(f"matrix must have shape ({family.dim}, {family.dim}), got "
                         f"{tuple(a.shape)}")
    c = torch.zeros(family.dim, dtype=a.dtype) if offset is None \
        else torch.as_tensor(offset, dtype=a.dtype)
    feature_map = FeatureMap(a, c, tuple(tuple(b) for b in family.projections))
    inverse = torch.linalg.inv(a)
    pixel = family.with_members([p.pushforward(inverse, -inverse @ c) for p in family.members])
    return replace(pixel, projections=None, feature_map=feature_map)


# matrices ---------------------------------------------------------------------------------
def orthogonal_matrices(n: int) -> SearchStrategy[torch.Tensor]:
    """Haar-distributed orthogonal ``(n, n)`` matrices (``QᵀQ = I``; C7, C10), from a drawn
    seed: QR of a Gaussian matrix with the sign of ``diag R`` moved into ``Q``."""
    _check_int("n", n, 1)
    return _seeds().map(lambda seed: haar_orthogonal(n, _generator(seed)))


def linear_maps(n: int, *, max_condition: float = 10.0) -> SearchStrategy[torch.Tensor]:
    """Invertible ``(n, n)`` matrices ``U diag(σ) Vᵀ`` (``U``, ``V`` Haar-orthogonal, either
    orientation) with singular values ``σ_j = κ^{u_j − 1/2}``, ``u ∈ [0, 1]``: all in
    ``[κ^{-1/2}, κ^{1/2}]``, so ``cond ≤ κ = max_condition`` (default 10). For C8/C9."""
    _check_int("n", n, 1)
    kappa = _check_float("max_condition", max_condition, 1.0, 1e12)

    def build(drawn: tuple[list[float], int]) -> torch.Tensor:
        exponents, seed = drawn
        gen = _generator(seed)
        u, v = haar_orthogonal(n, gen), haar_orthogonal(n, gen)
        return (u * _spread(exponents, kappa)) @ v.T

    return st.tuples(_float_lists(n, 0.0, 1.0), _seeds()).map(build)


def block_orthogonal_matrices(blocks: Sequence[Sequence[int]], *, n: int | None = None,
                              max_condition: float = 10.0) -> SearchStrategy[torch.Tensor]:
    """Feature maps ``A = D Q`` with ``A Aᵀ = D Dᵀ`` block-diagonal (THEORY C8).

    Convention: ``A`` maps pixels to features, ``z = A x``, and ``blocks`` index *feature*
    coordinates, i.e. rows of ``A`` (coordinates ``0..n-1`` in no block form one more
    block, ``M_b``; ``n`` defaults to ``1 + max coordinate``). Noise ``s² I`` in pixel
    space is ``s² A Aᵀ`` in feature space, which is block-diagonal exactly when the
    blocks' rows of ``A`` span mutually orthogonal subspaces; every such ``A`` is ``D Q``
    with ``Q`` orthogonal and ``D`` block-diagonal (``D = (A Aᵀ)^{1/2}``, ``Q = D⁻¹A``).
    Here ``Q`` is Haar and ``D``'s block on ``M`` is ``U_M diag(σ_M)`` with ``U_M``
    Haar and ``σ = κ^{u − 1/2}``, ``u ∈ [0, 1]``, so ``cond(A) = cond(D) ≤ max_condition``
    (default 10). ``AᵀA`` is in general *not* block-diagonal.
    """
    if isinstance(blocks, str | bytes) or not isinstance(blocks, Sequence):
        raise InvalidArgument(f"blocks={blocks!r} must be a sequence of coordinate lists")
    seen: set[int] = set()
    for i, block in enumerate(blocks):
        if isinstance(block, str | bytes) or not isinstance(block, Sequence) or not block:
            raise InvalidArgument(f"blocks[{i}]={block!r} must be a non-empty list of ints")
        for c in block:
            _check_int(f"blocks[{i}] entry", c, 0)
            if c in seen:
                raise InvalidArgument(f"blocks={blocks!r}: coordinate {c} appears twice")
            seen.add(c)
    if not seen and n is None:
        raise InvalidArgument(f"blocks={blocks!r} is empty and n is not given")
    size = 1 + max(seen, default=-1)
    n = size if n is None else _check_int("n", n, max(size, 1))
    kappa = _check_float("max_condition", max_condition, 1.0, 1e12)
    rest = [c for c in range(n) if c not in seen]
    parts = [list(b) for b in blocks] + ([rest] if rest else [])

    def build(drawn: tuple[list[float], int]) -> torch.Tensor:
        exponents, seed = drawn
        gen = _generator(seed)
        sigma = _spread(exponents, kappa)
        d = torch.zeros(n, n, dtype=F64)
        for part in parts:
            idx = torch.tensor(part)
            d[idx[:, None], idx[None, :]] = haar_orthogonal(len(part), gen) * sigma[idx]
        return d @ haar_orthogonal(n, gen)

    return st.tuples(_float_lists(n, 0.0, 1.0), _seeds()).map(build)


# diffeomorphisms --------------------------------------------------------------------------
def _monotone_tanh() -> SearchStrategy[MonotoneTanh]:
    """``z + a tanh(b z + c)``: ``b ∈ [0.25, 2]``, ``c ∈ [-2, 2]``, ``a = 2t`` for
    ``t ∈ [0, 1]`` and ``a = 0.8 t / b`` for ``t ∈ [-1, 0)``, so ``a b ≥ -0.8`` and the
    slope lies in ``[0.2, 5]``. ``t = 0`` (where it shrinks) is the identity."""

    def build(drawn: tuple[float, float, float]) -> MonotoneTanh:
        b, t, c = drawn
        return MonotoneTanh(2.0 * t if t >= 0 else 0.8 * t / b, b, c)

    return st.tuples(_floats(0.25, 2.0), _floats(-1.0, 1.0), _floats(-2.0, 2.0)).map(build)


def _affine(dim: int) -> SearchStrategy[Affine]:
    if dim == 1:
        return st.tuples(_floats(-1.0, 1.0), st.booleans(), _floats(-2.0, 2.0)).map(
            lambda d: Affine((-1.0 if d[1] else 1.0) * math.exp(d[0]), [d[2]]))
    return st.tuples(linear_maps(dim), _float_lists(dim, -2.0, 2.0)).map(
        lambda d: Affine(d[0], d[1]))


def diffeomorphisms(dim: int, *, kinds: Sequence[str] | None = None
                    ) -> SearchStrategy[Diffeomorphism]:
    """Diffeomorphisms of ``R^dim`` (``dim`` 1 or 2) for the grid checks of C4–C6.

    Kinds (default: all for the dimension; ``DIFFEOMORPHISM_KINDS``):

    - ``"affine"``: ``x = s z + t`` with ``|s| ∈ [e⁻¹, e]``, either sign, ``t ∈ [-2, 2]``
      (1-D); ``x = M z + t`` with ``M`` from ``linear_maps(2)`` (2-D);
    - ``"monotone"`` (1-D): ``MonotoneTanh`` with slope in ``[0.2, 5]``;
    - ``"coordinatewise"`` (2-D): one ``MonotoneTanh`` per coordinate;
    - ``"triangular"`` (2-D): ``Triangular2D`` with ``f`` a ``MonotoneTanh``,
      ``u ∈ [-1, 1]``, amplitude ``c ∈ [-1.5, 1.5]``, frequency ``ω ∈ [0.5, 2]``.

    Pass ``kinds=("monotone",)`` or ``("coordinatewise", "triangular")`` for maps that
    are non-affine in general (C5 needs one; ``is_affine`` tells).
    """
    _check_int("dim", dim, 1, 2)
    allowed = DIFFEOMORPHISM_KINDS[dim]
    if kinds is None:
        kinds = allowed
    elif isinstance(kinds, str) or not kinds or any(k not in allowed for k in kinds):
        raise InvalidArgument(f"kinds={kinds!r} must be a non-empty sequence of names from "
                              f"{allowed} (dim={dim})")
    builders = {
        "affine": lambda: _affine(dim),
        "monotone": _monotone_tanh,
        "coordinatewise": lambda: st.tuples(_monotone_tanh(), _monotone_tanh()).map(
            lambda fs: Coordinatewise(list(fs))),
        "triangular": lambda: st.tuples(_monotone_tanh(), _floats(-1.0, 1.0),
                                        _floats(-1.5, 1.5), _floats(0.5, 2.0)).map(
            lambda d: Triangular2D(*d)),
    }
    return st.one_of([builders[k]() for k in kinds])


# offsets, processes, scenes (C7 with an offset, C18) ----------------------------------------
def offsets(n: int, *, min_abs: float = 0.1, max_abs: float = 2.0
            ) -> SearchStrategy[torch.Tensor]:
    """Offset vectors ``b`` ``(n,)`` of a feature map ``A x = Q x + b`` (C7): each entry
    ``± u`` with ``u ∈ [min_abs, max_abs]``, so ``b ≠ 0`` whenever ``min_abs > 0``
    (defaults ``0.1`` and ``2``)."""
    _check_int("n", n, 1)
    _check_float("min_abs", min_abs, 0.0)
    _check_float("max_abs", max_abs, 0.0)
    _check_order("min_abs", min_abs, "max_abs", max_abs)
    entries = st.tuples(st.sampled_from([1.0, -1.0]), _floats(min_abs, max_abs))
    return st.lists(entries, min_size=n, max_size=n).map(
        lambda e: torch.tensor([s * u for s, u in e], dtype=F64))


def processes() -> SearchStrategy[ForwardProcess]:
    """The two forward processes every claim must hold for: ``VP()`` and ``VE()``."""
    return st.sampled_from([VP(), VE()])


@st.composite
def _scenes(draw: DrawFn, max_side: int, max_cell: int, max_channels: int,
            max_templates: int) -> Scene:
    rows, cols = draw(st.integers(1, max_side)), draw(st.integers(1, max_side))
    cell, channels = draw(st.integers(1, max_cell)), draw(st.integers(1, max_channels))
    d, count = channels * cell * cell, draw(st.integers(1, max_templates))
    entries = draw(_float_lists(count * d, 0.0, 1.0))
    templates = torch.tensor(entries, dtype=F64).reshape(count, d)
    templates[:, 0] = templates[:, 0] + 0.5  # no template is zero (an object shows)
    names = tuple(f"template {i}" for i in range(count))
    return Scene(rows, cols, cell, channels, templates, names, draw(_floats(0.05, 0.5)))


def scenes(*, max_side: int = 3, max_cell: int = 3, max_channels: int = 3,
           max_templates: int = 4) -> SearchStrategy[Scene]:
    """Scene geometries for the length-generalization family (THEORY C18, §9):
    ``1..max_side`` rows and columns of cells of ``1..max_cell`` pixels square,
    ``1..max_channels`` channels, ``1..max_templates`` templates with entries in
    ``[0, 1]`` (first entry in ``[0.5, 1.5]``, so none is zero and their norms differ),
    pixel noise in ``[0.05, 0.5]``. Defaults: 3, 3, 3, 4."""
    for name, value in (("max_side", max_side), ("max_cell", max_cell),
                        ("max_channels", max_channels), ("max_templates", max_templates)):
        _check_int(name, value, 1)
    return _scenes(max_side, max_cell, max_channels, max_templates)
