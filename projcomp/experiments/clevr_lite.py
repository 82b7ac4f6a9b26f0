"""Report of ``projcomp experiment clevr-lite``: ``reports/experiments/clevr-lite/``
(``index.md``, ``results.json``, ``counts.png``, ``grid_<background>.png``)."""

from __future__ import annotations

import sys
import time
from pathlib import Path
from typing import Any

import matplotlib.pyplot as plt

from numerics.experiments import clevr_lite
from numerics.laws.scenes import COUNT_THRESHOLD, Scene
from numerics.threads import single_threaded
from projcomp import atomic

TITLES = {
    "empty": "empty background (FC holds, C1)",
    "unconditional": "unconditional background (Bayes composition, C11)",
    "cluttered": "cluttered background (FC approximate, C16)",
    "independent": "independent clutter (control: FC exact)",
}


def run(out: Path, quick: bool) -> dict[str, Any]:
    """Run the experiment (``clevr_lite.QUICK`` or ``FULL``) and write its report."""
    config = clevr_lite.QUICK if quick else clevr_lite.FULL
    start = time.perf_counter()
    with single_threaded():
        result = clevr_lite.run(config, progress=lambda line: print(line, file=sys.stderr,
                                                                    flush=True))
    seconds = time.perf_counter() - start
    scene: Scene = result["scene"]
    for background in clevr_lite.BACKGROUNDS:
        grid_figure(scene, result["images"], background, out / f"grid_{background}.png")
    counts_figure(result["rows"], scene.locations, out / "counts.png")
    doc = {
        "experiment": "clevr-lite", "quick": quick,
        "config": {"images_per_row": config.images, "stochastic_steps":
                   clevr_lite.STOCHASTIC_STEPS, "ode_steps": config.ode_steps,
                   "sigma_switch": clevr_lite.SIGMA_SWITCH, "sigma_min": clevr_lite.SIGMA_MIN,
                   "seed": config.seed},
        "scene": {"rows": scene.rows, "cols": scene.cols, "cell": scene.cell,
                  "channels": scene.channels, "templates": list(scene.names),
                  "pixel_noise": scene.noise, "order": list(clevr_lite.ORDER),
                  "clutter": f"0..{clevr_lite.CLUTTER} extra objects, uniform",
                  "independent_rate": clevr_lite.clutter_rate(scene)},
        "counting_rule": counting_rule(),
        "rows": result["rows"],
        "fc_violation": result["fc_violation"],
        "seconds": seconds,
    }
    atomic.write_json(out / "results.json", doc)
    atomic.write_text(out / "index.md", markdown(doc))
    return doc


def counting_rule() -> str:
    return (f"a cell holds an object when its projection onto some template reaches "
            f"{COUNT_THRESHOLD} of it: max_τ ⟨x_cell, μ_τ⟩ / |μ_τ|² ≥ {COUNT_THRESHOLD} "
            "(brightness ≥ 0.5; a clean object has brightness 1, an empty cell 0 ± 0.05)")


def grid_figure(scene: Scene, images: dict, background: str, path: Path) -> None:
    """Sampled images: one row per ``k``, requested cells outlined."""
    ks = range(1, scene.locations + 1)
    shown = len(images[background, 1])
    fig, axes = plt.subplots(len(ks), shown, figsize=(0.9 * shown, 0.95 * len(ks)))
    for r, k in enumerate(ks):
        pictures = scene.pictures(images[background, k]).clamp(0, 1).numpy()
        for c in range(shown):
            ax = axes[r, c]
            ax.imshow(pictures[c], interpolation="nearest")
            for cell in clevr_lite.ORDER[:k]:
                row, col = divmod(cell, scene.cols)
                ax.add_patch(plt.Rectangle((col * scene.cell - 0.5, row * scene.cell - 0.5),
                                           scene.cell, scene.cell, fill=False, lw=0.6,
                                           edgecolor="white"))
            ax.set_xticks([])
            ax.set_yticks([])
        axes[r, 0].set_ylabel(f"k = {k}", fontsize=8)
    fig.suptitle(f"{TITLES[background]}: samples of C[p] (requested cells outlined)",
                 fontsize=9)
    atomic.save_figure(path, fig)


