"""Paper A, transient variables: FXP-QAT with fixed power-of-two Qm.n formats everywhere.

Weights: squashed (tanh) kernels on a `weight_bits` grid (squash=true, default) or linear ones,
optionally with ACosR (acos_lambda > 0, ramped after `warmup_epochs`). Transient values get
fixed formats chosen once from calibration and fake-quantized (round half to even, saturate):
- inputs: the input quantizer (`quant.input_bits`, `input_int`),
- accumulators: a QActivation(fixed_point) `<layer>_accum` after every conv/dense, of
  `accum_width` bits (e.g. 16 vs 32) and the fewest integer bits that hold the calibrated
  range (+ `margin_bits`); the logits layer's accumulator is pinned in hls4ml only (its result
  already goes through the logits quantizer),
- biases: the accumulator format of their layer (they are added inside it),
- post-activation outputs: the calibrated quantized_relu formats (`quant.act_bits`),
- pooled features: at most as many fraction bits as keep the logits layer's products exact in
  its accumulator (`pool_for_logits`; matters for narrow accumulators).
The formats go to QatResult.hls_precisions (hls4ml 'LayerName' config; train.py writes
build/<run>/hls_precisions.json) so the hardware uses exactly what was trained.

scheme_args: accum_width (2..64, default 32), margin_bits (>= 0, default 1), squash (bool),
acos_lambda (>= 0), warmup_epochs, ramp_epochs, formats ({layer: {accum: "fixed<W,I>"}}: pinned
by hand; a format too narrow for the calibrated range is an error before QAT starts).
"""

from __future__ import annotations

import re

from qat.acos_regularizer import AbsCosineRegularizer
from qat.lambda_ramp import LambdaRamp
from qat.fixed import FixedType
from qat.quantizers import (FormatError, calibrate_ranges, check_covers, choose_format, fixed_point, hls4ml_precisions,
                            qkeras_quantizer, transient_format)
from qat.quantizers.transient_formats import formats_to_json
from qat.schemes.base import QatContext, QatResult
from qat.schemes import common as C

NAME = "fxp_qat"
DEFAULTS = {"accum_width": 32, "margin_bits": 1, "squash": True, "acos_lambda": 0.0, "warmup_epochs": 1,
            "ramp_epochs": 2, "formats": {}}
_FORMAT = re.compile(r"^\s*(u?fixed)\s*<\s*(\d+)\s*,\s*(-?\d+)\s*(?:,[^>]*)?>\s*$")


def parse_format(text, what: str) -> FixedType:
    """'fixed<16,6>' / 'ufixed<8,3>' (rounding/overflow fields are ignored: always RND_CONV, SAT)."""
    m = _FORMAT.match(str(text))
    if not m:
        raise C.SchemeError(f"scheme {NAME!r}: {what}={text!r} is not a format like 'fixed<16,6>'")
    return transient_format(int(m.group(2)), int(m.group(3)), m.group(1) == "fixed")


def validate(args: dict, quant) -> None:
    a = C.check_args(NAME, args, DEFAULTS)
    C.need_quant(NAME, quant)
    width = C.check_int(NAME, "accum_width", a["accum_width"], 2, 64)
    C.check_int(NAME, "margin_bits", a["margin_bits"], 0, 16)
    C.check_number(NAME, "acos_lambda", a["acos_lambda"])
    C.check_int(NAME, "warmup_epochs", a["warmup_epochs"], 0)
    C.check_int(NAME, "ramp_epochs", a["ramp_epochs"], 1)
    if not isinstance(a["squash"], bool):
        raise C.SchemeError(f"scheme {NAME!r}: scheme_args.squash must be true or false")
    # An accumulator narrower than one product of input x weight drops bits of every product.
    if width < quant.weight_bits + quant.input_bits - 1:
        raise C.SchemeError(f"scheme {NAME!r}: accum_width={width} is narrower than one product of "
                            f"{quant.input_bits}-bit inputs and {quant.weight_bits}-bit weights "
                            f"({quant.weight_bits + quant.input_bits - 1} bits)")
    if not isinstance(a["formats"], dict):
        raise C.SchemeError(f"scheme {NAME!r}: scheme_args.formats must map layer -> {{accum: 'fixed<W,I>'}}")
    for layer, kinds in a["formats"].items():
        if not isinstance(kinds, dict) or set(kinds) - {"accum"}:
            raise C.SchemeError(f"scheme {NAME!r}: formats.{layer} may only set 'accum'")
        parse_format(kinds["accum"], f"formats.{layer}.accum")


