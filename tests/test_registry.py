"""The claim registry (``projcomp.claims``) against the catalogue (``theory.catalogue``):
every claim declared once, in catalogue order, with one runner per active method, a
counterexample search for every negative claim, and the ``projcomp counterexamples``
report (``<ID>.md``, ``<ID>.json``, ``<ID>.png``) written from a search by
``hypothesis.find``; ``projcomp verify``'s report keeps the keys README documents and draws
the figures the claims declare.
"""

from __future__ import annotations

import json

import pytest
from counterexample_tools import check_verdict
from hypothesis import strategies as st

from numerics.laws.family import Family
from projcomp import cli, counterexamples, reports
from projcomp.claims import REGISTRY, Search, searchable, spec
from projcomp.spec import family_from_dict
from projcomp.verify import run_claim, symbolic_results
from theory.catalogue import CLAIMS, claim

IDS = [c.id for c in CLAIMS]


def test_registry_lists_the_catalogue_in_order() -> None:
    assert [s.claim for s in REGISTRY] == list(CLAIMS)


def test_unknown_claim_is_a_key_error() -> None:
    with pytest.raises(KeyError, match="C99"):
        spec("C99")


@pytest.mark.parametrize("claim_id", IDS)
def test_one_runner_per_active_method(claim_id: str) -> None:
    s = spec(claim_id)
    active = s.claim.active_methods
    assert (s.exact is not None) == ("exact" in active)
    assert (s.sampled is not None) == ("sampled" in active)


@pytest.mark.parametrize("claim_id", IDS)
def test_symbolic_method_iff_theory_has_proofs(claim_id: str) -> None:
    # symbolic evidence is every result of theory.proofs that names the claim
    assert bool(symbolic_results(claim_id)) == ("symbolic" in spec(claim_id).claim.active_methods)


@pytest.mark.parametrize("claim_id", IDS)
def test_every_negative_claim_and_only_those_has_a_search(claim_id: str) -> None:
    s = spec(claim_id)
    assert (s.search is not None) == (s.claim.expected == "fails")


def test_cli_offers_every_search() -> None:
    assert cli.SEARCHABLE == searchable()


def test_report_figures_have_distinct_files() -> None:
    files = [f.file for s in REGISTRY for f in s.figures]
    assert len(files) == len(set(files)) and all(f.endswith(".png") for f in files)


# results.json keys of every claim (README, "projcomp verify")
RESULT_KEYS = {"id", "statement", "paper", "expected", "outcome", "as_predicted", "methods",
               "instances", "seconds", "details", "pending"}


def test_verify_report_keys_and_declared_figures(tmp_path) -> None:
    results = [run_claim(claim("C16"))]
    reports.write(results, tmp_path)
    (curve,) = json.loads((tmp_path / "results.json").read_text())["claims"]
    assert set(curve) == RESULT_KEYS | {"curve"}
    assert set(curve["curve"]) == {"sizes", "gaps", "bound_c"}
    assert (tmp_path / "c16_gap_vs_violation.png").stat().st_size > 0
    assert "![C16](c16_gap_vs_violation.png)" in (tmp_path / "index.md").read_text()


def test_search_without_a_counterexample_finds_none() -> None:
    nothing = Search(lambda: st.integers(0, 10), lambda _: False, family=lambda _: None,
                     verdict=None, describe=lambda *_: None, laws=lambda *_: {})
    assert counterexamples.shrunk_counterexample(nothing, max_examples=5, seed=0) is None


def test_positive_claim_has_no_counterexamples(tmp_path) -> None:
    with pytest.raises(ValueError, match="C1"):
        counterexamples.run("C1", tmp_path, max_examples=5, seed=0)


@pytest.fixture(scope="module")
def c14_report(tmp_path_factory):
    out = tmp_path_factory.mktemp("counterexamples")
    return out, counterexamples.run("C14", out, max_examples=20, seed=0)


def test_counterexample_report_files(c14_report) -> None:
    out, found = c14_report
    assert found is not None and found.claim.id == "C14"
    assert {p.name for p in out.iterdir()} == {"C14.md", "C14.json", "C14.png"}
    text = (out / "C14.md").read_text()
    assert "# Counterexample to C14" in text and "reports `fails-at-t0`" in text
    assert f"by {found.violation.amount:.4g}" in text


def test_counterexample_spec_reproduces_the_failure(c14_report, tmp_path_factory) -> None:
    out, _ = c14_report
    doc = json.loads((out / "C14.json").read_text())
    assert doc["format"] == "projcomp.family/1" and doc["name"] == "counterexample-C14"
    family: Family = family_from_dict(doc)
    assert check_verdict(family, tmp_path_factory) == "fails-at-t0"
