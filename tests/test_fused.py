"""The fused mixture-score kernel (numerics/laws/fused.py): the same scores as the torch
path on random mixtures of every small shape, in float64 and float32, on contiguous and
strided points; NaN propagation; the thread setting left as found; the torch path where
numba is absent; and no numba in a process whose scores are all small."""

from __future__ import annotations

import subprocess
import sys

import numpy as np
import pytest
import torch
from hypothesis import given
from hypothesis import strategies as st

from numerics.claims.strategies import gaussian_mixtures
from numerics.laws import BlockProduct, GaussianMixture, fused
from numerics.laws import mixture as mixture_module

numba = pytest.importorskip("numba")
fused_kernel = pytest.importorskip("numerics.laws.fused_kernel")

F64 = torch.float64
# float64: the two paths do the same arithmetic in different orders (the kernel's
# reassociated sums, torch's blocked products): a few ulps of the terms, which for
# cond(Σ) ≤ 100, K ≤ 6 and points within 4 standard deviations stay below 1e-12 of the
# score's scale; 1e-10 keeps the margin and still catches a wrong term (≥ 1e-3).
RTOL64 = 1e-10
# float32: ~6e-8 per operation through products of length ≤ K n = 36 and the softmax,
# ~1e-5 of the scale (as tests/test_score_hot_path.py's float32 bound).
RTOL32 = 1e-5


# The kernel's exponential against libm's, in machine epsilons of the dtype: an exact
# Cody–Waite reduction and a 13-term Horner sum with fused multiply-adds keep it within
# about one (measured 1.0 in float64, 0.6 in float32); 2 leaves margin, and a reduction
# constant right only to float64 (LN2_LO from float64 ln 2) measured 107.
EXP_EPS = 2.0


def torch_score(m: GaussianMixture, x: torch.Tensor) -> torch.Tensor:
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(mixture_module, "FUSED_ELEMENTS", sys.maxsize)
        return m.score(x)


def fused_score(m: GaussianMixture, x: torch.Tensor) -> torch.Tensor:
    out = torch.full_like(x, float("nan"))
    assert fused.mixture_score_into(x, m._kernel_params, out)
    return out


def close(a: torch.Tensor, b: torch.Tensor, rtol: float) -> bool:
    return bool((a - b).abs().max() <= rtol * max(float(b.abs().max()), 1.0))


def full_mixtures(dim: int) -> st.SearchStrategy[GaussianMixture]:
    return gaussian_mixtures(dim, max_components=6).filter(lambda m: not m.is_diagonal)


@given(st.integers(2, 6).flatmap(full_mixtures), st.integers(0, 2**31 - 1),
       st.integers(1, 300))
def test_fused_matches_torch_float64(m, seed, n_points):
    """Every small shape, tile remainders included (``n_points`` not a multiple of the
    tile), points out to 4 standard deviations of the widest component."""
    x = 4.0 * torch.randn(n_points, m.dim, generator=torch.Generator().manual_seed(seed),
                          dtype=F64) * m.covs.diagonal(dim1=-2, dim2=-1).amax().sqrt()
    assert close(fused_score(m, x), torch_score(m, x), RTOL64)


@given(st.integers(2, 6).flatmap(full_mixtures), st.integers(0, 2**31 - 1))
def test_fused_matches_torch_float32(m, seed):
    x = 2.0 * torch.randn(257, m.dim, generator=torch.Generator().manual_seed(seed),
                          dtype=F64)
    ref = torch_score(m, x)
    out = fused_score(m.to(torch.float32), x.float()).double()
    assert close(out, ref, RTOL32)


def product(seed: int) -> BlockProduct:
    g = torch.Generator().manual_seed(seed)

    def block(n: int) -> GaussianMixture:
        q = torch.linalg.qr(torch.randn(3, n, n, generator=g, dtype=F64)).Q
        covs = (q * (0.2 + torch.rand(3, 1, n, generator=g, dtype=F64))) @ q.mT
        return GaussianMixture(torch.full((3,), 1 / 3, dtype=F64),
                               torch.randn(3, n, generator=g, dtype=F64), 0.5 * (covs + covs.mT))
    return BlockProduct([([0, 1, 2], block(3)), ([3, 4], block(2)), ([5, 6, 7, 8], block(4))])


