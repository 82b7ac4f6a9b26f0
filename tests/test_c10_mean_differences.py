"""C10 (Lemma 8.1, THEORY §7): if ``p⃗`` is FC in a feature space given by an orthogonal
``A``, the mean differences ``δ_i = E_{p_i}[x] − E_{p_b}[x]`` are pairwise orthogonal
(``δ_iᵀδ_j = 0`` for ``i ≠ j``): in feature space they live on disjoint blocks, and ``A``
preserves inner products.

Evidence checked here:

- exact, over random FC feature families (dimension up to 8, k up to 4, mixture blocks)
  under Haar-orthogonal maps with random offsets: every cosine ``δ_iᵀδ_j / (|δ_i||δ_j|)``
  of the pixel family (``numerics.checks.heuristic.cosine_matrix``) is 0 up to
  round-off;
- a negative control: the same kind of family under a fixed shear has clearly
  non-orthogonal mean differences (the heuristic's contrapositive has something to see);
- symbolic (``theory.proofs.c10_orthogonal_mean_differences``): 2-D rotation and 3-D
  Euler rotations with a 2-D block (proved), and the shear's exact refutation.
"""

from __future__ import annotations

import pytest
import torch
from hypothesis import given
from hypothesis import strategies as st

from numerics.checks.heuristic import cosine_matrix
from numerics.claims import strategies as pst
from numerics.claims.exact import ORTHOGONALITY_TOL
from numerics.laws import BlockProduct, GaussianMixture
from numerics.laws.family import Family
from theory import proofs
from theory.catalogue import claim

F64 = torch.float64
OFFSETS = st.lists(st.floats(-2.0, 2.0, allow_nan=False, allow_infinity=False),
                   min_size=8, max_size=8)
# The lemma is exact: δ_iᵀδ_j = 0. In float64 each pixel mean A⁻¹(m − c) carries an
# error ≲ n·eps·(|m| + |c|) (n ≤ 8, eps = 2⁻⁵²), so each δ_i = mean_i − mean_b is off by
# e ≲ 2n·eps·S, S the largest feature mean plus the offset; ROUNDOFF = 64·eps ≈ 1.4e-14
# keeps a fourfold margin over 2n·eps. The inner product may then be off by
# e(|δ_i| + |δ_j|) + e², on top of which a relative ORTHOGONALITY_TOL = 1e-9 (the runner's
# bound, a millionfold above the ~1e-15 relative round-off of O(1) differences) is
# allowed. A *relative* bound alone is wrong for tiny δ (cancellation in mean_i −
# mean_b): a block shifted by 8.2e-13 gives a cosine of 4.2e-6 from round-off alone
# (``test_tiny_mean_difference_is_orthogonal_within_round_off``).
CANCELLATION = 64 * 2.0**-52


def assert_orthogonal(pixel: Family, feature_scale: float) -> None:
    """Every ``|cos(δ_i, δ_j)|`` (``numerics.checks.heuristic.cosine_matrix``)
    within ORTHOGONALITY_TOL plus the cancellation error bound above."""
    deltas = torch.stack([p.mean - pixel.background.mean for p in pixel.conditionals])
    norms = deltas.norm(dim=1)
    i, j = torch.triu_indices(len(deltas), len(deltas), 1)
    cosines = cosine_matrix(pixel)[i, j]
    err = CANCELLATION * feature_scale
    allowed = (ORTHOGONALITY_TOL + err / norms[i] + err / norms[j] + err**2 / (norms[i] * norms[j]))
    bad = cosines.abs() > allowed  # a zero δ has cosine 0 and an infinite allowance
    assert not bad.any(), (f"|cos| {cosines[bad].tolist()} above {allowed[bad].tolist()} "
                           f"(|δ| {norms.tolist()})")


def _scale(feature: Family, offset: list[float]) -> float:
    return (max(float(m.mean.norm()) for m in feature.members)
            + float(torch.tensor(offset, dtype=F64).norm()))


