"""Distributions with exact noisy scores (numerics/distributions) and the closed-form
metrics built on them (numerics/checks/metrics.py), against independent references.

One table of cases (``CASES``) is shared by every generic test, NumPyro style: each case
carries its constructor, a scipy/numpy reference log-density built from the raw
parameters (never from the library), and capability flags. Exact identities are checked
in float64 with tolerances set ~100-1000x above the measured round-off (noted beside
each constant). Statistical checks use fixed seeds and named tolerances; their
false-failure budget is stated at ``N_SE``.
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Callable
from dataclasses import dataclass, field
from functools import cache

import numpy as np
import pytest
import torch
from scipy import stats
from scipy.special import logsumexp

from numerics.checks.metrics import log_inner, mmd, normalized_l2
from numerics.laws import (
    MAX_COMPONENTS,
    BlockProduct,
    Distribution,
    ExpansionTooLarge,
    GaussianMixture,
    LinearPushforward,
)
from numerics.laws.processes import VE, VP
from numerics.tolerances import EXACT_TOL

F64 = torch.float64

# --- tolerances --------------------------------------------------------------------------
# Log-densities vs scipy: both float64; scipy factors covariances by eigh, the library by
# Cholesky, so they agree to ~cond(Σ)·1e-16 per term (measured max 1.7e-15 relative).
LOGPDF_RTOL = 1e-10
# Closed-form score vs autograd of log_prob: the same float64 quantities summed in a
# different order, so ~n·K·1e-16 relative (measured max 3.1e-15 relative to max |score|).
SCORE_RTOL = 1e-10
# Two closed forms of one law (library vs hand formula): float64 round-off through a
# Cholesky / inverse of a well-conditioned matrix (measured ≤ 1.6e-15 relative; affine
# invariance of normalized_l2 ≤ 7.7e-15 relative). Laws compared with normalized_l2 use
# the library's EXACT_TOL = 1e-9 (measured ≤ 4.4e-16 on every identity here).
CLOSED_RTOL = 1e-10
# Statistical tests: each comparison is |estimate − exact| ≤ N_SE standard errors. A
# 6-sigma two-sided normal tail is 2e-9; this module makes < 400 such comparisons, so
# their joint false-failure probability (if the seeds were redrawn) is < 1e-6. Measured
# with these seeds: |z| ≤ 2.7 on every moment and log-likelihood comparison.
N_SE = 6.0
# KS tests (one per noising case, 10 in all) reject at p < 1e-4: a budget of 1e-3 in
# total, below 1 / (number of tests in the module). Measured p-values: 0.09 to 0.85.
KS_PVALUE = 1e-4
N_SAMPLES = 20_000


def _t(x) -> torch.Tensor:
    return torch.as_tensor(np.asarray(x, dtype=np.float64), dtype=F64)


def _gen(seed: int) -> torch.Generator:
    return torch.Generator().manual_seed(seed)


# --- raw parameters (numpy) and scipy references ----------------------------------------
@dataclass(frozen=True)
class MixParams:
    """``Σ w_k N(μ_k, Σ_k)`` as plain numpy arrays, the reference's own copy."""

    w: np.ndarray
    mu: np.ndarray
    cov: np.ndarray

    def build(self) -> GaussianMixture:
        return GaussianMixture(_t(self.w), _t(self.mu), _t(self.cov))


def _spd(rng: np.random.Generator, n: int, jitter: float = 0.3) -> np.ndarray:
    a = rng.normal(size=(n, n)) * 0.6
    return a @ a.T + jitter * np.eye(n)


def _random_mix(seed: int, k: int, n: int, *, diagonal: bool = False) -> MixParams:
    rng = np.random.default_rng(seed)
    w = rng.dirichlet(np.full(k, 3.0))
    mu = rng.normal(scale=1.5, size=(k, n))
    if diagonal:
        cov = np.stack([np.diag(rng.uniform(0.2, 1.5, size=n)) for _ in range(k)])
    else:
        cov = np.stack([_spd(rng, n) for _ in range(k)])
    return MixParams(w, mu, cov)


def mixture_logpdf(x: np.ndarray, p: MixParams) -> np.ndarray:
    """``log Σ w_k N(x; μ_k, Σ_k)`` by scipy, ``(..., n) -> (...)``."""
    n = p.mu.shape[1]
    flat = x.reshape(-1, n)
    comps = np.stack([np.atleast_1d(stats.multivariate_normal(m, c).logpdf(flat))
                      for m, c in zip(p.mu, p.cov, strict=True)], -1)
    return logsumexp(comps + np.log(p.w), axis=-1).reshape(x.shape[:-1])


def expand_blocks(blocks: list[tuple[list[int], MixParams]]) -> MixParams:
    """The explicit mixture of a product of independent blocks, built in numpy."""
    n = sum(len(c) for c, _ in blocks)
    ws, mus, covs = [], [], []
    for combo in itertools.product(*[range(len(p.w)) for _, p in blocks]):
        w, mu, cov = 1.0, np.zeros(n), np.zeros((n, n))
        for (c, p), j in zip(blocks, combo, strict=True):
            w *= p.w[j]
            mu[c] = p.mu[j]
            cov[np.ix_(c, c)] = p.cov[j]
        ws.append(w)
        mus.append(mu)
        covs.append(cov)
    return MixParams(np.array(ws), np.stack(mus), np.stack(covs))


