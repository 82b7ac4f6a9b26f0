"""The mixture score's hot path against an independent float64 reference,
``−Σ_k r_k Σ_k⁻¹ (x − μ_k)`` with ``r`` the softmax of ``torch.distributions``
log-densities, on varied mixtures, block products and composed FC families; chunk
boundaries, batch shapes, far tails and autograd included. Each comparison runs on both
paths of numerics/laws/mixture.py (``score_path``): torch (chunked, in place) and the
fused numba kernel (numerics/laws/fused.py; skipped without numba)."""

from __future__ import annotations

import sys

import pytest
import torch

from numerics.composition.compose import compose, weighted_exponents
from numerics.laws import BlockProduct, GaussianMixture
from numerics.laws import mixture as mixture_module
from numerics.laws.family import Family

F64 = torch.float64
# float64 round-off: both sides solve n ≤ 64 well-conditioned systems (eigenvalues of Σ in
# [0.05, 4]) and sum K ≤ 64 terms, ~1e-14 relative (2e-14 measured at n = 64); 1e-10
# leaves four digits of margin and still catches any wrong term (an error in one
# component's weight or residual is ≥ 1e-3).
RTOL = 1e-10


@pytest.fixture(params=["torch", "fused"])
def score_path(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> str:
    """Every score of the test on one path: ``FUSED_ELEMENTS`` 0 sends every call with
    full covariances to the fused kernel, a bound past any size none."""
    if request.param == "fused":
        pytest.importorskip("numba")
    monkeypatch.setattr(mixture_module, "FUSED_ELEMENTS", 0 if request.param == "fused"
                        else sys.maxsize)
    return request.param


def random_mixture(k: int, n: int, seed: int, diagonal: bool = False) -> GaussianMixture:
    g = torch.Generator().manual_seed(seed)
    means = 2.0 * torch.randn(k, n, generator=g, dtype=F64)
    if diagonal:
        covs = torch.diag_embed(0.05 + 2.0 * torch.rand(k, n, generator=g, dtype=F64))
    else:
        q = torch.linalg.qr(torch.randn(k, n, n, generator=g, dtype=F64)).Q
        eig = 0.05 + 4.0 * torch.rand(k, 1, n, generator=g, dtype=F64)
        covs = (q * eig) @ q.transpose(-1, -2)
        covs = 0.5 * (covs + covs.transpose(-1, -2))
    weights = torch.softmax(torch.randn(k, generator=g, dtype=F64), 0)
    return GaussianMixture(weights, means, covs)


def reference_score(m: GaussianMixture, x: torch.Tensor) -> torch.Tensor:
    """``−Σ_k r_k Σ_k⁻¹ (x − μ_k)`` in float64, from ``MultivariateNormal`` densities."""
    x = x.to(F64)
    normal = torch.distributions.MultivariateNormal(m.means.to(F64), m.covs.to(F64))
    logits = m.log_weights.to(F64) + normal.log_prob(x[..., None, :])
    r = torch.softmax(logits, -1)
    pulled = torch.linalg.solve(m.covs.to(F64), (x[..., None, :] - m.means.to(F64))[..., None])
    return -(r[..., None] * pulled[..., 0]).sum(-2)


def rows_per_chunk(m: GaussianMixture) -> int:
    return mixture_module.WORK_ELEMENTS // (m.num_components * m.dim)


@pytest.mark.parametrize("k, n", [(1, 1), (2, 3), (5, 2), (8, 4), (3, 7), (8, 16),
                                  (2, 64), (64, 2)])
@pytest.mark.parametrize("diagonal", [False, True])
@pytest.mark.parametrize("seed", [0, 1])
def test_mixture_score_matches_reference(k, n, diagonal, seed, score_path):
    m = random_mixture(k, n, seed, diagonal)
    g = torch.Generator().manual_seed(100 + seed)
    # two full chunks and a remainder, points spread to 4 standard deviations and beyond
    x = 3.0 * torch.randn(2 * rows_per_chunk(m) + 3, n, generator=g, dtype=F64)
    ref = reference_score(m, x)
    assert torch.allclose(m.score(x), ref, rtol=RTOL, atol=RTOL * float(ref.abs().max()))


def test_batch_shapes_and_empty(score_path):
    m = random_mixture(4, 3, seed=2)
    x = torch.randn(2, 5, 3, generator=torch.Generator().manual_seed(3), dtype=F64)
    out = m.score(x)
    assert out.shape == (2, 5, 3)
    assert torch.allclose(out, reference_score(m, x), rtol=RTOL, atol=RTOL)
    assert m.score(torch.empty(0, 3, dtype=F64)).shape == (0, 3)


def test_far_tail_responsibilities_stay_finite_and_exact(score_path):
    """At 50 standard deviations one component takes all the weight; the clamped softmax
    gives its score exactly."""
    m = random_mixture(3, 2, seed=4)
    x = torch.tensor([[60.0, -40.0], [-80.0, 5.0]], dtype=F64)
    ref = reference_score(m, x)
    out = m.score(x)
    assert torch.isfinite(out).all()
    assert torch.allclose(out, ref, rtol=RTOL, atol=RTOL * float(ref.abs().max()))


def test_autograd_through_score_unchanged():
    """Jacobians of the score (C19) see the same values as the in-place path."""
    m = random_mixture(5, 3, seed=5)
    x = torch.randn(7, 3, generator=torch.Generator().manual_seed(6), dtype=F64)
    plain = m.score(x)
    tracked = x.clone().requires_grad_(True)
    out = m.score(tracked)
    assert torch.equal(out.detach(), plain)
    jac = torch.autograd.functional.jacobian(lambda y: m.score(y).sum(0), x)
    assert torch.isfinite(jac).all() and jac.shape == (3, 7, 3)


def _fc_family(k: int, block: int, components: int, seed: int) -> Family:
    g = torch.Generator().manual_seed(seed)
    coords = [list(range(j * block, (j + 1) * block)) for j in range(k + 1)]
    seeds = torch.randint(0, 10**6, (2 * k + 1,), generator=g).tolist()
    background_blocks = [random_mixture(components, block, s) for s in seeds[:k + 1]]
    own = [random_mixture(components, block, s) for s in seeds[k + 1:]]
    background = BlockProduct(list(zip(coords, background_blocks, strict=True)))
    conditionals = tuple(
        BlockProduct([(c, own[i] if j == i else background_blocks[j])
                       for j, c in enumerate(coords)]) for i in range(k))
    return Family(background, conditionals, projections=tuple(map(tuple, coords[:-1])))


@pytest.mark.parametrize("k, block, components, seed", [(1, 2, 3, 0), (2, 3, 4, 1),
                                                        (3, 4, 8, 2)])
def test_composed_score_matches_reference(k, block, components, seed, score_path):
    """``∇log C[p⃗] = Σ_m e_m ∇log p_m`` with every member's score from the reference."""
    family = _fc_family(k, block, components, seed).noised(0.3)
    composed = compose(family)
    x = 2.0 * torch.randn(3000, family.dim, generator=torch.Generator().manual_seed(seed),
                          dtype=F64)

    def member_reference(p: BlockProduct) -> torch.Tensor:
        out = torch.empty_like(x)
        for c, d in zip(p.keys, p.dists, strict=True):
            out[:, list(c)] = reference_score(d, x[:, list(c)])
        return out

    ref = sum(e * member_reference(p)
              for p, e in zip(family.members, weighted_exponents(family), strict=True))
    assert torch.allclose(composed.score(x), ref, rtol=RTOL,
                          atol=RTOL * float(ref.abs().max()))


def test_float32_copy_close_to_float64(score_path):
    """float32 carries ~6e-8 relative per operation; through two products of length
    K n ≤ 32 and the softmax the score keeps ~1e-5 relative of its scale."""
    m = random_mixture(8, 4, seed=7)
    x = 2.0 * torch.randn(5000, 4, generator=torch.Generator().manual_seed(8), dtype=F64)
    ref = reference_score(m, x)
    out = m.to(torch.float32).score(x.float()).double()
    assert float((out - ref).abs().max()) <= 1e-5 * float(ref.abs().max())
