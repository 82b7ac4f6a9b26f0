"""Evidence for symbolic claims: exact proof, exact refutation, or an honest "undecided".

Tiers of evidence (STYLE.md, "Symbolic proofs — like SymPy"):

1. exact structural equality of ``lhs`` and ``rhs`` after sympy's automatic evaluation;
2. ``lhs - rhs`` rewritten *exactly* to ``0`` by one of ``expand``, ``cancel``, ``powsimp``,
   ``expand_log(force=True)``, ``logcombine(force=True)``, ``trigsimp`` or ``simplify``;
3. otherwise the claim is **undecided** — never "proved" — and a seeded numeric check at
   random points (symbols drawn respecting their assumptions, undefined functions replaced by
   random smooth positive functions) is recorded in ``numeric_check``.

A refutation is exact: ``lhs - rhs`` is evaluated at one explicit point (rational values,
concrete functions) and shown to be a nonzero number.

Only ``sympy`` and the standard library are used here (the numeric fallback draws with
:mod:`random` and evaluates with sympy's own ``evalf``).
"""

from __future__ import annotations

import random
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from typing import Any, Literal

import sympy as sp
import sympy.core.random as sympy_random
from sympy.core.function import AppliedUndef

Status = Literal["proved", "refuted", "undecided"]

#: Number of random points of the numeric fallback.
DEFAULT_NUMERIC_POINTS = 20
#: Working precision (decimal digits) of the numeric fallback.
NUMERIC_DIGITS = 30


@dataclass(frozen=True)
class SymbolicResult:
    """Outcome of one symbolic check of a THEORY.md claim.

    Attributes:
        claim: THEORY.md claim ID (``"C1"`` ... ``"C16"``) or a definition label.
        statement: the mathematical statement that was checked, in words and formulas.
        status: ``"proved"`` (exact rewriting to 0 or an exact solution set),
            ``"refuted"`` (exact nonzero value at an explicit point) or ``"undecided"``.
        detail: which tier settled it, or the exact counter-example value.
        numeric_check: for ``"undecided"`` only, what the seeded numeric fallback found.
        numeric_max_abs: the largest ``|lhs - rhs|`` seen by the numeric fallback.
        solution: an exact sympy object the check produced (e.g. a vanishing set), if any.
        label: a short stable key for reports and tests.
    """

    claim: str
    statement: str
    status: Status
    detail: str
    numeric_check: str | None = None
    numeric_max_abs: float | None = None
    solution: Any = None
    label: str = ""

    def __str__(self) -> str:
        head = f"[{self.claim}] {self.status.upper():9s} {self.label or self.statement}"
        return head + (f"  ({self.numeric_check})" if self.numeric_check else "")


# --------------------------------------------------------------------------- rewriting tiers

def _trigsimp(e: sp.Expr) -> sp.Expr:
    return sp.trigsimp(sp.expand_trig(e))


_REWRITES: tuple[tuple[str, Callable[[sp.Expr], sp.Expr]], ...] = (
    ("expand", sp.expand),
    ("cancel", sp.cancel),
    ("powsimp", lambda e: sp.powsimp(sp.expand(e), force=True)),
    ("expand_log(force=True)", lambda e: sp.expand(sp.expand_log(e, force=True))),
    ("logcombine(force=True)", lambda e: sp.logcombine(sp.expand(e), force=True)),
    ("trigsimp", _trigsimp),
    ("simplify", sp.simplify),
)


def _rewrite_to_zero(diff: sp.Expr) -> str | None:
    """Name of the first rewriting that turns ``diff`` into exactly ``0``, else ``None``."""
    for name, rewrite in _REWRITES:
        try:
            if rewrite(diff) == 0:
                return name
        except (TypeError, ValueError, NotImplementedError, RecursionError):
            continue
    return None


# --------------------------------------------------------------------------- numeric fallback