def push_params(p: MixParams, a: np.ndarray, c: np.ndarray) -> MixParams:
    """``x ↦ A x + c`` applied to every component: ``A μ + c``, ``A Σ Aᵀ``."""
    return MixParams(p.w, p.mu @ a.T + c, a @ p.cov @ a.T)


# --- the shared table of cases -----------------------------------------------------------
BLOCKS = [
    ([2, 0], _random_mix(11, 2, 2)),             # full-covariance mixture on 2 coords
    ([1], _random_mix(12, 3, 1)),                # 1-D mixture
    ([4, 3], MixParams(np.ones(1), np.array([[0.5, -1.0]]),
                       np.array([[[0.7, 0.0], [0.0, 0.3]]]))),  # diagonal Gaussian
]
PUSH_MATRIX = np.eye(5) + 0.35 * np.random.default_rng(13).normal(size=(5, 5))
PUSH_OFFSET = np.array([0.3, -0.2, 1.0, 0.0, -0.5])


def _block_product() -> BlockProduct:
    return BlockProduct([(c, p.build()) for c, p in BLOCKS])


def _block_ref(x: np.ndarray) -> np.ndarray:
    """Sum of per-block scipy log-densities (independent of any expansion)."""
    return sum(mixture_logpdf(x[..., c], p) for c, p in BLOCKS)


@dataclass(frozen=True)
class Case:
    name: str
    make: Callable[[], Distribution]
    ref_log_prob: Callable[[np.ndarray], np.ndarray]
    kind: type
    # explicit mixture parameters of the law (for moment and projection references)
    params: MixParams
    flags: frozenset[str] = field(default_factory=frozenset)


GMM_FULL = _random_mix(1, 3, 3)
GMM_DIAG = _random_mix(2, 2, 3, diagonal=True)
GAUSS = MixParams(np.ones(1), np.array([[1.0, -0.5]]), np.array([[[1.2, 0.4], [0.4, 0.5]]]))
BLOCK_FLAT = expand_blocks(BLOCKS)
PUSHED_FLAT = push_params(BLOCK_FLAT, PUSH_MATRIX, PUSH_OFFSET)

CASES = [
    Case("gmm_full", GMM_FULL.build, lambda x: mixture_logpdf(x, GMM_FULL),
         GaussianMixture, GMM_FULL, frozenset({"mixture"})),
    Case("gmm_diag", GMM_DIAG.build, lambda x: mixture_logpdf(x, GMM_DIAG),
         GaussianMixture, GMM_DIAG, frozenset({"mixture", "diagonal"})),
    Case("gaussian", GAUSS.build, lambda x: mixture_logpdf(x, GAUSS),
         GaussianMixture, GAUSS, frozenset({"mixture"})),
    Case("block_product", _block_product, _block_ref, BlockProduct, BLOCK_FLAT,
         frozenset({"factored"})),
    Case("linear_pushforward",
         lambda: _block_product().pushforward(_t(PUSH_MATRIX), _t(PUSH_OFFSET)),
         lambda x: mixture_logpdf(x, PUSHED_FLAT), LinearPushforward, PUSHED_FLAT,
         frozenset({"factored"})),
]
CASE_IDS = [c.name for c in CASES]
each_case = pytest.mark.parametrize("case", CASES, ids=CASE_IDS)


@cache
def dist(name: str) -> Distribution:
    return next(c for c in CASES if c.name == name).make()


def _points(case: Case, shape: tuple[int, ...], seed: int = 0) -> torch.Tensor:
    """Points spread 3x wider than the law (tails included, where responsibilities are
    extreme), shape ``(*shape, n)``."""
    d = dist(case.name)
    chol = torch.linalg.cholesky(d.covariance)
    eps = torch.randn(*shape, d.dim, generator=_gen(seed), dtype=F64)
    return d.mean + 3.0 * eps @ chol.T


# --- construction ------------------------------------------------------------------------
@each_case
def test_case_types_and_flags(case):
    d = dist(case.name)
    assert type(d) is case.kind
    assert d.dim == case.params.mu.shape[1]
    assert d.num_components == len(case.params.w)
    if "mixture" in case.flags:
        assert d.is_diagonal == ("diagonal" in case.flags)


def test_pushforward_by_coupling_matrix_stays_lazy():
    """A non-block-diagonal invertible map of a block product is a LinearPushforward over
    the unexpanded product; a block-diagonal one acts block by block."""
    d = dist("linear_pushforward")
    assert isinstance(d.base, BlockProduct)
    block_diagonal = np.eye(5)
    block_diagonal[np.ix_([2, 0], [2, 0])] = [[2.0, 0.5], [-0.3, 1.0]]
    assert isinstance(dist("block_product").pushforward(_t(block_diagonal)), BlockProduct)


