"""The family-spec reader and writer (DESIGN.md, "Family spec"; format ``projcomp.family/1``).

A spec is a JSON object::

    {"format": "projcomp.family/1", "name": "...", "dim": n,
     "background": DIST, "conditionals": [DIST, ...],
     "weights": [w_1, ...],                          optional, default all 1
     "projections": [[coords...], ...] | "infer",    optional, default "infer"
     "feature_map": {"type": "linear", "matrix": [[...]], "offset": [...],
                     "blocks": [[...], ...]},        optional, offset defaults to 0
     "process": {"type": "vp", "beta_min": 0.1, "beta_max": 20.0}
              | {"type": "ve", "sigma_min": 0.01, "sigma_max": 50.0}}   optional, default vp

    DIST := {"type": "gaussian", "mean": [...], "cov": [[...]]}
          | {"type": "gmm", "weights": [...], "means": [[...]], "covs": [[[...]]]}
          | {"type": "product", "blocks": [{"coords": [...], "dist": DIST}, ...]}
          | {"type": "pushforward", "map": {"type": "linear", "matrix": [[...]],
                                            "offset": [...]}, "base": DIST}

Reading checks, in order: the file (readable, at most ``Limits.bytes`` long, UTF-8,
JSON), the sizes (``Limits``: dimension, conditionals, mixture components), the structure
(nesting depth, strings encodable as UTF-8: no lone surrogates), every number finite and
within ``MAX_MAGNITUDE``, the JSON Schema shipped as
``projcomp/schemas/family.schema.json``, then what a schema cannot say (shapes, weight
sums, positive definiteness, variances and singular values within the float64 bounds, partitions,
invertibility). Every problem raises ``SpecError``, whose text is one line
``<field path>: <problem>``.

The float64 bounds (``MAX_MAGNITUDE``, ``MIN_VARIANCE``, ``MIN_SINGULAR_VALUE``) are
derived from the longest product the Gaussian routes of the composition form (THEORY §2:
``Λ = Σ_m e_m Λ_m``, ``h = Σ_m e_m Λ_m μ_m`` and ``e_m μ_mᵀ Λ_m μ_m``), computed in
feature space after the pushforward ``μ ↦ A μ + c``, ``Σ ↦ A Σ Aᵀ``. With every input
number at most ``M = 1e30`` in magnitude, every covariance eigenvalue and every squared
singular value of a map at least ``1/M`` and ``n, k ≤ 1e4``: an exponent
``|e_m| ≤ 1 + k M ≈ 1e34``, a feature-space mean ``≤ M + n M² ≈ 1e64``, a feature-space
precision ``≤ M · M = 1e60``, so ``|e_m μᵀ Λ μ| ≤ 1e34 · 1e60 · 1e128 = 1e222``, and sums
of at most ``n k ≤ 1e8`` such terms stay below ``1e230``: under float64's ``1.8e308`` with
room for the pullback by ``A⁻¹`` (a factor ``≤ MAX_CONDITION²``) and noising. Small numbers
are never a problem of range.
"""

from __future__ import annotations

import dataclasses
import json
import math
import os
import sys
from collections.abc import Callable, Sequence
from functools import cache, reduce
from importlib import resources
from itertools import chain
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import torch

from numerics.laws import BlockProduct, Distribution, GaussianMixture, LinearPushforward
from numerics.laws.family import Family, FeatureMap
from numerics.laws.mixture import SYMMETRY_TOL, WEIGHT_SUM_TOL
from numerics.laws.processes import VE, VP, ForwardProcess
from numerics.threads import single_threaded
from numerics.tolerances import MAX_CONDITION
from projcomp.limits import Limits, SpecError, exceeds

if TYPE_CHECKING:
    from jsonschema import Draft202012Validator, ValidationError

FORMAT = "projcomp.family/1"
# SYMMETRY_TOL and WEIGHT_SUM_TOL are the GaussianMixture constructor's, so whatever passes
# here passes there. Weights must sum to 1 within 1e-9 absolute: writing decimal weights to
# JSON and back loses ~1e-16 per entry, so only real mistakes are rejected. Covariances must
# be symmetric within 1e-8 relative to their largest entry (round-off in A Σ Aᵀ is ~n·1e-16;
# the rest is room for hand-written decimals).
DTYPE = torch.float64
# float64 range bounds, derived in the module docstring: every input number is at most
# MAX_MAGNITUDE in magnitude, every covariance eigenvalue at least MIN_VARIANCE (precisions
# at most MAX_MAGNITUDE), every singular value of a map at least MIN_SINGULAR_VALUE.
MAX_MAGNITUDE = 1e30
MIN_VARIANCE = 1.0 / MAX_MAGNITUDE
MIN_SINGULAR_VALUE = MIN_VARIANCE ** 0.5
# JSON value types: arrays holding only these need no walk (no strings, no containers),
# and arrays of numbers hold only the first two (bool is a type of its own).
_NUMBERS = frozenset({int, float})
_SCALARS = frozenset({int, float, bool, type(None)})
_LIST = frozenset({list})
# A covariance is accepted without an eigendecomposition when its Cholesky factor
# certifies λ_min ≥ 1 / tr(Σ⁻¹) ≥ 2·MIN_VARIANCE and cond(Σ) ≤ tr(Σ)·tr(Σ⁻¹) ≤
# CERTIFIED_CONDITION: a symmetric eigensolver's smallest eigenvalue is then within
# ~n·1e-16·cond ≤ 1e-3 relative of λ_min (n ≤ 1e4), so it is above MIN_VARIANCE and the
# eigenvalue test (``_check_covariance``) would pass. Others go through that test.
CERTIFIED_CONDITION = 1e10
# Integers of up to 19 digits fit in 64 bits, where orjson and json read them alike; a
# text with a longer run of digits is parsed by json (``_fast_parse``).
LONG_DIGITS = 20
SCAN_BYTES = 2**20


