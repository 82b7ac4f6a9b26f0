"""Closed-form discrepancies between exact distributions (DESIGN.md: checks).

The workhorse is the Gaussian overlap ``∫ N(x; μ_a, Σ_a) N(x; μ_b, Σ_b) dx =
N(μ_a − μ_b; 0, Σ_a + Σ_b)``, which makes the L2 inner product of two mixtures a
double sum over components. Two metrics are built from it:

- ``normalized_l2``: ``D(p, q) = ‖p − q‖² / (‖p‖² + ‖q‖²) ∈ [0, 1]``, zero iff
  ``p = q``; scale free (invariant under invertible affine maps applied to both).
- ``mmd``: squared MMD with the Gaussian kernel ``k(x, y) = exp(−|x − y|²/(2h²))``,
  ``E k(X, Y) = (2π h²)^{n/2} Σ w_a w_b N(μ_a − μ_b; 0, Σ_a + Σ_b + h² I)``.

Block products with the same partition factor the inner product block by block
(``⟨p, q⟩ = Π_j ⟨p_j, q_j⟩``), and two pushforwards by the same matrix share the
Jacobian, so neither is ever expanded.
"""

from __future__ import annotations

import math
from weakref import WeakKeyDictionary

import torch

from numerics.laws import (
    BlockProduct,
    Distribution,
    GaussianMixture,
    LinearPushforward,
)

# Covariance entries per chunk of component pairs: 2^20 (8 MiB in float64; 2^22 measured
# 2x slower at n = 256, the gathered sums no longer fitting in cache).
PAIR_ELEMENTS = 2**20
# ⟨p, p⟩ of each mixture (by ``extra_var``), kept while the mixture lives.
_SELF_INNER: WeakKeyDictionary[GaussianMixture, dict[float, torch.Tensor]] = WeakKeyDictionary()


def log_inner(p: Distribution, q: Distribution, extra_var: float = 0.0) -> torch.Tensor:
    """``log ∫ p q`` (``extra_var = 0``) or, with ``extra_var = h²``, the log of
    ``Σ w_a w_b N(μ_a − μ_b; 0, Σ_a + Σ_b + h² I)`` (the smoothed inner product)."""
    if p.dim != q.dim:
        raise ValueError(f"dimension mismatch: {p.dim} vs {q.dim}")
    if isinstance(p, BlockProduct) and isinstance(q, BlockProduct) and _same_partition(p, q):
        # blocks of q in p's order: the partitions match as sets of coordinates
        by_key = dict(zip(q.keys, q.dists, strict=True))
        return sum(log_inner(d, by_key[c], extra_var)
                   for c, d in zip(p.keys, p.dists, strict=True))
    if (isinstance(p, LinearPushforward) and isinstance(q, LinearPushforward)
            and extra_var == 0.0 and torch.equal(p.matrix, q.matrix)
            and torch.equal(p.offset, q.offset)):
        return log_inner(p.base, q.base) - p.log_abs_det
    return _log_inner_mixtures(p.to_mixture(), q.to_mixture(), extra_var)


def _same_partition(p: BlockProduct, q: BlockProduct) -> bool:
    return set(p.keys) == set(q.keys)


def _log_inner_mixtures(p: GaussianMixture, q: GaussianMixture, extra_var: float) -> torch.Tensor:
    """``log Σ_ab w_a w_b N(μ_a − μ_b; 0, Σ_a + Σ_b + h² I)`` over component pairs: at once
    when the ``(K_p, K_q, n, n)`` sums fit in ``PAIR_ELEMENTS``, else in chunks of pairs (a
    64-component mixture in 256-D has 4,096 pairs of 256 × 256 matrices, 2 GiB at once),
    where ``p`` with itself takes each unordered pair once (the sum is symmetric) and counts
    off-diagonal terms twice. ``⟨p, p⟩`` is memoized on ``p`` (``_SELF_INNER``): the checks
    ask for it against several other laws."""
    if p is not q:
        return _log_inner_all(p, q, extra_var)
    memo = _SELF_INNER.setdefault(p, {})
    if extra_var not in memo:
        k = p.num_components
        if k * k * p.dim * p.dim <= PAIR_ELEMENTS:
            memo[extra_var] = _log_inner_all(p, p, extra_var)
        else:
            a, b = torch.triu_indices(k, k, device=p.device)
            twice = torch.full(a.shape, math.log(2.0), dtype=p.dtype,
                               device=p.device).masked_fill_(a == b, 0.0)
            memo[extra_var] = _log_inner_pairs(p, p, a, b, twice, extra_var)
    return memo[extra_var]


