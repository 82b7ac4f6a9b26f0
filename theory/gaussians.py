"""Exact Gaussian algebra for the symbolic proofs (sympy only).

- 1-D density ``N(x; m, v) = exp(−(x−m)²/(2v)) / sqrt(2πv)`` and its log.
- :class:`Gaussian`: mean vector and covariance matrix, with
  ``noised(a, s, K)`` — law of ``a X + s E``, ``E ~ N(0, K)`` (``K = I`` for pixel-space
  noise; ``K = A Aᵀ`` for pixel noise seen in features ``z = A x``): ``N(a μ, a²Σ + s²K)``;
  ``pushforward(A, b)`` — law of ``A X + b``: ``N(Aμ + b, AΣAᵀ)``.
- :func:`compose`: ``C_w`` of Gaussians (Definition 5.1) is Gaussian with precision
  ``Λ = Σ w_i Λ_i + (1 − Σ w_i) Λ_b`` and natural mean ``η = Σ w_i Λ_i μ_i + (1 − Σ w_i)
  Λ_b μ_b``, mean ``Λ⁻¹ η`` — normalizable iff ``Λ`` is positive definite (for ``w_i = 1``:
  ``Λ = Σ Λ_i − (k−1) Λ_b``). Proved in :func:`theory.proofs.gaussian_composition_lemma`.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import sympy as sp


def normal_logpdf(x: sp.Expr, mean: sp.Expr, var: sp.Expr) -> sp.Expr:
    """``log N(x; mean, var) = −(x−mean)²/(2 var) − log(2π var)/2`` (1-D)."""
    return -(x - mean) ** 2 / (2 * var) - sp.log(2 * sp.pi * var) / 2


def normal_pdf(x: sp.Expr, mean: sp.Expr, var: sp.Expr) -> sp.Expr:
    """``N(x; mean, var)`` (1-D)."""
    return sp.exp(-(x - mean) ** 2 / (2 * var)) / sp.sqrt(2 * sp.pi * var)


def inverse(m: sp.MatrixBase) -> sp.Matrix:
    """``M⁻¹ = adj(M) / det(M)``, the determinant expanded. (Not factored: sympy's
    multivariate factoring draws random evaluation points, and under some global random
    states it ran for minutes.)"""
    det = sp.expand(m.det())
    if det == 0:
        raise ValueError(f"matrix is singular: {m}")
    return m.adjugate() / det


@dataclass(frozen=True)
class Gaussian:
    """``N(mean, cov)`` with a column-vector ``mean`` (n×1) and an n×n ``cov``."""

    mean: sp.Matrix
    cov: sp.Matrix

    def __post_init__(self) -> None:
        n = self.mean.rows
        if self.mean.cols != 1:
            raise ValueError(f"mean must be a column vector, got shape {self.mean.shape}")
        if self.cov.shape != (n, n):
            raise ValueError(f"cov must have shape {(n, n)}, got {self.cov.shape}")

    @property
    def dim(self) -> int:
        """Dimension ``n``."""
        return int(self.mean.rows)

    @property
    def precision(self) -> sp.Matrix:
        """``Λ = Σ⁻¹``."""
        return inverse(self.cov)

    def natural(self) -> tuple[sp.Matrix, sp.Matrix]:
        """Natural parameters ``(Λ, η) = (Σ⁻¹, Σ⁻¹ μ)``; equal iff the Gaussians are equal."""
        lam = self.precision
        return lam, lam * self.mean

    @staticmethod
    def from_natural(lam: sp.Matrix, eta: sp.Matrix) -> Gaussian:
        """``N(Λ⁻¹ η, Λ⁻¹)`` (requires ``Λ`` positive definite to be a distribution)."""
        cov = inverse(lam)
        return Gaussian(cov * eta, cov)

    def logpdf(self, x: sp.Matrix) -> sp.Expr:
        """``−½ (x−μ)ᵀ Σ⁻¹ (x−μ) − ½ log det(2πΣ)`` at the column vector ``x``."""
        d = x - self.mean
        quad = (d.T * self.precision * d)[0, 0]
        return -quad / 2 - sp.log((2 * sp.pi) ** self.dim * self.cov.det()) / 2

    def noised(self, a: sp.Expr, s: sp.Expr, noise_cov: sp.Matrix | None = None) -> Gaussian:
        """Law of ``a X + s E`` with ``E ~ N(0, noise_cov)`` independent: ``N(aμ, a²Σ + s²K)``."""
        k = sp.eye(self.dim) if noise_cov is None else noise_cov
        return Gaussian(a * self.mean, a**2 * self.cov + s**2 * k)

    def pushforward(self, a_mat: sp.Matrix, offset: sp.Matrix | None = None) -> Gaussian:
        """Law of ``A X + b``: ``N(Aμ + b, A Σ Aᵀ)``."""
        b = sp.zeros(a_mat.rows, 1) if offset is None else offset
        return Gaussian(a_mat * self.mean + b, a_mat * self.cov * a_mat.T)


def compose_natural(
    background: Gaussian,
    conditionals: Sequence[Gaussian],
    weights: Sequence[sp.Expr] | None = None,
) -> tuple[sp.Matrix, sp.Matrix]:
    """Natural parameters of ``C_w`` of a Gaussian family (Definition 5.1).

    ``Λ = Σ w_i Λ_i + (1 − Σ w_i) Λ_b`` and ``η = Σ w_i Λ_i μ_i + (1 − Σ w_i) Λ_b μ_b``.
    """
    ws = [sp.Integer(1)] * len(conditionals) if weights is None else [sp.sympify(w)
                                                                       for w in weights]
    if len(ws) != len(conditionals):
        raise ValueError(f"weights has length {len(ws)} but there are {len(conditionals)} "
                         "conditionals")
    lam_b, eta_b = background.natural()
    rest = 1 - sum(ws)
    lam, eta = rest * lam_b, rest * eta_b
    for g, w in zip(conditionals, ws, strict=True):
        lam_i, eta_i = g.natural()
        lam, eta = lam + w * lam_i, eta + w * eta_i
    return lam, eta


def compose(
    background: Gaussian,
    conditionals: Sequence[Gaussian],
    weights: Sequence[sp.Expr] | None = None,
) -> Gaussian:
    """``C_w`` of a Gaussian family as ``N(Λ⁻¹ η, Λ⁻¹)`` (see :func:`compose_natural`).

    Only meaningful when ``Λ`` is positive definite (otherwise ``Z = ∞``: non-normalizable).
    """
    return Gaussian.from_natural(*compose_natural(background, conditionals, weights))
