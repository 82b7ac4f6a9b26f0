"""C14 (negative, ext): under Factorized Conditionals the weighted composition ``C_w``
with some ``w_i ≠ 1`` is not projective: it tilts block ``M_i`` to
``∝ p_i(x|M_i)^{w_i} p_b(x|M_i)^{1−w_i}``.

Exact and search: FC families (dimension ≤ 2) with weights drawn in ``[0.25, 3]``, one of
which is not projective (``projective``).
"""

from __future__ import annotations

from hypothesis import strategies as st

from numerics.claims import exact as ev
from numerics.claims import strategies as pst
from numerics.laws.family import Family
from projcomp.claims.base import ClaimSpec
from projcomp.claims.projective import not_projective_evidence, not_projective_search
from projcomp.evidence import Evidence
from theory.catalogue import claim


def strategy() -> st.SearchStrategy[Family]:
    return pst.fc_families(max_dim=2).flatmap(lambda f: st.lists(
        st.floats(0.25, 3.0), min_size=f.k, max_size=f.k).map(
        lambda w: ev.reweighted(f, w)))


def exact() -> Evidence:
    return not_projective_evidence(strategy())


SPEC = ClaimSpec(claim("C14"), exact=exact, search=not_projective_search(strategy))