# --- densities and scores ----------------------------------------------------------------
@each_case
@pytest.mark.parametrize("shape", [(), (5,), (2, 3)], ids=str)
def test_log_prob_matches_scipy(case, shape):
    d = dist(case.name)
    x = _points(case, shape, seed=1)
    got = d.log_prob(x)
    assert got.shape == shape
    assert got.dtype == F64
    want = torch.as_tensor(case.ref_log_prob(x.numpy()), dtype=F64)
    assert torch.allclose(got, want, rtol=LOGPDF_RTOL, atol=LOGPDF_RTOL)


@each_case
@pytest.mark.parametrize("shape", [(), (5,), (2, 3)], ids=str)
def test_score_matches_autograd(case, shape):
    d = dist(case.name)
    x = _points(case, shape, seed=2).requires_grad_(True)
    (grad,) = torch.autograd.grad(d.log_prob(x).sum(), x)
    got = d.score(x.detach())
    assert got.shape == (*shape, d.dim)
    assert float((got - grad).abs().max()) <= SCORE_RTOL * (1.0 + float(grad.abs().max()))


@pytest.mark.parametrize("name", ["block_product", "linear_pushforward"])
def test_factored_log_prob_and_score_match_explicit_mixture(name):
    case = next(c for c in CASES if c.name == name)
    d = dist(name)
    flat = d.to_mixture()
    assert isinstance(flat, GaussianMixture)
    assert flat.num_components == d.num_components
    x = _points(case, (200,), seed=3)
    assert torch.allclose(d.log_prob(x), flat.log_prob(x), rtol=LOGPDF_RTOL, atol=LOGPDF_RTOL)
    s, sf = d.score(x), flat.score(x)
    assert float((s - sf).abs().max()) <= SCORE_RTOL * (1.0 + float(sf.abs().max()))


@each_case
def test_moments_match_reference(case):
    """``mean`` and ``covariance`` (law of total variance) against numpy on the raw
    parameters."""
    d = dist(case.name)
    p = case.params
    mean = p.w @ p.mu
    cent = p.mu - mean
    cov = np.einsum("k,kij->ij", p.w, p.cov) + np.einsum("k,ki,kj->ij", p.w, cent, cent)
    assert np.allclose(d.mean.numpy(), mean, rtol=CLOSED_RTOL, atol=CLOSED_RTOL)
    assert np.allclose(d.covariance.numpy(), cov, rtol=CLOSED_RTOL, atol=CLOSED_RTOL)


# --- sampling ----------------------------------------------------------------------------
def _assert_moments(x: torch.Tensor, mean: torch.Tensor, cov: torch.Tensor) -> None:
    """Sample mean and covariance within ``N_SE`` standard errors of the exact ones.

    The covariance estimate centres at the exact mean, so it is an average of i.i.d.
    products whose standard error is their sample sd / sqrt(N)."""
    n_obs = x.shape[0]
    cent = x - mean
    se_mean = torch.diagonal(cov).sqrt() / math.sqrt(n_obs)
    assert ((cent.mean(0)).abs() <= N_SE * se_mean).all(), (cent.mean(0), se_mean)
    prods = cent[:, :, None] * cent[:, None, :]
    se_cov = prods.std(0) / math.sqrt(n_obs)
    err = (prods.mean(0) - cov).abs()
    assert (err <= N_SE * se_cov).all(), (err / se_cov).max()


@each_case
def test_sample_shape_determinism_and_moments(case):
    d = dist(case.name)
    x = d.sample(N_SAMPLES, generator=_gen(10))
    assert x.shape == (N_SAMPLES, d.dim)
    assert x.dtype == F64
    assert torch.equal(d.sample(100, generator=_gen(10)), d.sample(100, generator=_gen(10)))
    assert not torch.equal(d.sample(100, generator=_gen(10)), d.sample(100, generator=_gen(11)))
    _assert_moments(x, d.mean, d.covariance)


# --- noising -----------------------------------------------------------------------------
def test_process_coefficients():
    vp, ve = VP(), VE()
    for t in np.linspace(0.0, 1.0, 11):
        a, s = vp.coefficients(float(t))
        assert math.isclose(a * a + s * s, 1.0, rel_tol=1e-14)  # round-off of exp/expm1
        assert ve.coefficients(float(t))[0] == 1.0
    assert vp.coefficients(0.0) == (1.0, 0.0)
    assert ve.coefficients(0.0) == (1.0, 0.0)
    assert math.isclose(ve.s(1.0), ve.sigma_max, rel_tol=1e-14)
    assert vp.a(1.0) < 1e-2 < ve.s(0.5)  # both reach substantial noise
    s_ve = [ve.s(float(t)) for t in np.linspace(0.0, 1.0, 11)]
    assert all(a < b for a, b in itertools.pairwise(s_ve))
    with pytest.raises(ValueError, match="t="):
        vp.coefficients(1.5)
    with pytest.raises(ValueError, match="t="):
        ve.coefficients(-0.1)
    with pytest.raises(ValueError, match="sigma_min"):
        VE(sigma_min=0.0)
    with pytest.raises(ValueError, match="beta_min"):
        VP(beta_min=2.0, beta_max=1.0)


