"""Paper B: two-stage sub-8-bit QAT (Zeng et al. 2022), for the streaming FFN (works on any model).

Stage 1: only the kernels are quantized, by the tanh-based squashed quantizer at `weight_bits`
(1, 4, 5, 8, ...); biases, inputs and activations stay float. BatchNorm is folded (and the
layers power-of-two rescaled) before stage 1, so the network has no BN to fold later.
Stage 2: the rest gets linear quantizers from the `quant` section (bias, input, activations,
logits; activations recalibrated on the stage-1 network), then everything is fine-tuned.

Layers are power-of-two rescaled so each squashed grid sits where its rounding error is least
(common.squash_rescale); a 1-bit sign kernel instead gets a per-layer gain near mean|w|.

scheme_args: weight_bits (1..8, default 4), stage1_epochs, stage2_epochs (default
train.qat_epochs each).
"""

from __future__ import annotations

import numpy as np

from qat.schemes.base import QatContext, QatResult
from qat.schemes import common as C

NAME = "two_stage"
DEFAULTS = {"weight_bits": 4, "stage1_epochs": None, "stage2_epochs": None}


def validate(args: dict, quant) -> None:
    a = C.check_args(NAME, args, DEFAULTS)
    C.need_quant(NAME, quant)
    C.check_int(NAME, "weight_bits", a["weight_bits"], 1, 8)
    for key in ("stage1_epochs", "stage2_epochs"):
        if a[key] is not None:
            C.check_int(NAME, key, a[key], 0)


def build_stage1(ctx: QatContext, quant, weights: dict, kq: dict):
    """Kernels squashed-quantized, everything else float (no QActivation at all)."""
    model = ctx.build(C.SchemeQuant(quant, kernel=lambda n: kq[n], bias=None, activation=None,
                                    input=None, output=None, pool=None))
    C.assign_weights(model, weights, C.to_theta(kq))
    return model


def effective_weights(model, names) -> dict:
    """(quantized kernel, bias) as stage 1 uses them, for recalibrating the activations."""
    return {n: (C.quantized_kernel(model.get_layer(n)).astype(np.float32),
                np.asarray(model.get_layer(n).bias)) for n in names}


def quantize(ctx: QatContext) -> QatResult:
    from qat.models.fold import calibrate, folded_weights, po2_rescale

    a = {**DEFAULTS, **ctx.args}
    bits, epochs = a["weight_bits"], ctx.cfg.train.qat_epochs
    e1 = epochs if a["stage1_epochs"] is None else a["stage1_epochs"]
    e2 = epochs if a["stage2_epochs"] is None else a["stage2_epochs"]
    # 1 bit: per-layer gains, no rescaling (see squash_rescale: activations would leave 8 bits)
    weights, gains = C.squash_rescale(po2_rescale(folded_weights(ctx.float_model)), bits, move_scale=bits > 1)
    names = list(weights)
    kq = C.squashed_kernels(gains, bits)

    stage1 = build_stage1(ctx, ctx.cfg.quant, weights, kq)
    results, history = {"stage1_start": ctx.evaluate(stage1)}, {}
    state = ctx.run_phase("stage1", stage1, e1, ctx.cfg.train.qat_lr)
    history["stage1"] = state["history"]
    results["stage1"] = ctx.evaluate(stage1)

    # Stage 2: recalibrate activation/logit formats on the stage-1 network, quantize the rest.
    quant = calibrate(ctx.build, ctx.cfg.quant, effective_weights(stage1, names), ctx.calibration_features())
    model = ctx.build(C.SchemeQuant(quant, kernel=lambda n: kq[n]))
    C.copy_linear_weights(stage1, model, names)
    results["stage2_start"] = ctx.evaluate(model)
    state = ctx.run_phase("stage2", model, e2, ctx.cfg.train.qat_lr)
    history["stage2"] = state["history"]

    entropy = {n: C.value_entropy(C.quantized_kernel(model.get_layer(n)), bits) for n in names}
    extra = {"two_stage": {"weight_bits": bits, "gain_log2": {n: q.gain_log2 for n, q in kq.items()},
                           "stage_epochs": [len(history["stage1"].get("loss", [])), len(history["stage2"].get("loss", []))],
                           "bin_entropy": entropy}}
    return C.finish(ctx, model, quant, results, history, extra, kernel_bits={n: bits for n in names})
