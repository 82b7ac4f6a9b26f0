"""Symbolic checks of THEORY.md claims C1, C2, C4, C5, C7–C10, C14 (sympy only).

Every function returns :class:`~theory.evidence.SymbolicResult`\\ s. Positive claims must come
out ``"proved"`` (exact rewriting to 0, or an exact solution set); negative claims
``"refuted"`` (an exactly nonzero value at an explicit point). ``"undecided"`` is reported as
such, never rounded to either.

Conventions: densities are unnormalized sympy expressions; Gaussian densities are compared
through log-densities or natural parameters ``(Λ, η) = (Σ⁻¹, Σ⁻¹μ)``, which determine the
Gaussian. The forward process is ``x_t = a x + s ε`` with symbols ``a, s > 0`` (VP: a²+s²=1,
VE: a=1 are special cases, so every identity proved for free ``a, s`` covers both).
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence

import sympy as sp

from theory.definitions import (
    block_marginal,
    composition,
    factorized_conditionals,
    log_composition,
    projective_composition_equations,
    pushforward,
    simple_product,
)
from theory.evidence import (
    SymbolicResult,
    prove_identity,
    prove_matrix_identity,
    refute_identity,
    refute_matrix_identity,
    solution_set_result,
)
from theory.gaussians import Gaussian, compose_natural, inverse, normal_logpdf, normal_pdf

A_T, S_T = sp.symbols("a s", positive=True)  # forward process x_t = a x + s ε


def _same_gaussian(lam_l: sp.Matrix, eta_l: sp.Matrix, lam_r: sp.Matrix, eta_r: sp.Matrix,
                   *, claim: str, statement: str, label: str) -> SymbolicResult:
    """Two Gaussians (natural parameters: precision ``Λ``, natural mean ``η = Λμ``) are equal
    iff both parameters are: one result for the pair of matrix identities."""
    return _combine([prove_matrix_identity(lam_l, lam_r, claim=claim, statement="precisions"),
                     prove_matrix_identity(eta_l, eta_r, claim=claim,
                                           statement="natural means")],
                    claim=claim, statement=statement, label=label)


def _combine(results: Sequence[SymbolicResult], *, claim: str, statement: str,
             label: str) -> SymbolicResult:
    """One result that is ``proved`` iff every part is (else the first non-proved status)."""
    open_ = [r for r in results if r.status != "proved"]
    if not open_:
        return SymbolicResult(claim, statement, "proved",
                              f"{len(results)} parts proved: "
                              + "; ".join(sorted({r.detail for r in results})), label=label)
    first = open_[0]
    return SymbolicResult(claim, statement, first.status,
                          f"{len(open_)} of {len(results)} parts not proved; first: "
                          f"{first.statement}: {first.detail}",
                          numeric_check=first.numeric_check,
                          numeric_max_abs=first.numeric_max_abs, label=label)


def _rotation(theta: sp.Expr) -> sp.Matrix:
    return sp.Matrix([[sp.cos(theta), -sp.sin(theta)], [sp.sin(theta), sp.cos(theta)]])


def _cancel_matrix(m: sp.MatrixBase) -> sp.Matrix:
    return m.applyfunc(sp.cancel)


# =========================================================================== lemmas

def gaussian_integral_lemma() -> SymbolicResult:
    """Lemma used by C1/C2: ``∫ exp(−A x² + B x) dx = sqrt(π/A) exp(B²/(4A))``, ``A > 0``."""
    x, b = sp.symbols("x B", real=True)
    a = sp.Symbol("A", positive=True)
    lhs = sp.integrate(sp.exp(-a * x**2 + b * x), (x, -sp.oo, sp.oo))
    rhs = sp.sqrt(sp.pi / a) * sp.exp(b**2 / (4 * a))
    return prove_identity(lhs, rhs, claim="C2", label="lemma.gaussian_integral",
                          statement="∫_R exp(−A x² + B x) dx = sqrt(π/A)·exp(B²/(4A)), A > 0")


def gaussian_noising_lemma() -> SymbolicResult:
    """Lemma for C2: ``N_t[N(m, v)] = N(a m, a² v + s²)`` in 1-D.

    ``log ∫ N(x; m, v) N(y; a x, s²) dx`` is computed from the exponent's coefficients
    ``−A x² + B x + C`` with :func:`gaussian_integral_lemma` as ``C + B²/(4A) + ½log(π/A)``.
    """
    x, y, m = sp.symbols("x y m", real=True)
    v = sp.Symbol("v", positive=True)
    a, s = A_T, S_T
    exponent = sp.expand(normal_logpdf(x, m, v) + normal_logpdf(y, a * x, s**2))
    poly = sp.Poly(exponent, x)
    big_a, big_b, big_c = -poly.coeff_monomial(x**2), poly.coeff_monomial(x), poly.coeff_monomial(1)
    log_conv = big_c + big_b**2 / (4 * big_a) + sp.log(sp.pi / big_a) / 2
    return prove_identity(log_conv, normal_logpdf(y, a * m, a**2 * v + s**2), claim="C2",
                          label="lemma.gaussian_noising",
                          statement="log ∫ N(x; m, v)·N(y; a x, s²) dx = log N(y; a m, a² v + s²)")


def gaussian_composition_lemma() -> SymbolicResult:
    """Definition 5.1 for Gaussians (used by C7–C9, C14): ``C_w`` of Gaussians is Gaussian.

    In 2-D with symbolic precisions ``Λ_b, Λ_1, Λ_2``, means and weights ``w_1, w_2``: the
    combined score ``∇log p_b + Σ w_i (∇log p_i − ∇log p_b)`` equals the score of
    ``N(Λ⁻¹η, Λ⁻¹)`` with ``Λ = Σ w_iΛ_i + (1−Σw_i)Λ_b``, ``η = Σ w_iΛ_iμ_i + (1−Σw_i)Λ_bμ_b``.
    """
    x = sp.Matrix(sp.symbols("x0:2", real=True))
    ws = sp.symbols("w1:3", real=True)
    lams, mus = [], []
    for tag in ("b", "1", "2"):
        p, q = sp.symbols(f"P{tag} R{tag}", positive=True)
        o = sp.Symbol(f"O{tag}", real=True)
        lams.append(sp.Matrix([[p, o], [o, q]]))
        mus.append(sp.Matrix(sp.symbols(f"mu{tag}_0:2", real=True)))

    def quad(lam: sp.Matrix, mu: sp.Matrix) -> sp.Expr:  # log-density up to a constant
        d = x - mu
        return -(d.T * lam * d)[0, 0] / 2

    lhs = log_composition(quad(lams[0], mus[0]),
                          [quad(lams[1], mus[1]), quad(lams[2], mus[2])], ws)
    rest = 1 - sum(ws)
    lam = rest * lams[0] + ws[0] * lams[1] + ws[1] * lams[2]
    eta = rest * lams[0] * mus[0] + ws[0] * lams[1] * mus[1] + ws[1] * lams[2] * mus[2]
    mean = inverse(lam) * eta
    rhs = quad(lam, mean)
    grad_l = sp.Matrix([sp.diff(lhs, xi) for xi in x])
    grad_r = sp.Matrix([sp.diff(rhs, xi) for xi in x])
    return prove_matrix_identity(grad_l, grad_r, claim="C2", label="lemma.gaussian_composition",
                                 statement="∇log C_w[N(μ_b,Λ_b⁻¹), N(μ_i,Λ_i⁻¹)] = "
                                           "∇log N(Λ⁻¹η, Λ⁻¹), Λ = Σw_iΛ_i + (1−Σw_i)Λ_b")


# =========================================================================== C1

def c1_product_form(ks: Sequence[int] = (1, 2, 3, 4)) -> list[SymbolicResult]:
    """C1 (Theorem 5.3): under FC, ``C[p⃗] = q_b(x|M_b) Π_i r_i(x|M_i)`` and is projective.

    For generic (undefined) factor densities and each ``k``: (a) the product form holds as an
    identity; (b) Definition 4.1 holds for ``Π_i(x) = x|M_i`` — the marginal of ``C[p⃗]`` on
    ``M_i`` is ``r_i``, that of ``p_i`` — and the ``M_b`` marginal is the background's ``q_b``
    (marginals of products of normalized factors on disjoint blocks, by Fubini). ``k = 2``
    uses a 2-D block ``M_1``.
    """
    out: list[SymbolicResult] = []
    for k in ks:
        sizes = [2 if (k == 2 and i == 0) else 1 for i in range(k)]
        fam = factorized_conditionals(k, block_sizes=sizes)
        c = composition(fam.background, fam.conditionals)
        out.append(prove_identity(c, fam.product_form(), claim="C1",
                                  label=f"C1.product_form.k{k}",
                                  statement=f"k={k}: p_b Π_i (p_i/p_b) = q_b(x|M_b) Π_i "
                                            "r_i(x|M_i) for FC factors"))
        eqs = projective_composition_equations(c, fam.conditionals, fam.blocks,
                                               fam.normalized_factors)
        parts = [prove_identity(e.lhs, e.rhs, claim="C1", statement=f"Π_{i + 1}♯C = Π_{i + 1}♯p")
                 for i, e in enumerate(eqs)]
        parts.append(prove_identity(
            block_marginal(c, fam.background_block, fam.normalized_factors),
            block_marginal(fam.background, fam.background_block, fam.normalized_factors),
            claim="C1", statement="M_b marginal of C equals that of p_b"))
        out.append(_combine(parts, claim="C1", label=f"C1.projective.k{k}",
                            statement=f"k={k}: Definition 4.1 holds: Π_i♯C[p⃗] = Π_i♯p_i "
                                      "(Π_i = x|M_i) and x|M_b keeps p_b's law"))
    return out


def _independent_gaussian_params(
    log_density: sp.Expr, xs: Sequence[sp.Symbol]
) -> list[tuple[sp.Expr, sp.Expr]]:
    """Read ``(mean_j, var_j)`` off a log-density that is quadratic in ``xs``.

    Raises ``ValueError`` unless ``log_density`` is a polynomial of degree ≤ 2 in ``xs``
    without cross terms ``x_i x_j`` (i.e. the coordinates are independent Gaussians);
    ``var_j = −1/(2·[x_j²])``, ``mean_j = var_j·[x_j]``.
    """
    poly = sp.Poly(sp.expand(log_density), *xs)
    for monom, coeff in poly.terms():
        if sum(monom) > 2 or (sum(monom) == 2 and max(monom) == 1):
            if sp.simplify(coeff) != 0:
                raise ValueError(f"term {coeff}·{monom} is not of independent-Gaussian form")
    params = []
    for j in range(len(xs)):
        sq = [0] * len(xs)
        sq[j] = 2
        lin = [0] * len(xs)
        lin[j] = 1
        var = sp.cancel(-1 / (2 * poly.coeff_monomial(tuple(sq))))
        params.append((sp.cancel(var * poly.coeff_monomial(tuple(lin))), var))
    return params


def c1_gaussian_normalization() -> SymbolicResult:
    """C1, ``Z = 1``, for 1-D Gaussian blocks (k = 2, ``M_b = {x_0}``).

    The block parameters of ``log C[p⃗]`` are read off its quadratic form (no cross terms:
    independent coordinates) and are ``(m_0, v_0), (μ_1, w_1), (μ_2, w_2)``; ``log C[p⃗]``
    equals the sum of the *normalized* block log-densities exactly (constants included), and
    ``∫ N(x; m, v) dx = 1`` (sympy integration), so ``Z = 1`` by Fubini.
    """
    x, m = sp.symbols("x m", real=True)
    v = sp.Symbol("v", positive=True)
    unit = prove_identity(sp.integrate(normal_pdf(x, m, v), (x, -sp.oo, sp.oo)), 1,
                          claim="C1", statement="∫ N(x; m, v) dx = 1")
    fam = _gaussian_fc_logs(2)
    logc = log_composition(fam["log_b"], fam["log_c"])
    params = _independent_gaussian_params(logc, fam["x"])
    expected = fam["params_product_form"]
    parts = [unit]
    for (mean, var), (mean_e, var_e) in zip(params, expected, strict=True):
        parts.append(prove_identity(mean, mean_e, claim="C1", statement="block mean"))
        parts.append(prove_identity(var, var_e, claim="C1", statement="block variance"))
    normalized = sum(normal_logpdf(xj, mj, vj) for xj, (mj, vj) in zip(fam["x"], params,
                                                                          strict=True))
    parts.append(prove_identity(logc, normalized, claim="C1",
                                statement="log C[p⃗] = Σ_j log N(x_j; mean_j, var_j)"))
    return _combine(parts, claim="C1", label="C1.gaussian_Z_equals_1",
                    statement="Gaussian FC blocks: C[p⃗] = N(m_0,v_0)N(μ_1,w_1)N(μ_2,w_2) "
                              "exactly, Z = 1")


# =========================================================================== C2

def _gaussian_fc_logs(k: int, a: sp.Expr = 1, s: sp.Expr = 0) -> dict[str, object]:
    """Log-densities of a 1-D-block Gaussian FC family (``M_b = {x_0}``, ``M_i = {x_i}``).

    Background ``N(m_j, v_j)`` on every block ``j = 0..k``; conditional ``i`` replaces block
    ``i`` by ``N(μ_i, w_i)``. Noised by ``x_t = a x + s ε`` (independent across coordinates,
    hence still FC): each block becomes ``N(a·mean, a²·var + s²)`` (gaussian_noising_lemma).
    """
    xs = sp.symbols(f"x0:{k + 1}", real=True)
    ms = sp.symbols(f"m0:{k + 1}", real=True)
    vs = sp.symbols(f"v0:{k + 1}", positive=True)
    mus = (None, *sp.symbols(f"mu1:{k + 1}", real=True))
    ws = (None, *sp.symbols(f"w1:{k + 1}", positive=True))

    def block(j: int, mean: sp.Expr, var: sp.Expr) -> sp.Expr:
        return normal_logpdf(xs[j], a * mean, a**2 * var + s**2)

    log_b = sum(block(j, ms[j], vs[j]) for j in range(k + 1))
    log_c = [log_b - block(i, ms[i], vs[i]) + block(i, mus[i], ws[i]) for i in range(1, k + 1)]
    params = [(ms[0], vs[0])] + [(mus[i], ws[i]) for i in range(1, k + 1)]
    return {"log_b": log_b, "log_c": log_c, "x": xs, "params_product_form": params}


def c2_noise_commutes_gaussian_fc(ks: Sequence[int] = (2, 3)) -> list[SymbolicResult]:
    """C2 (Theorem 5.3): under FC with 1-D Gaussian blocks, ``C[p⃗^t] = N_t[C[p⃗]]`` ∀ a, s.

    ``log C[p⃗^t]`` (composition of the noised family) is compared with the log-density of
    ``N_t[C[p⃗]]``: the block parameters of ``C[p⃗]`` are read off ``log C[p⃗]`` at ``t = 0``
    (independent coordinates, no cross terms), so ``N_t[C[p⃗]]`` is the product of the
    blocks ``N(a·mean_j, a²·var_j + s²)`` (:func:`gaussian_noising_lemma`). Exact equality of
    normalized log-densities (Z = 1 on both sides).
    """
    out = [gaussian_integral_lemma(), gaussian_noising_lemma()]
    for k in ks:
        clean = _gaussian_fc_logs(k)
        params = _independent_gaussian_params(log_composition(clean["log_b"], clean["log_c"]),
                                              clean["x"])
        rhs = sum(normal_logpdf(xj, A_T * mj, A_T**2 * vj + S_T**2)
                  for xj, (mj, vj) in zip(clean["x"], params, strict=True))
        noised = _gaussian_fc_logs(k, A_T, S_T)
        lhs = log_composition(noised["log_b"], noised["log_c"])
        out.append(prove_identity(lhs, rhs, claim="C2",
                                  label=f"C2.noise_commutes.k{k}",
                                  statement=f"k={k}: log C[p⃗^t] = log N_t[C[p⃗]] for 1-D "
                                            "Gaussian FC blocks, all a, s > 0"))
    return out


# =========================================================================== C4, C5

def _equivariance(dim: int, kind: str, k: int,
                  weights: Sequence[sp.Expr] | None = None) -> SymbolicResult:
    """``C_w[A♯p⃗] = A♯C_w[p⃗]`` for a generic map ``x = G(z)`` (``A = G⁻¹``)."""
    zs = sp.symbols(f"z0:{dim}", real=True)
    xs = sp.symbols(f"x0:{dim}", real=True)
    if dim == 1:
        inverse_map = [sp.Function("g", real=True)(zs[0])]
    elif kind == "triangular":
        inverse_map = [sp.Function("g1", real=True)(zs[0]),
                       sp.Function("g2", real=True)(zs[0], zs[1])]
    else:
        inverse_map = [sp.Function("G1", real=True)(*zs), sp.Function("G2", real=True)(*zs)]
    names = ["p_b"] + [f"p_{i + 1}" for i in range(k)]
    dens = [sp.Function(n, positive=True)(*xs) for n in names]
    pushed = [pushforward(d, xs, inverse_map, zs) for d in dens]
    lhs = composition(pushed[0], pushed[1:], weights)
    rhs = pushforward(composition(dens[0], dens[1:], weights), xs, inverse_map, zs)
    wtag = "C_w" if weights is not None else "C"
    return prove_identity(lhs, rhs, claim="C4", label=f"C4.{kind}.{dim}d.k{k}"
                          + (".weighted" if weights is not None else ""),
                          statement=f"{dim}-D {kind} map x = G(z), k={k}: {wtag}[A♯p⃗] = "
                                    f"A♯{wtag}[p⃗] (Jacobian |det DG| cancels in every ratio)")


def c4_equivariance() -> list[SymbolicResult]:
    """C4 (Lemma 6.2): ``C[A♯p⃗] = A♯C[p⃗]`` for generic diffeomorphisms.

    1-D ``x = g(z)``; 2-D triangular ``x = (g1(z0), g2(z0, z1))`` and general
    ``x = (G1(z), G2(z))`` with the Jacobian determinant computed from the map; k = 2, 3.
    Also the weighted ``C_w`` (symbolic ``w_i``), which is equivariant for the same reason.
    """
    out = []
    for k in (2, 3):
        out.append(_equivariance(1, "generic", k))
        out.append(_equivariance(2, "triangular", k))
        out.append(_equivariance(2, "general", k))
    out.append(_equivariance(2, "general", 2, weights=sp.symbols("w1:3", real=True)))
    return out


def c5_simple_product_not_equivariant() -> list[SymbolicResult]:
    """C5 (§6, negative): the simple product is not equivariant under nonlinear maps.

    With ``x = g(z)``, ``Π_i (A♯p_i) / A♯(Π_i p_i) = |g'(z)|^{k−1}``. Two normalized
    densities are equal iff their unnormalized versions have a *constant* ratio, so:

    - nonlinear ``g(z) = z + z³/3`` (a diffeomorphism of R, ``g' = 1 + z² > 0``) with
      ``p_1 = N(0,1)``, ``p_2 = N(1,1)``: the ratio is not constant (refuted exactly at
      ``z = 1`` against ``z = 0``);
    - affine ``g(z) = αz + β``, generic densities, k = 2, 3: the ratio is ``|α|^{k−1}``,
      a constant (proved), so the normalized simple products agree.
    """
    z, x = sp.Symbol("z", real=True), sp.Symbol("x", real=True)
    g = z + z**3 / 3
    p1, p2 = normal_pdf(x, 0, 1), normal_pdf(x, 1, 1)
    prod_of_push = simple_product([pushforward(p, [x], [g], [z]) for p in (p1, p2)])
    push_of_prod = pushforward(simple_product([p1, p2]), [x], [g], [z])
    ratio = sp.simplify(prod_of_push / push_of_prod)
    out = [
        prove_identity(ratio, 1 + z**2, claim="C5", label="C5.nonlinear_ratio",
                       statement="g(z) = z + z³/3: Π(A♯p_i) / A♯(Πp_i) = g'(z) = 1 + z²"),
        refute_identity(ratio, ratio.subs(z, 0), {z: 1}, claim="C5",
                        label="C5.nonlinear_not_equivariant",
                        statement="g(z) = z + z³/3, p = (N(0,1), N(1,1)): the ratio "
                                  "Π(A♯p_i) / A♯(Πp_i) is constant in z (as equal normalized "
                                  "simple products would require)"),
    ]
    alpha = sp.Symbol("alpha", real=True, nonzero=True)
    beta = sp.Symbol("beta", real=True)
    for k in (2, 3):
        dens = [sp.Function(f"p_{i + 1}", positive=True)(x) for i in range(k)]
        lhs = simple_product([pushforward(d, [x], [alpha * z + beta], [z]) for d in dens])
        rhs = pushforward(simple_product(dens), [x], [alpha * z + beta], [z])
        out.append(prove_identity(lhs / rhs, sp.Abs(alpha) ** (k - 1), claim="C5",
                                  label=f"C5.affine_constant_ratio.k{k}",
                                  statement=f"affine x = αz + β, k={k}: Π(A♯p_i) / A♯(Πp_i) "
                                            f"= |α|^{k - 1}, a constant (normalized products "
                                            "agree)"))
    return out


# =========================================================================== C7–C9

def _commutation_gap(
    covs: Sequence[sp.Matrix], means: Sequence[sp.Matrix], noise_cov: sp.Matrix,
    a: sp.Expr, s: sp.Expr,
) -> tuple[sp.Matrix, sp.Matrix, sp.Matrix, sp.Matrix]:
    """Natural parameters of ``C[p⃗^t]`` and of ``N_t[C[p⃗]]`` for a Gaussian family.

    ``covs[0], means[0]`` is the background. Noise: ``x_t = a x + s E``, ``E ~ N(0, K)``.
    Returns ``(Λ_lhs, η_lhs, Λ_rhs, η_rhs)``; the two Gaussians are equal iff both agree.
    """
    fam = [Gaussian(m, c) for m, c in zip(means, covs, strict=True)]
    lam_l, eta_l = compose_natural(fam[0].noised(a, s, noise_cov),
                                   [g.noised(a, s, noise_cov) for g in fam[1:]])
    lam_c, eta_c = compose_natural(fam[0], fam[1:])
    lam_c = _cancel_matrix(lam_c)
    composed = Gaussian.from_natural(lam_c, eta_c)
    lam_r, eta_r = composed.noised(a, s, noise_cov).natural()
    return lam_l, eta_l, lam_r, eta_r


def _hetero_feature_family(het1: bool = True, het2: bool = True,
                           ) -> tuple[list[sp.Matrix], list[sp.Matrix]]:
    """2-D feature-space FC family, 1-D blocks ``M_1 = {z_0}``, ``M_2 = {z_1}``.

    ``p_b = N((m1, m2), diag(v1, v2))``, ``p_1 = N((μ1, m2), diag(w1, v2))``,
    ``p_2 = N((m1, μ2), diag(v1, w2))`` (``w_i = v_i`` when ``het_i`` is False: shared cov).
    """
    v1, v2, w1, w2 = sp.symbols("v1 v2 w1 w2", positive=True)
    m1, m2, mu1, mu2 = sp.symbols("m1 m2 mu1 mu2", real=True)
    covs = [sp.diag(v1, v2), sp.diag(w1 if het1 else v1, v2), sp.diag(v1, w2 if het2 else v2)]
    means = [sp.Matrix([m1, m2]), sp.Matrix([mu1, m2]), sp.Matrix([m1, mu2])]
    return covs, means


def c7_orthogonal_noise_commutes() -> list[SymbolicResult]:
    """C7 (§7): orthogonal ``A`` (rotation by symbolic θ) commutes with isotropic noise.

    (a) ``A♯N_t[p] = N_t[A♯p]`` for any 2-D Gaussian ``p = N(μ, Σ)`` (symbolic μ, Σ):
    means ``A(aμ) = a(Aμ)`` and covariances ``A(a²Σ + s²I)Aᵀ = a²AΣAᵀ + s²I`` (AAᵀ = I,
    trig identities). (b) For the heteroscedastic FC feature family of
    :func:`_hetero_feature_family` pulled back to pixels (``x = Aᵀz``),
    ``C[p⃗^t] = N_t[C[p⃗]]``, checked directly in pixel space at the exact rotation
    ``cos θ = 3/5, sin θ = 4/5`` with all other parameters symbolic (the all-θ statement is
    :func:`c8_gaussian_characterization`'s T12 = 0 case, since ``(AAᵀ)_{12} = 0``).
    """
    theta = sp.Symbol("theta", real=True)
    rot = _rotation(theta)
    mu = sp.Matrix(sp.symbols("mu0:2", real=True))
    s11, s22 = sp.symbols("S11 S22", positive=True)
    s12 = sp.Symbol("S12", real=True)
    sigma = sp.Matrix([[s11, s12], [s12, s22]])
    p = Gaussian(mu, sigma)
    lhs, rhs = p.noised(A_T, S_T).pushforward(rot), p.pushforward(rot).noised(A_T, S_T)
    out = [
        prove_matrix_identity(lhs.mean, rhs.mean, claim="C7", label="C7.mean_commutes",
                              statement="rotation A(θ): mean of A♯N_t[p] = mean of N_t[A♯p]"),
        prove_matrix_identity(lhs.cov, rhs.cov, claim="C7", label="C7.cov_commutes",
                              statement="rotation A(θ): A(a²Σ + s²I)Aᵀ = a²AΣAᵀ + s²I"),
    ]
    rot_exact = sp.Matrix([[sp.Rational(3, 5), -sp.Rational(4, 5)],
                           [sp.Rational(4, 5), sp.Rational(3, 5)]])
    covs, means = _hetero_feature_family()
    pix_covs = [rot_exact.T * c * rot_exact for c in covs]
    pix_means = [rot_exact.T * m for m in means]
    out.append(_same_gaussian(
        *_commutation_gap(pix_covs, pix_means, sp.eye(2), A_T, S_T),
        claim="C7", label="C7.composition_commutes_pixel",
        statement="rotation cos θ = 3/5: C[p⃗^t] = N_t[C[p⃗]] in pixel space for a "
                  "heteroscedastic Gaussian FC feature family (all a, s, v_i, w_i, means)"))
    return out


def _feature_symbols() -> tuple[sp.Matrix, sp.Symbol, sp.Symbol, sp.Symbol]:
    """Symmetric ``T = [[T11, T12], [T12, T22]]`` (T11, T22 > 0, T12 real)."""
    t11, t22 = sp.symbols("T11 T22", positive=True)
    t12 = sp.Symbol("T12", real=True)
    return sp.Matrix([[t11, t12], [t12, t22]]), t11, t12, t22


def _feature_gap(het1: bool = True, het2: bool = True,
                 ) -> tuple[sp.Matrix, sp.Matrix, list[sp.Matrix], list[sp.Matrix]]:
    """Gaps ``(Λ_lhs − Λ_rhs, η_lhs − η_rhs)`` of ``C[p⃗^t]`` vs ``N_t[C[p⃗]]`` in features.

    Feature-space noise is ``s·Aε`` (covariance ``s²AAᵀ``). With ``T = (s/a)²AAᵀ`` the
    noised members are ``N(aμ_i, a²(D_i + T))``; both sides scale the same way in ``a``
    (``Λ ↦ Λ/a²``, ``η ↦ η/a``), so ``a = 1, s = 1`` and a general symmetric ``T`` lose
    nothing. By C4 (linear ``A``) the feature-space gap is the pixel-space gap seen through
    ``A``. Also returns the family (covariances, means) of :func:`_hetero_feature_family`.
    """
    tm = _feature_symbols()[0]
    covs, means = _hetero_feature_family(het1, het2)
    lam_l, eta_l, lam_r, eta_r = _commutation_gap(covs, means, tm, 1, 1)
    return lam_l - lam_r, eta_l - eta_r, covs, means


def c8_block_orthogonal() -> list[SymbolicResult]:
    """C8 (ext): linear ``A = DQ`` (``AAᵀ`` block-diagonal) keeps the noised family FC.

    Feature-space noise covariance is ``s²AAᵀ``; its off-diagonal entry ``s²(AAᵀ)_{12}`` is
    identically 0 for rotation ``Q(θ)``, scaling ``D = diag(d1, d2)`` and ``DQ``, and equals
    ``s²h`` for the shear ``[[1, h], [0, 1]]``, vanishing exactly on ``h ∈ {0}``.
    Sufficiency for Gaussian FC families with heteroscedastic 1-D blocks: with diagonal
    feature noise ``s²diag(K11, K22)`` (any ``A = DQ``), ``C[p⃗^t] = N_t[C[p⃗]]`` — equal
    precisions and natural means, all parameters symbolic.
    """
    theta, h = sp.Symbol("theta", real=True), sp.Symbol("h", real=True)
    d1, d2 = sp.symbols("d1 d2", positive=True)
    q, dm, sh = _rotation(theta), sp.diag(d1, d2), sp.Matrix([[1, h], [0, 1]])
    out = []
    for name, mat in (("rotation", q), ("scaling", dm), ("scaled_rotation", dm * q)):
        off = S_T**2 * (mat * mat.T)[0, 1]
        out.append(prove_identity(off, 0, claim="C8", label=f"C8.offdiag_zero.{name}",
                                  statement=f"{name}: s²(AAᵀ)_12 = 0 identically"))
    off_shear = S_T**2 * (sh * sh.T)[0, 1]
    out.append(prove_identity(off_shear, S_T**2 * h, claim="C8", label="C8.offdiag.shear",
                              statement="shear [[1,h],[0,1]]: s²(AAᵀ)_12 = s²·h"))
    out.append(solution_set_result(off_shear, h, sp.FiniteSet(0), claim="C8",
                                   label="C8.vanishing_set.shear",
                                   statement="shear: {h ∈ R : s²(AAᵀ)_12 = 0} = {0}"))
    covs, means = _hetero_feature_family()
    lam_l, eta_l, lam_r, eta_r = _commutation_gap(
        covs, means, sp.diag(*sp.symbols("K11 K22", positive=True)), A_T, S_T)
    out.append(_combine(
        [prove_matrix_identity(lam_l, lam_r, claim="C8", statement="precisions"),
         prove_matrix_identity(eta_l, eta_r, claim="C8", statement="natural means")],
        claim="C8", label="C8.sufficient.diagonal_noise",
        statement="heteroscedastic Gaussian FC, feature noise s²diag(K11, K22) (A = DQ): "
                  "C[p⃗^t] = N_t[C[p⃗]] for all a, s, K, v_i, w_i, means"))
    return out


def _positive_polynomial(f: sp.Expr, gens: Sequence[sp.Symbol],
                         even: Sequence[sp.Symbol]) -> bool:
    """True if ``f`` (a polynomial in ``gens``, all positive except the ``even`` ones, which
    are real) has only positive coefficients, only even powers of the ``even`` generators,
    and a monomial free of them — hence ``f > 0`` on the domain."""
    poly = sp.Poly(f, *gens)
    idx = [list(gens).index(e) for e in even]
    terms = poly.terms()
    return (bool(terms)
            and all(c.is_positive for _, c in terms)
            and all(m[i] % 2 == 0 for m, _ in terms for i in idx)
            and any(all(m[i] == 0 for i in idx) for m, _ in terms))


def c8_gaussian_characterization() -> list[SymbolicResult]:
    """C8 (ext) necessity, exactly, for 2-D Gaussian FC families with 1-D blocks.

    Family :func:`_hetero_feature_family` (``p_i`` replaces block ``i`` of
    ``p_b = N(m, diag(v))`` by ``N(μ_i, w_i)``), feature noise ``T = (s/a)²AAᵀ`` general
    symmetric PD (:func:`_feature_gap`). Then

        C[p⃗^t] = N_t[C[p⃗]]  ⟺  T12 = 0  ∨  (w1 = v1 ∧ w2 = v2)  ∨  p_1 = p_b  ∨  p_2 = p_b.

    Proof parts: (i) ``T12 = 0`` ⇒ gap 0; (ii) shared variances ⇒ gap 0 for every ``T``;
    (iii) both heteroscedastic: the numerator of the precision gap ``G_12`` is
    ``T12(v1−w1)(v2−w2)·F`` (exact polynomial division) with ``F > 0`` for every PD
    ``T = LLᵀ``; (iv) one-sided (``w2 = v2``): the precision gap is 0 but the natural-mean
    gap is ``(v1−w1)(m2−μ2)·T12·(−(T22+v2), T12)ᵀ / (det(D_b+T)·det(D_1+T))``, zero iff
    ``T12 = 0`` or ``μ2 = m2`` (then ``p_2 = p_b``); symmetric for ``w1 = v1``.
    So block-diagonal ``AAᵀ`` is necessary unless the family is homoscedastic or trivial.
    """
    tm, t11, t12, t22 = _feature_symbols()
    out: list[SymbolicResult] = []
    lam_gap, eta_gap, covs, means = _feature_gap()
    v1, v2 = covs[0][0, 0], covs[0][1, 1]
    w1, w2 = covs[1][0, 0], covs[2][1, 1]
    m1, m2 = means[0]
    mu1, mu2 = means[1][0], means[2][1]
    out.append(_combine(
        [prove_matrix_identity(lam_gap.subs(t12, 0), sp.zeros(2, 2), claim="C8",
                               statement="precision gap at T12 = 0"),
         prove_matrix_identity(eta_gap.subs(t12, 0), sp.zeros(2, 1), claim="C8",
                               statement="natural-mean gap at T12 = 0")],
        claim="C8", label="C8.sufficient.T12_zero",
        statement="heteroscedastic 2-D Gaussian FC, any diagonal T: gap = 0"))
    lam_s, eta_s, _, _ = _feature_gap(het1=False, het2=False)
    out.append(_combine(
        [prove_matrix_identity(lam_s, sp.zeros(2, 2), claim="C8", statement="precision gap"),
         prove_matrix_identity(eta_s, sp.zeros(2, 1), claim="C8", statement="mean gap")],
        claim="C8", label="C8.shared_variances_any_T",
        statement="w1 = v1, w2 = v2 (shared covariance), every T: gap = 0"))

    num, den = sp.fraction(sp.cancel(sp.together(lam_gap[0, 1])))
    core = t12 * (v1 - w1) * (v2 - w2)
    gens = sorted(num.free_symbols | core.free_symbols, key=str)
    quotient, remainder = sp.div(sp.Poly(num, *gens), sp.Poly(core, *gens))
    out.append(SymbolicResult(
        "C8", "both heteroscedastic: numerator of G_12 = T12·(v1 − w1)(v2 − w2)·F, F polynomial",
        "proved" if remainder.is_zero else "refuted",
        f"exact polynomial division, remainder {remainder.as_expr()}; the denominator "
        f"(degree {sp.Poly(den, *gens).total_degree()}) divides Π_i det(D_i + T) > 0",
        label="C8.necessary.factorization", solution=quotient.as_expr()))
    l1, l2 = sp.symbols("l1 l2", positive=True)
    l21 = sp.Symbol("l21", real=True)
    f_chol = sp.expand(quotient.as_expr().subs({t11: l1**2, t12: l1 * l21,
                                                t22: l21**2 + l2**2}, simultaneous=True))
    chol_gens = [l1, l21, l2, v1, v2, w1, w2]
    positive = _positive_polynomial(f_chol, chol_gens, [l21])
    out.append(SymbolicResult(
        "C8", "F > 0 for every PD T = LLᵀ (L = [[l1, 0], [l21, l2]], l1, l2 > 0)",
        "proved" if positive else "undecided",
        "F(LLᵀ) expands to positive coefficients times even powers of l21 and positive "
        "symbols, with an l21-free monomial" if positive
        else "F(LLᵀ) has a coefficient that is not positive: sign not settled",
        label="C8.necessary.F_positive", solution=f_chol))
    e1, e2 = sp.symbols("e1 e2", real=True, nonzero=True)
    out.append(solution_set_result(core.subs({w1: v1 + e1, w2: v2 + e2}), t12, sp.FiniteSet(0),
                                   claim="C8", label="C8.necessary.vanishing_set",
                                   statement="w1 ≠ v1, w2 ≠ v2: {T12 : G_12 = 0} = {0}"))

    det = sp.Matrix.det
    for side, (lam_o, eta_o, covs_o, _) in (("w2=v2", _feature_gap(het2=False)),
                                            ("w1=v1", _feature_gap(het1=False))):
        if side == "w2=v2":
            closed = ((v1 - w1) * (m2 - mu2) * t12 * sp.Matrix([-(t22 + v2), t12])
                      / (det(covs_o[0] + tm) * det(covs_o[1] + tm)))
            factor, zero_at = (v1 - w1) * (m2 - mu2), {w1: 2, v1: 1, v2: 1, mu2: 1, m2: 0}
        else:
            closed = ((v2 - w2) * (m1 - mu1) * t12 * sp.Matrix([t12, -(t11 + v1)])
                      / (det(covs_o[0] + tm) * det(covs_o[2] + tm)))
            factor, zero_at = (v2 - w2) * (m1 - mu1), {w2: 2, v1: 1, v2: 1, mu1: 1, m1: 0}
        out.append(prove_matrix_identity(lam_o, sp.zeros(2, 2), claim="C8",
                                         label=f"C8.one_sided.{side}.precision_equal",
                                         statement=f"{side}, every T: precision gap = 0"))
        out.append(prove_matrix_identity(eta_o, closed, claim="C8",
                                         label=f"C8.one_sided.{side}.mean_gap_closed_form",
                                         statement=f"{side}: natural-mean gap = "
                                                   f"{factor}·T12·(…)/(det·det)"))
        point = {t11: 1, t22: 1, t12: sp.Rational(1, 2), **zero_at}
        out.append(refute_matrix_identity(eta_o, sp.zeros(2, 1), point, claim="C8",
                                          label=f"C8.one_sided.{side}.fails",
                                          statement=f"{side}, T12 = 1/2, mean shift in the "
                                                    "other block: natural-mean gap = 0"))
    expect_refuted = {r.label for r in out if r.label.endswith(".fails")}
    ok = all((r.status == "refuted") == (r.label in expect_refuted) for r in out)
    open_ = [r.label for r in out if (r.status == "refuted") != (r.label in expect_refuted)]
    out.append(SymbolicResult(
        "C8", "2-D Gaussian FC, 1-D blocks: C[p⃗^t] = N_t[C[p⃗]] ⟺ (AAᵀ)_12 = 0 ∨ "
              "(w1 = v1 ∧ w2 = v2) ∨ p_1 = p_b ∨ p_2 = p_b",
        "proved" if ok and all(r.status != "undecided" for r in out) else "undecided",
        "all parts settled as required" if ok else f"parts not settled: {open_}",
        label="C8.characterization"))
    return out


def c9_shear() -> list[SymbolicResult]:
    """C9 (Lemma 7.2) and THEORY.md §6's note, with the shear ``A = [[1, h], [0, 1]]``.

    Pixel family ``p_i = A⁻¹♯p_i^z`` (``x = A⁻¹z``), pixel noise ``s²I``:

    - shared covariance (conditionals differ from ``p_b`` only in their means): ``C[p⃗^t] =
      N_t[C[p⃗]]`` for all ``h, a, s`` — precisions and natural means agree (proved); the same
      holds for a general linear ``A`` with symbolic entries (feature noise ``s²AAᵀ``).
    - heteroscedastic blocks: at ``t = 0`` (``a = 1, s = 0``) the two sides agree (proved),
      but for ``h = 1, a = s = 1, v = (1, 1), w = (2, 3)`` the covariance matrices of
      ``C[p⃗^t]`` and ``N_t[C[p⃗]]`` differ exactly (refuted). The exact vanishing set in
      ``h`` is ``{0}`` (via ``T12 = (s/a)²h`` and :func:`c8_gaussian_characterization`).
    """
    h = sp.Symbol("h", real=True)
    sh_inv = sp.Matrix([[1, -h], [0, 1]])
    out = []
    covs, means = _hetero_feature_family(het1=False, het2=False)
    pix_covs = [sh_inv * c * sh_inv.T for c in covs]
    pix_means = [sh_inv * m for m in means]
    out.append(_same_gaussian(
        *_commutation_gap(pix_covs, pix_means, sp.eye(2), A_T, S_T),
        claim="C9", label="C9.shared_cov_commutes.shear",
        statement="shear, shared covariance: C[p⃗^t] = N_t[C[p⃗]] for all h, a, s"))
    a_gen = sp.Matrix(2, 2, sp.symbols("A11 A12 A21 A22", real=True))
    out.append(_same_gaussian(
        *_commutation_gap(covs, means, a_gen * a_gen.T, A_T, S_T),
        claim="C9", label="C9.shared_cov_commutes.general_A",
        statement="any linear A (symbolic entries), shared covariance: C[p⃗^t] = N_t[C[p⃗]] "
                  "(feature coordinates, noise s²AAᵀ)"))

    covs, means = _hetero_feature_family()
    pix_covs = [sh_inv * c * sh_inv.T for c in covs]
    pix_means = [sh_inv * m for m in means]
    out.append(_same_gaussian(
        *_commutation_gap(pix_covs, pix_means, sp.eye(2), 1, 0),
        claim="C9", label="C9.equal_at_t0.shear",
        statement="shear, heteroscedastic: at t = 0 (a = 1, s = 0) C[p⃗^t] = N_t[C[p⃗]]"))
    v1, v2 = covs[0][0, 0], covs[0][1, 1]
    w1, w2 = covs[1][0, 0], covs[2][1, 1]
    point = {h: 1, v1: 1, v2: 1, w1: 2, w2: 3}
    pc = [c.subs(point) for c in pix_covs]
    pm = [m.subs(point) for m in pix_means]
    lam_l, _, lam_r, _ = _commutation_gap(pc, pm, sp.eye(2), 1, 1)
    out.append(refute_matrix_identity(inverse(lam_l), inverse(lam_r), {}, claim="C9",
                                      label="C9.hetero_fails.shear",
                                      where=", ".join(f"{k} = {v}" for k, v in point.items())
                                      + ", a = 1, s = 1",
                                      statement="shear h = 1, heteroscedastic (v = (1,1), "
                                                "w = (2,3)), a = s = 1: Cov[C[p⃗^t]] = "
                                                "Cov[N_t[C[p⃗]]]"))
    tau = (S_T / A_T) ** 2 * h  # T12 for the shear
    out.append(solution_set_result(tau, h, sp.FiniteSet(0), claim="C9",
                                   label="C9.vanishing_set.shear",
                                   statement="shear, heteroscedastic (w_i ≠ v_i): the gap "
                                             "vanishes iff T12 = (s/a)²h = 0, i.e. h ∈ {0}"))
    return out


# =========================================================================== C10

def c10_orthogonal_mean_differences() -> list[SymbolicResult]:
    """C10 (Lemma 8.1): orthogonal-FC ⇒ pixel mean differences are orthogonal.

    Feature differences supported on disjoint blocks: 2-D ``δ^z_1 = (d1, 0)``,
    ``δ^z_2 = (0, d2)`` with rotation ``A(θ)``; 3-D ``δ^z_1 = (d1, 0, 0)``,
    ``δ^z_2 = (0, d2, d3)`` (a 2-D block) with ``A = R_z(α)R_y(β)R_x(γ)``. Pixel differences
    ``δ_i = Aᵀδ^z_i`` satisfy ``δ_1ᵀδ_2 = 0``. Contrast (refuted): for the shear
    ``x = A⁻¹z`` gives ``δ_1ᵀδ_2 = −h·d1·d2 ≠ 0`` at ``h = d1 = d2 = 1``.
    """
    d1, d2, d3 = sp.symbols("d1 d2 d3", real=True)
    theta, al, be, ga = sp.symbols("theta alpha beta gamma", real=True)
    q2 = _rotation(theta)
    dz1, dz2 = sp.Matrix([d1, 0]), sp.Matrix([0, d2])
    out = [prove_identity(((q2.T * dz1).T * (q2.T * dz2))[0, 0], 0, claim="C10",
                          label="C10.orthogonal.2d",
                          statement="2-D rotation θ: (Aᵀδ^z_1)ᵀ(Aᵀδ^z_2) = 0")]
    c, s_ = sp.cos, sp.sin
    rz = sp.Matrix([[c(al), -s_(al), 0], [s_(al), c(al), 0], [0, 0, 1]])
    ry = sp.Matrix([[c(be), 0, s_(be)], [0, 1, 0], [-s_(be), 0, c(be)]])
    rx = sp.Matrix([[1, 0, 0], [0, c(ga), -s_(ga)], [0, s_(ga), c(ga)]])
    q3 = rz * ry * rx
    e1, e2 = sp.Matrix([d1, 0, 0]), sp.Matrix([0, d2, d3])
    out.append(prove_identity(((q3.T * e1).T * (q3.T * e2))[0, 0], 0, claim="C10",
                              label="C10.orthogonal.3d",
                              statement="3-D rotation R_z(α)R_y(β)R_x(γ), blocks {0}, {1,2}: "
                                        "δ_1ᵀδ_2 = 0"))
    h = sp.Symbol("h", real=True)
    sh_inv = sp.Matrix([[1, -h], [0, 1]])
    inner = ((sh_inv * dz1).T * (sh_inv * dz2))[0, 0]
    out.append(refute_identity(inner, 0, {h: 1, d1: 1, d2: 1}, claim="C10",
                               label="C10.shear_not_orthogonal",
                               statement="shear (non-orthogonal A): δ_1ᵀδ_2 = 0"))
    return out


# =========================================================================== C14

def c14_weighted_tilt() -> list[SymbolicResult]:
    """C14 (negative): under FC, ``C_w`` with ``w ≠ 1`` is not projective.

    (a) Generic FC (k = 2, weight ``w`` on conditional 1): ``C_w[p⃗] = q_b · r_1^w
    q_1^{1−w} · r_2``, so its ``M_1`` marginal is ``∝ p_1(x|M_1)^w p_b(x|M_1)^{1−w}``.
    (b) Gaussian block ``r_1 = N(μ_i, 1/λ_i)``, ``q_1 = N(μ_b, 1/λ_b)``: the tilted block is
    ``N(m_w, 1/λ_w)`` with ``λ_w = wλ_i + (1−w)λ_b``, ``m_w = (wλ_iμ_i + (1−w)λ_bμ_b)/λ_w``
    (score identity). (c) It equals ``p_1``'s block iff ``w = 1``: ``λ_w − λ_i =
    (w−1)(λ_i−λ_b)`` vanishes exactly on ``{1}`` when ``λ_i ≠ λ_b``; if ``λ_i = λ_b``,
    ``m_w − μ_i = (1−w)(μ_b−μ_i)`` vanishes exactly on ``{1}`` when ``μ_i ≠ μ_b``.
    (d) Refuted at ``w = 1/2, λ_i = 2, λ_b = 1``: the block precision is not ``λ_i``.
    """
    w = sp.Symbol("w", real=True)
    fam = factorized_conditionals(2)
    c = composition(fam.background, fam.conditionals, [w, 1])
    x1 = fam.blocks[0]
    tilted = fam.replacement_factor(0) ** w * fam.background_factor(0) ** (1 - w)
    claimed = fam.q_b(*fam.background_block) * tilted * fam.replacement_factor(1)
    out = [prove_identity(c, claimed, claim="C14", label="C14.tilt_form",
                          statement="C_w[p⃗] (weights (w, 1)) = q_b · r_1^w q_1^{1−w} · r_2"),
           prove_identity(block_marginal(sp.expand_power_base(c, force=True), x1,
                                         fam.normalized_factors, fam.variables), tilted,
                          claim="C14", label="C14.block_marginal",
                          statement="M_1 marginal of C_w ∝ p_1(x|M_1)^w p_b(x|M_1)^{1−w}")]
    x = sp.Symbol("x", real=True)
    lam_i, lam_b = sp.symbols("lambda_i lambda_b", positive=True)
    mu_i, mu_b = sp.symbols("mu_i mu_b", real=True)
    log_tilt = w * normal_logpdf(x, mu_i, 1 / lam_i) + (1 - w) * normal_logpdf(x, mu_b, 1 / lam_b)
    lam_w = w * lam_i + (1 - w) * lam_b
    m_w = (w * lam_i * mu_i + (1 - w) * lam_b * mu_b) / lam_w
    out.append(prove_identity(sp.diff(log_tilt, x), sp.diff(-(x - m_w) ** 2 * lam_w / 2, x),
                              claim="C14", label="C14.gaussian_tilt",
                              statement="∂_x[w log N(μ_i,1/λ_i) + (1−w) log N(μ_b,1/λ_b)] = "
                                        "∂_x log N(m_w, 1/λ_w)"))
    delta = sp.Symbol("delta", real=True, nonzero=True)
    eps = sp.Symbol("epsilon", real=True, nonzero=True)
    out.append(solution_set_result((lam_w - lam_i).subs(lam_i, lam_b + delta), w,
                                   sp.FiniteSet(1), claim="C14",
                                   label="C14.precision_matches_iff_w1",
                                   statement="λ_i ≠ λ_b: {w : λ_w = λ_i} = {1}"))
    mean_gap = (m_w - mu_i).subs(lam_i, lam_b).subs(mu_i, mu_b + eps)
    out.append(solution_set_result(sp.numer(sp.together(mean_gap)), w, sp.FiniteSet(1),
                                   claim="C14", label="C14.mean_matches_iff_w1",
                                   statement="λ_i = λ_b, μ_i ≠ μ_b: {w : m_w = μ_i} = {1}"))
    out.append(refute_identity(lam_w, lam_i, {w: sp.Rational(1, 2), lam_i: 2, lam_b: 1},
                               claim="C14", label="C14.not_projective_w_half",
                               statement="w = 1/2: C_w's M_1 block has p_1's precision λ_i"))
    return out


# =========================================================================== C17, C18

def c17_critical_precision() -> list[SymbolicResult]:
    """C17's construction (``numerics.claims.exact.critical_family``): ``k`` conditionals
    ``N(0, 1)`` over the background ``N(0, b)``, ``b = (1 + δ)(k − 1)/k``, compose to
    precision ``k − (k − 1)/b = k δ/(1 + δ)`` (per coordinate, symbolic ``k``, ``δ``), so
    ``C[p⃗]``'s variance ``(1 + δ)/(k δ)`` → ∞ as ``δ → 0`` while the background's tends
    to ``(k − 1)/k``; and the ratio of two compositions' variances is
    ``δ_q (1 + δ_p) / (δ_p (1 + δ_q))``."""
    k = sp.Symbol("k", positive=True)
    delta, delta_p, delta_q = sp.symbols("delta delta_p delta_q", positive=True)
    b = (1 + delta) * (k - 1) / k
    precision = k - (k - 1) / b

    def variance(d: sp.Symbol) -> sp.Expr:
        return 1 / precision.subs(delta, d)

    return [prove_identity(precision, k * delta / (1 + delta), claim="C17",
                           label="C17.composed_precision",
                           statement="k·1 − (k − 1)/b = k δ/(1 + δ) for b = (1 + δ)(k − 1)/k"),
            prove_identity(sp.limit(1 / (k * delta / (1 + delta)), delta, 0, "+"), sp.oo,
                           claim="C17", label="C17.variance_diverges",
                           statement="lim_{δ→0+} (1 + δ)/(k δ) = ∞"),
            prove_identity(variance(delta_p) / variance(delta_q),
                           delta_q * (1 + delta_p) / (delta_p * (1 + delta_q)), claim="C17",
                           label="C17.variance_ratio",
                           statement="v_p/v_q = δ_q(1 + δ_p)/(δ_p(1 + δ_q))")]


def c18_product_of_equal_variance_gaussians() -> list[SymbolicResult]:
    """C18: on one pixel, one law wants the object (``N(m, v)``) and ``k − 1`` want the
    cell empty (``N(0, v)``): ``Σ_i log N(x; m_i, v) = log N(x; m/k, v/k) −
    (k − 1)m²/(2kv) + c`` with ``c`` free of ``x`` and ``m`` (symbolic ``k``): the simple
    product puts the object at brightness ``1/k`` and weighs template ``τ`` by
    ``exp(−(k − 1)|μ_τ|²/(2kv))``."""
    x, m = sp.symbols("x m", real=True)
    k, v = sp.symbols("k v", positive=True)
    lhs = normal_logpdf(x, m, v) + (k - 1) * normal_logpdf(x, 0, v)
    rhs = normal_logpdf(x, m / k, v / k) - (k - 1) * m**2 / (2 * k * v)
    return [prove_identity(sp.diff(lhs - rhs, x), 0, claim="C18", label="C18.mean_one_over_k",
                           statement="∂_x[log N(x; m, v) + (k − 1) log N(x; 0, v)] = "
                                     "∂_x log N(x; m/k, v/k)"),
            prove_identity(sp.diff(lhs - rhs, m), 0, claim="C18", label="C18.template_weight",
                           statement="the rest of the log-product is −(k − 1)m²/(2kv) plus "
                                     "a constant free of m")]


# =========================================================================== all

#: Every symbolic check, in THEORY.md order.
ALL_CHECKS: tuple[Callable[[], object], ...] = (
    c1_product_form,
    c1_gaussian_normalization,
    gaussian_composition_lemma,
    c2_noise_commutes_gaussian_fc,
    c4_equivariance,
    c5_simple_product_not_equivariant,
    c7_orthogonal_noise_commutes,
    c8_block_orthogonal,
    c8_gaussian_characterization,
    c9_shear,
    c10_orthogonal_mean_differences,
    c14_weighted_tilt,
    c17_critical_precision,
    c18_product_of_equal_variance_gaussians,
)


def all_symbolic_results(*, timings: dict[str, float] | None = None) -> list[SymbolicResult]:
    """Run every check of :data:`ALL_CHECKS`; if ``timings`` is given, record seconds per check."""
    results: list[SymbolicResult] = []
    for check in ALL_CHECKS:
        t0 = time.perf_counter()
        got = check()
        if timings is not None:
            timings[check.__name__] = time.perf_counter() - t0
        results.extend(got if isinstance(got, list) else [got])  # type: ignore[arg-type]
    return results


if __name__ == "__main__":  # pragma: no cover
    times: dict[str, float] = {}
    t_start = time.perf_counter()
    for r in all_symbolic_results(timings=times):
        print(r)
    print({k: round(v, 2) for k, v in times.items()})
    print(f"total {time.perf_counter() - t_start:.1f} s")
