"""C10 (Lemma 8.1): if ``A`` is orthogonal and ``A♯p⃗`` is FC, the mean differences
``δ_i = E_{p_i}[x] − E_{p_b}[x]`` are pairwise orthogonal.

Exact: for random FC feature families under random orthogonal maps, the largest
``|cos(δ_i, δ_j)|`` (with the resolution floor of ``numerics.checks.heuristic``) is
within ``ORTHOGONALITY_TOL``.
"""

from __future__ import annotations

from typing import Any

from hypothesis import strategies as st

from numerics.claims import exact as ev
from numerics.claims import strategies as pst
from projcomp.claims.base import ClaimSpec
from projcomp.evidence import Evidence, holds_for_all, require
from theory.catalogue import claim


def _check(args: Any) -> None:
    family, matrix = args
    worst = ev.c10_instance(pst.families_in_feature_space(family, matrix))
    require(worst <= ev.ORTHOGONALITY_TOL, f"largest |cos(δ_i, δ_j)| {worst:.3g}")


def exact() -> Evidence:
    families = pst.fc_families().flatmap(
        lambda f: st.tuples(st.just(f), pst.orthogonal_matrices(f.dim)))
    return holds_for_all(families, _check)


SPEC = ClaimSpec(claim("C10"), exact=exact)