def kernel_frac(q) -> int:
    """Fraction bits of a kernel quantizer's grid: squashed_bits steps by gain / 2**(bits-1),
    quantized_bits(bits, integer, alpha=1) by 2**-(bits-1-integer)."""
    if hasattr(q, "gain_log2"):
        return int(q.bits) - 1 - int(q.gain_log2)
    return int(q.bits) - 1 - int(q.integer)


def quantizer_frac(q) -> int:
    """Fraction bits of an activation quantizer's grid (fixed_point, quantized_bits, quantized_relu)."""
    if hasattr(q, "format"):
        return q.format.frac
    if type(q).__name__ == "quantized_relu":
        return int(q.bits) - int(q.integer)
    return int(q.bits) - 1 - int(q.integer) if getattr(q, "keep_negative", True) else int(q.bits) - int(q.integer)


def input_frac(layer) -> int:
    """Fraction bits of what a layer multiplies: walk back to the quantizer that produced it."""
    prev = layer
    while True:
        inbound = prev.inbound_nodes[0].inbound_layers
        prev = inbound[0] if isinstance(inbound, list) else inbound
        if getattr(prev, "quantizer", None) is not None:
            return quantizer_frac(prev.quantizer)
        if not prev.inbound_nodes or not prev.inbound_nodes[0].inbound_layers:
            raise FormatError(f"{layer.name}: no quantizer in front of it; the input format is unknown")


def check_products_exact(model, acc: dict, kq: dict) -> None:
    """hls4ml converts every product to accum_t before summing; with fewer fraction bits than the
    product that is one rounding per product, which QKeras's fake-quantized sum does not model.
    Refuse such formats before training rather than train a model the hardware cannot match."""
    for n, fmt in acc.items():
        need = input_frac(model.get_layer(n)) + kernel_frac(kq[n])
        if fmt.frac < need:
            raise FormatError(f"{n} accumulator: {fmt.to_hls()} keeps {fmt.frac} fraction bits but the products of "
                              f"its inputs and weights have {need}; every product would be rounded on its own, which "
                              f"training does not model. Widen accum_width by {need - fmt.frac} bit(s) or use fewer "
                              "activation/weight fraction bits")


def pool_for_logits(quant, acc: dict, kq: dict):
    """Paper A keeps every product exact in its accumulator (hls4ml rounds each product into
    accum_t otherwise, which QKeras does not model). The logits layer multiplies the pooled
    features, a transient variable too, so their format gets at most acc.frac - kernel_frac
    fraction bits; a wide accumulator leaves the configured pool format alone."""
    if "logits" not in acc or "logits" not in kq:
        return quant
    room = acc["logits"].frac - kernel_frac(kq["logits"])
    if quant.pool_bits - 1 - quant.pool_int <= room:
        return quant
    bits = quant.pool_int + 1 + room
    if room < 0 or bits < 2:
        raise FormatError(f"logits accumulator {acc['logits'].to_hls()} cannot hold the products of its "
                          f"{kernel_frac(kq['logits'])}-fraction-bit weights exactly; widen accum_width")
    return type(quant)(**{**quant.to_dict(), "pool_bits": bits})


def kernel_quantizers(quant, weights: dict, gains: dict | None) -> dict:
    if gains is not None:
        return C.squashed_kernels(gains, quant.weight_bits)
    return {n: quant.kernel_quantizer(n) for n in weights}


def accumulator_formats(ranges: dict, names, width: int, margin_bits: int, pinned: dict,
                        min_integer: dict | None = None) -> dict:
    """{layer: FixedType} for every conv/dense accumulator; pinned ones checked against calibration.

    min_integer: a floor on a layer's integer bits (the logits accumulator, not fake-quantized in
    training, must hold whatever the logits quantizer after it can hold, or hardware saturates
    where training did not)."""
    out = {}
    for n in names:
        lo, hi = ranges[n]["accum"]
        if n in pinned:
            fmt = parse_format(pinned[n]["accum"], f"formats.{n}.accum")
            check_covers(fmt, lo, hi, f"{n} accumulator (scheme_args.formats)")
            out[n] = fmt
        else:
            out[n] = choose_format(lo, hi, width, signed=True, margin_bits=margin_bits, what=f"{n} accumulator")
            floor = (min_integer or {}).get(n)
            if floor is not None and out[n].integer < floor:
                if floor > width:
                    raise FormatError(f"{n} accumulator: {width} bits cannot hold the {floor} integer bits "
                                      "of the quantizer after it; widen accum_width")
                out[n] = transient_format(width, floor, True)
    return out


