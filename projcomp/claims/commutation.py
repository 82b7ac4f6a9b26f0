"""Exact evidence shared by C7 and C8: noise commutes, ``C[p⃗^t] = N_t[C[p⃗]]``, for FC
feature families seen in pixel space through a map drawn per family."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import torch
from hypothesis import strategies as st

from numerics.claims import exact as ev
from numerics.claims import strategies as pst
from numerics.laws.family import Family
from numerics.sampling.times import time_grid
from projcomp.evidence import TIMES, Evidence, holds_for_all, require_equal, seeded


def require_commutes(pixel: Family) -> None:
    """``C[p⃗^t] = N_t[C[p⃗]]``, constant included, at ``TIMES`` noise levels of the
    family's process, for a pixel-space family with a feature map."""
    for t in time_grid(pixel.process, TIMES):
        require_equal(ev.commutation_instance(pixel, t, seeded()), f"t={t:.3g}")


def _check(args: Any) -> None:
    family, matrix = args
    require_commutes(pst.families_in_feature_space(family, matrix))


def commutes_under(maps: Callable[[Family], st.SearchStrategy[torch.Tensor]]) -> Evidence:
    """Random FC feature families, each under a matrix ``A`` drawn by ``maps(family)``
    (``(n, n)``): the pixel-space formula ``C[p⃗^t]`` equals ``N_t[C[p⃗]]``, constant
    included, at ``TIMES`` noise levels per family."""
    families = pst.fc_families().flatmap(lambda f: st.tuples(st.just(f), maps(f)))
    return holds_for_all(families, _check)
