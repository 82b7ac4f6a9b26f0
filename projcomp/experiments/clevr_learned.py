"""Report of ``projcomp experiment clevr-lite --models learned|both``: the learned rows
(``reports/experiments/clevr-lite/learned/``: ``index.md``, ``results.json``,
``counts.png``, ``errors.png``, ``grid_<background>_<model>.png``).

The networks come from ``projcomp train clevr-lite`` checkpoints (``models/clevr-lite`` or,
with ``--quick``, ``models/clevr-lite-quick``); missing ones are trained first and saved
there. Each row of ``results.json`` has ``model`` (``exact`` or the architecture) and
``attribution`` (``theory`` | ``learning`` | ``works``; numerics.experiments.clevr_learned).
"""

from __future__ import annotations

import json
import sys
import time
from pathlib import Path
from typing import Any

import matplotlib.pyplot as plt

from numerics.experiments import clevr_learned, clevr_lite
from numerics.laws.scenes import Scene
from numerics.models.networks import Preconditioned
from numerics.threads import single_threaded
from projcomp import atomic, train
from projcomp.experiments.clevr_lite import counting_rule


def networks(quick: bool, folder: Path | None = None) -> tuple[dict[str, Preconditioned],
                                                               dict[str, Any]]:
    """Every architecture's network, loaded from its checkpoint or trained and saved;
    and the checkpoint documents."""
    folder = train.CHECKPOINTS[quick] if folder is None else folder
    names = tuple(a.name for a in train.architectures(quick))
    missing = tuple(n for n in names if not (folder / f"{n}.json").is_file())
    if missing:
        train.train(folder, quick, missing)
    docs = {n: json.loads((folder / f"{n}.json").read_text("utf-8")) for n in names}
    return {n: train.load(folder, n) for n in names}, docs


def run(out: Path, quick: bool, folder: Path | None = None,
        config: clevr_lite.Config | None = None,
        backgrounds: tuple[str, ...] = clevr_learned.BACKGROUNDS,
        ks: tuple[int, ...] | None = None) -> dict[str, Any]:
    """Learned and exact rows, written to ``out``: the ``quick`` or full models (from
    ``folder``, default ``train.CHECKPOINTS``), sampled with ``config`` (default
    ``clevr_lite.QUICK`` or ``FULL``), for ``backgrounds`` and ``ks`` (default 1..9)."""
    nets, checkpoints = networks(quick, folder)
    if config is None:
        config = clevr_lite.QUICK if quick else clevr_lite.FULL
    start = time.perf_counter()
    with single_threaded():
        result = clevr_learned.run(nets, config, backgrounds, ks, progress=lambda line: print(
            line, file=sys.stderr, flush=True))
    seconds = time.perf_counter() - start
    scene: Scene = result["scene"]
    models = ["exact", *nets]
    for background in backgrounds:
        for model in models:
            grid_figure(scene, result["images"], background, model,
                        out / f"grid_{background}_{model}.png")
    counts_figure(result["rows"], models, backgrounds, out / "counts.png")
    errors_figure(result["score_errors"], out / "errors.png")
    doc = {
        "experiment": "clevr-lite", "models": models, "quick": quick,
        "backgrounds": list(backgrounds),
        "trained": "quick recipe" if quick else "full recipe",
        "config": {"images_per_row": config.images, "ode_steps": config.ode_steps,
                   "stochastic_steps": clevr_lite.STOCHASTIC_STEPS, "seed": config.seed},
        "works_threshold": clevr_learned.WORKS,
        "training": {n: {k: d[k] for k in ("config", "recipe", "parameters", "seconds",
                                            "threads")} | {"final_loss": d["losses"][-1]}
                     for n, d in checkpoints.items()},
        "counting_rule": counting_rule(),
        "rows": result["rows"], "score_errors": result["score_errors"],
        "seconds": seconds,
    }
    atomic.write_json(out / "results.json", doc)
    atomic.write_text(out / "index.md", markdown(doc))
    return doc


