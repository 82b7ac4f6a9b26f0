"""``projcomp verify``: every claim of the registry on its embedded defaults.

For each claim (``projcomp.claims.REGISTRY``, in catalogue order) the runner collects the
evidence that can run now: the claim's exact runner (random families drawn by
``numerics.claims.strategies``: positive claims must pass on every instance, negative
claims need one counterexample), the sympy results of ``theory.proofs`` that name the
claim, and its sampled runner (calibrated sampler runs on named families). The outcome
is compared with THEORY.md's prediction; a claim whose evidence all needs later work is
``pending``, never verified.
"""

from __future__ import annotations

import inspect
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass, replace
from functools import cache, partial
from typing import Any

from numerics.campaigns import Mapper
from numerics.records import optional, to_json
from numerics.threads import single_threaded
from projcomp import profiles
from projcomp.claims import REGISTRY, spec
from projcomp.evidence import Evidence, combined
from theory.catalogue import Claim
from theory.evidence import SymbolicResult


@dataclass(frozen=True)
class ClaimResult:
    """One claim's entry of ``results.json``: the catalogue's ``statement``, ``paper``
    and prediction (``expected``), the ``outcome``, whether it is ``as_predicted``, the
    ``methods`` that ran, the ``instances`` they checked, wall ``seconds``, report
    ``details`` and the ``pending`` methods with their reasons; ``curve`` and
    ``sampling`` (present only for claims that measure them) are the numbers behind a
    figure or a sampled measurement; ``auc`` and ``locality_auc`` (C15 only) the AUC
    intervals ``{truth: [lo, mid, hi]}`` of the heuristic and of the locality statistic."""

    id: str
    statement: str
    paper: str
    expected: str
    outcome: str
    as_predicted: bool
    methods: list[str]
    instances: int
    seconds: float
    details: list[str]
    pending: dict[str, str]
    curve: Any = optional()
    sampling: Any = optional()
    auc: dict[str, list[float]] | None = optional()
    locality_auc: dict[str, list[float]] | None = optional()


@cache
def _symbolic_results() -> tuple[SymbolicResult, ...]:
    from theory.proofs import all_symbolic_results

    return tuple(all_symbolic_results())


def symbolic_results(claim_id: str) -> list[SymbolicResult]:
    """The results of ``theory.proofs`` that name ``claim_id`` (all proofs run once per
    process)."""
    return [r for r in _symbolic_results() if r.claim == claim_id]


def symbolic_evidence(c: Claim) -> Evidence:
    """The claim's sympy results: for a positive claim ``holds`` when every identity is
    proved; for a negative claim ``fails`` when one is refuted exactly; else
    ``undecided`` (with the seeded numeric check of each undecided identity)."""
    results = symbolic_results(c.id)
    statuses = {r.status for r in results}
    if c.expected == "fails":
        outcome = "fails" if "refuted" in statuses else "undecided"
    else:
        outcome = "holds" if statuses == {"proved"} else "undecided"
    details = []
    for r in results:
        details.append(f"symbolic: {r.status} — {r.statement}")
        if r.status == "undecided" and r.numeric_check:
            details.append(f"numeric fallback: {r.numeric_check}")
    return Evidence(outcome, methods=["symbolic"], instances=len(results), details=details)


def _distribution_level(c: Claim, exact: Evidence | None, symbolic: Evidence | None
                        ) -> Evidence | None:
    """Exact and symbolic evidence together. Exact evidence over random families
    decides; the symbolic proofs (special cases, e.g. Gaussian families) decide a
    positive claim only without exact evidence. For a negative claim an exact symbolic
    refutation is a counterexample as good as a numeric one."""
    parts = [p for p in (exact, symbolic) if p is not None]
    if not parts:
        return None
    if c.expected == "fails" and any(p.outcome == "fails" for p in parts):
        outcome = "fails"
    else:
        outcome = parts[0].outcome
    return replace(combined(c.expected, parts), outcome=outcome)


