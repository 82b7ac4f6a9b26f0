"""C4 (Lemma 6.2): ``C[A♯p⃗] = A♯C[p⃗]`` for every diffeomorphism ``A``: the Jacobian
factors ``|det DA|^{e_m}`` of the members cancel because ``C``'s exponents sum to 1.

Exact: ``Π_m (A♯p_m)^{e_m}`` and ``A♯Π_m p_m^{e_m}`` are the same law (constant
log-ratio) for random nonlinear diffeomorphisms of 1-D and 2-D FC families, and for
random invertible linear maps of FC families up to dimension 8.
"""

from __future__ import annotations

from typing import Any

from hypothesis import strategies as st

from numerics.claims import exact as ev
from numerics.claims import strategies as pst
from numerics.composition.compose import weighted_exponents
from numerics.laws.diffeomorphisms import Affine
from projcomp.claims.base import ClaimSpec
from projcomp.evidence import Evidence, combined, holds_for_all, require_same_law, seeded
from theory.catalogue import claim


def _nonlinear(args: Any) -> None:
    family, diffeo = args
    require_same_law(ev.equivariance_instance(family, weighted_exponents(family), diffeo,
                                              seeded()), "C[A♯p] vs A♯C[p]")


def _linear(args: Any) -> None:
    family, matrix = args
    require_same_law(ev.equivariance_instance(family, weighted_exponents(family),
                                              Affine(matrix), seeded()), "linear A")


def exact() -> Evidence:
    small = pst.fc_families(min_dim=1, max_dim=2).flatmap(
        lambda f: st.tuples(st.just(f), pst.diffeomorphisms(f.dim)))
    wide = pst.fc_families().flatmap(lambda f: st.tuples(st.just(f), pst.linear_maps(f.dim)))
    return combined("holds", [holds_for_all(small, _nonlinear), holds_for_all(wide, _linear)])


SPEC = ClaimSpec(claim("C4"), exact=exact)
