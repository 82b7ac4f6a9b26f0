"""What the checks of one claim found (shared by ``projcomp.verify`` and its sampled
runners)."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any


@dataclass
class Evidence:
    """One claim's findings: ``outcome`` is ``holds``, ``fails``, ``pending`` or
    ``undecided``; ``details`` are report lines; ``curve`` and ``sampling`` carry the
    numbers behind a figure or a sampled measurement."""

    outcome: str
    methods: list[str] = field(default_factory=list)
    instances: int = 0
    details: list[str] = field(default_factory=list)
    counterexample: Any = None
    curve: dict[str, Any] | None = None
    sampling: dict[str, Any] | None = None
