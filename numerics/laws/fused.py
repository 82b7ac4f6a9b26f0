"""A fused CPU kernel for the score of a Gaussian mixture with full covariances.

``GaussianMixture.score`` in torch (numerics.laws.mixture) runs as a handful of array
operations per chunk of points: two thin matrix products (inner dimension ``n + 1`` and
``K n``) and elementwise passes over ``(K, n, rows)`` arrays. For small blocks (the
sampling benchmark's are ``n = 4``, ``K = 8``) every pass is bound by memory traffic and
dispatch, not arithmetic: 2.9 % of this CPU's float32 matrix-product peak (issue 15,
item 4). This kernel does the same arithmetic in one pass, with every intermediate of a
tile of points (numerics.laws.fused_kernel.TILE) in buffers of a few KiB. For each point
``x`` (THEORY §0, the module docstring of numerics.laws.mixture):

    z_k = L_k⁻¹ (x − c) − b_k,    ℓ_k = ℓ₀_k − ½ |z_k|²,
    e_k = exp(max(ℓ_k − max_j ℓ_j, log(tiny) + 1)),
    ∇log p(x) = −(Σ_k e_k L_k⁻ᵀ z_k) / Σ_k e_k,

``L_k⁻¹`` lower triangular (only ``j ≤ i`` is read: ``n(n + 1)/2`` products per
component and direction, not ``n²``) and the points innermost in every loop, so that the
compiler vectorizes across points. The exponential is the kernel's own, vectorized with
the rest (Cody–Waite reduction, a Taylor polynomial below float64's resolution, ``2ⁿ``
built in the exponent field: numerics.laws.fused_kernel.exp_shifted); libm's, one call
per entry, took 60 % of the time. Tiles run in parallel (numba ``prange``), on as many
threads as torch is set to use.

numba is optional (the ``[fast]`` extra): without it ``mixture_score_into`` returns
False and the caller keeps its torch path. The kernel is compiled for float32 and
float64 when first needed and cached on disk by numba (seconds once, then a fraction of a
second per process). ``fastmath`` lets the compiler reassociate the tile's sums and
contract multiply-adds (results agree with the torch path to round-off, tested) but not
assume the absence of NaN and infinity, so a NaN point gives a NaN score as in torch.
"""

from __future__ import annotations

from collections.abc import Callable
from functools import cache

import torch

KernelArgs = tuple[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor]


def mixture_score_into(x: torch.Tensor, params: KernelArgs, out: torch.Tensor) -> bool:
    """Write the score of the mixture ``params`` at the points ``x`` ``(N, n)`` into
    ``out`` ``(N, n)`` (any row stride: a block's columns of a product's points) and
    return True; return False, writing nothing, where numba is absent.

    ``params``: the centre ``c`` ``(n,)``, the inverse Cholesky factors ``L_k⁻¹``
    ``(K, n, n)`` (lower triangular), ``−b`` ``(K, n)`` and ``ℓ₀ = log w − ½ log det Σ −
    (n/2) log 2π`` ``(K,)``, contiguous, of the dtype of ``x`` (float32 or float64) on
    the CPU.
    """
    kernel = _kernel()
    if kernel is None:
        return False
    import numba  # importable: the kernel module imported it

    before = numba.get_num_threads()
    numba.set_num_threads(max(1, min(torch.get_num_threads(), numba.config.NUMBA_NUM_THREADS)))
    try:
        kernel(x.numpy(), *(p.numpy() for p in params), out.numpy())
    finally:
        numba.set_num_threads(before)
    return True


def fused_available() -> bool:
    """Whether the fused kernel can run here (numba importable)."""
    return _kernel() is not None


@cache
def _kernel() -> Callable[..., None] | None:
    """numerics.laws.fused_kernel.score_into (compiled, or loaded from numba's cache, on
    the first call), or None without numba."""
    try:
        from numerics.laws import fused_kernel
    except ImportError:
        return None
    return fused_kernel.score_into
