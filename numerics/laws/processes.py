"""Forward (noising) processes ``x_t = a(t) x_0 + s(t) ε``, ``ε ~ N(0, I)`` (THEORY §0).

Every claim of THEORY.md holds for any process of this form; VP and VE are the two
supported here. Times are floats in ``[0, T]``; ``a`` and ``s`` are returned as floats
so that they can scale tensors of any dtype and device.
"""

from __future__ import annotations

import math
from dataclasses import dataclass


class ForwardProcess:
    """A noising schedule: ``a(t)`` (signal scale) and ``s(t)`` (noise scale)."""

    T: float = 1.0

    def a(self, t: float) -> float:
        raise NotImplementedError

    def s(self, t: float) -> float:
        raise NotImplementedError

    def coefficients(self, t: float) -> tuple[float, float]:
        """``(a(t), s(t))`` for a time ``t ∈ [0, T]``."""
        if not 0.0 <= t <= self.T:
            raise ValueError(f"t={t} outside [0, {self.T}]")
        return self.a(t), self.s(t)


@dataclass(frozen=True)
class VP(ForwardProcess):
    """Variance preserving: linear ``β(t) = β_min + (β_max − β_min) t`` on ``[0, 1]``.

    ``a(t) = exp(−½ ∫_0^t β)``, ``s(t) = sqrt(1 − a(t)²)`` so that ``a² + s² = 1``.
    """

    beta_min: float = 0.1
    beta_max: float = 20.0

    def __post_init__(self) -> None:
        if not (0.0 <= self.beta_min <= self.beta_max) or self.beta_max <= 0.0:
            raise ValueError(
                f"VP needs 0 <= beta_min <= beta_max, beta_max > 0; got "
                f"beta_min={self.beta_min}, beta_max={self.beta_max}"
            )

    def _integral(self, t: float) -> float:
        return self.beta_min * t + 0.5 * (self.beta_max - self.beta_min) * t * t

    def a(self, t: float) -> float:
        return math.exp(-0.5 * self._integral(t))

    def s(self, t: float) -> float:
        return math.sqrt(-math.expm1(-self._integral(t)))


@dataclass(frozen=True)
class VE(ForwardProcess):
    """Variance exploding: ``a(t) = 1``, geometric ``s(t) = σ_min (σ_max/σ_min)^t`` for
    ``t > 0`` and ``s(0) = 0`` (the clean distribution)."""

    sigma_min: float = 0.01
    sigma_max: float = 50.0

    def __post_init__(self) -> None:
        if not (0.0 < self.sigma_min < self.sigma_max):
            raise ValueError(
                f"VE needs 0 < sigma_min < sigma_max; got "
                f"sigma_min={self.sigma_min}, sigma_max={self.sigma_max}"
            )

    def a(self, t: float) -> float:
        return 1.0

    def s(self, t: float) -> float:
        if t == 0.0:
            return 0.0
        return self.sigma_min * (self.sigma_max / self.sigma_min) ** t
