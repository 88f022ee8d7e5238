"""Average / max pooling (valid padding) as hls4ml computes them.

Average: inputs are summed in accum_t, the sum is divided by the window size with C integer
division (truncation toward zero) at accum_t's fraction bits, and the quotient is converted to the
result type. With accum_t wide enough (hw.convert sets it) this equals rounding the exact mean;
with a narrower one it is what hls4ml computes either way.
"""

from __future__ import annotations

import numpy as np
from hls4ml.model.layers import Pooling1D, Pooling2D

from hw.golden.registry import UnsupportedLayerError, layer_type, register, result_type


class _PoolBase:
    def __init__(self, layer):
        self.layer = layer
        self.op = str(layer.get_attr("pool_op"))
        self.acc_t = layer_type(layer, "accum_t")
        self.out_t = result_type(layer)
        if any(int(layer.get_attr(p, 0) or 0) for p in ("pad_top", "pad_bottom", "pad_left", "pad_right")):
            raise UnsupportedLayerError(f"{layer.name}: padded pooling is not modelled")
        if self.op != "Max" and self.acc_t.overflow != "WRAP":
            raise UnsupportedLayerError(f"{layer.name}: saturating average-pool accumulator {self.acc_t} is order-dependent")

    def _reduce(self, win, in_t, axes):
        """win: (..., window...) raw codes of in_t -> result codes."""
        if self.acc_t.frac < in_t.frac:
            raise UnsupportedLayerError(f"{self.layer.name}: accumulator {self.acc_t} drops input fraction bits ({in_t})")
        x = self.acc_t.requantize(win, in_t.frac)  # each input assigned to accum_t
        if self.op == "Max":
            return self.out_t.requantize(x.max(axis=axes), self.acc_t.frac)
        n = int(np.prod([win.shape[a] for a in axes]))
        total = self.acc_t.requantize(x.sum(axis=axes), self.acc_t.frac)  # WRAP: wrapping once == per add
        mean = np.sign(total) * (np.abs(total) // n)  # C division truncates toward zero
        return self.out_t.requantize(mean, self.acc_t.frac)


@register(Pooling2D)
class Pooling2DKernel(_PoolBase):
    def __call__(self, x, in_t):
        g = self.layer.get_attr
        x = x.reshape(x.shape[0], g("in_height"), g("in_width"), g("n_filt"))
        ph, pw, sh, sw = g("pool_height"), g("pool_width"), g("stride_height"), g("stride_width")
        oh, ow = g("out_height"), g("out_width")
        win = np.lib.stride_tricks.sliding_window_view(x, (ph, pw), axis=(1, 2))  # B, H', W', C, ph, pw
        win = win[:, : (oh - 1) * sh + 1 : sh, : (ow - 1) * sw + 1 : sw]
        return self._reduce(win, in_t, (-2, -1))


@register(Pooling1D)
class Pooling1DKernel(_PoolBase):
    def __call__(self, x, in_t):
        g = self.layer.get_attr
        x = x.reshape(x.shape[0], g("n_in"), g("n_filt"))
        pw, sw, ow = g("pool_width"), g("stride_width"), g("n_out")
        win = np.lib.stride_tricks.sliding_window_view(x, pw, axis=1)  # B, W', C, pw
        win = win[:, : (ow - 1) * sw + 1 : sw]
        return self._reduce(win, in_t, (-1,))
