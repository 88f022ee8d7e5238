"""Conv1D / Conv2D (incl. hls4ml's PointwiseConv 1x1 variants): im2col + one BLAS matmul.

Keras kernel layout (fh, fw, C_in, C_out) flattened matches the (fh, fw, C) window order. The
im2col gather (compiled, or numpy's take) uses flat indices precomputed once (fast for any channel count, including the
one-channel MFCC input), straight from the unpadded input (index -1: a zero of the padding); a 1x1, stride-1,
unpadded conv needs no windows at all.
"""

from __future__ import annotations

import numpy as np
from hls4ml.model.layers import Conv2D

from hw.golden import loops
from hw.golden.arith import Mac
from hw.golden.registry import layer_type, result_type, weight_raw


def im2col_index(in_hw, n_chan, filt, stride, pads, out_hw) -> np.ndarray:
    """Flat indices (positions, window) into the unpadded input flattened per vector, -1 where a
    window reaches into the zero padding. Window order is (fh, fw, C), positions are row-major (oh, ow)."""
    (h, w), (fh, fw), (sh, sw), (pt, pb, pl, pr), (oh, ow) = in_hw, filt, stride, pads, out_hw
    oy, ox = np.meshgrid(np.arange(oh) * sh - pt, np.arange(ow) * sw - pl, indexing="ij")
    ky, kx, kc = np.meshgrid(np.arange(fh), np.arange(fw), np.arange(n_chan), indexing="ij")
    rows = oy.reshape(-1, 1) + ky.reshape(1, -1)
    cols = ox.reshape(-1, 1) + kx.reshape(1, -1)
    inside = (rows >= 0) & (rows < h) & (cols >= 0) & (cols < w)
    return np.where(inside, (rows * w + cols) * n_chan + kc.reshape(1, -1), -1)


class _ConvBase:
    def __init__(self, layer):
        self.name = layer.name
        self.w, self.w_t = weight_raw(layer, "weight")
        self.n_filt = int(layer.get_attr("n_filt"))
        self.w = self.w.reshape(-1, self.n_filt)
        self.b, self.b_t = weight_raw(layer, "bias") if "bias" in layer.weights else (None, None)
        self.acc_t = layer_type(layer, "accum_t")
        self.out_t = result_type(layer)
        self.layer = layer
        g = layer.get_attr
        two_d = isinstance(layer, Conv2D)
        self.in_hw = (int(g("in_height")), int(g("in_width"))) if two_d else (1, int(g("in_width")))
        self.out_hw = (int(g("out_height")), int(g("out_width"))) if two_d else (1, int(g("out_width")))
        filt = (int(g("filt_height")), int(g("filt_width"))) if two_d else (1, int(g("filt_width")))
        stride = (int(g("stride_height")), int(g("stride_width"))) if two_d else (1, int(g("stride_width")))
        pads = tuple(int(g(p)) for p in ("pad_top", "pad_bottom", "pad_left", "pad_right")) if two_d else (
            0, 0, int(g("pad_left")), int(g("pad_right")))
        self.n_chan = int(g("n_chan"))
        self.pointwise = filt == (1, 1) and stride == (1, 1) and not any(pads)
        self.index = im2col_index(self.in_hw, self.n_chan, filt, stride, pads, self.out_hw)
        self.reads_padding = bool((self.index < 0).any())  # some window reaches into the zero padding

    def plan(self, in_t, in_range):
        self.mac = Mac(in_t, in_range, self.w, self.w_t, self.b, self.b_t, self.acc_t, self.out_t, self.name)
        return self.mac.out_range

    def __call__(self, x):
        b = x.shape[0]
        if self.pointwise:  # channels are the whole window
            cols = x.reshape(-1, self.n_chan)
        else:
            flat = np.ascontiguousarray(x.reshape(b, -1))
            if loops.AVAILABLE:
                cols = loops.gather_columns(flat, self.index, np.empty((b, *self.index.shape), flat.dtype))
            else:  # index -1 takes the zero appended where there is padding
                padded = np.concatenate([flat, np.zeros((b, 1), flat.dtype)], axis=1) if self.reads_padding else flat
                cols = np.take(padded, self.index, axis=1)
            cols = cols.reshape(-1, self.index.shape[1])
        out = self.mac(cols, np.matmul)
        shape = (b, *self.out_hw, self.n_filt) if isinstance(self, Conv2DKernel) else (b, self.out_hw[1], self.n_filt)
        return out.reshape(shape)


class Conv2DKernel(_ConvBase):
    pass


class Conv1DKernel(_ConvBase):
    pass
