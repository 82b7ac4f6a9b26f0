"""Shared by the negative claims about projectivity (C11, C12, C14): a normalizable
composition ``C_w[p⃗]`` whose projective gap ``max_i D(Π_i♯C_w[p⃗], Π_i♯p_i)``
(Definition 4.1) exceeds the exact tolerances is a counterexample; ``projcomp check``
reports its family spec ``fails-at-t0``."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from hypothesis import strategies as st

from numerics.claims import exact as ev
from numerics.laws.family import Family
from projcomp.claims.base import MARGIN, Search, Violation
from projcomp.evidence import Evidence, counterexample_evidence, seeded


def _describe(family: Family) -> str:
    return (f"dim {family.dim}, k {family.k}: largest projective gap "
            f"{ev.projective_gap(family, seeded()):.3g}")


def not_projective_evidence(strategy: st.SearchStrategy[Family]) -> Evidence:
    """Exact evidence: some family drawn from ``strategy`` is not projective."""
    return counterexample_evidence(strategy, lambda f: ev.not_projective(f, seeded()),
                                   _describe)


def _violation(family: Family, same: Family) -> Violation:
    return Violation("Π_i♯C[p⃗] = Π_i♯p_i (Definition 4.1)",
                     "largest projective gap (normalized L2)", ev.projective_gap(family, seeded()))


def _laws(family: Family, same: Family, violation: Violation) -> dict[str, Any]:
    composed_lens, conditional_lens = ev.first_lens_laws(family)
    return {"Π_1♯C[p]": composed_lens, "Π_1♯p_1": conditional_lens}


def not_projective_search(strategy: Callable[[], st.SearchStrategy[Family]]) -> Search:
    """The counterexample search: families from ``strategy()`` not projective by
    ``MARGIN`` times the exact tolerance (and above the grid tolerance)."""
    return Search(strategy, lambda f: ev.not_projective(f, seeded(), MARGIN),
                  family=lambda f: f, verdict="fails-at-t0", describe=_violation, laws=_laws)
