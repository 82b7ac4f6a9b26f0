"""Sampled evidence shared by the sampling claims (C3, C7, C9, C13): runs of
``numerics.claims.sampled`` on named families turned into :class:`Evidence` and report
lines. Every verdict is a calibrated Monte Carlo test; a claim's false-failure budget
``FALSE_ALARM_BUDGET`` is split over the families it runs on (Bonferroni)."""

from __future__ import annotations

from numerics.claims import sampled as sc
from numerics.laws.family import Family
from numerics.tolerances import FALSE_ALARM_BUDGET
from projcomp.evidence import Evidence


def _fmt(values: list[float]) -> str:
    return ", ".join(f"{v:.3g}" for v in values)


def sweep_evidence(families: list[Family]) -> Evidence:
    """C3/C7: on each family the composed run passes the calibrated test against the
    oracle run at the largest step count (level ``FALSE_ALARM_BUDGET / len(families)``)
    and its distance to exact draws falls with the step count."""
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


def shear_line(run: dict) -> str:
    """One report line for a composed run on the shear family (C9, C13): its distance to
    exact draws against the calibrated threshold, the oracle's, the floor, both runs'
    mode masses (target ¼ each) and the cost."""
    return (f"sampled: {run['sampler']}: composed vs exact {run['composed_vs_exact']:.3g} "
            f"(threshold {run['threshold']:.3g}, level {run['level']:.2g}), oracle vs exact "
            f"{run['oracle_vs_exact']:.3g}, floor {run['floor']:.3g}; mode masses composed "
            f"[{_fmt(run['composed_masses'])}], oracle [{_fmt(run['oracle_masses'])}]; "
            f"{run['cost']['score_evals']} score and {run['cost']['density_evals']} density "
            f"evaluations")
