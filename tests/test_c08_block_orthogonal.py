"""C8 (ext, THEORY §6): for a linear feature map ``A`` whose ``A Aᵀ`` is block-diagonal
with respect to the partition (``A = D Q``: ``Q`` orthogonal, ``D`` block-diagonal),
pixel noise ``s²I`` is block-diagonal noise ``s²AAᵀ`` in feature space, the noised
feature family stays FC, and ``C[p⃗^t] = N_t[C[p⃗]]`` for every ``t``. THEORY also asks
whether block-diagonality is *necessary* in the Gaussian case.

Evidence checked here:

- exact, distribution level, over random FC feature families (dimension up to 8, k up
  to 4, mixture blocks) and random block-orthogonal maps ``D Q`` (condition ≤ 10), at the
  runner's time grid: pointwise equality of ``C[p⃗^t]`` and ``N_t[C[p⃗]]``, normalization
  included (``numerics.claims.exact.commutation_instance``);
- negative controls (the check can fail, and necessity in the Gaussian case): a fixed
  shear with mixture blocks, and a 2-D heteroscedastic *Gaussian* FC family under the
  shear, give ``C[p⃗^t] ≠ N_t[C[p⃗]]`` at some ``t``; the homoscedastic (shared
  covariance) Gaussian family commutes under the same shear — exactly the cases of the
  symbolic characterization;
- symbolic (``theory.proofs``): ``(AAᵀ)_12 = 0`` for rotation, scaling and ``DQ``; the
  shear's vanishing set ``{h : (AAᵀ)_12 = 0} = {0}``; sufficiency for diagonal feature
  noise; the exact 2-D Gaussian characterization (``T12 = 0`` ∨ shared variances ∨ a
  trivial conditional) with its one-sided refutations.
"""

from __future__ import annotations

import dataclasses

import pytest
import sympy as sp
import torch
from hypothesis import given
from hypothesis import strategies as st
from small_laws import bimodal_1d, gaussian_1d

from numerics.claims import exact as ev
from numerics.claims import strategies as pst
from numerics.laws import BlockProduct, GaussianMixture
from numerics.laws.family import Family
from numerics.laws.processes import VE, VP
from numerics.sampling.times import time_grid
from projcomp.evidence import TIMES
from theory import proofs
from theory.catalogue import claim

F64 = torch.float64
SEEDS = st.integers(0, 2**32 - 1)
PROCESSES = st.sampled_from([VP(), VE()])
CONTROL_TIMES = 12  # the judge's time grid for the fixed controls
SHEAR = torch.tensor([[1.0, 1.0], [0.0, 1.0]], dtype=F64)  # (AAᵀ)_12 = 1


def _gen(seed: int) -> torch.Generator:
    return torch.Generator().manual_seed(seed)


@pytest.fixture(scope="module")
def symbolic():
    results = [*proofs.c8_block_orthogonal(), *proofs.c8_gaussian_characterization()]
    return {r.label: r for r in results}


def test_catalogue_predicts_holds() -> None:
    assert claim("C8").expected == "holds"
    assert set(claim("C8").active_methods) == {"symbolic", "exact"}


def _parts(family: Family) -> list[list[int]]:
    """The partition's blocks plus the background block ``M_b`` when non-empty."""
    used = {c for b in family.projections for c in b}
    rest = [c for c in range(family.dim) if c not in used]
    return [list(b) for b in family.projections] + ([rest] if rest else [])


@given(pst.fc_families(max_dim=8, max_k=4).flatmap(
    lambda f: st.tuples(st.just(f), pst.block_orthogonal_matrices(_parts(f)))),
       PROCESSES, SEEDS)
def test_block_orthogonal_map_commutes(pair, process, seed) -> None:
    family, matrix = pair
    family = dataclasses.replace(family, process=process)
    gram = matrix @ matrix.T
    # the drawn map really is block-orthogonal: cross blocks of AAᵀ = DDᵀ are zero up to
    # the ~n·eps ≈ 1e-15 relative round-off of forming (DQ)(DQ)ᵀ; 1e-12 leaves 1000×
    for a in _parts(family):
        for b in _parts(family):
            if a != b:
                assert gram[a][:, b].abs().max() <= 1e-12 * gram.abs().max()
    pixel = pst.families_in_feature_space(family, matrix)
    for t in time_grid(process, TIMES):
        p = ev.commutation_instance(pixel, t, _gen(seed))
        # Pointwise.equal: log-ratio spread and offset within POINTWISE_RTOL (1e-9
        # relative to the largest |log-density|); round-off is ~1e-14 relative
        assert p.equal, f"t={t:.4g}: spread {p.spread:.3g}, offset {p.offset:.3g}"


