"""The one-word verdict on a family and the evidence behind it (DESIGN.md, ``check``).

Order of the verdict: ``non-normalizable`` (``Z = ∞``, THEORY §2) before anything else;
``fails-at-t0`` when ``C[p⃗]`` is not a projective composition (Definition 4.1); then
``fails-in-sampling`` when ``C[p⃗^t] ≠ N_t[C[p⃗]]`` at some ``t`` (so reverse diffusion
with the combined scores does not target ``C[p⃗]``, C9); else ``works``. When the sampling
section ran (``numerics.sampling.section``), its calibrated result replaces the
noise-commutation reading: ``works`` if the chosen sampler on the composed scores is
indistinguishable from its oracle run, else ``fails-in-sampling`` (C3, C9, C13).
A section the verdict needs that cannot be decided (a law lacks a closed form the check
needs, ``numerics.checks.fc.NotDecidable``) makes the verdict ``undecided``; the section
says why.

For every other composition — ``C`` on a family where it is not projective, ``C_w``, the
simple product, a user operator — the sampling section still runs when the operator's
law has exact draws (``numerics.composition.composed_law``: closed form, or a grid in
1–2-D), aimed at *that* law: it says whether each sampler reaches it and which repair
does, and leaves the verdict ("is it projective") as it is (issue 11 item 6).
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from functools import partial
from typing import TYPE_CHECKING, Any, TypeVar

import torch

from numerics.checks.fc import (
    NotDecidable,
    Partition,
    factorized_family,
    fc_violation,
    infer_partition,
)
from numerics.checks.gaps import (
    Gap,
    compose_c,
    noise_commutation_gaps,
    projective_gaps,
    tolerance,
    tolerance_reason,
)
from numerics.checks.heuristic import MAX_COSINE, cosine_matrix, predicts_success, reported
from numerics.checks.locality import family_locality, gaussian_locality
from numerics.checks.report import (
    CheckReport,
    FCResult,
    GapSummary,
    Heuristic,
    Locality,
    NoiseCommutation,
    OperatorReport,
    Undecided,
    Verdict,
)
from numerics.laws import Distribution, is_block_diagonal
from numerics.laws.family import Family
from numerics.laws.unnormalized import (
    NonNormalizable,
    Operator,
    OperatorComposition,
    Unnormalized,
    operator_name,
)
from numerics.sampling.report import AimedLaw, SamplingSection, SamplingSkipped
from numerics.sampling.times import time_grid
from numerics.threads import single_threaded
from numerics.tolerances import CLOSED_FORM, EXACT_TOL

if TYPE_CHECKING:  # the sampling section is imported when it runs (check --samples 0 never)
    from numerics.sampling.section import SamplingOptions

TIME_POINTS = 12
Summary = TypeVar("Summary", bound=GapSummary)
USER_OPERATOR_NORMALIZABILITY = "not decided for a user operator (assumed)"
PROJECTIVE_C_FORM = ("closed form: C[p] and N_t[C[p]] exact; the section decides the verdict "
                     "(C3, C9, C13)")
NO_CLOSED_FORM = ("C[p] has no closed form here, so there are no exact draws or oracle "
                  "scores to compare with")
OVERLAPPING_BLOCKS = "conditionals differ from the background on overlapping coordinates"
LOCALITY_BY_FC = "exact: FC holds, so every score difference is local (C19)"
LOCALITY_BY_JVP = "estimated by Jacobian-vector products (C20)"
LOCALITY_BY_GAUSSIANS = ("exact: every noisy member is a Gaussian, whose score has the "
                         "constant Jacobian -precision (C20 in closed form)")


@dataclass(frozen=True)
class Composed:
    """What the sampling section needs of a composition: the (factorized) family,
    ``result`` (``C[p⃗]``, or the user operator's composition), the lenses ``Π_i`` (blocks
    ``M_i``), the user ``operator`` (``None``: ``C_w`` with the family's weights) and
    whether the section decides the verdict (``C`` itself, projective; else it reports
    which law the samplers reach and leaves the verdict alone)."""

    family: Family
    result: Distribution
    lenses: Partition
    operator: Operator | None = None
    decides_verdict: bool = True


def check_family(family: Family, *, seed: int = 0, times: list[float] | None = None,
                 operator: Operator | None = None,
                 sampling: SamplingOptions | None = None) -> CheckReport:
    """Every check of ``check``: the distribution-level ones, and the sampling section
    when ``sampling`` is given (else ``report.sampling`` is ``None``). Sampling decides
    the verdict where ``C[p⃗]`` is normalizable, projective and in closed form (exact
    draws and noisy scores), with ``C`` itself.

    With ``operator`` (a user composition rule, ``numerics.composition.operators``) the
    family is composed by it instead of ``C``, and ``report.operator`` lists which
    properties of ``C`` the operator keeps, with a counterexample for each it loses.
    Normalizability of a user operator is not decided: grids and importance sampling
    assume it.

    Every other normalizable composition (not projective, not ``C``) gets a sampling
    section aimed at its own law where that law has exact draws (module docstring); it
    does not change the verdict.
    """
    with single_threaded():
        report, composed = _check_family(family, seed, times, operator)
        if operator is not None:
            from numerics.composition.properties import operator_properties

            report = replace(report, operator=OperatorReport(
                name=operator_name(operator),
                properties=operator_properties(operator, seed=seed)))
    if sampling is not None and composed is not None:
        report = _with_sampling(report, composed, sampling, seed)
    return report


def _with_sampling(report: CheckReport, composed: Composed, options: SamplingOptions,
                   seed: int) -> CheckReport:
    """The report with its sampling section; for projective ``C`` its test decides the
    verdict (C3, C9, C13), for any other composition it only says whether the samplers
    reach the operator's law."""
    from numerics.composition.composed_law import NoExactDraws, composed_law
    from numerics.sampling.section import sampling_section

    if composed.decides_verdict:
        if isinstance(composed.result, Unnormalized):
            return replace(report, sampling=SamplingSkipped(skipped=NO_CLOSED_FORM))
        section = sampling_section(composed.family, composed.result, composed.lenses, options,
                                   seed=seed)
        aimed = AimedLaw(law="C[p]", form=PROJECTIVE_C_FORM, decides_verdict=True)
        return replace(report, sampling=replace(section, aimed=aimed),
                       verdict=_sampling_verdict(section))
    family = composed.family
    try:
        target = composed_law(family, composed.operator,
                              composed.result if composed.operator is None else None)
    except (NoExactDraws, NonNormalizable) as err:
        return replace(report, sampling=SamplingSkipped(skipped=str(err)))
    section = sampling_section(family, target.law, composed.lenses, options, seed=seed,
                               composer=target.composer, law=target.name)
    aimed = AimedLaw(law=target.name, form=target.form, decides_verdict=False,
                     resolution=target.resolution)
    return replace(report, sampling=replace(section, aimed=aimed))


def _sampling_verdict(section: SamplingSection) -> Verdict:
    """:func:`_verdict` of the calibrated test; ``undecided`` when the oracle run itself
    misses the target (the section's note: not calibrated — raise steps/particles)."""
    return _verdict(section.holds) if section.calibrated else "undecided"


def _verdict(holds: bool) -> Verdict:
    return "works" if holds else "fails-in-sampling"


def _check_family(family: Family, seed: int, times: list[float] | None,
                  operator: Operator | None) -> tuple[CheckReport, Composed | None]:
    """The distribution-level report, and what sampling needs (``None`` when the
    composition is not normalizable); ``Composed.decides_verdict`` when ``C`` itself (no
    user operator) gives a projective composition."""
    generator = torch.Generator().manual_seed(seed)
    feature = family.in_feature_space()
    partition, inferred, candidate = _partition(feature)
    fc = _fc_result(family, feature, partition, inferred, candidate)
    report = partial(CheckReport, name=family.name, dim=family.dim, k=family.k,
                     factorized_conditionals=fc, heuristic=_heuristic(family),
                     locality=_locality(family, fc, seed,
                                        (times or time_grid(family.process, TIME_POINTS))[0]))
    if fc.holds:
        family = factorized_family(family, partition)
    if operator is None:
        compose_at = compose_c(partition if fc.holds else None)
    else:
        def compose_at(members_of: Family) -> Distribution:
            return OperatorComposition(members_of.members, operator)
    try:
        result = compose_at(family)
    except NonNormalizable as err:
        return report(normalizable=False, reason=str(err), verdict="non-normalizable"), None
    lenses = partition if partition is not None else fc.candidate_blocks
    report = partial(report, normalizable=True, composition=type(result).__name__,
                     normalizability=None if operator is None else USER_OPERATOR_NORMALIZABILITY)
    informs = Composed(family, result, lenses, operator, decides_verdict=False)
    try:
        projective = _summary(GapSummary, projective_gaps(family, result, lenses, generator))
    except NotDecidable as err:
        return report(projective=Undecided(undecided=str(err)), verdict="undecided"), informs
    report = partial(report, projective=projective)
    if not projective.holds:
        return report(verdict="fails-at-t0"), informs
    times = times or time_grid(family.process, TIME_POINTS)
    try:
        commutation = _commutation(noise_commutation_gaps(family, result, times, generator,
                                                          compose_at), times)
    except NotDecidable as err:
        return (report(noise_commutation=Undecided(undecided=str(err)), verdict="undecided"),
                informs)
    composed = informs if operator is not None else Composed(family, result, lenses)
    return report(noise_commutation=commutation, verdict=_verdict(commutation.holds)), composed


def _partition(feature: Family) -> tuple[Partition | None, bool, Partition]:
    """Blocks ``M_i`` in the space where FC is judged: the feature map's blocks, the
    spec's projections, or inferred ones (``None`` when inference finds overlaps),
    whether they were inferred, and the candidate blocks (inferred once)."""
    if feature.projections is not None:
        given = [list(b) for b in feature.projections]
        return given, False, given
    blocks, disjoint = infer_partition(feature)
    return (blocks if disjoint else None), True, blocks


def _fc_result(family: Family, feature: Family, partition: Partition | None,
               inferred: bool, candidate: Partition) -> FCResult:
    """FC (Definition 5.2) of ``feature`` (the family in the space where FC is judged) on
    ``partition``; without one, FC fails on the overlapping ``candidate`` blocks."""
    space = "features of the feature map" if family.feature_map else "coordinates"
    if partition is None:
        return FCResult(holds=False, partition=None, violation=1.0, candidate_blocks=candidate,
                        reason=OVERLAPPING_BLOCKS, tolerance=EXACT_TOL,
                        partition_inferred=inferred, space=space)
    try:
        parts = fc_violation(feature, partition)
    except NotDecidable as err:
        return FCResult(holds=None, partition=partition, violation=None, reason=str(err),
                        tolerance=EXACT_TOL, partition_inferred=inferred,
                        candidate_blocks=partition, space=space)
    violation = max(parts.values())
    return FCResult(holds=violation <= EXACT_TOL, partition=partition, violation=violation,
                    conditions=parts, tolerance=EXACT_TOL, partition_inferred=inferred,
                    candidate_blocks=partition, metric=CLOSED_FORM,
                    tolerance_reason="float64 round-off of the closed-form inner products",
                    space=space)


def _heuristic(family: Family) -> Heuristic:
    """Lemma 8.1's cosines between mean differences and their prediction (C10)."""
    cosines = cosine_matrix(family)
    return Heuristic(cosines=reported(cosines), predicts_success=predicts_success(cosines),
                     tolerance=MAX_COSINE)


def _locality(family: Family, fc: FCResult, seed: int, t: float) -> Locality | None:
    """C20's locality statistic at ``t`` (the smallest time of the noise-commutation grid:
    nearest the data) on the candidate blocks, in the space where FC is judged.

    Where FC holds exactly and noise keeps it (coordinates, or a feature map ``A`` with
    ``A Aᵀ`` block-diagonal: C2, C7, C8), every score difference is local at every ``t``
    (C19, verified by ``projcomp verify``): the statistic is exactly 0 and is not
    estimated, so an FC family of ``k`` conditionals stays ``O(k)`` work (each JVP estimate
    evaluates scores over all ``n`` coordinates, ``O(k·n)`` in all). Under any other
    feature map noise breaks FC in feature space for ``t > 0`` (C9) and the statistic is
    estimated. Where every noisy member is a single Gaussian the statistic is computed in
    closed form (``gaussian_locality``: constant Jacobians). Otherwise it is estimated from the
    noisy members' scores and exact draws, on its own generator so the other checks'
    draws do not change; ``None`` when a member cannot draw."""
    blocks = [list(b) for b in fc.candidate_blocks]
    if fc.holds and _noise_keeps_fc(family, blocks):
        zeros = [0.0] * len(blocks)
        return Locality(statistic=zeros, stderr=zeros, largest=0.0, t=t, blocks=blocks,
                        space=fc.space, points=0, probes=0, method=LOCALITY_BY_FC)
    exact = gaussian_locality(family, t, blocks)
    if exact is not None:
        zeros = [0.0] * len(blocks)
        return Locality(statistic=exact, stderr=zeros, largest=max(exact), t=t, blocks=blocks,
                        space=fc.space, points=0, probes=0, method=LOCALITY_BY_GAUSSIANS)
    generator = torch.Generator().manual_seed(seed)
    try:
        estimates = family_locality(family, t, blocks, generator)
    except NotImplementedError:
        return None
    stats = [e.statistic for e in estimates]
    return Locality(statistic=stats, stderr=[e.stderr for e in estimates], largest=max(stats),
                    t=t, blocks=blocks, space=fc.space, points=estimates[0].points,
                    probes=estimates[0].probes, method=LOCALITY_BY_JVP)


def _noise_keeps_fc(family: Family, blocks: Partition) -> bool:
    """Whether FC in the family's space survives noise: always in coordinates (C2); under
    a feature map ``A`` iff the feature-space noise ``s_t² A Aᵀ`` is block-diagonal with
    respect to the blocks and the rest of the coordinates (C7, C8)."""
    fm = family.feature_map
    if fm is None:
        return True
    used = {c for b in blocks for c in b}
    parts = [b for b in blocks if b] + [[c for c in range(family.dim) if c not in used]]
    return is_block_diagonal(fm.matrix @ fm.matrix.T,
                             [torch.tensor(b, dtype=torch.long) for b in parts if b])


def _commutation(gaps: list[Gap], times: list[float]) -> NoiseCommutation:
    """The noise-commutation gaps at ``times`` (C2, C7–C9) and where the largest is."""
    worst = max(range(len(times)), key=lambda i: gaps[i].value)
    return _summary(NoiseCommutation, gaps, max_gap=gaps[worst].value, worst_t=times[worst],
                    times=times)


def _summary(kind: type[Summary], gaps: list[Gap], **more: Any) -> Summary:
    """``gaps`` as a ``kind`` record (with the fields ``more``), judged against the
    loosest of their metrics' tolerances."""
    metric = gaps[0].metric if len({g.metric for g in gaps}) == 1 else "mixed"
    loosest = max(gaps, key=tolerance)
    ess = [g.ess for g in gaps] if any(g.ess is not None for g in gaps) else None
    return kind(holds=not any(g.exceeds(tolerance(g)) for g in gaps),
                gaps=[g.value for g in gaps], stderr=[g.stderr for g in gaps], metric=metric,
                metrics=[g.metric for g in gaps], tolerance=tolerance(loosest),
                tolerance_reason=tolerance_reason(loosest), effective_sample_size=ess,
                notes=[g.note for g in gaps if g.note] or None, **more)