# The smallest valid mixture document and product block: they stand, for the compiled
# schema validator, in place of documents equal to ones it reads elsewhere
# (``_distinct_leaves``).
VALID_LEAF = {"type": "gmm", "weights": [1.0], "means": [[0.0]], "covs": [[[1.0]]]}
VALID_BLOCK = {"coords": [0], "dist": VALID_LEAF}

DEFAULT_LIMITS = Limits()


# reading ----------------------------------------------------------------------------------
def load_family(path: str | os.PathLike[str], limits: Limits = DEFAULT_LIMITS) -> Family:
    """Read and validate the spec file at ``path``; raises ``SpecError``."""
    return family_from_dict(read_json(path, limits), limits)


def family_from_dict(doc: Any, limits: Limits = DEFAULT_LIMITS) -> Family:
    """Validate a parsed spec (JSON data: dicts, lists, str, numbers) and build its Family."""
    check_document(doc, limits)
    return build_family(doc)


def read_json(path: str | os.PathLike[str], limits: Limits = DEFAULT_LIMITS) -> Any:
    """The parsed JSON of the file at ``path`` (readable, within ``limits.bytes``, UTF-8,
    JSON); raises ``SpecError``."""
    return _read_json(Path(path), limits)


def check_document(doc: Any, limits: Limits = DEFAULT_LIMITS) -> None:
    """What can be checked before building: sizes, structure, finite scalars and the JSON
    Schema; raises ``SpecError``."""
    _check_sizes(doc, limits)
    _check_structure(doc, limits)
    _check_finite(doc, "")
    _check_schema(doc)


def build_family(doc: dict[str, Any]) -> Family:
    """The Family of a document that passed ``check_document``, checking what a schema
    cannot say (shapes, weight sums, definiteness, partitions); raises ``SpecError``."""
    n = int(doc["dim"])
    with single_threaded():  # many small factorizations (numerics.threads)
        build = _Builder()
        background = build.dist(doc["background"], "background", n)
        conditionals = tuple(build.dist(d, f"conditionals[{i}]", n)
                             for i, d in enumerate(doc["conditionals"]))
        k = len(conditionals)
        return Family(background=background, conditionals=conditionals,
                      weights=_weights(doc.get("weights"), k),
                      projections=_projections(doc.get("projections"), n, k),
                      feature_map=_feature_map(doc.get("feature_map"), n, k),
                      process=_process(doc.get("process", {"type": "vp"})),
                      name=doc.get("name", "family"))


def build_member(doc: dict[str, Any], path: str, n: int) -> Distribution:
    """The law of one member document at ``path`` of dimension ``n`` (a document that
    passed ``check_document``); raises ``SpecError``."""
    with single_threaded():
        return _Builder().dist(doc, path, n)


def _read_json(path: Path, limits: Limits) -> Any:
    try:
        size = path.stat().st_size
        if size > limits.bytes:
            raise exceeds(str(path), "file size", size, limits, "bytes")
        data = path.read_bytes()
    except OSError as err:
        raise SpecError(str(path), f"cannot read file ({err.strerror or err})") from err
    fast = _fast_parse(data)
    if fast is not None:
        return fast
    try:
        # universal newlines, as text-mode reading gives: error positions count lines alike
        text = data.decode("utf-8").replace("\r\n", "\n").replace("\r", "\n")
    except UnicodeDecodeError as err:
        raise SpecError(str(path), f"not UTF-8 text (byte {err.start})") from err
    try:
        # Python's json accepts the non-standard tokens NaN and Infinity; they are let
        # through here and rejected by _check_finite, which can name their field.
        return json.loads(text)
    except json.JSONDecodeError as err:
        raise SpecError(str(path), f"not valid JSON (line {err.lineno} column {err.colno}: "
                                   f"{err.msg})") from err
    except RecursionError as err:
        raise SpecError(str(path), f"JSON nested too deeply to parse (the limit is "
                                   f"{limits.depth} levels)") from err


def _fast_parse(data: bytes) -> Any | None:
    """``data`` parsed by orjson (~3× faster than ``json`` on a dense spec), or None where
    the reference parser ``json`` must decide: orjson absent, or rejecting the text
    (invalid UTF-8 or JSON, NaN and Infinity, lone surrogates, deep nesting: ``json`` then
    gives the same error or value as without orjson), or the text holding a possible
    integer of ``LONG_DIGITS`` or more digits (``_long_integer``). orjson reads an integer
    beyond 64 bits as a float where ``json`` keeps it exact (an error message would then
    print it differently); every integer of fewer digits fits in 64 bits, and both parsers
    round decimals correctly, so otherwise they give the same document."""
    try:
        import orjson
    except ImportError:
        return None
    if _long_integer(data, LONG_DIGITS):
        return None
    try:
        return orjson.loads(data)
    except orjson.JSONDecodeError:
        return None


