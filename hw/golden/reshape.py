"""Shape-only layers: Input, Reshape/Flatten (channels-last order = numpy C order), ZeroPadding."""

from __future__ import annotations

import numpy as np
from hls4ml.model.layers import Input, Reshape, ZeroPadding1D, ZeroPadding2D

from hw.golden.registry import register, result_type


@register(Input)
class InputKernel:
    """Raw codes in; the model converts float inputs with this type (see GoldenModel.quantize_input)."""

    def __init__(self, layer):
        self.out_t = result_type(layer)
        self.shape = tuple(layer.get_output_variable().shape)

    def __call__(self, x, in_t):
        return self.out_t.requantize(x.reshape(x.shape[0], *self.shape), in_t.frac)


@register(Reshape)
class ReshapeKernel:
    def __init__(self, layer):
        self.out_t = result_type(layer)
        self.shape = tuple(layer.get_output_variable().shape)

    def __call__(self, x, in_t):
        return self.out_t.requantize(x.reshape(x.shape[0], *self.shape), in_t.frac)


@register(ZeroPadding1D, ZeroPadding2D)
class ZeroPaddingKernel:
    def __init__(self, layer):
        self.out_t = result_type(layer)
        g = layer.get_attr
        if isinstance(layer, ZeroPadding2D):
            self.pads = ((g("pad_top"), g("pad_bottom")), (g("pad_left"), g("pad_right")), (0, 0))
        else:
            self.pads = ((g("pad_left"), g("pad_right")), (0, 0))
        self.in_shape = tuple(layer.get_input_variable().shape)

    def __call__(self, x, in_t):
        x = x.reshape(x.shape[0], *self.in_shape)
        return self.out_t.requantize(np.pad(x, ((0, 0), *self.pads)), in_t.frac)
