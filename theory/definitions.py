"""Symbolic statements of the paper's definitions (THEORY.md §1–§3, §5).

Generic densities are sympy undefined functions declared ``positive=True`` (a density is
positive where the formulas are used); all densities here are *unnormalized* expressions
unless stated, and "equal" means equal as functions of the variables.

- Definition 4.1 (projective composition): ``Π_i♯p̂ = Π_i♯p_i`` for every ``i``
  (:func:`projective_composition_equations`).
- Definition 5.1 (composition operator): ``C[p⃗] ∝ p_b Π_i (p_i / p_b)`` and its weighted
  variant ``C_w ∝ p_b Π_i (p_i / p_b)^{w_i}`` (:func:`composition`, :func:`log_composition`).
- Simple product ``p̂ ∝ Π_i p_i`` (:func:`simple_product`).
- Definition 5.2 (Factorized Conditionals) (:class:`FactorizedConditionals`,
  :func:`factorized_conditionals`).
- Pushforward ``(A♯p)(z) = p(A⁻¹ z) |det D A⁻¹(z)|`` (:func:`pushforward`).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import sympy as sp
from sympy.core.function import AppliedUndef

Vars = tuple[sp.Symbol, ...]


# --------------------------------------------------------------------------- Definition 5.1

def _weights(k: int, weights: Sequence[sp.Expr] | None) -> list[sp.Expr]:
    if weights is None:
        return [sp.Integer(1)] * k
    if len(weights) != k:
        raise ValueError(f"weights has length {len(weights)} but there are {k} conditionals")
    return [sp.sympify(w) for w in weights]


def composition(
    p_b: sp.Expr, ps: Sequence[sp.Expr], weights: Sequence[sp.Expr] | None = None
) -> sp.Expr:
    """Unnormalized ``C_w[p⃗] = p_b · Π_i (p_i / p_b)^{w_i}`` (Definition 5.1; ``w_i = 1``: C).

    The normalized composition is this divided by ``Z = ∫ C_w``, defined when ``Z < ∞``.
    """
    ws = _weights(len(ps), weights)
    return p_b * sp.Mul(*[(p / p_b) ** w for p, w in zip(ps, ws, strict=True)])


def log_composition(
    log_p_b: sp.Expr, log_ps: Sequence[sp.Expr], weights: Sequence[sp.Expr] | None = None
) -> sp.Expr:
    """``log C_w[p⃗] + log Z = log p_b + Σ_i w_i (log p_i − log p_b)`` (Definition 5.1).

    Its gradient is the combined score ``∇log p_b + Σ w_i (∇log p_i − ∇log p_b)``.
    """
    ws = _weights(len(log_ps), weights)
    return log_p_b + sp.Add(*[w * (lp - log_p_b) for lp, w in zip(log_ps, ws, strict=True)])


def simple_product(ps: Sequence[sp.Expr]) -> sp.Expr:
    """Unnormalized simple product ``Π_i p_i`` (THEORY.md §1)."""
    return sp.Mul(*ps)


# --------------------------------------------------------------------------- pushforward

def jacobian_determinant(map_exprs: Sequence[sp.Expr], variables: Sequence[sp.Symbol]) -> sp.Expr:
    """``det D f(z)`` of the map ``z ↦ f(z)`` given by ``map_exprs`` in ``variables``."""
    if len(map_exprs) != len(variables):
        raise ValueError(f"map has {len(map_exprs)} components but {len(variables)} variables")
    return sp.Matrix(list(map_exprs)).jacobian(list(variables)).det()


def pushforward(
    density: sp.Expr,
    x_vars: Sequence[sp.Symbol],
    inverse_map: Sequence[sp.Expr],
    z_vars: Sequence[sp.Symbol],
) -> sp.Expr:
    """Density of ``A♯p`` at ``z``: ``p(A⁻¹ z) · |det D A⁻¹(z)|`` (change of variables).

    ``density`` is ``p`` in the variables ``x_vars``; ``inverse_map`` gives ``x = A⁻¹(z)`` as
    expressions in ``z_vars``. The log-Jacobian enters here, in one place.
    """
    if len(x_vars) != len(inverse_map):
        raise ValueError(f"x_vars has {len(x_vars)} entries but inverse_map {len(inverse_map)}")
    moved = density.subs(dict(zip(x_vars, inverse_map, strict=True)), simultaneous=True)
    return moved * sp.Abs(jacobian_determinant(inverse_map, z_vars))


# --------------------------------------------------------------------------- Definition 5.2

@dataclass(frozen=True)
class FactorizedConditionals:
    """A family ``p⃗ = (p_b, p_1..p_k)`` with Factorized Conditionals (Definition 5.2).

    With the partition ``{coordinates} = M_b ⊔ M_1 ⊔ … ⊔ M_k``::

        p_b(x) = q_b(x|M_b) · Π_j q_j(x|M_j)
        p_i(x) = r_i(x|M_i) · q_b(x|M_b) · Π_{j≠i} q_j(x|M_j)

    i.e. conditional ``i`` is the background with block ``M_i`` replaced by ``r_i``. Every
    factor is a normalized density on its block (declared in :attr:`normalized_factors`).

    Attributes:
        background_block: the variables of ``M_b`` (may be empty; then ``q_b`` is ``None``).
        blocks: the variables of ``M_1..M_k``.
        q_b, q, r: undefined (positive) functions: background factors and replacements.
    """

    background_block: Vars
    blocks: tuple[Vars, ...]
    q_b: Any
    q: tuple[Any, ...]
    r: tuple[Any, ...]

    def __post_init__(self) -> None:
        k = len(self.blocks)
        if len(self.q) != k or len(self.r) != k:
            raise ValueError(f"q and r must have k = {k} entries, got {len(self.q)}, "
                             f"{len(self.r)}")
        if (self.q_b is None) != (len(self.background_block) == 0):
            raise ValueError("q_b must be None exactly when background_block is empty")
        flat = list(self.background_block) + [v for b in self.blocks for v in b]
        if len(set(flat)) != len(flat):
            raise ValueError(f"blocks must be disjoint, got {flat}")

    @property
    def k(self) -> int:
        """Number of conditionals."""
        return len(self.blocks)

    @property
    def variables(self) -> Vars:
        """All coordinates, ``M_b`` first, then ``M_1..M_k``."""
        return tuple(self.background_block) + tuple(v for b in self.blocks for v in b)

    def _qb(self) -> sp.Expr:
        return self.q_b(*self.background_block) if self.q_b is not None else sp.Integer(1)

    def background_factor(self, j: int) -> sp.Expr:
        """``q_j(x|M_j)``, the background's factor on block ``j`` (0-based)."""
        return self.q[j](*self.blocks[j])

    def replacement_factor(self, i: int) -> sp.Expr:
        """``r_i(x|M_i)``, conditional ``i``'s factor on its own block (0-based)."""
        return self.r[i](*self.blocks[i])

    @property
    def background(self) -> sp.Expr:
        """``p_b(x) = q_b(x|M_b) Π_j q_j(x|M_j)``."""
        return self._qb() * sp.Mul(*[self.background_factor(j) for j in range(self.k)])

    def conditional(self, i: int) -> sp.Expr:
        """``p_i(x) = r_i(x|M_i) q_b(x|M_b) Π_{j≠i} q_j(x|M_j)`` (0-based ``i``)."""
        others = [self.background_factor(j) for j in range(self.k) if j != i]
        return self.replacement_factor(i) * self._qb() * sp.Mul(*others)

    @property
    def conditionals(self) -> list[sp.Expr]:
        """``[p_1, …, p_k]``."""
        return [self.conditional(i) for i in range(self.k)]

    @property
    def normalized_factors(self) -> frozenset[Any]:
        """The factor functions, each a normalized density on its own block."""
        base = {self.q_b} if self.q_b is not None else set()
        return frozenset(base | set(self.q) | set(self.r))

    def product_form(self) -> sp.Expr:
        """``q_b(x|M_b) Π_i r_i(x|M_i)``: the claimed ``C[p⃗]`` of Theorem 5.3 (C1)."""
        return self._qb() * sp.Mul(*[self.replacement_factor(i) for i in range(self.k)])