def _feature_family(own1: GaussianMixture, own2: GaussianMixture) -> Family:
    b0, b1 = gaussian_1d(0.0, 1.0), gaussian_1d(0.0, 1.0)
    return Family(BlockProduct([([0], b0), ([1], b1)]),
                  (BlockProduct([([0], own1), ([1], b1)]),
                   BlockProduct([([0], b0), ([1], own2)])),
                  projections=((0,), (1,)))


def _relative_spread(feature: Family, matrix: torch.Tensor) -> float:
    """The largest ``spread / (1 + scale)`` of ``log C[p⃗^t] − log N_t[C[p⃗]]`` over the
    time grid: ``Pointwise.same_law`` holds where it is ≤ POINTWISE_RTOL (1e-9)."""
    pixel = pst.families_in_feature_space(feature, matrix)
    return max(p.spread / (1.0 + p.scale)
               for p in (ev.commutation_instance(pixel, t, _gen(0))
                         for t in time_grid(pixel.process, CONTROL_TIMES)))


# A caught failure must exceed the round-off tolerance POINTWISE_RTOL = 1e-9 by far:
# measured 0.25 (mixture shear) and 0.23 (heteroscedastic Gaussian shear); 1e-3 is
# a millionfold above the tolerance and 200× below the failures.
CAUGHT = 1e-3


def test_shear_with_mixture_blocks_is_caught() -> None:
    assert _relative_spread(_feature_family(bimodal_1d(0.0), bimodal_1d(0.5)), SHEAR) > CAUGHT


def test_gaussian_necessity_heteroscedastic_fails_under_shear() -> None:
    """Both blocks heteroscedastic (w_i ≠ v_i), ``(AAᵀ)_12 ≠ 0``: the characterization says
    the gap is nonzero — block-diagonality is necessary here."""
    family = _feature_family(gaussian_1d(1.0, 2.0), gaussian_1d(-0.5, 3.0))
    assert _relative_spread(family, SHEAR) > CAUGHT


def test_gaussian_shared_covariance_commutes_under_shear() -> None:
    """Shared variances (w_i = v_i): the characterization's exception, every ``t``
    (measured 6e-16)."""
    family = _feature_family(gaussian_1d(1.0, 1.0), gaussian_1d(-0.5, 1.0))
    assert _relative_spread(family, SHEAR) <= ev.POINTWISE_RTOL


def test_gaussian_heteroscedastic_commutes_under_scaled_rotation() -> None:
    """``A = D Q`` with ``D`` diagonal (1-D blocks): sufficiency on the same family."""
    c, s = 0.6, 0.8
    matrix = torch.diag(torch.tensor([2.0, 0.5], dtype=F64)) @ torch.tensor(
        [[c, -s], [s, c]], dtype=F64)
    family = _feature_family(gaussian_1d(1.0, 2.0), gaussian_1d(-0.5, 3.0))
    assert _relative_spread(family, matrix) <= ev.POINTWISE_RTOL


SETTLED = {
    "C8.offdiag_zero.rotation": "proved", "C8.offdiag_zero.scaling": "proved",
    "C8.offdiag_zero.scaled_rotation": "proved", "C8.offdiag.shear": "proved",
    "C8.vanishing_set.shear": "proved", "C8.sufficient.diagonal_noise": "proved",
    "C8.sufficient.T12_zero": "proved", "C8.shared_variances_any_T": "proved",
    "C8.necessary.factorization": "proved", "C8.necessary.F_positive": "proved",
    "C8.necessary.vanishing_set": "proved",
    "C8.one_sided.w2=v2.precision_equal": "proved",
    "C8.one_sided.w2=v2.mean_gap_closed_form": "proved",
    "C8.one_sided.w2=v2.fails": "refuted",
    "C8.one_sided.w1=v1.precision_equal": "proved",
    "C8.one_sided.w1=v1.mean_gap_closed_form": "proved",
    "C8.one_sided.w1=v1.fails": "refuted",
    "C8.characterization": "proved",
}


@pytest.mark.parametrize("label", sorted(SETTLED))
def test_symbolic_status(symbolic, label: str) -> None:
    assert symbolic[label].status == SETTLED[label], symbolic[label].detail


@pytest.mark.parametrize("label", ["C8.vanishing_set.shear", "C8.necessary.vanishing_set"])
def test_symbolic_vanishing_sets(symbolic, label: str) -> None:
    assert symbolic[label].solution == sp.FiniteSet(0)
