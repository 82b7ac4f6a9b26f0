"""The family-spec reader: valid specs build the right family, invalid ones get one line."""

from __future__ import annotations

import json
import re
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st
from spec_edits import DELETE, with_field
from spec_strategies import mutated_examples, scratch_documents

from numerics.laws import BlockProduct, GaussianMixture
from numerics.laws.family import Family, FeatureMap
from numerics.laws.processes import VE, VP
from projcomp.spec import (
    Limits,
    SpecError,
    _distinct_leaves,
    _fast_validator,
    _validator,
    family_from_dict,
    family_to_dict,
    load_family,
)

EXAMPLES = Path(__file__).parent.parent / "examples"
POINTS = torch.tensor([[0.0, 0.0, 0.0], [0.5, -1.0, 2.0], [-1.5, 0.25, 0.75]],
                      dtype=torch.float64)

GAUSS_2 = {"type": "gaussian", "mean": [0.0, 1.0], "cov": [[1.0, 0.3], [0.3, 2.0]]}
GMM_1 = {"type": "gmm", "weights": [0.25, 0.75], "means": [[-1.0], [2.0]],
         "covs": [[[0.5]], [[1.5]]]}
PRODUCT_3 = {"type": "product", "blocks": [{"coords": [0, 2], "dist": GAUSS_2},
                                           {"coords": [1], "dist": GMM_1}]}
SHEAR = [[1.0, 0.5, 0.0], [0.0, 1.0, 0.0], [0.2, 0.0, 1.0]]
PUSHFORWARD_3 = {"type": "pushforward",
                 "map": {"type": "linear", "matrix": SHEAR, "offset": [1.0, 0.0, -1.0]},
                 "base": PRODUCT_3}
BASE_DOC = {
    "format": "projcomp.family/1", "name": "base", "dim": 3,
    "background": {"type": "gaussian", "mean": [0.0, 0.0, 0.0],
                   "cov": [[1.0, 0.0, 0.0], [0.0, 1.0, 0.0], [0.0, 0.0, 1.0]]},
    "conditionals": [PRODUCT_3, PUSHFORWARD_3],
    "weights": [1.0, 0.5],
    "projections": [[0], [1, 2]],
    "feature_map": {"type": "linear", "matrix": SHEAR, "offset": [0.0, 0.0, 0.0],
                    "blocks": [[0, 1], [2]]},
    "process": {"type": "ve", "sigma_min": 0.02, "sigma_max": 40.0},
}


def mutated(path: str, value: Any) -> dict[str, Any]:
    """``BASE_DOC`` with one field changed (see ``spec_edits.with_field``)."""
    return with_field(BASE_DOC, path, value)


def direct_product() -> BlockProduct:
    gauss = GaussianMixture.gaussian(GAUSS_2["mean"], GAUSS_2["cov"])
    gmm = GaussianMixture(torch.tensor([0.25, 0.75], dtype=torch.float64),
                          torch.tensor([[-1.0], [2.0]], dtype=torch.float64),
                          torch.tensor([[[0.5]], [[1.5]]], dtype=torch.float64))
    return BlockProduct([([0, 2], gauss), ([1], gmm)])


def assert_same_log_prob(a, b) -> None:
    x = POINTS[:, : a.dim]
    assert torch.equal(a.log_prob(x), b.log_prob(x))


# valid specs --------------------------------------------------------------------------------
def test_base_document_builds_the_family() -> None:
    family = family_from_dict(BASE_DOC)
    assert family.name == "base" and family.dim == 3 and family.k == 2
    assert family.weights == (1.0, 0.5)
    assert family.projections == ((0,), (1, 2))
    assert family.feature_map.blocks == ((0, 1), (2,))
    assert torch.equal(family.feature_map.matrix, torch.tensor(SHEAR, dtype=torch.float64))
    assert family.process == VE(sigma_min=0.02, sigma_max=40.0)


def test_defaults() -> None:
    doc = {key: BASE_DOC[key] for key in ("format", "dim", "background", "conditionals")}
    family = family_from_dict(doc)
    assert family.weights is None and family.projections is None
    assert family.feature_map is None and family.process == VP()
    assert family_from_dict(dict(doc, projections="infer")).projections is None
    assert family_from_dict(dict(doc, process={"type": "vp", "beta_max": 5.0})).process == \
        VP(beta_min=0.1, beta_max=5.0)


