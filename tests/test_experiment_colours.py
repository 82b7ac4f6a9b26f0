"""``projcomp experiment colours``: the paper's Fig. 5 split follows from the colour laws
(coordinate FC in the B channel, THEORY §6 "Colours"), and the THEORY C7–C9 illustrations
(orthogonal colour amounts compose, non-orthogonal ones fail in sampling).

One quick run through the command line (``--quick --json``, fixed seed) serves the report
tests. Its statistical verdicts are calibrated Monte Carlo tests; within each part the
levels of the tests whose false rejection would fail a test below add up to the project's
1e-3 false-failure budget. The criterion's own tests need no sampling.
"""

from __future__ import annotations

import contextlib
import io
import json
import math
import re
from pathlib import Path
from typing import Any

import pytest
import torch

from numerics.checks.heuristic import mean_differences
from numerics.experiments import colour_amounts as A
from numerics.experiments import colours as F
from numerics.laws import GaussianMixture
from numerics.laws.family import Family
from numerics.sampling.calibration import statistic
from numerics.tolerances import EXACT_TOL
from projcomp.cli import main
from projcomp.experiments.colours import FIGURES

PNG = b"\x89PNG\r\n\x1a\n"
# Illustrations, quick run of n = 500: one brightness mode's share has standard deviation
# sqrt(¼ · ¾ / 500) ≈ 0.019; 0.1 is five of them (false alarm < 1e-6 per share).
MASS_TOL = 0.1
# The non-orthogonal composed runs put ≥ 0.96 on bright+bright (measured); 0.9 is far from
# the target ¼ and leaves a margin.
COLLAPSE = 0.9
# A failing Fig. 5 pair moves B by 0.6 (7.5 channel noises); its lens statistic is ~0.3–0.6
# against thresholds ~0.03 (measured): 5 × the threshold leaves a wide margin.
FAR = 5.0


@pytest.fixture(scope="module")
def report(tmp_path_factory) -> tuple[Path, dict[str, Any], str]:
    """``(out, results.json, printed stdout)`` of one quick run."""
    out = tmp_path_factory.mktemp("colours")
    printed = io.StringIO()
    with contextlib.redirect_stdout(printed), contextlib.redirect_stderr(io.StringIO()):
        status = main(["experiment", "colours", "--quick", "--json", "--out", str(out)])
    assert status == 0
    return out, json.loads((out / "results.json").read_text()), printed.getvalue()


@pytest.fixture
def nominal(monkeypatch):
    """``F.NOMINAL`` as a fresh dict to edit, with the criterion's cache cleared."""
    table = dict(F.NOMINAL)
    monkeypatch.setattr(F, "NOMINAL", table)
    F.channel_block.cache_clear()
    yield table
    F.channel_block.cache_clear()


# Fig. 5: the criterion, from the laws alone ---------------------------------------------
def test_histograms_have_the_captions_shape():
    """Yellow's R and G laws are the background's; its B is distinct and peaked near 0."""
    bg, yellow = F.colour_law(F.BACKGROUND), F.colour_law(F.BASE)
    block = F.channel_block(F.BASE)
    assert block.block == (F.CHANNELS.index("B"),)
    for c in (0, 1):
        assert block.distances[c] <= EXACT_TOL
        assert torch.equal(yellow.dists[c].means, bg.dists[c].means)
    b = F.CHANNELS.index("B")
    assert block.distances[b] > 0.99
    assert abs(float(yellow.dists[b].means[0, 0])) <= 0.1 * F.ILLUMINATION
    assert float(bg.dists[b].means[0, 0]) - float(yellow.dists[b].means[0, 0]) > \
        5 * F.CHANNEL_NOISE


