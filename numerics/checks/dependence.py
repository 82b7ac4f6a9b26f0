"""Dependence structure of Gaussian mixtures read from their parameters (THEORY §3; the
cheap decisions of partition inference, ``numerics.checks.fc.infer_partition``).

Partition inference asks which coordinate pairs the background makes dependent and where
a conditional differs from it: with ``n`` coordinates, ``n²/2`` exact 2-D tests
(normalized L2 of a 2-D marginal against the product of its 1-D marginals, or of two
marginals, against ``EXACT_TOL``). For a mixture ``Σ_k w_k N(μ_k, Σ_k)`` most answers can
be read off the parameters at once, cheapest first:

1. **structure**: ``x_i`` and ``x_j`` are independent when ``Σ_k[i, j] = 0`` in every
   component and one of them, say ``x_i``, has the same mean and variance in every
   component: then ``x_i`` is independent of ``(x_j, component)``. Exact zeros only.
2. **closed forms, vectorized**: the normalized L2 ``D`` of every pair of 1-D marginals
   (any number of components, ``(n, K, L)`` arrays), and for a single Gaussian that of
   every 2-D marginal against the product of its 1-D marginals, a function of the
   correlation alone: with ``ρ² = Σ_ij²/(Σ_ii Σ_jj)``, ``‖p‖² ∝ (1 − ρ²)^{−1/2}``,
   ``‖q‖² ∝ 1`` and ``⟨p, q⟩ ∝ 2 (4 − ρ²)^{−1/2}``, so

       D(ρ) = 1 − 4 / ((4 − ρ²)^{1/2} (1 + (1 − ρ²)^{−1/2})).

A closed-form value decides only when it is farther than ``MARGIN`` from the tolerance:
the per-pair test computes the same quantity by another route, and the two agree to
float64 round-off (≲ 1e-13 here), so every decision taken is the one that test takes.
The rest is left undecided, for the exact test.
"""

from __future__ import annotations

import math

import torch

from numerics.laws import GaussianMixture
from numerics.tolerances import EXACT_TOL

# Decide from a closed form only when |D − EXACT_TOL| > MARGIN: 1% of the tolerance, far
# above the ≲ 1e-13 by which two float64 evaluations of D differ.
MARGIN = 1e-2 * EXACT_TOL


def independent_pairs(p: GaussianMixture) -> torch.Tensor:
    """``(n, n)`` bools: pairs that decision 1 (structure) shows independent."""
    covs = p.covs
    uncoupled = (covs == 0).all(0)
    variances = torch.diagonal(covs, dim1=-2, dim2=-1)
    fixed = ((p.means == p.means[:1]).all(0) & (variances == variances[:1]).all(0))
    return uncoupled & (fixed[:, None] | fixed[None, :])


def gaussian_pair_dependence(p: GaussianMixture) -> tuple[torch.Tensor, torch.Tensor]:
    """For a single Gaussian: ``(known, dependent)``, ``(n, n)`` bools — whether
    ``D(ρ_ij)`` (module docstring) decides the pair, and whether it exceeds
    ``EXACT_TOL``."""
    cov = p.covs[0]
    var = torch.diagonal(cov)
    rho2 = (cov.square() / (var[:, None] * var[None, :])).clamp(0.0, 1.0)
    gap = 1.0 - 4.0 / ((4.0 - rho2).sqrt() * (1.0 + (1.0 - rho2).rsqrt()))
    gap = torch.where(rho2 < 1.0, gap, torch.ones_like(gap))
    return _decided(gap)


def marginal_differences(p: GaussianMixture, q: GaussianMixture
                         ) -> tuple[torch.Tensor, torch.Tensor]:
    """``(known, differ)``, ``(n,)`` bools: the normalized L2 between the 1-D marginals
    ``p|{i}`` and ``q|{i}`` of every coordinate at once, from the 1-D Gaussian overlaps
    ``N(m_a − m_b; 0, s_a + s_b)`` (``numerics.checks.metrics``), and whether it decides."""
    lpp, lqq, lpq = _log_inner_1d(p, p), _log_inner_1d(q, q), _log_inner_1d(p, q)
    ratio = math.log(2.0) + lpq - torch.logaddexp(lpp, lqq)
    return _decided((-torch.expm1(ratio)).clamp_min(0.0))


def same_pair_marginals(p: GaussianMixture, q: GaussianMixture) -> torch.Tensor:
    """``(n, n)`` bools: pairs whose 2-D marginals have identical parameters, component
    by component (then they are the same law: no difference to test)."""
    n = p.dim
    if p.num_components != q.num_components or not torch.equal(p.weights, q.weights):
        return torch.zeros(n, n, dtype=torch.bool)
    means = (p.means == q.means).all(0)
    covs = (p.covs == q.covs).all(0)
    variances = torch.diagonal(covs)
    return covs & means[:, None] & means[None, :] & variances[:, None] & variances[None, :]


def _log_inner_1d(p: GaussianMixture, q: GaussianMixture) -> torch.Tensor:
    """``log ∫ p|{i} q|{i}`` for every coordinate ``i``: ``(n,)``."""
    mp, mq = p.means.T, q.means.T  # (n, K), (n, L)
    vp = torch.diagonal(p.covs, dim1=-2, dim2=-1).T
    vq = torch.diagonal(q.covs, dim1=-2, dim2=-1).T
    var = vp[:, :, None] + vq[:, None, :]
    diff = mp[:, :, None] - mq[:, None, :]
    log_n = -0.5 * (diff.square() / var + var.log() + math.log(2 * math.pi))
    terms = p.log_weights[None, :, None] + q.log_weights[None, None, :] + log_n
    return torch.logsumexp(terms.flatten(1), 1)


def _decided(gap: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    return (gap - EXACT_TOL).abs() > MARGIN, gap > EXACT_TOL
