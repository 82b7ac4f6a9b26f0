"""Hypothesis strategies for hostile family specs (issue 16): the fuzzer's inputs.

``hostile_specs()`` draws a ``HostileSpec`` — the bytes of a spec file and the ``--limit``
options to run it with — from three sources:

- ``mutated_examples``: a valid ``examples/*.json`` with 1–3 edits at random fields:
  numbers near the float64 limits (±1e308, 5e-324, NaN, ±Infinity, 1e30 and just past
  it), wrong types, deleted and unknown keys, dropped or repeated list entries, deep
  nesting, lone surrogates;
- ``scratch_documents``: arbitrary JSON values and spec-shaped documents with random
  fields;
- ``raw_texts``: byte-level damage — truncation, invalid UTF-8, a BOM, nesting far past
  any limit.

Limits are drawn small as often as not, so the size checks (dimension, conditionals,
components, depth, bytes) fire on small files and the fuzzer stays fast.
"""

from __future__ import annotations

import io
import json
import time
from contextlib import redirect_stderr, redirect_stdout
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from hypothesis import strategies as st

EXAMPLES = sorted((Path(__file__).parent.parent / "examples").glob("*.json"))
EXAMPLE_DOCS = [json.loads(p.read_text()) for p in EXAMPLES]

EXTREME_NUMBERS = [1e308, -1e308, 1.7976931348623157e308, 5e-324, -5e-324, 1e-320, 1e-300,
                   1e30, -1e30, 1.0000001e30, 1e31, 1e150, -1e150, 1e-31, 0.0, -0.0,
                   float("nan"), float("inf"), float("-inf"), 10**400, -(10**40), 2**63]
HOSTILE_STRINGS = ["\ud800", "x\udfffy", "", "\u0000", "🙂" * 3, "a" * 1000]
SURROGATE_KEY = "\udc80"


@dataclass(frozen=True)
class HostileSpec:
    """A spec file's bytes and the ``check --limit NAME=VALUE`` options to read it with."""

    data: bytes
    limits: tuple[str, ...]
    origin: str


def _paths(doc: Any, prefix: tuple = ()) -> list[tuple]:
    """Every path (tuple of keys and indices) into ``doc``, the root included."""
    out = [prefix]
    items = doc.items() if isinstance(doc, dict) else \
        enumerate(doc) if isinstance(doc, list) else ()
    for key, value in items:
        out.extend(_paths(value, (*prefix, key)))
    return out


def _json_values(max_leaves: int = 12) -> st.SearchStrategy[Any]:
    scalars = st.one_of(st.none(), st.booleans(), st.integers(), st.sampled_from(EXTREME_NUMBERS),
                        st.floats(), st.text(max_size=8), st.sampled_from(HOSTILE_STRINGS))
    return st.recursive(scalars, lambda inner: st.one_of(
        st.lists(inner, max_size=4), st.dictionaries(st.text(max_size=6), inner, max_size=4)),
        max_leaves=max_leaves)


def _nested(depth: int, leaf: Any) -> Any:
    for _ in range(depth):
        leaf = [leaf]
    return leaf


@st.composite
def _replacement(draw: st.DrawFn, old: Any) -> Any:
    """A hostile value to put where ``old`` was."""
    kind = draw(st.sampled_from(["number", "scale", "type", "nest", "string", "json"]))
    if kind == "number":
        return draw(st.sampled_from(EXTREME_NUMBERS))
    if kind == "scale" and isinstance(old, list) and old \
            and all(isinstance(v, (int, float)) for v in old):
        factor = draw(st.sampled_from([1e150, 1e-300, -1e308, 1e29, 1e16]))
        return [v * factor for v in old]
    if kind == "nest":
        return _nested(draw(st.integers(2, 200)), old)
    if kind == "string":
        return draw(st.sampled_from(HOSTILE_STRINGS))
    return draw(_json_values())


@st.composite
def _edit(draw: st.DrawFn, doc: Any) -> Any:
    """``doc`` with one field replaced, deleted, added to, or a list entry dropped or
    repeated; returns the new document (the root may be replaced too)."""
    path = draw(st.sampled_from(_paths(doc)))
    if not path:
        return draw(_replacement(doc))
    parent = doc
    for key in path[:-1]:
        parent = parent[key]
    key = path[-1]
    action = draw(st.sampled_from(["replace", "replace", "delete", "extra", "drop", "repeat"]))
    if action == "replace":
        parent[key] = draw(_replacement(parent[key]))
    elif action == "delete":
        del parent[key]
    elif action == "extra" and isinstance(parent, dict):
        parent[draw(st.sampled_from(["extra", SURROGATE_KEY, "weights", "offset"]))] = \
            draw(_json_values(4))
    elif isinstance(parent[key], list) and parent[key]:
        items = parent[key]
        index = draw(st.integers(0, len(items) - 1))
        if action == "drop":
            del items[index]
        else:
            items.insert(index, json.loads(json.dumps(items[index])))
    return doc


@st.composite
def mutated_examples(draw: st.DrawFn) -> Any:
    """A valid example with 1–3 hostile edits (``_edit``)."""
    doc = json.loads(json.dumps(draw(st.sampled_from(EXAMPLE_DOCS))))
    for _ in range(draw(st.integers(1, 3))):
        doc = draw(_edit(doc))
    return doc


