"""Typed result records and their one conversion to JSON-ready data.

Every report of the project (a ``check`` report and its sections, claim results,
experiment rows) is a frozen dataclass whose field names are its JSON keys; string keys
exist only at the edge, in the file. ``to_json`` is the one conversion: records become
dicts, tuples lists, tensors and numpy values plain numbers; a field declared with
``optional()`` is left out of the JSON while it is ``None`` (keys that DESIGN.md marks
as present only when they apply). ``writers`` let the edge write a type its own way (the
CLI writes a ``Family`` as a family spec with ``projcomp.spec.family_to_dict``).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Mapping
from typing import Any

OMIT_IF_NONE = "omit_if_none"


def optional(default: Any = None) -> Any:
    """A record field that is left out of the JSON while its value is ``None``."""
    return dataclasses.field(default=default, metadata={OMIT_IF_NONE: True})


Writers = Mapping[type, Callable[[Any], Any]]


def to_json(value: Any, writers: Writers | None = None) -> Any:
    """``value`` as JSON-ready data (dicts, lists, str, int, float, bool, None). A value
    of a type in ``writers`` is written by its writer, before any rule below."""
    writers = writers or {}
    for kind, write in writers.items():
        if isinstance(value, kind):
            return write(value)
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return {f.name: to_json(getattr(value, f.name), writers)
                for f in dataclasses.fields(value)
                if not (f.metadata.get(OMIT_IF_NONE) and getattr(value, f.name) is None)}
    if isinstance(value, Mapping):
        return {str(k): to_json(v, writers) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [to_json(v, writers) for v in value]
    if isinstance(value, bool | int | str) or value is None:
        return value
    if isinstance(value, float):
        return value
    if hasattr(value, "tolist"):  # torch tensors, numpy arrays and scalars
        return to_json(value.tolist(), writers)
    raise TypeError(f"cannot convert {type(value).__name__} to JSON")
