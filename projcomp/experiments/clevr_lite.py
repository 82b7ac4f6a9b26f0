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
    "cluttered": "cluttered background, the paper's Fig. 3C (FC approximate, C16)",
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
                  "clutter": clutter_description(scene),
                  "independent_rate": clevr_lite.clutter_rate(scene)},
        "counting_rule": counting_rule(),
        "rows": result["rows"],
        "fc_violation": result["fc_violation"],
        "seconds": seconds,
    }
    atomic.write_json(out / "results.json", doc)
    atomic.write_text(out / "index.md", markdown(doc))
    return doc


def clutter_description(scene: Scene) -> dict[str, str]:
    """The cluttered family's count laws in words, read off its members."""
    family = clevr_lite.scene_family(scene, "cluttered", clevr_lite.ORDER[:1])
    return clevr_lite.clutter_law(family)


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
    fig.suptitle("Length generalization with exact scores (THEORY §9)", fontsize=10)
    atomic.save_figure(path, fig)


def _row_table(rows: list[dict[str, Any]], background: str) -> list[str]:
    lines = ["| k | length generalization | exact fraction | clean fraction | mean count | "
             "spurious | missing | brightness | exact peak brightness | exact draws | "
             "exact gap |", "|---|---|---|---|---|---|---|---|---|---|---|"]
    for r in (r for r in rows if r["background"] == background):
        exact = "—" if r["exact_draws_fraction"] is None else f"{r['exact_draws_fraction']:.3f}"
        gap = "no closed form" if r["exact_gap"] is None else f"{r['exact_gap']:.1e}"
        lg = f"yes (> {r['most_objects_per_member']})" if r["length_generalization"] else "no"
        lines.append(f"| {r['k']} | {lg} | {r['exact_fraction']:.3f} | "
                     f"{r['clean_fraction']:.3f} | "
                     f"{r['mean_count']:.2f} | {r['spurious']:.2f} | {r['missing']:.2f} | "
                     f"{r['brightness']:.3f} | {r['exact_peak_brightness']:.3f} | {exact} | "
                     f"{gap} |")
    return lines