def counts_figure(rows: list[dict[str, Any]], locations: int, path: Path) -> None:
    """Exact fraction and mean count against ``k`` per background."""
    fig, (left, right) = plt.subplots(1, 2, figsize=(9.5, 3.6))
    for background in clevr_lite.BACKGROUNDS:
        mine = [r for r in rows if r["background"] == background]
        ks = [r["k"] for r in mine]
        left.plot(ks, [r["exact_fraction"] for r in mine], marker="o", label=background)
        right.plot(ks, [r["mean_count"] for r in mine], marker="o", label=background)
    right.plot([1, locations], [1, locations], color="grey", ls=":", label="k")
    left.set_xlabel("k (composed location conditionals)")
    left.set_ylabel("fraction with all k requested objects")
    right.set_xlabel("k (composed location conditionals)")
    right.set_ylabel("mean number of objects")
    left.set_ylim(-0.03, 1.03)
    left.legend(fontsize=8)
    right.legend(fontsize=8)
    fig.suptitle("Length generalization with exact scores (THEORY §8)", fontsize=10)
    atomic.save_figure(path, fig)


def _row_table(rows: list[dict[str, Any]], background: str) -> list[str]:
    lines = ["| k | exact fraction | clean fraction | mean count | spurious | missing | "
             "brightness | exact draws | exact gap |", "|---|---|---|---|---|---|---|---|---|"]
    for r in (r for r in rows if r["background"] == background):
        exact = "—" if r["exact_draws_fraction"] is None else f"{r['exact_draws_fraction']:.3f}"
        gap = "no closed form" if r["exact_gap"] is None else f"{r['exact_gap']:.1e}"
        lines.append(f"| {r['k']} | {r['exact_fraction']:.3f} | {r['clean_fraction']:.3f} | "
                     f"{r['mean_count']:.2f} | {r['spurious']:.2f} | {r['missing']:.2f} | "
                     f"{r['brightness']:.3f} | {exact} | {gap} |")
    return lines


def markdown(doc: dict[str, Any]) -> str:
    """``index.md``: set-up, counting rule, one table and one explanation per background."""
    cfg, scene, rows = doc["config"], doc["scene"], doc["rows"]
    fc = doc["fc_violation"]
    lines = [
        "# Length generalization in miniature (clevr-lite)", "",
        f"{'Quick run' if doc['quick'] else 'Full run'}: {cfg['images_per_row']} images per row, "
        f"{doc['seconds']:.0f} s. THEORY §8; paper Fig. 3 and Table 1.", "",
        "## Set-up", "",
        f"- Images: {scene['rows']}×{scene['cols']} locations, cells of {scene['cell']}×"
        f"{scene['cell']} RGB pixels ({scene['rows'] * scene['cell']}×"
        f"{scene['cols'] * scene['cell']}×3 = "
        f"{scene['rows'] * scene['cols'] * scene['cell']**2 * 3} dimensions); templates "
        f"{', '.join(scene['templates'])}; isotropic pixel noise {scene['pixel_noise']}.",
        "- Exact models (`numerics.laws.scenes.SceneLaw`, a mixture over which cells hold an "
        "object, with densities and noisy scores in closed form at O(L·M) cost per image): "
        "empty scene; one object at ℓ (template uniform); one object at a uniformly random "
        f"cell (the unconditional single-object law); clutter of {scene['clutter']} at "
        "distinct random cells, with and without a required object at ℓ; independent "
        f"clutter, each cell occupied with probability {scene['independent_rate']:.4g}.",
        f"- Composition: `C[p⃗]` of the conditionals 'object at ℓ' for the first k cells of "
        f"the order {scene['order']} (centre, corners, edges), k = 1..9, sampled by "
        f"DPM-Solver++(2M) on the exact composed noisy scores Σ e_m ∇log p_m^t "
        f"({cfg['stochastic_steps']} SDE steps down to σ = {cfg['sigma_switch']}, then "
        f"{cfg['ode_steps']} ODE steps to σ = {cfg['sigma_min']}; VP process). The scores "
        "come from `compose`, as in `projcomp check`'s sampling section: the scene laws "
        "compose themselves, into a scene law where FC gives the product form (C1), else "
        "into a `SceneComposition` (one pass over the cells).",
        f"- Counting rule: {doc['counting_rule']}.",
        "- Columns: *exact fraction* — images whose k requested cells all hold an object "
        "(exactly k correctly placed objects; the `exact_fraction` of results.json); *clean "
        "fraction* — those with no other object either; *mean count* — objects per image; "
        "*spurious* — objects at unrequested cells; *missing* — requested cells left empty; "
        "*brightness* — mean brightness of the requested cells; *exact draws* — the exact "
        "fraction of exact draws of `C[p⃗]` where FC gives it in closed form (the oracle); "
        "*exact gap* — the largest projective gap `D(Π_ℓ♯C[p⃗], Π_ℓ♯p_ℓ)` (normalized L2, "
        "closed form).",
        "- FC violation on occupancy patterns (exact over all 2⁹ patterns; Definition 5.2: "
        "*independence* = TV between the background's pattern law and the product of its "
        "cell marginals, *off-block* = largest TV between a conditional's and the "
        "background's law of the other cells): " + "; ".join(
            f"{b} {v['independence']:.3f} / {v['off_block']:.3f}" for b, v in fc.items()) + ".",
        "", "![counts](counts.png)", ""]
    for background in clevr_lite.BACKGROUNDS:
        lines += [f"## {TITLES[background]}", "", *_row_table(rows, background), "",
                  EXPLANATIONS[background], "", f"![{background}](grid_{background}.png)", ""]
    return "\n".join(lines)


