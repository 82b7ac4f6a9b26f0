"""C20 (ext, THEORY §8; Bradley 2025b): the locality statistic ``L_j`` (off-block Jacobian
mass of the score differences, ``numerics.checks.locality``) needs scores only, grows with
the size of an FC violation and shrinks as noise grows.

Exact (every number from exact noisy scores, the statistic by Jacobian–vector products):

- **agreement**: on violating families of every kind, the JVP estimate agrees with the
  exact-Jacobian value at the same points within ``AGREEMENT_SE`` standard errors;
- **against size** (the curves use the exact-Jacobian value of ``L_j``, which the
  agreement check ties to the estimate): per kind, the mean ``max_j L_j`` over the same
  ``FAMILIES`` families at the grid's smallest time is 0 at size 0 (within
  ``LOCALITY_TOL``) and increases with the size;
- **against t**: per kind, at size ``T_SIZE``, the mean statistic at the largest time is
  below ``NOISE_DROP`` times its largest value, and it decreases over the last
  ``TAIL`` times of the grid. At low noise the curve is flat within the estimate's
  error, not monotone; the report gives its largest rise there.
"""

from __future__ import annotations

import itertools
from dataclasses import dataclass, field
from pathlib import Path

from numerics.checks.locality import (
    LOCALITY_TOL,
    exact_share,
    family_points,
    locality_statistic,
    member_scores,
)
from numerics.claims import exact as ev
from numerics.claims import strategies as pst
from numerics.laws.family import Family
from numerics.sampling.times import time_grid
from projcomp.claims.base import ClaimSpec, ReportFigure
from projcomp.claims.c19_local_scores import violating
from projcomp.evidence import Evidence, seeded
from theory.catalogue import claim

SIZES = [0.0, 0.1, 0.2, 0.4, 0.8]
T_SIZE = 0.4
FAMILIES = 3
# Families per kind (every conditional of each) and probe pairs per point of the agreement.
AGREEMENT_FAMILIES = 1
AGREEMENT_PROBES = 16
TIMES = 8
TAIL = 3
# The high-noise end: L ∝ (a_t/s_t)⁴ (module docstring of numerics.checks.locality), and
# a_T/s_T ≈ 7e-3 for the default VP, so the largest time must be far below the plateau.
NOISE_DROP = 1e-3
# Agreement of the JVP estimate with the exact value at the same points: the standard
# error covers the probe noise (and more); 5 se is a two-sided false-failure rate of 6e-7
# per instance under the normal approximation, far below 1e-3 over the instances run.
AGREEMENT_SE = 5.0
# L_j is a ratio of squared norms: on FC blocks both sides are round-off, ≤ LOCALITY_TOL².
ROUNDOFF = LOCALITY_TOL**2


@dataclass(frozen=True)
class LocalityCurves:
    """The numbers behind C20's figures: per kind, the mean statistic at each of ``sizes``
    (at ``t = times[0]``) and at each of ``times`` (at size ``t_size``)."""

    sizes: list[float]
    times: list[float]
    t_size: float
    by_size: dict[str, list[float]] = field(default_factory=dict)
    by_time: dict[str, list[float]] = field(default_factory=dict)


def _mean(values: list[float]) -> float:
    return sum(values) / len(values)


def _agreement(families: dict[float, list[Family]], kind: str) -> tuple[bool, str]:
    """JVP estimate against the exact-Jacobian value, per conditional, at ``T_SIZE``."""
    worst = 0.0
    for family in families[T_SIZE][:AGREEMENT_FAMILIES]:
        noisy = family.noised(time_grid(family.process, TIMES)[0])
        scores = member_scores(noisy)
        for j, block in enumerate(family.projections):
            x = family_points(noisy, j, 32, seeded())
            est = locality_statistic(scores[j + 1], scores[0], x, block, seeded(),
                                     AGREEMENT_PROBES)
            exact = exact_share(scores[j + 1], scores[0], x, block)
            worst = max(worst, abs(est.statistic - exact) / max(est.stderr, ROUNDOFF))
    ok = worst <= AGREEMENT_SE
    return ok, f"{kind}: JVP estimate vs exact Jacobians, largest |difference| {worst:.2f} se"


