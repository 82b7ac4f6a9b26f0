"""Strategies (numerics/claims/strategies.py): what each promises, checked on its own draws.

FC and its violations are judged by the library's exact check (``fc_violation``,
Definition 5.2) against ``EXACT_TOL`` (float64 round-off of closed-form inner products).
Matrix identities hold to round-off: ``QᵀQ = I`` and the off-block entries of ``A Aᵀ`` are
≤ 1e-15 measured; ``MATRIX_TOL = 1e-12`` leaves a thousandfold margin. Condition numbers
are computed from eigen/singular values whose relative round-off is ~n·1e-16·κ, hence
``COND_RTOL``.
"""

from __future__ import annotations

import dataclasses
import itertools
import re

import pytest
import torch
from hypothesis import Phase, given, settings
from hypothesis import strategies as st
from hypothesis.errors import InvalidArgument

from numerics.checks.fc import fc_violation, infer_partition
from numerics.claims.strategies import (
    VIOLATION_KINDS,
    block_orthogonal_matrices,
    diffeomorphisms,
    families_in_feature_space,
    fc_families,
    fc_violating_families,
    gaussian_mixtures,
    linear_maps,
    orthogonal_matrices,
    partitions,
)
from numerics.laws import BlockProduct, GaussianMixture, is_block_diagonal
from numerics.laws.family import Family
from numerics.tolerances import EXACT_TOL

F64 = torch.float64
MATRIX_TOL = 1e-12
COND_RTOL = 1e-8
KIND_PARTNER = pytest.mark.parametrize(("kind", "partner"), [
    (kind, partner) for kind in sorted(VIOLATION_KINDS)
    for partner in (("conditional",) if kind == "overlapping_blocks"
                    else ("conditional", "background", "any"))])


def covered(blocks: list[list[int]]) -> list[int]:
    return sorted(c for b in blocks for c in b)


def max_violation(family: Family, partition) -> float:
    return max(fc_violation(family, [list(b) for b in partition]).values())


# partitions --------------------------------------------------------------------------------
@settings(max_examples=30)
@given(data=st.data(), n=st.integers(1, 9), allow_background=st.booleans())
def test_partitions_are_disjoint_nonempty_blocks(data: st.DataObject, n: int,
                                                 allow_background: bool) -> None:
    lo = data.draw(st.integers(1, n), label="min_blocks")
    hi = data.draw(st.integers(lo, n), label="max_blocks")
    blocks = data.draw(partitions(n, min_blocks=lo, max_blocks=hi,
                                  allow_background=allow_background), label="blocks")
    assert lo <= len(blocks) <= hi
    assert all(b and b == sorted(b) for b in blocks)
    coords = covered(blocks)
    assert len(set(coords)) == len(coords) and set(coords) <= set(range(n))
    if not allow_background:
        assert coords == list(range(n))


# mixtures ----------------------------------------------------------------------------------
@settings(max_examples=20)
@given(data=st.data(), dim=st.integers(1, 5), kappa=st.sampled_from([1.0, 3.0, 100.0, 1e4]))
def test_mixtures_respect_condition_bound(data: st.DataObject, dim: int, kappa: float) -> None:
    p = data.draw(gaussian_mixtures(dim, max_components=4, max_condition=kappa, scale=0.3),
                  label="p")
    assert p.dim == dim and 1 <= p.num_components <= 4
    assert p.means.shape == (p.num_components, dim) and p.means.abs().max() <= 3.0
    assert abs(float(p.weights.sum()) - 1.0) <= 1e-12 and (p.weights > 0).all()
    eig = torch.linalg.eigvalsh(p.covs)
    assert (eig.amax(-1) / eig.amin(-1) <= kappa * (1 + COND_RTOL)).all()
    assert (eig >= 0.09 * (1 - COND_RTOL)).all() and (eig <= 0.09 * kappa * (1 + COND_RTOL)).all()


# FC families -------------------------------------------------------------------------------
@settings(max_examples=25)
@given(family=fc_families())
def test_fc_families_satisfy_fc_exactly(family: Family) -> None:
    assert family.projections is not None and len(family.projections) == family.k
    assert max_violation(family, family.projections) <= EXACT_TOL
    # members share the background's block objects off their own block
    bg = dict(zip(family.background.keys, family.background.dists, strict=True))
    for p, block in zip(family.conditionals, family.projections, strict=True):
        assert isinstance(p, BlockProduct)
        assert all(d is bg[c] for c, d in zip(p.keys, p.dists, strict=True) if c != block)