def factorized_conditionals(
    k: int, *, block_sizes: Sequence[int] | None = None, background_size: int = 1
) -> FactorizedConditionals:
    """A generic FC family with ``k`` conditionals and undefined positive factor functions.

    Args:
        k: number of conditionals, ``k >= 1``.
        block_sizes: sizes of ``M_1..M_k``; ``None`` means all 1.
        background_size: size of ``M_b`` (``0`` for an empty ``M_b``).
    """
    if k < 1:
        raise ValueError(f"k must be >= 1, got {k}")
    sizes = [1] * k if block_sizes is None else list(block_sizes)
    if len(sizes) != k or any(n < 1 for n in sizes):
        raise ValueError(f"block_sizes must be k = {k} positive ints, got {block_sizes}")
    if background_size < 0:
        raise ValueError(f"background_size must be >= 0, got {background_size}")
    mb = tuple(sp.symbols(f"x_b0:{background_size}", real=True)) if background_size else ()
    blocks = tuple(tuple(sp.symbols(f"x_{i + 1}_0:{n}", real=True)) for i, n in enumerate(sizes))
    q_b = sp.Function("q_b", positive=True) if background_size else None
    q = tuple(sp.Function(f"q_{i + 1}", positive=True) for i in range(k))
    r = tuple(sp.Function(f"r_{i + 1}", positive=True) for i in range(k))
    return FactorizedConditionals(mb, blocks, q_b, q, r)


