"""``projcomp counterexamples``: search, shrink and report counterexamples to the negative
claims (THEORY.md C5, C9, C11, C12, C14).

Each search draws instances from ``numerics.claims.strategies`` with Hypothesis, keeps the first
one that breaks the claim's conclusion by a clear margin, and lets Hypothesis shrink it.
The report, in ``reports/counterexamples/``, is ``<ID>.md`` (what is violated, by how
much), ``<ID>.json`` (a family spec: ``projcomp check <ID>.json`` reproduces the failure;
for C5, whose nonlinear map no spec can express, a ``projcomp.counterexample/1`` document)
and ``<ID>.png`` (marginals of the two laws that should agree).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import matplotlib.pyplot as plt
import torch
from hypothesis import HealthCheck, given, settings
from hypothesis import seed as hypothesis_seed
from hypothesis import strategies as st

from numerics.checks.gaps import Gap, compose_c, composed, noise_commutation_gaps, tolerance
from numerics.checks.judge import TIME_POINTS
from numerics.claims import exact as ev
from numerics.claims import strategies as pst
from numerics.composition.compose import product_exponents
from numerics.laws.family import Family
from numerics.laws.grid import GridDensity, default_bounds
from numerics.sampling.times import time_grid
from numerics.threads import single_threaded
from numerics.tolerances import EXACT_TOL, GRID_TOL
from projcomp import atomic
from projcomp import verify as runs
from projcomp.spec import family_to_dict
from theory.catalogue import claim

# A counterexample must break the claim by this factor over the exact tolerance, so that
# `projcomp check` (which uses EXACT_TOL or GRID_TOL) reproduces it with room to spare.
MARGIN = 100.0


@dataclass(frozen=True)
class Search:
    """How one negative claim is searched: the instances, the failure, the report."""

    strategy: Callable[[], st.SearchStrategy]
    breaks: Callable[[Any], bool]
    family: Callable[[Any], Family]
    expected_verdict: str | None


def _c9_gap(args) -> tuple[Gap, float]:
    """The largest ``D(C[p⃗^t], N_t[C[p⃗]])`` over ``check``'s time grid, computed as
    ``check`` does (closed form, or grid quadrature for 2-D unnormalized laws), and its t;
    times where ``C[p⃗^t]`` is non-normalizable count only when no other time fails."""
    pixel = pst.families_in_feature_space(*args)
    partition = [list(b) for b in pixel.feature_map.blocks]
    times = time_grid(pixel.process, TIME_POINTS)
    gaps = noise_commutation_gaps(pixel, composed(pixel, partition, True), times,
                                  torch.Generator().manual_seed(0), compose_c(partition))
    return max(zip(gaps, times, strict=True), key=lambda pair: (pair[0].note is None,
                                                                pair[0].value))


def _c9_breaks(args) -> bool:
    gap = _c9_gap(args)[0]
    return gap.value > MARGIN * tolerance(gap)


def _c5_breaks(args) -> bool:
    family, diffeo = args
    spread = ev.equivariance_instance(family, product_exponents(family), diffeo,
                                      torch.Generator().manual_seed(0)).spread
    return spread > MARGIN * ev.POINTWISE_RTOL


def _not_projective(family: Family) -> bool:
    """Normalizable, with a projective gap above the grid tolerance and ``MARGIN`` times
    the exact one (the gap is computed once)."""
    gap = runs._gap_or_none(family)
    return gap is not None and gap > max(GRID_TOL, MARGIN * EXACT_TOL)


SEARCHES: dict[str, Search] = {
    "C5": Search(runs.c5_strategy, _c5_breaks, lambda a: a[0], None),
    "C9": Search(lambda: runs.c9_strategy(max_dim=2), _c9_breaks,
                 lambda a: pst.families_in_feature_space(*a), "fails-in-sampling"),
    "C11": Search(runs.c11_strategy, _not_projective, lambda f: f, "fails-at-t0"),
    "C12": Search(runs.c12_strategy, _not_projective, lambda f: f, "fails-at-t0"),
    "C14": Search(runs.c14_strategy, _not_projective, lambda f: f, "fails-at-t0"),
}


def shrunk_counterexample(search: Search, max_examples: int, seed: int):
    """The shrunk instance that breaks the claim, or None. Hypothesis replays the minimal
    failing example last, so the last instance recorded is the shrunk one."""
    found: list[Any] = []

    @hypothesis_seed(seed)
    @settings(database=None, deadline=None, max_examples=max_examples, print_blob=False,
              suppress_health_check=list(HealthCheck), phases=runs.SEARCH_PHASES,
              derandomize=False)
    @given(search.strategy())
    def probe(instance: Any) -> None:
        if search.breaks(instance):
            found.append(instance)
            raise AssertionError("counterexample")

    try:
        probe()
    except AssertionError:
        return found[-1]
    return None


def run(claim_id: str, out: Path, max_examples: int, seed: int) -> dict[str, Any]:
    """Search, shrink and write the report for one claim; a summary dict."""
    search = SEARCHES[claim_id]
    with single_threaded():
        instance = shrunk_counterexample(search, max_examples, seed)
        if instance is None:
            return {"claim": claim_id, "found": False, "max_examples": max_examples}
        family = search.family(instance)
        summary = _describe(claim_id, instance, family)
        _write(claim_id, instance, family, summary, search.expected_verdict, out)
    return summary


def _describe(claim_id: str, instance: Any, family: Family) -> dict[str, Any]:
    g = torch.Generator().manual_seed(0)
    summary: dict[str, Any] = {"claim": claim_id, "found": True, "dim": family.dim,
                               "k": family.k, "statement": claim(claim_id).statement}
    if claim_id == "C5":
        p = ev.equivariance_instance(family, product_exponents(family), instance[1], g)
        summary.update(map=repr(instance[1]), violated="Π(A♯p_i) ∝ A♯Π p_i",
                       metric="spread of the log-ratio of the two unnormalized densities",
                       amount=p.spread)
    elif claim_id == "C9":
        gap, t = _c9_gap(instance)
        summary.update(map=instance[1].tolist(), violated="C[p⃗^t] = N_t[C[p⃗]]", worst_t=t,
                       metric=gap.metric, amount=gap.value)
    else:
        summary.update(violated="Π_i♯C[p⃗] = Π_i♯p_i (Definition 4.1)",
                       metric="largest projective gap (normalized L2)",
                       amount=ev.projective_gap(family, g))
    return summary


def _write(claim_id: str, instance: Any, family: Family, summary: dict[str, Any],
           verdict: str | None, out: Path) -> None:
    if claim_id == "C5":
        doc = {"format": "projcomp.counterexample/1", "claim": claim_id,
               "family": family_to_dict(family), "map": summary["map"],
               "amount": summary["amount"]}
    else:
        doc = family_to_dict(family)
        doc["name"] = f"counterexample-{claim_id}"
    atomic.write_json(out / f"{claim_id}.json", doc)
    _figure(claim_id, instance, family, summary, out / f"{claim_id}.png")
    lines = [f"# Counterexample to {claim_id}", "",
             f"Claim: {summary['statement']} (THEORY.md {claim_id}; predicted to fail).", "",
             f"Shrunk by Hypothesis to dimension {summary['dim']} with k = {summary['k']}.",
             "", f"Violated: {summary['violated']}, by {summary['amount']:.4g} "
             f"({summary['metric']}).", ""]
    if "map" in summary:
        lines += [f"Map: `{summary['map']}`.", ""]
    if "worst_t" in summary:
        lines += [f"Largest gap at t = {summary['worst_t']:.4g} on `check`'s time grid.", ""]
    lines += [f"Family: {_members(family)}.", ""]
    if verdict:
        lines.append(f"Reproduce: `projcomp check reports/counterexamples/{claim_id}.json` "
                     f"reports `{verdict}`.")
    else:
        lines.append(f"The map is nonlinear ({summary['map']}), which a family spec cannot "
                     f"express; `{claim_id}.json` records the family and the map.")
    lines += ["", f"![marginals]({claim_id}.png)", ""]
    atomic.write_text(out / f"{claim_id}.md", "\n".join(lines))


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


def _figure(claim_id: str, instance: Any, family: Family, summary: dict[str, Any],
            path: Path) -> None:
    """Marginals on the first coordinate of the two laws that the claim says agree."""
    if claim_id == "C9":
        pixel = family
        partition = [list(b) for b in pixel.feature_map.blocks]
        t = summary["worst_t"]
        laws = {"C[p^t]": compose_c(partition)(pixel.noised(t)),
                "N_t[C[p]]": composed(pixel, partition, True).noised(t, pixel.process)}
    elif claim_id == "C5":
        laws = _c5_laws(family, instance[1])
    else:
        result = composed(family, None, False)
        block = list(family.projections[0])
        laws = {"Π_1♯C[p]": _marginal_grid(result, block[0]),
                "Π_1♯p_1": family.conditionals[0].marginal([block[0]])}
    fig, ax = plt.subplots(figsize=(5.5, 3.5))
    for label, law in laws.items():
        grid = law if isinstance(law, GridDensity) else _marginal_grid(law, 0)
        ax.plot(grid.axes[0].numpy(), grid.values.numpy(), label=label)
    ax.set_title(f"{claim_id}: {summary['violated']}")
    ax.set_xlabel("first coordinate")
    ax.legend()
    atomic.save_figure(path, fig)


def _marginal_grid(law, coord: int) -> GridDensity:
    """1-D marginal on ``coord`` of an exact law, or of a 1-D/2-D unnormalized one."""
    try:
        return GridDensity.from_distribution(law.marginal([coord]))
    except (NotImplementedError, ValueError):
        bounds = default_bounds(*law.members)
        grid = GridDensity.from_log_density(law.log_prob, bounds)
        return grid.marginal(coord) if grid.dim == 2 else grid


def _c5_laws(family: Family, diffeo) -> dict[str, GridDensity]:
    """``Π_i A♯p_i`` and ``A♯Π_i p_i`` normalized on a grid (first-coordinate marginal)."""
    exps = product_exponents(family)
    pushed = [diffeo.pushforward_log_density(p.log_prob) for p in family.members]
    bounds = diffeo.image_bounds(default_bounds(*family.members))

    def left(x: torch.Tensor) -> torch.Tensor:
        return sum(e * f(x) for f, e in zip(pushed, exps, strict=True))

    right = diffeo.pushforward_log_density(ev.pointwise_composition(family.members, exps))
    out = {}
    for label, fn in (("Π A♯p_i", left), ("A♯Π p_i", right)):
        grid = GridDensity.from_log_density(fn, bounds)
        out[label] = grid.marginal(0) if grid.dim == 2 else grid
    return out