# (process, t, seed): s = 0.58 (VP, a = 0.81) and s = 0.71 (VE); separate seeds keep the
# two statistical checks of a case independent
NOISINGS = [pytest.param(VP(), 0.2, 20, id="VP-t0.2"), pytest.param(VE(), 0.5, 25, id="VE-t0.5")]


@each_case
@pytest.mark.parametrize(("process", "t", "seed"), NOISINGS)
def test_noised_closed_form_matches_monte_carlo_convolution(case, process, t, seed):
    """``y = a x + s ε`` with ``x ~ p`` drawn directly, against ``p.noised(t, process)``:
    exact moments, sample moments, average log-likelihood, and a KS test on a projection
    whose exact CDF is a 1-D Gaussian mixture."""
    d = dist(case.name)
    a, s = process.coefficients(t)
    q = d.noised(t, process)
    assert type(q) is case.kind  # the closed form keeps the factored structure
    # exact moments: a μ, a² Σ + s² I
    eye = torch.eye(d.dim, dtype=F64)
    assert torch.allclose(q.mean, a * d.mean, rtol=CLOSED_RTOL, atol=CLOSED_RTOL)
    assert torch.allclose(q.covariance, a * a * d.covariance + s * s * eye,
                          rtol=CLOSED_RTOL, atol=CLOSED_RTOL)
    # Monte Carlo convolution
    gen = _gen(seed)
    x = d.sample(N_SAMPLES, generator=gen)
    y = a * x + s * torch.randn(N_SAMPLES, d.dim, generator=gen, dtype=F64)
    _assert_moments(y, q.mean, q.covariance)
    # average log-likelihood of y under q vs that of independent draws from q
    ll_y = q.log_prob(y)
    ll_q = q.log_prob(q.sample(N_SAMPLES, generator=_gen(seed + 1)))
    se = math.sqrt(float(ll_y.var() + ll_q.var()) / N_SAMPLES)
    assert abs(float(ll_y.mean() - ll_q.mean())) <= N_SE * se
    # KS on the projection u·y; its exact law is Σ w_k N(u·(a μ_k), uᵀ(a²Σ_k + s²I)u)
    u = np.random.default_rng(seed + 2).normal(size=d.dim)
    p = case.params
    locs = a * p.mu @ u
    sds = np.sqrt(a * a * np.einsum("i,kij,j->k", u, p.cov, u) + s * s * u @ u)

    def cdf(z):
        return (p.w * stats.norm.cdf((np.asarray(z)[:, None] - locs) / sds)).sum(-1)

    assert stats.kstest(y.numpy() @ u, cdf).pvalue > KS_PVALUE


@each_case
def test_noised_at_time_zero_is_identity(case):
    d = dist(case.name)
    for process in (VP(), VE()):
        assert normalized_l2(d.noised(0.0, process), d) <= EXACT_TOL


@pytest.mark.parametrize("name", ["block_product", "linear_pushforward"])
def test_noised_factored_equals_noised_mixture(name):
    """Noising the factored form block by block (or through the pullback of the noise)
    equals noising the explicit mixture."""
    d = dist(name)
    for process, t in ((VP(), 0.2), (VE(), 0.5)):
        assert normalized_l2(d.noised(t, process).to_mixture(),
                             d.to_mixture().noised(t, process)) <= EXACT_TOL


# --- marginals and pushforwards ----------------------------------------------------------
def test_mixture_marginal_matches_direct_formula():
    d = dist("gmm_full")
    coords = [2, 0]
    m = d.marginal(coords)
    ref = MixParams(GMM_FULL.w, GMM_FULL.mu[:, coords], GMM_FULL.cov[:, coords][:, :, coords])
    x = torch.randn(50, 2, generator=_gen(30), dtype=F64) * 2.0
    assert torch.allclose(m.log_prob(x), _t(mixture_logpdf(x.numpy(), ref)),
                          rtol=LOGPDF_RTOL, atol=LOGPDF_RTOL)


@each_case
def test_marginal_matches_marginal_of_explicit_mixture(case):
    """Coordinates taken across blocks (and reordered) give the same law as the marginal
    of ``to_mixture()``; moments are the sub-vector / sub-matrix."""
    d = dist(case.name)
    coords = [d.dim - 1, 0, 1][: min(d.dim, 3)]
    m = d.marginal(coords)
    assert m.dim == len(coords)
    assert normalized_l2(m, d.to_mixture().marginal(coords)) <= EXACT_TOL
    idx = torch.as_tensor(coords)
    assert torch.allclose(m.mean, d.mean[idx], rtol=CLOSED_RTOL, atol=CLOSED_RTOL)
    assert torch.allclose(m.covariance, d.covariance[idx][:, idx],
                          rtol=CLOSED_RTOL, atol=CLOSED_RTOL)


