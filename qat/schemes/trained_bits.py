"""Paper C: trained bit-widths. Every kernel and every ReLU output gets a `trained_bits`
quantizer (learned power-of-two step and range; bits follow), a bit penalty (mean soft bits
per weight / per activation value, lambdas ramped from 0 after `warmup_epochs`) pushes the
widths down, and the run reports each quantizer's bits and the averages.
Start widths are the `quant` section's (weight_bits, act_bits); biases, input and logits use
its fixed linear quantizers. Compare with `linear` (fixed bit-widths) at the same start.

scheme_args: weight_lambda, act_lambda (>= 0; default 0.05, 0.02), warmup_epochs (1), ramp_epochs (2).
"""

from __future__ import annotations

from qat.lambda_ramp import LambdaRamp
from qat.quantizers import BitPenalty, bits_report
from qat.quantizers import trained_bits as TB
from qat.schemes.base import QatContext, QatResult
from qat.schemes import common as C

NAME = "trained_bits"
DEFAULTS = {"weight_lambda": 0.05, "act_lambda": 0.02, "warmup_epochs": 1, "ramp_epochs": 2}


def validate(args: dict, quant) -> None:
    a = C.check_args(NAME, args, DEFAULTS)
    C.need_quant(NAME, quant)
    C.check_number(NAME, "weight_lambda", a["weight_lambda"])
    C.check_number(NAME, "act_lambda", a["act_lambda"])
    C.check_int(NAME, "warmup_epochs", a["warmup_epochs"], 0)
    C.check_int(NAME, "ramp_epochs", a["ramp_epochs"], 1)


def build_model(ctx: QatContext, quant, weights: dict):
    """Kernels: signed range 1 (po2-rescaled weights peak in (0.5, 1]); activations: unsigned,
    the calibrated range; start steps give the configured bit-widths."""
    def kernel(name):
        return TB(init_step=2.0 ** -(quant.weight_bits - 1), init_range=1.0, signed=True, name=f"{name}_wq")

    def act(name):
        top = quant.layer_act_int.get(name, quant.act_int)
        return TB(init_step=2.0 ** (top - quant.act_bits), init_range=2.0 ** top, signed=False, name=f"{name}_aq")

    model = ctx.build(C.SchemeQuant(quant, kernel=kernel, activation=act))
    C.assign_weights(model, weights)
    return model


def quantize(ctx: QatContext) -> QatResult:
    a = {**DEFAULTS, **ctx.args}
    weights, quant = C.folded_start(ctx)
    model = build_model(ctx, quant, weights)
    results = {"ptq": ctx.evaluate(model)}
    start = bits_report(model)
    penalty = BitPenalty(model, 0.0, 0.0)
    model.add_loss(penalty)
    callbacks = [LambdaRamp([penalty.weight_lambda], a["weight_lambda"], a["warmup_epochs"], a["ramp_epochs"], "weight_lambda"),
                 LambdaRamp([penalty.act_lambda], a["act_lambda"], a["warmup_epochs"], a["ramp_epochs"], "act_lambda")]
    state = ctx.run_phase("qat", model, ctx.cfg.train.qat_epochs, ctx.cfg.train.qat_lr, callbacks)
    report = bits_report(model)
    kernel_bits = {row["layer"]: row["bits"] for row in report["quantizers"] if row["kind"] == "weight"}
    extra = {"trained_bits": {"start": {k: start[k] for k in ("avg_weight_bits", "avg_activation_bits")},
                              **report, "lambdas": {"weight": a["weight_lambda"], "act": a["act_lambda"]}},
             "avg_weight_bits": report["avg_weight_bits"], "avg_activation_bits": report["avg_activation_bits"]}
    return C.finish(ctx, model, quant, results, {"qat": state["history"]}, extra, kernel_bits=kernel_bits)