def grid_figure(scene: Scene, images: dict, background: str, model: str, path: Path) -> None:
    """Sampled images of one model: one row per ``k``."""
    ks = sorted({k for b, k, m in images if b == background and m == model})
    shown = len(images[background, ks[0], model])
    fig, axes = plt.subplots(len(ks), shown, figsize=(0.9 * shown, 0.95 * len(ks)),
                             squeeze=False)
    for r, k in enumerate(ks):
        pictures = scene.pictures(images[background, k, model]).clamp(0, 1).numpy()
        for c in range(shown):
            axes[r, c].imshow(pictures[c], interpolation="nearest")
            axes[r, c].set_xticks([])
            axes[r, c].set_yticks([])
        axes[r, 0].set_ylabel(f"k = {k}", fontsize=8)
    fig.suptitle(f"{background} background, {model} scores", fontsize=9)
    atomic.save_figure(path, fig)


def counts_figure(rows: list[dict[str, Any]], models: list[str], backgrounds: tuple[str, ...],
                  path: Path) -> None:
    """Exact fraction and brightness against ``k``, one panel per background."""
    fig, axes = plt.subplots(2, len(backgrounds), figsize=(4 * len(backgrounds), 6.4),
                             squeeze=False)
    for col, background in enumerate(backgrounds):
        for model in models:
            mine = [r for r in rows if r["background"] == background and r["model"] == model]
            ks = [r["k"] for r in mine]
            axes[0, col].plot(ks, [r["exact_fraction"] for r in mine], marker="o", label=model)
            axes[1, col].plot(ks, [r["brightness"] for r in mine], marker="o", label=model)
        axes[0, col].set_title(background, fontsize=9)
        axes[0, col].set_ylim(-0.03, 1.03)
        axes[0, col].axhline(clevr_learned.WORKS, color="grey", ls=":")
        axes[1, col].set_xlabel("k")
    axes[0, 0].set_ylabel("fraction with all k objects")
    axes[1, 0].set_ylabel("brightness of requested cells")
    axes[0, 0].legend(fontsize=8)
    atomic.save_figure(path, fig)


def errors_figure(errors: list[dict[str, Any]], path: Path) -> None:
    """Relative score error against σ: in-distribution, out-of-distribution per k and
    along the trajectory, for the empty background, per architecture."""
    names = sorted({e["model"] for e in errors})
    fig, axes = plt.subplots(1, len(names), figsize=(5.5 * len(names), 3.8), squeeze=False)
    for ax, name in zip(axes[0], names, strict=True):
        mine = [e for e in errors if e["model"] == name and e["background"] == "empty"]
        if not mine:
            continue
        ax.plot(mine[0]["sigmas"], mine[0]["in_distribution"], "k-", lw=2,
                label="in distribution")
        for e in mine:
            ax.plot(e["sigmas"], e["out_of_distribution"], alpha=0.7, label=f"k = {e['k']}")
        last = mine[-1]["trajectory"]
        ax.plot(last["sigmas"], last["trajectory"], "k:", label=f"trajectory k = {mine[-1]['k']}")
        ax.set_xscale("log")
        ax.set_yscale("log")
        ax.set_xlabel("σ = s_t / a_t")
        ax.set_title(f"{name}: relative score error, empty background", fontsize=9)
        ax.legend(fontsize=6)
    atomic.save_figure(path, fig)


def markdown(doc: dict[str, Any]) -> str:
    """``index.md``: set-up, training, one table per background, the attribution."""
    lines = ["# Length generalization with learned scores (clevr-lite)", "",
             f"Models trained with the {doc['trained']}; "
             f"{doc['config']['images_per_row']} images per row, "
             f"{doc['config']['stochastic_steps']} SDE + {doc['config']['ode_steps']} ODE "
             f"steps (DPM-Solver++(2M), as the exact experiment); {doc['seconds']:.0f} s "
             "(sampling and score errors). Issue 12; THEORY §8, C20.", "",
             "## Training", "", "| model | parameters | steps | batch | final loss | seconds "
             "| threads |", "|---|---|---|---|---|---|---|"]
    for name, t in doc["training"].items():
        lines.append(f"| {name} | {t['parameters']} | {t['recipe']['steps']} | "
                     f"{t['recipe']['batch']} | {t['final_loss']:.4f} | {t['seconds']:.0f} | "
                     f"{t['threads']} |")
    lines += ["", ARCHITECTURES_TEXT]
    lines += ["", f"Counting rule: {doc['counting_rule']}. A composition *works* at k when "
              f"its exact fraction is at least {doc['works_threshold']}; *attribution*: "
              "`theory` when the exact composition fails too, `learning` when the exact one "
              "works and the learned one does not.", "", "![counts](counts.png)", "",
              "![errors](errors.png)", ""]
    for background in doc["backgrounds"]:
        lines += [f"## {background} background", "",
                  "| k | model | exact fraction | mean count | spurious | brightness | "
                  "attribution | OOD score error (σ = 0.1 / 0.5 / 2) |",
                  "|---|---|---|---|---|---|---|---|"]
        errs = {(e["k"], e["model"]): e for e in doc["score_errors"]
                if e["background"] == background}
        for r in (r for r in doc["rows"] if r["background"] == background):
            e = errs.get((r["k"], r["model"]))
            ood = "—" if e is None else " / ".join(
                f"{v:.3g}" for s, v in zip(e["sigmas"], e["out_of_distribution"], strict=True)
                if s in (0.1, 0.5, 2.0))
            lines.append(f"| {r['k']} | {r['model']} | {r['exact_fraction']:.3f} | "
                         f"{r['mean_count']:.2f} | {r['spurious']:.2f} | "
                         f"{r['brightness']:.3f} | {r['attribution']} | {ood} |")
        lines += ["", *explanation(doc, background), "",
                  *(f"![{background} {m}](grid_{background}_{m}.png)" for m in doc["models"]),
                  ""]
    return "\n".join(lines)


