"""C1 (Thm 5.3): under Factorized Conditionals ``C[p⃗] = p_b(x|M_b) Π_i p_i(x|M_i)``, a
projective composition.

Exact: on random FC families, the defining formula ``Σ_m e_m log p_m(x)`` equals the log
of the product form at every probe point, constant included (``Z = 1``).
"""

from __future__ import annotations

from numerics.claims import exact as ev
from numerics.claims import strategies as pst
from projcomp.claims.base import ClaimSpec
from projcomp.evidence import Evidence, holds_for_all, require_equal, seeded
from theory.catalogue import claim


def exact() -> Evidence:
    return holds_for_all(pst.fc_families(), lambda f: require_equal(
        ev.c1_instance(f, seeded()), "C[p] vs product form"))


SPEC = ClaimSpec(claim("C1"), exact=exact)
