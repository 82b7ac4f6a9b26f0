"""``projcomp experiment clevr-lite --quick`` (THEORY §9, C1, C11, C16; paper Fig. 3):
the acceptance of issues 5 and 14 on the quick run (200 images per row, fixed seeds), and
its exact parts."""

from __future__ import annotations

import itertools
import json
from pathlib import Path

import pytest
import torch

from numerics.composition.compose import weighted_exponents
from numerics.experiments import clevr_lite
from numerics.laws.scenes import clevr_scene
from numerics.sampling.section import composed_target
from numerics.tolerances import EXACT_TOL
from projcomp.cli import main

# The bar for "the count matches k" with the empty background.
MATCHES = 0.9
# "Stays close to the empty one": the share of images with all k requested objects may
# differ by at most this (with 200 images, 0.1 is 7 binomial standard errors at 0.9).
CLOSE = 0.1


@pytest.fixture(scope="module")
def quick(tmp_path_factory):
    out = tmp_path_factory.mktemp("clevr-lite")
    printed = _run(["experiment", "clevr-lite", "--quick", "--json", "--out", str(out)])
    return out, printed


def _run(argv: list[str]) -> dict:
    import contextlib
    import io

    buffer = io.StringIO()
    with contextlib.redirect_stdout(buffer), contextlib.redirect_stderr(io.StringIO()):
        assert main(argv) == 0
    return json.loads(buffer.getvalue())


def fractions(doc: dict, background: str) -> list[float]:
    return [r["exact_fraction"] for r in doc["rows"] if r["background"] == background]


def test_report_files_and_printed_json(quick):
    out, printed = quick
    assert json.loads((out / "results.json").read_text()) == printed
    for name in ("index.md", "counts.png", *(f"grid_{b}.png" for b in clevr_lite.BACKGROUNDS)):
        assert (out / name).stat().st_size > 0
    text = (out / "index.md").read_text()
    for needle in ("§9", "C1", "C11", "C16", "Counting rule", "brightness ≥ 0.5", "Fig. 3C"):
        assert needle in text
    rows = printed["rows"]
    assert len(rows) == len(clevr_lite.BACKGROUNDS) * 9
    assert set(rows[0]) >= {"model", "background", "k", "exact_fraction", "mean_count",
                            "spurious", "clutter_law", "length_generalization",
                            "exact_peak_brightness"}
    assert all(r["model"] == "exact" for r in rows)


def test_rows_state_the_clutter_law(quick):
    """Fig. 3C: background 1–5 objects, conditional ℓ plus 0–4 others; the rows beyond 5
    objects are the length-generalization rows (and every empty row beyond 1)."""
    _, doc = quick
    for r in doc["rows"]:
        law = r["clutter_law"]
        assert set(law) == {"background", "conditional"}
        if r["background"] == "cluttered":
            assert law["background"].startswith("1..5 objects (uniform count)")
            assert "plus 0..4 others (uniform count)" in law["conditional"]
            assert r["length_generalization"] == (r["k"] > 5)
        if r["background"] == "empty":
            assert r["length_generalization"] == (r["k"] > 1)
        if r["background"] == "independent":
            assert "independently" in law["background"] and not r["length_generalization"]


def test_clutter_counts_are_capped_on_small_grids():
    family = clevr_lite.scene_family(clevr_scene(2, 2), "cluttered", (0,))
    assert clevr_lite.clutter_law(family) == {
        "background": "1..4 objects (uniform count) at distinct uniformly random cells among 4",
        "conditional": "an object at cell 0 plus 0..3 others (uniform count) at distinct "
                       "uniformly random cells among 3"}
    assert [clevr_lite.most_objects(p) for p in family.members] == [4, 4]


def test_empty_background_counts_match_k(quick):
    _, doc = quick
    assert min(fractions(doc, "empty")) >= MATCHES
    for r in (r for r in doc["rows"] if r["background"] == "empty"):
        assert r["spurious"] <= 1 - MATCHES
        assert abs(r["mean_count"] - r["k"]) <= 1 - MATCHES


def test_bayes_composition_loses_objects_as_k_grows(quick):
    _, doc = quick
    f = fractions(doc, "unconditional")
    assert f[0] >= MATCHES
    assert all(later <= earlier for earlier, later in itertools.pairwise(f))
    assert f[-1] <= 1 - MATCHES


