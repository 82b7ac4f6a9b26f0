"""C4 (Lemma 6.2, THEORY §5): for every C¹-diffeomorphism ``A`` of ``R^n``,

    C[A♯p⃗] = A♯C[p⃗]

(the Jacobian factor appears once in ``p_b`` and cancels in every ratio ``p_i/p_b``); the
weighted ``C_w`` is equivariant for the same reason (its exponents sum to 1). No FC is
needed.

Evidence checked here (``numerics.claims.exact.equivariance_instance``: the two unnormalized
log-densities at probe points differ by a constant, ``Pointwise.same_law``):

- dimension 1–2 with every kind of diffeomorphism of ``numerics.claims.strategies`` (affine,
  monotone ``tanh``, coordinatewise, triangular), FC families and FC-violating families,
  for ``C`` and for ``C_w`` with random weights;
- dimension up to 8, k up to 4, with random invertible linear maps;
- a negative control: the simple product (exponents summing to ``k ≠ 1``) under a fixed
  nonlinear map is caught as not equivariant (the check can fail);
- symbolic (``theory.proofs.c4_equivariance``): generic 1-D, 2-D triangular and 2-D
  general maps, k = 2, 3, and ``C_w`` — all ``proved``.
"""

from __future__ import annotations

import pytest
import torch
from hypothesis import given
from hypothesis import strategies as st

from numerics.claims import exact as ev
from numerics.claims import strategies as pst
from numerics.composition.compose import product_exponents, weighted_exponents
from numerics.laws import BlockProduct, GaussianMixture
from numerics.laws.diffeomorphisms import Affine, Coordinatewise, MonotoneTanh
from numerics.laws.family import Family
from projcomp.claims.c12_no_fc import strategy as c12_strategy
from theory import proofs
from theory.catalogue import claim

SEEDS = st.integers(0, 2**32 - 1)
WEIGHTS = st.floats(0.25, 3.0, allow_nan=False, allow_infinity=False)


def _gen(seed: int) -> torch.Generator:
    return torch.Generator().manual_seed(seed)


def _with_map(families, maps):
    return families.flatmap(lambda f: st.tuples(st.just(f), maps(f.dim)))


def _assert_equivariant(p: ev.Pointwise) -> None:
    # same_law: the log-ratio of C[A♯p⃗] and A♯C[p⃗] is constant up to POINTWISE_RTOL
    # (1e-9 relative to the largest |log-density|); round-off, including the inverse of
    # MonotoneTanh (Newton to 4e-16 relative), is ~1e-14 relative.
    assert p.same_law, f"log-ratio spread {p.spread:.3g} (scale {p.scale:.3g})"


@pytest.fixture(scope="module")
def symbolic() -> dict[str, str]:
    return {r.label: r.status for r in proofs.c4_equivariance()}


def test_catalogue_predicts_holds() -> None:
    assert claim("C4").expected == "holds"
    assert set(claim("C4").active_methods) == {"symbolic", "exact"}


@given(_with_map(pst.fc_families(min_dim=1, max_dim=2), pst.diffeomorphisms), SEEDS)
def test_c_equivariant_under_diffeomorphisms(pair, seed) -> None:
    family, diffeo = pair
    _assert_equivariant(ev.equivariance_instance(family, weighted_exponents(family), diffeo,
                                                 _gen(seed)))


@given(_with_map(pst.fc_families(min_dim=1, max_dim=2), pst.diffeomorphisms),
       st.lists(WEIGHTS, min_size=2, max_size=2), SEEDS)
def test_weighted_c_equivariant_under_diffeomorphisms(pair, weights, seed) -> None:
    family, diffeo = pair
    exponents = weighted_exponents(family, weights[:family.k])
    _assert_equivariant(ev.equivariance_instance(family, exponents, diffeo, _gen(seed)))


@given(_with_map(c12_strategy(), pst.diffeomorphisms), SEEDS)
def test_no_fc_needed(pair, seed) -> None:
    family, diffeo = pair
    _assert_equivariant(ev.equivariance_instance(family, weighted_exponents(family), diffeo,
                                                 _gen(seed)))


@given(_with_map(pst.fc_families(max_dim=8, max_k=4), pst.linear_maps), SEEDS)
def test_c_equivariant_under_linear_maps_up_to_dim_8(pair, seed) -> None:
    family, matrix = pair
    _assert_equivariant(ev.equivariance_instance(family, weighted_exponents(family),
                                                 Affine(matrix), _gen(seed)))


def test_simple_product_is_caught() -> None:
    """Negative control: with exponents (0, 1, 1) the Jacobian of a fixed nonlinear map
    appears twice and does not cancel."""
    f64 = torch.float64

    def g(mean: float) -> GaussianMixture:
        return GaussianMixture.gaussian(torch.tensor([mean], dtype=f64), torch.eye(1, dtype=f64))

    bg = BlockProduct([([0], g(0.0)), ([1], g(0.0))])
    family = Family(bg, (BlockProduct([([0], g(1.0)), ([1], g(0.0))]),
                         BlockProduct([([0], g(0.0)), ([1], g(-1.0))])),
                    projections=((0,), (1,)))
    diffeo = Coordinatewise([MonotoneTanh(2.0, 1.0), MonotoneTanh(2.0, 1.0)])
    p = ev.equivariance_instance(family, product_exponents(family), diffeo, _gen(0))
    # log|det DA| varies by O(1) over the probe points: far above round-off
    assert not p.same_law and p.spread > 1e-2, f"spread {p.spread:.3g}"
    _assert_equivariant(ev.equivariance_instance(family, weighted_exponents(family), diffeo,
                                                 _gen(0)))


@pytest.mark.parametrize("label", [
    "C4.generic.1d.k2", "C4.triangular.2d.k2", "C4.general.2d.k2", "C4.generic.1d.k3",
    "C4.triangular.2d.k3", "C4.general.2d.k3", "C4.general.2d.k2.weighted"])
def test_symbolic_proved(symbolic, label: str) -> None:
    assert symbolic[label] == "proved"
