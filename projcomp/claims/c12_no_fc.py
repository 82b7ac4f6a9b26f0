"""C12 (negative, §5): without Factorized Conditionals, ``C[p⃗]`` is in general not a
projective composition.

Exact and search: families that break FC in one named way (cross-block dependence,
off-block mismatch or background dependence; dimension ≤ 2), one of which is not
projective (``projective``).
"""

from __future__ import annotations

from hypothesis import strategies as st

from numerics.claims import strategies as pst
from numerics.laws.family import Family
from projcomp.claims.base import ClaimSpec
from projcomp.claims.projective import not_projective_evidence, not_projective_search
from projcomp.evidence import Evidence
from theory.catalogue import claim

# Overlapping blocks have no FC partition to break.
KINDS = [k for k in pst.VIOLATION_KINDS if k != "overlapping_blocks"]


def strategy() -> st.SearchStrategy[Family]:
    return st.sampled_from(KINDS).flatmap(
        lambda kind: pst.fc_violating_families(kind, max_dim=2).map(lambda pair: pair[0]))


def exact() -> Evidence:
    return not_projective_evidence(strategy())


SPEC = ClaimSpec(claim("C12"), exact=exact, search=not_projective_search(strategy))
