"""Estimated discrepancies for compositions with no closed form in more than 2 dimensions.

Self-normalized importance sampling (SNIS): draw ``x_j ~ r`` from a Gaussian-mixture
proposal, weight ``w_j ∝ q̃(x_j) / r(x_j)`` with the unnormalized target ``q̃``. Weighted
samples represent ``q``; their quality is the effective sample size
``ESS = 1 / Σ w_j²`` (Kish). The proposal is adapted once: a defensive mixture of the
members' components and a broad Gaussian, then a Gaussian moment-matched to the first
round's weighted samples (covariance doubled) is added to it.

Discrepancies are squared MMD with a Gaussian kernel, relative to the exact side's
``E k(Y, Y')`` so that they are scale free, with the diagonal terms ``Σ w_j² k(x_j, x_j)``
removed (their bias is ``O(1/ESS)``). The error bar is a bootstrap standard error over
resampled proposal draws, the Gram matrix computed once.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch

from numerics.checks.metrics import log_inner
from numerics.laws import Distribution, GaussianMixture

# Proposal draws per round and points kept for the Gram matrices (N² memory).
DRAWS = 20000
GRAM_POINTS = 2000
BOOTSTRAP = 40


@dataclass(frozen=True)
class WeightedSample:
    """Points ``x (N, n)`` with normalized weights ``w (N,)`` representing one law."""

    x: torch.Tensor
    w: torch.Tensor

    @property
    def ess(self) -> float:
        return float(1.0 / (self.w * self.w).sum())

    def head(self, m: int) -> WeightedSample:
        """The first ``m`` points, weights renormalized: a random subset, since the points
        are independent draws (resampling by weight would duplicate points and bias the
        off-diagonal kernel sums)."""
        w = self.w[:m]
        return WeightedSample(self.x[:m], w / w.sum())

    def mapped(self, fn) -> WeightedSample:
        return WeightedSample(fn(self.x), self.w)


def _proposal(members: list[Distribution]) -> GaussianMixture:
    mixes = [p.to_mixture() for p in members]
    means = torch.cat([m.means for m in mixes])
    covs = torch.cat([m.covs for m in mixes])
    center = means.mean(0)
    spread = torch.cov(means.T).reshape(means.shape[1], -1) if len(means) > 1 else 0.0
    broad = 4.0 * (covs.mean(0) + spread)
    n_comp = len(means) + 1
    return GaussianMixture(torch.full((n_comp,), 1.0 / n_comp, dtype=means.dtype),
                           torch.cat([means, center[None]]),
                           torch.cat([covs, broad[None]]), validate=False)


def importance_sample(target: Distribution, members: list[Distribution],
                      generator: torch.Generator, draws: int = DRAWS) -> WeightedSample:
    """SNIS for a target with unnormalized ``log_prob`` (see the module docstring)."""
    proposal = _proposal(members)
    for _ in range(2):
        x = proposal.sample(draws, generator)
        logw = target.log_prob(x) - proposal.log_prob(x)
        sample = WeightedSample(x, torch.softmax(logw, 0))
        mean = sample.w @ x
        cov = (sample.w[:, None] * (x - mean)).T @ (x - mean)
        fitted = GaussianMixture.gaussian(mean, 2.0 * cov + 1e-9 * torch.eye(len(mean),
                                                                          dtype=x.dtype))
        proposal = _mix(proposal, fitted)
    return sample


def _mix(a: GaussianMixture, b: GaussianMixture) -> GaussianMixture:
    return GaussianMixture(torch.cat([0.5 * a.weights, 0.5 * b.weights]),
                           torch.cat([a.means, b.means]), torch.cat([a.covs, b.covs]),
                           validate=False)


def exact_sample(p: Distribution, n: int, generator: torch.Generator) -> WeightedSample:
    return WeightedSample(p.sample(n, generator), torch.full((n,), 1.0 / n, dtype=p.dtype))


def bandwidth_for(p: Distribution) -> float:
    """Kernel bandwidth: root mean per-coordinate variance of ``p`` (its natural scale)."""
    return math.sqrt(float(torch.diagonal(p.covariance).mean()))


@dataclass(frozen=True)
class Estimate:
    value: float
    stderr: float
    ess: float


def relative_mmd(sample: WeightedSample, exact: Distribution, generator: torch.Generator,
                 reference: WeightedSample | None = None) -> Estimate:
    """Relative squared MMD between a weighted sample and ``exact`` (closed-form terms for
    ``exact``), or, when ``reference`` is given, between two weighted samples (``exact``
    then only sets the bandwidth and the normalization ``E k(Y, Y')``)."""
    h = bandwidth_for(exact)
    h2 = h * h
    log_c = 0.5 * exact.dim * math.log(2 * math.pi * h2)
    norm = math.exp(log_c + float(log_inner(exact, exact, h2)))
    a = sample.head(GRAM_POINTS)
    kaa = _gram(a.x, a.x, h2)
    if reference is None:
        b = a
        cross = torch.exp(exact.to_mixture().convolved(1.0, h2).log_prob(a.x) + log_c)

        def stat(i: torch.Tensor, j: torch.Tensor) -> float:
            w = a.w[i] / a.w[i].sum()
            return (_offdiag(kaa[i][:, i], w) - 2 * float(w @ cross[i]) + norm) / norm
    else:
        b = reference.head(GRAM_POINTS)
        kbb, kab = _gram(b.x, b.x, h2), _gram(a.x, b.x, h2)

        def stat(i: torch.Tensor, j: torch.Tensor) -> float:
            w, v = a.w[i] / a.w[i].sum(), b.w[j] / b.w[j].sum()
            return (_offdiag(kaa[i][:, i], w) + _offdiag(kbb[j][:, j], v)
                    - 2 * float(w @ kab[i][:, j] @ v)) / norm

    na, nb = len(a.w), len(b.w)
    boots = [stat(torch.randint(na, (na,), generator=generator),
                  torch.randint(nb, (nb,), generator=generator)) for _ in range(BOOTSTRAP)]
    value = stat(torch.arange(na), torch.arange(nb))
    return Estimate(value, float(torch.tensor(boots).std()), min(a.ess, b.ess))


def _gram(x: torch.Tensor, y: torch.Tensor, h2: float) -> torch.Tensor:
    return torch.exp(-0.5 * torch.cdist(x, y).square() / h2)


def _offdiag(kern: torch.Tensor, w: torch.Tensor) -> float:
    """``Σ_{a≠b} w_a w_b k_ab / (1 − Σ w²)``: the weighted U-statistic."""
    total = float(w @ kern @ w) - float((w * w) @ torch.diagonal(kern))
    return total / max(1e-300, 1.0 - float((w * w).sum()))