def _long_integer(data: bytes, length: int) -> bool:
    """Whether ``data`` holds ``length`` consecutive ASCII digits that do not follow a
    decimal point (a fraction's digits, such as the 20 of ``0.00012345678901234567``, are
    no integer). ``run[i]``, "the ``have`` bytes from ``i`` are digits", is doubled by
    ``run[i] & run[i + step]`` (``log₂ length`` passes over the bytes at C speed); a run
    counts when the byte before its first window is neither a digit nor a point."""
    codes = np.frombuffer(data, dtype=np.uint8)
    # in pieces of SCAN_BYTES (overlapping by `length`): the temporaries stay in cache
    for start in range(0, max(len(codes) - length, 0) + 1, SCAN_BYTES):
        piece = codes[max(start - 1, 0):start + SCAN_BYTES + length]
        digit = piece - np.uint8(ord("0")) < 10
        run, have = digit, 1
        while have < length and run.any():
            step = min(have, length - have)
            run = run[:-step] & run[step:]
            have += step
        found = np.flatnonzero(run)
        if found.size == 0:
            continue
        before = piece[np.maximum(found - 1, 0)]
        first = ((found == 0) & (start == 0)) | ~(digit[np.maximum(found - 1, 0)]
                                                  | (before == ord(".")))
        if first.any():
            return True
    return False


def _check_structure(doc: Any, limits: Limits) -> None:
    """Nesting at most ``limits.depth`` levels and every string (keys too) encodable as
    UTF-8 — JSON's ``\\ud800`` escapes can make lone surrogates, which no output can
    print. Iterative, so no depth can exhaust the stack. A value is stacked with its
    parent's path and its key, joined only where a path is needed (a container to descend
    into, an error): most values of a spec are leaves that pass."""
    stack: list[tuple[Any, str, str | int | None, int]] = [(doc, "", None, 1)]
    while stack:
        value, parent, key, depth = stack.pop()
        if depth > limits.depth:
            raise exceeds(_path(parent, key) or "(top level)", "nesting depth", depth, limits,
                          "depth")
        if isinstance(value, str):
            _check_text(value, parent, key)
        elif isinstance(value, dict):
            path = _path(parent, key)
            for name, item in value.items():
                _check_text(name, path, "(a key)")
                stack.append((item, path, name, depth + 1))
        elif isinstance(value, list):
            kinds = set(map(type, value))
            # rows of scalars within the depth limit (a matrix's) need no visit
            leaf_ok = depth + 1 <= limits.depth
            if kinds <= _SCALARS or (leaf_ok and kinds == _LIST and _SCALARS.issuperset(
                    map(type, chain.from_iterable(value)))):
                continue
            path = _path(parent, key)
            stack.extend((item, path, i, depth + 1) for i, item in enumerate(value)
                         if isinstance(item, (dict, str)) or (isinstance(item, list) and not (
                             leaf_ok and _SCALARS.issuperset(map(type, item)))))


def _path(parent: str, key: str | int | None) -> str:
    """The path of the value at ``key`` of the value at ``parent`` (``parent`` itself for
    ``None``: the top level)."""
    return parent if key is None else _join(parent, key)


def _check_text(text: str, parent: str, key: str | int | None) -> None:
    """``text`` (at ``key`` of ``parent``) encodable as UTF-8."""
    try:
        text.encode("utf-8")
    except UnicodeEncodeError as err:
        code = ord(text[err.start])
        raise SpecError(_path(parent, key) or "(top level)",
                        f"string holds a lone surrogate (\\u{code:04x}), not valid Unicode") \
            from None


def _check_sizes(doc: Any, limits: Limits) -> None:
    """Dimension, number of conditionals and of mixture components within ``limits``.
    Runs before the schema, whose validation of a huge document takes minutes, so it
    reads only what has the right type and leaves the rest to the schema."""
    if not isinstance(doc, dict):
        return
    dim, conditionals = doc.get("dim"), doc.get("conditionals")
    if isinstance(dim, int) and limits.dim < dim <= MAX_MAGNITUDE:  # larger: _check_finite
        raise exceeds("dim", "dimension", dim, limits, "dim")
    members = conditionals if isinstance(conditionals, list) else []
    if len(members) > limits.members:
        raise exceeds("conditionals", "number of conditionals", len(members), limits,
                       "members")
    count = _components([doc.get("background"), *members])
    if count > limits.components:
        raise exceeds("(top level)", "number of mixture components", count, limits,
                       "components")


def _components(dists: list[Any]) -> int:
    """Mixture components written in the DIST documents ``dists`` (1 per Gaussian, the
    length of a gmm's weights), skipping anything malformed."""
    count, stack = 0, list(dists)
    while stack:
        d = stack.pop()
        if not isinstance(d, dict):
            continue
        kind = d.get("type")
        if kind == "product" and isinstance(d.get("blocks"), list):
            stack.extend(b.get("dist") for b in d["blocks"] if isinstance(b, dict))
        elif kind == "pushforward":
            stack.append(d.get("base"))
        elif kind == "gmm" and isinstance(d.get("weights"), list):
            count += len(d["weights"])
        elif kind == "gaussian":
            count += 1
    return count