def test_split_is_computed_from_the_nominal_values(nominal):
    """The criterion reads the laws: moving a colour's B channel moves it across the split."""
    assert [p for p in F.PARTNERS if F.coordinate_fc(p)] == ["blue", "cyan", "magenta"]
    nominal["cyan"] = (0.0, 1.0, 0.5)   # cyan that absorbs half of B: no longer composes
    nominal["red"] = (1.0, 0.0, 1.0)    # "red" that reflects B fully: composes
    F.channel_block.cache_clear()
    assert not F.coordinate_fc("cyan") and F.coordinate_fc("red")
    assert F.channel_block("cyan").block == (0, 2)


@pytest.mark.parametrize("seed", range(4))
def test_log_ratio_correlation_is_the_mean_difference_cosine(nominal, seed):
    """For Gaussian laws with one isotropic covariance the log-ratio correlation under the
    background is the cosine of the mean differences (C10); quadrature against closed
    form, on random nominal colours."""
    g = torch.Generator().manual_seed(seed)
    nominal["p"], nominal["q"] = (tuple(torch.rand(3, generator=g, dtype=torch.float64).tolist())
                                  for _ in range(2))
    bg, p, q = (F.colour_law(c) for c in (F.BACKGROUND, "p", "q"))
    family = Family(bg, (p, q))
    d = mean_differences(family)
    cosine = float(d[0] @ d[1] / (d[0].norm() * d[1].norm()))
    assert F.log_ratio_correlation(bg, p, q) == pytest.approx(cosine, abs=1e-10)


def test_scaled_calibration_rests_on_exact_equivariance():
    """The statistic is translation invariant and scales with s, draw by draw (same
    random directions): what lets one N(0, I) calibration serve every N(μ, s² I)."""
    g = torch.Generator().manual_seed(0)
    x, y = (torch.randn(300, 3, generator=g, dtype=torch.float64) for _ in range(2))
    shift = torch.tensor([0.3, -1.0, 2.0], dtype=torch.float64)
    plain = statistic(x, y, torch.Generator().manual_seed(1))
    moved = statistic(0.07 * x + shift, 0.07 * y + shift, torch.Generator().manual_seed(1))
    assert moved == pytest.approx(0.07 * plain, rel=1e-12)
    with pytest.raises(ValueError, match="not isotropic"):
        F.isotropic_scale(GaussianMixture.gaussian(torch.zeros(2, dtype=torch.float64),
                                                     torch.diag(torch.tensor([1.0, 2.0],
                                                                             dtype=torch.float64))))
    assert F.level_per_test() == pytest.approx(1 / 13000)


# Fig. 5: the quick run -----------------------------------------------------------------
def fig5_pairs(doc: dict[str, Any], composes: bool) -> list[dict[str, Any]]:
    chosen = [p for p in doc["fig5"]["pairs"] if p["coordinate_fc"] == composes]
    assert chosen
    return chosen


def test_fig5_split_reproduced(report):
    _, doc, _ = report
    fig5 = doc["fig5"]
    assert fig5["composes"] == ["blue", "cyan", "magenta"]
    assert fig5["fails"] == ["brown", "gray", "green", "red"]
    assert fig5["reproduces_paper"] and fig5["prediction_matches_samples"]


def test_fig5_exact_gaps(report):
    """FC pairs: projective and noise-commutation gaps 0 (C1, C2); the others: not
    projective, yet noise commutes (Gaussians with one covariance, C9's note)."""
    _, doc, _ = report
    for p in fig5_pairs(doc, True):
        assert p["fc_holds"] and p["projective_holds"]
        assert max(p["projective_gaps"]) <= p["exact_tolerance"]
        assert p["heuristic_cosine"] == pytest.approx(0.0, abs=1e-12)
    for p in fig5_pairs(doc, False):
        assert not p["fc_holds"] and not p["projective_holds"]
        assert max(p["projective_gaps"]) > 0.5
        assert not p["feature_fc"] and abs(p["log_ratio_correlation"]) > 0.5
        assert p["composition_mean"][F.CHANNELS.index("B")] < -0.25  # B divided out twice
    for p in doc["fig5"]["pairs"]:
        assert p["noise_commutation_max_gap"] <= p["exact_tolerance"]


