"""Thread settings for the exact checks."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

import torch


@contextmanager
def single_threaded() -> Iterator[None]:
    """Run torch on one thread: the exact checks are many small linear-algebra calls, for
    which intra-op threads only add synchronization (an 8×8 Cholesky measured 60× slower
    with 2 threads than with 1 on a busy 2-core machine)."""
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        yield
    finally:
        torch.set_num_threads(before)
