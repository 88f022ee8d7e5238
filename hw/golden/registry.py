"""Table of numpy kernels keyed by hls4ml layer class (looked up along the class's MRO).

A kernel is built once from a ModelGraph layer and then called on raw integer tensors:
``kernel(x_raw, in_t) -> out_raw`` where ``x_raw`` holds codes of type ``in_t`` (a FixedType) with
a leading batch axis, and the output holds codes of ``kernel.out_t``.
"""

from __future__ import annotations

import numpy as np

from hw.errors import UnsupportedLayerError
from hw.layers import LAYERS, for_hls4ml_layer, resolve
from qat.fixed import FixedType

def kernel_for(layer):
    """The golden kernel of an hls4ml layer, from the one layer table (hw/layers.py)."""
    entry = for_hls4ml_layer(layer)
    if entry is None or entry.golden is None:
        known = ", ".join(sorted(c for e in LAYERS if e.golden for c in e.hls4ml))
        raise UnsupportedLayerError(layer.name, type(layer).__name__, f"no golden kernel; known: {known}")
    return resolve(entry.golden, "hw.golden")(layer)


def result_type(layer) -> FixedType:
    return FixedType.from_hls4ml(layer.get_output_variable().type.precision)


def layer_type(layer, name: str) -> FixedType:
    """A named type of the layer (``accum_t``, ``weight_t``...)."""
    return FixedType.from_hls4ml(layer.types[name].precision)


def weight_raw(layer, key: str) -> tuple:
    """(raw int64 codes, FixedType) of a weight variable, converted the way the C++ header is:
    the stored value assigned to the weight type with that type's rounding/overflow."""
    var = layer.weights[key]
    t = FixedType.from_hls4ml(var.type.precision)
    data = var.data
    if key == "weight" and layer.get_attr("_weights_transposed", False):
        # hls4ml's Resource-strategy pass moved the output-channel axis first; undo it.
        data = np.moveaxis(data, 0, -1)
    return t.quantize(data), t