@pytest.fixture(scope="module")
def symbolic() -> dict[str, str]:
    return {r.label: r.status for r in proofs.c10_orthogonal_mean_differences()}


def test_catalogue_predicts_holds() -> None:
    assert claim("C10").expected == "holds"
    assert set(claim("C10").active_methods) == {"symbolic", "exact"}


@given(pst.fc_families(max_dim=8, max_k=4).flatmap(
    lambda f: st.tuples(st.just(f), pst.orthogonal_matrices(f.dim))), OFFSETS)
def test_mean_differences_are_orthogonal(pair, offset) -> None:
    family, matrix = pair
    offset = offset[:family.dim]
    assert_orthogonal(pst.families_in_feature_space(family, matrix, offset),
                      _scale(family, offset))


def test_tiny_mean_difference_is_orthogonal_within_round_off() -> None:
    """Regression (found by the thorough profile): ``p_3`` shifts its block by 8.2e-13,
    ``δ_2`` is O(1); under a Haar rotation the relative cosine is 4.2e-6 — pure
    cancellation in ``mean_3 − mean_b`` — while ``|δ_2ᵀδ_3|`` stays at round-off."""
    bimodal = GaussianMixture(torch.tensor([0.5, 0.5], dtype=F64),
                              torch.tensor([[0.0], [1.0]], dtype=F64),
                              torch.full((2, 1, 1), 0.25, dtype=F64))
    narrow = [GaussianMixture.gaussian(torch.tensor([m], dtype=F64),
                                       torch.tensor([[0.25]], dtype=F64))
              for m in (0.0, 0.0, 0.0, 0.0, 8.20545494780834e-13)]
    bg = BlockProduct([([0], narrow[0]), ([1], bimodal), ([2], narrow[1])])
    feature = Family(bg, (BlockProduct([([0], narrow[2]), ([1], bimodal), ([2], narrow[1])]),
                          BlockProduct([([0], narrow[0]), ([1], narrow[3]), ([2], narrow[1])]),
                          BlockProduct([([0], narrow[0]), ([1], bimodal), ([2], narrow[4])])),
                     projections=((0,), (1,), (2,)))
    rotation = pst.haar_orthogonal(3, torch.Generator().manual_seed(0))
    assert_orthogonal(pst.families_in_feature_space(feature, rotation), _scale(feature, [0.0]))


def _gaussian(mean: float) -> GaussianMixture:
    return GaussianMixture.gaussian(torch.tensor([mean], dtype=F64), torch.eye(1, dtype=F64))


def test_shear_breaks_orthogonality() -> None:
    """Feature ``δ^z_1 = (1, 0)``, ``δ^z_2 = (0, 1)``; pixels ``x = A⁻¹z`` for the shear
    ``A = [[1, 1], [0, 1]]``: ``δ_1 = (1, 0)``, ``δ_2 = (−1, 1)``, cosine ``−1/√2``."""
    b0, b1 = _gaussian(0.0), _gaussian(0.0)
    feature = Family(BlockProduct([([0], b0), ([1], b1)]),
                     (BlockProduct([([0], _gaussian(1.0)), ([1], b1)]),
                      BlockProduct([([0], b0), ([1], _gaussian(1.0))])),
                     projections=((0,), (1,)))
    shear = torch.tensor([[1.0, 1.0], [0.0, 1.0]], dtype=F64)
    cosines = cosine_matrix(pst.families_in_feature_space(feature, shear))[0, 1:]
    # exact value −1/√2, up to float64 round-off (1e-12 is far above it)
    assert abs(float(cosines[0]) + 2**-0.5) <= 1e-12


@pytest.mark.parametrize("label, status", [("C10.orthogonal.2d", "proved"),
                                           ("C10.orthogonal.3d", "proved"),
                                           ("C10.shear_not_orthogonal", "refuted")])
def test_symbolic_status(symbolic, label: str, status: str) -> None:
    assert symbolic[label] == status
