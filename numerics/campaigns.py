"""Campaigns: one function mapped over independent tasks (seeds, families, null runs).

Every long measurement of the project (the C15/C20 sweeps, the calibration null runs, the
thorough profiles) is written as ``mapper(fn, tasks)`` where ``fn`` is a module-level
function of one picklable task and the results come back in task order. The serial map
below and the Dask map of ``projcomp.campaigns`` are then interchangeable, and a campaign
gives identical results under either for the same tasks (each task carries its own seed).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Protocol, TypeVar

T = TypeVar("T")
R = TypeVar("R")


class Mapper(Protocol):
    """``mapper(fn, tasks) -> [fn(task) for task in tasks]``, in task order."""

    def __call__(self, fn: Callable[[T], R], tasks: Sequence[T], /) -> list[R]: ...


def serial_map(fn: Callable[[T], R], tasks: Sequence[T], /) -> list[R]:
    """The default mapper: every task in this process, in order."""
    return [fn(task) for task in tasks]