def test_fig5_sampled_outcome(report):
    """Composing pairs pass every calibrated test; the others reach C[p] (composed run ~
    oracle run) but their samples do not show yellow's B law, composed and oracle alike."""
    _, doc, _ = report
    for p in doc["fig5"]["pairs"]:
        s = p["sampling"]
        assert s["reaches_composition"] and s["oracle_reaches_target"]
        assert s["level"] == pytest.approx(F.level_per_test())
    for p in fig5_pairs(doc, True):
        s = p["sampling"]
        assert s["composes"]
        assert all(t["composed_holds"] and t["oracle_holds"] for t in s["lenses"])
    for p in fig5_pairs(doc, False):
        s = p["sampling"]
        yellow = next(t for t in s["lenses"] if t["member"] == F.BASE)
        assert not s["composes"] and not yellow["composed_holds"]
        assert not yellow["oracle_holds"]
        assert yellow["composed"] > FAR * yellow["threshold"]


# the C7–C9 illustrations ---------------------------------------------------------------
def cases(doc: dict[str, Any], orthogonal: bool) -> list[dict[str, Any]]:
    chosen = [c for c in doc["illustrations"]["cases"] if c["orthogonal"] == orthogonal]
    assert chosen
    return chosen


def test_illustrations_separate_orthogonal_from_non_orthogonal(report):
    """Orthogonal pairs pass the calibrated test against their oracle (C7, C8), the
    non-orthogonal pair fails (C9), under every sampler; the oracle reaches its target."""
    _, doc, _ = report
    assert doc["illustrations"]["separates"]
    assert A.level_per_test() == pytest.approx(1e-3 / 4)
    for case in doc["illustrations"]["cases"]:
        assert case["fc_holds"] and case["projective_holds"]  # C6
        assert all(s["oracle_reaches_target"] for s in case["samplers"].values())
    for case in cases(doc, orthogonal=True):
        assert case["verdict"] == "works" and case["noise_commutation_holds"]
        assert case["noise_commutation_max_gap"] <= case["exact_tolerance"]
        assert abs(case["heuristic_cosine"]) <= 1e-12
        for run in case["samplers"].values():
            assert run["holds"]
            assert all(abs(m - 0.25) <= MASS_TOL for m in run["mode_masses"])
    for case in cases(doc, orthogonal=False):
        assert case["verdict"] == "fails-in-sampling" and not case["noise_commutation_holds"]
        assert case["noise_commutation_max_gap"] > 0.5
        assert case["heuristic_cosine"] == pytest.approx(1 / math.sqrt(2), abs=1e-9)
        # far beyond the noise: the permutation test's threshold grows with the discrepancy
        # (relabelings mix the two runs), so the margin is against the exact-vs-exact floor
        assert all(run["composed_vs_exact"] > 5 * run["floor"]
                   for run in case["samplers"].values())
        assert case["statistic"] > case["threshold"]
        for run in case["samplers"].values():
            assert not run["holds"]
            assert run["mode_masses"][A.MODES.index("bright+bright")] > COLLAPSE
            assert all(abs(m - 0.25) <= MASS_TOL for m in run["oracle_mode_masses"])


# the report ----------------------------------------------------------------------------
def test_report_files(report):
    out, doc, printed = report
    assert json.loads(printed) == doc
    assert doc["experiment"] == "colours" and doc["quick"] is True
    text = (out / "index.md").read_text()
    assert "### The criterion" in text and "M_yellow = {B}" in text
    assert "Fig. 5" in text and "THEORY C7–C9 illustrations" in text
    for claim in ("C1", "C6", "C7", "C8", "C9", "C10"):
        assert re.search(rf"\b{claim}\b", text), claim
    assert doc["figures"] == list(FIGURES)
    for name in FIGURES:
        assert f"]({name})" in text
        assert (out / name).read_bytes().startswith(PNG)
