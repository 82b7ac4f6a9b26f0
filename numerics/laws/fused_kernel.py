"""The numba kernel of numerics.laws.fused (imported only through it: numba is optional).

Compiled for float32 and float64 at import (explicit signatures, so a contiguous or a
strided array of points reuses one compilation) and cached on disk by numba.
"""

from __future__ import annotations

import math
from decimal import Decimal, localcontext
from functools import cache

import numba
import numpy as np

# Points per tile: the buffers of one tile (d, z, ℓ, g: (1 + K n + K + n) TILE entries,
# 21 KiB in float32 at K n = 32) stay in a core's L1/L2. On the sampling benchmark's
# composed score (N = 100,000, d = 16, two threads, busy machine) tiles of 64, 128, 256
# and 512 points measured 14.8, 12.7, 16.4 and 18.9 ms per call with libm's exp; with the
# kernel's own exp (busier machine) 64, 128 and 256 measured 35.6, 31.0 and 31.1 ms.
TILE = 128
# numba's fast-math flags for the tile, less the two that assume finite values (``nnan``,
# ``ninf``): a NaN point then gives a NaN score, as the torch path does.
FAST_MATH = {"nsz", "arcp", "contract", "afn", "reassoc"}
# The exponential keeps its order of operations (no ``reassoc``: Cody–Waite's two-part
# reduction must not be folded back into one product); ``contract`` only fuses
# multiply-adds, which makes each step more exact.
EXP_MATH = {"nsz", "contract"}
# Taylor degree of exp(r) on |r| ≤ ln2/2: the remainder (ln2/2)^14/14! < 4e-18 lies below
# float64's resolution (1.1e-16), so one polynomial serves float32 and float64.
DEGREE = 13
# Positions in the constants array (``constants``), of the points' dtype:
# numba types a Python float as float64, which would widen every float32 step.
LOG2E, LN2_HI, LN2_LO, HALF, FLOOR, MAGIC, TAYLOR = range(7)


@numba.njit(nogil=True, fastmath=EXP_MATH)
def exp_shifted(row, top, m, consts, scale, bits):
    """``row[p] ← exp(max(row[p] − top[p], floor))`` for ``p < m``, in loops the compiler
    vectorizes (a libm ``exp`` per entry took 60 % of the kernel's time): ``y = n ln2 + r``
    with ``n = round(y / ln2)`` and ``|r| ≤ ln2/2`` (Cody–Waite: ``n · LN2_HI`` is exact,
    ``LN2_HI`` keeping 11 fewer bits than the dtype), ``exp(r)`` by its Taylor polynomial
    of degree ``DEGREE`` (Horner), and ``2ⁿ`` built in the exponent field: ``n + MAGIC``
    (``MAGIC = 1.5 · 2^nmant + exponent bias``) holds ``n + bias`` in its low bits, which a
    shift by ``nmant`` moves into the exponent of ``bits`` (an integer view of ``scale``).
    ``n ≥ −1022`` (float64) and ``−125`` (float32) at the floor ``log(tiny) + 1``, so
    ``2ⁿ`` is normal; a NaN stays NaN."""
    shift = np.finfo(row.dtype).nmant
    floor = consts[FLOOR]
    for p in range(m):
        y = row[p] - top[p]
        y = floor if y < floor else y
        n = np.floor(y * consts[LOG2E] + consts[HALF])
        r = (y - n * consts[LN2_HI]) - n * consts[LN2_LO]
        acc = consts[TAYLOR + DEGREE]
        for c in range(DEGREE):
            acc = acc * r + consts[TAYLOR + DEGREE - 1 - c]
        row[p] = acc
        scale[p] = n + consts[MAGIC]
    for p in range(m):
        bits[p] <<= shift
    for p in range(m):
        row[p] *= scale[p]