def _by_size(families: dict[float, list[Family]], kind: str,
             curves: LocalityCurves) -> tuple[bool, str]:
    t = curves.times[0]
    means = [_mean([ev.c20_statistic(f, t, seeded()) for f in families[s]])
             for s in curves.sizes]
    curves.by_size[kind] = means
    ok = means[0] <= LOCALITY_TOL and all(a < b for a, b in itertools.pairwise(means))
    return ok, (f"{kind}: mean statistic " + ", ".join(
        f"{m:.3g} at size {s}" for m, s in zip(means, curves.sizes, strict=True)))


def _by_time(families: dict[float, list[Family]], kind: str,
             curves: LocalityCurves) -> tuple[bool, str]:
    means = [_mean([ev.c20_statistic(f, t, seeded()) for f in families[curves.t_size]])
             for t in curves.times]
    curves.by_time[kind] = means
    tail = means[-TAIL:]
    rise = max(b / a - 1.0 for a, b in itertools.pairwise(means[:-TAIL]))
    ok = means[-1] <= NOISE_DROP * max(means) and all(
        a > b for a, b in itertools.pairwise(tail))
    return ok, (f"{kind}: statistic {means[0]:.3g} at t = {curves.times[0]:.3g}, "
                f"{means[-1]:.3g} at t = {curves.times[-1]:.3g}; decreasing over the last "
                f"{TAIL} times; largest rise between low-noise neighbours {rise:+.0%}")


def exact() -> Evidence:
    """Agreement, the curve against size and the curve against ``t`` for every kind."""
    times = time_grid(violating("cross_block_dependence", 0.0, 1)[0].process, TIMES)
    curves = LocalityCurves(SIZES, times, T_SIZE)
    checks = []
    for kind in pst.VIOLATION_KINDS:
        families = {size: violating(kind, size, FAMILIES) for size in SIZES}
        checks += [_agreement(families, kind), _by_size(families, kind, curves),
                   _by_time(families, kind, curves)]
    failed = [line for ok, line in checks if not ok]
    details = [line for _, line in checks] + [f"not as predicted: {line}" for line in failed]
    instances = len(pst.VIOLATION_KINDS) * (AGREEMENT_FAMILIES
                                            + FAMILIES * (len(SIZES) + len(times)))
    return Evidence("fails" if failed else "holds", methods=["exact"], instances=instances,
                    details=details, curve=curves)


def size_figure(evidence: Evidence, path: Path) -> None:
    """The mean locality statistic against the violation's size, log-log, per kind."""
    curves: LocalityCurves = evidence.curve
    _plot(path, curves.sizes[1:], {k: v[1:] for k, v in curves.by_size.items()},
          "size of the FC violation",
          f"C20: locality vs FC violation (t = {curves.times[0]:.3g})")


def time_figure(evidence: Evidence, path: Path) -> None:
    """The mean locality statistic against ``t``, log-log, per kind."""
    curves: LocalityCurves = evidence.curve
    _plot(path, curves.times, curves.by_time, "t (VP)",
          f"C20: locality vs noise (violation size {curves.t_size})")


def _plot(path: Path, x: list[float], ys: dict[str, list[float]], xlabel: str,
          title: str) -> None:
    import matplotlib.pyplot as plt
    from matplotlib.ticker import NullFormatter

    from projcomp import atomic

    fig, ax = plt.subplots(figsize=(5.5, 3.8))
    for kind, y in ys.items():
        ax.plot(x, [max(v, 1e-300) for v in y], marker="o", label=kind.replace("_", " "))
    ax.set_xscale("log")
    ax.set_yscale("log")
    ax.xaxis.set_minor_formatter(NullFormatter())
    ax.set_xlabel(xlabel)
    ax.set_ylabel("mean max_j L_j (off-block Jacobian mass)")
    ax.set_title(title)
    ax.legend(fontsize=8)
    atomic.save_figure(path, fig)


SPEC = ClaimSpec(claim("C20"), exact=exact,
                 figures=(ReportFigure("c20_locality_vs_violation.png", size_figure),
                          ReportFigure("c20_locality_vs_time.png", time_figure)))
