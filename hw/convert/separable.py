"""QSeparableConv1D / QSeparableConv2D: what makes hls4ml's split of one exact, and what QKeras does.

QKeras (qkeras/qconvolutional.py) quantizes the depthwise and pointwise kernels and the bias, then
calls ``tf.keras.backend.separable_conv2d`` (QSeparableConv1D: on the sequence expanded to a map one
row high, stride (s, s) over a height of 1): a float32 depthwise conv whose *unquantized* float32
output feeds a float32 1x1 conv, then a float32 bias add. hls4ml 1.3 splits the layer
(optimizer pass ``seperable_to_dw_conv``) into ``<name>_depthwise`` (DepthwiseConv1D/2D, no bias)
and ``<name>_pointwise`` (PointwiseConv1D/2D with the bias), the depthwise result stored in a
type of its own. The two agree bit for bit when

- that intermediate type is the exact depthwise sum (``depthwise_accum`` = ``depthwise_result``,
  set by hw.convert.hls_config; otherwise it would be whatever 'result' the layer's config
  carries, e.g. the following quantizer's type), and
- float32 computes every QKeras sum exactly: integer multiples of the finest LSB are exact in
  float32 while they are at most 2**24 of it; ``float32_bounds`` bounds every partial sum (the sum
  of the products' magnitudes, bias included) from the quantizer types. Where the bound exceeds
  2**24 the layer is refused (QKeras itself may round then).

hls4ml's C simulation (measured, tests/test_byo_separable.py): Latency in io_parallel and io_stream
is exact; Resource aborts in io_parallel (nnet_sepconv1d.h asserts it for DepthwiseConv1D) and is
exact in io_stream as long as the pointwise half's reuse factor passes nnet_dense_resource.h's
assert (RF 2 for 3 -> 5 channels aborts, RF 1 and 3 are exact); depth_multiplier > 1 is asserted
against by the depthwise kernels. These are refused with that advice.
"""

from __future__ import annotations

import math

from qat.fixed import FixedType

from .keras_graph import producer
from .quantizer_types import QuantizerProblem, activation_type, weight_type

SEPARABLE_LAYERS = ("QSeparableConv1D", "QSeparableConv2D")
FLOAT32_EXACT = 2**24  # every integer up to 2**24 is exact in float32 (24-bit significand)


def exact_sum_type(x_t: FixedType, w_t: FixedType, n_terms: int, bias_t: FixedType | None = None) -> FixedType:
    """Type holding any sum of ``n_terms`` products x*w (+ one bias) exactly, by hls4ml's own rule
    (infer_precision's _infer_common_precision), so it is also what its 'auto' would give."""
    grow = math.ceil(math.log2(n_terms)) if n_terms > 1 else 0
    width, integer = x_t.width + w_t.width + grow, x_t.integer + w_t.integer + grow
    signed = x_t.signed or w_t.signed
    if bias_t is not None:
        frac = width - integer
        integer = max(integer + (bias_t.signed and not signed), bias_t.integer + (signed and not bias_t.signed)) + 1
        width = integer + max(frac, bias_t.frac)
        signed = signed or bias_t.signed
    return FixedType(width, integer, signed)


def input_type(layer, passthrough) -> FixedType | None:
    """The fixed type of the layer's input: the QActivation before it (through reshapes), else None."""
    before = producer(layer)
    while before is not None and type(before).__name__ in passthrough:
        before = producer(before)
    if before is None or type(before).__name__ != "QActivation":
        return None
    try:
        return activation_type(before.get_config()["activation"])
    except QuantizerProblem:
        return None  # refused at that QActivation


def separable_types(layer, in_t: FixedType) -> tuple[FixedType, FixedType]:
    """(exact depthwise sum = the intermediate type, exact pointwise sum incl. bias)."""
    cfg = layer.get_config()
    taps = math.prod(cfg["kernel_size"])
    dw_t = exact_sum_type(in_t, weight_type(cfg["depthwise_quantizer"]), taps)
    bias_t = weight_type(cfg["bias_quantizer"]) if cfg.get("use_bias", True) else None
    n_chan = int(layer.input_shape[-1]) * int(cfg.get("depth_multiplier", 1))
    pw_t = exact_sum_type(dw_t, weight_type(cfg["pointwise_quantizer"]), n_chan, bias_t)
    return dw_t, pw_t


