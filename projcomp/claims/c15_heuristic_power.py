"""C15 (ext): the predictive power of the Lemma 8.1 heuristic (ROC/AUC on random
families with computable truth). Every method is pending (a later issue's
measurement), so the claim has no runner and is reported ``pending``.
"""

from __future__ import annotations

from projcomp.claims.base import ClaimSpec
from theory.catalogue import claim

SPEC = ClaimSpec(claim("C15"))
