"""Shared test configuration.

- torch runs on one thread: the suite is many small linear-algebra calls, for which
  intra-op threads only add synchronization (an 8×8 Cholesky measured 60× slower with
  2 threads than 1 on a busy 2-core machine); results do not depend on it.
- Hypothesis profiles: ``ci`` (default; derandomized, no database, no deadline, prints
  the reproduction blob) and ``thorough`` (many examples); choose with
  ``PROJCOMP_HYPOTHESIS_PROFILE=thorough``.
"""

from __future__ import annotations

import os

import torch
from hypothesis import HealthCheck, settings

torch.set_num_threads(1)

settings.register_profile("ci", derandomize=True, database=None, deadline=None,
                          print_blob=True, max_examples=25,
                          suppress_health_check=[HealthCheck.too_slow])
settings.register_profile("thorough", deadline=None, max_examples=1000, print_blob=True,
                          suppress_health_check=[HealthCheck.too_slow])
settings.load_profile(os.environ.get("PROJCOMP_HYPOTHESIS_PROFILE", "ci"))