def _join(path: str, key: str | int) -> str:
    if isinstance(key, int):
        return f"{path}[{key}]"
    return f"{path}.{key}" if path else key


def _check_finite(value: Any, path: str) -> None:
    """Every scalar field finite and at most ``MAX_MAGNITUDE`` (NaN, Infinity and 1e400
    are not). Arrays of numbers are skipped here: ``_tensor`` checks them when they are
    converted, in one pass per array (a 256-D family holds ~10⁵ numbers)."""
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        _check_number(value, path or "(top level)")
    if isinstance(value, dict):
        items = value.items()
    elif isinstance(value, list) and dict in set(map(type, value)):
        items = enumerate(value)
    else:
        items = ()
    for key, item in items:
        _check_finite(item, _join(path, key))


def _numbers(value: list[Any], path: str, depth: int) -> None:
    """Raise for the first entry of ``value`` (arrays nested ``depth`` levels, in reading
    order) that is not a finite JSON number within ``MAX_MAGNITUDE`` (booleans, strings and
    nested arrays are not numbers); the slow path, taken once ``_tensor`` found one."""
    if depth > 1:
        for i, item in enumerate(value):
            _numbers(item, f"{path}[{i}]", depth - 1)
        return
    for j, v in enumerate(value):
        if type(v) not in (int, float):
            raise SpecError(f"{path}[{j}]", f"{json.dumps(v)[:40]} is not a number")
        if not abs(v) <= MAX_MAGNITUDE:
            _check_number(v, f"{path}[{j}]")


def _tensor(value: list[Any], path: str, depth: int) -> torch.Tensor:
    """``value`` (arrays nested ``depth`` levels, shapes already checked) as a float64
    tensor, every entry a JSON number within ``MAX_MAGNITUDE``: the entries' types are
    collected row by row and the bound checked on the converted array, at C speed (a
    dense 1024-D spec holds 3·10⁶ numbers); ``_numbers`` names the entry at fault."""
    rows = [value]
    for _ in range(depth - 1):
        rows = [row for block in rows for row in block]
    try:
        array = np.array(value, dtype=np.float64)
        valid = (all(_NUMBERS.issuperset(map(type, row)) for row in rows)
                 and bool((np.abs(array) <= MAX_MAGNITUDE).all()))
    except (OverflowError, TypeError, ValueError):  # e.g. an integer past float64
        valid = False
    if not valid:
        _numbers(value, path, depth)
        return torch.tensor(value, dtype=DTYPE)  # numbers numpy would not convert alone
    return torch.from_numpy(array)


def _check_number(v: float, path: str) -> None:
    """``v`` finite and ``|v| ≤ MAX_MAGNITUDE`` (the float64 range bound, module docstring)."""
    if abs(v) <= MAX_MAGNITUDE:
        return
    if isinstance(v, float) and not math.isfinite(v):
        raise SpecError(path, f"not finite ({v})")
    shown = f"{v:.3g}" if abs(v) <= sys.float_info.max else "a number beyond float64"
    raise SpecError(path, f"{shown} exceeds {MAX_MAGNITUDE:g} in magnitude, the bound that "
                          f"keeps the composition's float64 arithmetic finite")


def _schema() -> dict[str, Any]:
    text = resources.files("projcomp").joinpath("schemas/family.schema.json").read_text("utf-8")
    return json.loads(text)


@cache
def _validator() -> Draft202012Validator:
    """The reference validator (jsonschema, draft 2020-12): it finds the best error."""
    from jsonschema import Draft202012Validator

    return Draft202012Validator(_schema())


@cache
def _fast_validator() -> Callable[[Any], Any]:
    """The same schema compiled to Python by fastjsonschema (~50× faster on a valid 6 MB
    spec). It knows drafts up to 7; the schema uses no 2019+ keyword whose meaning differs
    there (``$defs`` is reached by JSON pointer, and no ``$ref`` has sibling keywords)."""
    import fastjsonschema

    return fastjsonschema.compile({**_schema(),
                                   "$schema": "http://json-schema.org/draft-07/schema#"})


def _check_schema(doc: Any) -> None:
    """Valid documents pass the compiled validator; a document it rejects is judged by the
    reference validator, which names the field (so both agree on every error message)."""
    from fastjsonschema import JsonSchemaException

    try:
        _fast_validator()(_distinct_leaves(doc))
        return
    except JsonSchemaException:
        pass
    from jsonschema.exceptions import best_match

    error = best_match(_validator().iter_errors(doc))
    if error is not None:
        raise SpecError(*_describe(error))