def explanation(doc: dict[str, Any], background: str) -> list[str]:
    """Per learned model: up to which k it works, the attribution of its failures, and
    its score errors at ``EXPLAIN_SIGMA`` (in distribution, out of distribution at the
    smallest and largest k, along its trajectory), read from the results."""
    rows = [r for r in doc["rows"] if r["background"] == background]
    lines = []
    for model in doc["models"]:
        mine = [r for r in rows if r["model"] == model]
        failing = [r["k"] for r in mine if r["exact_fraction"] < doc["works_threshold"]]
        first = f"fails from k = {failing[0]}" if failing else "works at every k run"
        causes = sorted({r["attribution"] for r in mine if r["attribution"] != "works"})
        text = f"- **{model}**: {first}" + (f" (attribution: {', '.join(causes)})"
                                            if causes else "")
        errs = sorted((e for e in doc["score_errors"]
                       if e["background"] == background and e["model"] == model),
                      key=lambda e: e["k"])
        if errs:
            i = errs[0]["sigmas"].index(EXPLAIN_SIGMA)
            lo, hi = errs[0], errs[-1]
            traj = hi["trajectory"]
            text += (f"; relative score error at σ = {EXPLAIN_SIGMA}: in distribution "
                     f"{lo['in_distribution'][i]:.3g}, out of distribution "
                     f"{lo['out_of_distribution'][i]:.3g} at k = {lo['k']} and "
                     f"{hi['out_of_distribution'][i]:.3g} at k = {hi['k']}; along the "
                     f"sampler's path at k = {hi['k']} up to "
                     f"{max(traj['trajectory']):.3g}; brightness "
                     + ", ".join(f"{r['brightness']:.2f}" for r in mine) + " for k = "
                     + ", ".join(str(r["k"]) for r in mine))
        lines.append(text + ".")
    return lines


ARCHITECTURES_TEXT = (
    "Both networks learn every label (object at ℓ, empty, single object, clutter, ℓ plus "
    "clutter) by denoising score matching on exact draws, parameterization x0 with EDM "
    "preconditioning, EMA weights. **mlp** is global: every output pixel depends on every "
    "input pixel and on the label. **cnn** is local: each cell sees a 9×9-pixel window "
    "(itself and 2 pixels of each neighbour), the noise level, the label's background kind "
    "and its own flag 'object requested here'; under 'object at ℓ' every other cell is "
    "computed exactly as under the empty scene, so its score differences s_ℓ − s_b vanish "
    "off cell ℓ at every input, seen in training or not (FC in the networks; C19, C20). "
    "The mlp's s_ℓ − s_b are learned to vanish off ℓ only on images with at most one "
    "object; composing k conditionals evaluates them on k-object images and adds k − 1 of "
    "them, so their out-of-distribution error grows with k (the score-error columns and "
    "errors.png) and the requested objects come out too bright.")


# The noise level the explanations quote (where objects take shape: template norm ~2.6
# per cell against σ·|noise| ~ 0.5·sqrt(75) ≈ 4.3).
EXPLAIN_SIGMA = 0.5
