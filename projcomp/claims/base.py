"""What a claim module declares: one :class:`ClaimSpec` per claim of THEORY.md.

A spec names the claim's catalogue entry (``theory.catalogue``: statement, paper,
hypotheses, prediction, methods) and the code that brings its evidence:

- ``exact`` and ``sampled``: runners returning :class:`~projcomp.evidence.Evidence`, one
  per active method of the catalogue entry (symbolic evidence needs no runner: it is every
  result of ``theory.proofs`` that names the claim);
- ``search``: for a negative claim, how ``projcomp counterexamples`` searches, shrinks
  and reports a counterexample (:class:`Search`);
- ``figures``: figures of ``projcomp verify``'s report drawn from the claim's evidence.

``tests/test_registry.py`` checks every spec against its catalogue entry.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from hypothesis import strategies as st

from numerics.laws.family import Family
from projcomp.evidence import Evidence
from theory.catalogue import Claim

# A counterexample must break its claim by this factor over the exact tolerance, so that
# `projcomp check` (which judges at EXACT_TOL or GRID_TOL) reproduces it with room to spare.
MARGIN = 100.0


@dataclass(frozen=True)
class Violation:
    """What a counterexample violates (``violated``, a formula), by how much (``amount``
    in ``metric``), under which map (``map``: a matrix or a nonlinear map's repr) and at
    which time (``worst_t``) when the claim is about the noise path."""

    violated: str
    metric: str
    amount: float
    map: Any = None
    worst_t: float | None = None


@dataclass(frozen=True)
class Search:
    """How one negative claim is searched and reported.

    ``strategy()`` draws instances; ``breaks(instance)`` says whether one breaks the
    claim by :data:`MARGIN`; ``family(instance)`` is the family it composes;
    ``verdict`` is what ``projcomp check`` reports on that family written as a family spec
    (None when no spec can express the instance, e.g. a nonlinear map: then the report
    is a ``projcomp.counterexample/1`` document); ``describe(instance, family)`` measures
    the violation; ``laws(instance, family, violation)`` are the two laws the claim says
    agree, by label, for the report's figure (first-coordinate marginals are plotted).
    """

    strategy: Callable[[], st.SearchStrategy]
    breaks: Callable[[Any], bool]
    family: Callable[[Any], Family]
    verdict: str | None
    describe: Callable[[Any, Family], Violation]
    laws: Callable[[Any, Family, Violation], dict[str, Any]]


@dataclass(frozen=True)
class ReportFigure:
    """A figure of ``projcomp verify``'s report: ``file`` in the report folder, drawn by
    ``draw(evidence, path)`` from the claim's evidence."""

    file: str
    draw: Callable[[Evidence, Path], None]


@dataclass(frozen=True)
class ClaimSpec:
    """One claim, declared once: its catalogue entry, its evidence runners, its
    counterexample search and its report figures (module docstring)."""

    claim: Claim
    exact: Callable[[], Evidence] | None = None
    sampled: Callable[[], Evidence] | None = None
    search: Search | None = None
    figures: tuple[ReportFigure, ...] = ()