def separable_problems(layer, strategy: str, passthrough, io_type: str = "io_parallel", reuse_factor: int = 1,
                       resource_rf_valid=None) -> list[str]:
    """What the exact flow cannot do with this QSeparableConv1D/2D (beyond the checks every weight
    layer gets: depthwise/bias quantizers, fused activation, dilation)."""
    cfg, cls = layer.get_config(), type(layer).__name__
    problems = []
    pq = cfg.get("pointwise_quantizer")
    if pq is None:
        problems.append(f"{cls} without pointwise_quantizer; use quantized_bits(bits, integer, alpha=1)")
    else:
        try:
            weight_type(pq)
        except QuantizerProblem as err:
            problems.append(f"pointwise_quantizer: {err}")
    if int(cfg.get("depth_multiplier", 1)) != 1:
        problems.append("depth_multiplier != 1 aborts hls4ml's C simulation; use depth_multiplier=1 "
                        "(and more pointwise filters)")
    if cfg.get("padding") not in ("valid", "same"):
        problems.append(f"padding {cfg.get('padding')!r} is not supported; use 'valid' or 'same'")
    if cfg.get("data_format", "channels_last") != "channels_last":
        problems.append("data_format='channels_first' is not supported; use channels_last")
    if strategy.lower() == "resource" and io_type != "io_stream":
        # nnet_sepconv1d.h asserts "Resource strategy for DepthwiseConv1D is not supported"; the 2-D
        # depthwise is refused for Resource as QDepthwiseConv2D is (checks.py)
        problems.append("Strategy 'Resource' with a separable conv in io_parallel aborts hls4ml's C simulation (its "
                        "depthwise half has no Resource implementation); use Strategy 'Latency' or io_type io_stream")
    elif strategy.lower() == "resource" and resource_rf_valid is not None:
        # io_stream runs it (measured exact); its pointwise half is a Resource 1x1 conv whose reuse
        # factor hls4ml does not correct, so an invalid one reaches nnet_dense_resource.h's assert
        n_in, n_out = int(layer.input_shape[-1]) * int(cfg.get("depth_multiplier", 1)), int(cfg["filters"])
        if not resource_rf_valid(n_in, n_out, reuse_factor):
            valid = [r for r in range(1, n_in * n_out + 1) if resource_rf_valid(n_in, n_out, r)]
            problems.append(f"Strategy 'Resource': the pointwise half ({n_in} -> {n_out} channels) with reuse_factor "
                            f"{reuse_factor} aborts hls4ml's C simulation; use reuse_factor in {valid}")
    in_t = input_type(layer, passthrough)
    if in_t is None:
        problems.append("a separable conv needs a QActivation before it (the exact intermediate type is sized "
                        "from its input type)")
    elif not problems and cfg.get("depthwise_quantizer") is not None and (
            not cfg.get("use_bias", True) or cfg.get("bias_quantizer") is not None):
        try:
            bounds = float32_bounds(layer, in_t)
        except QuantizerProblem:
            return problems  # reported by the depthwise/bias quantizer checks
        wide = [f"{what} reaches {b} LSBs" for what, b in zip(("depthwise sum", "pointwise sum + bias"), bounds)
                if b > FLOAT32_EXACT]
        if wide:
            problems.append(f"QKeras computes a separable conv in float32, exact only up to 2**24 LSBs; here the "
                            f"{' and the '.join(wide)}, so QKeras may round: use fewer input/weight bits, a smaller "
                            "kernel or fewer channels")
    return problems


def float32_bounds(layer, in_t: FixedType) -> tuple[int, int]:
    """Largest magnitudes, in LSBs of their finest grid, of QKeras's float32 depthwise sums and of its
    pointwise sums with the bias, from the type ranges (so any trained weights obey them)."""
    cfg = layer.get_config()
    dq, pq = weight_type(cfg["depthwise_quantizer"]), weight_type(cfg["pointwise_quantizer"])
    x_max = max(-in_t.min_raw, in_t.max_raw)
    dw = math.prod(cfg["kernel_size"]) * x_max * max(-dq.min_raw, dq.max_raw)
    pw = int(layer.input_shape[-1]) * int(cfg.get("depth_multiplier", 1)) * dw * max(-pq.min_raw, pq.max_raw)
    frac = in_t.frac + dq.frac + pq.frac
    if cfg.get("use_bias", True):
        bq = weight_type(cfg["bias_quantizer"])
        grid = max(frac, bq.frac)
        pw = pw * 2 ** (grid - frac) + max(-bq.min_raw, bq.max_raw) * 2 ** (grid - bq.frac)
    return dw, pw
