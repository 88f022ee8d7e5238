"""ReLU and linear activations: hls4ml assigns the input to the result type (rounding + overflow
of the result type), after zeroing negatives for ReLU. One planned requantize pass."""

from __future__ import annotations


from hw.errors import UnsupportedLayerError
from hw.golden.arith import Requant
from hw.golden.registry import result_type


class ActivationKernel:
    def __init__(self, layer):
        self.fn = layer.get_attr("activation")
        if type(layer).__name__.endswith(("Softmax", "HardActivation", "TernaryTanh", "PReLU")) or self.fn not in ("relu", "linear"):
            raise UnsupportedLayerError(layer.name, type(layer).__name__, f"activation {self.fn!r} is not modelled")
        self.out_t = result_type(layer)

    def plan(self, in_t, in_range):
        self.requant = Requant(self.out_t, in_t.frac, in_range, relu=self.fn == "relu")
        return self.requant.out_range

    def __call__(self, x):
        return self.requant(x)
