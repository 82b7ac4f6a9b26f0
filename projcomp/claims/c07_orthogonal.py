"""C7 (§7): for an orthogonal feature map ``A`` (with ``A♯p⃗`` FC), noise commutes with
``C`` and reverse diffusion on the combined scores samples ``C[p⃗]``.

Exact: for random FC feature families under random orthogonal maps,
``C[p⃗^t] = N_t[C[p⃗]]`` in pixel space, constant included. Sampled: on ``fc_orthogonal``
and ``fc_block_orthogonal`` the composed ODE runs pass the calibrated test against their
oracle runs and approach exact draws as the step count grows.
"""

from __future__ import annotations

from numerics.claims import strategies as pst
from numerics.claims.named_families import fc_block_orthogonal, fc_orthogonal
from projcomp.claims.base import ClaimSpec
from projcomp.claims.commutation import commutes_under
from projcomp.claims.sampled import sweep_evidence
from projcomp.evidence import Evidence
from theory.catalogue import claim


def exact() -> Evidence:
    return commutes_under(lambda f: pst.orthogonal_matrices(f.dim))


def sampled() -> Evidence:
    return sweep_evidence([fc_orthogonal(), fc_block_orthogonal()])


SPEC = ClaimSpec(claim("C7"), exact=exact, sampled=sampled)
