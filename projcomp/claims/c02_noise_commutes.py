"""C2 (Thm 5.3): under Factorized Conditionals ``C[p⃗^t] = N_t[C[p⃗]]`` for every ``t``.

Exact: on random FC families, at ``TIMES`` noise levels each, the formula on the noised
members equals ``N_t`` of C1's product form, constant included.
"""

from __future__ import annotations

from numerics.claims import exact as ev
from numerics.claims import strategies as pst
from numerics.laws.family import Family
from numerics.sampling.times import time_grid
from projcomp.claims.base import ClaimSpec
from projcomp.evidence import TIMES, Evidence, holds_for_all, require_equal, seeded
from theory.catalogue import claim


def _check(family: Family) -> None:
    for t in time_grid(family.process, TIMES):
        require_equal(ev.c2_instance(family, t, seeded()), f"t={t:.3g}")


def exact() -> Evidence:
    return holds_for_all(pst.fc_families(), _check)


SPEC = ClaimSpec(claim("C2"), exact=exact)