def run_claim(c: Claim, mapper: Mapper | None = None) -> tuple[ClaimResult, Evidence]:
    """Run every active kind of evidence for ``c`` and judge it against THEORY.md: the
    predicted outcome when the distribution-level evidence and the sampled evidence
    both find it. A claim whose exact runner maps a campaign (:func:`maps_tasks`: C15's
    sweep of families) runs it through ``mapper`` when one is given."""
    start = time.perf_counter()
    s, active = spec(c.id), c.active_methods
    if "exact" not in active:
        exact = None
    else:
        exact = s.exact(mapper) if mapper is not None and maps_tasks(c.id) else s.exact()
    symbolic = symbolic_evidence(c) if "symbolic" in active else None
    sampled = s.sampled() if "sampled" in active else None
    parts = [p for p in (_distribution_level(c, exact, symbolic), sampled) if p is not None]
    evidence = combined(c.expected, parts) if parts else Evidence("pending")
    result = ClaimResult(
        id=c.id, statement=c.statement, paper=c.paper, expected=c.expected,
        outcome=evidence.outcome, as_predicted=evidence.outcome == c.expected,
        methods=evidence.methods, instances=evidence.instances,
        seconds=round(time.perf_counter() - start, 2), details=evidence.details,
        pending=dict(c.pending), curve=evidence.curve,
        sampling=_numbers(evidence.sampling), auc=evidence.auc,
        locality_auc=evidence.locality_auc)
    return result, evidence


def _numbers(value: Any) -> Any:
    """``value`` without its tensors (the samples behind figures), for ``results.json``."""
    if isinstance(value, dict):
        return {k: _numbers(v) for k, v in value.items() if not hasattr(v, "numpy")}
    if isinstance(value, list):
        return [_numbers(v) for v in value]
    return value


def verify(progress: Callable[[str], None] = lambda line: print(line, file=sys.stderr),
           profile: str = "default", mapper: Mapper | None = None,
           ) -> list[tuple[ClaimResult, Evidence]]:
    """Every claim of the registry, in catalogue order, with one progress line per
    claim, under ``profile`` (``projcomp.profiles``: the size of the measured sweeps).
    With a ``mapper`` (``projcomp.campaigns.mapper_for``) the claims are its tasks
    (:func:`claim_task`), run wherever it runs them; then each claim that maps a campaign
    of its own (:func:`maps_tasks`: C15's sweep) runs here with its tasks (the sweep's
    families) on the mapper. The results are the same: every task carries its seed."""
    if mapper is not None:
        ids = [s.claim.id for s in REGISTRY]
        own = [i for i in ids if maps_tasks(i)]
        rest = [i for i in ids if i not in own]
        done = dict(zip(rest, mapper(partial(claim_task, profile=profile), rest), strict=True))
        for i in own:
            with single_threaded(), profiles.activated(profile):
                done[i] = run_claim(spec(i).claim, mapper)
        out = [done[i] for i in ids]
        for result, _ in out:
            progress(f"        {result.id:<4} {result.outcome} ({result.seconds:.1f} s)")
        return out
    out = []
    with single_threaded(), profiles.activated(profile):
        for i, s in enumerate(REGISTRY, 1):
            c = s.claim
            progress(f"[{i:2d}/{len(REGISTRY)}] {c.id:<4} {c.statement[:60]} ...")
            result, evidence = run_claim(c)
            progress(f"        {c.id:<4} {result.outcome} ({result.seconds:.1f} s)")
            out.append((result, evidence))
    return out


def maps_tasks(claim_id: str) -> bool:
    """Whether the claim's exact runner takes a ``mapper`` (a campaign of its own)."""
    exact = spec(claim_id).exact
    return exact is not None and "mapper" in inspect.signature(exact).parameters


def claim_task(claim_id: str, profile: str = "default") -> tuple[ClaimResult, Evidence]:
    """One claim as a campaign task (picklable by name): :func:`run_claim` on one torch
    thread under ``profile``, as in the serial run."""
    with single_threaded(), profiles.activated(profile):
        return run_claim(spec(claim_id).claim)


@dataclass(frozen=True)
class RunTiming:
    """Where and how fast the claims ran: ``scheduler`` (``serial`` or the
    ``--scheduler`` value), the run's ``wall_seconds`` and ``claim_seconds``, the sum of
    the claims' own times (what one process spends on them one after the other)."""

    scheduler: str
    wall_seconds: float
    claim_seconds: float

    @property
    def speedup(self) -> float:
        """``claim_seconds / wall_seconds``: the speed-up over running the same claims one
        after the other (the claims' times on busy workers are longer than alone, so a
        shared machine overstates it; benchmarks/results/campaigns.md compares runs)."""
        return self.claim_seconds / self.wall_seconds


def results_document(results: list[ClaimResult], timing: RunTiming | None = None
                     ) -> dict[str, Any]:
    """``results.json``: ``{"claims": [...]}``, one entry per claim, and ``run`` (the
    :class:`RunTiming` with its speed-up) when given."""
    doc: dict[str, Any] = {"claims": [to_json(r) for r in results]}
    if timing is not None:
        doc["run"] = {**to_json(timing), "speedup": round(timing.speedup, 2)}
    return doc
