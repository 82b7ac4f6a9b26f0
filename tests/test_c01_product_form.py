"""C1 (Theorem 5.3, THEORY §4): under Factorized Conditionals with partition ``M``,

    C[p⃗](x) = p_b(x|M_b) · Π_i p_i(x|M_i)   with Z = 1,

so ``C[p⃗]`` is a projective composition for ``Π_i(x) = x|M_i`` (Definition 4.1).

Evidence checked here:

- exact, distribution level, over random FC families (dimension 1–8, k 1–4, mixture
  blocks): the defining formula ``Σ_m e_m log p_m(x)`` equals the log of the normalized
  product form at probe points — same law *and* offset 0, i.e. ``Z = 1``
  (``numerics.claims.exact.c1_instance``); and the closed-form projective gap
  ``max_i D(Π_i♯C[p⃗], Π_i♯p_i)`` is 0 up to ``EXACT_TOL``, and so is the distance of
  the ``M_b`` marginal of ``C[p⃗]`` to the background's;
- a negative control: a family that breaks FC off the conditional's block is *not*
  equal to the product form (so the pointwise check can fail);
- symbolic (``theory.proofs``): the product form and Definition 4.1 for generic factor
  densities, k = 1..4, and ``Z = 1`` for Gaussian blocks, all ``proved``.
"""

from __future__ import annotations

import pytest
import torch
from hypothesis import given
from hypothesis import strategies as st

from numerics.checks.gaps import composed
from numerics.checks.metrics import normalized_l2
from numerics.claims import exact as ev
from numerics.claims import strategies as pst
from numerics.laws import BlockProduct, GaussianMixture
from numerics.laws.family import Family
from numerics.tolerances import EXACT_TOL
from theory import proofs
from theory.catalogue import claim

SEEDS = st.integers(0, 2**32 - 1)


def _gen(seed: int) -> torch.Generator:
    return torch.Generator().manual_seed(seed)


@pytest.fixture(scope="module")
def symbolic() -> dict[str, str]:
    results = [*proofs.c1_product_form(), proofs.c1_gaussian_normalization()]
    return {r.label: r.status for r in results}


def test_catalogue_predicts_holds() -> None:
    assert claim("C1").expected == "holds"
    assert set(claim("C1").active_methods) == {"symbolic", "exact"}


@given(pst.fc_families(min_dim=1, max_dim=8, max_k=4), SEEDS)
def test_composition_is_the_normalized_product_form(family, seed) -> None:
    # Pointwise.equal: the log-ratio's spread and offset are both within POINTWISE_RTOL
    # (1e-9, relative to the largest |log-density|) of 0 — float64 round-off of sums of
    # O(k) log-density terms is ~1e-15 relative, so any structural error shows.
    p = ev.c1_instance(family, _gen(seed))
    assert p.equal, f"spread {p.spread:.3g}, offset {p.offset:.3g} (scale {p.scale:.3g})"


@given(pst.fc_families(min_dim=1, max_dim=8, max_k=4), SEEDS)
def test_composition_is_projective(family, seed) -> None:
    # Closed-form normalized L2 of the block marginals; EXACT_TOL (1e-9) is a
    # thousandfold above the ≤ 1e-12 round-off of the Gaussian inner products.
    gap = ev.projective_gap(family, _gen(seed))
    assert gap <= EXACT_TOL, f"projective gap {gap:.3g}"
    used = {c for block in family.projections for c in block}
    rest = [c for c in range(family.dim) if c not in used]
    if rest:  # x|M_b keeps the background's law (same closed form and tolerance)
        result = composed(family, None, False)
        assert normalized_l2(result.marginal(rest), family.background.marginal(rest)) \
            <= EXACT_TOL


def _gaussian(mean: float, var: float) -> GaussianMixture:
    return GaussianMixture.gaussian(torch.tensor([mean], dtype=torch.float64),
                                    torch.tensor([[var]], dtype=torch.float64))


def test_non_fc_family_is_not_the_product_form() -> None:
    """Negative control: ``p_1`` also moves ``x|M_2`` (FC condition 3 broken), so
    ``Σ e_m log p_m`` is not the product of the block marginals: the check can fail."""
    b0, b1 = _gaussian(0.0, 1.0), _gaussian(0.0, 1.0)
    p1 = BlockProduct([([0], _gaussian(1.0, 0.5)), ([1], _gaussian(1.0, 1.0))])
    p2 = BlockProduct([([0], b0), ([1], _gaussian(-1.0, 2.0))])
    family = Family(BlockProduct([([0], b0), ([1], b1)]), (p1, p2), projections=((0,), (1,)))
    p = ev.c1_instance(family, _gen(0))
    # the log-ratio varies by O(1) over the probe points, far above the 1e-9 tolerance
    assert not p.same_law and p.spread > 1e-2, f"spread {p.spread:.3g}"


@pytest.mark.parametrize("k", [1, 2, 3, 4])
def test_symbolic_product_form_and_projectivity_proved(symbolic, k: int) -> None:
    assert symbolic[f"C1.product_form.k{k}"] == "proved"
    assert symbolic[f"C1.projective.k{k}"] == "proved"


def test_symbolic_gaussian_normalization_proved(symbolic) -> None:
    assert symbolic["C1.gaussian_Z_equals_1"] == "proved"
