"""Spec parsing with orjson (projcomp.spec._fast_parse) against the reference ``json``
module: every text either reads to the same document or fails with the same one-line
error as without orjson (issue 15, the front door)."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from spec_strategies import mutated_examples

from projcomp import spec
from projcomp.spec import SpecError, read_json

VALID = json.dumps({"format": "projcomp.family/1", "dim": 2,
                    "background": {"type": "gaussian", "mean": [0.0, -1.5e-300],
                                   "cov": [[1, 0.25], [0.25, 2.0000000000000004]]},
                    "conditionals": [{"type": "product", "blocks": [
                        {"coords": [0], "dist": {"type": "gaussian", "mean": [0.1],
                                                 "cov": [[0.5]]}},
                        {"coords": [1], "dist": {"type": "gaussian", "mean": [-0.0],
                                                 "cov": [[3]]}}]}]})
# Texts where orjson and json differ or orjson refuses: each must read as json reads it.
TEXTS = {
    "valid": VALID,
    "nan and infinity": '{"dim": NaN, "x": [Infinity, -Infinity]}',
    "beyond float64": '{"x": [1e400]}',
    "lone surrogate": '{"name": "\\ud800"}',
    "integer beyond 64 bits in dim": '{"dim": 123456789012345678901234567890}',
    "integer beyond 64 bits in coords": VALID.replace('"coords": [1]',
                                                      '"coords": [18446744073709551616]'),
    "float coords": VALID.replace('"coords": [1]', '"coords": [1.0]'),
    "float projections": '{"dim": 2, "projections": [[0.0], [1]]}',
    "duplicate keys": '{"dim": 1, "dim": 2}',
    "crlf then an error": '{\r\n"dim": 2,\r\n\r "x": ]}',
    "truncated": '{"dim": 2, "x": [1.0,',
    "byte order mark": '\ufeff{"dim": 2}',
    "deep": "[" * 3000 + "]" * 3000,
}


def read_both(path: Path, monkeypatch: pytest.MonkeyPatch) -> tuple[object, object]:
    """What ``read_json`` gives (a document or the SpecError's text) with and without the
    fast parser."""
    def outcome() -> object:
        try:
            return read_json(path)
        except SpecError as err:
            return f"SpecError: {err}"
    fast = outcome()
    with monkeypatch.context() as m:
        m.setattr(spec, "_fast_parse", lambda data: None)
        reference = outcome()
    return fast, reference


def same(a: object, b: object) -> bool:
    """Equal documents with equal types throughout (1 and 1.0 differ; NaN equals NaN)."""
    if type(a) is not type(b):
        return False
    if isinstance(a, dict):
        return list(a) == list(b) and all(same(a[k], b[k]) for k in a)
    if isinstance(a, list):
        return len(a) == len(b) and all(same(x, y) for x, y in zip(a, b, strict=True))
    if isinstance(a, float):
        return repr(a) == repr(b)
    return a == b


@pytest.mark.parametrize("text", TEXTS.values(), ids=TEXTS.keys())
def test_fast_parse_reads_as_json_reads(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                        text: str) -> None:
    path = tmp_path / "family.json"
    path.write_bytes(text.encode("utf-8", "surrogatepass"))
    fast, reference = read_both(path, monkeypatch)
    assert same(fast, reference), (fast, reference)


def test_invalid_utf8_is_named_as_before(tmp_path: Path, monkeypatch: pytest.MonkeyPatch
                                         ) -> None:
    path = tmp_path / "family.json"
    path.write_bytes(b'{"name": "caf\xe9"}')
    fast, reference = read_both(path, monkeypatch)
    assert fast == reference
    assert "not UTF-8 text (byte 13)" in str(fast)


def test_the_fast_parser_is_used_on_valid_specs() -> None:
    """orjson reads a valid spec itself (the fallback would hide a slow front door)."""
    assert spec._fast_parse(VALID.encode()) == json.loads(VALID)


@settings(max_examples=60)
@given(mutated_examples())
def test_fast_parse_agrees_on_mutated_examples(doc) -> None:
    """Mutated example specs, written by ``json``: both parsers read the same document."""
    text = json.dumps(doc, allow_nan=True).encode("utf-8", "surrogatepass")
    fast = spec._fast_parse(text)
    assert fast is None or same(fast, json.loads(text))


@pytest.mark.parametrize("text, expected", [
    (b"", False), (b"7" * 19, False), (b"7" * 20, True), (b"[" + b"1" * 20 + b"]", True),
    (b"[-" + b"1" * 20 + b"]", True), (b"1" * 19 + b"." + b"1" * 19, False),
    (b"x" * 1000 + b"9" * 25, True), (b"0.1234567890123456789", False),
    (b"[0.00012345678901234567, 1.5]", False), (b"[1.00012345678901234567]", False),
    (b"[0.5, 12345678901234567890.5]", True)])
def test_long_integers(text: bytes, expected: bool) -> None:
    assert spec._long_integer(text, spec.LONG_DIGITS) is expected


def test_valid_specs_with_full_precision_floats_take_the_fast_path() -> None:
    """repr writes numbers in [1e-4, 1e-3) with up to 20 fraction digits: no fallback."""
    text = json.dumps({"dim": 1, "x": [0.00012345678901234567, -0.0009876543210987654]})
    assert not spec._long_integer(text.encode(), spec.LONG_DIGITS)


# texts of separators and digit runs of 0–30 digits
TOKENS = st.lists(st.tuples(st.sampled_from(["", ".", "-", ",", "e", "[", " 0."]),
                            st.integers(0, 30)), max_size=8).map(
    lambda parts: "".join(sep + ("9876543210" * 3)[:n] for sep, n in parts))


@settings(max_examples=300)
@given(TOKENS, st.sampled_from([1, 7, 16, 64]))
def test_long_integers_match_a_regex(text: str, scan: int) -> None:
    """Against the regular expression of the same rule, with pieces small enough that runs
    straddle their boundaries."""
    expected = re.search(r"(?<![0-9.])[0-9]{20}", text) is not None
    old = spec.SCAN_BYTES
    spec.SCAN_BYTES = scan
    try:
        assert spec._long_integer(text.encode(), spec.LONG_DIGITS) is expected
    finally:
        spec.SCAN_BYTES = old


@pytest.mark.parametrize("kind", ["gaussian", "gmm"])
def test_a_repeated_block_with_a_boolean_is_refused_in_either_order(kind: str) -> None:
    """Identical documents are built once, but ``true == 1.0`` in Python: a document that
    differs from an earlier one only by a boolean must still be refused, in either order."""
    from projcomp.spec import family_from_dict

    if kind == "gaussian":
        plain = {"type": "gaussian", "mean": [0.0], "cov": [[1.0]]}
        flawed = {"type": "gaussian", "mean": [0.0], "cov": [[True]]}
        field = "cov[0][0]"
    else:
        plain = {"type": "gmm", "weights": [1.0], "means": [[0.0]], "covs": [[[1.0]]]}
        flawed = {"type": "gmm", "weights": [1.0], "means": [[False]], "covs": [[[1.0]]]}
        field = "means[0][0]"
    for first, second, where in ((plain, flawed, "conditionals[0]"),
                                 (flawed, plain, "background")):
        doc = {"format": "projcomp.family/1", "dim": 1, "background": first,
               "conditionals": [second]}
        with pytest.raises(SpecError, match=re.escape(f"{where}.{field}: ")):
            family_from_dict(doc)
