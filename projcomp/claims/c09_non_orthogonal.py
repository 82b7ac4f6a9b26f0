"""C9 (negative, Lemma 7.2): for a non-orthogonal linear feature map ``A``, in general
``C[p⃗^t] ≠ N_t[C[p⃗]]`` for ``t > 0`` (with mixture or heteroscedastic blocks), so
reverse diffusion with the combined scores misses ``C[p⃗]``.

Exact: a search over FC feature families with Gaussian background blocks under random
linear maps finds one whose two sides differ at some time of the judge's grid. Sampled:
on ``shear_family`` the plain samplers' composed runs are rejected against their oracle
runs, which reach exact draws. Search: the same families (dimension ≤ 2), broken by
``MARGIN`` times the tolerance of ``check``'s own measure; ``projcomp check`` reports
the family spec ``fails-in-sampling``.
"""

from __future__ import annotations

from typing import Any

from hypothesis import strategies as st

from numerics.checks.judge import TIME_POINTS
from numerics.claims import exact as ev
from numerics.claims import sampled as sc
from numerics.claims import strategies as pst
from numerics.claims.named_families import shear_family
from numerics.laws.family import Family
from numerics.sampling.times import time_grid
from projcomp.claims.base import MARGIN, ClaimSpec, Search, Violation
from projcomp.claims.sampled import shear_line
from projcomp.evidence import Evidence, counterexample_evidence, seeded
from theory.catalogue import claim


def strategy(max_dim: int = 4) -> st.SearchStrategy:
    """``(feature family, matrix)``: FC families with Gaussian background blocks (mixture
    conditionals) under general linear maps ``(n, n)``; every composition along the noise
    path is an exact mixture."""
    return pst.fc_families(min_k=2, max_dim=max_dim).map(ev.with_gaussian_background).flatmap(
        lambda f: st.tuples(st.just(f), pst.linear_maps(f.dim)))


def _breaks_pointwise(args: Any) -> bool:
    """The two sides are not the same law at some time of the judge's grid."""
    family, matrix = args
    pixel = pst.families_in_feature_space(family, matrix)
    return any(not ev.commutation_instance(pixel, t, seeded()).same_law
               for t in time_grid(family.process, TIME_POINTS))


def exact() -> Evidence:
    return counterexample_evidence(strategy(), _breaks_pointwise, lambda a: (
        f"dim {a[0].dim}, k {a[0].k}, map {a[1].tolist()}"))


def sampled() -> Evidence:
    """The shear family: every plain sampler's composed run is rejected against its
    oracle run, which itself reaches exact draws."""
    found = sc.plain_failures(shear_family())
    fails = all(f["composed_rejected"] and f["oracle_reaches_target"] for f in found)
    return Evidence("fails" if fails else "holds", methods=["sampled"], instances=len(found),
                    details=[shear_line(f) for f in found], sampling={"runs": found})


def _pixel(args: Any) -> Family:
    return pst.families_in_feature_space(*args)


def _violation(args: Any, pixel: Family) -> Violation:
    gap, t = ev.check_commutation_gap(pixel)
    return Violation("C[p⃗^t] = N_t[C[p⃗]]", gap.metric, gap.value, map=args[1].tolist(),
                     worst_t=t)


def _laws(args: Any, pixel: Family, violation: Violation) -> dict[str, Any]:
    composed_noisy, noised_composed = ev.commutation_laws(pixel, violation.worst_t)
    return {"C[p^t]": composed_noisy, "N_t[C[p]]": noised_composed}


SPEC = ClaimSpec(claim("C9"), exact=exact, sampled=sampled, search=Search(
    lambda: strategy(max_dim=2), lambda a: ev.commutation_breaks(_pixel(a), MARGIN),
    family=_pixel, verdict="fails-in-sampling", describe=_violation, laws=_laws))