def test_block_marginal_within_one_block_is_the_block():
    d = dist("block_product")
    coords, block = BLOCKS[0]
    m = d.marginal(coords)
    assert isinstance(m, GaussianMixture)
    assert normalized_l2(m, block.build()) <= EXACT_TOL


@each_case
def test_pushforward_change_of_variables(case):
    """``log q(y) = log p(A⁻¹(y − c)) − log|det A|``, moments ``A μ + c``, ``A Σ Aᵀ``."""
    d = dist(case.name)
    rng = np.random.default_rng(40)
    a = _t(np.eye(d.dim) + 0.4 * rng.normal(size=(d.dim, d.dim)))
    c = _t(rng.normal(size=d.dim))
    q = d.pushforward(a, c)
    y = _points(case, (100,), seed=41) @ a.T + c
    want = d.log_prob(torch.linalg.solve(a, (y - c).T).T) - torch.linalg.slogdet(a)[1]
    assert torch.allclose(q.log_prob(y), want, rtol=LOGPDF_RTOL, atol=LOGPDF_RTOL)
    assert torch.allclose(q.mean, a @ d.mean + c, rtol=CLOSED_RTOL, atol=CLOSED_RTOL)
    assert torch.allclose(q.covariance, a @ d.covariance @ a.T, rtol=CLOSED_RTOL,
                          atol=CLOSED_RTOL)


@each_case
def test_pushforward_round_trip(case):
    """``(A⁻¹)♯(A♯p) = p`` within round-off, also through the explicit mixtures."""
    d = dist(case.name)
    rng = np.random.default_rng(42)
    a = _t(np.eye(d.dim) + 0.4 * rng.normal(size=(d.dim, d.dim)))
    c = _t(rng.normal(size=d.dim))
    back = d.pushforward(a, c).pushforward(torch.linalg.inv(a), -torch.linalg.solve(a, c))
    assert normalized_l2(back, d) <= EXACT_TOL
    assert normalized_l2(back.to_mixture(), d.to_mixture()) <= EXACT_TOL


@each_case
def test_projection_pushforward_matches_mixture_formula(case):
    """A non-square (2, n) map: every component is ``N(A μ_k + c, A Σ_k Aᵀ)``."""
    d = dist(case.name)
    rng = np.random.default_rng(43)
    a = rng.normal(size=(2, d.dim))
    c = rng.normal(size=2)
    q = d.pushforward(_t(a), _t(c))
    assert q.dim == 2
    ref = push_params(case.params, a, c)
    y = torch.randn(50, 2, generator=_gen(44), dtype=F64) * 3.0
    assert torch.allclose(q.log_prob(y), _t(mixture_logpdf(y.numpy(), ref)),
                          rtol=LOGPDF_RTOL, atol=LOGPDF_RTOL)


# --- merging and the expansion guard -----------------------------------------------------
def test_merged_merges_duplicated_components():
    p = GMM_FULL
    tiny = 1e-13 * np.ones_like(p.mu[1])  # round-off-sized difference still merges
    dup = MixParams(np.array([0.1, 0.2, 0.3, 0.25, 0.15]),
                    np.stack([p.mu[0], p.mu[1], p.mu[0], p.mu[1] + tiny, p.mu[2]]),
                    np.stack([p.cov[0], p.cov[1], p.cov[0], p.cov[1], p.cov[2]]))
    m = dup.build().merged()
    assert m.num_components == 3
    assert np.allclose(np.sort(m.weights.numpy()), [0.15, 0.4, 0.45], rtol=0, atol=1e-15)
    x = torch.randn(40, 3, generator=_gen(50), dtype=F64)
    assert torch.allclose(m.log_prob(x), dup.build().log_prob(x), rtol=LOGPDF_RTOL,
                          atol=LOGPDF_RTOL)
    distinct = dist("gmm_full")
    assert distinct.merged() is distinct


def test_marginal_of_expanded_product_merges_back_to_the_block():
    d = dist("block_product")
    coords, block = BLOCKS[1]
    m = d.to_mixture().marginal(coords)
    assert m.num_components == d.num_components  # repeated components before merging
    merged = m.merged()
    assert merged.num_components == block.w.size
    assert normalized_l2(merged, block.build()) <= EXACT_TOL


def _two_component_blocks(count: int, dim: int = 1) -> BlockProduct:
    rng = np.random.default_rng(60)
    return BlockProduct([(list(range(dim * j, dim * (j + 1))),
                          _random_mix(int(rng.integers(1 << 30)), 2, dim).build())
                         for j in range(count)])


def test_to_mixture_guard_raises_before_allocating(monkeypatch):
    """13 blocks of 2 components need 8192 > MAX_COMPONENTS: refused before any block is
    even converted (a block's ``to_mixture`` would be the first step of an expansion)."""
    assert 2**12 == MAX_COMPONENTS  # the boundary below is exactly the limit
    ok = _two_component_blocks(12)
    assert ok.to_mixture().num_components == MAX_COMPONENTS
    big = _two_component_blocks(13)
    assert big.num_components == 2 * MAX_COMPONENTS
    for d in big.dists:
        monkeypatch.setattr(d, "to_mixture", _forbidden)
    with pytest.raises(ExpansionTooLarge, match=str(2 * MAX_COMPONENTS)):
        big.to_mixture()


