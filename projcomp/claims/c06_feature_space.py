"""C6 (Thm 6.1): if ``A♯p⃗`` is FC with partition ``M``, ``C[p⃗]`` is projective with
respect to ``Π_i(x) = A(x)|M_i``.

Exact (grid quadrature): for 2-D FC feature families pulled back by random nonlinear
diffeomorphisms, the law of ``A(x)`` under ``C[p⃗]`` has the marginal of ``q_i`` on each
``M_i``, up to the grid tolerance.
"""

from __future__ import annotations

from typing import Any

from hypothesis import strategies as st

from numerics.claims import exact as ev
from numerics.claims import strategies as pst
from numerics.tolerances import GRID_TOL
from projcomp.claims.base import ClaimSpec
from projcomp.evidence import INSTANCES, Evidence, holds_for_all, require
from theory.catalogue import claim

# Each instance grids C[p⃗] in 2-D (seconds each): a third of the instances, at least 3.
GRID_INSTANCES = max(3, INSTANCES // 3)


def _check(args: Any) -> None:
    family, diffeo = args
    gap = ev.c6_instance(family, diffeo)
    require(gap <= GRID_TOL, f"grid gap {gap:.3g}")


def exact() -> Evidence:
    two_d = pst.fc_families(min_dim=2, max_dim=2).flatmap(
        lambda f: st.tuples(st.just(f), pst.diffeomorphisms(2)))
    return holds_for_all(two_d, _check, GRID_INSTANCES)


SPEC = ClaimSpec(claim("C6"), exact=exact)
