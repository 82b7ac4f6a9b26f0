"""C17 (Lemma 7.2): ``C`` is not continuous in its arguments. THEORY states it as a
negative claim; it asserts an existence — for every ``ε > 0`` some families ``p⃗``, ``q⃗``
have ``TV(p_m, q_m) ≤ ε`` for every member and ``TV(C[p⃗], C[q⃗]) ≥ 1 − ε`` — so it is
recorded as holding by construction (a counterexample search would shrink nothing: the
construction is explicit in ``ε``).

The construction (``numerics.claims.exact.critical_family``): ``k ≥ 2`` conditionals
``N(0, I_n)`` over a background ``N(0, b I_n)`` just wider than the critical
``(k − 1)/k`` at which ``Z = ∞``; ``p⃗`` and ``q⃗`` differ only in the background
(``b = (1 + δ)(k − 1)/k``, ``δ_p = ε³ δ_q``, ``δ_q = 2ε/√n``). The background's tails,
where it has little mass, divide every ratio ``p_i/p_b``: the compositions are
``N(0, v I_n)`` with ``v = (1 + δ)/(k δ)``, variances ``≈ ε⁻³`` apart. Both TVs are
exact: closed forms for centered isotropic Gaussians (regularized incomplete gamma).

Exact: for random ``k ∈ [2, 6]`` and ``n ∈ [1, 8]``, every ``ε`` of :data:`EPS` gives
member TV ``≤ ε`` and composition TV ``≥ 1 − ε``; the curve is the hardest case,
``k = 2``, ``n = 1``. Symbolic: the composed precision ``k δ/(1 + δ)``, its divergence
and the variance ratio (``theory.proofs.c17_critical_precision``).
"""

from __future__ import annotations

from typing import Any

from hypothesis import strategies as st

from numerics.claims import exact as ev
from projcomp.claims.base import ClaimSpec
from projcomp.evidence import Evidence, holds_for_all, require
from theory.catalogue import claim

#: The decreasing sequence of ε at which the construction is measured. It stops at 1e-3:
#: there ``δ_p = 2e-12`` already, and smaller ε would bring ``δ_p`` to float64 round-off
#: of the background variance.
EPS = (0.1, 0.03, 0.01, 0.003, 0.001)
#: Conditionals and dimension of the drawn instances.
MAX_K, MAX_DIM = 6, 8


def strategy() -> st.SearchStrategy[tuple[int, int]]:
    """``(k, n)``: ``2 ≤ k ≤ MAX_K`` conditionals on ``R^n``, ``1 ≤ n ≤ MAX_DIM``."""
    return st.tuples(st.integers(2, MAX_K), st.integers(1, MAX_DIM))


def sequence(k: int, n: int) -> list[ev.Discontinuity]:
    """The construction at every ε of :data:`EPS`."""
    return [ev.c17_instance(eps, k, n) for eps in EPS]


def _check(args: Any) -> None:
    k, n = args
    for d in sequence(k, n):
        require(d.holds, f"k={k}, n={n}, ε={d.eps:g}: member TV {d.member_tv:.3g}, "
                         f"composition TV {d.composition_tv:.6g}")


def exact() -> Evidence:
    found = holds_for_all(strategy(), _check)
    curve = sequence(2, 1)
    line = "; ".join(f"ε={d.eps:g}: members {d.member_tv:.3g}, compositions "
                     f"{d.composition_tv:.6f}" for d in curve)
    return Evidence(found.outcome, methods=found.methods, instances=found.instances,
                    details=[*found.details, f"exact TVs at k = 2, n = 1: {line}"], curve=curve)


SPEC = ClaimSpec(claim("C17"), exact=exact)
