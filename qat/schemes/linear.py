"""Linear fixed-point QAT (the baseline): fold BatchNorm, power-of-two rescale, calibrate the
activation formats, then fine-tune with quantized_bits/quantized_relu (alpha=1) everywhere."""

from __future__ import annotations

from qat.models.fold import calibrate, folded_weights, po2_rescale, set_weights
from qat.schemes import QatContext, QatResult, SchemeError


def validate(args: dict, quant) -> None:
    if args:
        raise SchemeError(f"scheme 'linear' takes no scheme_args (got {sorted(args)})")
    if quant is None:
        raise SchemeError("scheme 'linear' needs a `quant:` section (bits per tensor class)")


def quantize(ctx: QatContext) -> QatResult:
    weights = po2_rescale(folded_weights(ctx.float_model))
    quant = calibrate(ctx.build, ctx.cfg.quant, weights, ctx.calibration_features())
    model = ctx.build(quant)
    set_weights(model, weights)
    results = {"ptq": ctx.evaluate(model)}  # rounding alone, before any QAT epoch
    state = ctx.run_phase("qat", model, ctx.cfg.train.qat_epochs, ctx.cfg.train.qat_lr)
    results["quantized"] = ctx.evaluate(model)
    return QatResult(model, quant, results, {"qat": state["history"]})