def _forbidden(*args, **kwargs):
    raise AssertionError("expansion started")


def test_large_block_product_never_expands(monkeypatch):
    """32 blocks of 4-component 8-D mixtures (4^32 components): log_prob, score, noised and
    marginal all work block by block."""
    rng = np.random.default_rng(70)
    params = [_random_mix(int(rng.integers(1 << 30)), 4, 8) for _ in range(32)]
    blocks = [(list(range(8 * j, 8 * j + 8)), p.build()) for j, p in enumerate(params)]
    d = BlockProduct(blocks)
    assert d.num_components == 4**32
    monkeypatch.setattr(BlockProduct, "to_mixture", _forbidden)
    x = d.sample(7, generator=_gen(71))
    lp = d.log_prob(x)
    assert lp.shape == (7,)
    want = sum(_t(mixture_logpdf(x[:, c].numpy(), p)) for (c, _), p in
               zip(blocks, params, strict=True))
    assert torch.allclose(lp, want, rtol=LOGPDF_RTOL, atol=LOGPDF_RTOL)
    sc = d.score(x)
    assert sc.shape == (7, 256)
    for c, b in blocks[:3]:
        assert torch.equal(sc[:, c], b.score(x[:, c]))
    q = d.noised(0.3, VP())
    assert isinstance(q, BlockProduct)
    a, s = VP().coefficients(0.3)
    c0, b0 = blocks[0]
    assert normalized_l2(q.marginal(c0), b0.convolved(a, s * s)) <= EXACT_TOL
    assert torch.isfinite(q.log_prob(x)).all()
    m = d.marginal([3, 8, 9, 250])
    assert isinstance(m, BlockProduct) and m.dim == 4
    want_m = (b0.marginal([3]).log_prob(x[:, [3]]) + blocks[1][1].marginal([0, 1])
              .log_prob(x[:, [8, 9]]) + blocks[31][1].marginal([2]).log_prob(x[:, [250]]))
    assert torch.allclose(m.log_prob(x[:, [3, 8, 9, 250]]), want_m, rtol=LOGPDF_RTOL,
                          atol=LOGPDF_RTOL)
    assert normalized_l2(d, d) <= EXACT_TOL  # metrics factor block by block too


# --- validation --------------------------------------------------------------------------
W2 = [0.4, 0.6]
MU2 = [[0.0, 0.0], [1.0, 1.0]]
COV2 = [np.eye(2).tolist(), np.eye(2).tolist()]
INVALID_MIXTURES = [
    pytest.param([-0.1, 1.1], MU2, COV2, "weights", id="negative-weight"),
    pytest.param([0.5, 0.6], MU2, COV2, "weights", id="weights-sum"),
    pytest.param([1.0], MU2, COV2, "weights", id="weights-shape"),
    pytest.param(W2, [[0.0, math.nan], [1.0, 1.0]], COV2, "means", id="nan-mean"),
    pytest.param(W2, MU2, [[[1.0, 0.5], [0.0, 1.0]], np.eye(2).tolist()], "covs",
                 id="non-symmetric-cov"),
    pytest.param(W2, MU2, [np.eye(2).tolist(), [[1.0, 2.0], [2.0, 1.0]]], "covs",
                 id="non-pd-cov"),
    pytest.param(W2, MU2, [np.eye(2).tolist(), [[1.0, 0.0], [0.0, -1.0]]], "covs",
                 id="non-pd-diagonal-cov"),
    pytest.param(W2, MU2, [np.eye(2).tolist(), [[1.0, 0.0], [0.0, math.inf]]], "covs",
                 id="inf-cov"),
    pytest.param(W2, MU2, [np.eye(3).tolist(), np.eye(3).tolist()], "covs", id="covs-shape"),
]


@pytest.mark.parametrize(("weights", "means", "covs", "name"), INVALID_MIXTURES)
def test_invalid_mixture_parameters_raise(weights, means, covs, name):
    with pytest.raises(ValueError, match=name):
        GaussianMixture(_t(weights), _t(means), _t(covs))


@pytest.mark.parametrize("coords", [
    pytest.param([[0, 1], [1]], id="overlap"),
    pytest.param([[0, 1], [3]], id="gap"),
    pytest.param([[0], [1]], id="block-size"),
])
def test_block_coords_must_partition(coords):
    blocks = [GaussianMixture.gaussian(_t([0.0, 0.0]), _t(np.eye(2))),
              GaussianMixture.gaussian(_t([0.0]), _t([[1.0]]))]
    with pytest.raises(ValueError, match="coords"):
        BlockProduct(list(zip(coords, blocks, strict=True)))


def _dependent_rows(n: int) -> torch.Tensor:
    m = torch.eye(n, dtype=F64)
    m[1] = 2.0 * m[0]
    return m


