"""Plain-text rendering of ``check`` reports (the ``--json`` form is the contract)."""

from __future__ import annotations

from collections.abc import Sequence

from numerics.checks.report import CheckReport, FCResult, GapSummary, OperatorReport, Undecided
from numerics.sampling.report import SamplingSection, SamplingSkipped


def _fmt(x: float) -> str:
    return f"{x:.3g}"


def _gaps(summary: GapSummary) -> str:
    """Each gap, with ``± stderr`` where it has one."""
    return ", ".join(_fmt(v) + (f" ± {_fmt(e)}" if e else "")
                     for v, e in zip(summary.gaps, summary.stderr, strict=True))


def render_check(report: CheckReport) -> str:
    """The report of ``numerics.checks.judge.check_family`` as a few aligned lines."""
    lines = [f"family          {report.name} (dim {report.dim}, k {report.k})",
             _fc_line(report.factorized_conditionals)]
    if not report.normalizable:
        lines.append(f"normalizable    no: {report.reason}")
    else:
        proj = report.projective
        if isinstance(proj, Undecided):
            lines.append(f"projective      {proj.undecided}")
        else:
            lines.append(f"projective      {'holds' if proj.holds else 'fails'}: gaps "
                         f"[{_gaps(proj)}] ({proj.metric}, tolerance {_fmt(proj.tolerance)})")
        nc = report.noise_commutation
        if isinstance(nc, Undecided):
            lines.append(f"noise commutes  {nc.undecided}")
        elif nc is not None:
            lines.append(f"noise commutes  {'yes' if nc.holds else 'no'}: max gap "
                         f"{_fmt(nc.max_gap)} at t = {_fmt(nc.worst_t)} ({nc.metric}, "
                         f"tolerance {_fmt(nc.tolerance)})")
            lines += [f"                note: {note}" for note in nc.notes or ()]
    lines += _sampling_lines(report.sampling)
    heur = report.heuristic
    worst = max((abs(c) for i, row in enumerate(heur.cosines) for j, c in enumerate(row)
                 if i != j), default=0.0)
    guess = "predicts success" if heur.predicts_success else "predicts failure"
    lines.append(f"heuristic       {guess} (largest |cos| between mean differences "
                 f"{_fmt(worst)})")
    if report.locality is not None:
        loc = report.locality
        how = (f"C20, {loc.probes} JVP probe pairs at {loc.points} points" if loc.points
               else loc.method)
        lines.append(f"locality        off-block score-difference mass [{_list(loc.statistic)}] "
                     f"at t = {_fmt(loc.t)} (0 under FC; {how})")
    lines += _operator_lines(report.operator)
    lines.append(f"verdict         {report.verdict}")
    return "\n".join(lines)


def _fc_line(fc: FCResult) -> str:
    """FC's verdict with its partition, or the violated conditions (or why it fails, or why
    it is not decidable)."""
    if fc.holds is None:
        return f"FC              {fc.reason}"
    if fc.holds:
        how = "inferred" if fc.partition_inferred else "given"
        return (f"FC              holds in {fc.space} ({how} partition {fc.partition}, "
                f"violation {_fmt(fc.violation)} <= {_fmt(fc.tolerance)})")
    detail = fc.reason or ", ".join(f"{k} {_fmt(v)}" for k, v in fc.conditions.items()
                                    if v > fc.tolerance)
    return f"FC              fails ({detail})"


def _operator_lines(operator: OperatorReport | None) -> list[str]:
    """Which properties of ``C`` a user operator keeps, one line each."""
    if operator is None:
        return []
    return [f"operator        {'keeps' if p.kept else 'loses'} {p.name} ({p.claim}): max gap "
            f"{_fmt(p.max_gap)} over {p.instances} instances" for p in operator.properties]


def _sampling_lines(section: SamplingSection | SamplingSkipped | None) -> list[str]:
    """The sampling section: the calibrated verdict, then per-lens distances to exact draws
    of the composed and oracle runs beside the exact-vs-exact floor."""
    if section is None:
        return []
    if isinstance(section, SamplingSkipped):
        return [f"sampling        skipped: {section.skipped}"]
    test = section.test
    verdict = "holds" if section.holds else "fails"
    reach = section.reach
    lines = [f"sampling        {verdict}: {section.method}",
             *_aimed_lines(section),
             f"                composed vs oracle {_fmt(test.value)} (threshold "
             f"{_fmt(test.threshold)}, p = {_fmt(test.p_value)}, {test.statistic}; null: "
             f"{test.null_runs} {test.design})",
             f"                vs exact draws: composed p = {_fmt(reach.composed.p_value)}, "
             f"oracle p = {_fmt(reach.oracle.p_value)} (same test, {test.replicates} "
             "replicates of exact draws)",
             f"                per lens vs exact: composed [{_list(section.gaps)}], oracle "
             f"[{_list(section.oracle_gaps)}], floor [{_list(section.floor)}]"]
    if section.note is not None:
        lines.append(f"                note: {section.note}")
    for name, alt in (section.path_following or {}).items():
        lines.append(f"                {name}: {'holds' if alt.holds else 'fails'} "
                     f"(vs exact {_fmt(alt.joint)}, p = {_fmt(alt.p_value)}, floor "
                     f"{_fmt(alt.floor)}, "
                     f"{alt.score_evals} score and {alt.density_evals} density evals)")
    return lines


def _aimed_lines(section: SamplingSection) -> list[str]:
    """The law the section aimed at, where it is not projective ``C`` (the section then
    reports on that law and leaves the verdict alone)."""
    aimed = section.aimed
    if aimed is None or aimed.decides_verdict:
        return []
    return [f"                aimed at {aimed.law} ({aimed.form}); does not decide the "
            "verdict"]


def _list(values: Sequence[float]) -> str:
    return ", ".join(_fmt(v) for v in values)
