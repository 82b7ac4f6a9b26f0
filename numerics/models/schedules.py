"""A discrete noise schedule given as ``alphas_cumprod`` (the diffusers convention).

Timestep ``i ∈ {0, .., N−1}`` has ``x_i = sqrt(ᾱ_i) x_0 + sqrt(1 − ᾱ_i) ε``: ``a = sqrt(ᾱ_i)``,
``s = sqrt(1 − ᾱ_i)``, so ``a² + s² = 1`` (a VP process on a grid). As a
:class:`~numerics.laws.processes.ForwardProcess` the time is the timestep itself,
``t ∈ [0, N − 1]``; between integers ``ᾱ`` is interpolated linearly, which only the
samplers' finite-difference drift of a general process ever asks for. A network trained
on the schedule knows only the integer timesteps: :class:`~numerics.models.score_model.
ScoreModel` refuses others (:meth:`DiscreteSchedule.timestep`), and
:meth:`DiscreteSchedule.times` gives integer sampler grids.
"""

from __future__ import annotations

import math

import torch
from torch import Tensor

from numerics.laws.processes import ForwardProcess

# A timestep handed over as a float is an integer when it is within this of one: the
# float64 spacing at t ≤ 1e5 is ≤ 1.5e-11, so 1e-6 only absorbs arithmetic on grids.
INTEGER_TOL = 1e-6


class DiscreteSchedule(ForwardProcess):
    """``alphas_cumprod`` ``(N,)``, decreasing, in ``[0, 1]`` with ``ᾱ_0 < 1`` allowed to
    reach ``ᾱ_{N−1} = 0`` (zero terminal SNR)."""

    def __init__(self, alphas_cumprod: Tensor | list[float]) -> None:
        abar = torch.as_tensor(alphas_cumprod, dtype=torch.float64).detach().cpu()
        if abar.dim() != 1 or len(abar) < 2:
            raise ValueError("alphas_cumprod must be a 1-D sequence of at least 2 values")
        if not bool(torch.isfinite(abar).all()) or bool((abar < 0).any()) or \
                bool((abar >= 1).any()) or bool((abar[1:] > abar[:-1]).any()):
            raise ValueError("alphas_cumprod must be non-increasing, in [0, 1)")
        self.alphas_cumprod = abar
        self.T = float(len(abar) - 1)

    def __repr__(self) -> str:
        return f"DiscreteSchedule(N={len(self.alphas_cumprod)})"

    def _abar(self, t: float) -> float:
        i = min(math.floor(t), len(self.alphas_cumprod) - 2)
        w = t - i
        return (1.0 - w) * float(self.alphas_cumprod[i]) + w * float(self.alphas_cumprod[i + 1])

    def a(self, t: float) -> float:
        return math.sqrt(self._abar(t))

    def s(self, t: float) -> float:
        return math.sqrt(1.0 - self._abar(t))

    def timestep(self, t: float) -> int:
        """The integer timestep ``t`` stands for; ``ValueError`` for a non-integer ``t``."""
        i = round(t)
        if abs(t - i) > INTEGER_TOL or not 0 <= i <= self.T:
            raise ValueError(f"t={t}: a network on a discrete schedule is defined at the "
                             f"integer timesteps 0..{int(self.T)} only")
        return i

    def times(self, steps: int, first: int = 0) -> Tensor:
        """``steps + 1`` integer timesteps, evenly spaced, decreasing from ``N − 1`` to
        ``first`` (float64, for the samplers; the last one is never a noise-free ``t``:
        ``ᾱ_first < 1``)."""
        if not 1 <= steps <= self.T - first:
            raise ValueError(f"need 1 <= steps <= {int(self.T) - first}, got {steps}")
        return torch.linspace(self.T, first, steps + 1, dtype=torch.float64).round()
