"""Composition operators ``C``, ``C_w`` and the simple product (THEORY §1–§2).

Every operator here is an exponent vector over the family ``(p_b, p_1, ..., p_k)``:

    C_w[p⃗] ∝ p_b^{1 − Σ w_i} Π_i p_i^{w_i}            (C is w = 1)
    simple product ∝ Π_i p_i                          (exponent 0 on p_b)

so ``∇ log C_w = Σ_m e_m ∇ log p_m``. ``compose_exponents`` returns the most exact
object the family allows, trying in order:

0. the members' own rule: ``members[0].compose_with(members, exponents)`` (the hook of
   ``numerics.laws.base.Distribution``; ``None`` means "no rule of its own"). Scene laws
   answer with a scene law (C1 in product form) or a ``SceneComposition``; a law that
   knows how to compose itself goes through ``compose`` like any other;
1. a common invertible linear pushforward ``p_m = B♯q_m``: with exponents summing to 1
   the constant Jacobian cancels and ``C[B♯q⃗] = B♯C[q⃗]`` (C4, linear case);
2. block products over one partition: ``p_m = Π_j p_{m,j}`` gives
   ``Π_m p_m^{e_m} = Π_j Π_m p_{m,j}^{e_m}``, composed block by block; members equal
   to the background on a block drop out there (C1's cancellation), so an FC family
   costs ``O(k)`` block compositions, never ``K^k`` components;
3. Gaussian mixtures where every member raised to a power other than 0 and 1 is a
   single Gaussian: the product expands into an exact mixture (guarded size);
4. otherwise an ``UnnormalizedComposition`` (log-density up to a constant, score).

Normalizability (``Z < ∞``) is decided for every route; a non-normalizable result
raises ``NonNormalizable``, it is never returned for sampling.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from itertools import product as cartesian

import torch

from numerics.laws import (
    MAX_COMPONENTS,
    BlockProduct,
    Distribution,
    ExpansionTooLarge,
    GaussianMixture,
    LinearPushforward,
)
from numerics.laws.family import Family
from numerics.laws.unnormalized import PD_RTOL, NonNormalizable, UnnormalizedComposition


def weighted_exponents(family: Family, weights: Sequence[float] | None = None) -> list[float]:
    """Exponents of ``C_w`` on ``(p_b, p_1, ..., p_k)``: ``(1 − Σ w_i, w_1, ..., w_k)``."""
    w = list(weights if weights is not None else family.effective_weights)
    return [1.0 - sum(w), *w]


def product_exponents(family: Family) -> list[float]:
    """Exponents of the simple product ``Π p_i``: ``(0, 1, ..., 1)``."""
    return [0.0] + [1.0] * family.k


def compose(family: Family, weights: Sequence[float] | None = None) -> Distribution:
    """``C_w[p⃗]`` (THEORY §2; ``weights=None`` uses the family's, default all 1)."""
    return compose_exponents(family.members, weighted_exponents(family, weights))


def simple_product(family: Family) -> Distribution:
    """``p̂ ∝ Π_i p_i`` (THEORY §1)."""
    return compose_exponents(family.members, product_exponents(family))


def compose_exponents(members: Sequence[Distribution], exponents: Sequence[float]) -> Distribution:
    """``∝ Π_m p_m^{e_m}`` as the most exact object available (see the module docstring)."""
    pairs = [(p, float(e)) for p, e in zip(members, exponents, strict=True) if e != 0.0]
    if not pairs:
        raise NonNormalizable("every exponent is zero: the composition is the flat measure")
    if len(pairs) == 1 and pairs[0][1] == 1.0:
        return pairs[0][0]
    members = [p for p, _ in pairs]
    exps = [e for _, e in pairs]
    first = members[0]
    own = first.compose_with(members, exps)
    if own is not None:
        return own
    if (isinstance(first, LinearPushforward) and math.isclose(sum(exps), 1.0)
            and all(isinstance(p, LinearPushforward) and torch.equal(p.matrix, first.matrix)
                    and torch.equal(p.offset, first.offset) for p in members)):
        inner = compose_exponents([p.base for p in members], exps)
        return inner.pushforward(first.matrix, first.offset)
    if all(isinstance(p, BlockProduct) for p in members) and _common_partition(members):
        return _compose_blocks(members, exps)
    if max(p.num_components for p in members) == 1 or _mixture_closed(members, exps):
        return _compose_mixtures([p.to_mixture() for p in members], exps)
    return UnnormalizedComposition(members, exps)


# route 2: block products ------------------------------------------------------------
def _common_partition(members: Sequence[BlockProduct]) -> bool:
    keys = set(members[0].keys)
    return all(set(p.keys) == keys for p in members[1:])


def same_distribution(p: Distribution, q: Distribution) -> bool:
    """Exact structural equality (same object or identical parameters)."""
    if p is q:
        return True
    if isinstance(p, GaussianMixture) and isinstance(q, GaussianMixture):
        return (p.means.shape == q.means.shape and torch.equal(p.weights, q.weights)
                and torch.equal(p.means, q.means) and torch.equal(p.covs, q.covs))
    if isinstance(p, BlockProduct) and isinstance(q, BlockProduct):
        table = dict(zip(q.keys, q.dists, strict=True))
        return len(p.dists) == len(q.dists) and all(
            c in table and same_distribution(d, table[c])
            for c, d in zip(p.keys, p.dists, strict=True))
    return False


def _compose_blocks(members: Sequence[BlockProduct], exps: Sequence[float]) -> BlockProduct:
    """``Π_j C_e[(p_{m,j})_m]``; on each block, members identical to the first (the
    background) are folded into its exponent, so unchanged blocks cost nothing."""
    base = members[0]
    lookups = [dict(zip(p.keys, p.dists, strict=True)) for p in members]
    blocks = []
    for c, ref in zip(base.keys, base.dists, strict=True):
        local: list[Distribution] = [ref]
        local_exps = [exps[0]]
        for table, e in zip(lookups[1:], exps[1:], strict=True):
            d = table[c]
            if d is ref or same_distribution(d, ref):  # `is`: shared blocks, no call
                local_exps[0] += e
            else:
                local.append(d)
                local_exps.append(e)
        blocks.append(compose_exponents(local, local_exps))
    return base.with_dists(blocks)


# route 3: exact mixtures ------------------------------------------------------------
def _mixture_closed(members: Sequence[Distribution], exps: Sequence[float]) -> bool:
    """Powers of a mixture stay mixtures only for exponent 1 (0 was dropped already)."""
    return all(e == 1.0 or p.num_components == 1 for p, e in zip(members, exps, strict=True))


def _compose_mixtures(mixes: Sequence[GaussianMixture], exps: Sequence[float]) -> GaussianMixture:
    """Products of Gaussian powers in natural parameters.

    For one choice ``j_m`` of component per member: ``Λ = Σ_m e_m Σ_{m,j}⁻¹``,
    ``η = Σ_m e_m Σ_{m,j}⁻¹ μ_{m,j}``; the product is ``exp(c − ½ xᵀΛx + ηᵀx)`` with mass
    ``c + (n/2) log 2π − ½ log det Λ + ½ ηᵀΛ⁻¹η`` and shape ``N(Λ⁻¹η, Λ⁻¹)``.
    ``Z < ∞`` iff every ``Λ`` is positive definite. The members' precisions come from
    their Cholesky factors, and ``Λ⁻¹`` and ``log det Λ`` from the factor that certifies
    ``Λ`` (:func:`_inverse_and_log_det`): no LU inverse or determinant on the way.
    """
    total = math.prod(m.num_components for m in mixes)
    if total > MAX_COMPONENTS:
        raise ExpansionTooLarge(f"the composed mixture needs {total} components "
                                f"(limit {MAX_COMPONENTS})")
    n = mixes[0].dim
    log2pi = math.log(2 * math.pi)
    nat = []
    for m, e in zip(mixes, exps, strict=True):
        prec = torch.cholesky_inverse(m.scale_tril)
        prec = 0.5 * (prec + prec.transpose(-1, -2))
        h = (prec @ m.means[..., None])[..., 0]
        quad = (m.means * h).sum(-1)
        c = m.log_weights - 0.5 * (quad + m.log_dets + n * log2pi)
        nat.append((e * prec, e * h, e * c))
    weights, means, covs = [], [], []
    for combo in cartesian(*[range(m.num_components) for m in mixes]):
        lam = sum(nat[i][0][j] for i, j in enumerate(combo))
        eta = sum(nat[i][1][j] for i, j in enumerate(combo))
        c = sum(nat[i][2][j] for i, j in enumerate(combo))
        cov, log_det_lam = _inverse_and_log_det(lam, combo)
        cov = 0.5 * (cov + cov.T)
        mean = cov @ eta
        weights.append(c + 0.5 * (n * log2pi - log_det_lam + eta @ mean))
        means.append(mean)
        covs.append(cov)
    log_w = torch.stack(weights)
    return GaussianMixture(torch.softmax(log_w, 0), torch.stack(means), torch.stack(covs),
                           dtype=mixes[0].dtype, device=mixes[0].device, validate=False)


def _inverse_and_log_det(lam: torch.Tensor, combo: tuple[int, ...]
                         ) -> tuple[torch.Tensor, torch.Tensor]:
    """``(Λ⁻¹, log det Λ)``, after raising ``NonNormalizable`` unless the smallest eigenvalue
    of ``Λ`` exceeds ``PD_RTOL`` times the largest in magnitude. A Cholesky factor ``L``
    that exists and certifies ``λ_min ≥ 1/tr(Λ⁻¹) ≥ 2·PD_RTOL·tr(Λ) ≥ 2·PD_RTOL·λ_max``
    (``tr(Λ⁻¹) = ‖L⁻¹‖²_F``) decides it without an eigendecomposition, and gives both
    results: ``Λ⁻¹ = L⁻ᵀ L⁻¹``, ``log det Λ = 2 Σ_i log L_ii``. The symmetric eigensolver's
    error, ``~n·1e-16·λ_max`` ≤ 1e-12·λ_max for ``n ≤ 1e4``, is far inside the factor-2
    margin, so the eigenvalue test would pass too. Anything else takes that test, then an
    LU inverse and determinant."""
    chol, info = torch.linalg.cholesky_ex(lam)
    if int(info) == 0:
        eye = torch.eye(lam.shape[-1], dtype=lam.dtype, device=lam.device)
        inv_tril = torch.linalg.solve_triangular(chol, eye, upper=False)
        trace_inv = float(inv_tril.square().sum())
        trace = float(torch.diagonal(lam).sum())
        if math.isfinite(trace_inv) and trace_inv * trace * 2.0 * PD_RTOL <= 1.0:
            return inv_tril.T @ inv_tril, 2.0 * torch.log(torch.diagonal(chol)).sum()
    eig = torch.linalg.eigvalsh(lam)
    if float(eig[0]) <= PD_RTOL * float(eig.abs().max()):
        raise NonNormalizable(
            f"combined precision Σ e_m Λ_m (components {list(combo)}) is not positive "
            f"definite: smallest eigenvalue {float(eig[0]):.4g}")
    return torch.linalg.inv(lam), torch.linalg.slogdet(lam)[1]
