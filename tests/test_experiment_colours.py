"""``projcomp experiment colours`` (THEORY C6–C10): orthogonal colour pairs compose by adding
scores, the non-orthogonal pair fails in sampling, and the report names why.

One quick run through the command line (``--quick --json``, fixed seed) serves every test.
Its statistical verdicts are calibrated Monte Carlo tests whose level, split over the
orthogonal cases and samplers, totals the project's 1e-3 false-failure budget.
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

from numerics.experiments import colours as C
from projcomp.cli import main
from projcomp.experiments.colours import FIGURES

PNG = b"\x89PNG\r\n\x1a\n"
# One brightness mode's share in a run of n = 1000 points has standard deviation
# sqrt(¼ · ¾ / 1000) ≈ 0.014; 0.07 is five of them (false alarm < 1e-6 per share).
MASS_TOL = 0.07
# The non-orthogonal composed runs put ≥ 0.96 on bright+bright (measured); 0.9 is far from
# the target ¼ and leaves a margin.
COLLAPSE = 0.9


@pytest.fixture(scope="module")
def report(tmp_path_factory) -> tuple[Path, dict[str, Any], str]:
    """``(out, results.json, printed stdout)`` of one quick run."""
    out = tmp_path_factory.mktemp("colours")
    printed = io.StringIO()
    with contextlib.redirect_stdout(printed):
        status = main(["experiment", "colours", "--quick", "--json", "--out", str(out)])
    assert status == 0
    return out, json.loads((out / "results.json").read_text()), printed.getvalue()


def cases(doc: dict[str, Any], orthogonal: bool) -> list[dict[str, Any]]:
    chosen = [c for c in doc["cases"] if c["orthogonal"] == orthogonal]
    assert chosen
    return chosen


def test_printed_json_is_results_json(report):
    _, doc, printed = report
    assert json.loads(printed) == doc
    assert doc["experiment"] == "colours" and doc["quick"] is True
    assert [c["name"] for c in doc["cases"]] == [c.name for c in C.CASES]


def test_sampling_separates_orthogonal_from_non_orthogonal(report):
    """The acceptance criterion: at the sampling level the orthogonal pairs pass the
    calibrated test against their oracle (C7, C8) and the non-orthogonal pair fails (C9),
    under every sampler."""
    _, doc, _ = report
    assert doc["separates"]
    for case in cases(doc, orthogonal=True):
        assert case["sampling_holds"] and case["verdict"] == "works"
        assert all(s["holds"] for s in case["samplers"].values())
    for case in cases(doc, orthogonal=False):
        assert not case["sampling_holds"] and case["verdict"] == "fails-in-sampling"
        assert not any(s["holds"] for s in case["samplers"].values())
        assert case["statistic"] > 5 * case["threshold"]


def test_oracle_runs_reach_the_target(report):
    """The calibration describes the runs' own law only if the oracle reaches it."""
    _, doc, _ = report
    for case in doc["cases"]:
        assert all(s["oracle_reaches_target"] for s in case["samplers"].values())
        assert all(s["level"] == C.level_per_test() for s in case["samplers"].values())
    assert C.level_per_test() == pytest.approx(1e-3 / 4)


def test_projective_at_t0_in_every_case(report):
    """C6: FC in the amounts makes C[p] projective, orthogonal colours or not."""
    _, doc, _ = report
    for case in doc["cases"]:
        assert case["fc_holds"] and case["projective_holds"]
        assert max(case["projective_gaps"]) <= case["exact_tolerance"]


def test_noise_commutation(report):
    """C7/C8: the gap is 0 within float64 round-off at every t for orthogonal colours;
    C9: it is large for yellow + red (nearly disjoint laws in normalized L2)."""
    _, doc, _ = report
    for case in cases(doc, orthogonal=True):
        assert case["noise_commutation_holds"]
        assert case["noise_commutation_max_gap"] <= case["exact_tolerance"]
        assert all(w == pytest.approx(0.25, abs=1e-9) for w in case["path"]["bright_weight"])
    for case in cases(doc, orthogonal=False):
        assert not case["noise_commutation_holds"]
        assert case["noise_commutation_max_gap"] > 0.5
        assert max(case["path"]["bright_weight"]) > 0.99


def test_heuristic_cosines(report):
    """C10: mean differences orthogonal for the pairs that compose, cos 45° for yellow +
    red (exact up to round-off)."""
    _, doc, _ = report
    for case in cases(doc, orthogonal=True):
        assert abs(case["heuristic_cosine"]) <= 1e-12 and case["heuristic_predicts_success"]
    for case in cases(doc, orthogonal=False):
        assert case["heuristic_cosine"] == pytest.approx(1 / math.sqrt(2), abs=1e-9)
        assert case["rgb_cosine"] == pytest.approx(1 / math.sqrt(2), abs=1e-12)
        assert not case["heuristic_predicts_success"]


def test_mode_masses(report):
    """Orthogonal: ¼ on each brightness mode; yellow + red: the bright+bright mode takes
    almost everything."""
    _, doc, _ = report
    for case in cases(doc, orthogonal=True):
        for run in case["samplers"].values():
            assert all(abs(m - 0.25) <= MASS_TOL for m in run["mode_masses"])
    for case in cases(doc, orthogonal=False):
        for run in case["samplers"].values():
            assert run["mode_masses"][C.MODES.index("bright+bright")] > COLLAPSE
            assert all(abs(m - 0.25) <= MASS_TOL for m in run["oracle_mode_masses"])


def test_report_files(report):
    out, doc, _ = report
    text = (out / "index.md").read_text()
    for claim in ("C6", "C7", "C8", "C9", "C10"):
        assert re.search(rf"\b{claim}\b", text), claim
    assert "1e-09" in text and "0.00025" in text  # the stated tolerances
    for name in FIGURES:
        assert f"]({name})" in text
        assert (out / name).read_bytes().startswith(PNG)
    assert doc["figures"] == list(FIGURES)
