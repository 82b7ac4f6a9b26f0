"""``projcomp check`` of a family spec with learned members (issue 12): runs
:func:`numerics.checks.models.check_model_family` and prints its report (text, or JSON
with ``--json``)."""

from __future__ import annotations

import argparse
import json

from numerics.checks.models import MODEL_SAMPLERS, ModelCheckReport, check_model_family
from numerics.models.family import ModelFamily
from numerics.records import to_json
from numerics.threads import single_threaded
from projcomp.spec import SpecError


def run(family: ModelFamily, args: argparse.Namespace) -> int:
    """Print the report of ``check`` on ``family`` with the command's options; 0.
    ``SpecError`` (exit 2) for options a model family cannot take, and for members whose
    scores are not finite where the check evaluates them (the report never holds NaN)."""
    if args.operator:
        raise SpecError("--operator", "not supported for a family with model members "
                                      "(the property suite composes exact laws)")
    if args.sampler not in MODEL_SAMPLERS:
        raise SpecError("--sampler", f"{args.sampler} needs densities; a family with model "
                                     f"members runs {', '.join(MODEL_SAMPLERS)}")
    with single_threaded():
        report = check_model_family(family, seed=args.seed, samples=args.samples,
                                    steps=args.steps, sampler=args.sampler, device=args.device)
    doc = to_json(report)
    try:
        text = json.dumps(doc, indent=2, allow_nan=False)
    except ValueError:
        raise SpecError("(members)", "a model's scores are not finite where the check "
                                     "evaluates them (NaN or infinity in the report)") from None
    print(text if args.json else render(report))
    return 0


def render(report: ModelCheckReport) -> str:
    """The text report, one section per line as ``check`` prints an exact family's."""
    lines = [f"family          {report.family} (dim {report.dim}, k {report.k}; members: "
             f"{', '.join(report.members)})"]
    run_ = report.sampling
    if run_ is None:
        lines.append("sampling        skipped (--samples 0)")
    else:
        blocks = "" if run_.block_rms is None else \
            f", rms per block {[round(v, 3) for v in run_.block_rms]}"
        lines.append(f"sampling        composed run: {run_.sampler}, {run_.steps} steps, "
                     f"{run_.samples} samples, {run_.score_evals} score evals; finite "
                     f"{run_.finite_fraction:.3g}, rms {run_.rms:.3g}{blocks}")
        lines.append(f"                {run_.oracle}")
    h = report.heuristic
    prediction = "predicts success" if h.predicts_success else "predicts failure"
    lines.append(f"heuristic       {prediction} (largest |cos| between denoiser mean "
                 f"differences {h.largest:.3g}, tolerance {h.tolerance:g}, at t = {h.t:g})")
    if report.locality is None:
        lines.append(f"locality        not measured: {report.locality_skipped}")
    else:
        loc = report.locality
        lines.append(f"locality        off-block score-difference mass "
                     f"{[float(f'{v:.2g}') for v in loc.statistic]} at t = {loc.t:g} (0 under "
                     f"FC; C20, {loc.probes} JVP probe pairs at {loc.points} sampled points)")
    lines.append(f"verdict         {report.verdict}: {report.reason}")
    return "\n".join(lines)