@settings(max_examples=10)
@given(family=fc_families(min_dim=3, max_dim=3, min_k=3, max_k=3, allow_background=False))
def test_fc_families_bounds(family: Family) -> None:
    assert family.dim == 3 and family.k == 3
    assert covered([list(b) for b in family.projections]) == [0, 1, 2]


# violations (C12, C16) ---------------------------------------------------------------------
@KIND_PARTNER
@settings(max_examples=6)
@given(data=st.data())
def test_violating_families_violate_the_named_condition(kind: str, partner: str,
                                                       data: st.DataObject) -> None:
    family, size = data.draw(fc_violating_families(kind, partner=partner), label="violation")
    assert 0.1 <= size <= 0.9
    parts = fc_violation(family, [list(b) for b in family.projections])
    assert parts[VIOLATION_KINDS[kind]] > EXACT_TOL, parts
    others = [v for name, v in parts.items() if name != VIOLATION_KINDS[kind]]
    assert max(others) <= EXACT_TOL, parts  # the break is in the named condition only
    if partner == "conditional":
        assert family.k >= 2
    if partner == "background":
        assert covered([list(b) for b in family.projections]) != list(range(family.dim))


@KIND_PARTNER
@settings(max_examples=6)
@given(data=st.data())
def test_size_zero_gives_fc(kind: str, partner: str, data: st.DataObject) -> None:
    family, size = data.draw(fc_violating_families(kind, size=0.0, partner=partner),
                             label="violation")
    assert size == 0.0
    assert max_violation(family, family.projections) <= EXACT_TOL


@settings(max_examples=8)
@given(pair=fc_violating_families("overlapping_blocks", size=st.floats(0.2, 2.0)))
def test_overlapping_blocks_admit_no_disjoint_partition(pair: tuple[Family, float]) -> None:
    """Both candidate partitions (the shared coordinate in either block) violate FC, and
    inference without projections reports overlapping blocks."""
    family, _ = pair
    blocks = [list(b) for b in family.projections]
    _, disjoint = infer_partition(dataclasses.replace(family, projections=None))
    assert not disjoint
    for i, j in ((a, b) for a in range(len(blocks)) for b in range(len(blocks)) if a != b):
        for c in blocks[i]:
            moved = [list(b) for b in blocks]
            moved[i].remove(c)
            moved[j] = sorted([*moved[j], c])
            if moved[i]:
                assert max_violation(family, moved) > EXACT_TOL


def first_violation(kind: str, size: float) -> tuple[tuple, float]:
    """``(projections, value of the named condition)`` on the first derandomized family of
    ``kind`` at ``size``. ``size`` is ``st.just``, which consumes no choices, so every size
    gets the same draws: only the size changes."""
    out = []

    @settings(max_examples=1, database=None, derandomize=True, phases=[Phase.generate])
    @given(pair=fc_violating_families(kind, size=size, min_dim=3, max_dim=4))
    def record(pair: tuple[Family, float]) -> None:
        family, _ = pair
        parts = fc_violation(family, [list(b) for b in family.projections])
        out.append((family.projections, parts[VIOLATION_KINDS[kind]]))

    record()
    return out[0]


@pytest.mark.parametrize("kind", sorted(VIOLATION_KINDS))
def test_violation_grows_with_size(kind: str) -> None:
    """C16's x-axis: for one fixed family the violated condition increases with size."""
    runs = [first_violation(kind, size) for size in (0.0, 0.2, 0.5, 0.8)]
    assert len({blocks for blocks, _ in runs}) == 1  # the same family each time
    values = [value for _, value in runs]
    assert values[0] <= EXACT_TOL
    assert all(a < b for a, b in itertools.pairwise(values)), values


# feature space -----------------------------------------------------------------------------
@settings(max_examples=10)
@given(data=st.data())
def test_families_in_feature_space_round_trip(data: st.DataObject) -> None:
    family = data.draw(fc_families(max_dim=5, max_components=2), label="family")
    matrix = data.draw(linear_maps(family.dim), label="A")
    pixel = families_in_feature_space(family, matrix)
    assert pixel.projections is None and torch.equal(pixel.feature_map.matrix, matrix)
    feature = pixel.in_feature_space()
    assert max_violation(feature, family.projections) <= EXACT_TOL
    z = family.background.sample(5, torch.Generator().manual_seed(0))
    x = z @ torch.linalg.inv(matrix).T
    log_det = float(torch.linalg.slogdet(matrix)[1])
    assert torch.allclose(pixel.background.log_prob(x),
                          family.background.log_prob(z) + log_det, rtol=0, atol=1e-9)


