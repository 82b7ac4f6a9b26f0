"""C16 (ext, THEORY §9): the projective gap grows continuously from 0 with the size of an
FC violation.

Exact: for each kind of violation (cross-block dependence, off-block mismatch,
background dependence), the same derandomized 2-D families broken by increasing sizes;
the mean gap must be 0 at size 0 and vanish with the size. Figure: the gap against the
size, log-log, one curve per kind.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from pathlib import Path

from numerics.claims import exact as ev
from numerics.claims import strategies as pst
from numerics.laws.family import Family
from numerics.tolerances import EXACT_TOL
from projcomp.claims.base import ClaimSpec, ReportFigure
from projcomp.evidence import Evidence, for_all, seeded
from theory.catalogue import claim

SIZES = [0.0, 0.05, 0.1, 0.2, 0.4, 0.8]
FAMILIES = 4
KINDS = [k for k in pst.VIOLATION_KINDS if k != "overlapping_blocks"]


@dataclass(frozen=True)
class GapCurve:
    """The measurement behind the figure: ``sizes`` of the violation; per kind, the mean
    gap over the families at each size (``gaps``; None past the first size at which every
    family is non-normalizable) and the constant ``c`` of ``gap ≤ c · size²`` over every
    measured point (``bound_c``)."""

    sizes: list[float]
    gaps: dict[str, list[float | None]] = field(default_factory=dict)
    bound_c: dict[str, float] = field(default_factory=dict)


def _families(kind: str, size: float) -> list[Family]:
    """The first ``FAMILIES`` derandomized families broken by ``size`` (the size consumes
    no randomness, so every size breaks the same families)."""
    out: list[Family] = []
    for_all(pst.fc_violating_families(kind, size=size, max_dim=2),
            lambda pair: out.append(pair[0]), FAMILIES)
    return out


def _log_slope(x: list[float], y: list[float]) -> float:
    """Least-squares slope of ``log y`` against ``log x``."""
    lx = [math.log(v) for v in x]
    ly = [math.log(max(v, 1e-300)) for v in y]
    mx, my = sum(lx) / len(lx), sum(ly) / len(ly)
    return sum((a - mx) * (b - my) for a, b in zip(lx, ly, strict=True)) / \
        sum((a - mx) ** 2 for a in lx)


def _kind(kind: str, curve: GapCurve) -> Evidence:
    """One kind's curve (written into ``curve``) and its verdict: ``fails`` when the gap
    is not 0 at size 0 or, at the smallest size (16× below the largest), not below a
    tenth of its largest value; ``undecided`` without normalizable families at the three
    smallest sizes."""
    per_size = [[ev.projective_gap_or_none(f, seeded()) for f in _families(kind, size)]
                for size in SIZES]
    instances = sum(len(gaps) for gaps in per_size)
    finite = [[g for g in gaps if g is not None] for gaps in per_size]
    if not all(finite[:3]):
        return Evidence("undecided", instances=instances,
                        details=[f"{kind}: no normalizable family at the smallest sizes"])
    # sizes at which every family is non-normalizable end the curve
    measured = next((i for i, gaps in enumerate(finite) if not gaps), len(finite))
    mean = [sum(gaps) / len(gaps) for gaps in finite[:measured]]
    curve.gaps[kind] = mean + [None] * (len(finite) - measured)
    slope = _log_slope(SIZES[1:3], mean[1:3]) if min(mean[1:3]) > 0 else math.nan
    bound = max(g / size**2 for size, gaps in zip(SIZES[1:measured], finite[1:measured],
                                                   strict=True) for g in gaps)
    curve.bound_c[kind] = bound
    dropped = sum(g is None for gaps in per_size for g in gaps)
    details = [f"{kind}: mean gap {mean[1]:.3g} at size {SIZES[1]}, {mean[-1]:.3g} at "
               f"{SIZES[measured - 1]}; small-size log-log slope {slope:.2f}; "
               f"gap ≤ {bound:.3g}·size² at every point; {dropped} of "
               f"{len(per_size) * FAMILIES} points left out as non-normalizable"]
    if max(finite[0]) > EXACT_TOL or mean[1] > 0.1 * max(mean) + EXACT_TOL:
        details.append(f"{kind}: the gap does not vanish with the violation")
        return Evidence("fails", instances=instances, details=details)
    return Evidence("holds", instances=instances, details=details)


def exact() -> Evidence:
    """The projective gap against the size of each kind of violation; the claim holds
    when every kind's curve holds (``_kind``). The small-size log-log slope and the
    constant of the conjectured bound ``gap ≤ c · size²`` are reported."""
    curve = GapCurve(SIZES)
    parts = [_kind(kind, curve) for kind in KINDS]
    outcome = next((p.outcome for p in reversed(parts) if p.outcome != "holds"), "holds")
    return Evidence(outcome, methods=["exact"], instances=sum(p.instances for p in parts),
                    details=[line for p in parts for line in p.details], curve=curve)


def gap_figure(evidence: Evidence, path: Path) -> None:
    """The mean projective gap against the violation's size, log-log, per kind."""
    import matplotlib.pyplot as plt
    from matplotlib.ticker import NullFormatter

    from projcomp import atomic

    curve = evidence.curve
    fig, ax = plt.subplots(figsize=(5.5, 3.8))
    for kind, gaps in curve.gaps.items():
        points = [(s, g) for s, g in zip(curve.sizes[1:], gaps[1:], strict=True)
                  if g is not None]
        ax.plot(*zip(*points, strict=True), marker="o", label=kind.replace("_", " "))
    ax.set_xscale("log")
    ax.set_yscale("log")
    ax.xaxis.set_minor_formatter(NullFormatter())
    ax.set_xlabel("size of the FC violation")
    ax.set_ylabel("largest projective gap (normalized L2)")
    ax.set_title("C16: projective gap vs FC violation")
    ax.legend(fontsize=8)
    atomic.save_figure(path, fig)


SPEC = ClaimSpec(claim("C16"), exact=exact,
                 figures=(ReportFigure("c16_gap_vs_violation.png", gap_figure),))
