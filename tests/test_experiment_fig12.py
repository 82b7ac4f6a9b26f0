"""``projcomp experiment fig12`` (the paper's Fig. 12; THEORY §9, C1, C11): on 8-D vectors
the empty background composes {0, 2, 4, 6} and Bayes composition does not (left, eq. 17);
with independently cluttered conditionals Bayes composition works about as well as the
background (right, eq. 18). Exact composed laws, and the sampled rows of one quick run."""

from __future__ import annotations

import contextlib
import io
import json
import math

import pytest
import torch

from numerics.experiments import fig12 as F
from projcomp.cli import main
from projcomp.experiments.fig12 import FIGURES

PNG = b"\x89PNG\r\n\x1a\n"
# Sampled shares of n = 200 vectors against exact probabilities: a binomial standard error
# is at most 0.035; 0.2 is more than five of them (false alarm < 1e-6 per share).
SHARE_TOL = 0.2


@pytest.fixture(scope="module")
def doc(tmp_path_factory):
    out = tmp_path_factory.mktemp("fig12")
    printed = io.StringIO()
    with contextlib.redirect_stdout(printed), contextlib.redirect_stderr(io.StringIO()):
        assert main(["experiment", "fig12", "--quick", "--json", "--out", str(out)]) == 0
    document = json.loads((out / "results.json").read_text())
    assert json.loads(printed.getvalue()) == document
    text = (out / "index.md").read_text()
    assert "(17)" in text and "(18)" in text and "Construction" in text
    for name in FIGURES:
        assert f"]({name})" in text and (out / name).read_bytes().startswith(PNG)
    return {(r["panel"], r["background"]): r for r in document["rows"]}


def test_left_panel_empty_works_bayes_does_not(doc):
    empty, bayes = doc["left", "empty"], doc["left", "bayes"]
    # P(all four above ½) = Φ(5)^4 = 1 − 1.1e-6 with σ = 0.1
    assert empty["fc"] and empty["works"]
    assert empty["exact"]["all_requested_active"] == pytest.approx(
        (0.5 * math.erfc(-5 / math.sqrt(2))) ** 4, abs=1e-12)
    assert not bayes["fc"] and not bayes["works"]
    assert bayes["exact"]["all_requested_active"] < 1e-3
    k = len(F.REQUESTED)
    for j in F.REQUESTED:  # Bayes composition dims each requested index to about 1/k
        assert bayes["exact"]["mean"][j] == pytest.approx(1 / k, abs=0.01)


def test_right_panel_bayes_works_about_as_well_as_the_background(doc):
    clutter, bayes = doc["right", "clutter"], doc["right", "bayes"]
    assert clutter["fc"] and clutter["works"] and not bayes["fc"] and bayes["works"]
    assert bayes["exact"]["all_requested_active"] == pytest.approx(
        clutter["exact"]["all_requested_active"], abs=1e-3)
    other = [j for j in range(F.INDICES) if j not in F.REQUESTED]
    for j in other:  # the clutter is thinner: (k−1) powers of Σ r̃ penalize active indices
        # ½ Φ(−5) + ½ Φ(5) = ½ exactly; the report's value is a Riemann sum on X_GRID
        assert clutter["exact"]["active"][j] == pytest.approx(F.CLUTTER, abs=1e-6)
        assert 0.2 < bayes["exact"]["active"][j] < clutter["exact"]["active"][j] - 0.1


def test_sampled_rows_agree_with_the_exact_laws(doc):
    for row in doc.values():
        assert row["model"] == "exact" and row["samples"] == F.QUICK.images
        exact, sampled = row["exact"], row["sampled"]
        assert abs(exact["all_requested_active"] - sampled["all_requested_active"]) <= SHARE_TOL
        for e, s in zip(exact["active"], sampled["active"], strict=True):
            assert abs(e - s) <= SHARE_TOL


@pytest.mark.parametrize("panel", ["left", "right"])
def test_bayes_background_is_the_average_of_the_conditionals(panel):
    """The Bayes background is ``(1/8) Σ_i p_i`` over all eight conditionals (exactly)."""
    every = F.family(panel, "bayes", tuple(range(F.INDICES)))
    x = torch.rand(64, F.INDICES, generator=torch.Generator().manual_seed(1),
                   dtype=torch.float64) * 1.6 - 0.3
    average = torch.logsumexp(torch.stack([p.log_prob(x) for p in every.conditionals]), 0) \
        - math.log(F.INDICES)
    assert torch.allclose(every.background.log_prob(x), average, atol=1e-10, rtol=0)


@pytest.mark.parametrize("panel", ["left", "right"])
def test_lambda_mixture_matches_a_direct_grid(panel):
    """The λ-mixture of the Bayes composition against the composed density itself on a
    2-D grid, for two indices both requested (``C ∝ g(x_1) g(x_2) / (r_1 + r_2)``): the
    marginals agree to the quadrature's accuracy."""
    full = F.bayes_mixture(panel)
    mixture = F.LambdaMixture(full.log_g[:1], full.log_r[:1], (2,), 2)
    log_g, log_r = full.log_g[0], full.log_r[0]
    joint = log_g[:, None] + log_g[None, :] - torch.logaddexp(log_r[:, None], log_r[None, :])
    dx = float(F.X_GRID[1] - F.X_GRID[0])
    direct = torch.logsumexp(joint, 1).exp()
    direct = direct / (direct.sum() * dx)
    # both are Riemann sums on one x-grid; the λ-quadrature adds < 1e-7 (module constants)
    assert torch.allclose(mixture.marginals()[0], direct, atol=1e-6 * float(direct.max()))
    both = F.X_GRID > F.ACTIVE
    p_direct = float((joint.exp() * both[:, None] * both[None, :]).sum()
                     / joint.exp().sum())
    assert mixture.probability(both[None].to(torch.float64)) == pytest.approx(p_direct,
                                                                           abs=1e-6)
