"""Plain-text rendering of ``check`` reports (the ``--json`` form is the contract)."""

from __future__ import annotations

from typing import Any


def _fmt(x: float) -> str:
    return f"{x:.3g}"


def _gaps(section: dict[str, Any], key: str) -> str:
    values = section[key]
    errs = section.get("stderr", [0.0] * len(values))
    return ", ".join(_fmt(v) + (f" ± {_fmt(e)}" if e else "") for v, e in zip(values, errs,
                                                                                 strict=True))


def render_check(report: dict[str, Any]) -> str:
    """The report of ``numerics.checks.judge.check_family`` as a few aligned lines."""
    fc = report["factorized_conditionals"]
    lines = [f"family          {report['name']} (dim {report['dim']}, k {report['k']})"]
    if fc["holds"]:
        how = "inferred" if fc["partition_inferred"] else "given"
        lines.append(f"FC              holds in {fc['space']} ({how} partition "
                     f"{fc['partition']}, violation {_fmt(fc['violation'])} <= "
                     f"{_fmt(fc['tolerance'])})")
    else:
        detail = fc.get("reason") or ", ".join(f"{k} {_fmt(v)}" for k, v in
                                               fc["conditions"].items() if v > fc["tolerance"])
        lines.append(f"FC              fails ({detail})")
    if not report["normalizable"]:
        lines.append(f"normalizable    no: {report['reason']}")
    else:
        proj = report["projective"]
        lines.append(f"projective      {'holds' if proj['holds'] else 'fails'}: gaps "
                     f"[{_gaps(proj, 'gaps')}] ({proj['metric']}, tolerance "
                     f"{_fmt(proj['tolerance'])})")
        nc = report["noise_commutation"]
        if nc is not None:
            lines.append(f"noise commutes  {'yes' if nc['holds'] else 'no'}: max gap "
                         f"{_fmt(nc['max_gap'])} at t = {_fmt(nc['worst_t'])} ({nc['metric']}, "
                         f"tolerance {_fmt(nc['tolerance'])})")
            lines += [f"                note: {note}" for note in nc.get("notes", [])]
    lines += _sampling_lines(report.get("sampling"))
    heur = report["heuristic"]
    worst = max((abs(c) for i, row in enumerate(heur["cosines"]) for j, c in enumerate(row)
                 if i != j), default=0.0)
    guess = "predicts success" if heur["predicts_success"] else "predicts failure"
    lines.append(f"heuristic       {guess} (largest |cos| between mean differences "
                 f"{_fmt(worst)})")
    for prop in report.get("operator", {}).get("properties", []):
        kept = "keeps" if prop["kept"] else "loses"
        lines.append(f"operator        {kept} {prop['name']} ({prop['claim']}): max gap "
                     f"{_fmt(prop['max_gap'])} over {prop['instances']} instances")
    lines.append(f"verdict         {report['verdict']}")
    return "\n".join(lines)


def _sampling_lines(section: dict[str, Any] | None) -> list[str]:
    """The sampling section: the calibrated verdict, then per-lens distances to exact draws
    of the composed and oracle runs beside the exact-vs-exact floor."""
    if section is None:
        return []
    if section.get("holds") is None:
        return [f"sampling        skipped: {section['skipped']}"]
    test = section["test"]
    verdict = "holds" if section["holds"] else "fails"
    lines = [f"sampling        {verdict}: {section['method']}",
             f"                composed vs oracle {_fmt(test['value'])} (threshold "
             f"{_fmt(test['threshold'])}, p = {_fmt(test['p_value'])}, {test['statistic']})",
             f"                per lens vs exact: composed [{_list(section['gaps'])}], oracle "
             f"[{_list(section['oracle_gaps'])}], floor [{_list(section['floor'])}]"]
    if "note" in section:
        lines.append(f"                note: {section['note']}")
    for name, alt in section.get("path_following", {}).items():
        lines.append(f"                {name}: {'holds' if alt['holds'] else 'fails'} "
                     f"(vs exact {_fmt(alt['joint'])}, floor {_fmt(alt['floor'])}, "
                     f"{alt['score_evals']} score and {alt['density_evals']} density evals)")
    return lines


def _list(values: list[float]) -> str:
    return ", ".join(_fmt(v) for v in values)
