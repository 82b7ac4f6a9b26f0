"""Family specs with learned members (issue 12): ``{"type": "model", ...}``.

A member of a family spec (background or conditional) may be

    {"type": "model", "entry": "module:function", "weights": "file.safetensors",
     "parameterization": "eps" | "x0" | "v" | "score", "config": {...}}

``entry`` builds the network from ``config`` (``function(**config)``, a
``torch.nn.Module`` mapping ``x (N, n)`` and ``t (N,)`` to a prediction ``(N, n)``; the
spec's folder is importable, so ``module.py`` may sit beside the spec); ``weights`` (a path
relative to the spec file) fills it through safetensors only, every tensor name and shape
checked against the module (:mod:`numerics.models.weights`); the prediction becomes a
score under the spec's ``process`` (:class:`numerics.models.score_model.ScoreModel`). The
other members may be exact laws; they enter through their exact noisy scores. A spec with
at least one model member reads as a :class:`numerics.models.family.ModelFamily`; feature
maps are not supported for it. Every problem raises ``SpecError`` naming the field, e.g.
``conditionals[1].weights: tensor 'net.0.weight' has shape (64, 75), the module expects
(64, 675)``.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import torch

from numerics.laws.family import Family
from numerics.laws.processes import ForwardProcess
from numerics.models.family import ModelFamily, NoisyScore, law_score
from numerics.models.score_model import ScoreModel
from numerics.models.weights import ModelError, build_module, load_weights
from projcomp import spec
from projcomp.spec import Limits, SpecError

# The probe that checks a module's output shape before any check runs: two points.
PROBE_POINTS = 2
DEFAULT_LIMITS = Limits()


def has_models(doc: Any) -> bool:
    """Whether the spec ``doc`` has a model background or conditional."""
    if not isinstance(doc, dict):
        return False
    members = [doc.get("background"), *(doc.get("conditionals") or [])] \
        if isinstance(doc.get("conditionals", []), list) else [doc.get("background")]
    return any(isinstance(m, dict) and m.get("type") == "model" for m in members)


def load_spec(path: str | os.PathLike[str],
              limits: Limits = DEFAULT_LIMITS) -> Family | ModelFamily:
    """The spec at ``path``: a :class:`ModelFamily` when it has model members, else a
    :class:`Family` (``projcomp.spec.family_from_dict``). Raises ``SpecError``."""
    doc = spec.read_json(path, limits)
    if has_models(doc):
        return model_family_from_dict(doc, Path(path).parent, limits)
    return spec.family_from_dict(doc, limits)


def model_family_from_dict(doc: dict[str, Any], folder: Path,
                           limits: Limits = DEFAULT_LIMITS) -> ModelFamily:
    """Validate a spec with model members (paths relative to ``folder``) and build it."""
    spec.check_document(doc, limits)
    if "feature_map" in doc:
        raise SpecError("feature_map", "not supported in a family with model members")
    n = int(doc["dim"])
    process = spec._process(doc.get("process", {"type": "vp"}))
    paths = ["background", *(f"conditionals[{i}]" for i in range(len(doc["conditionals"])))]
    scores, kinds = [], []
    for member, path in zip([doc["background"], *doc["conditionals"]], paths, strict=True):
        score, kind = _member(member, path, n, process, folder)
        scores.append(score)
        kinds.append(kind)
    k = len(scores) - 1
    return ModelFamily(background=scores[0], conditionals=tuple(scores[1:]), dim=n,
                       kinds=tuple(kinds), weights=spec._weights(doc.get("weights"), k),
                       projections=spec._projections(doc.get("projections"), n, k),
                       process=process, name=doc.get("name", "family"))


def _member(doc: dict[str, Any], path: str, n: int, process: ForwardProcess,
            folder: Path) -> tuple[NoisyScore, str]:
    if doc["type"] != "model":
        return law_score(spec.build_member(doc, path, n), process), "exact"
    try:
        network = build_module(doc["entry"], doc.get("config", {}), folder)
        load_weights(network, folder / doc["weights"])
    except ModelError as err:
        raise SpecError(f"{path}.{err.field}", err.problem) from None
    parameters = list(network.parameters())
    dtype = parameters[0].dtype if parameters else torch.float32
    model = ScoreModel(network, doc["parameterization"], process, dtype=dtype)
    _probe(model, n, process, f"{path}.entry")
    return model, f"model ({doc['parameterization']}, {doc['entry']})"


def _probe(model: ScoreModel, n: int, process: ForwardProcess, path: str) -> None:
    """Call the model once at ``t = T/2`` on ``PROBE_POINTS`` points: it must run, return
    the points' shape (``ScoreModel`` checks) and be finite."""
    x = torch.zeros(PROBE_POINTS, n, dtype=torch.float64)
    t = process.T / 2
    try:
        with torch.no_grad():
            out = model(x, t)
    except Exception as err:  # user code failing on a well-formed input
        raise SpecError(path, f"the module fails on points of dimension {n} "
                              f"({type(err).__name__}: {' '.join(str(err).split())[:120]})") \
            from None
    if not bool(torch.isfinite(out).all()):
        raise SpecError(path, "the module's prediction at t = T/2 is not finite")
