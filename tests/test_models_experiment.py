"""The learned rows of the clevr-lite experiment (issue 12): attribution, row keys and
score errors, on untrained tiny networks and a few images (the plumbing; the trained
numbers are in reports/experiments/clevr-lite/learned/)."""

from __future__ import annotations

import math

import pytest
import torch

from numerics.experiments import clevr_learned, clevr_lite
from numerics.laws.processes import VP
from numerics.laws.scenes import clevr_scene
from numerics.models.networks import build


def test_attribution_names_every_pair_of_outcomes():
    works = clevr_learned.WORKS
    assert clevr_learned.attribution(works - 0.01, works - 0.01) == "theory"
    assert clevr_learned.attribution(works - 0.01, 0.0) == "theory"
    assert clevr_learned.attribution(works, works - 0.01) == "learning"
    assert clevr_learned.attribution(1.0, works) == "works"
    assert clevr_learned.attribution(works - 0.01, works) == "beyond-exact"
    assert clevr_learned.attribution(0.0, 1.0) == "beyond-exact"
    assert clevr_learned.exact_attribution(works) == "works"
    assert clevr_learned.exact_attribution(works - 0.01) == "theory"
    outcomes = {clevr_learned.attribution(e, m) for e in (0.0, 1.0) for m in (0.0, 1.0)}
    assert outcomes == set(clevr_learned.ATTRIBUTIONS)


def tiny_networks() -> dict:
    torch.manual_seed(0)
    return {name: build(name, width=8, blocks=1) for name in ("mlp", "cnn")}


def test_learned_rows_are_attributed_against_the_exact_rows():
    """Each learned row's attribution is the one of its exact row's fraction and its own;
    a (background, k) without an exact row is refused."""
    scene = clevr_scene()
    config = clevr_lite.Config(images=6, ode_steps=3, shown=2)
    exact = [{"background": "independent", "k": 1, "exact_fraction": 1.0},
             {"background": "independent", "k": 2, "exact_fraction": 0.0}]
    result = clevr_learned.run(tiny_networks(), config, exact, backgrounds=("independent",),
                               ks=(1, 2))
    rows = result["rows"]
    assert [(r["k"], r["model"]) for r in rows] == [(1, "mlp"), (1, "cnn"), (2, "mlp"),
                                                    (2, "cnn")]
    for r in rows:
        want = clevr_learned.attribution(1.0 if r["k"] == 1 else 0.0, r["exact_fraction"])
        assert r["attribution"] == want
        assert 0.0 <= r["exact_fraction"] <= 1.0 and math.isfinite(r["brightness"])
    for e in result["score_errors"]:
        assert len(e["in_distribution"]) == len(e["sigmas"]) == len(e["out_of_distribution"])
        values = e["in_distribution"] + e["out_of_distribution"] + e["trajectory"]["trajectory"]
        assert all(math.isfinite(v) and v >= 0 for v in values)
    assert result["images"]["independent", 2, "cnn"].shape == (2, scene.dim)
    with pytest.raises(ValueError, match="no exact row"):
        clevr_learned.run(tiny_networks(), config, exact, backgrounds=("empty",), ks=(1,))


def test_the_composition_target_is_c_of_p_where_fc_gives_it():
    """Empty and independent backgrounds: the out-of-distribution target is compose's
    C[p⃗] itself (FC, C1): same occupation law."""
    scene = clevr_scene()
    for background in ("empty", "independent"):
        cells = clevr_lite.ORDER[:3]
        target = clevr_learned.composition_target(scene, background, cells)
        composed = clevr_lite.closed_form(clevr_lite.scene_family(scene, background, cells))
        assert torch.allclose(target.occupation, composed.occupation, atol=1e-12)


def test_composed_learned_score_is_the_sum_of_member_scores():
    process = VP()
    torch.manual_seed(1)
    net = build("mlp", width=16, blocks=1)
    with torch.no_grad():
        for p in net.parameters():
            p.normal_(0, 0.05)
    scene = clevr_scene()
    members = clevr_learned.family_labels(scene, "empty", (4, 0))
    x = torch.randn(5, scene.dim, dtype=torch.float64)
    composed = clevr_learned.composed_score(net, members, process)(x, 0.3)
    single = [clevr_learned.member_score(net, j, process)(x, 0.3) for j in members]
    want = single[1] + single[2] - single[0]
    # float32 network outputs scaled by a/s² ≈ 1.6: agreement to float32 round-off
    assert torch.allclose(composed, want, rtol=1e-4, atol=1e-4)
