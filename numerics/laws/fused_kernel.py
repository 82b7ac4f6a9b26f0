"""The numba kernel of numerics.laws.fused (imported only through it: numba is optional).

Compiled for float32 and float64 at import (explicit signatures, so a contiguous or a
strided array of points reuses one compilation) and cached on disk by numba.
"""

from __future__ import annotations

import math

import numba
import numpy as np

# Points per tile: the buffers of one tile (d, z, ℓ, g: (1 + K n + K + n) TILE entries,
# 21 KiB in float32 at K n = 32) stay in a core's L1/L2. On the sampling benchmark's
# composed score (N = 100,000, d = 16, two threads, busy machine) tiles of 64, 128, 256
# and 512 points measured 14.8, 12.7, 16.4 and 18.9 ms per call.
TILE = 128
# numba's fast-math flags, less the two that assume finite values (``nnan``, ``ninf``):
# a NaN point then gives a NaN score, as the torch path does.
FAST_MATH = {"nsz", "arcp", "contract", "afn", "reassoc"}


@numba.njit(nogil=True, fastmath=FAST_MATH, inline="always")
def _tile(x, centre, inv_tril, neg_bias, log_norm, out, start, half, floor):
    """The score of the points ``x[start:start + TILE]`` (fewer at the end) into ``out``:
    numerics.laws.fused's formula, with the points innermost in every loop."""
    n, components = x.shape[1], log_norm.shape[0]
    m = min(x.shape[0] - start, TILE)
    d = np.empty((n, TILE), dtype=x.dtype)
    z = np.empty((components, n, TILE), dtype=x.dtype)
    logit = np.empty((components, TILE), dtype=x.dtype)
    grad = np.zeros((n, TILE), dtype=x.dtype)
    top = np.full(TILE, -np.inf, dtype=x.dtype)
    total = np.zeros(TILE, dtype=x.dtype)
    for j in range(n):
        for p in range(m):
            d[j, p] = x[start + p, j] - centre[j]
    for k in range(components):  # z_k = L_k⁻¹ d − b_k and ℓ_k = ℓ₀_k − ½|z_k|²
        for p in range(m):
            logit[k, p] = 0
        for i in range(n):
            for p in range(m):
                z[k, i, p] = neg_bias[k, i]
            for j in range(i + 1):
                w = inv_tril[k, i, j]
                for p in range(m):
                    z[k, i, p] += w * d[j, p]
            for p in range(m):
                logit[k, p] += z[k, i, p] * z[k, i, p]
        for p in range(m):
            logit[k, p] = log_norm[k] - half * logit[k, p]
            top[p] = max(top[p], logit[k, p])
    for k in range(components):  # e_k, Σ_k e_k and Σ_k e_k L_k⁻ᵀ z_k
        for p in range(m):
            shifted = logit[k, p] - top[p]
            e = math.exp(floor if shifted < floor else shifted)  # a NaN stays NaN
            logit[k, p] = e
            total[p] += e
        for i in range(n):
            for p in range(m):
                z[k, i, p] *= logit[k, p]
            for j in range(i + 1):
                w = inv_tril[k, i, j]
                for p in range(m):
                    grad[j, p] += w * z[k, i, p]
    for j in range(n):
        for p in range(m):
            out[start + p, j] = -grad[j, p] / total[p]


def _signature(f: numba.types.Float) -> numba.core.typing.Signature:
    """``(x, centre, inv_tril, neg_bias, log_norm, out, half, floor)`` in the float type
    ``f``: points and output of any row stride, parameters contiguous."""
    points = f[:, :]
    return numba.void(points, f[::1], f[:, :, ::1], f[:, ::1], f[::1], points, f, f)


@numba.njit([_signature(numba.float32), _signature(numba.float64)], parallel=True,
            fastmath=FAST_MATH, cache=True)
def mixture_score(x, centre, inv_tril, neg_bias, log_norm, out, half, floor):
    """numerics.laws.fused.mixture_score_into's work, tiles in parallel."""
    for t in numba.prange((x.shape[0] + TILE - 1) // TILE):
        _tile(x, centre, inv_tril, neg_bias, log_norm, out, t * TILE, half, floor)