def test_cluttered_background_up_to_five_objects_and_beyond(quick):
    """Exact: C[p] keeps the objects whole (peak brightness 1) up to the clutter's 5
    objects and dims them beyond (the members' counts stop at 5, so only 5 objects' worth
    of likelihood is left). Sampled: small k matches the empty background; beyond 5
    objects no sampled object reaches full brightness (both branches are at b ≤ 5/k)."""
    _, doc = quick
    empty, clutter = fractions(doc, "empty"), fractions(doc, "cluttered")
    bayes, control = fractions(doc, "unconditional"), fractions(doc, "independent")
    assert all(abs(c - e) <= CLOSE for c, e in zip(control, empty, strict=True))
    rows = {r["k"]: r for r in doc["rows"] if r["background"] == "cluttered"}
    for k, r in rows.items():
        if k <= 5:
            assert r["exact_peak_brightness"] == 1.0
        else:
            assert r["exact_peak_brightness"] < 0.2
            # 5/6 ≈ 0.83 is the brightest branch; 0.9 leaves the counter's noise
            assert r["brightness"] <= 0.9
    for k in (1, 2, 3):
        assert abs(clutter[k - 1] - empty[k - 1]) <= CLOSE
    assert clutter[2] - bayes[2] >= 1 - 2 * CLOSE
    for background in ("empty", "independent"):
        assert all(r["exact_peak_brightness"] == 1.0 for r in doc["rows"]
                   if r["background"] == background)
    assert all(r["exact_peak_brightness"] < 0.5 for r in doc["rows"]
               if r["background"] == "unconditional" and r["k"] >= 2)


def test_exact_gaps_where_fc_gives_a_closed_form(quick):
    _, doc = quick
    for r in doc["rows"]:
        if r["background"] in ("empty", "independent"):
            assert r["exact_gap"] <= EXACT_TOL
            assert r["exact_draws_fraction"] == 1.0
        else:
            assert r["exact_gap"] is None and r["exact_draws_fraction"] is None


def test_fc_violation_on_patterns_is_exact():
    scene = clevr_scene()
    violation = {b: clevr_lite.occupancy_fc_violation(
        clevr_lite.scene_family(scene, b, clevr_lite.ORDER)) for b in clevr_lite.BACKGROUNDS}
    for b in ("empty", "independent"):
        assert violation[b]["independence"] <= EXACT_TOL
        assert violation[b]["off_block"] <= EXACT_TOL
    # the cluttered family violates FC, less than the Bayes family does
    assert 0 < violation["cluttered"]["off_block"] < violation["unconditional"]["off_block"]
    assert 0 < violation["cluttered"]["independence"] < violation["unconditional"]["independence"]
    # every member's pattern law sums to 1 over the 2⁹ patterns
    patterns = list(itertools.product((0, 1), repeat=scene.locations))
    for b in clevr_lite.BACKGROUNDS:
        family = clevr_lite.scene_family(scene, b, (4,))
        for law in family.members:
            total = sum(clevr_lite.pattern_probability(law, p) for p in patterns)
            assert total == pytest.approx(1.0, abs=1e-12)


def test_closed_form_is_the_composition():
    scene = clevr_scene()
    family = clevr_lite.scene_family(scene, "independent", (0, 4))
    target = clevr_lite.closed_form(family)
    assert target.required == (0, 4)
    x = target.sample(40, torch.Generator().manual_seed(0))
    exponents = weighted_exponents(family)
    summed = sum(e * p.score(x) for p, e in zip(family.members, exponents, strict=True))
    # C1: Σ e_m ∇log p_m = ∇log C[p⃗]; float64 sums of scores of size ~1/v = 100
    assert torch.allclose(summed, target.score(x), atol=1e-8, rtol=0)
    # the experiment samples through check's path: composed_target, built by compose
    for t in (0.0, 0.3):
        noisy = target.noised(t, family.process) if t else target
        assert torch.allclose(composed_target(family).score(x, t), noisy.score(x), atol=1e-8,
                              rtol=0)
    assert clevr_lite.closed_form(clevr_lite.scene_family(scene, "cluttered", (0,))) is None