@pytest.mark.parametrize("dtype, rtol", [(F64, RTOL64), (torch.float32, RTOL32)])
def test_block_product_scores_write_strided_columns(dtype, rtol, monkeypatch):
    """A product's blocks read and write strided columns of the points (row stride 9);
    ``score`` goes through the kernel for every block once the work reaches
    ``FUSED_ELEMENTS``."""
    law = product(0).to(dtype)
    x = torch.randn(5000, 9, generator=torch.Generator().manual_seed(1), dtype=dtype)
    ref = torch_score(law, x)
    calls = []
    monkeypatch.setattr(mixture_module, "mixture_score_into",
                        lambda *a: calls.append(a[0].stride()) or fused.mixture_score_into(*a))
    monkeypatch.setattr(mixture_module, "FUSED_ELEMENTS", 5000 * 3 * 2)
    out = law.score(x)
    assert calls == [(9, 1)] * 3
    assert close(out.double(), ref.double(), rtol)


@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_exponential_within_two_epsilons(dtype):
    """exp_shifted on a dense grid of [floor − 5, 0] (below the floor: clamped) and tiny
    arguments down to −1e-30, against float64 libm; NaN stays NaN, −inf gives the floor."""
    consts = fused_kernel.constants(dtype)
    floor = float(consts[fused_kernel.FLOOR])
    y = np.concatenate([np.linspace(floor - 5.0, 0.0, 400_001), -np.logspace(-30, 0, 1000),
                        [np.nan, -np.inf]]).astype(dtype)
    row, top = y.copy(), np.zeros_like(y)
    bits = np.empty(y.size, dtype=f"int{8 * row.itemsize}")
    fused_kernel.exp_shifted(row, top, y.size, consts, bits.view(dtype), bits)
    exact = np.exp(np.maximum(y[:-2].astype(np.float64), floor))
    assert np.abs(row[:-2] / exact - 1).max() <= EXP_EPS * np.finfo(dtype).eps
    assert np.isnan(row[-2]) and row[-1] == row[0]


def test_nan_point_gives_nan_row_only():
    m = product(2).dists[2]
    x = torch.randn(300, 4, generator=torch.Generator().manual_seed(3), dtype=F64)
    x[17, 2] = float("nan")
    out = fused_score(m, x)
    assert torch.isnan(out[17]).all()
    assert torch.isfinite(torch.cat([out[:17], out[18:]])).all()


def test_thread_setting_left_as_found():
    """The kernel runs on torch's thread count and restores numba's own setting."""
    before = numba.get_num_threads()
    m = product(4).dists[0]
    torch_threads = torch.get_num_threads()
    try:
        torch.set_num_threads(1)
        fused_score(m, torch.randn(1000, 3, dtype=F64))
    finally:
        torch.set_num_threads(torch_threads)
    assert numba.get_num_threads() == before


def test_without_numba_the_torch_path_runs(monkeypatch):
    m = product(5).dists[2]
    x = torch.randn(4000, 4, generator=torch.Generator().manual_seed(6), dtype=F64)
    ref = torch_score(m, x)
    monkeypatch.setattr(fused, "_kernel", lambda: None)
    monkeypatch.setattr(mixture_module, "FUSED_ELEMENTS", 0)
    out = torch.zeros_like(x)
    assert not fused.mixture_score_into(x, m._kernel_params, out)
    assert torch.equal(out, torch.zeros_like(x))  # nothing written
    assert torch.equal(m.score(x), ref)


SMALL_SCORES = """
import sys, torch
from numerics.laws import GaussianMixture
m = GaussianMixture(torch.ones(2) / 2, torch.zeros(2, 3), torch.eye(3).expand(2, 3, 3) * 2)
m.score(torch.randn(1000, 3))
print("numba" in sys.modules)
"""


def test_small_scores_do_not_import_numba():
    """Below ``FUSED_ELEMENTS`` (1000 points × K n = 6) the kernel, and numba, stay out."""
    proc = subprocess.run([sys.executable, "-c", SMALL_SCORES], capture_output=True,
                          text=True, check=True, timeout=300)
    assert proc.stdout.strip() == "False"
