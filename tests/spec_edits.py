"""Editing family-spec documents in tests: one valid base document, one field changed."""

from __future__ import annotations

import json
from typing import Any

DELETE = object()


def with_field(doc: dict[str, Any], path: str, value: Any) -> dict[str, Any]:
    """A copy of ``doc`` with the field at ``path`` (dots and ``[i]``) set to ``value``, or
    removed when ``value`` is ``DELETE``. The copy goes through JSON, which (unlike
    ``copy.deepcopy``) does not keep shared sub-documents shared."""
    doc = json.loads(json.dumps(doc))
    keys = [int(k) if k.isdigit() else k
            for k in path.replace("[", ".").replace("]", "").split(".")]
    parent = doc
    for key in keys[:-1]:
        parent = parent[key]
    if value is DELETE:
        del parent[keys[-1]]
    else:
        parent[keys[-1]] = value
    return doc
