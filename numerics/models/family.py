"""Families whose members are score callables: learned models, possibly beside exact laws.

A :class:`ModelFamily` is what a family spec with ``"type": "model"`` members becomes
(``projcomp.spec``): the members' noisy scores ``s_m(x, t)`` — a
:class:`~numerics.models.score_model.ScoreModel` for a network, :func:`law_score` for an
exact law — with the family's exponents, projections and process. It has no densities:
the composed score ``Σ_m e_m s_m`` (THEORY §2; ``e_b = 1 − Σ_i w_i``, ``e_i = w_i``) is all
that can be sampled, and what the checks of ``numerics.checks.models`` use.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from functools import lru_cache

import torch
from torch import Tensor

from numerics.laws import Distribution
from numerics.laws.processes import VP, ForwardProcess

#: A noisy score ``(x (N, n), t) -> (N, n)``.
NoisyScore = Callable[[Tensor, float], Tensor]
# Noisy laws kept per exact member: a sampler visits ``steps + 1`` times (Heun twice).
CACHED_TIMES = 1024


def law_score(law: Distribution, process: ForwardProcess) -> NoisyScore:
    """``∇log N_t[law](x)`` (exact), the noisy law built once per ``t``."""
    @lru_cache(maxsize=CACHED_TIMES)
    def at(t: float) -> Distribution:
        a, s = process.coefficients(t)
        return law.convolved(a, s * s)

    def score(x: Tensor, t: float) -> Tensor:
        return at(float(t)).score(x.to(law.dtype)).to(x)

    return score


@dataclass(frozen=True)
class ModelFamily:
    """``(s_b, s_1, .., s_k)`` on ``R^dim`` with exponents ``weights`` (default all 1),
    coordinate ``projections`` ``M_i`` (or ``None``) and the members' common ``process``;
    ``kinds[m]`` names what member ``m`` is (``"model (eps)"``, ``"exact"``, ...)."""

    background: NoisyScore
    conditionals: tuple[NoisyScore, ...]
    dim: int
    kinds: tuple[str, ...]
    weights: tuple[float, ...] | None = None
    projections: tuple[tuple[int, ...], ...] | None = None
    process: ForwardProcess = field(default_factory=VP)
    name: str = "family"

    def __post_init__(self) -> None:
        k = len(self.conditionals)
        if k == 0:
            raise ValueError("a family needs at least one conditional")
        if len(self.kinds) != k + 1:
            raise ValueError(f"kinds has {len(self.kinds)} entries for {k + 1} members")
        if self.weights is not None and len(self.weights) != k:
            raise ValueError(f"weights has {len(self.weights)} entries for {k} conditionals")
        if self.projections is not None and len(self.projections) != k:
            raise ValueError(f"projections has {len(self.projections)} blocks for {k} "
                             "conditionals")

    @property
    def k(self) -> int:
        return len(self.conditionals)

    @property
    def members(self) -> tuple[NoisyScore, ...]:
        return (self.background, *self.conditionals)

    @property
    def exponents(self) -> tuple[float, ...]:
        """``(e_b, e_1, .., e_k) = (1 − Σ w_i, w_1, .., w_k)`` (THEORY §2)."""
        w = self.weights if self.weights is not None else (1.0,) * self.k
        return (1.0 - sum(w), *w)

    def composed_score(self, x: Tensor, t: float) -> Tensor:
        """``Σ_m e_m s_m(x, t)``, ``(N, n) -> (N, n)``."""
        total = torch.zeros_like(x)
        for e, member in zip(self.exponents, self.members, strict=True):
            if e != 0.0:
                total = total + e * member(x, t)
        return total
