"""Exact integer building blocks shared by the kernels (multiply-accumulate, patch extraction)."""

from __future__ import annotations

import numpy as np

from hw.fixed import FixedType
from hw.golden.registry import UnsupportedLayerError

# float64 integer arithmetic is exact below 2**53; BLAS matmul is ~50x faster than numpy int64.
_FLOAT_EXACT = 2.0**53


def _exact_in_float(x_t: FixedType, w_max: int, n_terms: int) -> bool:
    x_max = max(abs(x_t.min_raw), abs(x_t.max_raw))
    return float(x_max) * float(w_max) * float(n_terms) < _FLOAT_EXACT


def mac(x_raw: np.ndarray, x_t: FixedType, w_raw: np.ndarray, w_t: FixedType, b_raw, b_t, acc_t: FixedType,
        contract, n_terms: int):
    """hls4ml's multiply-accumulate: every product (exact, frac = fx + fw) is converted to accum_t,
    the bias is converted to accum_t, and they are summed in accum_t. With a WRAP accumulator the
    sum wraps modulo 2**W regardless of order, so we sum exactly and wrap once.

    ``contract(x, w)`` computes the sum of products with the layer's index pattern (matmul/einsum);
    ``n_terms`` is the number of products per output. Returns raw accumulator codes (acc_t).
    """
    if acc_t.overflow != "WRAP":
        raise UnsupportedLayerError(f"accumulator {acc_t} saturates per addition (order-dependent); use a WRAP accumulator")
    prod_frac = x_t.frac + w_t.frac
    if acc_t.frac < prod_frac:
        _narrow_accumulator(x_t, w_t, acc_t)
    w_max = int(np.abs(w_raw).max()) if w_raw.size else 0
    if _exact_in_float(x_t, w_max, n_terms):
        s = contract(x_raw.astype(np.float64), w_raw.astype(np.float64))
        s = np.rint(s).astype(np.int64)
    else:
        x_max = max(abs(x_t.min_raw), abs(x_t.max_raw))
        if float(x_max) * float(w_max) * float(n_terms) >= 2.0**62:
            raise UnsupportedLayerError(f"sum of products of {x_t} and {w_t} may exceed int64")
        s = contract(x_raw, w_raw)
    s = s << (acc_t.frac - prod_frac)
    if b_raw is not None:
        s = s + acc_t.requantize(b_raw, b_t.frac)
    return acc_t.requantize(s, acc_t.frac)


def _narrow_accumulator(x_t, w_t, acc_t):
    """hls4ml would round every product on its own before summing; not modelled (auto accumulators
    always keep all product fraction bits)."""
    raise UnsupportedLayerError(
        f"accumulator {acc_t} has fewer fraction bits than the products ({x_t.frac}+{w_t.frac}); "
        "products would be truncated one by one; give the accumulator at least that many fraction bits"
    )


def patches_2d(x: np.ndarray, fh, fw, sh, sw, pads, out_hw) -> np.ndarray:
    """(B, H, W, C) -> (B, OH, OW, fh, fw, C) windows, zero padding (top, bottom, left, right)."""
    pt, pb, pl, pr = pads
    if any(pads):
        x = np.pad(x, ((0, 0), (pt, pb), (pl, pr), (0, 0)))
    win = np.lib.stride_tricks.sliding_window_view(x, (fh, fw), axis=(1, 2))  # B, H', W', C, fh, fw
    oh, ow = out_hw
    win = win[:, : (oh - 1) * sh + 1 : sh, : (ow - 1) * sw + 1 : sw]
    return win.transpose(0, 1, 2, 4, 5, 3)


def patches_1d(x: np.ndarray, fw, sw, pads, out_w) -> np.ndarray:
    """(B, W, C) -> (B, OW, fw, C)."""
    pl, pr = pads
    if pl or pr:
        x = np.pad(x, ((0, 0), (pl, pr), (0, 0)))
    win = np.lib.stride_tricks.sliding_window_view(x, fw, axis=1)  # B, W', C, fw
    win = win[:, : (out_w - 1) * sw + 1 : sw]
    return win.transpose(0, 1, 3, 2)
