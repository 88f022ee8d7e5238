"""DepthwiseConv2D / DepthwiseConv1D (depth_multiplier=1): per-channel MAC over zero-padded windows.

A 1-D depthwise conv (hls4ml's first half of a QSeparableConv1D) is the 2-D kernel on a map one
row high: the same loops, its output reshaped to (width, channels).

Compiled (``hw.golden.loops``, numba): per vector, a zero-padded copy small enough for L1, then
one SIMD loop per output row and 3 taps (all 9 of a 3 x 3 filter), with the bias and the next
ReLU's requantization in the same loop when the Mac allows it (the sums are never stored).
numpy form (no numba): one in-place multiply-add per filter tap
over the whole map (no window copies); for stride 1 along the width each map row (width x channels)
is one contiguous vector, so a tap is a plain 2-D slice times the tap's weights tiled over the
width. Both give the same integers (tests/test_hw_golden_fast.py).
"""

from __future__ import annotations

import numpy as np

from hw.errors import UnsupportedLayerError
from hw.golden import loops
from hw.golden.arith import Mac
from hw.golden.registry import layer_type, result_type, weight_raw


class DepthwiseConv2DKernel:
    def __init__(self, layer):
        self.layer, self.name = layer, layer.name
        if int(layer.get_attr("depth_multiplier", 1) or 1) != 1:
            raise UnsupportedLayerError(layer.name, type(layer).__name__, "depth_multiplier != 1")
        self.geom = self._geometry(layer.get_attr)
        self.w, self.w_t = weight_raw(layer, "weight")
        self.w = self.w.reshape(self.geom["filt_height"] * self.geom["filt_width"], self.geom["n_chan"])
        self.b, self.b_t = weight_raw(layer, "bias") if "bias" in layer.weights else (None, None)
        self.acc_t = layer_type(layer, "accum_t")
        self.out_t = result_type(layer)
        self._buffers: dict = {}

    _KEYS = ("in_height", "in_width", "n_chan", "filt_height", "filt_width", "stride_height", "stride_width",
             "out_height", "out_width", "pad_top", "pad_bottom", "pad_left", "pad_right")

    def _geometry(self, g) -> dict:
        return {k: int(g(k)) for k in self._KEYS}

    def plan(self, in_t, in_range):
        self.mac = Mac(in_t, in_range, self.w, self.w_t, self.b, self.b_t, self.acc_t, self.out_t, self.name)
        # the Mac's weights (possibly pre-scaled, in its representation) and bias, tiled over the output width
        self.w_rows = self._tiled(self.mac.w) if self.mac.w is not None else None
        self.tap_rows = self._tap_rows(self.mac.w) if self.mac.w is not None else None  # the compiled loops' form
        self.b_row = np.tile(self.mac.b, self.geom["out_width"])
        return self.mac.out_range

    def _tap_rows(self, w):
        """Tap weights (taps, C) as the compiled loops read them (loops.tap_rows)."""
        g = self.geom
        return loops.tap_rows(w, g["filt_height"], g["filt_width"], g["out_width"])

    def _tiled(self, w):
        """Tap weights (taps, C) -> (taps, out_width * C), one row per tap over a whole output row."""
        return np.ascontiguousarray(np.tile(w, (1, self.geom["out_width"])))

    def _padded(self, x):
        """x in a zero-bordered buffer reused across calls (borders stay zero, interior is overwritten)."""
        g = self.geom
        b = x.shape[0]
        buf = self._buffers.get(b)
        if buf is None:
            shape = (b, g["in_height"] + g["pad_top"] + g["pad_bottom"], g["in_width"] + g["pad_left"] + g["pad_right"], g["n_chan"])
            buf = self._buffers[b] = np.zeros(shape, dtype=self.mac.dtype)
        buf[:, g["pad_top"] : g["pad_top"] + g["in_height"], g["pad_left"] : g["pad_left"] + g["in_width"]] = x.reshape(
            b, g["in_height"], g["in_width"], g["n_chan"])
        return buf

    def __call__(self, x):
        return self._compiled(x) if loops.AVAILABLE else self._numpy(x)

    def _compiled(self, x):
        """One pass over the map (loops.depthwise_*), each vector zero-padded in a small buffer."""
        g = self.geom
        c, oh, ow = g["n_chan"], g["out_height"], g["out_width"]
        geom = (c, g["filt_height"], g["stride_height"], g["stride_width"], g["pad_top"], g["pad_left"])

        def rows(x, dtype):  # (batch, rows, width * C) maps; a fresh output (the Mac may keep it)
            x = np.ascontiguousarray(x).reshape(x.shape[0], g["in_height"], g["in_width"] * c)
            return x, np.empty((x.shape[0], oh, ow * c), dtype)

        def sums(x, w):
            x, out = rows(x, x.dtype)
            w_rows = self.tap_rows if w is self.mac.w else self._tap_rows(w)  # the Mac's weights or a 0/1 mask
            return loops.depthwise_sums(x, w_rows, *geom, out).reshape(x.shape[0], oh, ow, c)

        def requantized(x, w, b, q):  # in q's dtype: the sums and the bias are exact in it
            x, out = rows(x, q.dtype)
            out = loops.depthwise_requant(x, self.tap_rows, *geom, out, self.b_row, *q.loop_args)
            return out.reshape(x.shape[0], oh, ow, c)

        return self.mac(x, sums, requantized)

    def _numpy(self, x):
        """One in-place multiply-add per filter tap over the zero-padded map."""
        g = self.geom
        fh, fw, sh, sw, oh, ow, c = (g[k] for k in ("filt_height", "filt_width", "stride_height", "stride_width",
                                                    "out_height", "out_width", "n_chan"))
        xp = self._padded(x)

        def taps(xp, w):
            # the Mac passes its own weights, or one 0/1 mask per weight value (narrow accumulators)
            w_rows = self.w_rows if w is self.mac.w else self._tiled(w)
            acc = tmp = None
            flat = xp.reshape(xp.shape[0], xp.shape[1], -1) if sw == 1 else None
            for i in range(fh):
                rows = slice(i, i + (oh - 1) * sh + 1, sh)
                for j in range(fw):
                    if flat is not None:
                        tap, wk = flat[:, rows, j * c : (j + ow) * c], w_rows[i * fw + j]
                    else:
                        tap, wk = xp[:, rows, j : j + (ow - 1) * sw + 1 : sw, :], w[i * fw + j]
                    if acc is None:
                        acc = np.multiply(tap, wk)
                        tmp = np.empty_like(acc)
                    else:
                        np.multiply(tap, wk, out=tmp)
                        acc += tmp
            return acc.reshape(acc.shape[0], oh, ow, c)

        return self.mac(xp, taps)


class DepthwiseConv1DKernel(DepthwiseConv2DKernel):
    """hls4ml's DepthwiseConv1D: the 2-D kernel on a map one row high (no vertical taps, stride or padding)."""

    _ROW = {"in_height": 1, "filt_height": 1, "stride_height": 1, "out_height": 1, "pad_top": 0, "pad_bottom": 0}

    def _geometry(self, g) -> dict:
        return {k: self._ROW[k] if k in self._ROW else int(g(k)) for k in self._KEYS}

    def __call__(self, x):
        y = super().__call__(x)
        return y.reshape(y.shape[0], self.geom["out_width"], self.geom["n_chan"])
