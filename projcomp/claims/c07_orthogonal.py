"""C7 (§7): for an orthogonal feature map ``A x = Q x + b`` (``QᵀQ = I``, any offset
``b``; ``A♯p⃗`` FC), noise commutes with ``C`` and reverse diffusion on the combined scores
samples ``C[p⃗]``.

Exact: for random FC feature families under random orthogonal maps, with random nonzero
offsets (``numerics.claims.strategies.offsets``) under VP and VE (``processes``):

- ``C[p⃗^t] = N_t[C[p⃗]]`` in pixel space, constant included (``commutation_instance``);
- member by member, ``A♯N_t[p] = τ♯N_t[A♯p]`` with the shift ``τ(y) = y + (1 − a_t) b``
  (closed-form normalized L2 ``≤ EXACT_TOL``; ``offset_shift_gap``): 0 under VE, where
  ``a_t = 1``, and a translation under VP that every member shares, so the composition
  identity holds by C4.

Sampled: on ``fc_orthogonal`` and ``fc_block_orthogonal`` the composed ODE runs pass the
calibrated test against their oracle runs and approach exact draws as the step count grows.
"""

from __future__ import annotations

from dataclasses import replace
from typing import Any

from hypothesis import strategies as st

from numerics.claims import exact as ev
from numerics.claims import strategies as pst
from numerics.claims.named_families import fc_block_orthogonal, fc_orthogonal
from numerics.laws.family import Family
from numerics.sampling.times import time_grid
from numerics.tolerances import EXACT_TOL
from projcomp.claims.base import ClaimSpec
from projcomp.claims.commutation import require_commutes
from projcomp.claims.sampled import sweep_evidence
from projcomp.evidence import TIMES, Evidence, holds_for_all, require
from theory.catalogue import claim


def strategy() -> st.SearchStrategy[Family]:
    """Pixel-space families: FC feature families (``numerics.claims.strategies``) under
    ``A x = Q x + b``, ``Q`` Haar-orthogonal, ``b ≠ 0``, with VP or VE."""
    return st.tuples(pst.fc_families(), pst.processes()).flatmap(
        lambda fp: st.tuples(st.just(replace(fp[0], process=fp[1])),
                             pst.orthogonal_matrices(fp[0].dim), pst.offsets(fp[0].dim))
    ).map(lambda fqb: pst.families_in_feature_space(*fqb))


def require_shifts(pixel: Family) -> None:
    """Every member: ``A♯N_t[p] = N_t[A♯p] + (1 − a_t) b`` at ``TIMES`` noise levels."""
    fm = pixel.feature_map
    for t in time_grid(pixel.process, TIMES):
        gap = max(ev.offset_shift_gap(p, fm.matrix, fm.offset, t, pixel.process)
                  for p in pixel.members)
        # closed-form normalized L2: EXACT_TOL (1e-9) is a thousandfold above round-off
        require(gap <= EXACT_TOL, f"t={t:.3g}: A♯N_t[p] vs shifted N_t[A♯p], gap {gap:.3g}")


def _check(pixel: Any) -> None:
    require_commutes(pixel)
    require_shifts(pixel)


def exact() -> Evidence:
    return holds_for_all(strategy(), _check)


def sampled() -> Evidence:
    return sweep_evidence([fc_orthogonal(), fc_block_orthogonal()])


SPEC = ClaimSpec(claim("C7"), exact=exact, sampled=sampled)
