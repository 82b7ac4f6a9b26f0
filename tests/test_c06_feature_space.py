"""C6 (Theorem 6.1, THEORY §5): if some diffeomorphism ``A`` makes ``A♯p⃗`` FC with
partition ``M``, then ``C[p⃗]`` — composed in pixel space, without knowing ``A`` — is a
projective composition with respect to ``Π_i(x) = A(x)|M_i``.

Evidence checked here (``numerics.claims.exact.c6_instance``): pixel families ``p_m = B♯q_m``
for FC feature families ``q⃗`` (dimension 1–2, mixture blocks) and random
diffeomorphisms ``B`` of every kind (affine, monotone ``tanh``, coordinatewise,
triangular; ``A = B⁻¹``). ``C[p⃗]`` is evaluated in pixel space by its defining formula,
pulled back to features on a grid, and its marginal on each ``M_i`` compared with
``q_i``'s: the largest grid normalized L2 must be ≤ ``GRID_TOL``. A negative control
(``C_w`` with ``w = 1/2``, which tilts the block, C14) exceeds it, so the grid check can
fail. The claim has no symbolic method in the catalogue (it follows from C1 and C4,
both proved symbolically in their modules).
"""

from __future__ import annotations

import torch
from hypothesis import given
from hypothesis import strategies as st

from numerics.claims import exact as ev
from numerics.claims import strategies as pst
from numerics.laws import BlockProduct, GaussianMixture
from numerics.laws.diffeomorphisms import Coordinatewise, MonotoneTanh
from numerics.laws.family import Family
from numerics.tolerances import GRID_TOL
from theory.catalogue import claim

F64 = torch.float64


def test_catalogue_predicts_holds() -> None:
    assert claim("C6").expected == "holds"
    assert claim("C6").active_methods == ("exact",)


@given(pst.fc_families(min_dim=1, max_dim=2).flatmap(
    lambda f: st.tuples(st.just(f), pst.diffeomorphisms(f.dim))))
def test_pixel_composition_is_projective_through_the_feature_map(pair) -> None:
    family, diffeo = pair
    gap = ev.c6_instance(family, diffeo)
    # GRID_TOL (1e-4): grid-vs-closed-form gaps of one law measure ≤ 5e-6
    # (tests/test_checks.py); a real failure (control below) is ≳ 1e-2.
    assert gap <= GRID_TOL, f"grid gap {gap:.3g} for {diffeo!r}"


def _gaussian(mean: float, var: float) -> GaussianMixture:
    return GaussianMixture.gaussian(torch.tensor([mean], dtype=F64),
                                    torch.tensor([[var]], dtype=F64))


def test_tilted_composition_is_caught() -> None:
    """Negative control: ``C_w`` with ``w = (1/2, 1/2)`` puts ``∝ p_i^{1/2} p_b^{1/2}``
    on each block instead of ``p_i``'s block law, so the grid gap is far above tolerance."""
    bg = BlockProduct([([0], _gaussian(0.0, 1.0)), ([1], _gaussian(0.0, 1.0))])
    p1 = BlockProduct([([0], _gaussian(1.5, 0.3)), ([1], _gaussian(0.0, 1.0))])
    p2 = BlockProduct([([0], _gaussian(0.0, 1.0)), ([1], _gaussian(-1.0, 2.0))])
    family = Family(bg, (p1, p2), projections=((0,), (1,)))
    diffeo = Coordinatewise([MonotoneTanh(1.5, 1.0, 0.5), MonotoneTanh(-0.5, 1.0)])
    assert ev.c6_instance(family, diffeo) <= GRID_TOL  # C itself passes (same tolerance)
    gap = ev.c6_instance(ev.reweighted(family, [0.5, 0.5]), diffeo)
    # 100 × GRID_TOL: the tilt is an O(1) change of the block law, not quadrature error
    assert gap > 100 * GRID_TOL, f"grid gap {gap:.3g}"