def _distinct_leaves(doc: Any) -> Any:
    """``doc`` as the compiled validator needs to see it, without repeats (containers on
    the way copied; ``doc`` is not changed): a Gaussian or mixture member equal to an
    earlier one becomes ``VALID_LEAF``, and a product member's block equal to an earlier
    block (``{"coords": [...], "dist": <Gaussian or mixture>}``, integer coordinates) is
    left out (a product whose every block is left out keeps ``VALID_BLOCK``).

    Validity is unchanged: a DIST, and a block, are validated by one definition wherever
    they stand; within a Gaussian or mixture document the schema checks keys, strings and
    array shapes, never the type of a number, so equal documents (``True == 1.0``
    included) are valid alike, and equal coordinates without booleans are too. An FC spec
    repeats the background's blocks in every conditional: the validator then reads
    ``2k`` blocks instead of ``k (k + 1)``."""
    if not isinstance(doc, dict):
        return doc
    seen = _Seen()
    out = dict(doc)
    if "background" in doc:
        out["background"] = _distinct_member(doc["background"], seen)
    if isinstance(doc.get("conditionals"), list):
        out["conditionals"] = [_distinct_member(d, seen) for d in doc["conditionals"]]
    return out


def _distinct_member(doc: Any, seen: _Seen) -> Any:
    """A member's document with its repeats replaced or left out (``_distinct_leaves``)."""
    if not (isinstance(doc, dict) and doc.get("type") == "product"
            and isinstance(doc.get("blocks"), list)):
        return VALID_LEAF if seen.repeated(_leaf_digest(doc), doc) else doc
    blocks = [b for b in doc["blocks"] if not seen.repeated(_block_digest(b), b)]
    return {**doc, "blocks": blocks if blocks or not doc["blocks"] else [VALID_BLOCK]}


def _leaf_digest(doc: Any) -> tuple[Any, ...] | None:
    """``_leaf_key`` of a Gaussian or mixture document; None for anything else."""
    if isinstance(doc, dict) and doc.get("type") in ("gaussian", "gmm"):
        return _leaf_key(doc, None)
    return None


def _block_digest(block: Any) -> tuple[Any, ...] | None:
    """A product block's coordinates and ``_leaf_digest`` of its law, or None unless the
    coordinates are JSON numbers (no booleans) and the law a Gaussian or mixture."""
    if not (isinstance(block, dict) and isinstance(block.get("coords"), list)
            and _NUMBERS.issuperset(map(type, block["coords"]))):
        return None
    leaf = _leaf_digest(block.get("dist"))
    return None if leaf is None else (tuple(block["coords"]), leaf)


class _Seen:
    """Documents met so far, grouped by a digest (documents with equal digests are then
    compared in full)."""

    def __init__(self) -> None:
        self._docs: dict[tuple[Any, ...], list[Any]] = {}

    def repeated(self, digest: tuple[Any, ...] | None, doc: Any) -> bool:
        """Whether ``doc`` (of ``digest``; None: never compared) equals a document met
        before under the same digest; else it is met now."""
        if digest is None:
            return False
        group = self._docs.setdefault(digest, [])
        if any(seen == doc for seen in group):
            return True
        group.append(doc)
        return False


def _describe(error: ValidationError) -> tuple[str, str]:
    """(field, problem) for a schema error, worded for the common cases."""
    path = reduce(_join, error.absolute_path, "")
    field = path or "(top level)"
    if error.validator == "additionalProperties":
        allowed = list(error.schema.get("properties", {}))
        extra = sorted(set(error.instance) - set(allowed))[0]
        return _join(path, extra), f"unknown field (expected one of {', '.join(allowed)})"
    if error.validator == "enum" and "title" in error.schema:
        expected = ", ".join(map(str, error.validator_value))
        return field, f"unknown {error.schema['title']} {error.instance!r} (expected {expected})"
    if error.validator == "const":
        return field, f"expected {error.validator_value!r}, got {error.instance!r}"[:200]
    return field, error.message[:200]


# arrays -----------------------------------------------------------------------------------
def _vector(value: list[float], path: str, n: int | None = None) -> torch.Tensor:
    if n is not None and len(value) != n:
        raise SpecError(path, f"length {len(value)}, expected {n}")
    return _tensor(value, path, 1)


def _matrix(value: list[list[float]], path: str, rows: int | None = None,
            cols: int | None = None) -> torch.Tensor:
    _rows(value, path, rows, cols)
    return _tensor(value, path, 2)


def _rows(value: list[list[float]], path: str, rows: int | None, cols: int | None) -> None:
    """``value`` is ``rows`` arrays (any number if None) of ``cols`` entries (as many as
    the first row if None); ``_tensor`` checks that the entries are numbers."""
    if rows is not None and len(value) != rows:
        raise SpecError(path, f"{len(value)} rows, expected {rows}")
    cols = len(value[0]) if cols is None else cols
    for i, row in enumerate(value):
        if not isinstance(row, list):
            raise SpecError(f"{path}[{i}]", "expected an array of numbers")
        if len(row) != cols:
            raise SpecError(f"{path}[{i}]", f"length {len(row)}, expected {cols}")


