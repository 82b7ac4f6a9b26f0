"""Campaigns on Dask distributed: the ``--scheduler`` option of every long campaign.

A campaign is ``mapper(fn, tasks)`` (``numerics.campaigns``): ``fn`` a module-level
function of one picklable task that carries its own seed, results in task order.
:func:`mapper_for` turns the option's text into such a mapper:

- ``None`` (option absent): ``serial_map``, every task in this process, as before;
- ``local:N``: a ``distributed.LocalCluster`` of ``N`` worker processes with one thread
  each, on this machine, closed when the campaign ends;
- an address (``tcp://host:8786``, ``host:8786``): an existing scheduler, e.g. one that
  ``dask-jobqueue`` started on Slurm; its workers need this package importable.

Under Dask each task is submitted once with ``retries=RETRIES`` (a task that raises is
run again, up to that many times) and with ``pure=False``; a task whose worker dies is
rescheduled by the scheduler on another worker (Dask's ``allowed-failures``), so it is
neither lost nor counted twice: the result list holds exactly one result per task, and
it equals the serial list for the same tasks. Progress goes to stderr as tasks complete.

The Dask packages are an optional extra (``pip install 'projcomp[distributed]'``) and are
imported only when a scheduler is named.
"""

from __future__ import annotations

import re
import sys
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from typing import Any, TypeVar

from numerics.campaigns import Mapper, serial_map

T = TypeVar("T")
R = TypeVar("R")

# A task that raises is run again up to this many times before its error is raised
# here; a dead worker's task is rescheduled by the scheduler (allowed-failures) instead.
RETRIES = 2
# Seconds to wait for an existing scheduler to answer, and for local workers to start.
CONNECT_TIMEOUT_S = 30
# One progress line per this many seconds at most (and one at the end).
PROGRESS_EVERY_S = 2.0

_LOCAL = re.compile(r"local:(\d+)")
_ADDRESS = re.compile(r"((tcp|tls|ws|wss|ucx)://)?[A-Za-z0-9_.\-\[\]:]+:\d{1,5}")


class SchedulerError(ValueError):
    """A ``--scheduler`` value that names no usable scheduler (one line, exit status 2)."""


def parse_scheduler(text: str | None) -> tuple[str, int | str] | None:
    """``None``, ``("local", N)`` or ``("address", text)``; ``SchedulerError`` otherwise."""
    if text is None:
        return None
    local = _LOCAL.fullmatch(text)
    if local:
        workers = int(local.group(1))
        if workers < 1:
            raise SchedulerError("--scheduler local:N needs N >= 1 workers, got local:0")
        return "local", workers
    if text.startswith("local"):
        raise SchedulerError(f"--scheduler {text!r}: expected local:N with N a positive "
                             "integer, e.g. local:2")
    if _ADDRESS.fullmatch(text):
        return "address", text
    raise SchedulerError(f"--scheduler {text!r}: expected local:N or a scheduler address "
                         "such as tcp://host:8786")


def stderr_progress(done: int, total: int, elapsed: float) -> None:
    """One line on stderr: tasks done of the total and the seconds since the start."""
    print(f"campaign: {done}/{total} tasks done ({elapsed:.0f} s)", file=sys.stderr,
          flush=True)


class DaskMapper:
    """``mapper(fn, tasks)`` on a ``distributed.Client``: submitted with retries, results
    gathered in task order, ``progress(done, total, seconds)`` as tasks complete."""

    def __init__(self, client: Any, progress: Callable[[int, int, float], None]) -> None:
        self.client, self.progress = client, progress

    def __call__(self, fn: Callable[[T], R], tasks: Sequence[T], /) -> list[R]:
        """Each result is fetched as its task completes and its future released, so a
        worker that dies later loses no finished work (the scheduler would recompute a
        result still held on it)."""
        from distributed import as_completed

        start = last = time.monotonic()
        futures = self.client.map(fn, list(tasks), retries=RETRIES, pure=False)
        position = {f.key: i for i, f in enumerate(futures)}
        results: list[Any] = [None] * len(futures)
        completed = as_completed(futures, with_results=True)
        del futures
        for done, (future, value) in enumerate(completed, 1):
            results[position[future.key]] = value
            future.release()
            now = time.monotonic()
            if now - last >= PROGRESS_EVERY_S or done == len(results):
                self.progress(done, len(results), now - start)
                last = now
        return results


@contextmanager
def mapper_for(scheduler: str | None,
               progress: Callable[[int, int, float], None] = stderr_progress
               ) -> Iterator[Mapper]:
    """The mapper that ``--scheduler`` names (module docstring), for a ``with`` block: a
    local cluster lives as long as the block, a connection to an existing scheduler is
    closed at its end. ``SchedulerError`` for a value that names no usable scheduler."""
    parsed = parse_scheduler(scheduler)
    if parsed is None:
        yield serial_map
        return
    try:
        from distributed import Client, LocalCluster
    except ImportError:
        raise SchedulerError(f"--scheduler {scheduler}: Dask distributed is not installed "
                             "(pip install 'projcomp[distributed]')") from None
    kind, value = parsed
    cluster = None
    try:
        if kind == "local":
            cluster = LocalCluster(n_workers=int(value), threads_per_worker=1,
                                   processes=True, dashboard_address=None,
                                   silence_logs=40)
            client = Client(cluster, timeout=CONNECT_TIMEOUT_S)
        else:
            client = Client(str(value), timeout=CONNECT_TIMEOUT_S)
    except (OSError, TimeoutError) as err:
        if cluster is not None:
            cluster.close()
        raise SchedulerError(f"--scheduler {scheduler}: no scheduler answered "
                             f"({' '.join(str(err).split())[:200]})") from None
    try:
        yield DaskMapper(client, progress)
    finally:
        client.close()
        if cluster is not None:
            cluster.close()