def _log_inner_all(p: GaussianMixture, q: GaussianMixture, extra_var: float) -> torch.Tensor:
    """Every component pair, broadcast at once when small enough, else chunked."""
    if p.num_components * q.num_components * p.dim * p.dim > PAIR_ELEMENTS:
        a, b = (g.flatten() for g in torch.meshgrid(
            torch.arange(p.num_components, device=p.device),
            torch.arange(q.num_components, device=p.device), indexing="ij"))
        return _log_inner_pairs(p, q, a, b, torch.zeros((), dtype=p.dtype), extra_var)
    diff = p.means[:, None, :] - q.means[None, :, :]  # (Kp, Kq, n)
    log_n = _log_normal_at_zero(diff, p.covs[:, None] + q.covs[None, :], extra_var)
    terms = p.log_weights[:, None] + q.log_weights[None, :] + log_n
    return torch.logsumexp(terms.reshape(-1), 0)


def _log_inner_pairs(p: GaussianMixture, q: GaussianMixture, a: torch.Tensor, b: torch.Tensor,
                     log_count: torch.Tensor, extra_var: float) -> torch.Tensor:
    """``log Σ_pairs c w_a w_b N(μ_a − μ_b; 0, Σ_a + Σ_b + h² I)`` over the component pairs
    ``(a, b)`` with multiplicities ``c = exp(log_count)``."""
    rows = max(1, PAIR_ELEMENTS // (p.dim * p.dim))
    # written into one preallocated array: small results kept between the chunks' large
    # temporaries would pin them in the C heap (peak RSS grew by a chunk per chunk,
    # 1.26 GiB for the 64-component 256-D composition's ⟨C, C⟩)
    logs = p.log_weights.new_empty(len(a))
    for start in range(0, len(a), rows):
        ia, ib = a[start:start + rows], b[start:start + rows]
        logs[start:start + rows] = _log_normal_at_zero(
            p.means[ia] - q.means[ib], p.covs[ia] + q.covs[ib], extra_var)
    terms = p.log_weights[a] + q.log_weights[b] + logs + log_count
    return torch.logsumexp(terms, 0)


def _log_normal_at_zero(diff: torch.Tensor, cov: torch.Tensor, extra_var: float
                        ) -> torch.Tensor:
    """``log N(diff; 0, cov + h² I)`` for a batch: ``diff (..., n)``, ``cov (..., n, n)``."""
    n = diff.shape[-1]
    if extra_var:
        cov = cov + extra_var * torch.eye(n, dtype=cov.dtype, device=cov.device)
    chol, info = torch.linalg.cholesky_ex(cov)  # _ex: the checking variant is ~100x slower
    if (info != 0).any():
        raise ValueError("a summed covariance is not positive definite")
    z = torch.linalg.solve_triangular(chol, diff[..., None], upper=False)[..., 0]
    log_det = 2.0 * torch.log(torch.diagonal(chol, dim1=-2, dim2=-1)).sum(-1)
    return -0.5 * ((z * z).sum(-1) + log_det + n * math.log(2 * math.pi))


def normalized_l2(p: Distribution, q: Distribution) -> float:
    """``‖p − q‖² / (‖p‖² + ‖q‖²)`` in ``[0, 1]``, computed in log space so that products
    of many blocks neither underflow nor overflow."""
    if isinstance(p, BlockProduct) and isinstance(q, BlockProduct) and _same_partition(p, q):
        table = dict(zip(q.keys, q.dists, strict=True))
        return normalized_l2_blocks([(d, table[c]) for c, d in zip(p.keys, p.dists,
                                                                     strict=True)])
    return _normalized(log_inner(p, p), log_inner(q, q), log_inner(p, q))


def normalized_l2_blocks(pairs: list[tuple[Distribution, Distribution]]) -> float:
    """``normalized_l2(Π_j p_j, Π_j q_j)`` from the block pairs ``(p_j, q_j)``. A block
    shared by both sides (the same object) contributes one factor to ``⟨p,p⟩``, ``⟨q,q⟩``
    and ``⟨p,q⟩`` alike, which cancels: it is skipped, so equal blocks cost nothing."""
    pairs = [(a, b) for a, b in pairs if a is not b]
    if not pairs:
        return 0.0
    return _normalized(sum(_log_inners([(a, a) for a, _ in pairs])),
                       sum(_log_inners([(b, b) for _, b in pairs])),
                       sum(_log_inners(pairs)))


def _log_inners(pairs: list[tuple[Distribution, Distribution]]) -> list[torch.Tensor]:
    """``[log_inner(a, b) for a, b in pairs]``, the same numbers, with small mixture pairs
    of one shape (``(K_a, K_b, n)`` whose sums fit in ``PAIR_ELEMENTS``) computed in one
    batch: an FC family's blocks are many small mixtures of one shape, and one batched
    factorization replaces a dozen small operations per pair. Self pairs use and fill
    the ``⟨p, p⟩`` memo as ``log_inner`` does."""
    out: list[torch.Tensor | None] = [None] * len(pairs)
    groups: dict[tuple[object, ...], list[int]] = {}
    for j, (a, b) in enumerate(pairs):
        if (isinstance(a, GaussianMixture) and isinstance(b, GaussianMixture)
                and a.dim == b.dim and a.dtype == b.dtype and a.device == b.device
                and a.num_components * b.num_components * a.dim * a.dim <= PAIR_ELEMENTS):
            if a is b and 0.0 in _SELF_INNER.get(a, {}):
                out[j] = _SELF_INNER[a][0.0]
            else:
                groups.setdefault((a.num_components, b.num_components, a.dim, a.dtype,
                                   a.device), []).append(j)
        else:
            out[j] = log_inner(a, b)
    for members in groups.values():
        if len(members) == 1:
            a, b = pairs[members[0]]
            out[members[0]] = log_inner(a, b)
            continue
        values = _log_inner_batch([pairs[j] for j in members])
        for j, value in zip(members, values.unbind(), strict=True):
            a, b = pairs[j]
            if a is b:
                value = _SELF_INNER.setdefault(a, {}).setdefault(0.0, value)
            out[j] = value
    return out  # type: ignore[return-value]


def _log_inner_batch(pairs: list[tuple[GaussianMixture, GaussianMixture]]) -> torch.Tensor:
    """``log ⟨a, b⟩`` ``(B,)`` for ``B`` pairs of mixtures of one shape, each term as
    ``_log_inner_all`` computes it (the same broadcast sums, one batched factorization)."""
    ma = torch.stack([a.means for a, _ in pairs])
    mb = torch.stack([b.means for _, b in pairs])
    ca = torch.stack([a.covs for a, _ in pairs])
    cb = torch.stack([b.covs for _, b in pairs])
    diff = ma[:, :, None, :] - mb[:, None, :, :]  # (B, Ka, Kb, n)
    log_n = _log_normal_at_zero(diff, ca[:, :, None] + cb[:, None, :], 0.0)
    la = torch.stack([a.log_weights for a, _ in pairs])
    lb = torch.stack([b.log_weights for _, b in pairs])
    terms = la[:, :, None] + lb[:, None, :] + log_n
    return torch.logsumexp(terms.reshape(len(pairs), -1), 1)


def _normalized(lpp: torch.Tensor, lqq: torch.Tensor, lpq: torch.Tensor) -> float:
    ratio = math.log(2.0) + float(lpq) - float(torch.logaddexp(torch.as_tensor(lpp),
                                                                torch.as_tensor(lqq)))
    return max(0.0, -math.expm1(ratio))


def mmd(p: Distribution, q: Distribution, bandwidth: float) -> float:
    """Squared MMD with Gaussian kernel of bandwidth ``h`` (closed form for mixtures)."""
    h2 = bandwidth * bandwidth
    log_c = 0.5 * p.dim * math.log(2 * math.pi * h2)
    vals = [math.exp(log_c + float(log_inner(a, b, h2))) for a, b in ((p, p), (q, q), (p, q))]
    return max(0.0, vals[0] + vals[1] - 2.0 * vals[2])
