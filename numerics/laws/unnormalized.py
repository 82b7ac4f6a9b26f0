"""Laws known up to a constant: compositions without a closed form (THEORY §2).

``Unnormalized`` is the base of every law whose ``log_prob`` is a log-density up to an
unknown additive constant and whose ``score`` is exact: ``UnnormalizedComposition``
(``∝ Π_m p_m^{e_m}``, built by ``numerics.composition``), ``OperatorComposition`` (a
user operator's composition) and ``numerics.laws.scenes.SceneComposition`` (which decides
``Z < ∞`` from its own tails). Checks reach them through grids (dimension ≤ 2) or
importance sampling from their members where those have mixture forms; otherwise the
checks report the gap as not decidable. ``NonNormalizable`` is raised wherever ``Z = ∞``
is detected.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from itertools import product as cartesian
from typing import Any

import numpy as np
import torch

from numerics.laws.base import MAX_COMPONENTS, Distribution, ExpansionTooLarge
from numerics.laws.mixture import GaussianMixture

# A user composition rule (numerics.composition.operators): the members' log-densities
# ``(m, N)`` and scores ``(m, N, n)`` in, the composed log-density ``(N,)`` (up to a
# constant) and score ``(N, n)`` out.
Operator = Callable[[torch.Tensor, torch.Tensor], tuple[torch.Tensor, torch.Tensor]]

# A combined precision counts as positive definite when its smallest eigenvalue exceeds
# this fraction of its largest: float64 eigenvalues carry ~n·1e-16 relative error, and
# a smaller margin would call round-off "normalizable".
PD_RTOL = 1e-10
# Tail-exponent minimization on the sphere (UnnormalizedComposition with mixtures raised
# to negative powers): random directions added to every eigenvector as starts, and local searches
# run from the best few of them.
SPHERE_STARTS = 32
SPHERE_SEARCHES = 4


class NonNormalizable(ValueError):
    """``Z = ∞``: the composed density is not integrable."""


class OperatorFailed(ValueError):
    """A user operator returned something no law can be made of (wrong shapes, NaN, or a
    composition the checks cannot hold): bad input, not a fault of the checks."""


class Unnormalized(Distribution):
    """A law known through its members ``(p_b, p_1, ..., p_k)`` and a pointwise rule:
    ``log_prob`` is the log-density up to an unknown additive constant, ``score`` is
    exact. It has no mixture form; checks reach it through grids (dimension ≤ 2) or
    importance sampling from its members."""

    members: list[Distribution]

    @property
    def num_components(self) -> int:
        raise ExpansionTooLarge("an unnormalized composition has no mixture form")

    def to_mixture(self) -> GaussianMixture:
        raise ExpansionTooLarge("an unnormalized composition has no mixture form")


class UnnormalizedComposition(Unnormalized):
    """``q(x) ∝ Π_m p_m(x)^{e_m}`` with no closed form: ``log_prob`` is the log-density up
    to an unknown additive constant, ``score`` is exact.

    Construction decides ``Z < ∞`` from the tails: along a unit direction ``u``,
    ``log p_m(r u) = −½ r² min_j uᵀ Λ_{m,j} u + O(r)`` for a mixture, so the composition is
    normalizable iff ``g(u) = Σ_m e_m min_j uᵀ Λ_{m,j} u > 0`` on the whole sphere
    (``g = 0`` somewhere leaves the decision to linear terms; it is reported as
    non-normalizable). ``min_u g`` is exact (an eigenvalue problem) when every member
    with a negative exponent is a single Gaussian, and numerical (multi-start on the
    sphere) otherwise; ``tail_method`` says which.
    """

    def __init__(self, members: Sequence[Distribution], exponents: Sequence[float]) -> None:
        self.members = list(members)
        self.exponents = [float(e) for e in exponents]
        first = self.members[0]
        self.dim, self.dtype, self.device = first.dim, first.dtype, first.device
        self.tail_exponent, self.tail_method = self._tail_exponent()
        if self.tail_exponent <= PD_RTOL:
            raise NonNormalizable(
                f"tail exponent min_u Σ e_m min_j uᵀΛ_(m,j)u = {self.tail_exponent:.4g} <= 0 "
                f"({self.tail_method}): the composed density does not decay in every direction")

    def __repr__(self) -> str:
        return f"UnnormalizedComposition(members={len(self.members)}, dim={self.dim})"

    def log_prob(self, x: torch.Tensor) -> torch.Tensor:
        """``Σ_m e_m log p_m(x)``: the log-density up to an additive constant."""
        return sum(e * p.log_prob(x) for p, e in zip(self.members, self.exponents, strict=True))

    def score(self, x: torch.Tensor) -> torch.Tensor:
        return sum(e * p.score(x) for p, e in zip(self.members, self.exponents, strict=True))

    def pushforward(self, matrix, offset=None) -> UnnormalizedComposition:
        """``A♯q`` for invertible square ``A``: ``Π_m (A♯p_m)^{e_m}``, since the constant
        Jacobian factors only change the normalizing constant (C4, linear case).
        Non-square maps would need the marginals, which have no closed form."""
        matrix = torch.as_tensor(matrix, dtype=self.dtype, device=self.device)
        if matrix.shape != (self.dim, self.dim):
            raise NotImplementedError("marginals of an unnormalized composition")
        return UnnormalizedComposition([p.pushforward(matrix, offset) for p in self.members],
                                       self.exponents)

    def _precisions(self) -> list[np.ndarray]:
        return [np.linalg.inv(p.to_mixture().covs.cpu().numpy()) for p in self.members]

    def _tail_exponent(self) -> tuple[float, str]:
        precs = self._precisions()
        scale = max(float(np.abs(p).max()) for p in precs)
        negative_mixtures = [len(p) > 1 and e < 0
                             for p, e in zip(precs, self.exponents, strict=True)]
        if not any(negative_mixtures):
            # g(u) = min over component choices of uᵀ(Σ e_m Λ_{m,j_m})u: smallest eigenvalue.
            # The minimum over choices separates by member, so O(Σ K_m) eigen-problems
            # suffice only in 1-D; in general enumerate choices (guarded).
            count = math.prod(len(p) for p in precs)
            if count <= MAX_COMPONENTS:
                best = min(
                    float(np.linalg.eigvalsh(sum(e * precs[m][j] for m, (j, e) in
                                                 enumerate(zip(combo, self.exponents,
                                                               strict=True))))[0])
                    for combo in cartesian(*[range(len(p)) for p in precs]))
                return best / scale, "exact: smallest eigenvalue over component choices"
        return self._tail_exponent_numeric(precs) / scale, "numerical: multi-start on the sphere"

    def _tail_exponent_numeric(self, precs: list[np.ndarray]) -> float:
        from scipy.optimize import minimize  # rarely needed; scipy costs ~0.5 s to import

        exps = self.exponents

        def g(u: np.ndarray) -> float:
            u = u / np.linalg.norm(u)
            return float(sum(e * np.min(np.einsum("i,kij,j->k", u, p, u))
                             for p, e in zip(precs, exps, strict=True)))

        starts = [v for p in precs for lam in p for v in np.linalg.eigh(lam)[1].T]
        rng = np.random.default_rng(0)
        starts += list(rng.standard_normal((SPHERE_STARTS, self.dim)))
        values = sorted(((g(s), s) for s in starts), key=lambda pair: pair[0])[:SPHERE_SEARCHES]
        best = values[0][0]
        for _, s in values:
            res = minimize(g, s, method="Powell",
                           options={"xtol": 1e-10, "ftol": 1e-14, "maxiter": 4000})
            best = min(best, float(res.fun))
        return best


def operator_name(operator: Operator) -> str:
    """``module:qualname`` of a function (what ``load_operator`` accepts), else its repr."""
    module = getattr(operator, "__module__", None)
    qualname = getattr(operator, "__qualname__", None)
    return f"{module}:{qualname}" if module and qualname else repr(operator)


class OperatorComposition(Unnormalized):
    """The law an operator makes of ``members = (p_b, p_1, ..., p_k)``: at points ``x``
    ``(..., n)`` the members' log-densities ``(m, N)`` and scores ``(m, N, n)`` are
    evaluated on the flattened points and handed to the operator; ``log_prob`` returns
    its log-density ``(...)`` (up to a constant), ``score`` its score ``(..., n)``.

    The operator's output is checked at every call: shapes ``(N,)`` and ``(N, n)``, a
    log-density without NaN or ``+inf`` (``−inf`` is a zero density) and a finite
    score; a violation raises ``OperatorFailed`` naming the operator.
    """

    def __init__(self, members: Sequence[Distribution], operator: Operator) -> None:
        if not members:
            raise ValueError("an operator composition needs at least the background")
        self.members = list(members)
        first = self.members[0]
        for i, p in enumerate(self.members):
            if p.dim != first.dim:
                raise ValueError(f"members[{i}] has dimension {p.dim}, members[0] has "
                                 f"{first.dim}")
        self.dim, self.dtype, self.device = first.dim, first.dtype, first.device
        self.operator = operator
        self.name = operator_name(operator)

    def __repr__(self) -> str:
        return f"OperatorComposition({self.name}, members={len(self.members)}, dim={self.dim})"

    def evaluate(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Log-density ``(...)`` (up to a constant) and score ``(..., n)`` at ``x``."""
        x = self._check_points(torch.as_tensor(x))
        batch = x.shape[:-1]
        flat = x.reshape(-1, self.dim)
        logs = torch.stack([p.log_prob(flat) for p in self.members])
        scores = torch.stack([p.score(flat) for p in self.members])
        out = self.operator(logs, scores)
        log_density, score = self._checked(out, flat.shape[0])
        return log_density.reshape(batch), score.reshape(*batch, self.dim)

    def log_prob(self, x: torch.Tensor) -> torch.Tensor:
        return self.evaluate(x)[0]

    def score(self, x: torch.Tensor) -> torch.Tensor:
        return self.evaluate(x)[1]

    def _checked(self, out: Any, count: int) -> tuple[torch.Tensor, torch.Tensor]:
        if not (isinstance(out, tuple | list) and len(out) == 2
                and all(isinstance(v, torch.Tensor) for v in out)):
            raise OperatorFailed(f"operator {self.name} must return a pair of tensors "
                             f"(log_density, score), got {type(out).__name__}")
        log_density, score = out
        if tuple(log_density.shape) != (count,):
            raise OperatorFailed(f"operator {self.name} returned a log-density of shape "
                             f"{tuple(log_density.shape)}, expected ({count},)")
        if tuple(score.shape) != (count, self.dim):
            raise OperatorFailed(f"operator {self.name} returned a score of shape "
                             f"{tuple(score.shape)}, expected ({count}, {self.dim})")
        bad = torch.isnan(log_density) | (log_density == math.inf)
        if bad.any():
            raise OperatorFailed(f"operator {self.name} returned NaN or +inf log-densities at "
                             f"{int(bad.sum())} of {count} points")
        bad = ~torch.isfinite(score).all(-1)
        if bad.any():
            raise OperatorFailed(f"operator {self.name} returned NaN or inf scores at "
                             f"{int(bad.sum())} of {count} points")
        return log_density.to(self.dtype), score.to(self.dtype)
