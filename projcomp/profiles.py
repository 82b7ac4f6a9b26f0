"""The profiles of ``projcomp verify``: how large its measured sweeps are.

``default`` keeps the whole main job (``make verify``) within minutes on 2 cores;
``thorough`` runs sweeps large enough for narrow intervals (C15: ≥ 10,000 families).
A claim runner reads the active profile with :func:`active`; ``projcomp verify
--profile NAME`` sets it around the run with :func:`activated`.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar

PROFILES = ("default", "thorough")
_ACTIVE: ContextVar[str] = ContextVar("projcomp_profile", default="default")


def active() -> str:
    """The profile of the run in progress (``default`` outside ``verify``)."""
    return _ACTIVE.get()


@contextmanager
def activated(name: str) -> Iterator[None]:
    """Run the block under profile ``name`` (one of :data:`PROFILES`)."""
    if name not in PROFILES:
        raise ValueError(f"unknown profile {name!r}; choose from {', '.join(PROFILES)}")
    token = _ACTIVE.set(name)
    try:
        yield
    finally:
        _ACTIVE.reset(token)
