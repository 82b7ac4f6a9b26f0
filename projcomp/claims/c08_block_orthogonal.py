"""C8 (ext): a block-orthogonal linear map (``A Aᵀ`` block-diagonal over the FC
partition, ``A = D Q`` with ``D`` block-diagonal and ``Q`` orthogonal) suffices for noise
to commute with ``C``.

Exact: for random FC feature families under random block-orthogonal maps whose blocks are
the family's projections (and the background coordinates),
``C[p⃗^t] = N_t[C[p⃗]]`` in pixel space, constant included.
"""

from __future__ import annotations

from numerics.claims import strategies as pst
from numerics.laws.family import Family
from projcomp.claims.base import ClaimSpec
from projcomp.claims.commutation import commutes_under
from projcomp.evidence import Evidence
from theory.catalogue import claim


def _blocks(family: Family) -> list[list[int]]:
    """The family's projections, then the coordinates in none of them (if any)."""
    used = {c for b in family.projections for c in b}
    rest = [c for c in range(family.dim) if c not in used]
    return [list(b) for b in family.projections] + ([rest] if rest else [])


def exact() -> Evidence:
    return commutes_under(lambda f: pst.block_orthogonal_matrices(_blocks(f)))


SPEC = ClaimSpec(claim("C8"), exact=exact)
