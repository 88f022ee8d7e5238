"""Shape-only layers: Input, Reshape/Flatten (channels-last order = numpy C order), ZeroPadding,
Cropping, and what hls4ml's io_stream inserts: Repack for a Reshape (the same values, re-cut into other stream
beats) and Clone where a tensor feeds two layers (the same values on each output stream)."""

from __future__ import annotations

import numpy as np
from hls4ml.model.layers import Cropping2D, ZeroPadding2D

from hw.errors import UnsupportedLayerError
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


def _channels_last(layer) -> None:
    """Padding and cropping index channels-last tensors (hw.convert refuses others by name)."""
    if layer.get_attr("data_format", "channels_last") != "channels_last":
        raise UnsupportedLayerError(layer.name, type(layer).__name__, f"data_format {layer.get_attr('data_format')!r}; "
                                    "only channels_last is supported")


class ZeroPaddingKernel(_Reshaping):
    def __init__(self, layer):
        _channels_last(layer)
        self.out_t = result_type(layer)
        g = layer.get_attr
        if isinstance(layer, ZeroPadding2D):
            self.pads = ((g("pad_top"), g("pad_bottom")), (g("pad_left"), g("pad_right")), (0, 0))
        else:
            self.pads = ((g("pad_left"), g("pad_right")), (0, 0))
        self.in_shape = tuple(layer.get_input_variable().shape)

    def __call__(self, x):
        x = x.reshape(x.shape[0], *self.in_shape)
        out = np.zeros((x.shape[0], *(n + a + b for n, (a, b) in zip(self.in_shape, self.pads))), x.dtype)
        out[(slice(None), *(slice(a, a + n) for n, (a, _) in zip(self.in_shape, self.pads)))] = x  # 2x np.pad's speed
        return self.requant(out)



class CroppingKernel(_Reshaping):
    """Keras Cropping1D/2D: the inner part of each map; its codes are a subset of the input's, so
    the planned range is the input's (a type change, which the converter refuses, would requantize)."""

    def __init__(self, layer):
        _channels_last(layer)
        self.out_t = result_type(layer)
        g = layer.get_attr
        self.in_shape = tuple(layer.get_input_variable().shape)
        self.out_shape = tuple(layer.get_output_variable().shape)
        if isinstance(layer, Cropping2D):
            starts = (g("crop_top"), g("crop_left"), 0)
        else:
            starts = (g("crop_left"), 0)
        self.window = tuple(slice(s, s + n) for s, n in zip(starts, self.out_shape))

    def __call__(self, x):
        x = x.reshape(x.shape[0], *self.in_shape)
        return self.requant(np.ascontiguousarray(x[(slice(None), *self.window)]))
