"""C3 (Thm 5.3): under Factorized Conditionals, reverse diffusion driven by the combined
scores samples ``C[p⃗]``, up to discretization error that vanishes with the step count.

Sampled: on ``fc_family`` the probability-flow ODE's composed run passes the calibrated
test against its oracle run at the largest step count, and its distance to exact draws
falls with the step count.
"""

from __future__ import annotations

from numerics.claims.named_families import fc_family
from projcomp.claims.base import ClaimSpec
from projcomp.claims.sampled import sweep_evidence
from projcomp.evidence import Evidence
from theory.catalogue import claim


def sampled() -> Evidence:
    return sweep_evidence([fc_family()])


SPEC = ClaimSpec(claim("C3"), sampled=sampled)