@pytest.mark.parametrize("name", ["gaussian", "gmm", "product", "pushforward"])
def test_each_distribution_type(name: str) -> None:
    spec, direct = {
        "gaussian": (GAUSS_2, GaussianMixture.gaussian(GAUSS_2["mean"], GAUSS_2["cov"])),
        "gmm": (GMM_1, direct_product().dists[1]),
        "product": (PRODUCT_3, direct_product()),
        "pushforward": (PUSHFORWARD_3, direct_product().pushforward(
            torch.tensor(SHEAR, dtype=torch.float64),
            torch.tensor([1.0, 0.0, -1.0], dtype=torch.float64))),
    }[name]
    n = len(POINTS[0]) if name in ("product", "pushforward") else len(spec.get("mean", [0]))
    doc = {"format": "projcomp.family/1", "dim": n, "background": spec, "conditionals": [spec]}
    family = family_from_dict(doc)
    assert_same_log_prob(family.background, direct)
    assert_same_log_prob(family.conditionals[0], direct)


def test_wide_pushforward_has_a_density() -> None:
    spec = {"type": "pushforward", "map": {"type": "linear", "matrix": [[1.0, 1.0, 0.0]]},
            "base": PRODUCT_3}
    family = family_from_dict({"format": "projcomp.family/1", "dim": 1, "background": spec,
                               "conditionals": [GMM_1]})
    direct = direct_product().pushforward(torch.tensor([[1.0, 1.0, 0.0]], dtype=torch.float64))
    assert_same_log_prob(family.background, direct)


def test_round_trip_preserves_log_prob_exactly(tmp_path: Path) -> None:
    family = family_from_dict(BASE_DOC)
    path = tmp_path / "family.json"
    path.write_text(json.dumps(family_to_dict(family)))
    again = load_family(path)
    for a, b in zip(family.members, again.members, strict=True):
        assert_same_log_prob(a, b)
        assert torch.equal(a.score(POINTS), b.score(POINTS))
    assert (again.weights, again.projections, again.process, again.name) == \
        (family.weights, family.projections, family.process, family.name)
    assert torch.equal(again.feature_map.matrix, family.feature_map.matrix)
    assert again.feature_map.blocks == family.feature_map.blocks


def test_round_trip_of_a_constructed_family() -> None:
    product = direct_product()
    family = Family(background=product, conditionals=(product.pushforward(torch.eye(3) * 2.0),
                                                      product.marginal([0, 1, 2]).to_mixture()),
                    feature_map=FeatureMap(torch.eye(3, dtype=torch.float64),
                                           torch.zeros(3, dtype=torch.float64), ((0,), (1, 2))))
    again = family_from_dict(json.loads(json.dumps(family_to_dict(family))))
    for a, b in zip(family.members, again.members, strict=True):
        assert type(a) is type(b)
        assert_same_log_prob(a, b)


