"""C5 (negative, THEORY §5): the simple product ``p̂ ∝ Π_i p_i`` is not equivariant under
reparameterization — for a nonlinear diffeomorphism ``A`` the Jacobian factor appears
``k`` times in ``Π_i A♯p_i`` and once in ``A♯Π_i p_i``, and a normalizing constant
absorbs it only when it is constant (affine ``A``).

Evidence checked here:

- Hypothesis *finds* a counterexample in the runner's search space
  (``projcomp.claims.spec("C5").search``: FC families with k ≥ 2 and a non-affine
  diffeomorphism, dimension ≤ 2), *shrinks* it, and the shrunk instance is small
  (dimension ≤ 2, k = 2, single-Gaussian members), nonlinear, and breaks equivariance by
  ``MARGIN`` times the pointwise tolerance;
- positive controls with the hypothesis restored: the same family and map under ``C``
  (exponents summing to 1, C4), and the same family's simple product under an affine map,
  are equivariant;
- symbolic (``theory.proofs.c5_simple_product_not_equivariant``): exact refutation for
  ``g(z) = z + z³/3`` and proofs of the constant ratio ``|α|^{k−1}`` for affine maps.
"""

from __future__ import annotations

import pytest
import torch
from counterexample_tools import SEARCH, seeded
from hypothesis import find

from numerics.claims import exact as ev
from numerics.composition.compose import product_exponents, weighted_exponents
from numerics.laws.diffeomorphisms import Affine
from projcomp.claims import MARGIN, spec
from theory import proofs
from theory.catalogue import claim


@pytest.fixture(scope="module")
def counterexample():
    search = spec("C5").search
    return find(search.strategy(), search.breaks, settings=SEARCH)


@pytest.fixture(scope="module")
def symbolic() -> dict[str, str]:
    return {r.label: r.status for r in proofs.c5_simple_product_not_equivariant()}


def test_catalogue_predicts_fails() -> None:
    assert claim("C5").expected == "fails"


def test_counterexample_is_small(counterexample) -> None:
    family, _ = counterexample
    assert family.dim <= 2
    assert family.k == 2  # k = 1 makes the simple product p_1 itself, which is equivariant
    # shrunk to single Gaussians: no mixture is needed to break the simple product
    assert all(m.num_components == 1 for m in family.members)


def test_counterexample_map_is_nonlinear(counterexample) -> None:
    _, diffeo = counterexample
    assert not diffeo.is_affine


def test_counterexample_breaks_equivariance_by_the_margin(counterexample) -> None:
    family, diffeo = counterexample
    p = ev.equivariance_instance(family, product_exponents(family), diffeo, seeded())
    # the log-ratio log|det DA|^{k−1} must vary by MARGIN (100) times the round-off
    # tolerance POINTWISE_RTOL; the shrunk instance varies by O(1)
    assert not p.same_law
    assert p.spread > MARGIN * ev.POINTWISE_RTOL * (1.0 + p.scale), f"spread {p.spread:.3g}"


def test_control_c_is_equivariant_on_the_counterexample(counterexample) -> None:
    family, diffeo = counterexample
    p = ev.equivariance_instance(family, weighted_exponents(family), diffeo, seeded())
    # Pointwise.same_law: constant log-ratio within POINTWISE_RTOL (1e-9 relative)
    assert p.same_law, f"spread {p.spread:.3g}"


def test_control_affine_map_keeps_the_simple_product(counterexample) -> None:
    family, _ = counterexample
    shear = Affine(torch.tensor([[2.0, 1.0], [0.0, 0.5]], dtype=torch.float64)[:family.dim,
                                                                               :family.dim])
    p = ev.equivariance_instance(family, product_exponents(family), shear, seeded())
    # constant Jacobian |det|^{k−1}: same_law within POINTWISE_RTOL
    assert p.same_law, f"spread {p.spread:.3g}"


def test_symbolic_refutation_and_affine_proofs(symbolic) -> None:
    assert symbolic["C5.nonlinear_not_equivariant"] == "refuted"
    assert symbolic["C5.nonlinear_ratio"] == "proved"
    assert symbolic["C5.affine_constant_ratio.k2"] == "proved"
    assert symbolic["C5.affine_constant_ratio.k3"] == "proved"
