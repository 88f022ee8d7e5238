"""Compiled inner loops (numba) for the kernels numpy cannot express in a few passes.

A depthwise convolution has 9 multiply-adds per output: numpy needs two full passes per filter tap
(18 over the map), BLAS has no shape for it. Compiled, it is one pass with the channels in SIMD
lanes. numba comes with the ``hw`` extra (hls4ml[da] -> da4ml -> numba); without it, or with
``KWS_GOLDEN_NUMBA=0``, ``AVAILABLE`` is False and the kernels use their numpy form (same values,
slower). tests/test_hw_golden_fast.py checks both forms against a plain int64 reference.

Exactness: the loops add integer-valued products in the array's own dtype. The caller (``Mac``)
picked that dtype from a bound on *every* partial sum in *any* order (float32 below 2**23, float64
below 2**52, else int64), so reassociation and fused multiply-add (allowed below) cannot round.
"""

from __future__ import annotations

import os

import numpy as np

AVAILABLE = False
if os.environ.get("KWS_GOLDEN_NUMBA", "1") != "0":
    try:
        import numba

        AVAILABLE = True
    except ImportError:  # pragma: no cover - numba ships with the hw extra
        pass

if AVAILABLE:
    # only reassociation and contraction: integer-valued floats within the planned bound are exact
    # in any order and with or without FMA; no finite-math or reciprocal assumptions
    _jit = numba.njit(cache=True, nogil=True, boundscheck=False, fastmath={"reassoc", "contract"})

    @_jit
    def depthwise_taps(xp, w, fh, fw, sh, sw, oh, ow, out):
        """out[b, y, x, c] = sum_{i,j} xp[b, y*sh + i, x*sw + j, c] * w[i*fw + j, c] (xp zero-padded)."""
        n, n_chan = xp.shape[0], xp.shape[3]
        acc = np.empty(n_chan, dtype=out.dtype)
        for b in range(n):
            for y in range(oh):
                for x in range(ow):
                    for c in range(n_chan):
                        acc[c] = 0
                    for i in range(fh):
                        for j in range(fw):
                            k = i * fw + j
                            for c in range(n_chan):
                                acc[c] += xp[b, y * sh + i, x * sw + j, c] * w[k, c]
                    for c in range(n_chan):
                        out[b, y, x, c] = acc[c]
        return out

    @_jit
    def gather_columns(flat, index, out):
        """im2col: out[b, p, k] = flat[b, index[p, k]] (a copy; numpy's take is ~5x slower here)."""
        for b in range(flat.shape[0]):
            for p in range(index.shape[0]):
                for k in range(index.shape[1]):
                    out[b, p, k] = flat[b, index[p, k]]
        return out

    @_jit
    def requant_rows(x, b, out, scale, rounding, overflow, relu, lo, hi, m, half):
        """``requant_float`` of ``x + b`` (``b`` added to every row of the 2-D ``x``: a layer's
        bias, or zeros) for the modes QKeras and hls4ml's defaults use (rounding TRN, RND or
        RND_CONV or none; overflow SAT, SAT_SYM or none). Few enough branches for LLVM to hoist
        them out of the loop and vectorise it (the general loop runs ~10x slower). ``x + b`` is
        exact: the Mac's bound covers every sum with the bias."""
        zero = half - half
        clip = overflow == 1 or overflow == 3
        for r in range(x.shape[0]):
            for c in range(x.shape[1]):
                y = x[r, c] + b[c]
                if relu:
                    y = max(y, zero)
                y = y * scale
                if rounding == 6:  # RND_CONV: ties to even
                    y = np.rint(y)
                elif rounding == 0:  # TRN
                    y = np.floor(y)
                elif rounding == 2:  # RND: ties up
                    y = np.floor(y + half)
                if clip:
                    y = min(max(y, lo), hi)
                out[r, c] = y
        return out

    @_jit
    def requant_float(x, out, scale, rounding, overflow, relu, lo, hi, m, half):
        """One pass of ``hw.golden.arith.Requant`` on float codes: [ReLU], scale by a power of two
        (exact), round (``ROUNDING`` index; -1: the scale appends bits, nothing to round), then the
        overflow (``OVERFLOW`` index; -1: provably none; ``m`` = 2**width for WRAP). Same steps as
        the numpy form; every constant comes in the array's dtype (``half`` = 0.5), so no step
        leaves it (a float64 literal would turn the loop into float64 and stop vectorising it)."""
        xf, of = x.reshape(-1), out.reshape(-1)
        zero = half - half
        for n in range(xf.size):
            y = xf[n]
            if relu:
                y = max(y, zero)
            y = y * scale
            if rounding == 6:  # RND_CONV: ties to even
                y = np.rint(y)
            elif rounding == 0:  # TRN
                y = np.floor(y)
            elif rounding == 1:  # TRN_ZERO
                y = np.trunc(y)
            elif rounding == 2:  # RND: ties up
                y = np.floor(y + half)
            elif rounding == 5:  # RND_MIN_INF: ties down
                y = np.ceil(y - half)
            elif rounding == 3:  # RND_ZERO: ties toward zero, sign(y) * ceil(|y| - 0.5)
                y = np.sign(y) * np.ceil(np.abs(y) - half)
            elif rounding == 4:  # RND_INF: ties away from zero, sign(y) * floor(|y| + 0.5)
                y = np.sign(y) * np.floor(np.abs(y) + half)
            if overflow == 1 or overflow == 3:  # SAT, SAT_SYM (lo is the symmetric minimum then)
                y = min(max(y, lo), hi)
            elif overflow == 2:  # SAT_ZERO
                y = zero if (y < lo) | (y > hi) else y
            elif overflow == 0:  # WRAP
                y = y - np.floor((y - lo) / m) * m
            of[n] = y
        return out
else:  # pragma: no cover
    depthwise_taps = gather_columns = requant_float = requant_rows = None

ROUNDING = ("TRN", "TRN_ZERO", "RND", "RND_ZERO", "RND_INF", "RND_MIN_INF", "RND_CONV")
OVERFLOW = ("WRAP", "SAT", "SAT_ZERO", "SAT_SYM")


def common_modes(rounding: int, overflow: int) -> bool:
    """Mode indices (-1: no rounding / no overflow) that ``requant_rows`` handles."""
    return rounding in (-1, 0, 2, 6) and overflow in (-1, 1, 3)
