"""Typed result records and their one conversion to JSON-ready data.

Every report of the project (a ``check`` report and its sections, claim results,
experiment rows) is a frozen dataclass whose field names are its JSON keys; string keys
exist only at the edge, in the file. ``to_json`` is the one conversion: records become
dicts, tuples lists, tensors and numpy values plain numbers; a field declared with
``optional()`` is left out of the JSON while it is ``None`` (keys that DESIGN.md marks
as present only when they apply).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from typing import Any

OMIT_IF_NONE = "omit_if_none"


def optional(default: Any = None) -> Any:
    """A record field that is left out of the JSON while its value is ``None``."""
    return dataclasses.field(default=default, metadata={OMIT_IF_NONE: True})


def to_json(value: Any) -> Any:
    """``value`` as JSON-ready data (dicts, lists, str, int, float, bool, None)."""
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return {f.name: to_json(getattr(value, f.name)) for f in dataclasses.fields(value)
                if not (f.metadata.get(OMIT_IF_NONE) and getattr(value, f.name) is None)}
    if isinstance(value, Mapping):
        return {str(k): to_json(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [to_json(v) for v in value]
    if isinstance(value, bool | int | str) or value is None:
        return value
    if isinstance(value, float):
        return value
    if hasattr(value, "tolist"):  # torch tensors, numpy arrays and scalars
        return to_json(value.tolist())
    raise TypeError(f"cannot convert {type(value).__name__} to JSON")
