"""The sampled halves of ``projcomp verify``: C3, C7, C9 and C13 on named families
(``numerics.claims.named_families``), judged by calibrated tests (``numerics.claims.sampled``).

Each runner returns :class:`Evidence` with ``methods = ["sampled"]``, report lines and the
numbers (``evidence.sampling``); ``combined`` merges it with a claim's exact and symbolic
evidence: the outcome is the predicted one only when every part agrees with it.
"""

from __future__ import annotations

from collections.abc import Callable

from numerics.claims import sampled as sc
from numerics.claims.named_families import (
    fc_block_orthogonal,
    fc_family,
    fc_orthogonal,
    shear_family,
)
from numerics.tolerances import FALSE_ALARM_BUDGET
from projcomp.evidence import Evidence


def _fmt(values: list[float]) -> str:
    return ", ".join(f"{v:.3g}" for v in values)


def _sweeps(families: list) -> Evidence:
    """C3/C7: the composed run passes the calibrated test against the oracle run at the
    largest step count (level ``FALSE_ALARM_BUDGET`` split over the families) and its distance to
    exact draws falls with the step count."""
    level = FALSE_ALARM_BUDGET / len(families)
    sweeps = [sc.step_sweep(f, level=level) for f in families]
    ok = all(s.indistinguishable and s.falls for s in sweeps)
    details = [f"sampled: {s.name}, {s.sampler} at {s.steps} steps, {sc.SAMPLES} samples: "
               f"composed vs oracle [{_fmt(s.composed_vs_oracle)}] (threshold "
               f"{s.threshold:.3g} at level {s.level:.2g}); composed vs exact "
               f"[{_fmt(s.composed_vs_exact)}], oracle vs exact [{_fmt(s.oracle_vs_exact)}], "
               f"floor {s.floor:.3g}" for s in sweeps]
    return Evidence("holds" if ok else "fails", methods=["sampled"], instances=len(sweeps),
                    details=details, sampling={"sweeps": [s.as_dict() for s in sweeps]})


def run_c3() -> Evidence:
    return _sweeps([fc_family()])


def run_c7() -> Evidence:
    return _sweeps([fc_orthogonal(), fc_block_orthogonal()])


def _shear_line(f: dict) -> str:
    return (f"sampled: {f['sampler']}: composed vs exact {f['composed_vs_exact']:.3g} "
            f"(threshold {f['threshold']:.3g}, level {f['level']:.2g}), oracle vs exact "
            f"{f['oracle_vs_exact']:.3g}, floor {f['floor']:.3g}; mode masses composed "
            f"[{_fmt(f['composed_masses'])}], oracle [{_fmt(f['oracle_masses'])}]; "
            f"{f['cost']['score_evals']} score and {f['cost']['density_evals']} density "
            f"evaluations")


def run_c9() -> Evidence:
    """The shear family: composed runs of the plain samplers are rejected against their
    oracle runs, which themselves reach exact draws."""
    found = sc.plain_failures(shear_family())
    fails = all(f["composed_rejected"] and f["oracle_reaches_target"] for f in found)
    return Evidence("fails" if fails else "holds", methods=["sampled"], instances=len(found),
                    details=[_shear_line(f) for f in found], sampling={"runs": found})


def run_c13() -> Evidence:
    """Path-following repairs stay rejected against exact draws; tempered SMC at t = 0
    passes; each with the share of the plain sampler's gap it closes and its cost."""
    found = sc.repairs(shear_family())
    details = [_shear_line(r) + f"; closes {100 * r['gap_closed']:.0f}% of the plain gap"
               for r in found["runs"].values()]
    return Evidence("holds" if found["holds"] else "fails", methods=["sampled"],
                    instances=len(found["runs"]), details=details, sampling=found)


SAMPLED_RUNS: dict[str, Callable[[], Evidence]] = {
    "C3": run_c3, "C7": run_c7, "C9": run_c9, "C13": run_c13}


def combined(expected: str, parts: list[Evidence]) -> Evidence:
    """One claim's evidence from its parts: the predicted outcome when every part found it,
    else the first part's other outcome."""
    out = Evidence(expected)
    for p in parts:
        out.methods += [m for m in p.methods if m not in out.methods]
        out.instances += p.instances
        out.details += p.details
        out.counterexample = out.counterexample or p.counterexample
        out.curve = out.curve or p.curve
        out.sampling = out.sampling or p.sampling
        if p.outcome != expected and out.outcome == expected:
            out.outcome = p.outcome
    return out
