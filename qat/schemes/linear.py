"""Linear fixed-point QAT (the baseline): fold BatchNorm, power-of-two rescale, calibrate the
activation formats, then fine-tune with quantized_bits/quantized_relu (alpha=1) everywhere.

scheme_args:
  per_channel (bool, default false): every output channel of every Conv/Depthwise/Dense kernel
    gets its own power-of-two scale (`qat.quantizers.channel_po2_bits`, shifts chosen once from
    the folded float weights, MSE-best per channel); exported as plain fixed-point QKeras whose
    kernels lie on the layer's finest channel grid (see that module for why). Biases,
    activations and the per-layer balancing stay as without it.
"""

from __future__ import annotations

from qat.models.fold import calibrate, folded_weights, po2_rescale, set_weights
from qat.schemes.base import QatContext, QatResult, SchemeError

DEFAULTS = {"per_channel": False}


def validate(args: dict, quant) -> None:
    unknown = sorted(set(args) - set(DEFAULTS))
    if unknown:
        raise SchemeError(f"scheme 'linear' takes no scheme_args but {sorted(DEFAULTS)} (got {unknown})")
    if not isinstance(args.get("per_channel", False), bool):
        raise SchemeError(f"scheme 'linear': scheme_args.per_channel={args['per_channel']!r} must be true or false")
    if quant is None:
        raise SchemeError("scheme 'linear' needs a `quant:` section (bits per tensor class)")


def quantize(ctx: QatContext) -> QatResult:
    weights = po2_rescale(folded_weights(ctx.float_model))
    quant = calibrate(ctx.build, ctx.cfg.quant, weights, ctx.calibration_features())
    if ctx.args.get("per_channel", False):
        return _quantize_per_channel(ctx, weights, quant)
    model = ctx.build(quant)
    set_weights(model, weights)
    results = {"ptq": ctx.evaluate(model)}  # rounding alone, before any QAT epoch
    state = ctx.run_phase("qat", model, ctx.cfg.train.qat_epochs, ctx.cfg.train.qat_lr)
    results["quantized"] = ctx.evaluate(model)
    return QatResult(model, quant, results, {"qat": state["history"]})


def channel_quantizers(float_model, weights: dict, bits: int) -> dict:
    """{layer: channel_po2_bits} with each channel's shift chosen from the folded float kernel."""
    from qat.quantizers import channel_po2_bits, channel_shifts
    from qat.schemes.common import per_channel_quantizers

    return per_channel_quantizers(float_model, weights,
                                  lambda kernel, axis: channel_po2_bits(bits, channel_shifts(kernel, bits, axis), axis))


def _quantize_per_channel(ctx: QatContext, weights: dict, quant) -> QatResult:
    from qat.schemes.common import SchemeQuant, finish

    bits = quant.weight_bits
    kq = channel_quantizers(ctx.float_model, weights, bits)
    model = ctx.build(SchemeQuant(quant, kernel=lambda name: kq[name]))
    set_weights(model, weights)
    results = {"ptq": ctx.evaluate(model)}
    state = ctx.run_phase("qat", model, ctx.cfg.train.qat_epochs, ctx.cfg.train.qat_lr)
    shifts = {name: q.shifts for name, q in kq.items()}
    extra = {"per_channel": {"weight_bits": bits, "shifts": shifts,
                             "shift_span": {n: max(s) - min(s) for n, s in shifts.items()}}}
    # Memory at `bits` per weight: the exported kernels are wider only by the shifts, which the
    # hardware keeps per channel instead (hw/rtl/channel_shift.py).
    return finish(ctx, model, quant, results, {"qat": state["history"]}, extra,
                  kernel_bits={name: bits for name in kq})