def _covariances(values: list[list[list[float]]], paths: Sequence[str],
                 n: int) -> tuple[torch.Tensor, torch.Tensor]:
    """The ``n × n`` covariances ``values`` (at ``paths``) as one ``(K, n, n)`` stack,
    validated in one batched pass — symmetry, one batched Cholesky factorization and its
    certificate of the eigenvalue bound (``CERTIFIED_CONDITION``) — rather than one
    factorization per matrix; a matrix that fails the batch is examined on its own, so
    the error names its field as before. Returns the stack and the Cholesky factors of
    its symmetric part (the GaussianMixture's own, ``scale_tril``)."""
    for value, path in zip(values, paths, strict=True):
        _rows(value, path, n, n)
    try:
        covs = _tensor(values, "", 3).reshape(len(values), n, n)
    except SpecError:  # name the matrix by its own path
        for value, path in zip(values, paths, strict=True):
            _numbers(value, path, 2)
        raise
    certified, chol = _certified(covs)
    for j in torch.nonzero(~certified).flatten().tolist():
        _check_covariance(covs[j], paths[j])
    return covs, chol


def _certified(covs: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """``(K,)`` bools: symmetric within ``SYMMETRY_TOL`` and positive definite with
    ``λ_min ≥ 1/tr(Σ⁻¹) ≥ 2·MIN_VARIANCE`` and ``tr(Σ)·tr(Σ⁻¹) ≤ CERTIFIED_CONDITION``
    (``tr(Σ⁻¹) = ‖L⁻¹‖²_F`` from the Cholesky factor ``L``; ``False`` decides nothing),
    and the factors ``L`` of ``½ (Σ + Σᵀ)``."""
    scale = covs.abs().amax(dim=(-1, -2)).clamp_min(1e-300)
    asymmetry = (covs - covs.transpose(-1, -2)).abs().amax(dim=(-1, -2)) / scale
    sym = 0.5 * (covs + covs.transpose(-1, -2))
    chol, info = torch.linalg.cholesky_ex(sym)
    eye = torch.eye(covs.shape[-1], dtype=covs.dtype).expand_as(chol)
    trace_inv = torch.linalg.solve_triangular(chol, eye, upper=False).square().sum((-1, -2))
    trace = torch.diagonal(sym, dim1=-2, dim2=-1).sum(-1)
    return ((asymmetry <= SYMMETRY_TOL) & (info == 0)
            & (trace_inv <= 0.5 / MIN_VARIANCE)
            & (trace * trace_inv <= CERTIFIED_CONDITION)), chol


def _check_covariance(cov: torch.Tensor, path: str) -> None:
    """One covariance: symmetric, positive definite (Cholesky and the smallest eigenvalue)
    and its smallest eigenvalue at least ``MIN_VARIANCE``; raises ``SpecError``."""
    scale = max(float(cov.abs().max()), 1e-300)
    asymmetry = float((cov - cov.T).abs().max()) / scale
    if asymmetry > SYMMETRY_TOL:
        raise SpecError(path, f"not symmetric (relative asymmetry {asymmetry:.3g})")
    sym = 0.5 * (cov + cov.T)
    smallest = float(torch.linalg.eigvalsh(sym)[0])
    if int(torch.linalg.cholesky_ex(sym).info) != 0 or smallest <= 0:
        raise SpecError(path, f"not positive definite (smallest eigenvalue {smallest:.3g})")
    if smallest < MIN_VARIANCE:
        raise SpecError(path, f"smallest eigenvalue {smallest:.3g} below {MIN_VARIANCE:g}: "
                              f"its precision would leave the float64 range bound")


def _full_row_rank(matrix: torch.Tensor, path: str) -> None:
    """A square map must be invertible; a wide one must have full row rank (else the
    image of a density has none)."""
    rows, cols = matrix.shape
    if rows > cols:
        raise SpecError(path, f"rank deficient ({rows} rows, {cols} columns): "
                              f"the image has no density")
    singular = torch.linalg.svdvals(matrix)
    cond = float(singular[0] / singular[-1])
    if not math.isfinite(cond) or cond > MAX_CONDITION:
        problem = "singular" if rows == cols else "rank deficient: the image has no density"
        raise SpecError(path, f"{problem} (condition number {cond:.3g})")
    if float(singular[-1]) < MIN_SINGULAR_VALUE:
        raise SpecError(path, f"smallest singular value {float(singular[-1]):.3g} below "
                              f"{MIN_SINGULAR_VALUE:g}: pushed covariances would leave the "
                              f"float64 range bound")


def _coordinate_blocks(blocks: Sequence[Sequence[int]], paths: Sequence[str],
                       n: int) -> tuple[tuple[int, ...], ...]:
    """Blocks of coordinates in ``[0, n)``, no coordinate twice (within or across blocks)."""
    owner: dict[int, str] = {}
    for block, path in zip(blocks, paths, strict=True):
        for j, c in enumerate(block):
            if not 0 <= c < n:
                raise SpecError(f"{path}[{j}]", f"{c} out of range [0, {n})")
            if c in owner:
                where = "repeated" if owner[c] == path else f"also in {owner[c]}"
                raise SpecError(path, f"coordinate {c} {where}")
            owner[c] = path
    return tuple(tuple(int(c) for c in block) for block in blocks)


# distributions ----------------------------------------------------------------------------
class _Builder:
    """Builds the DIST documents of one spec. Identical Gaussian and mixture documents (the
    blocks an FC family's conditionals repeat from its background) denote one law: each
    is validated and factorized once and shared, as a family built in Python shares its
    block objects (checks skip shared blocks: ``normalized_l2_blocks``)."""

    def __init__(self) -> None:
        self._built: dict[tuple[Any, ...], list[tuple[dict[str, Any], Distribution]]] = {}

    def dist(self, doc: dict[str, Any], path: str, n: int | None) -> Distribution:
        """The DIST at ``path``; ``n`` is the dimension it must have (None: its own)."""
        key = _leaf_key(doc, n)
        candidates = self._built.get(key, ()) if key is not None else ()
        # `==` equates true with 1.0: share only documents whose arrays hold numbers alone
        if candidates and _plain_numbers(doc):
            for seen, built in candidates:
                if seen == doc:
                    return built
        try:
            built = self._build(doc, path, n)
        except SpecError:
            raise
        except ValueError as err:  # left to the constructors: e.g. an expansion too large
            raise SpecError(path, str(err)) from err
        if key is not None:
            self._built.setdefault(key, []).append((doc, built))
        return built

    def _build(self, doc: dict[str, Any], path: str, n: int | None) -> Distribution:
        kind = doc["type"]
        if kind == "gaussian":
            return _gaussian(doc, path, n)
        if kind == "gmm":
            return _gmm(doc, path, n)
        if kind == "product":
            return self._product(doc, path, n)
        if kind == "model":
            return _model(doc, path, n)
        return self._pushforward(doc, path, n)

    def _product(self, doc: dict[str, Any], path: str, n: int | None) -> Distribution:
        blocks = doc["blocks"]
        m = sum(len(b["coords"]) for b in blocks) if n is None else n
        coords = _coordinate_blocks([b["coords"] for b in blocks],
                                    [f"{path}.blocks[{j}].coords" for j in range(len(blocks))],
                                    m)
        missing = sorted(set(range(m)) - {c for block in coords for c in block})
        if missing:
            raise SpecError(f"{path}.blocks", f"coordinates {missing} in no block (the coords "
                                              f"must partition 0..{m - 1})")
        return BlockProduct([(c, self.dist(b["dist"], f"{path}.blocks[{j}].dist", len(c)))
                             for j, (c, b) in enumerate(zip(coords, blocks, strict=True))])

    def _pushforward(self, doc: dict[str, Any], path: str, n: int | None) -> Distribution:
        where = f"{path}.map.matrix"
        matrix = _matrix(doc["map"]["matrix"], where, rows=n)
        offset = _vector(doc["map"].get("offset", [0.0] * len(matrix)), f"{path}.map.offset",
                         len(matrix))
        base = self.dist(doc["base"], f"{path}.base", None)
        if matrix.shape[1] != base.dim:
            raise SpecError(where, f"{matrix.shape[1]} columns, the base has dimension "
                                   f"{base.dim}")
        _full_row_rank(matrix, where)
        return base.pushforward(matrix, offset)


def _leaf_key(doc: dict[str, Any], n: int | None) -> tuple[Any, ...] | None:
    """A hashable digest of a Gaussian or mixture document (its type, ``n`` and its mean
    or weights; documents with equal digests are then compared in full), or None for
    other types and for entries that are not plain numbers (left to validation)."""
    head = doc.get("mean") if doc["type"] == "gaussian" else \
        doc.get("weights") if doc["type"] == "gmm" else None
    if not isinstance(head, list) or not _NUMBERS.issuperset(map(type, head)):
        return None
    return doc["type"], n, tuple(head)


def _plain_numbers(doc: dict[str, Any]) -> bool:
    """Every row of a Gaussian's ``cov`` or a mixture's ``means`` and ``covs`` an array of
    JSON numbers (int or float; not bool, which ``==`` equates with 0 and 1); False for
    anything malformed (then building names the problem)."""
    if doc["type"] == "gaussian":
        matrices = [doc.get("cov")]
    else:
        covs = doc.get("covs")
        matrices = [doc.get("means"), *(covs if isinstance(covs, list) else [None])]
    return all(isinstance(m, list) and all(isinstance(row, list) for row in m)
               and _NUMBERS.issuperset(map(type, chain.from_iterable(m))) for m in matrices)


def _gaussian(doc: dict[str, Any], path: str, n: int | None) -> Distribution:
    mean = _vector(doc["mean"], f"{path}.mean", n)
    cov, chol = _covariances([doc["cov"]], [f"{path}.cov"], len(mean))
    return GaussianMixture(torch.ones(1, dtype=DTYPE), mean[None], cov, validate=False,
                           scale_tril=chol)


def _gmm(doc: dict[str, Any], path: str, n: int | None) -> Distribution:
    means = _matrix(doc["means"], f"{path}.means", cols=n)
    count = len(means)
    weights = _vector(doc["weights"], f"{path}.weights")
    if len(weights) != count:
        raise SpecError(f"{path}.weights", f"{len(weights)} entries for {count} components")
    for j, w in enumerate(weights.tolist()):
        if w < 0:
            raise SpecError(f"{path}.weights[{j}]", f"negative ({w:.3g})")
    total = float(weights.sum())
    if abs(total - 1.0) > WEIGHT_SUM_TOL:
        raise SpecError(f"{path}.weights", f"sum to {total:.12g}, expected 1")
    if len(doc["covs"]) != count:
        raise SpecError(f"{path}.covs", f"{len(doc['covs'])} matrices for {count} components")
    covs, chol = _covariances(doc["covs"], [f"{path}.covs[{j}]" for j in range(count)],
                              means.shape[1])
    return GaussianMixture(weights, means, covs, validate=False, scale_tril=chol)


def _model(doc: dict[str, Any], path: str, n: int | None) -> Distribution:
    """A learned member has no density: projcomp.model_spec reads the background and
    conditionals of a model family; anywhere else (inside a product, as a base, in a
    family read by ``load_family``) it is an error."""
    raise SpecError(path, "a model member is allowed only as the background or a "
                          "conditional of a spec read by `projcomp check` "
                          "(projcomp.model_spec.load_spec)")


# family fields ----------------------------------------------------------------------------
def _weights(value: list[float] | None, k: int) -> tuple[float, ...] | None:
    if value is None:
        return None
    if len(value) != k:
        raise SpecError("weights", f"{len(value)} entries for {k} conditionals")
    return tuple(_vector(value, "weights").tolist())


def _projections(value: list[list[int]] | str | None, n: int,
                 k: int) -> tuple[tuple[int, ...], ...] | None:
    if value is None or value == "infer":
        return None
    if len(value) != k:
        raise SpecError("projections", f"{len(value)} blocks for {k} conditionals")
    return _coordinate_blocks(value, [f"projections[{i}]" for i in range(k)], n)


def _feature_map(value: dict[str, Any] | None, n: int, k: int) -> FeatureMap | None:
    if value is None:
        return None
    matrix = _matrix(value["matrix"], "feature_map.matrix", rows=n, cols=n)
    offset = _vector(value.get("offset", [0.0] * n), "feature_map.offset", n)
    _full_row_rank(matrix, "feature_map.matrix")
    blocks = value["blocks"]
    if len(blocks) != k:
        raise SpecError("feature_map.blocks", f"{len(blocks)} blocks for {k} conditionals")
    paths = [f"feature_map.blocks[{i}]" for i in range(k)]
    return FeatureMap(matrix=matrix, offset=offset, blocks=_coordinate_blocks(blocks, paths, n))


def _process(value: dict[str, Any]) -> ForwardProcess:
    """VP or VE; the schema bounds each parameter, the order of the pair is checked here."""
    cls, low, high = (VP, "beta_min", "beta_max") if value["type"] == "vp" \
        else (VE, "sigma_min", "sigma_max")
    params = {key: float(v) for key, v in value.items() if key != "type"}
    lo, hi = params.get(low, getattr(cls, low)), params.get(high, getattr(cls, high))
    if lo > hi or (cls is VE and lo == hi):
        bound = "at most" if cls is VP else "below"
        raise SpecError(f"process.{low}", f"{lo:g} must be {bound} {high} ({hi:g})")
    return cls(**params)


# writing ----------------------------------------------------------------------------------
def family_to_dict(family: Family) -> dict[str, Any]:
    """A spec for ``family`` (members built from GaussianMixture, BlockProduct and
    LinearPushforward); ``family_from_dict`` of it rebuilds the same float64 family, bit
    for bit. Exception: a LinearPushforward whose base ``pushforward`` simplifies (a
    GaussianMixture base, as noising makes) reads back simplified, the same law with
    log_prob equal up to round-off."""
    doc: dict[str, Any] = {
        "format": FORMAT, "name": family.name, "dim": family.dim,
        "background": _dist_to_dict(family.background),
        "conditionals": [_dist_to_dict(p) for p in family.conditionals],
    }
    if family.weights is not None:
        doc["weights"] = [float(w) for w in family.weights]
    if family.projections is not None:
        doc["projections"] = [list(block) for block in family.projections]
    if family.feature_map is not None:
        fm = family.feature_map
        doc["feature_map"] = {"type": "linear", "matrix": fm.matrix.tolist(),
                              "offset": fm.offset.tolist(),
                              "blocks": [list(block) for block in fm.blocks]}
    doc["process"] = _process_to_dict(family.process)
    return doc


def _dist_to_dict(dist: Distribution) -> dict[str, Any]:
    if isinstance(dist, GaussianMixture):
        if dist.num_components == 1 and float(dist.weights[0]) == 1.0:
            return {"type": "gaussian", "mean": dist.means[0].tolist(),
                    "cov": dist.covs[0].tolist()}
        return {"type": "gmm", "weights": dist.weights.tolist(), "means": dist.means.tolist(),
                "covs": dist.covs.tolist()}
    if isinstance(dist, BlockProduct):
        return {"type": "product", "blocks": [{"coords": c, "dist": _dist_to_dict(d)}
                                              for c, d in dist.blocks]}
    if isinstance(dist, LinearPushforward):
        return {"type": "pushforward",
                "map": {"type": "linear", "matrix": dist.matrix.tolist(),
                        "offset": dist.offset.tolist()},
                "base": _dist_to_dict(dist.base)}
    raise TypeError(f"a family spec cannot describe a {type(dist).__name__}")


def _process_to_dict(process: ForwardProcess) -> dict[str, Any]:
    kinds = {VP: "vp", VE: "ve"}
    if type(process) not in kinds:
        raise TypeError(f"a family spec cannot describe a {type(process).__name__} process")
    return {"type": kinds[type(process)], **dataclasses.asdict(process)}
