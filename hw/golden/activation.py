"""ReLU and linear activations: hls4ml assigns the input to the result type (rounding + overflow
of the result type), after zeroing negatives for ReLU."""

from __future__ import annotations

import numpy as np
from hls4ml.model.layers import Activation

from hw.golden.registry import UnsupportedLayerError, register, result_type


@register(Activation)
class ActivationKernel:
    def __init__(self, layer):
        self.fn = layer.get_attr("activation")
        if type(layer).__name__.endswith(("Softmax", "HardActivation", "TernaryTanh", "PReLU")) or self.fn not in ("relu", "linear"):
            raise UnsupportedLayerError(f"{layer.name}: activation {self.fn!r} ({type(layer).__name__}) is not modelled")
        self.out_t = result_type(layer)

    def __call__(self, x, in_t):
        if self.fn == "relu":
            x = np.maximum(x, 0)
        return self.out_t.requantize(x, in_t.frac)
