"""Fixed Qm.n formats for transient values (paper A): inputs, accumulators, layer outputs.

A transient format is one `qat.fixed.FixedType` (the project's only fixed-point type): `width` bits
in total, `integer` bits left of the binary point *including* the sign bit, rounding RND_CONV (half
to even, what tf.round and QKeras do) and overflow SAT (`transient_format`). Formats are chosen from calibration ranges
(`choose_format`), fake-quantized during training by the `fixed_point` quantizer (put it in a
QActivation after the layer), and written into the hls4ml config (`hls4ml_precisions`) so the
hardware uses exactly the trained formats.

Accumulators: training fake-quantizes the finished sum. hls4ml rounds/saturates every partial
sum into accum_t, so the two agree only if the accumulator has at least the fraction bits of
input x weight (then products are exact) and no partial sum leaves the calibrated range; a
16-bit accumulator usually breaks the first condition, and paper A's 16-vs-32-bit comparison
measures exactly that loss.
"""

from __future__ import annotations

import math
import numpy as np
import tensorflow as tf
from qkeras.quantizers import BaseQuantizer

from qat.fixed import MAX_WIDTH, FixedType

from .fixed_grid import check_bits, check_int

ROUNDING = "RND_CONV"  # = tf.round (half to even); other modes are not modelled in training
OVERFLOW = "SAT"


class FormatError(ValueError):
    """A fixed-point format that cannot hold what it must hold; raised before training."""


def transient_format(width: int, integer: int, signed: bool = True) -> FixedType:
    """The FixedType of a transient value: RND_CONV (= tf.round, half to even) and SAT."""
    check_bits(width, "format width", minimum=1, maximum=MAX_WIDTH)
    check_int(integer, "format integer bits")
    if signed and width < 2:
        raise FormatError("a signed format needs width >= 2 (sign + one value bit)")
    return FixedType(width, integer, signed, ROUNDING, OVERFLOW)


def covers(fmt: FixedType, lo: float, hi: float) -> bool:
    return fmt.min <= lo and hi <= fmt.max


def check_covers(fmt: FixedType, lo: float, hi: float, what: str = "value") -> None:
    if not covers(fmt, lo, hi):
        raise FormatError(
            f"{what}: format {fmt.to_hls()} holds [{fmt.min}, {fmt.max}] "
            f"but the calibrated range is [{lo}, {hi}]; add integer bits (choose_format picks "
            f"the smallest that fit) or widen the format")


def qkeras_quantizer(fmt: FixedType):
    """The plain QKeras quantizer of a transient format (for exported models and hls4ml)."""
    from qkeras import quantized_bits, quantized_relu
    if fmt.signed:
        if fmt.integer < 1:
            raise FormatError(f"{fmt.to_hls()}: QKeras quantized_bits cannot take a "
                              "negative integer part; use integer >= 1 (sign included)")
        return quantized_bits(fmt.width, fmt.integer - 1, alpha=1)
    if fmt.integer < 0:
        raise FormatError(f"{fmt.to_hls()}: QKeras quantized_relu cannot take a "
                          "negative integer part; use integer >= 0")
    # quantized_relu also maps negatives to 0: equal to an unsigned SAT format on any input
    return quantized_relu(fmt.width, fmt.integer)


def format_to_dict(fmt: FixedType) -> dict:
    return {"width": fmt.width, "integer": fmt.integer, "signed": fmt.signed}


def integer_bits_for_range(lo: float, hi: float, signed: bool) -> int:
    """Smallest ap_fixed integer part (sign included) with -2**m <= lo and hi < 2**m.

    hi < 2**m is necessary but, because the top value is 2**m - step, not always sufficient:
    choose_format adds the last bit once the width (and so the step) is known.
    """
    for v in (lo, hi):
        if not math.isfinite(v):
            raise FormatError(f"non-finite calibration range [{lo}, {hi}] (diverged training?)")
    if lo > hi:
        raise FormatError(f"empty calibration range [{lo}, {hi}]")
    if not signed and lo < 0:
        raise FormatError(f"calibrated minimum {lo} < 0 needs a signed format")
    candidates = []
    if lo < 0:
        candidates.append(int(math.ceil(math.log2(-lo))))
    if hi > 0:
        candidates.append(int(math.floor(math.log2(hi))) + 1)
    m = max(candidates) if candidates else 0
    return m + (1 if signed else 0)


