"""Conv1D / Conv2D (incl. hls4ml's PointwiseConv 1x1 variants): dense MAC over zero-padded windows.

Keras kernel layout (fh, fw, C_in, C_out) flattened matches the (fh, fw, C) window order.
"""

from __future__ import annotations

import numpy as np
from hls4ml.model.layers import Conv1D, Conv2D

from hw.golden.arith import mac, patches_1d, patches_2d
from hw.golden.registry import layer_type, register, result_type, weight_raw


class _ConvBase:
    def __init__(self, layer):
        self.w, self.w_t = weight_raw(layer, "weight")
        self.n_filt = int(layer.get_attr("n_filt"))
        self.w = self.w.reshape(-1, self.n_filt)
        self.b, self.b_t = weight_raw(layer, "bias") if "bias" in layer.weights else (None, None)
        self.acc_t = layer_type(layer, "accum_t")
        self.out_t = result_type(layer)
        self.layer = layer

    def _finish(self, win, in_t):
        """win: (B, *out_positions, *window, C) -> (B, *out_positions, n_filt)."""
        positions = win.shape[: win.ndim - self._window_dims - 1]
        cols = win.reshape(-1, self.w.shape[0])
        acc = mac(cols, in_t, self.w, self.w_t, self.b, self.b_t, self.acc_t, np.matmul, self.w.shape[0])
        return self.out_t.requantize(acc, self.acc_t.frac).reshape(*positions, self.n_filt)


@register(Conv2D)
class Conv2DKernel(_ConvBase):
    _window_dims = 2

    def __call__(self, x, in_t):
        g = self.layer.get_attr
        x = x.reshape(x.shape[0], g("in_height"), g("in_width"), g("n_chan"))
        win = patches_2d(x, g("filt_height"), g("filt_width"), g("stride_height"), g("stride_width"),
                         (g("pad_top"), g("pad_bottom"), g("pad_left"), g("pad_right")), (g("out_height"), g("out_width")))
        return self._finish(win, in_t)


@register(Conv1D)
class Conv1DKernel(_ConvBase):
    _window_dims = 1

    def __call__(self, x, in_t):
        g = self.layer.get_attr
        x = x.reshape(x.shape[0], g("in_width"), g("n_chan"))
        win = patches_1d(x, g("filt_width"), g("stride_width"), (g("pad_left"), g("pad_right")), g("out_width"))
        return self._finish(win, in_t)
