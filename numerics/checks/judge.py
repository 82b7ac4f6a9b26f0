"""The one-word verdict on a family and the evidence behind it (DESIGN.md, ``check``).

Order of the verdict: ``non-normalizable`` (``Z = ∞``, THEORY §2) before anything else;
``fails-at-t0`` when ``C[p⃗]`` is not a projective composition (Definition 4.1); then
``fails-in-sampling`` when ``C[p⃗^t] ≠ N_t[C[p⃗]]`` at some ``t`` (so reverse diffusion
with the combined scores does not target ``C[p⃗]``, C9); else ``works``. When the sampling
section ran (``numerics.sampling.section``), its calibrated result replaces the
noise-commutation reading: ``works`` if the chosen sampler on the composed scores is
indistinguishable from its oracle run, else ``fails-in-sampling`` (C3, C9, C13).
"""

from __future__ import annotations

from dataclasses import asdict
from typing import Any

import torch

from numerics.checks.fc import factorized_family, fc_violation, infer_partition
from numerics.checks.gaps import (
    Gap,
    compose_c,
    noise_commutation_gaps,
    projective_gaps,
    tolerance,
    tolerance_reason,
)
from numerics.checks.heuristic import MAX_COSINE, cosine_matrix, predicts_success, reported
from numerics.composition.properties import operator_properties
from numerics.laws import Distribution
from numerics.laws.family import Family
from numerics.laws.unnormalized import (
    NonNormalizable,
    Operator,
    OperatorComposition,
    Unnormalized,
    operator_name,
)
from numerics.sampling.section import SamplingOptions, sampling_section
from numerics.sampling.times import time_grid
from numerics.threads import single_threaded
from numerics.tolerances import EXACT_TOL

TIME_POINTS = 12


def check_family(family: Family, *, seed: int = 0, times: list[float] | None = None,
                 operator: Operator | None = None,
                 sampling: SamplingOptions | None = None) -> dict[str, Any]:
    """Every check of ``check`` as a dict (DESIGN.md keys): the distribution-level ones,
    and the sampling section when ``sampling`` is given (else ``report["sampling"]`` is
    ``None``). Sampling runs only where it can decide the verdict: ``C[p⃗]`` normalizable,
    projective and in closed form (exact draws and noisy scores), with ``C`` itself.

    With ``operator`` (a user composition rule, ``numerics.composition.operators``) the family is
    composed by it instead of ``C``, and ``report["operator"]`` lists which properties of
    ``C`` the operator keeps, with a counterexample for each it loses (its ``"family"``
    is a ``Family``). Normalizability of a user operator is not decided: grids and
    importance sampling assume it.
    """
    with single_threaded():
        report, composition = _check_family(family, seed, times, operator)
        if operator is not None:
            report["operator"] = {
                "name": operator_name(operator),
                "properties": [asdict(p) for p in operator_properties(operator, seed=seed)]}
    if sampling is not None and composition is not None:
        _add_sampling(report, composition, sampling, seed)
    return report


def _add_sampling(report: dict[str, Any], composition: tuple, options: SamplingOptions,
                  seed: int) -> None:
    family, result, lenses = composition
    if isinstance(result, Unnormalized):
        report["sampling"] = {"holds": None, "skipped": "C[p] has no closed form here, so "
                              "there are no exact draws or oracle scores to compare with"}
        return
    section = sampling_section(family, result, lenses, options, seed=seed)
    report["sampling"] = section
    report["verdict"] = "works" if section["holds"] else "fails-in-sampling"


def _check_family(family: Family, seed: int, times: list[float] | None,
                  operator: Operator | None) -> dict[str, Any]:
    generator = torch.Generator().manual_seed(seed)
    feature = family.in_feature_space()
    partition, inferred = _partition(family, feature)
    fc = _fc_report(feature, partition, inferred)
    fc["space"] = "features of the feature map" if family.feature_map else "coordinates"
    cosines = cosine_matrix(family)
    heuristic = {"cosines": reported(cosines),
                 "predicts_success": predicts_success(cosines), "tolerance": MAX_COSINE}
    report: dict[str, Any] = {"name": family.name, "dim": family.dim, "k": family.k,
                              "factorized_conditionals": fc, "heuristic": heuristic}
    if fc["holds"]:
        family = factorized_family(family, partition)
    if operator is None:
        compose_at = compose_c(partition if fc["holds"] else None)
    else:
        def compose_at(members_of: Family) -> Distribution:
            return OperatorComposition(members_of.members, operator)
    try:
        result = compose_at(family)
    except NonNormalizable as err:
        report.update(normalizable=False, reason=str(err), projective=None,
                      noise_commutation=None, sampling=None, verdict="non-normalizable")
        return report, None
    lenses = partition if partition is not None else fc["candidate_blocks"]
    gaps = projective_gaps(family, result, lenses, generator)
    report["normalizable"] = True
    report["composition"] = type(result).__name__
    if operator is not None:
        report["normalizability"] = "not decided for a user operator (assumed)"
    report["projective"] = _summary(gaps, "gaps")
    if not report["projective"]["holds"]:
        report.update(noise_commutation=None, sampling=None, verdict="fails-at-t0")
        return report, None
    times = times or time_grid(family.process, TIME_POINTS)
    commutation = noise_commutation_gaps(family, result, times, generator, compose_at)
    worst = max(range(len(times)), key=lambda i: commutation[i].value)
    report["noise_commutation"] = {
        **_summary(commutation, "gaps"), "max_gap": commutation[worst].value,
        "worst_t": times[worst], "times": times}
    report["sampling"] = None
    report["verdict"] = "works" if report["noise_commutation"]["holds"] else "fails-in-sampling"
    return report, (None if operator is not None else (family, result, lenses))


def _partition(family: Family, feature: Family):
    """Blocks ``M_i`` in the space where FC is judged: the feature map's blocks, the
    spec's projections, or inferred ones (``None`` when inference finds overlaps)."""
    if feature.projections is not None:
        return [list(b) for b in feature.projections], False
    blocks, disjoint = infer_partition(feature)
    return (blocks if disjoint else None), True


def _fc_report(feature: Family, partition, inferred: bool) -> dict[str, Any]:
    if partition is None:
        candidate, _ = infer_partition(feature)
        return {"holds": False, "partition": None, "violation": 1.0, "candidate_blocks": candidate,
                "reason": "conditionals differ from the background on overlapping coordinates",
                "tolerance": EXACT_TOL, "partition_inferred": inferred}
    parts = fc_violation(feature, partition)
    violation = max(parts.values())
    return {"holds": violation <= EXACT_TOL, "partition": partition, "violation": violation,
            "conditions": parts, "tolerance": EXACT_TOL, "partition_inferred": inferred,
            "candidate_blocks": partition,
            "metric": "normalized L2 (closed form)",
            "tolerance_reason": "float64 round-off of the closed-form inner products"}


def _summary(gaps: list[Gap], key: str) -> dict[str, Any]:
    metric = gaps[0].metric if len({g.metric for g in gaps}) == 1 else "mixed"
    loosest = max(gaps, key=tolerance)
    summary = {"holds": not any(g.exceeds(tolerance(g)) for g in gaps),
               key: [g.value for g in gaps], "stderr": [g.stderr for g in gaps],
               "metric": metric, "metrics": [g.metric for g in gaps],
               "tolerance": tolerance(loosest), "tolerance_reason": tolerance_reason(loosest)}
    if any(g.ess is not None for g in gaps):
        summary["effective_sample_size"] = [g.ess for g in gaps]
    notes = [g.note for g in gaps if g.note]
    if notes:
        summary["notes"] = notes
    return summary