def _zero_diagonal_entry(n: int) -> torch.Tensor:
    m = torch.eye(n, dtype=F64)
    m[1, 1] = 0.0
    return m


@each_case
@pytest.mark.parametrize("singular", [_dependent_rows, _zero_diagonal_entry],
                         ids=["dependent-rows", "zero-diagonal"])
def test_singular_pushforward_raises_value_error(case, singular):
    """A singular square map has no image density: a ValueError, as for other invalid
    parameters (never a linear-algebra RuntimeError, nor a law whose log_prob is NaN)."""
    d = dist(case.name)
    with pytest.raises(ValueError, match=r"singular|rank"):
        d.pushforward(singular(d.dim))


@each_case
def test_marginal_with_repeated_or_out_of_range_coords_raises(case):
    """``x|coords`` with a repeated coordinate has no density; an index past ``n`` does
    not exist. Both are invalid parameters (BlockProduct's own message: "marginal coords
    must be distinct and in 0..n-1")."""
    d = dist(case.name)
    # a pushforward-based marginal may report the degenerate map instead of the coords
    with pytest.raises(ValueError, match=r"coords|rank"):
        d.marginal([0, 1, 0])
    with pytest.raises(ValueError, match="coords"):
        d.marginal([0, d.dim])


# --- metrics -----------------------------------------------------------------------------
@each_case
def test_normalized_l2_of_a_law_with_itself_is_zero(case):
    d = dist(case.name)
    assert normalized_l2(d, d) <= EXACT_TOL
    assert normalized_l2(d.to_mixture(), d) <= EXACT_TOL


@each_case
def test_normalized_l2_is_affine_invariant(case):
    """``D(p, q) = D(f♯p, f♯q)`` for invertible affine ``f``: ``⟨f♯p, f♯q⟩ =
    ⟨p, q⟩ / |det A|`` for all three inner products, so the ratio is unchanged."""
    d = dist(case.name)
    shift = _t(np.linspace(0.2, 0.6, d.dim))
    q = d.pushforward(torch.eye(d.dim, dtype=F64), shift)
    base = normalized_l2(d, q)
    assert 0.01 < base < 0.99  # a non-trivial pair
    rng = np.random.default_rng(80)
    a = _t(np.eye(d.dim) * 1.7 + 0.5 * rng.normal(size=(d.dim, d.dim)))
    c = _t(rng.normal(size=d.dim))
    fp, fq = d.pushforward(a, c), q.pushforward(a, c)
    assert math.isclose(normalized_l2(fp, fq), base, rel_tol=CLOSED_RTOL)
    assert math.isclose(normalized_l2(fp.to_mixture(), fq.to_mixture()), base,
                        rel_tol=CLOSED_RTOL)


@pytest.mark.parametrize(("mu1", "s1", "mu2", "s2"), [
    (0.0, 1.0, 0.0, 1.0), (0.0, 1.0, 1.0, 1.0), (-0.5, 0.3, 2.0, 1.7), (1.0, 0.1, 1.0, 3.0)])
def test_normalized_l2_closed_form_1d(mu1, s1, mu2, s2):
    """For ``N(μ₁, σ₁²)``, ``N(μ₂, σ₂²)``: ``‖p‖² = 1/(2σ₁√π)`` and ``⟨p, q⟩ =
    N(μ₁ − μ₂; 0, S)``, ``S = σ₁² + σ₂²``, so
    ``D = 1 − 2√2 σ₁σ₂ exp(−Δ²/(2S)) / ((σ₁ + σ₂)√S)``."""
    p = GaussianMixture.gaussian(_t([mu1]), _t([[s1 * s1]]))
    q = GaussianMixture.gaussian(_t([mu2]), _t([[s2 * s2]]))
    big_s = s1 * s1 + s2 * s2
    want = 1.0 - 2.0 * math.sqrt(2.0) * s1 * s2 * math.exp(-((mu1 - mu2) ** 2) / (2 * big_s)) \
        / ((s1 + s2) * math.sqrt(big_s))
    assert math.isclose(normalized_l2(p, q), want, rel_tol=CLOSED_RTOL, abs_tol=EXACT_TOL)
    assert math.isclose(float(log_inner(p, p)), -math.log(2 * s1 * math.sqrt(math.pi)),
                        rel_tol=CLOSED_RTOL)


MMD_BANDWIDTH = 1.0
# Repeats of the V-statistic: the mean of R independent estimates has a t-distributed
# error with R − 1 = 39 d.o.f.; P(|t_39| > 6) ≈ 5e-7, inside the module's budget.
# Measured: z = −0.18 with a standard error of 4% of MMD² (the V-statistic's bias is
# 20% of MMD² here, i.e. z ≈ 5 if it were not subtracted).
MMD_REPEATS = 40
MMD_N = 250


@each_case
def test_mmd_of_equal_laws_is_zero(case):
    d = dist(case.name)
    # three O(1) kernel means cancel: round-off ~1e-15 (measured exactly 0), 1e-12 allowed
    assert mmd(d, d, MMD_BANDWIDTH) <= 1e-12


