"""Average / max pooling (valid padding) as hls4ml computes them.

Average: inputs are summed in accum_t, the sum is divided by the window size with C integer
division (truncation toward zero) at accum_t's fraction bits, and the quotient is converted to the
result type. With accum_t wide enough (hw.convert sets it) this equals rounding the exact mean;
with a narrower one it is what hls4ml computes either way.
"""

from __future__ import annotations

import numpy as np

from hw.errors import UnsupportedLayerError
from hw.golden import loops
from hw.golden.arith import Range, Requant, exact_dtype
from hw.golden.registry import layer_type, result_type


def _trunc_div(a: int, n: int) -> int:
    q = abs(a) // n
    return q if a >= 0 else -q


class _PoolBase:
    def __init__(self, layer):
        self.layer = layer
        self.op = str(layer.get_attr("pool_op"))
        self.acc_t = layer_type(layer, "accum_t")
        self.out_t = result_type(layer)
        if any(int(layer.get_attr(p, 0) or 0) for p in ("pad_top", "pad_bottom", "pad_left", "pad_right")):
            raise UnsupportedLayerError(layer.name, type(layer).__name__, "padded pooling is not modelled")
        if self.op != "Max" and self.acc_t.overflow != "WRAP":
            raise UnsupportedLayerError(layer.name, type(layer).__name__, f"saturating average-pool accumulator {self.acc_t} is order-dependent")

    def plan(self, in_t, in_range):
        if self.acc_t.frac < in_t.frac:
            raise UnsupportedLayerError(self.layer.name, type(self.layer).__name__, f"accumulator {self.acc_t} drops input fraction bits ({in_t})")
        self.to_acc = Requant(self.acc_t, in_t.frac, in_range)  # each input assigned to accum_t
        r = self.to_acc.out_range
        if self.op == "Max":
            self.result = Requant(self.out_t, self.acc_t.frac, r)
            return self.result.out_range
        n = self.window
        # When assigning an input to accum_t only appends zero bits (no rounding, no overflow),
        # summing first and shifting the sum is the same and n times cheaper.
        self.sum_first = self.to_acc.shift <= 0 and not self.to_acc.overflows
        if self.sum_first:
            self.wrap = Requant(self.acc_t, in_t.frac, Range(in_range.lo * n, in_range.hi * n))
            self.sum_dtype = exact_dtype(n * in_range.absmax)
        else:
            self.wrap = Requant(self.acc_t, self.acc_t.frac, Range(r.lo * n, r.hi * n))  # WRAP: once == per add
            self.sum_dtype = exact_dtype(n * r.absmax)
        w = self.wrap.out_range
        self.result = Requant(self.out_t, self.acc_t.frac, Range(_trunc_div(w.lo, n), _trunc_div(w.hi, n)))
        return self.result.out_range

    def _reduce(self, win, axes):
        """win: (..., window...) raw codes of the input type -> result codes."""
        if self.op == "Max" or not self.sum_first:
            x = self.to_acc(win, inplace=False)  # windows may overlap: never write through the view
        else:
            x = win
        if self.op == "Max":
            return self.result(x.max(axis=axes))
        total = self.wrap(_window_sum(x, axes, self.sum_dtype))
        n = self.window
        if total.dtype.kind == "f":
            # C division truncates toward zero. trunc(fl(T / n)) is exact: for |T| below the float's
            # exactness bound (2**23 / 2**52) the rounded quotient never reaches the next integer
            mean = np.trunc(total / n)
        else:
            mean = np.sign(total) * (np.abs(total) // n)
        return self.result(mean)


def _window_sum(x, axes, dtype):
    """``x`` summed over ``axes`` in ``dtype`` (exact in any order: the planned bound); compiled for
    the global pool's one axis of contiguous channel rows (numpy's reduction over it is ~4x slower)."""
    if loops.AVAILABLE and axes == (3,) and x.flags.c_contiguous and dtype is not np.int64:
        b, _, _, positions, c = x.shape
        return loops.sum_rows(x.reshape(b, positions, c), np.empty((b, c), dtype)).reshape(b, 1, 1, c)
    return x.sum(axis=axes, dtype=dtype)


class Pooling2DKernel(_PoolBase):
    @property
    def window(self):
        return int(self.layer.get_attr("pool_height")) * int(self.layer.get_attr("pool_width"))

    def __call__(self, x):
        g = self.layer.get_attr
        x = x.reshape(x.shape[0], g("in_height"), g("in_width"), g("n_filt"))
        ph, pw, sh, sw = g("pool_height"), g("pool_width"), g("stride_height"), g("stride_width")
        oh, ow = g("out_height"), g("out_width")
        if (ph, pw) == (g("in_height"), g("in_width")) and oh == ow == 1:
            # global pool: no window view needed; the H*W positions are one axis of contiguous channel
            # rows (see _window_sum), not a strided last axis
            return self._reduce(x.reshape(x.shape[0], 1, 1, -1, x.shape[-1]), (3,))
        win = np.lib.stride_tricks.sliding_window_view(x, (ph, pw), axis=(1, 2))  # B, H', W', C, ph, pw
        win = win[:, : (oh - 1) * sh + 1 : sh, : (ow - 1) * sw + 1 : sw]
        return self._reduce(win, (-2, -1))


class Pooling1DKernel(_PoolBase):
    @property
    def window(self):
        return int(self.layer.get_attr("pool_width"))

    def __call__(self, x):
        g = self.layer.get_attr
        x = x.reshape(x.shape[0], g("n_in"), g("n_filt"))
        pw, sw, ow = g("pool_width"), g("stride_width"), g("n_out")
        win = np.lib.stride_tricks.sliding_window_view(x, pw, axis=1)  # B, W', C, pw
        win = win[:, : (ow - 1) * sw + 1 : sw]
        return self._reduce(win, (-1,))
