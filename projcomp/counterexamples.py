"""``projcomp counterexamples``: search, shrink and report counterexamples to the negative
claims (every claim of ``projcomp.claims.REGISTRY`` with a search: C5, C9, C11, C12, C14).

``hypothesis.find`` draws instances from the claim's strategy until one breaks the
claim's conclusion by a clear margin (``Search.breaks``) and shrinks it. The report, in
``reports/counterexamples/``, is ``<ID>.md`` (what is violated, by how much),
``<ID>.json`` (a family spec: ``projcomp check <ID>.json`` reproduces the failure; when no
spec can express the instance, e.g. C5's nonlinear map, a ``projcomp.counterexample/1``
document) and ``<ID>.png`` (first-coordinate marginals of the two laws that should
agree).
"""

from __future__ import annotations

import random
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import matplotlib.pyplot as plt
from hypothesis import find
from hypothesis.errors import NoSuchExample

from numerics.claims.exact import marginal_grid
from numerics.laws.family import Family
from numerics.laws.grid import GridDensity
from numerics.threads import single_threaded
from projcomp import atomic
from projcomp.claims import Search, Violation, spec
from projcomp.evidence import search_settings
from projcomp.spec import family_to_dict
from theory.catalogue import Claim


@dataclass(frozen=True)
class Counterexample:
    """A shrunk counterexample to ``claim``: the ``instance`` drawn by the search, the
    ``family`` it composes and the ``violation`` measured on it."""

    claim: Claim
    instance: Any
    family: Family
    violation: Violation


def shrunk_counterexample(search: Search, max_examples: int, seed: int) -> Any:
    """The instance that breaks the claim, shrunk by ``hypothesis.find`` after at most
    ``max_examples`` draws seeded by ``seed``, or None when no draw breaks it."""
    try:
        return find(search.strategy(), search.breaks,
                    settings=search_settings(max_examples, derandomize=False),
                    random=random.Random(seed))
    except NoSuchExample:
        return None


def run(claim_id: str, out: Path, max_examples: int, seed: int) -> Counterexample | None:
    """Search, shrink and write the report for one claim; the counterexample, or None
    when none was found in ``max_examples`` instances."""
    c = spec(claim_id)
    if c.search is None:
        raise ValueError(f"{claim_id} is not a negative claim: it has no counterexample search")
    with single_threaded():
        instance = shrunk_counterexample(c.search, max_examples, seed)
        if instance is None:
            return None
        family = c.search.family(instance)
        found = Counterexample(c.claim, instance, family, c.search.describe(instance, family))
        _write(found, c.search, out)
    return found


def _write(found: Counterexample, search: Search, out: Path) -> None:
    """``<ID>.json``, ``<ID>.png`` and ``<ID>.md`` (module docstring)."""
    claim_id, v = found.claim.id, found.violation
    if search.verdict is None:
        doc = {"format": "projcomp.counterexample/1", "claim": claim_id,
               "family": family_to_dict(found.family), "map": v.map, "amount": v.amount}
    else:
        doc = {**family_to_dict(found.family), "name": f"counterexample-{claim_id}"}
    atomic.write_json(out / f"{claim_id}.json", doc)
    _figure(found, search.laws(found.instance, found.family, v), out / f"{claim_id}.png")
    atomic.write_text(out / f"{claim_id}.md", "\n".join(_markdown(found, search.verdict)))


def _markdown(found: Counterexample, verdict: str | None) -> list[str]:
    claim_id, v = found.claim.id, found.violation
    lines = [f"# Counterexample to {claim_id}", "",
             f"Claim: {found.claim.statement} (THEORY.md {claim_id}; predicted to fail).", "",
             f"Shrunk by Hypothesis to dimension {found.family.dim} with k = {found.family.k}.",
             "", f"Violated: {v.violated}, by {v.amount:.4g} ({v.metric}).", ""]
    if v.map is not None:
        lines += [f"Map: `{v.map}`.", ""]
    if v.worst_t is not None:
        lines += [f"Largest gap at t = {v.worst_t:.4g} on `check`'s time grid.", ""]
    lines += [f"Family: {_members(found.family)}.", ""]
    if verdict:
        lines.append(f"Reproduce: `projcomp check reports/counterexamples/{claim_id}.json` "
                     f"reports `{verdict}`.")
    else:
        lines.append(f"The map is nonlinear ({v.map}), which a family spec cannot "
                     f"express; `{claim_id}.json` records the family and the map.")
    return [*lines, "", f"![marginals]({claim_id}.png)", ""]


def _members(family: Family) -> str:
    """``p_b`` and each ``p_i`` as the number of mixture components per block."""
    def shape(p) -> str:
        inner = getattr(p, "base", p)
        if hasattr(inner, "dists"):
            return "×".join(f"{d.num_components}" for d in inner.dists) + " components by block"
        return f"{p.num_components} components"
    return "; ".join(f"{name}: {shape(p)}" for name, p in
                     zip(["p_b", *[f"p_{i + 1}" for i in range(family.k)]], family.members,
                         strict=True))


def _figure(found: Counterexample, laws: dict[str, Any], path: Path) -> None:
    """Marginals on the first coordinate of the two laws that the claim says agree."""
    fig, ax = plt.subplots(figsize=(5.5, 3.5))
    for label, law in laws.items():
        grid = law if isinstance(law, GridDensity) else marginal_grid(law, 0)
        ax.plot(grid.axes[0].numpy(), grid.values.numpy(), label=label)
    ax.set_title(f"{found.claim.id}: {found.violation.violated}")
    ax.set_xlabel("first coordinate")
    ax.legend()
    atomic.save_figure(path, fig)
