"""C11 (negative, §3, Fig. 3): Bayes composition, ``C`` with the unconditional
background ``p_b = (1/k) Σ_ℓ p_ℓ``, is not projective in general.

Exact and search: FC families (``k ≥ 2``, dimension ≤ 2) recomposed over their
unconditional background, one of which is not projective (``projective``).
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
    return pst.fc_families(min_k=2, max_dim=2).map(ev.bayes_family)


def exact() -> Evidence:
    return not_projective_evidence(strategy())


SPEC = ClaimSpec(claim("C11"), exact=exact, search=not_projective_search(strategy))