def _draw_symbol(sym: sp.Symbol, rng: random.Random) -> sp.Number:
    """A random value for ``sym`` that respects its assumptions."""
    if sym.is_integer:
        if sym.is_positive:
            return sp.Integer(rng.randint(1, 5))
        if sym.is_nonnegative:
            return sp.Integer(rng.randint(0, 5))
        if sym.is_negative:
            return sp.Integer(-rng.randint(1, 5))
        return sp.Integer(rng.randint(-5, 5))
    magnitude = rng.uniform(0.2, 3.0)
    if sym.is_positive:
        return sp.Float(magnitude, NUMERIC_DIGITS)
    if sym.is_negative:
        return sp.Float(-magnitude, NUMERIC_DIGITS)
    if sym.is_nonnegative:
        return sp.Float(rng.uniform(0.0, 3.0), NUMERIC_DIGITS)
    if sym.is_nonpositive:
        return sp.Float(-rng.uniform(0.0, 3.0), NUMERIC_DIGITS)
    # real, nonzero or unrestricted: a real value of either sign, bounded away from 0
    return sp.Float(rng.choice((-1, 1)) * magnitude, NUMERIC_DIGITS)


def _random_function(func: Any, nargs: int, rng: random.Random) -> sp.Lambda:
    """A smooth positive stand-in ``u ↦ exp(c0 + Σ c_k u_k − Σ d_k u_k²)`` for ``func``."""
    args = sp.symbols(f"_u0:{nargs}", real=True)
    c0 = sp.Float(rng.uniform(-1.0, 1.0), NUMERIC_DIGITS)
    lin = sum(sp.Float(rng.uniform(-1.0, 1.0), NUMERIC_DIGITS) * u for u in args)
    quad = sum(sp.Float(rng.uniform(0.1, 1.0), NUMERIC_DIGITS) * u**2 for u in args)
    return sp.Lambda(args, sp.exp(c0 + lin - quad))


def _undefined_functions(expr: sp.Expr) -> dict[Any, int]:
    return {app.func: len(app.args) for app in expr.atoms(AppliedUndef)}


def _reseed_sympy() -> None:
    """Seed sympy's own random generator (used by multivariate factoring, inside
    ``simplify`` and ``solveset``): unseeded, an unlucky draw once ran for minutes, and
    the evidence must not depend on the process."""
    sympy_random.seed(0)


def numeric_check(
    diff: sp.Expr,
    *,
    seed: int = 0,
    n_points: int = DEFAULT_NUMERIC_POINTS,
    symbols: Iterable[sp.Symbol] | None = None,
) -> tuple[str, float]:
    """Seeded numeric evaluation of ``|diff|`` at ``n_points`` random points.

    Symbols (``symbols`` plus every other free symbol of ``diff``) are drawn respecting their
    assumptions; undefined functions are replaced, per point, by random smooth positive
    functions (so derivatives of them evaluate after ``doit``). Points where the expression is
    not a finite number are skipped and counted. Returns ``(summary, max_abs)``.
    """
    if n_points < 1:
        raise ValueError(f"n_points must be >= 1, got {n_points}")
    rng = random.Random(seed)
    syms = sorted(set(symbols or ()) | diff.free_symbols, key=str)
    funcs = _undefined_functions(diff)
    values: list[float] = []
    skipped = 0
    attempts = 0
    while len(values) < n_points and attempts < 5 * n_points:
        attempts += 1
        e = diff
        for func, nargs in sorted(funcs.items(), key=lambda kv: str(kv[0])):
            e = e.subs(func, _random_function(func, nargs, rng))
        e = e.doit()
        point = {s: _draw_symbol(s, rng) for s in syms}
        try:
            val = sp.N(e.subs(point), NUMERIC_DIGITS)
            mag = abs(complex(val))
        except (TypeError, ValueError, ZeroDivisionError):
            skipped += 1
            continue
        if mag != mag or mag == float("inf"):
            skipped += 1
            continue
        values.append(mag)
    if not values:
        return (f"no finite value at {attempts} random points (seed {seed})", float("nan"))
    worst = max(values)
    msg = f"max |lhs−rhs| = {worst:.3g} at {len(values)} random points (seed {seed})"
    if skipped:
        msg += f", {skipped} points skipped (not finite)"
    return msg, worst