def test_mmd_matches_monte_carlo_v_statistic():
    """The V-statistic ``mean k(X,X') + mean k(Y,Y') − 2 mean k(X,Y)`` (diagonals kept)
    has expectation ``MMD² + (2 − E k(X,X') − E k(Y,Y')) / N`` because ``k(x, x) = 1``;
    the bias is subtracted exactly and the rest is compared within ``N_SE`` standard
    errors of the mean over ``MMD_REPEATS`` independent estimates."""
    p, q = dist("gmm_full"), GMM_FULL.build().pushforward(torch.eye(3, dtype=F64) * 0.8,
                                                          _t([0.5, 0.0, -0.3]))
    h2 = MMD_BANDWIDTH**2
    exact = mmd(p, q, MMD_BANDWIDTH)
    assert exact > 1e-3  # a non-trivial pair
    log_c = 0.5 * p.dim * math.log(2 * math.pi * h2)
    kxx = math.exp(log_c + float(log_inner(p, p, h2)))
    kyy = math.exp(log_c + float(log_inner(q, q, h2)))
    bias = (2.0 - kxx - kyy) / MMD_N

    def gram_mean(a, b):
        sq = (a[:, None, :] - b[None, :, :]).square().sum(-1)
        return float(torch.exp(-sq / (2 * h2)).mean())

    gen = _gen(90)
    est = []
    for _ in range(MMD_REPEATS):
        x, y = p.sample(MMD_N, generator=gen), q.sample(MMD_N, generator=gen)
        est.append(gram_mean(x, x) + gram_mean(y, y) - 2 * gram_mean(x, y) - bias)
    est_t = torch.tensor(est, dtype=F64)
    se = float(est_t.std()) / math.sqrt(MMD_REPEATS)
    assert abs(float(est_t.mean()) - exact) <= N_SE * se


# --- dtype and device conversion ---------------------------------------------------------
F32 = torch.float32
# float32 copies against the float64 law, relative to 1 + max |reference|: each value is a
# few dozen float32 operations on O(1) whitened residuals (machine epsilon 1.2e-7), and the
# residuals z = (x − c) W − b can lose |x − c| / σ_min ulps to cancellation at these points
# (3x wider than the law). Measured max 2.0e-7 (log_prob), 4.7e-7 (score), 5.7e-7 (score of
# a float32 noising); 1e-4 leaves a 170-fold margin.
F32_RTOL = 1e-4
# Far points: the nearest component's score, one rounding of O(1e3 / σ²) values in float32
# (measured 1.1e-7 relative; exactly 0 in float64).
FAR_RTOL = 1e-5


def _close32(got: torch.Tensor, want: torch.Tensor) -> bool:
    return float((got.double() - want).abs().max()) <= F32_RTOL * (1.0 + float(want.abs().max()))


@each_case
def test_to_float32_keeps_log_prob_and_score(case):
    d = dist(case.name)
    d32 = d.to(dtype=F32)
    assert type(d32) is type(d)
    assert d32.dtype == F32 and d32.device == d.device and d32.dim == d.dim
    assert d.dtype == F64  # the original is untouched
    x = _points(case, (200,), seed=100)
    lp, sc = d32.log_prob(x.float()), d32.score(x.float())
    assert lp.dtype == F32 and sc.dtype == F32 and sc.shape == x.shape
    assert _close32(lp, d.log_prob(x))
    assert _close32(sc, d.score(x))
    assert d32.sample(10, generator=_gen(101)).dtype == F32
    assert d.to() is d and d.to(dtype=F64, device="cpu") is d
    assert d32.to(F32) is d32


@each_case
def test_float32_copy_noises_like_the_float64_law(case):
    """Noising a float32 copy (its own float32 factorization) agrees with converting the
    noised float64 law."""
    d = dist(case.name)
    x = _points(case, (100,), seed=102)
    want = d.noised(0.3, VP()).score(x)
    assert _close32(d.to(F32).noised(0.3, VP()).score(x.float()), want)
    assert _close32(d.noised(0.3, VP()).to(F32).score(x.float()), want)


@pytest.mark.parametrize("dtype", [F32, F64], ids=str)
def test_score_far_from_every_component_is_finite(dtype):
    """Points 10^3 standard deviations out: every shifted logit but one is far below
    log(tiny); the clamped exponentials give the nearest component's score exactly."""
    d = dist("gmm_full").to(dtype)
    x = torch.full((4, 3), 1e3, dtype=dtype) * torch.tensor([[1.0], [-1.0], [2.0], [0.5]],
                                                            dtype=dtype)
    sc, lp = d.score(x), d.log_prob(x)
    assert torch.isfinite(sc).all() and torch.isfinite(lp).all()
    want = dist("gmm_full").score(x.double())
    assert float((sc.double() - want).abs().max()) <= FAR_RTOL * float(want.abs().max())


def test_to_rejects_integer_dtype():
    with pytest.raises(ValueError, match="dtype"):
        dist("gmm_full").to(torch.int64)