def choose_format(lo: float, hi: float, width: int, signed: bool | None = None,
                  margin_bits: int = 0, what: str = "value") -> FixedType:
    """Smallest-integer-part format of `width` bits that holds the calibrated [lo, hi].

    margin_bits adds integer bits for values beyond the calibration set. Raises FormatError
    if the width cannot even hold the integer part.
    """
    width = check_bits(width, f"{what} width", minimum=1, maximum=MAX_WIDTH)
    signed = (lo < 0) if signed is None else bool(signed)
    integer = integer_bits_for_range(lo, hi, signed) + int(margin_bits)
    for _ in range(2):  # ceil(hi) may need one more bit once the step is known
        fmt = transient_format(width, integer, signed)
        if covers(fmt, lo, hi):
            break
        integer += 1
    if integer > width:
        raise FormatError(
            f"{what}: the calibrated range [{lo}, {hi}] needs {integer} integer bits "
            f"({'signed' if signed else 'unsigned'}) but the width is {width}; use a width of "
            f"at least {integer + 1} (a wider accumulator/result) or rescale the layer")
    fmt = transient_format(width, integer, signed)
    check_covers(fmt, lo, hi, what)
    return fmt


class fixed_point(BaseQuantizer):  # noqa: N801  (QKeras names quantizers in lower case)
    """Fake-quantizer of a transient format: round half to even, saturate, straight-through inside.

    Gradient: 1 inside [min, max], 0 where the value saturates.
    """

    def __init__(self, width: int = 16, integer: int = 6, signed: bool = True):
        super().__init__()
        self.format = transient_format(width, integer, signed)
        self.bits = self.format.width
        self.built = True

    def __call__(self, x):
        f = self.format
        x = tf.cast(x, tf.float32)
        clipped = tf.clip_by_value(x, f.min, f.max)
        q = tf.clip_by_value(tf.round(clipped / f.lsb) * f.lsb, f.min, f.max)
        return clipped + tf.stop_gradient(q - clipped)

    def max(self):
        return self.format.max

    def min(self):
        return self.format.min

    def __str__(self):
        return f"fixed_point({self.format.width},{self.format.integer},signed={int(self.format.signed)})"

    def get_config(self):
        return format_to_dict(self.format)

    @classmethod
    def from_config(cls, config):
        return cls(**config)


# -- calibration ----------------------------------------------------------------------------
def _has_kernel(layer) -> bool:
    return any(hasattr(layer, a) for a in ("kernel", "depthwise_kernel", "pointwise_kernel"))


def activation_suffix(layer) -> str:
    """hls4ml splits a fused activation into a layer '<name>_<suffix>' (suffix 'linear' if none)."""
    act = getattr(layer, "activation", None)
    if act is None:
        return "linear"
    return getattr(act, "__name__", None) or type(act).__name__