# --------------------------------------------------------------------------- public helpers

def prove_identity(
    lhs: sp.Expr,
    rhs: sp.Expr,
    *,
    claim: str,
    statement: str,
    symbols: Iterable[sp.Symbol] | None = None,
    seed: int = 0,
    n_points: int = DEFAULT_NUMERIC_POINTS,
    label: str = "",
) -> SymbolicResult:
    """Try to prove ``lhs == rhs`` identically, by the tiers of this module's docstring.

    ``"proved"`` only when the two sides are structurally equal or ``lhs - rhs`` rewrites
    exactly to ``0``; otherwise ``"undecided"`` with the seeded numeric check (``symbols``
    are drawn first; every other free symbol is drawn too). Never returns ``"refuted"``:
    use :func:`refute_identity` with an explicit point for that.
    """
    _reseed_sympy()
    lhs, rhs = sp.sympify(lhs), sp.sympify(rhs)
    if lhs == rhs:
        return SymbolicResult(claim, statement, "proved", "exact structural equality",
                              label=label)
    diff = lhs - rhs
    if diff == 0:
        return SymbolicResult(claim, statement, "proved",
                              "lhs − rhs == 0 after automatic evaluation", label=label)
    tier = _rewrite_to_zero(diff)
    if tier is not None:
        return SymbolicResult(claim, statement, "proved", f"{tier}(lhs − rhs) == 0",
                              label=label)
    msg, worst = numeric_check(diff, seed=seed, n_points=n_points, symbols=symbols)
    return SymbolicResult(claim, statement, "undecided",
                          "no rewriting reduced lhs − rhs to 0; sympy cannot decide",
                          numeric_check=msg, numeric_max_abs=worst, label=label)


def prove_matrix_identity(
    lhs: sp.MatrixBase,
    rhs: sp.MatrixBase,
    *,
    claim: str,
    statement: str,
    seed: int = 0,
    label: str = "",
) -> SymbolicResult:
    """Entrywise :func:`prove_identity`; ``"proved"`` only if every entry is proved."""
    _reseed_sympy()
    if lhs.shape != rhs.shape:
        raise ValueError(f"lhs has shape {lhs.shape} but rhs has shape {rhs.shape}")
    results = [
        prove_identity(lhs[i, j], rhs[i, j], claim=claim, statement=statement, seed=seed)
        for i in range(lhs.rows) for j in range(lhs.cols)
    ]
    open_ = [r for r in results if r.status != "proved"]
    if not open_:
        tiers = sorted({r.detail for r in results})
        return SymbolicResult(claim, statement, "proved",
                              f"all {len(results)} entries: " + "; ".join(tiers), label=label)
    worst = max(r.numeric_max_abs or 0.0 for r in open_)
    return SymbolicResult(claim, statement, "undecided",
                          f"{len(open_)} of {len(results)} entries undecided",
                          numeric_check="; ".join(r.numeric_check or "" for r in open_),
                          numeric_max_abs=worst, label=label)


