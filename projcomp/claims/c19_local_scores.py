"""C19 (ext, THEORY §8; Bradley 2025b): FC ⇔ a block-diagonal background Hessian and
local score differences, at every ``t``.

Exact, from autograd Jacobians of the exact noisy scores (``numerics.checks.locality``)
at every time of the checks' grid (``time_grid``, 12 times):

- FC families (coordinate blocks) and FC families in the features of a random orthogonal
  map with a random offset (scores pulled back to features): the largest non-locality is
  within ``LOCALITY_TOL``;
- the converse, on each kind of FC violation (C16's kinds) at sizes ``SIZES``: every
  family is non-local by ``MARGIN`` times the tolerance, and the mean non-locality grows
  with the size.
"""

from __future__ import annotations

import itertools
from collections.abc import Callable
from dataclasses import replace

from hypothesis import strategies as st
from torch import Tensor

from numerics.checks.locality import LOCALITY_TOL
from numerics.claims import exact as ev
from numerics.claims import strategies as pst
from numerics.laws.family import Family
from numerics.sampling.times import time_grid
from projcomp.claims.base import MARGIN, ClaimSpec
from projcomp.evidence import Evidence, for_all, holds_for_all, require, seeded
from theory.catalogue import claim

INSTANCES = 6
TIMES = 12
SIZES = [0.1, 0.4, 0.8]
FAMILIES = 3


def _local(family: Family, blocks: list[list[int]], seen: list[float]) -> None:
    worst = ev.c19_instance(family, blocks, seeded(), time_grid(family.process, TIMES))
    seen.append(worst)
    require(worst <= LOCALITY_TOL, f"non-locality {worst:.3g} > {LOCALITY_TOL:g}")


def _coordinates(seen: list[float]) -> Callable[[Family], None]:
    return lambda family: _local(family, [list(b) for b in family.projections], seen)


def _features(seen: list[float]) -> Callable[[tuple[Family, Tensor, list[float]]], None]:
    def check(args: tuple[Family, Tensor, list[float]]) -> None:
        family, matrix, offset = args
        pixel = pst.families_in_feature_space(family, matrix, offset)
        _local(pixel, [list(b) for b in family.projections], seen)
    return check


def _orthogonal_families() -> st.SearchStrategy:
    return pst.fc_families(max_dim=6).flatmap(lambda f: st.tuples(
        st.just(f), pst.orthogonal_matrices(f.dim),
        st.lists(st.floats(-2.0, 2.0), min_size=f.dim, max_size=f.dim)))


def violating(kind: str, size: float, count: int, max_dim: int = 4) -> list[Family]:
    """The first ``count`` derandomized families of ``kind`` broken by ``size`` (the size
    consumes no randomness, so every size breaks the same families)."""
    out: list[Family] = []
    for_all(pst.fc_violating_families(kind, size=size, max_dim=max_dim),
            lambda pair: out.append(pair[0]), count)
    return out


def _converse(kind: str) -> Evidence:
    """Every violating family of ``kind`` is non-local at the grid's smallest time, and
    the mean non-locality over the same families grows with the size."""
    per_size = [[ev.c19_instance(f, [list(b) for b in f.projections], seeded(),
                                 time_grid(f.process, TIMES)[:1])
                 for f in violating(kind, size, FAMILIES)] for size in SIZES]
    means = [sum(v) / len(v) for v in per_size]
    smallest = min(min(v) for v in per_size)
    grows = all(a < b for a, b in itertools.pairwise(means))
    line = (f"converse, {kind}: smallest non-locality {smallest:.3g}; mean "
            + ", ".join(f"{m:.3g} at size {s}" for m, s in zip(means, SIZES, strict=True)))
    ok = smallest > MARGIN * LOCALITY_TOL and grows
    return Evidence("holds" if ok else "fails", instances=FAMILIES * len(SIZES),
                    details=[line + ("" if ok else " — locality does not fail as predicted")])


def exact() -> Evidence:
    seen: dict[str, list[float]] = {"FC families": [], "FC in orthogonal features": []}
    local = {"FC families": holds_for_all(pst.fc_families(max_dim=6),
                                          _coordinates(seen["FC families"]), INSTANCES),
             "FC in orthogonal features": holds_for_all(
                 _orthogonal_families(), _features(seen["FC in orthogonal features"]),
                 INSTANCES)}
    labelled = [replace(p, details=[f"{label}, {TIMES} times each — {line} (largest "
                                    f"non-locality {max(seen[label]):.3g}, tolerance "
                                    f"{LOCALITY_TOL:g})" for line in p.details])
                for label, p in local.items()]
    parts = [*labelled, *(_converse(kind) for kind in pst.VIOLATION_KINDS)]
    outcome = next((p.outcome for p in parts if p.outcome != "holds"), "holds")
    return Evidence(outcome, methods=["exact"], instances=sum(p.instances for p in parts),
                    details=[line for p in parts for line in p.details])


SPEC = ClaimSpec(claim("C19"), exact=exact)