@st.composite
def scratch_documents(draw: st.DrawFn) -> Any:
    """Arbitrary JSON, or a spec-shaped object whose fields are arbitrary JSON."""
    if draw(st.booleans()):
        return draw(_json_values())
    fields = {"format": st.just("projcomp.family/1"), "dim": st.integers(-2, 4),
              "background": _json_values(6), "conditionals": st.lists(_json_values(6),
                                                                     max_size=3),
              "weights": st.lists(st.sampled_from(EXTREME_NUMBERS), max_size=3),
              "name": st.sampled_from(HOSTILE_STRINGS)}
    keys = draw(st.lists(st.sampled_from(sorted(fields)), unique=True))
    return {key: draw(fields[key]) for key in keys}


def _encoded(doc: Any) -> bytes:
    """JSON text of ``doc``: NaN and Infinity as Python writes them, lone surrogates as
    ``\\ud800`` escapes (what a hostile file can hold)."""
    return json.dumps(doc, allow_nan=True, ensure_ascii=True).encode()


@st.composite
def raw_texts(draw: st.DrawFn) -> bytes:
    """Byte-level damage to a valid example, or nesting past any limit."""
    data = _encoded(draw(st.sampled_from(EXAMPLE_DOCS)))
    kind = draw(st.sampled_from(["truncate", "garble", "bom", "deep", "latin1"]))
    if kind == "truncate":
        return data[:draw(st.integers(0, len(data) - 1))]
    if kind == "garble":
        at = draw(st.integers(0, len(data) - 1))
        return data[:at] + draw(st.binary(min_size=1, max_size=8)) + data[at + 1:]
    if kind == "bom":
        return b"\xef\xbb\xbf" + data
    if kind == "deep":
        depth = draw(st.sampled_from([100, 5000, 100_000]))
        return b"[" * depth + b"]" * depth
    return data.replace(b'"name"', '"n\u00e4me"'.encode("latin-1"))


def _limits() -> st.SearchStrategy[tuple[str, ...]]:
    small = {"bytes": st.integers(100, 4000), "depth": st.integers(2, 12),
             "dim": st.integers(1, 4), "members": st.integers(1, 2),
             "components": st.integers(1, 8)}
    return st.lists(st.sampled_from(sorted(small)), unique=True, max_size=2).flatmap(
        lambda names: st.tuples(*[small[n].map(lambda v, n=n: f"{n}={v}") for n in names]))


def hostile_specs() -> st.SearchStrategy[HostileSpec]:
    """Hostile spec files with the limits to read them under (module docstring)."""
    documents = st.one_of(
        mutated_examples().map(lambda d: (_encoded(d), "mutated example")),
        scratch_documents().map(lambda d: (_encoded(d), "from scratch")),
        raw_texts().map(lambda b: (b, "raw bytes")))
    return st.builds(lambda pair, limits: HostileSpec(pair[0], limits, pair[1]),
                     documents, st.one_of(st.just(()), _limits()))


# running a spec and judging the answer ------------------------------------------------------
@dataclass(frozen=True)
class Outcome:
    """What ``projcomp check`` did with one spec, run in-process through ``cli.main``."""

    status: int
    stdout: str
    stderr: str
    seconds: float


def run_check(spec: HostileSpec, folder: Path, timeout: float) -> Outcome:
    """``projcomp check FILE --json --samples 0 --timeout T [--limit ...]`` in-process
    (``PROJCOMP_DEBUG`` must be unset: an internal error is then exit 1, not a raise)."""
    from projcomp.cli import main

    path = folder / "spec.json"
    path.write_bytes(spec.data)
    argv = ["check", str(path), "--json", "--samples", "0", "--timeout", f"{timeout:g}"]
    for limit in spec.limits:
        argv += ["--limit", limit]
    out, err = io.StringIO(), io.StringIO()
    start = time.monotonic()
    with redirect_stdout(out), redirect_stderr(err):
        status = main(argv)
    return Outcome(status, out.getvalue(), err.getvalue(), time.monotonic() - start)


def _reject_constant(token: str) -> float:
    raise ValueError(f"the report holds {token}")


def contract_breaches(outcome: Outcome) -> list[str]:
    """How ``outcome`` breaks the error contract (empty when it keeps it): exit 2 with at
    most 3 lines on stderr and no traceback, or exit 0 with a JSON report free of NaN
    and infinities; never exit 1 or anything else."""
    breaches = []
    if "Traceback" in outcome.stderr:
        breaches.append("a traceback on stderr")
    if outcome.status == 2:
        if not 1 <= len(outcome.stderr.splitlines()) <= 3:
            breaches.append(f"exit 2 with {len(outcome.stderr.splitlines())} stderr lines")
    elif outcome.status == 0:
        try:
            json.loads(outcome.stdout, parse_constant=_reject_constant)
        except ValueError as err:
            breaches.append(f"exit 0 with a bad report: {err}")
    else:
        breaches.append(f"exit {outcome.status}: {outcome.stderr.strip()[:300]}")
    return breaches