def test_families_in_feature_space_needs_projections() -> None:
    p = GaussianMixture.gaussian(torch.zeros(2, dtype=F64), torch.eye(2, dtype=F64))
    with pytest.raises(ValueError, match="projections"):
        families_in_feature_space(Family(p, (p,)), torch.eye(2, dtype=F64))


# matrices ----------------------------------------------------------------------------------
@settings(max_examples=15)
@given(data=st.data(), n=st.integers(1, 8))
def test_orthogonal_matrices(data: st.DataObject, n: int) -> None:
    q = data.draw(orthogonal_matrices(n), label="Q")
    assert q.shape == (n, n) and q.dtype == F64
    assert (q.T @ q - torch.eye(n, dtype=F64)).abs().max() <= MATRIX_TOL


@settings(max_examples=15)
@given(data=st.data(), n=st.integers(1, 8), kappa=st.sampled_from([1.0, 10.0, 1e3]))
def test_linear_maps_respect_condition_bound(data: st.DataObject, n: int, kappa: float) -> None:
    a = data.draw(linear_maps(n, max_condition=kappa), label="A")
    assert a.shape == (n, n) and a.dtype == F64
    assert float(torch.linalg.cond(a)) <= kappa * (1 + COND_RTOL)


@settings(max_examples=15)
@given(data=st.data())
def test_block_orthogonal_matrices(data: st.DataObject) -> None:
    n = data.draw(st.integers(2, 8), label="n")
    blocks = data.draw(partitions(n), label="blocks")
    a = data.draw(block_orthogonal_matrices(blocks, n=n, max_condition=10.0), label="A")
    rest = [c for c in range(n) if c not in covered(blocks)]
    parts = [torch.tensor(b) for b in [*blocks, rest] if b]
    gram = a @ a.T
    mask = torch.ones(n, n, dtype=torch.bool)
    for c in parts:
        mask[c[:, None], c[None, :]] = False
    off_block = float(gram[mask].abs().max()) if mask.any() else 0.0
    assert off_block <= MATRIX_TOL * float(gram.abs().max())
    assert is_block_diagonal(gram, parts)
    assert float(torch.linalg.cond(a)) <= 10.0 * (1 + COND_RTOL)


# argument validation -----------------------------------------------------------------------
@pytest.mark.parametrize(("make", "match"), [
    (lambda: partitions(0), "n=0"),
    (lambda: partitions(3, min_blocks=4), "min_blocks=4"),
    (lambda: partitions(3, min_blocks=3, max_blocks=2), "min_blocks=3"),
    (lambda: partitions(3, allow_background="yes"), "allow_background='yes'"),
    (lambda: gaussian_mixtures(2, max_condition=0.5), "max_condition=0.5"),
    (lambda: gaussian_mixtures(2, scale=float("nan")), "scale=nan"),
    (lambda: gaussian_mixtures(2, min_components=3, max_components=2), "min_components=3"),
    (lambda: gaussian_mixtures(2.0), "dim=2.0"),
    (lambda: fc_families(min_dim=5, max_dim=4), "min_dim=5"),
    (lambda: fc_families(min_k=9, max_dim=8, max_k=9), "min_k=9"),
    (lambda: fc_violating_families("nonsense"), "kind='nonsense'"),
    (lambda: fc_violating_families("cross_block_dependence", size=1.0), "size=1.0"),
    (lambda: fc_violating_families("off_block_mismatch", size=-0.1), "size=-0.1"),
    (lambda: fc_violating_families("overlapping_blocks", max_k=1), "max_k=1"),
    (lambda: fc_violating_families("off_block_mismatch", partner="nobody"), "partner='nobody'"),
    (lambda: fc_violating_families("overlapping_blocks", partner="any"), "partner='any'"),
    (lambda: orthogonal_matrices(0), "n=0"),
    (lambda: linear_maps(3, max_condition=float("inf")), "max_condition=inf"),
    (lambda: block_orthogonal_matrices([[0, 1], [1]]), "coordinate 1 appears twice"),
    (lambda: block_orthogonal_matrices([[0, 3]], n=2), "n=2"),
    (lambda: diffeomorphisms(3), "dim=3"),
    (lambda: diffeomorphisms(1, kinds=("triangular",)), "kinds="),
])
def test_invalid_arguments_raise_early(make, match: str) -> None:
    with pytest.raises(InvalidArgument, match=re.escape(match)):
        make()


def test_size_from_a_strategy_is_checked_per_draw() -> None:
    @settings(max_examples=1, database=None, phases=[Phase.generate])
    @given(fc_violating_families("background_dependence", size=st.just(1.5)))
    def draw(pair) -> None:
        del pair

    with pytest.raises(InvalidArgument, match=re.escape("size=1.5")):
        draw()