def calibrate_ranges(model, x, batch_size: int = 256) -> dict:
    """Observed [min, max] over the data x of every layer's output ("output") and, for layers
    with a kernel, of the sum before their fused activation ("accum"; the output of the layer
    as hls4ml sees it, since hls4ml splits the activation off as '<name>_<activation>')."""
    layers = [l for l in model.layers if not isinstance(l, tf.keras.layers.InputLayer)]
    probe = tf.keras.Model(model.inputs, [l.output for l in layers])
    ranges = {l.name: {"output": [math.inf, -math.inf]} for l in layers}
    kernel_layers = [l for l in layers if _has_kernel(l)]
    fused = [l for l in kernel_layers if activation_suffix(l) != "linear"]
    pre_probe = tf.keras.Model(model.inputs, [l.input for l in fused]) if fused else None

    def update(entry, value):
        value = np.asarray(value)
        entry[0], entry[1] = min(entry[0], float(value.min())), max(entry[1], float(value.max()))

    for start in range(0, len(x), batch_size):
        batch = x[start:start + batch_size]
        outs = probe(batch, training=False)
        outs = outs if isinstance(outs, (list, tuple)) else [outs]
        for layer, out in zip(layers, outs):
            update(ranges[layer.name]["output"], out)
        if pre_probe is not None:
            ins = pre_probe(batch, training=False)
            ins = ins if isinstance(ins, (list, tuple)) else [ins]
            for layer, inp in zip(fused, ins):
                act = layer.activation
                try:  # the same layer with a linear activation = its accumulator
                    layer.activation = tf.keras.activations.linear
                    pre = layer(inp, training=False)
                finally:
                    layer.activation = act
                update(ranges[layer.name].setdefault("accum", [math.inf, -math.inf]), pre)
    result = {}
    for layer in layers:
        entry = {k: tuple(v) for k, v in ranges[layer.name].items()}
        if _has_kernel(layer):
            entry.setdefault("accum", entry["output"])
            entry["activation"] = activation_suffix(layer)
        result[layer.name] = entry
    return result


def choose_formats(ranges: dict, accum_width: int = 32, result_width: int = 16,
                   margin_bits: int = 0) -> dict:
    """Formats keyed by hls4ml layer name, from calibrate_ranges output.

    A layer with a kernel gets {"accum", "result"} both from its pre-activation range (hls4ml's
    Dense/Conv result is the pre-activation value), and its split-off activation layer
    '<name>_<activation>' gets {"result"} from the post-activation range. Other layers get
    {"result"}. Results are unsigned when never negative.
    """
    formats = {}
    for name, entry in ranges.items():
        lo, hi = entry["output"]
        if "accum" not in entry:
            formats[name] = {"result": choose_format(lo, hi, result_width, signed=lo < 0,
                                                     margin_bits=margin_bits, what=f"{name} result")}
            continue
        alo, ahi = entry["accum"]
        formats[name] = {
            "accum": choose_format(alo, ahi, accum_width, signed=True, margin_bits=margin_bits,
                                   what=f"{name} accumulator"),
            "result": choose_format(alo, ahi, result_width, signed=alo < 0, margin_bits=margin_bits,
                                    what=f"{name} pre-activation result")}
        act_name = f"{name}_{entry.get('activation', 'linear')}"
        formats[act_name] = {"result": choose_format(lo, hi, result_width, signed=lo < 0,
                                                     margin_bits=margin_bits, what=f"{act_name} result")}
    return formats


def hls4ml_precisions(formats: dict) -> dict:
    """The 'LayerName' part of an hls4ml config that pins these formats (merge it into the
    config from hls4ml.utils.config_from_keras_model(..., granularity="name"))."""
    return {"LayerName": {name: {"Precision": {kind: fmt.to_hls() for kind, fmt in chosen.items()}}
                          for name, chosen in formats.items()}}


def check_formats(formats: dict, ranges: dict) -> None:
    """Raise FormatError if a given (e.g. hand-written) format cannot hold its calibrated range."""
    needed = {}  # hls4ml layer name -> kind -> calibrated (lo, hi)
    for name, entry in ranges.items():
        if "accum" in entry:
            needed[name] = {"accum": entry["accum"], "result": entry["accum"]}
            needed[f"{name}_{entry.get('activation', 'linear')}"] = {"result": entry["output"]}
        else:
            needed[name] = {"result": entry["output"]}
    for name, chosen in formats.items():
        if name not in needed:
            raise FormatError(f"format for unknown layer {name!r}; known: {sorted(needed)}")
        for kind, fmt in chosen.items():
            lo, hi = needed[name][kind]
            check_covers(fmt, lo, hi, f"{name} {kind}")


def formats_to_json(formats: dict) -> dict:
    return {name: {k: format_to_dict(f) for k, f in chosen.items()} for name, chosen in formats.items()}


def formats_from_json(data: dict) -> dict:
    return {name: {k: transient_format(**f) for k, f in chosen.items()} for name, chosen in data.items()}
