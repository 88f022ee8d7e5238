"""Shape-only layers: Input, Reshape/Flatten (channels-last order = numpy C order), ZeroPadding, and
what hls4ml's io_stream inserts: Repack for a Reshape (the same values, re-cut into other stream
beats) and Clone where a tensor feeds two layers (the same values on each output stream)."""

from __future__ import annotations

import numpy as np
from hls4ml.model.layers import ZeroPadding2D

from hw.golden.arith import Requant
from hw.golden.registry import result_type


class _Reshaping:
    def plan(self, in_t, in_range):
        in_range = in_range.with_zero() if getattr(self, "pads", None) else in_range
        self.requant = Requant(self.out_t, in_t.frac, in_range)  # identity when the types agree
        return self.requant.out_range


class InputKernel(_Reshaping):
    """Raw codes in; the model converts float inputs with this type (see GoldenModel.quantize_input)."""

    def __init__(self, layer):
        self.out_t = result_type(layer)
        self.shape = tuple(layer.get_output_variable().shape)

    def __call__(self, x):
        return self.requant(x.reshape(x.shape[0], *self.shape))


class ReshapeKernel(_Reshaping):
    def __init__(self, layer):
        self.out_t = result_type(layer)
        self.shape = tuple(layer.get_output_variable().shape)

    def __call__(self, x):
        return self.requant(x.reshape(x.shape[0], *self.shape))


class ZeroPaddingKernel(_Reshaping):
    def __init__(self, layer):
        self.out_t = result_type(layer)
        g = layer.get_attr
        if isinstance(layer, ZeroPadding2D):
            self.pads = ((g("pad_top"), g("pad_bottom")), (g("pad_left"), g("pad_right")), (0, 0))
        else:
            self.pads = ((g("pad_left"), g("pad_right")), (0, 0))
        self.in_shape = tuple(layer.get_input_variable().shape)

    def __call__(self, x):
        x = x.reshape(x.shape[0], *self.in_shape)
        return self.requant(np.pad(x, ((0, 0), *self.pads)))

