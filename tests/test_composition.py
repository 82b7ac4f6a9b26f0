"""Composition operators (numerics/composition/compose.py) against THEORY §1–§5 closed forms.

``C_w[p⃗] ∝ p_b^{1 − Σ w_i} Π p_i^{w_i}`` is checked pointwise (the log-ratio to the
formula is a constant, the result integrates to 1), in product form under Factorized
Conditionals (C1), tilted by weights (C14), as a simple product of Gaussians, for
non-normalizable families, and under a common linear pushforward (C4, linear case).
Exact identities use tolerances ~100-1000x above the measured round-off (noted beside
each constant); the Monte Carlo normalization check states its failure budget.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import pytest
import torch
from scipy import stats

from numerics.checks.metrics import normalized_l2
from numerics.composition.compose import compose, compose_exponents, simple_product
from numerics.laws import (
    BlockProduct,
    Distribution,
    ExpansionTooLarge,
    GaussianMixture,
    LinearPushforward,
)
from numerics.laws.family import Family
from numerics.laws.grid import GridDensity, default_bounds
from numerics.laws.unnormalized import NonNormalizable, UnnormalizedComposition
from numerics.tolerances import EXACT_TOL

F64 = torch.float64

# --- tolerances --------------------------------------------------------------------------
# log C(x) − Σ e_m log p_m(x) must be one constant: its spread is float64 round-off of
# O(|log p|) terms (measured max spread 8.5e-14 where Σ|e_m log p_m| reaches 230, i.e.
# 4.2e-16 per unit), allowed 1e-11 per unit of the largest term.
CONST_RTOL = 1e-11
# Scores of two exact forms of one law: summed in a different order (measured ≤ 1.1e-15
# relative to the largest score entry).
SCORE_RTOL = 1e-10
# Parameters from the library vs a hand formula through one small matrix inverse
# (measured ≤ 2.3e-16 absolute on O(1) entries).
CLOSED_RTOL = 1e-10
# Grid normalizers in 1-D: 2001-node trapezoid rule over ±8 total sd of a smooth density
# converges spectrally, the truncated mass is tiny (measured |log ∫| ≤ 1.0e-11, the
# largest for k = 3, whose composed components sit far from the total mean).
GRID_TOL = 1e-9
# Monte Carlo importance-sampling checks of ∫C = 1 and of Z: N_SE standard errors
# (two-sided normal tail 2e-9 each; 8 comparisons, so < 2e-8 in all; measured |z| ≤ 1.3,
# relative standard errors 0.6%–2.7%).
N_SE = 6.0
N_IS = 20_000


def _gen(seed: int) -> torch.Generator:
    return torch.Generator().manual_seed(seed)


def _t(x) -> torch.Tensor:
    return torch.as_tensor(np.asarray(x, dtype=np.float64), dtype=F64)


def _cov(gen: torch.Generator, n: int, lo: float, hi: float) -> torch.Tensor:
    """Random SPD matrix with eigenvalues in ``[lo, hi]`` (``Q diag Qᵀ``)."""
    q, _ = torch.linalg.qr(torch.randn(n, n, generator=gen, dtype=F64))
    eig = lo + (hi - lo) * torch.rand(n, generator=gen, dtype=F64)
    return (q * eig) @ q.T


def _mixture(gen: torch.Generator, n: int, k: int, lo: float, hi: float,
             spread: float = 1.5) -> GaussianMixture:
    logits = torch.randn(k, generator=gen, dtype=F64).clamp(-2.0, 2.0)
    means = spread * torch.randn(k, n, generator=gen, dtype=F64)
    covs = torch.stack([_cov(gen, n, lo, hi) for _ in range(k)])
    return GaussianMixture(torch.softmax(logits, 0), means, covs)


def _gaussian(mean, cov) -> GaussianMixture:
    return GaussianMixture.gaussian(_t(mean), _t(cov))


def _members_formula(members, exponents, x: torch.Tensor) -> torch.Tensor:
    return sum(e * p.log_prob(x) for p, e in zip(members, exponents, strict=True))


def _score_formula(members, exponents, x: torch.Tensor) -> torch.Tensor:
    return sum(e * p.score(x) for p, e in zip(members, exponents, strict=True))


def _assert_constant_log_ratio(c: Distribution, members, exponents, x) -> float:
    """``log C(x) − Σ e_m log p_m(x)`` is one constant; returns it (``−log Z``)."""
    terms = torch.stack([e * p.log_prob(x) for p, e in zip(members, exponents, strict=True)])
    diff = c.log_prob(x) - terms.sum(0)
    scale = 1.0 + float(terms.abs().sum(0).max())
    assert float(diff.max() - diff.min()) <= CONST_RTOL * scale
    return float(diff.mean())


def _assert_scores_equal(got: torch.Tensor, want: torch.Tensor) -> None:
    assert got.shape == want.shape
    assert float((got - want).abs().max()) <= SCORE_RTOL * (1.0 + float(want.abs().max()))


# --- random exact-mixture families -------------------------------------------------------
def _mixture_family(seed: int, n: int, k: int) -> Family:
    """Single-Gaussian background (covariance eigenvalues in [3, 5]) and mixture
    conditionals (1–3 components, eigenvalues in [0.2, 0.7]): every combined precision
    Σ Λ_i − (k−1) Λ_b ⪰ (k/0.7 − (k−1)/3) I ≻ 0, so C is an exact normalizable mixture."""
    gen = _gen(seed)
    background = _mixture(gen, n, 1, 3.0, 5.0, spread=0.5)
    counts = [1 + int(torch.randint(3, (1,), generator=gen)) for _ in range(k)]
    conditionals = tuple(_mixture(gen, n, kk, 0.2, 0.7) for kk in counts)
    return Family(background, conditionals)


MIXTURE_FAMILIES = [(0, 1, 1), (1, 1, 2), (2, 1, 3), (3, 2, 2), (4, 3, 3), (5, 2, 3), (6, 3, 1)]
each_mixture_family = pytest.mark.parametrize(
    ("seed", "n", "k"), MIXTURE_FAMILIES, ids=[f"seed{s}-n{n}-k{k}" for s, n, k in
                                               MIXTURE_FAMILIES])


def _probe_points(c: Distribution, family: Family, seed: int) -> torch.Tensor:
    """Points where C has mass and points spread like the (wide) background."""
    gen = _gen(seed)
    return torch.cat([c.sample(200, generator=gen),
                      family.background.sample(200, generator=gen)])


@each_mixture_family
def test_mixture_composition_matches_pointwise_formula(seed, n, k):
    family = _mixture_family(seed, n, k)
    exps = [1.0 - k] + [1.0] * k
    c = compose(family)
    assert isinstance(c, GaussianMixture)
    assert c.num_components == math.prod(p.num_components for p in family.conditionals)
    x = _probe_points(c, family, seed + 100)
    _assert_constant_log_ratio(c, family.members, exps, x)
    _assert_scores_equal(c.score(x), _score_formula(family.members, exps, x))


@pytest.mark.parametrize(("seed", "n", "k"), [s for s in MIXTURE_FAMILIES if s[1] == 1],
                         ids=lambda v: str(v))
def test_mixture_composition_integrates_to_one_on_a_grid(seed, n, k):
    """1-D: C integrates to 1, and the quadrature integral of the unnormalized formula
    ``Π p_m^{e_m}`` is ``Z = exp(−const)`` with ``const`` the pointwise log-ratio."""
    family = _mixture_family(seed, n, k)
    exps = [1.0 - k] + [1.0] * k
    c = compose(family)
    bounds = default_bounds(c)
    assert abs(GridDensity.from_log_density(c.log_prob, bounds).log_normalizer) <= GRID_TOL
    unnormalized = GridDensity.from_log_density(
        lambda x: _members_formula(family.members, exps, x), bounds)
    const = _assert_constant_log_ratio(c, family.members, exps,
                                       _probe_points(c, family, seed + 200))
    assert abs(unnormalized.log_normalizer + const) <= GRID_TOL


@pytest.mark.parametrize(("seed", "n", "k"), [s for s in MIXTURE_FAMILIES if s[1] > 1],
                         ids=lambda v: str(v))
def test_mixture_composition_integrates_to_one_by_importance_sampling(seed, n, k):
    """n ≥ 2: with a Gaussian proposal r whose covariance dominates twice every
    component's (so the weights have finite variance), ``mean C(x)/r(x) = 1`` and
    ``mean Π p_m^{e_m}(x)/r(x) = Z`` within ``N_SE`` standard errors."""
    family = _mixture_family(seed, n, k)
    exps = [1.0 - k] + [1.0] * k
    c = compose(family)
    const = _assert_constant_log_ratio(c, family.members, exps,
                                       _probe_points(c, family, seed + 300))
    r_cov = c.covariance + 2.0 * c.covs.sum(0)
    r_mean = c.mean
    eps = torch.randn(N_IS, n, generator=_gen(seed + 400), dtype=F64)
    x = r_mean + eps @ torch.linalg.cholesky(r_cov).T
    log_r = _t(stats.multivariate_normal(r_mean.numpy(), r_cov.numpy()).logpdf(x.numpy()))
    for log_target, want in ((c.log_prob(x), 1.0),
                             (_members_formula(family.members, exps, x), math.exp(-const))):
        w = torch.exp(log_target - log_r)
        se = float(w.std()) / math.sqrt(N_IS)
        assert abs(float(w.mean()) - want) <= N_SE * se
        assert se <= 0.05 * want  # the check has power: a 5% error would be visible


# --- Factorized Conditionals built as block products -------------------------------------
@dataclass
class FCFamily:
    family: Family
    background_blocks: list[tuple[list[int], Distribution]]  # M_b first if present
    conditional_blocks: list[tuple[list[int], Distribution]]  # (M_i, p_i|M_i)


def _fc_family(seed: int, k: int, block_dim: int, *, with_mb: bool, background: str,
               components: int = 2) -> FCFamily:
    """``p_b = p_b|M_b ⊗ Π_j b_j``, ``p_i = p_b`` with block ``M_i`` replaced by ``c_i``.
    Blocks sit on a random permutation of the coordinates (non-contiguous); ``background``
    is "gaussian" or "mixture" (the background's blocks)."""
    gen = _gen(seed)
    n_blocks = k + int(with_mb)
    perm = torch.randperm(n_blocks * block_dim, generator=gen).tolist()
    coords = [perm[j * block_dim:(j + 1) * block_dim] for j in range(n_blocks)]
    bg_k = 1 if background == "gaussian" else components
    bg_blocks = [(c, _mixture(gen, block_dim, bg_k, 1.5, 3.0, spread=0.7)) for c in coords]
    cond_blocks = [(c, _mixture(gen, block_dim, components, 0.2, 0.7))
                   for c in coords[int(with_mb):]]
    background_dist = BlockProduct(bg_blocks)
    conditionals = []
    for i, (ci, di) in enumerate(cond_blocks):
        blocks = list(bg_blocks)
        blocks[i + int(with_mb)] = (ci, di)
        conditionals.append(BlockProduct(blocks))
    return FCFamily(Family(background_dist, tuple(conditionals)), bg_blocks, cond_blocks)


FC_CASES = [
    pytest.param(dict(seed=10, k=1, block_dim=1, with_mb=True, background="mixture"), id="k1"),
    pytest.param(dict(seed=11, k=2, block_dim=2, with_mb=True, background="mixture"),
                 id="k2-mixture-bg"),
    pytest.param(dict(seed=12, k=3, block_dim=1, with_mb=False, background="gaussian"),
                 id="k3-gaussian-bg"),
    pytest.param(dict(seed=13, k=3, block_dim=2, with_mb=True, background="mixture",
                      components=3), id="k3-3comp"),
]


def _product_form(fc: FCFamily, with_mb: bool) -> BlockProduct:
    """THEORY C1: ``p_b|M_b ⊗ Π_i p_i|M_i``."""
    return BlockProduct(fc.background_blocks[: int(with_mb)] + fc.conditional_blocks)


@pytest.mark.parametrize("spec", FC_CASES)
def test_fc_composition_is_the_product_form(spec):
    fc = _fc_family(**spec)
    c = compose(fc.family)
    assert isinstance(c, BlockProduct)
    assert normalized_l2(c, _product_form(fc, spec["with_mb"])) <= EXACT_TOL
    for coords, block in fc.conditional_blocks:  # projective: Π_i♯C = Π_i♯p_i
        assert normalized_l2(c.marginal(coords), block) <= EXACT_TOL


@pytest.mark.parametrize("spec", [
    pytest.param(dict(seed=20, k=2, block_dim=1, with_mb=True, background="gaussian"),
                 id="k2"),
    pytest.param(dict(seed=21, k=3, block_dim=1, with_mb=False, background="gaussian",
                      components=2), id="k3"),
    pytest.param(dict(seed=22, k=2, block_dim=2, with_mb=False, background="gaussian",
                      components=3), id="k2-2d-blocks"),
])
def test_fc_block_route_equals_flattened_mixture_route(spec):
    """Gaussian background blocks: the flattened family (every member ``to_mixture()``)
    composes through the exact-mixture route to the same law as the block route."""
    fc = _fc_family(**spec)
    c = compose(fc.family)
    flat = Family(fc.family.background.to_mixture(),
                  tuple(p.to_mixture() for p in fc.family.conditionals))
    c_flat = compose(flat)
    assert isinstance(c, BlockProduct)
    assert isinstance(c_flat, GaussianMixture)
    assert normalized_l2(c, c_flat) <= EXACT_TOL


def test_fc_mixture_background_flattened_is_the_same_unnormalized_law():
    """With mixture background blocks the flattened family has a mixture raised to
    1 − k < 0: no closed form (UnnormalizedComposition), yet its log-density differs
    from the block route's by a constant and the scores agree (C1's cancellation)."""
    spec = dict(seed=23, k=2, block_dim=1, with_mb=True, background="mixture")
    fc = _fc_family(**spec)
    c = compose(fc.family)
    flat_members = [p.to_mixture() for p in fc.family.members]
    exps = [1.0 - spec["k"]] + [1.0] * spec["k"]
    u = compose_exponents(flat_members, exps)
    assert isinstance(u, UnnormalizedComposition)
    assert u.tail_exponent > 0
    x = c.sample(300, generator=_gen(24))
    _assert_constant_log_ratio(c, flat_members, exps, x)
    _assert_scores_equal(u.score(x), c.score(x))


def test_fc_composition_cost_is_linear_in_k(monkeypatch):
    """k = 32 conditionals on 8-D blocks of 4-component mixtures: the background has
    4^32 components, yet composing, evaluating and comparing never expand a product."""
    k, dim = 32, 8
    gen = _gen(30)
    coords = [list(range(dim * j, dim * (j + 1))) for j in range(k)]
    bg_blocks = [(c, _mixture(gen, dim, 4, 1.5, 3.0)) for c in coords]
    cond_blocks = [(c, _mixture(gen, dim, 4, 0.2, 0.7)) for c in coords]
    conditionals = []
    for i in range(k):
        blocks = list(bg_blocks)
        blocks[i] = cond_blocks[i]
        conditionals.append(BlockProduct(blocks))
    family = Family(BlockProduct(bg_blocks), tuple(conditionals))

    def forbidden(*args, **kwargs):
        raise AssertionError("a block product was expanded")

    monkeypatch.setattr(BlockProduct, "to_mixture", forbidden)
    try:
        c = compose(family)
    except ExpansionTooLarge as err:  # pragma: no cover - the failure being tested for
        pytest.fail(f"FC composition expanded the family: {err}")
    assert isinstance(c, BlockProduct)
    assert c.num_components == 4**k
    expected = BlockProduct(cond_blocks)
    assert normalized_l2(c, expected) <= EXACT_TOL
    x = expected.sample(5, generator=_gen(31))
    assert torch.allclose(c.log_prob(x), expected.log_prob(x), rtol=1e-12, atol=1e-12)


# --- weighted composition ----------------------------------------------------------------
def _tilted_gaussian(mu_i, cov_i, mu_b, cov_b, w: float) -> tuple[np.ndarray, np.ndarray]:
    """``∝ N(μ_i, Σ_i)^w N(μ_b, Σ_b)^{1−w}``: precision ``Λ = wΛ_i + (1−w)Λ_b``,
    mean ``Λ⁻¹(wΛ_iμ_i + (1−w)Λ_bμ_b)``."""
    li, lb = np.linalg.inv(cov_i), np.linalg.inv(cov_b)
    lam = w * li + (1 - w) * lb
    cov = np.linalg.inv(lam)
    return cov @ (w * li @ mu_i + (1 - w) * lb @ mu_b), cov


def _weighted_fc_family() -> tuple[Family, dict]:
    """M_b = {4}; M_1 = {0, 2}: Gaussian blocks; M_2 = {1, 3}: mixture blocks."""
    gen = _gen(40)
    b_mb = _mixture(gen, 1, 2, 1.0, 2.0)
    mu_b1, cov_b1 = np.array([0.5, -0.3]), _cov(gen, 2, 1.5, 3.0).numpy()
    mu_c1, cov_c1 = np.array([1.5, 1.0]), _cov(gen, 2, 0.3, 0.8).numpy()
    b1, c1 = _gaussian(mu_b1, cov_b1), _gaussian(mu_c1, cov_c1)
    b2, c2 = _mixture(gen, 2, 2, 2.0, 3.0, 0.7), _mixture(gen, 2, 3, 0.3, 0.7)
    m_b, m_1, m_2 = [4], [0, 2], [1, 3]
    background = BlockProduct([(m_b, b_mb), (m_1, b1), (m_2, b2)])
    p1 = BlockProduct([(m_b, b_mb), (m_1, c1), (m_2, b2)])
    p2 = BlockProduct([(m_b, b_mb), (m_1, b1), (m_2, c2)])
    parts = dict(m_b=m_b, m_1=m_1, m_2=m_2, b_mb=b_mb, b2=b2, c2=c2,
                 gauss=(mu_c1, cov_c1, mu_b1, cov_b1))
    return Family(background, (p1, p2)), parts


@pytest.mark.parametrize("w1", [0.5, 2.0, 1.0])
def test_weighted_composition_tilts_a_gaussian_block(w1):
    """THEORY C14: under FC, ``C_w`` with ``w_1 ≠ 1`` gives block M_1 the tilted law
    ``∝ p_1^{w_1} p_b^{1−w_1}`` (Gaussian, computed by hand); M_b keeps the background."""
    family, parts = _weighted_fc_family()
    c = compose(family, weights=[w1, 1.0])
    assert isinstance(c, BlockProduct)
    mean, cov = _tilted_gaussian(*parts["gauss"], w1)
    block = c.marginal(parts["m_1"])
    assert isinstance(block, GaussianMixture) and block.num_components == 1
    assert np.allclose(block.mean.numpy(), mean, rtol=CLOSED_RTOL, atol=CLOSED_RTOL)
    assert np.allclose(block.covariance.numpy(), cov, rtol=CLOSED_RTOL, atol=CLOSED_RTOL)
    assert normalized_l2(block, _gaussian(mean, cov)) <= EXACT_TOL
    assert normalized_l2(c.marginal(parts["m_b"]), parts["b_mb"]) <= EXACT_TOL
    assert normalized_l2(c.marginal(parts["m_2"]), parts["c2"]) <= EXACT_TOL


@pytest.mark.parametrize("w2", [0.5, 1.5])
def test_weighted_composition_of_a_mixture_block_is_unnormalized(w2):
    """``w_2 ≠ 1`` on a mixture block has no mixture closed form: that block is an
    UnnormalizedComposition of ``(b_2, c_2)`` with exponents ``(1 − w_2, w_2)``, and the
    whole composition's score is ``Σ_m e_m ∇log p_m`` with ``e = (1 − Σw, w_1, w_2)``."""
    family, parts = _weighted_fc_family()
    weights = [0.7, w2]
    c = compose(family, weights=weights)
    assert isinstance(c, BlockProduct)
    block = dict((tuple(co), d) for co, d in c.blocks)[tuple(parts["m_2"])]
    assert isinstance(block, UnnormalizedComposition)
    assert block.exponents == pytest.approx([1.0 - w2, w2], abs=1e-15)
    x = family.conditionals[1].sample(200, generator=_gen(41))
    exps = [1.0 - sum(weights), *weights]
    _assert_scores_equal(c.score(x), _score_formula(family.members, exps, x))
    _assert_constant_log_ratio(c, family.members, exps, x)
    y = x[:, parts["m_2"]]
    _assert_scores_equal(block.score(y), (1 - w2) * parts["b2"].score(y)
                         + w2 * parts["c2"].score(y))


# --- simple product ----------------------------------------------------------------------
def test_simple_product_of_gaussians():
    """``Π N(μ_i, Σ_i) ∝ N(Λ⁻¹ Σ Λ_i μ_i, Λ⁻¹)``, ``Λ = Σ Λ_i``; the background plays no
    part (exponent 0)."""
    gen = _gen(50)
    n, k = 2, 3
    means = [torch.randn(n, generator=gen, dtype=F64).numpy() for _ in range(k)]
    covs = [_cov(gen, n, 0.3, 2.0).numpy() for _ in range(k)]
    lam = sum(np.linalg.inv(c) for c in covs)
    cov = np.linalg.inv(lam)
    mean = cov @ sum(np.linalg.inv(c) @ m for c, m in zip(covs, means, strict=True))
    conds = tuple(_gaussian(m, c) for m, c in zip(means, covs, strict=True))
    for background in (_gaussian(np.zeros(n), np.eye(n)), _mixture(gen, n, 2, 0.5, 1.0)):
        p = simple_product(Family(background, conds))
        assert isinstance(p, GaussianMixture) and p.num_components == 1
        assert np.allclose(p.mean.numpy(), mean, rtol=CLOSED_RTOL, atol=CLOSED_RTOL)
        assert np.allclose(p.covariance.numpy(), cov, rtol=CLOSED_RTOL, atol=CLOSED_RTOL)
        assert normalized_l2(p, _gaussian(mean, cov)) <= EXACT_TOL


# --- normalizability ---------------------------------------------------------------------
ROTATION = np.array([[math.cos(0.6), -math.sin(0.6)], [math.sin(0.6), math.cos(0.6)]])


def _rotated(precision_diag) -> np.ndarray:
    """Covariance with the given precision eigenvalues along rotated axes."""
    return ROTATION @ np.diag(1.0 / np.asarray(precision_diag)) @ ROTATION.T


@pytest.mark.parametrize(("lam_b", "normalizable"), [
    pytest.param([4.0, 1.0], False, id="indefinite"),      # Σ Λ_i − Λ_b = diag(−2, 1)
    pytest.param([2.0, 1.0], False, id="singular"),        # diag(0, 1): flat direction
    pytest.param([2.0 - 1e-6, 1.0], True, id="borderline-pd"),  # diag(1e-6, 1)
])
def test_gaussian_normalizability(lam_b, normalizable):
    """k = 2 conditionals with precision I; background precision ``Λ_b``: Z < ∞ iff
    ``2I − Λ_b`` is positive definite. The borderline case keeps variance 1e6 along its
    weak axis (the result is checked against the hand formula)."""
    bg = _gaussian([0.3, -0.2], _rotated(lam_b))
    conds = (_gaussian([1.0, 0.0], np.eye(2)), _gaussian([0.0, 1.0], np.eye(2)))
    family = Family(bg, conds)
    if not normalizable:
        with pytest.raises(NonNormalizable):
            compose(family)
        return
    c = compose(family)
    lam = 2.0 * np.eye(2) - np.linalg.inv(_rotated(lam_b))
    cov = np.linalg.inv(lam)
    eta = np.array([1.0, 0.0]) + np.array([0.0, 1.0]) - np.linalg.inv(_rotated(lam_b)) @ \
        np.array([0.3, -0.2])
    # λ_min(Λ) = 1e-6 amplifies round-off by cond(Λ) = 1e6: 1e-15 · 1e6 ≈ 1e-9 relative
    assert np.allclose(c.covariance.numpy(), cov, rtol=1e-7, atol=0)
    assert np.allclose(c.mean.numpy(), cov @ eta, rtol=1e-7, atol=1e-7 * np.abs(cov @ eta).max())


# A mixture background raised to −1 whose two components are narrow along different axes:
# min_j uᵀΛ_{b,j}u peaks at 2.125 on the diagonal u = (1, 1)/√2 and is 0.25 on the axes.
# With Σ Λ_i = 2·lam·I the tail exponent is min_u (2 lam − min_j uᵀΛ_{b,j}u) = 2 lam − 2.125.
# (Each single component choice 2 lam I − Λ_{b,j} is indefinite for lam < 2, so a
# component-by-component eigenvalue test would wrongly call lam = 1.2 non-normalizable.)
CROSSED_BACKGROUND = GaussianMixture(_t([0.5, 0.5]), _t([[0.0, 0.0], [0.0, 0.0]]),
                                     _t([np.diag([0.25, 4.0]), np.diag([4.0, 0.25])]))
# Powell on a function with a kink at its minimum (a start on the diagonal hits it
# exactly: measured error 0); 1e-6 allows a minimizer that stops near the kink.
TAIL_TOL = 1e-6
# log Z on boxes |x|∞ ≤ 10 and ≤ 14 at one spacing: differs by the mass beyond the smaller
# box (measured 1.5e-13; ≤ 8 it is 2.6e-9 and ≤ 6 it is 5.7e-6, the decay of a finite Z;
# for the non-normalizable lam = 1 the same two boxes differ by 12.6).
GRID_BOX_TOL = 1e-10
GRID_STEP = 0.1  # nodes of the smaller box are a subset of the larger: only truncation differs


def _crossed_family(lam: float) -> list[Distribution]:
    cov = np.eye(2) / lam
    return [CROSSED_BACKGROUND, _gaussian([0.2, 0.0], cov), _gaussian([0.0, -0.1], cov)]


def test_unnormalized_composition_with_decaying_tail_is_accepted():
    members = _crossed_family(1.2)
    exps = [-1.0, 1.0, 1.0]
    u = compose(Family(members[0], tuple(members[1:])))
    assert isinstance(u, UnnormalizedComposition)
    scale = 4.0  # the largest precision entry, which the tail exponent is relative to
    assert abs(u.tail_exponent - (2 * 1.2 - 2.125) / scale) <= TAIL_TOL
    x = torch.randn(100, 2, generator=_gen(60), dtype=F64) * 2.0
    assert torch.allclose(u.log_prob(x), _members_formula(members, exps, x), rtol=1e-12,
                          atol=1e-12)  # the same three terms, summed in the same order
    _assert_scores_equal(u.score(x), _score_formula(members, exps, x))
    # Z < ∞ indeed: the quadrature integral stops growing with the box
    z = _box_log_normalizers(u.log_prob, (10.0, 14.0))
    assert abs(z[0] - z[1]) <= GRID_BOX_TOL


def _box_log_normalizers(log_density, halves) -> list[float]:
    """``log ∫_{|x|∞ ≤ L} exp(log_density)`` by quadrature at spacing ``GRID_STEP``."""
    return [GridDensity.from_log_density(log_density, [(-half, half)] * 2,
                                         round(2 * half / GRID_STEP) + 1).log_normalizer
            for half in halves]


@pytest.mark.parametrize("lam", [1.0, 2.125 / 2])
def test_unnormalized_composition_with_non_decaying_tail_raises(lam):
    """``2 lam − 2.125 ≤ 0``: the composed density grows (or stays flat) along the
    diagonal, so Z = ∞."""
    members = _crossed_family(lam)
    with pytest.raises(NonNormalizable):
        compose(Family(members[0], tuple(members[1:])))
    if lam < 2.125 / 2:  # strictly growing: the box integrals of the formula blow up
        z = _box_log_normalizers(lambda x: _members_formula(members, [-1.0, 1.0, 1.0], x),
                                 (10.0, 14.0))
        assert z[1] - z[0] > 1.0


# --- common linear pushforward (C4, linear) ----------------------------------------------
def _coupling_matrix(n: int, seed: int) -> tuple[torch.Tensor, torch.Tensor]:
    gen = _gen(seed)
    return (torch.eye(n, dtype=F64) + 0.4 * torch.randn(n, n, generator=gen, dtype=F64),
            torch.randn(n, generator=gen, dtype=F64))


def test_composition_commutes_with_a_common_linear_pushforward_fc():
    """``C[B♯p⃗] = B♯C[p⃗]`` for an FC family and a B that couples the blocks (so every
    ``B♯p_m`` is a lazy LinearPushforward)."""
    fc = _fc_family(seed=70, k=2, block_dim=2, with_mb=True, background="mixture")
    b, c = _coupling_matrix(fc.family.dim, 71)
    pushed = fc.family.with_members([p.pushforward(b, c) for p in fc.family.members])
    assert all(isinstance(p, LinearPushforward) for p in pushed.members)
    lhs = compose(pushed)
    rhs = compose(fc.family).pushforward(b, c)
    assert normalized_l2(lhs, rhs) <= EXACT_TOL
    assert normalized_l2(lhs.to_mixture(), rhs.to_mixture()) <= EXACT_TOL


@pytest.mark.parametrize("operator", [compose, simple_product], ids=["C", "simple"])
def test_composition_commutes_with_a_common_linear_pushforward_mixtures(operator):
    """Exact-mixture route: pushed members are mixtures again and the constant Jacobian
    cancels in the normalization (for the simple product too: affine maps are the case
    C5 allows)."""
    family = _mixture_family(seed=72, n=3, k=2)
    b, c = _coupling_matrix(3, 73)
    pushed = family.with_members([p.pushforward(b, c) for p in family.members])
    lhs = operator(pushed)
    rhs = operator(family).pushforward(b, c)
    assert isinstance(lhs, GaussianMixture)
    assert normalized_l2(lhs, rhs) <= EXACT_TOL


# --- the composition hook ------------------------------------------------------------------
class SelfComposing(GaussianMixture):
    """A Gaussian with a composition rule of its own (``Distribution.compose_with``): it
    records what it was asked and answers with ``answer``."""

    answer: Distribution
    asked: list

    def compose_with(self, members, exponents):
        self.asked.append(([id(p) for p in members], list(exponents)))
        return self.answer


def test_compose_consults_the_first_members_own_rule_first():
    """``compose_exponents`` hands the members (zero exponents dropped) to ``members[0]``'s
    hook and returns its answer as is; the default hook (``None``) leaves the generic
    routes in charge."""
    eye = torch.eye(2, dtype=F64)
    first = SelfComposing.gaussian(torch.zeros(2, dtype=F64), eye)
    first.answer, first.asked = GaussianMixture.gaussian(torch.ones(2, dtype=F64), eye), []
    second = GaussianMixture.gaussian(torch.full((2,), 0.5, dtype=F64), eye)
    third = GaussianMixture.gaussian(-torch.ones(2, dtype=F64), 0.5 * eye)
    members = [first, second, second, third]
    assert compose_exponents(members, [-1.0, 1.0, 0.0, 1.0]) is first.answer
    assert first.asked == [([id(first), id(second), id(third)], [-1.0, 1.0, 1.0])]
    # the single-member shortcut needs no rule; a plain Gaussian first has none
    assert compose_exponents(members, [0.0, 1.0, 0.0, 0.0]) is second
    generic = compose_exponents([second, third], [-1.0, 2.0])
    assert isinstance(generic, GaussianMixture) and len(first.asked) == 1