# malformed specs ----------------------------------------------------------------------------
NOT_PD = [[1.0, 2.0], [2.0, 1.0]]
MALFORMED = {
    "missing field": (mutated("background.cov", DELETE), "background"),
    "gmm weights sum": (mutated("conditionals[0].blocks[1].dist.weights", [0.25, 0.7]),
                        "conditionals[0].blocks[1].dist.weights"),
    "negative gmm weight": (mutated("conditionals[0].blocks[1].dist.weights", [-0.25, 1.25]),
                            "conditionals[0].blocks[1].dist.weights[0]"),
    "cov not symmetric": (mutated("conditionals[0].blocks[0].dist.cov", [[1.0, 0.3], [0.2, 2.0]]),
                          "conditionals[0].blocks[0].dist.cov"),
    "cov not PD": (mutated("conditionals[0].blocks[0].dist.cov", NOT_PD),
                   "conditionals[0].blocks[0].dist.cov"),
    "dimension mismatch": (mutated("background.mean", [0.0, 0.0]), "background.mean"),
    "unknown type": (mutated("conditionals[1].base.type", "foo"), "conditionals[1].base.type"),
    "overlapping coords": (mutated("conditionals[0].blocks[1].coords", [0]),
                           "conditionals[0].blocks[1].coords"),
    "missing coords": (mutated("conditionals[0].blocks[0].coords", [0]),
                       "conditionals[0].blocks"),
    "singular feature map": (mutated("feature_map.matrix", [[1.0, 2.0, 0.0], [2.0, 4.0, 0.0],
                                                           [0.0, 0.0, 1.0]]),
                             "feature_map.matrix"),
    "projection out of range": (mutated("projections[1][1]", 3), "projections[1][1]"),
    "weight count": (mutated("weights", [1.0, 1.0, 1.0]), "weights"),
    "wrong format": (mutated("format", "projcomp.family/2"), "format"),
    "singular pushforward": (mutated("conditionals[1].map.matrix", [[1.0, 0.0, 0.0]] * 3),
                             "conditionals[1].map.matrix"),
    "rank-deficient pushforward": (mutated("conditionals[1]", {
        "type": "pushforward", "map": {"type": "linear", "matrix": [[1, 0], [0, 1], [1, 1]]},
        "base": GAUSS_2}), "conditionals[1].map.matrix"),
    "ragged matrix": (mutated("feature_map.matrix", [[1.0, 0.0, 0.0], [0.0, 1.0], [0, 0, 1]]),
                      "feature_map.matrix[1]"),
    "unknown field": (mutated("background.mu", [0.0]), "background.mu"),
    "process order": (mutated("process.sigma_min", 50.0), "process.sigma_min"),
}
TEXTS = {
    "NaN token": (json.dumps(BASE_DOC).replace("0.25", "NaN", 1), "dist.weights[0]"),
    "Infinity token": (json.dumps(BASE_DOC).replace("40.0", "Infinity"), "process.sigma_max"),
    "overflowing number": (json.dumps(BASE_DOC).replace("40.0", "1e400"), "process.sigma_max"),
    "not JSON": (json.dumps(BASE_DOC)[:-1], "not valid JSON (line 1 column"),
}


def assert_one_line(error: SpecError, expected: str) -> None:
    text = str(error)
    assert "\n" not in text and expected in text, text
    assert text.startswith(f"{error.field}: ")


@pytest.mark.parametrize("doc, field", MALFORMED.values(), ids=MALFORMED.keys())
def test_malformed_document(doc: dict[str, Any], field: str) -> None:
    with pytest.raises(SpecError) as info:
        family_from_dict(doc)
    assert_one_line(info.value, f"{field}: ")


@pytest.mark.parametrize("text, expected", TEXTS.values(), ids=TEXTS.keys())
def test_malformed_text(tmp_path: Path, text: str, expected: str) -> None:
    path = tmp_path / "family.json"
    path.write_text(text)
    with pytest.raises(SpecError) as info:
        load_family(path)
    assert_one_line(info.value, expected)


def test_missing_file(tmp_path: Path) -> None:
    with pytest.raises(SpecError) as info:
        load_family(tmp_path / "absent.json")
    assert_one_line(info.value, "absent.json: cannot read file")


@pytest.mark.parametrize("doc, message", [
    (mutated("conditionals[1].base.type", "foo"),
     "unknown distribution type 'foo' (expected gaussian, gmm, product, pushforward, model)"),
    (mutated("conditionals[0].blocks[0].dist.cov", NOT_PD),
     "not positive definite (smallest eigenvalue -1)"),
    (mutated("weights", [1.0, 1.0, 1.0]), "weights: 3 entries for 2 conditionals"),
    (mutated("background.cov", DELETE), "background: 'cov' is a required property"),
])
def test_messages_read_clearly(doc: dict[str, Any], message: str) -> None:
    with pytest.raises(SpecError, match=re.escape(message)):
        family_from_dict(doc)


