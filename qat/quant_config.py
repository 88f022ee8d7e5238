"""Bits per tensor class for linear fixed-point QAT, and the QKeras quantizers they stand for.

Every quantizer built here has alpha=1 and a power-of-two grid, so the trained network is a
plain fixed-point network: hls4ml reads the formats straight from the QKeras quantizers and
the hardware side needs no scale factors. Weights and biases get a per-layer number of
integer bits ("auto": chosen from the layer's float range when QAT starts), which is the
same as a per-layer power-of-two scale but stays an ordinary ap_fixed type.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass, field, fields

import numpy as np


class QuantConfigError(ValueError):
    """A quantization setting that cannot work; raised before any training starts."""


@dataclass
class QuantConfig:
    weight_bits: int = 8
    bias_bits: int = 16
    act_bits: int = 8
    act_int: int = 3  # quantized_relu integer bits: range [0, 2**act_int)
    input_bits: int = 8
    input_int: int = 2  # signed input grid: [-2**input_int, 2**input_int)
    output_bits: int = 16
    output_int: int = 6  # logits grid
    pool_bits: int = 16  # requantizer after average pooling
    pool_int: int = 3
    # Per-layer integer bits of weights/biases. Filled by `with_layer_ranges` from float
    # weights; a layer missing here gets `default_weight_int`.
    weight_int: dict[str, int] = field(default_factory=dict)
    bias_int: dict[str, int] = field(default_factory=dict)
    # Per-activation integer bits (keyed by the layer before the ReLU), from calibration.
    layer_act_int: dict[str, int] = field(default_factory=dict)
    default_weight_int: int = 0
    default_bias_int: int = 3

    def __post_init__(self):
        self.validate()

    def validate(self) -> None:
        for name in ("weight_bits", "bias_bits", "act_bits", "input_bits", "output_bits", "pool_bits"):
            bits = getattr(self, name)
            if not isinstance(bits, (int, np.integer)) or not 2 <= bits <= 32:
                raise QuantConfigError(f"quant.{name}={bits!r}: must be an integer from 2 to 32")
        for name in ("act_int", "input_int", "output_int", "pool_int"):
            value = getattr(self, name)
            if not isinstance(value, (int, np.integer)):
                raise QuantConfigError(f"quant.{name}={value!r}: must be an integer")
        if self.act_int > self.act_bits:
            raise QuantConfigError(
                f"quant.act_int={self.act_int} exceeds act_bits={self.act_bits}: "
                "quantized_relu would have no fraction bits and integer bits it cannot store")

    # -- serialisation -------------------------------------------------------------------
    def to_dict(self) -> dict:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict | None) -> "QuantConfig | None":
        if data is None:
            return None
        known = {f.name for f in fields(cls)}
        unknown = sorted(set(data) - known)
        if unknown:
            raise QuantConfigError(f"unknown quant setting(s) {unknown}; known: {sorted(known)}")
        return cls(**data)

    # -- per-layer grids -----------------------------------------------------------------
    def with_layer_ranges(self, layer_weights: dict[str, tuple[np.ndarray, np.ndarray | None]]) -> "QuantConfig":
        """Choose each layer's integer bits so its largest |weight| / |bias| fits the grid."""
        wint, bint = dict(self.weight_int), dict(self.bias_int)
        for name, (kernel, bias) in layer_weights.items():
            # QKeras quantized_bits takes no negative integer bits: small ranges use 0.
            wint.setdefault(name, max(0, integer_bits_for(np.max(np.abs(kernel)))))
            if bias is not None:
                bint.setdefault(name, max(0, integer_bits_for(np.max(np.abs(bias)))))
        data = self.to_dict()
        data.update(weight_int=wint, bias_int=bint)
        return QuantConfig(**data)

    # -- QKeras quantizers (imported lazily: hardware-side users need no TensorFlow) ------
    def kernel_quantizer(self, layer: str):
        from qkeras import quantized_bits
        return quantized_bits(self.weight_bits, self.weight_int.get(layer, self.default_weight_int), alpha=1)

    def bias_quantizer(self, layer: str):
        from qkeras import quantized_bits
        return quantized_bits(self.bias_bits, self.bias_int.get(layer, self.default_bias_int), alpha=1)

    def activation(self, layer: str | None = None):
        from qkeras import quantized_relu
        return quantized_relu(self.act_bits, self.layer_act_int.get(layer, self.act_int))

    def input_quantizer(self):
        from qkeras import quantized_bits
        return quantized_bits(self.input_bits, self.input_int, alpha=1)

    def output_quantizer(self):
        from qkeras import quantized_bits
        return quantized_bits(self.output_bits, self.output_int, alpha=1)

    def pool_quantizer(self):
        from qkeras import quantized_bits
        return quantized_bits(self.pool_bits, self.pool_int, alpha=1)


def integer_bits_for(max_abs: float) -> int:
    """Smallest integer-bit count i (QKeras convention, sign excluded) with max_abs <= 2**i.

    May be negative: a layer whose weights stay below 0.25 gets i=-2, i.e. the grid
    2**(i - bits + 1) is four times finer than with i=0 and no weight rounds away.
    """
    max_abs = float(max_abs)
    if not math.isfinite(max_abs):
        raise QuantConfigError(f"non-finite weight range {max_abs}: training diverged")
    if max_abs <= 0:
        return 0
    return int(math.ceil(math.log2(max_abs)))