def transient_formats(quant, acc: dict, model) -> dict:
    """Every fixed format of the network, keyed by hls4ml layer name and precision kind."""
    formats = {}
    for n, fmt in acc.items():
        formats[n] = {"accum": fmt} if n == "logits" else {"accum": fmt, "result": fmt}
        if n != "logits":
            formats[f"{n}_accum"] = {"result": fmt}
    layer_names = {l.name for l in model.layers}
    if "input_quant" in layer_names:
        formats["input_quant"] = {"result": transient_format(quant.input_bits, quant.input_int + 1, True)}
    for n in acc:
        if f"{n}_relu" in layer_names:
            formats[f"{n}_relu"] = {"result": transient_format(quant.act_bits, quant.layer_act_int.get(n, quant.act_int), False)}
    return formats


def calibrated_formats(ctx: QatContext, quant, weights, kq: dict, args: dict, x_calib):
    """Calibrate accumulator ranges on the quantized-kernel network (no accumulator quantizers yet)."""
    names = list(weights)
    to_latent = C.to_theta(kq) if args["squash"] else None
    probe = ctx.build(C.SchemeQuant(quant, kernel=lambda n: kq[n]))
    C.assign_weights(probe, weights, to_latent)
    ranges = calibrate_ranges(probe, x_calib)
    return ranges, accumulator_formats(ranges, names, args["accum_width"], args["margin_bits"], args["formats"],
                                       {"logits": quant.output_int + 1})


def quantize(ctx: QatContext) -> QatResult:
    a = {**DEFAULTS, **ctx.args}
    x_calib = ctx.calibration_features()
    if a["squash"]:
        weights, quant, gains = C.folded_start(ctx, x_calib, squash_bits=ctx.cfg.quant.weight_bits)
    else:
        (weights, quant), gains = C.folded_start(ctx, x_calib), None
    names = list(weights)
    unknown = sorted(set(a["formats"]) - set(names))
    if unknown:
        raise FormatError(f"scheme_args.formats: unknown layer(s) {unknown}; conv/dense layers: {names}")
    kq = kernel_quantizers(quant, weights, gains)
    ranges, acc = calibrated_formats(ctx, quant, weights, kq, a, x_calib)  # raises before any QAT epoch
    quant = pool_for_logits(quant, acc, kq)

    regs = {}
    if a["acos_lambda"] > 0:
        regs = {n: AbsCosineRegularizer.for_quantizer(kq[n], 0.0) for n in names}
    model = ctx.build(C.SchemeQuant(
        quant, kernel=lambda n: kq[n], kernel_regularizer=lambda n: regs.get(n),
        accum=lambda n: fixed_point(acc[n].width, acc[n].integer, acc[n].signed) if n != "logits" else None,
        # The bias is added inside the accumulator, so it lives on the accumulator's grid: then
        # QKeras (sum + bias, then the accumulator format) and hardware (bias cast to accum_t,
        # then the products) do the same arithmetic, ties included.
        bias=lambda n: qkeras_quantizer(acc[n]) if n in acc else quant.bias_quantizer(n)))
    check_products_exact(model, acc, kq)
    C.assign_weights(model, weights, C.to_theta(kq) if a["squash"] else None)
    results = {"ptq": ctx.evaluate(model)}
    callbacks = [LambdaRamp([r.lam for r in regs.values()], a["acos_lambda"], a["warmup_epochs"],
                            a["ramp_epochs"], "acos_lambda")] if regs else None
    state = ctx.run_phase("qat", model, ctx.cfg.train.qat_epochs, ctx.cfg.train.qat_lr, callbacks)

    formats = transient_formats(quant, acc, model)
    entropy = {n: C.value_entropy(C.quantized_kernel(model.get_layer(n)), quant.weight_bits) for n in names}
    extra = {"fxp_qat": {"accum_width": a["accum_width"], "squash": a["squash"], "acos_lambda": a["acos_lambda"],
                         "formats": formats_to_json(formats),
                         "calibrated_accum_ranges": {n: list(ranges[n]["accum"]) for n in names},
                         "bin_entropy": entropy}}
    return C.finish(ctx, model, quant, results, {"qat": state["history"]}, extra,
                    kernel_bits={n: quant.weight_bits for n in names}, hls_precisions=hls4ml_precisions(formats))