def refute_identity(
    lhs: sp.Expr,
    rhs: sp.Expr,
    at: Mapping[Any, Any],
    *,
    claim: str,
    statement: str,
    label: str = "",
) -> SymbolicResult:
    """Refute ``lhs == rhs`` by exact evaluation at the point ``at``.

    ``at`` maps symbols to exact values (and may map undefined functions to ``Lambda``\\ s).
    ``"refuted"`` when ``lhs − rhs`` at ``at`` is provably nonzero (``is_zero is False``
    after ``simplify``); ``"undecided"`` when the point does not separate the two sides or
    sympy cannot decide the sign — the identity is then *not* refuted by this point.
    """
    _reseed_sympy()
    diff = sp.sympify(lhs) - sp.sympify(rhs)
    value = diff
    for key, val in at.items():
        value = value.subs(key, val)
    value = sp.simplify(value.doit())
    where = ", ".join(f"{k} = {v}" for k, v in at.items())
    if value.free_symbols:
        raise ValueError(f"`at` leaves free symbols {sorted(map(str, value.free_symbols))}")
    if value.is_zero is False:
        return SymbolicResult(claim, statement, "refuted",
                              f"lhs − rhs = {value} ≠ 0 (≈ {sp.N(value, 6)}) at {where}",
                              solution=value, label=label)
    if value.is_zero:
        return SymbolicResult(claim, statement, "undecided",
                              f"lhs − rhs = 0 at {where}: this point does not refute",
                              label=label)
    return SymbolicResult(claim, statement, "undecided",
                          f"sympy cannot decide whether {value} is 0 at {where}",
                          numeric_check=f"|lhs−rhs| ≈ {sp.N(abs(value), 6)} at {where}",
                          label=label)


def refute_matrix_identity(
    lhs: sp.MatrixBase,
    rhs: sp.MatrixBase,
    at: Mapping[Any, Any],
    *,
    claim: str,
    statement: str,
    label: str = "",
    where: str | None = None,
) -> SymbolicResult:
    """Refute ``lhs == rhs`` (matrices) by an exactly nonzero entry of ``lhs − rhs`` at ``at``.

    ``where`` describes the point when the values were substituted before the call (then
    ``at`` may be empty); by default it lists ``at``.
    """
    _reseed_sympy()
    if lhs.shape != rhs.shape:
        raise ValueError(f"lhs has shape {lhs.shape} but rhs has shape {rhs.shape}")
    diff = sp.simplify((lhs - rhs).subs(dict(at)))
    if diff.free_symbols:
        raise ValueError(f"`at` leaves free symbols {sorted(map(str, diff.free_symbols))}")
    if where is None:
        where = ", ".join(f"{k} = {v}" for k, v in at.items())
    nonzero = [(i, j) for i in range(diff.rows) for j in range(diff.cols)
               if diff[i, j].is_zero is False]
    if nonzero:
        i, j = nonzero[0]
        return SymbolicResult(claim, statement, "refuted",
                              f"(lhs − rhs)[{i},{j}] = {diff[i, j]} ≠ 0 at {where}; "
                              f"lhs − rhs = {diff.tolist()}",
                              solution=diff, label=label)
    return SymbolicResult(claim, statement, "undecided",
                          f"no entry of lhs − rhs = {diff.tolist()} is provably nonzero at "
                          f"{where}", label=label)


def solution_set_result(
    expr: sp.Expr,
    var: sp.Symbol,
    expected: sp.Set,
    *,
    claim: str,
    statement: str,
    domain: sp.Set = sp.S.Reals,
    label: str = "",
) -> SymbolicResult:
    """Compute ``{var ∈ domain : expr = 0}`` exactly with ``solveset`` and compare it.

    ``"proved"`` when the set equals ``expected``; ``"refuted"`` when it is a different
    explicit set; ``"undecided"`` when ``solveset`` returns a ``ConditionSet`` (cannot solve).
    """
    _reseed_sympy()
    sol = sp.solveset(sp.factor(expr), var, domain)
    if isinstance(sol, sp.ConditionSet):
        return SymbolicResult(claim, statement, "undecided", f"solveset gave {sol}",
                              solution=sol, label=label)
    status: Status = "proved" if sol == expected else "refuted"
    return SymbolicResult(claim, statement, status,
                          f"solveset({sp.factor(expr)} = 0, {var}, {domain}) = {sol}",
                          solution=sol, label=label)
