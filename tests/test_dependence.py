"""Partition inference in high dimension (issue 15, item 2): the cheap decisions of
``numerics.checks.dependence`` and the skipping in ``numerics.checks.fc`` give the same
groups and partitions as testing every pair exactly, on mixtures with structural zeros,
coordinates fixed across components, dense Gaussians and conditionals that change
means, variances or correlations; the exact C20 locality of Gaussian families agrees with
its estimate; symmetric mixture inner products agree with the full double sum.
"""

from __future__ import annotations

import math

import pytest
import torch

from numerics.checks import fc, metrics
from numerics.checks.dependence import (
    gaussian_pair_dependence,
    independent_pairs,
    marginal_differences,
)
from numerics.checks.locality import family_locality, gaussian_locality
from numerics.checks.metrics import log_inner
from numerics.laws import GaussianMixture
from numerics.laws.family import Family, FeatureMap

F64 = torch.float64


def structured_mixture(n: int, components: int, g: torch.Generator) -> GaussianMixture:
    """Covariances block-diagonal on a random partition of the coordinates, with about a
    third of the coordinates fixed (same mean and variance) across components."""
    perm = torch.randperm(n, generator=g).tolist()
    cuts = sorted(torch.randperm(n - 1, generator=g)[: n // 3].add(1).tolist())
    groups = [perm[a:b] for a, b in zip([0, *cuts], [*cuts, n], strict=True)]
    fixed = torch.rand(n, generator=g) < 0.35
    covs = torch.zeros(components, n, n, dtype=F64)
    means = torch.randn(components, n, generator=g, dtype=F64)
    for group in groups:
        idx = torch.tensor(group)
        raw = torch.randn(components, len(group), len(group), generator=g, dtype=F64)
        block = raw @ raw.transpose(-1, -2) / len(group) + 0.5 * torch.eye(len(group), dtype=F64)
        if len(group) == 1 and bool(fixed[group[0]]):
            block = block[:1].expand(components, 1, 1)
            means[:, idx] = means[:1, idx]
        covs[:, idx[:, None], idx[None, :]] = block
    weights = torch.softmax(torch.randn(components, generator=g, dtype=F64), 0)
    return GaussianMixture(weights, means, 0.5 * (covs + covs.transpose(-1, -2)))


def changed(p: GaussianMixture, coords: list[int], how: str) -> GaussianMixture:
    """``p`` with its means shifted, its variances scaled, or a correlation added on
    ``coords``."""
    means, covs = p.means.clone(), p.covs.clone()
    idx = torch.tensor(coords)
    if how == "mean":
        means[:, idx] += 1.5
    elif how == "variance":
        covs[:, idx, idx] *= 2.0
    else:
        i, j = coords[0], coords[-1]
        scale = 0.3 * (covs[:, i, i] * covs[:, j, j]).sqrt()
        covs[:, i, j] += scale
        covs[:, j, i] += scale
        covs[:, idx, idx] += 0.5
    return GaussianMixture(p.weights, means, covs)


def exhaustive_groups(bg: GaussianMixture) -> list[list[int]]:
    """Components of the dependence graph with every pair tested exactly (the reference)."""
    n = bg.dim
    parent = list(range(n))

    def root(c: int) -> int:
        while parent[c] != c:
            c = parent[c]
        return c

    for i in range(n):
        for j in range(i + 1, n):
            if fc._dependent(bg, [i, j]):
                parent[root(j)] = root(i)
    groups: dict[int, list[int]] = {}
    for c in range(n):
        groups.setdefault(root(c), []).append(c)
    return list(groups.values())


def exhaustive_differing(bg: GaussianMixture, p: GaussianMixture) -> set[int]:
    n = bg.dim
    single = {i for i in range(n) if fc._marginals_differ(bg, p, [i])}
    out = set(single)
    for i in range(n):
        for j in range(i + 1, n):
            if not fc._marginals_differ(bg, p, [i, j]):
                continue
            if not ({i, j} & single) or (fc._dependent(p, [i, j])
                                         and not fc._dependent(bg, [i, j])):
                out |= {i, j}
    return out


def exhaustive_partition(family: Family) -> list[list[int]]:
    groups = exhaustive_groups(family.background)
    return [sorted({c for g in groups if exhaustive_differing(family.background, p) & set(g)
                    for c in g}) for p in family.conditionals]


@pytest.mark.parametrize("seed", range(12))
def test_inferred_partition_matches_every_pair_tested(seed: int) -> None:
    g = torch.Generator().manual_seed(seed)
    n, components = [3, 5, 7, 9][seed % 4], [1, 2, 3][seed % 3]
    bg = structured_mixture(n, components, g)
    conditionals = []
    for how in ("mean", "variance", "correlation"):
        coords = sorted(torch.randperm(n, generator=g)[:2].tolist())
        conditionals.append(changed(bg, coords, how))
    family = Family(bg, tuple(conditionals))
    assert fc._background_groups(bg) == exhaustive_groups(bg)
    assert fc.infer_partition(family)[0] == exhaustive_partition(family)


@pytest.mark.parametrize("n", [2, 6, 12])
def test_dense_gaussians_are_one_group(n: int) -> None:
    g = torch.Generator().manual_seed(n)
    raw = torch.randn(n, n, generator=g, dtype=F64)
    cov = raw @ raw.T / n + torch.eye(n, dtype=F64)
    bg = GaussianMixture.gaussian(torch.zeros(n, dtype=F64), 0.5 * (cov + cov.T))
    known, dependent = gaussian_pair_dependence(bg)
    off = ~torch.eye(n, dtype=torch.bool)
    assert bool(known[off].all()) and bool(dependent[off].all())
    assert fc._background_groups(bg) == exhaustive_groups(bg) == [list(range(n))]


def test_closed_forms_agree_with_the_exact_tests() -> None:
    """Where a closed form decides, it decides as the exact test does: correlations near
    the tolerance's edge (D(ρ) ≈ ρ²/8 = 1e-9 at ρ ≈ 9e-5) are left undecided or agree."""
    rhos = [0.0, 1e-6, 5e-5, 8.9e-5, 9.0e-5, 9.1e-5, 1e-4, 0.3, 0.99]
    for rho in rhos:
        bg = GaussianMixture.gaussian(torch.zeros(2, dtype=F64),
                                      torch.tensor([[2.0, 2 * rho], [2 * rho, 2.0]], dtype=F64))
        known, dependent = gaussian_pair_dependence(bg)
        if bool(known[0, 1]):
            assert bool(dependent[0, 1]) == fc._dependent(bg, [0, 1]), rho
    g = torch.Generator().manual_seed(3)
    p = structured_mixture(6, 3, g)
    q = changed(p, [1, 4], "mean")
    known, differ = marginal_differences(p, q)
    for i in range(6):
        if bool(known[i]):
            assert bool(differ[i]) == fc._marginals_differ(p, q, [i])
    # coordinate 2 has the same mean and variance in every component and no covariance:
    # independent of 0 and 1 (decided), while 0 and 1 move together (left to the test)
    means = torch.tensor([[0.0, 0.0, 1.0], [2.0, 3.0, 1.0], [-1.0, 1.0, 1.0]], dtype=F64)
    covs = torch.diag_embed(torch.tensor([[1.0, 2.0, 0.5], [0.5, 1.0, 0.5], [2.0, 1.0, 0.5]],
                                         dtype=F64))
    mixture = GaussianMixture(torch.full((3,), 1 / 3, dtype=F64), means, covs)
    independent = independent_pairs(mixture)
    assert independent[0, 2] and independent[1, 2] and not independent[0, 1]
    assert not fc._dependent(mixture, [0, 2]) and not fc._dependent(mixture, [1, 2])
    assert fc._dependent(mixture, [0, 1])


@pytest.mark.parametrize("feature_map", [False, True])
def test_gaussian_locality_is_what_the_estimate_estimates(feature_map: bool) -> None:
    """Exact C20 for Gaussian members against 256 points × 8 probes of the JVP estimate:
    within 5 standard errors (false alarm < 1e-6 for a normal estimate)."""
    g = torch.Generator().manual_seed(11)
    n = 5

    def dense(scale: float) -> GaussianMixture:
        raw = torch.randn(n, n, generator=g, dtype=F64)
        cov = scale * (raw @ raw.T / n + 0.5 * torch.eye(n, dtype=F64))
        return GaussianMixture.gaussian(torch.randn(n, generator=g, dtype=F64),
                                        0.5 * (cov + cov.T))

    family = Family(dense(4.0), (dense(1.0), dense(1.0)))
    blocks = [[0, 1], [2, 3, 4]]
    if feature_map:
        matrix = torch.eye(n, dtype=F64) + 0.3 * torch.randn(n, n, generator=g, dtype=F64)
        family = Family(family.background, family.conditionals,
                        feature_map=FeatureMap(matrix, torch.zeros(n, dtype=F64),
                                               ((0, 1), (2, 3, 4))))
    exact = gaussian_locality(family, 1e-3, blocks)
    estimates = family_locality(family, 1e-3, blocks, torch.Generator().manual_seed(0),
                                points=256, probes=8)
    for value, estimate in zip(exact, estimates, strict=True):
        assert 0.0 < value < 2.0
        assert abs(value - estimate.statistic) <= 5 * estimate.stderr


@pytest.mark.parametrize("pair_elements", [2**20, 40])
def test_symmetric_inner_product_is_the_full_double_sum(
        pair_elements: int, monkeypatch: pytest.MonkeyPatch) -> None:
    """``⟨p, p⟩`` over unordered component pairs (chunked: ``PAIR_ELEMENTS`` = 40 holds
    one 6 × 6 pair) equals the full ``K × K`` sum, and a second, memoized call the same."""
    monkeypatch.setattr(metrics, "PAIR_ELEMENTS", pair_elements)
    g = torch.Generator().manual_seed(5)
    p = structured_mixture(6, 5, g)
    q = GaussianMixture(p.weights, p.means.clone(), p.covs.clone())  # same law, new object
    for extra in (0.0, 0.3):
        first = float(log_inner(p, p, extra))
        assert first == float(log_inner(p, p, extra))
        assert math.isclose(first, float(log_inner(p, q, extra)), rel_tol=1e-13)