# float64 range bounds and structural limits (issue 16) ----------------------------------
# Each entry: the document, the field the error names and a phrase of its problem; every
# value is one past a bound the module docstring derives, or a kind the bounds exclude.
OUT_OF_RANGE = {
    "weight past MAX_MAGNITUDE": (mutated("weights", [1.0, 1.0000001e30]), "weights[1]",
                                  "exceeds 1e+30"),
    "huge family weights": (mutated("weights", [1e308, 1e308]), "weights[0]", "exceeds 1e+30"),
    "huge covariance": (mutated("background.cov", [[1e308, 0, 0], [0, 1e308, 0], [0, 0, 1]]),
                        "background.cov[0][0]", "exceeds"),
    "huge offset": (mutated("feature_map.offset", [1e308, 0.0, 0.0]), "feature_map.offset[0]",
                    "exceeds"),
    "scaled means": (mutated("background.mean", [1e150, -1e150, 0.0]), "background.mean[0]",
                     "exceeds"),
    "huge process parameter": (mutated("process.sigma_max", 1e31), "process.sigma_max",
                               "exceeds"),
    "tiny variance": (mutated("background.cov", [[1e-31, 0, 0], [0, 1, 0], [0, 0, 1]]),
                      "background.cov", "below 1e-30"),
    "tiny feature map": (mutated("feature_map.matrix", [[1e-300, 0, 0], [0, 1e-300, 0],
                                                        [0, 0, 1e-300]]),
                         "feature_map.matrix", "smallest singular value"),
    "surrogate name": (mutated("name", "\ud800"), "name", "lone surrogate"),
    "surrogate key": (mutated("background.\udc80", 1), "background.(a key)", "lone surrogate"),
    "dimension limit": (mutated("dim", 1025), "dim", "--limit dim="),
    "integer past float64": (mutated("dim", 10**400), "dim", "beyond float64"),
}


@pytest.mark.parametrize("doc, field, problem", OUT_OF_RANGE.values(), ids=OUT_OF_RANGE.keys())
def test_numbers_and_strings_checked_where_they_enter(doc: dict[str, Any], field: str,
                                                      problem: str) -> None:
    with pytest.raises(SpecError) as info:
        family_from_dict(doc)
    assert_one_line(info.value, f"{field}: ")
    assert problem in str(info.value)


def test_bounds_admit_tiny_and_large_numbers() -> None:
    """Subnormal weights and numbers at the bound are in range (only overflow is refused)."""
    assert family_from_dict(mutated("weights", [1e-320, 1e30])).weights == (1e-320, 1e30)


@pytest.mark.parametrize("name, value, field", [
    ("dim", 2, "dim"), ("members", 1, "conditionals"), ("components", 5, "(top level)"),
    ("depth", 4, "conditionals[1].base.blocks"),
])
def test_each_limit_names_its_option(name: str, value: int, field: str) -> None:
    limits = replace(Limits(), **{name: value})
    with pytest.raises(SpecError) as info:
        family_from_dict(BASE_DOC, limits)
    assert_one_line(info.value, f"{field}: ")
    assert f"exceeds the limit {value} (raise it with --limit {name}=N)" in str(info.value)
    assert family_from_dict(BASE_DOC, replace(limits, **{name: getattr(Limits(), name)}))


@pytest.mark.parametrize("depth", [65, 5000, 100_000])
def test_deep_nesting_is_refused_at_any_depth(tmp_path: Path, depth: int) -> None:
    path = tmp_path / "deep.json"
    path.write_text("[" * depth + "]" * depth)
    with pytest.raises(SpecError, match="nest"):
        load_family(path)


def test_file_size_limit(tmp_path: Path) -> None:
    path = tmp_path / "family.json"
    path.write_text(json.dumps(BASE_DOC))
    with pytest.raises(SpecError, match=r"file size \d+ exceeds the limit 100 "):
        load_family(path, Limits(bytes=100))
    assert load_family(path).dim == 3


# the front door's fast paths (issue 15) --------------------------------------------------
@settings(max_examples=300)
@given(doc=st.one_of(mutated_examples(), scratch_documents()))
def test_compiled_schema_accepts_only_what_the_reference_accepts(doc: Any) -> None:
    """The compiled validator decides valid documents alone; where it accepts, the
    reference (jsonschema, draft 2020-12) must too, or a malformed field would reach the
    builders. Where it rejects, the reference names the field."""
    from fastjsonschema import JsonSchemaException

    try:
        _fast_validator()(doc)
    except JsonSchemaException:
        return
    assert _validator().is_valid(doc)