EXPLANATIONS = {
    "empty": (
        "The empty scene and the conditionals 'one object at ℓ' have Factorized Conditionals "
        "with `M_ℓ` = cell ℓ (Definition 5.2, exactly): so `C[p⃗]` = objects at the k "
        "requested cells and empty cells elsewhere (C1; projective gap 0 to round-off), "
        "noising keeps FC (C2), and reverse diffusion on the summed scores samples it (C3). "
        "The counts match k far beyond the single object each conditional shows (§8(a))."),
    "unconditional": (
        "With the unconditional single-object law as background the composition is Bayes "
        "composition, and the family is not FC: the background puts exactly one object in "
        "the scene (independence violated), and off ℓ it differs from 'object at ℓ' (C11). "
        "At t = 0, `C[p⃗] ∝ Π_j q0(x_j) Π_{ℓ≤k} r_ℓ / (Σ_j r_j / L)^{k−1}`: the (k − 1) "
        "powers of the background's likelihood ratio take back all but one object's worth "
        "of it. Per requested cell this is close to the geometric interpolation "
        "`q0^{1−1/k} q1^{1/k}`, whose modes are the templates at 1/k of their intensity: "
        "along images whose k requested objects are one template τ at brightness b, "
        "`log C[p⃗] = −k b²|μ_τ|²/2v + b|μ_τ|²/v + const`, maximal at b = 1/k "
        "(`tests/test_scenes.py` checks the peak). Bayes composition draws k objects at "
        "brightness about 1/k. The counting rule sees them for k = 1 and mostly for k = 2 "
        "(brightness ≈ 0.5, at the threshold) and never beyond: the count falls with k "
        "(§8(b)). The brightness column reads about 0.03 on an empty cell (the largest of "
        "four noisy template projections); beyond that the sampled brightness exceeds 1/k "
        "only by the sampler's discretization error, which grows with k and shrinks with "
        "the steps (k = 9 reads 0.12 with the full run's 100 ODE steps, 0.22 with the quick "
        "run's 30)."),
    "cluttered": (
        "Cluttered conditionals ('object at ℓ plus 0..3 others at distinct random cells') "
        "with the cluttered background are FC only approximately: drawing clutter without "
        "replacement couples the cells (independence violation above) and the other cells' "
        "law under 'object at ℓ' differs slightly from the background's (C16). The "
        "requested objects are all there, like with the empty background (§8(c)), far "
        "above Bayes composition at large k. The violation shows instead in the clutter "
        "and the brightness: `Π_ℓ A_ℓ / B^{k−1}` (A_ℓ, B the clutter polynomials "
        "Σ_m c_m e_m(r)) does not cancel — with all 9 cells requested it leaves a factor "
        "`r^3`, so the 9 objects share `r^12` and come out at brightness 12/9 ≈ 1.33; "
        "spurious clutter objects appear at small k, fewer as k grows."),
    "independent": (
        "The control: independent per-cell clutter makes FC exact (cells independent under "
        "the background; 'object at ℓ' changes only cell ℓ), so `C[p⃗]` = the k requested "
        "objects plus independent clutter at the other cells (C1; projective gap 0 to "
        "round-off), sampled correctly (C2, C3). The requested objects' counts match the "
        "empty background's; the spurious objects are the clutter `C[p⃗]` itself contains, "
        "(9 − k)·rate on average."),
}