def _tiny_learned_report(quick, tmp_path, monkeypatch) -> Path:
    """A copy of the quick exact report, with tiny networks (2 Adam steps) as the learned
    architectures and few images for the score errors: ``-> the report's folder``."""
    import shutil

    from numerics.experiments import clevr_learned
    from numerics.models.training import Recipe

    out = tmp_path / "clevr-lite"
    shutil.copytree(quick[0], out)
    tiny = Recipe(steps=2, batch=8)
    monkeypatch.setattr(clevr_learned, "QUICK_ARCHITECTURES", (
        clevr_learned.Architecture("mlp", {"width": 8, "blocks": 1}, tiny),
        clevr_learned.Architecture("cnn", {"width": 8, "blocks": 1}, tiny)))
    monkeypatch.setattr(clevr_learned, "ERROR_IMAGES", 8)
    return out


def test_learned_rows_join_the_exact_report(quick, tmp_path, monkeypatch):
    """``--models learned`` (issue 12) on the quick exact report: tiny networks (2 Adam
    steps, trained into the checkpoint folder) add their rows to results.json beside the
    exact rows, reusing those (the exact experiment is not rerun), with ``model`` and
    ``attribution`` on every row; a later run starts again from the exact rows alone."""
    from numerics.experiments import clevr_learned
    from projcomp.experiments import clevr_learned as report

    out = _tiny_learned_report(quick, tmp_path, monkeypatch)

    def rerun(*args, **kwargs):
        raise AssertionError("the exact rows should have been reused")

    monkeypatch.setattr(report.exact_report, "run", rerun)
    doc = report.run(out, quick=True, folder=tmp_path / "models", reuse_exact=True,
                     backgrounds=("empty",), ks=(2,))
    assert json.loads((out / "results.json").read_text()) == doc
    assert doc["models"] == ["exact", "mlp", "cnn"]
    exact = {(r["background"], r["k"]): r for r in doc["rows"] if r["model"] == "exact"}
    assert len(exact) == len(clevr_lite.BACKGROUNDS) * 9
    learned = [r for r in doc["rows"] if r["model"] != "exact"]
    assert [(r["k"], r["model"]) for r in learned] == [(2, "mlp"), (2, "cnn")]
    assert doc["learned"]["finished"] and doc["learned"]["backgrounds"] == ["empty"]
    for r in exact.values():
        assert r["attribution"] == clevr_learned.exact_attribution(r["exact_fraction"])
    for r in learned:
        assert r["attribution"] == clevr_learned.attribution(
            exact["empty", r["k"]]["exact_fraction"], r["exact_fraction"])
    assert set(doc["attributions"]) == set(clevr_learned.ATTRIBUTIONS)
    assert len(doc["learned"]["score_errors"]) == 2
    text = (out / "index.md").read_text()
    assert "Fig. 3C" in text and "## Learned score models" in text
    for name in ("index.md", "counts.png", "errors.png", "ood.png", "grid_empty_mlp.png",
                 "grid_empty_cnn.png"):
        assert (out / "learned" / name).stat().st_size > 0
    assert "beyond-exact" in (out / "learned" / "index.md").read_text()
    written = {name: (out / name).read_text() for name in ("index.md", "learned/index.md")}
    report.render(out, json.loads((out / "results.json").read_text()))
    assert {name: (out / name).read_text() for name in written} == written
    again = report.exact_document(out, quick=True, reuse=True)
    assert again["rows"] == quick[1]["rows"] and "learned" not in again


def test_a_stopped_learned_run_leaves_a_partial_report(quick, tmp_path, monkeypatch):
    """The learned report is rewritten after each background: a run stopped in the second
    leaves results.json and both index files for the first, marked partial."""
    from numerics.experiments import clevr_learned
    from projcomp.experiments import clevr_learned as report

    out = _tiny_learned_report(quick, tmp_path, monkeypatch)
    learned_run = clevr_learned.run

    def stop_in_the_second(nets, config, exact_rows, backgrounds, ks, progress=None):
        if backgrounds != ("empty",):
            raise KeyboardInterrupt
        return learned_run(nets, config, exact_rows, backgrounds, ks, progress)

    monkeypatch.setattr(clevr_learned, "run", stop_in_the_second)
    with pytest.raises(KeyboardInterrupt):
        report.run(out, quick=True, folder=tmp_path / "models", reuse_exact=True,
                   backgrounds=("empty", "independent"), ks=(2,))
    doc = json.loads((out / "results.json").read_text())
    assert doc["learned"]["backgrounds"] == ["empty"] and not doc["learned"]["finished"]
    assert {r["background"] for r in doc["rows"] if r["model"] != "exact"} == {"empty"}
    for name in ("index.md", "learned/index.md"):
        assert "**Partial report**" in (out / name).read_text()