@numba.njit(nogil=True, fastmath=FAST_MATH, inline="always")
def _tile(x, centre, inv_tril, neg_bias, log_norm, out, start, consts, int_like):
    """The score of the points ``x[start:start + TILE]`` (fewer at the end) into ``out``:
    numerics.laws.fused's formula, with the points innermost in every loop."""
    n, components = x.shape[1], log_norm.shape[0]
    half = consts[HALF]
    m = min(x.shape[0] - start, TILE)
    d = np.empty((n, TILE), dtype=x.dtype)
    z = np.empty((components, n, TILE), dtype=x.dtype)
    logit = np.empty((components, TILE), dtype=x.dtype)
    grad = np.zeros((n, TILE), dtype=x.dtype)
    top = np.full(TILE, -np.inf, dtype=x.dtype)
    total = np.zeros(TILE, dtype=x.dtype)
    bits = np.empty(TILE, dtype=int_like.dtype)
    scale = bits.view(x.dtype)
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
        exp_shifted(logit[k], top, m, consts, scale, bits)
        for p in range(m):
            total[p] += logit[k, p]
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


def _signature(f: numba.types.Float, i: numba.types.Integer) -> numba.core.typing.Signature:
    """``(x, centre, inv_tril, neg_bias, log_norm, out, consts, int_like)`` in the float
    type ``f`` and the integer type ``i`` of its width: points and output of any row
    stride, parameters contiguous, ``int_like`` an empty array whose dtype types the
    integer view of exp_shifted."""
    points = f[:, :]
    return numba.void(points, f[::1], f[:, :, ::1], f[:, ::1], f[::1], points, f[::1],
                      i[::1])


@numba.njit([_signature(numba.float32, numba.int32), _signature(numba.float64, numba.int64)],
            parallel=True, fastmath=FAST_MATH, cache=True)
def mixture_score(x, centre, inv_tril, neg_bias, log_norm, out, consts, int_like):
    """numerics.laws.fused.mixture_score_into's work, tiles in parallel."""
    for t in numba.prange((x.shape[0] + TILE - 1) // TILE):
        _tile(x, centre, inv_tril, neg_bias, log_norm, out, t * TILE, consts, int_like)


def score_into(x: np.ndarray, centre: np.ndarray, inv_tril: np.ndarray, neg_bias: np.ndarray,
               log_norm: np.ndarray, out: np.ndarray) -> None:
    """``mixture_score`` with the constants of the points' dtype (float32 or float64)."""
    consts = constants(x.dtype.name)
    mixture_score(x, centre, inv_tril, neg_bias, log_norm, out, consts,
                  np.empty(0, dtype=f"int{8 * x.dtype.itemsize}"))


@cache
def constants(dtype: str) -> np.ndarray:
    """The kernel's constants in ``dtype`` at the positions named above: ``1/ln2``; ``ln2``
    split as ``LN2_HI + LN2_LO`` (from 40 digits of ln 2), ``LN2_HI`` rounded to 11 fewer
    significant bits than the dtype holds (``n · LN2_HI`` exact for ``|n| < 2¹¹``); ``½``;
    the floor ``log(tiny) + 1`` of the shifted logits (numerics.laws.mixture's clamp);
    ``MAGIC = 1.5 · 2^nmant + bias`` (an integer, exact in ``dtype``); the Taylor
    coefficients ``1/i!``, ``i = 0 … DEGREE``."""
    info = np.finfo(dtype)
    kept = info.nmant + 1 - 11
    with localcontext() as context:  # ln 2 to 40 digits: LN2_LO must be right to its last
        context.prec = 40            # bit, n ln2's error grows with |n| ≤ 1022
        ln2 = Decimal(2).ln()
        ln2_hi = math.ldexp(round(math.ldexp(float(ln2), kept)), -kept)
        ln2_lo = float(ln2 - Decimal(ln2_hi))
    magic = 1.5 * 2.0**info.nmant + (info.maxexp - 1)
    values = [float(1 / ln2), ln2_hi, ln2_lo, 0.5, math.log(info.tiny) + 1.0, magic,
              *(1.0 / math.factorial(i) for i in range(DEGREE + 1))]
    return np.array(values, dtype=dtype)