def markdown(doc: dict[str, Any]) -> str:
    """``index.md``: set-up, counting rule, one table and one explanation per background."""
    cfg, scene, rows = doc["config"], doc["scene"], doc["rows"]
    fc = doc["fc_violation"]
    lines = [
        "# Length generalization in miniature (clevr-lite)", "",
        f"{'Quick run' if doc['quick'] else 'Full run'}: {cfg['images_per_row']} images per row, "
        f"{doc['seconds']:.0f} s. THEORY §9; paper Fig. 3 (A, B: empty and unconditional "
        "backgrounds; C: the cluttered setting) and Table 1. Every row of results.json "
        "names its `model` (here `exact`: the exact composed scores) and its `clutter_law`.",
        "",
        "## Set-up", "",
        f"- Images: {scene['rows']}×{scene['cols']} locations, cells of {scene['cell']}×"
        f"{scene['cell']} RGB pixels ({scene['rows'] * scene['cell']}×"
        f"{scene['cols'] * scene['cell']}×3 = "
        f"{scene['rows'] * scene['cols'] * scene['cell']**2 * 3} dimensions); templates "
        f"{', '.join(scene['templates'])}; isotropic pixel noise {scene['pixel_noise']}.",
        "- Exact models (`numerics.laws.scenes.SceneLaw`, a mixture over which cells hold an "
        "object, with densities and noisy scores in closed form at O(L·M) cost per image): "
        "empty scene; one object at ℓ (template uniform); one object at a uniformly random "
        "cell (the unconditional single-object law); the paper's Fig. 3C clutter — "
        f"background: {scene['clutter']['background']}; conditional ℓ: "
        f"{scene['clutter']['conditional'].replace('cell 4', 'ℓ')}; independent clutter "
        f"(the control), each cell occupied with probability "
        f"{scene['independent_rate']:.4g} (the cluttered background's per-cell rate).",
        f"- Composition: `C[p⃗]` of the conditionals 'object at ℓ' for the first k cells of "
        f"the order {scene['order']} (centre, corners, edges), k = 1..9, sampled by "
        f"DPM-Solver++(2M) on the exact composed noisy scores Σ e_m ∇log p_m^t "
        f"({cfg['stochastic_steps']} SDE steps down to σ = {cfg['sigma_switch']}, then "
        f"{cfg['ode_steps']} ODE steps to σ = {cfg['sigma_min']}; VP process). The scores "
        "come from `compose`, as in `projcomp check`'s sampling section: the scene laws "
        "compose themselves, into a scene law where FC gives the product form (C1), else "
        "into a `SceneComposition` (one pass over the cells).",
        f"- Counting rule: {doc['counting_rule']}.",
        "- Columns: *length generalization* — the row requests more objects than any "
        "member of its family ever shows (the cluttered rows k > 5: the paper's "
        "length-generalization regime); *exact fraction* — images whose k requested cells "
        "all hold an object "
        "(exactly k correctly placed objects; the `exact_fraction` of results.json); *clean "
        "fraction* — those with no other object either; *mean count* — objects per image; "
        "*spurious* — objects at unrequested cells; *missing* — requested cells left empty; "
        "*brightness* — mean brightness of the requested cells; *exact peak brightness* — "
        "the brightness b at which `log C[p⃗]` (exact) is largest along the images whose k "
        "requested cells hold one template at brightness b, the other cells empty (1: "
        "objects kept whole; small: objects dimmed); *exact draws* — the exact "
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
        "The counts match k far beyond the single object each conditional shows (§9(a))."),
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
        "(§9(b)). The brightness column reads about 0.03 on an empty cell (the largest of "
        "four noisy template projections); beyond that the sampled brightness exceeds 1/k "
        "only by the sampler's discretization error, which grows with k and shrinks with "
        "the steps (k = 9 reads 0.12 with the full run's 100 ODE steps, 0.22 with the quick "
        "run's 30)."),
    "cluttered": (
        "The paper's Fig. 3C setting: conditionals 'object at ℓ plus 0–4 others at distinct "
        "random cells' over a background of 1–5 objects at distinct random cells. FC holds "
        "only approximately: drawing without replacement couples the cells (independence "
        "violation above) and the other cells' law under 'object at ℓ' differs from the "
        "background's (C16). Exactly, `C[p⃗] ∝ Π_j q0(x_j) Π_ℓ r_ℓ A_ℓ(r) / B(r)^{k−1}` "
        "(A_ℓ, B the members' clutter polynomials Σ_m c_m e_m(r), "
        "`numerics.laws.scenes`). Up to 5 requested objects the polynomials cancel to "
        "leading order — each requested object keeps one full likelihood factor r — and "
        "`C[p⃗]` keeps the objects whole (exact peak brightness 1) plus clutter. Beyond 5 "
        "they do not "
        "cancel: the conditionals' counts stop at 4 others and the background's at 5, so an "
        "image of k > 5 bright objects keeps only 5 objects' worth of likelihood (the power "
        "of r is k + 4k − 5(k − 1) = 5). `C[p⃗]` then prefers dim objects, as Bayes "
        "composition does: along the images with the k requested objects at brightness b "
        "its exact log-density peaks near b ≈ 0.06–0.09, 133 nats above the best bright "
        "image (b = 5/k) at k = 6 and 650 nats above it at k = 9 (the exact peak column). "
        "So the exact composition does **not** length-generalize past the largest count "
        "its members show. The sampled rows follow `C[p⃗]` on neither side of 5: the "
        "composed scores follow `C[p⃗^t]`, which is not `N_t[C[p⃗]]` when FC fails (compare C9), "
        "and the two branches — all requested objects whole (at 5/k beyond 5) or all of "
        "them dim — are separated by hundreds of nats once the noise is small, so each "
        "particle stays on the branch it chose early. The images split between the "
        "branches (*missing* ≈ k × (1 − exact fraction): an image keeps all its requested "
        "objects or loses all of them): from k = 3 on some images lose every object "
        "although `C[p⃗]` has almost no mass there, and beyond 5 about half keep all k at "
        "brightness ≈ 5/k — which the counter still counts, 5/9 > 0.5 — although `C[p⃗]` "
        "puts almost all its mass on dim objects. The split is not discretization error: "
        "the quick run's 30 ODE steps are not yet converged and give other fractions, but "
        "300 steps give the same fractions as 100 (measured separately, 300 images at "
        "k = 4 and 7: 0.863 and 0.637 with either step count). These rows measure where "
        "the composed path "
        "`C[p⃗^t]` carries the particles, not `C[p⃗]`. Learned models, which need not learn "
        "the count cap, can behave differently again."),
    "independent": (
        "The control: independent per-cell clutter makes FC exact (cells independent under "
        "the background; 'object at ℓ' changes only cell ℓ), so `C[p⃗]` = the k requested "
        "objects plus independent clutter at the other cells (C1; projective gap 0 to "
        "round-off), sampled correctly (C2, C3). The requested objects' counts match the "
        "empty background's; the spurious objects are the clutter `C[p⃗]` itself contains, "
        "(9 − k)·rate on average."),
}
