"""C5 (negative, §6): the simple product ``Π_i p_i`` is not equivariant under nonlinear
``A``: the Jacobian factor appears ``k`` times in ``Π_i A♯p_i`` and once in
``A♯Π_i p_i``, so their log-ratio ``(1 − k) log|det DA(A⁻¹x)|`` varies.

Exact: a search over FC families (``k ≥ 2``, dimension ≤ 2) under nonlinear
diffeomorphisms finds one whose two sides are not the same law. Search: the same space,
by ``MARGIN`` times the pointwise tolerance; no family spec expresses a nonlinear map, so
the report is a ``projcomp.counterexample/1`` document.
"""

from __future__ import annotations

from typing import Any

from hypothesis import strategies as st

from numerics.claims import exact as ev
from numerics.claims import strategies as pst
from numerics.composition.compose import product_exponents
from numerics.laws.family import Family
from projcomp.claims.base import MARGIN, ClaimSpec, Search, Violation
from projcomp.evidence import Evidence, counterexample_evidence, seeded
from theory.catalogue import claim

NONLINEAR = {1: ("monotone",), 2: ("coordinatewise", "triangular")}


def strategy() -> st.SearchStrategy:
    """``(family, diffeo)``: FC families with ``k ≥ 2``, dimension ≤ 2, and a nonlinear
    diffeomorphism of their space."""
    return pst.fc_families(min_k=2, max_dim=2).flatmap(
        lambda f: st.tuples(st.just(f), pst.diffeomorphisms(f.dim, kinds=NONLINEAR[f.dim])))


def _spread(args: Any) -> float:
    family, diffeo = args
    return ev.equivariance_instance(family, product_exponents(family), diffeo, seeded()).spread


def exact() -> Evidence:
    return counterexample_evidence(
        strategy(), lambda a: ev.simple_product_breaks(*a, seeded()),
        lambda a: f"dim {a[0].dim}, k {a[0].k}, map {a[1]!r}: log-ratio spread {_spread(a):.3g}")


def _violation(args: Any, family: Family) -> Violation:
    return Violation("Π(A♯p_i) ∝ A♯Π p_i",
                     "spread of the log-ratio of the two unnormalized densities",
                     _spread(args), map=repr(args[1]))


def _laws(args: Any, family: Family, violation: Violation) -> dict[str, Any]:
    left, right = ev.simple_product_laws(family, args[1])
    return {"Π A♯p_i": left, "A♯Π p_i": right}


SPEC = ClaimSpec(claim("C5"), exact=exact, search=Search(
    strategy, lambda a: ev.simple_product_breaks(*a, seeded(), margin=MARGIN),
    family=lambda a: a[0], verdict=None, describe=_violation, laws=_laws))