# --------------------------------------------------------------------------- Definition 4.1

def block_marginal(
    density: sp.Expr,
    keep: Sequence[sp.Symbol],
    normalized: frozenset[Any],
    coordinates: Sequence[sp.Symbol] | None = None,
) -> sp.Expr:
    """Marginal of a product-form density on the coordinates ``keep``.

    ``density`` must be a product whose factors each depend only on ``keep`` or only on the
    other coordinates. Factors of the second kind must be applications of functions in
    ``normalized`` (normalized densities on disjoint blocks), which integrate to 1 (Fubini).
    ``coordinates`` are the integration variables (default: every free symbol of
    ``density``); other symbols are parameters. Raises ``NotImplementedError`` for any other
    shape.
    """
    keep_set = set(keep)
    coords = set(density.free_symbols if coordinates is None else coordinates) | keep_set
    kept: list[sp.Expr] = []
    for factor in sp.Mul.make_args(sp.powsimp(density)):
        fs = factor.free_symbols & coords
        if fs <= keep_set:
            kept.append(factor)
        elif fs & keep_set:
            raise NotImplementedError(f"factor {factor} mixes kept and integrated coordinates")
        elif not (isinstance(factor, AppliedUndef) and factor.func in normalized):
            raise NotImplementedError(f"cannot integrate factor {factor} in closed form")
    return sp.Mul(*kept)


def projective_composition_equations(
    p_hat: sp.Expr,
    ps: Sequence[sp.Expr],
    blocks: Sequence[Sequence[sp.Symbol]],
    normalized: frozenset[Any],
) -> list[sp.Equality]:
    """Definition 4.1 with coordinate projections ``Π_i(x) = x|M_i``: ``Π_i♯p̂ = Π_i♯p_i``.

    Returns the unevaluated equations ``Eq(marginal of p̂ on M_i, marginal of p_i on M_i)``
    (marginals by :func:`block_marginal`); ``p̂`` is a projective composition iff all hold.
    """
    if len(ps) != len(blocks):
        raise ValueError(f"{len(ps)} densities but {len(blocks)} blocks")
    return [
        sp.Eq(block_marginal(p_hat, b, normalized), block_marginal(p, b, normalized),
              evaluate=False)
        for p, b in zip(ps, blocks, strict=True)
    ]
