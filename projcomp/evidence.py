"""What the runs of one claim found, and the toolkit every claim module uses to run them.

- :class:`Evidence`: one claim's findings (a typed record; ``projcomp.verify`` turns it
  into the ``results.json`` entry through ``numerics.records.to_json``).
- :func:`require` and :class:`InstanceFailed`: a verdict on one instance is an explicit
  exception, never an ``assert`` (``python -O`` strips asserts, and a failing instance
  would then pass).
- Positive claims (``holds``): :func:`holds_for_all` runs a check on derandomized draws
  of a Hypothesis strategy; the claim holds when no instance raises
  :class:`InstanceFailed`.
- Negative claims (``fails``): :func:`counterexample_evidence` searches one instance that
  breaks the claim's conclusion (existence only; ``projcomp counterexamples`` shrinks).
- :func:`combined`: one claim's evidence from its parts (exact, symbolic, sampled).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any

import torch
from hypothesis import HealthCheck, Phase, find, given, settings
from hypothesis import strategies as st
from hypothesis.errors import NoSuchExample

from numerics.claims.exact import Pointwise

# Embedded defaults of `projcomp verify`: instances per exact property, examples per
# counterexample search, and noise levels per instance of the noise-commutation claims.
INSTANCES = 20
SEARCH = 60
TIMES = 3

# Hypothesis phases of a search: the explain phase only annotates failure reports and
# costs several times the search and the shrink themselves (C5: 32 s against 3.7 s).
SEARCH_PHASES = [Phase.explicit, Phase.reuse, Phase.generate, Phase.target, Phase.shrink]


@dataclass(frozen=True)
class Evidence:
    """One claim's findings: ``outcome`` is ``holds``, ``fails``, ``pending`` or
    ``undecided``; ``methods`` the kinds of evidence that ran (``exact``, ``symbolic``,
    ``sampled``), ``instances`` how many instances, identities or sampled measurements
    they checked, ``details`` the report lines. ``counterexample`` is the instance a
    negative claim's search found; ``curve`` and ``sampling`` are the numbers behind a
    figure or a sampled measurement (records of the claim's own module); ``auc`` and
    ``locality_auc`` are C15's AUC intervals ``{truth: [lo, mid, hi]}``."""

    outcome: str
    methods: list[str] = field(default_factory=list)
    instances: int = 0
    details: list[str] = field(default_factory=list)
    counterexample: Any = None
    curve: Any = None
    sampling: Any = None
    auc: dict[str, list[float]] | None = None
    locality_auc: dict[str, list[float]] | None = None


class InstanceFailed(Exception):
    """One instance of a positive claim broke it; the message says by how much."""


def require(condition: bool, message: str) -> None:
    """Raise :class:`InstanceFailed` with ``message`` unless ``condition``: the verdict on
    one instance, kept under ``python -O``."""
    if not condition:
        raise InstanceFailed(message)


def require_equal(p: Pointwise, what: str) -> None:
    """Two log-densities of the same law with the same normalization (``p.equal``)."""
    require(p.equal, f"{what}: spread {p.spread:.3g}, offset {p.offset:.3g}")


def require_same_law(p: Pointwise, what: str) -> None:
    """Two log-densities of the same law, up to a constant (``p.same_law``)."""
    require(p.same_law, f"{what}: spread {p.spread:.3g}")


def seeded() -> torch.Generator:
    """The generator of every probe-point draw of the exact checks (seed 0)."""
    return torch.Generator().manual_seed(0)


def search_settings(examples: int, *, shrink: bool = True, derandomize: bool = True
                    ) -> settings:
    """Hypothesis settings of the claims' runs: ``examples`` draws, no database, no
    deadline, every health check off (families are slow to draw by design), one reported
    failure, and :data:`SEARCH_PHASES` (without the shrink phase unless ``shrink``)."""
    phases = SEARCH_PHASES if shrink else SEARCH_PHASES[:3]
    return settings(derandomize=derandomize, database=None, deadline=None,
                    max_examples=examples, suppress_health_check=list(HealthCheck),
                    print_blob=False, phases=phases, report_multiple_bugs=False)


def for_all(strategy: st.SearchStrategy, check: Callable[[Any], None], examples: int) -> int:
    """Run ``check`` on ``examples`` derandomized draws of ``strategy``; the count run.
    An exception raised by ``check`` (after Hypothesis shrinks the instance) propagates.

    Hypothesis seeds derandomized draws from ``prop``'s source text, decorator lines
    included (it strips them only from unindented functions): keep those lines as they
    are, or every instance ``projcomp verify`` draws (and C16's measured curve) changes."""
    count = 0
    _settings = search_settings

    @_settings(examples)
    @given(strategy)
    def prop(instance: Any) -> None:
        nonlocal count
        count += 1
        check(instance)

    prop()
    return count


def holds_for_all(strategy: st.SearchStrategy, check: Callable[[Any], None],
                  examples: int = INSTANCES) -> Evidence:
    """Exact evidence for a positive claim: ``holds`` when ``check`` passes on every
    draw, ``fails`` with the (shrunk) instance's message when it raises
    :class:`InstanceFailed`."""
    try:
        count = for_all(strategy, check, examples)
    except InstanceFailed as err:
        return Evidence("fails", methods=["exact"], details=[f"exact: failed — {err}"])
    return Evidence("holds", methods=["exact"], instances=count,
                    details=[f"exact: {count} random instances passed"])


def search(strategy: st.SearchStrategy, predicate: Callable[[Any], bool], examples: int,
           shrink: bool = True) -> Any:
    """An instance satisfying ``predicate`` (shrunk by Hypothesis when ``shrink``), or
    None. ``verify`` only needs existence; the tests shrink."""
    try:
        return find(strategy, predicate, settings=search_settings(examples, shrink=shrink))
    except NoSuchExample:
        return None


def counterexample_evidence(strategy: st.SearchStrategy, breaks: Callable[[Any], bool],
                            describe: Callable[[Any], str]) -> Evidence:
    """Exact evidence for a negative claim: ``fails`` (as predicted) when one of
    :data:`SEARCH` derandomized draws ``breaks`` the claim's conclusion, else ``holds``."""
    found = search(strategy, breaks, SEARCH, shrink=False)
    if found is None:
        return Evidence("holds", methods=["exact"], instances=SEARCH,
                        details=[f"exact: no counterexample in {SEARCH} searched instances"])
    return Evidence("fails", methods=["exact"], instances=1, counterexample=found,
                    details=[f"exact: counterexample — {describe(found)} (shrunk ones: "
                             "`projcomp counterexamples`)"])


def combined(expected: str, parts: list[Evidence]) -> Evidence:
    """One claim's evidence from its parts, in order: their methods, instances, details
    and data; the outcome is the predicted one when every part found it, else the first
    part's other outcome."""
    return Evidence(
        next((p.outcome for p in parts if p.outcome != expected), expected),
        methods=list(dict.fromkeys(m for p in parts for m in p.methods)),
        instances=sum(p.instances for p in parts),
        details=[line for p in parts for line in p.details],
        counterexample=_first(p.counterexample for p in parts),
        curve=_first(p.curve for p in parts),
        sampling=_first(p.sampling for p in parts),
        auc=_first(p.auc for p in parts),
        locality_auc=_first(p.locality_auc for p in parts))


def _first(values: Iterable[Any]) -> Any:
    return next((v for v in values if v is not None), None)
