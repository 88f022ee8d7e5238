"""DepthwiseConv2D (depth_multiplier=1): per-channel MAC over zero-padded windows."""

from __future__ import annotations

import numpy as np
from hls4ml.model.layers import DepthwiseConv2D

from hw.golden.arith import mac
from hw.golden.registry import UnsupportedLayerError, layer_type, register, result_type, weight_raw


@register(DepthwiseConv2D)
class DepthwiseConv2DKernel:
    def __init__(self, layer):
        self.layer = layer
        if int(layer.get_attr("depth_multiplier", 1) or 1) != 1:
            raise UnsupportedLayerError(f"{layer.name}: depth_multiplier != 1")
        g = layer.get_attr
        self.w, self.w_t = weight_raw(layer, "weight")
        self.w = self.w.reshape(g("filt_height") * g("filt_width"), g("n_chan"))
        self.b, self.b_t = weight_raw(layer, "bias") if "bias" in layer.weights else (None, None)
        self.acc_t = layer_type(layer, "accum_t")
        self.out_t = result_type(layer)

    def __call__(self, x, in_t):
        g = self.layer.get_attr
        x = x.reshape(x.shape[0], g("in_height"), g("in_width"), g("n_chan"))
        x = np.pad(x, ((0, 0), (g("pad_top"), g("pad_bottom")), (g("pad_left"), g("pad_right")), (0, 0)))
        fh, fw, sh, sw = g("filt_height"), g("filt_width"), g("stride_height"), g("stride_width")
        oh, ow = g("out_height"), g("out_width")

        def taps(xp, w):
            # one multiply-add per filter tap over the whole map: no window copies (fast)
            acc = 0
            for i in range(fh):
                for j in range(fw):
                    acc = acc + xp[:, i : i + (oh - 1) * sh + 1 : sh, j : j + (ow - 1) * sw + 1 : sw, :] * w[i * fw + j]
            return acc

        acc = mac(x, in_t, self.w, self.w_t, self.b, self.b_t, self.acc_t, taps, self.w.shape[0])
        return self.out_t.requantize(acc, self.acc_t.frac)