def _fast_accepts(doc: Any) -> bool:
    from fastjsonschema import JsonSchemaException

    try:
        _fast_validator()(doc)
    except JsonSchemaException:
        return False
    return True


@settings(max_examples=300)
@given(doc=st.one_of(mutated_examples(), scratch_documents()))
def test_repeats_left_out_keep_validity(doc: Any) -> None:
    """The compiled validator reads the document without its repeated members and blocks
    (``_distinct_leaves``) and decides as it does on the whole document."""
    assert _fast_accepts(_distinct_leaves(doc)) == _fast_accepts(doc)


@pytest.mark.parametrize(("field", "value"), [
    ("conditionals[0].blocks[1].coords", [2, True]),  # == [2, 3], but a boolean: invalid
    ("conditionals[0].blocks[1].coords", [2.0, 3.0]),  # == [2, 3]: a repeat, valid alike
    ("conditionals[0].blocks[1].dist.extra", 1),  # no repeat: an unknown field
    ("conditionals[0].blocks[1].dist.cov", [[0.7, -0.2], 1.2]),  # no repeat: a bad row
    ("conditionals[0].blocks[1].dist.mean", [0.5, True]),  # no digest; the schema passes it
])
def test_repeated_blocks_are_validated_alike(field: str, value: Any) -> None:
    """A conditional's block that repeats the background's, or differs from it in a way
    that matters to the schema, is judged as the whole document is."""
    doc = with_field(json.loads((EXAMPLES / "fc.json").read_text()), field, value)
    reduced = _distinct_leaves(doc)
    assert _fast_accepts(reduced) == _fast_accepts(doc) == _validator().is_valid(doc)


def test_repeated_blocks_are_built_once() -> None:
    """Identical mixture documents (an FC family's conditionals repeat the background's
    blocks) give one shared law; different ones do not."""
    doc = mutated("conditionals[1]", json.loads(json.dumps(PRODUCT_3)))
    family = family_from_dict(doc)
    first, second = family.conditionals[0], family.conditionals[1]
    assert all(a is b for a, b in zip(first.dists, second.dists, strict=True))
    changed = family_from_dict(with_field(doc, "conditionals[1].blocks[1].dist.weights",
                                          [0.5, 0.5]))
    assert changed.conditionals[0].dists[0] is changed.conditionals[1].dists[0]
    assert changed.conditionals[0].dists[1] is not changed.conditionals[1].dists[1]


@pytest.mark.parametrize("n", [1, 3, 8, 64])
def test_batched_covariance_check_names_the_failing_matrix(n: int) -> None:
    """One bad matrix in a stack of valid ones: the error names its index, with the
    problem the per-matrix test words (not PD, or an eigenvalue below the bound)."""
    g = torch.Generator().manual_seed(n)
    raw = torch.randn(5, n, n, generator=g, dtype=torch.float64)
    covs = raw @ raw.transpose(-1, -2) + torch.eye(n, dtype=torch.float64)
    covs = 0.5 * (covs + covs.transpose(-1, -2))  # exactly symmetric, as stored
    eye = torch.eye(n, dtype=torch.float64)
    for j, (bad, problem) in enumerate([(-eye, "not positive definite"),
                                        (1e-31 * eye, "below 1e-30")]):
        stack = covs.clone()
        stack[2 + j] = bad
        gmm = {"type": "gmm", "weights": [0.2] * 5, "means": [[0.0] * n] * 5,
               "covs": stack.tolist()}
        doc = {"format": "projcomp.family/1", "dim": n, "background": gmm,
               "conditionals": [gmm]}
        with pytest.raises(SpecError) as info:
            family_from_dict(doc)
        assert_one_line(info.value, f"background.covs[{2 + j}]: ")
        assert problem in str(info.value)
    ok = {"type": "gmm", "weights": [0.2] * 5, "means": [[0.0] * n] * 5, "covs": covs.tolist()}
    built = family_from_dict({"format": "projcomp.family/1", "dim": n, "background": ok,
                              "conditionals": [ok]}).background
    assert torch.equal(built.covs, covs)
