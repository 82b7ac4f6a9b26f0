"""The learned rows of the clevr-lite experiment (issue 12): attribution, row keys and
score errors, on untrained tiny networks and a few images (the plumbing; the trained
numbers are in reports/experiments/clevr-lite/learned/)."""

from __future__ import annotations

import math

import torch

from numerics.experiments import clevr_learned, clevr_lite
from numerics.laws.processes import VP
from numerics.laws.scenes import clevr_scene
from numerics.models.networks import build


def test_attribution_separates_theory_from_learning():
    works = clevr_learned.WORKS
    assert clevr_learned.attribution(works - 0.01, 1.0) == "theory"
    assert clevr_learned.attribution(works - 0.01, 0.0) == "theory"
    assert clevr_learned.attribution(works, works - 0.01) == "learning"
    assert clevr_learned.attribution(1.0, works) == "works"


def test_learned_rows_sit_beside_exact_rows():
    scene = clevr_scene()
    torch.manual_seed(0)
    nets = {name: build(name, width=8, blocks=1) for name in ("mlp", "cnn")}
    config = clevr_lite.Config(images=6, ode_steps=3, shown=2)
    result = clevr_learned.run(nets, config, backgrounds=("empty",), ks=(1, 2))
    rows = result["rows"]
    assert [(r["k"], r["model"]) for r in rows] == [
        (1, "exact"), (1, "mlp"), (1, "cnn"), (2, "exact"), (2, "mlp"), (2, "cnn")]
    for r in rows:
        assert r["attribution"] in ("theory", "learning", "works")
        assert 0.0 <= r["exact_fraction"] <= 1.0 and math.isfinite(r["brightness"])
    for e in result["score_errors"]:
        assert len(e["in_distribution"]) == len(e["sigmas"]) == len(e["out_of_distribution"])
        values = e["in_distribution"] + e["out_of_distribution"] + e["trajectory"]["trajectory"]
        assert all(math.isfinite(v) and v >= 0 for v in values)
    assert result["images"]["empty", 2, "cnn"].shape == (2, scene.dim)


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
