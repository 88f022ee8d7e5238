"""Paper B: two-stage sub-8-bit QAT (Zeng et al. 2022), for the streaming FFN (works on any model).

Stage 1: only the kernels are quantized, by the tanh-based squashed quantizer at `weight_bits`
(1, 4, 5, 8, ...); biases, inputs and activations stay float. BatchNorm is folded (and the
layers power-of-two rescaled) before stage 1, so the network has no BN to fold later.
Stage 2: the rest gets linear quantizers from the `quant` section (bias, input, activations,
logits; activations recalibrated on the stage-1 network), then everything is fine-tuned.

Layers are power-of-two rescaled so each squashed grid sits where its rounding error is least
(common.squash_rescale). A 1-bit kernel is not rescaled: it is sign(tanh(theta)) times a
power-of-two gain per output channel (the paper's gain; `sign_po2_bits`, common.sign_kernels), the
power of two nearest the float channel's mean |w| in squared error, chosen once from the folded
float weights. The gains stay fixed while theta trains: they are the scale the next layer and the
biases were trained for, the exported grid (and the hardware's shifts) is known from the start,
and theta (atanh of w / gain) does not carry a weight magnitude to re-estimate them from.

scheme_args: weight_bits (1..8, default 4), stage1_epochs, stage2_epochs (default
train.qat_epochs each), stage1_lr, stage2_lr (default train.qat_lr each: Adam moves theta by
about lr per step, and a sign flips only when theta crosses 0, so a 1-bit stage 1 on a small
data set needs a larger rate than fine-tuning does).
"""

from __future__ import annotations

import numpy as np

from qat.schemes.base import QatContext, QatResult
from qat.schemes import common as C

NAME = "two_stage"
DEFAULTS = {"weight_bits": 4, "stage1_epochs": None, "stage2_epochs": None, "stage1_lr": None, "stage2_lr": None}


def validate(args: dict, quant) -> None:
    a = C.check_args(NAME, args, DEFAULTS)
    C.need_quant(NAME, quant)
    C.check_int(NAME, "weight_bits", a["weight_bits"], 1, 8)
    for key in ("stage1_epochs", "stage2_epochs"):
        if a[key] is not None:
            C.check_int(NAME, key, a[key], 0)
    for key in ("stage1_lr", "stage2_lr"):
        if a[key] is not None:
            C.check_number(NAME, key, a[key], 1e-7, 1.0)


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


def train_accuracy(ctx: QatContext, model) -> float:
    """Accuracy on the (un-augmented) training features: has a stage converged?"""
    x, y = ctx.prep.features["train"]
    return float(np.mean(np.argmax(model.predict(x, batch_size=512, verbose=0), axis=-1) == y))


def quantize(ctx: QatContext) -> QatResult:
    from qat.models.fold import calibrate, folded_weights, po2_rescale

    a = {**DEFAULTS, **ctx.args}
    bits, epochs, lr = a["weight_bits"], ctx.cfg.train.qat_epochs, ctx.cfg.train.qat_lr
    e1 = epochs if a["stage1_epochs"] is None else a["stage1_epochs"]
    e2 = epochs if a["stage2_epochs"] is None else a["stage2_epochs"]
    lr1 = lr if a["stage1_lr"] is None else a["stage1_lr"]
    lr2 = lr if a["stage2_lr"] is None else a["stage2_lr"]
    weights = po2_rescale(folded_weights(ctx.float_model))
    if bits == 1:  # sign x a power-of-two gain per output channel, weights not rescaled
        kq = C.sign_kernels(ctx.float_model, weights)
    else:
        weights, gains = C.squash_rescale(weights, bits)
        kq = C.squashed_kernels(gains, bits)
    names = list(weights)

    stage1 = build_stage1(ctx, ctx.cfg.quant, weights, kq)
    results, history = {"stage1_start": ctx.evaluate(stage1)}, {}
    state = ctx.run_phase("stage1", stage1, e1, lr1)
    history["stage1"] = state["history"]
    results["stage1"] = ctx.evaluate(stage1)
    train_acc = {"float": train_accuracy(ctx, ctx.float_model), "stage1": train_accuracy(ctx, stage1)}

    # Stage 2: recalibrate activation/logit formats on the stage-1 network, quantize the rest.
    quant = calibrate(ctx.build, ctx.cfg.quant, effective_weights(stage1, names), ctx.calibration_features())
    model = ctx.build(C.SchemeQuant(quant, kernel=lambda n: kq[n]))
    C.copy_linear_weights(stage1, model, names)
    results["stage2_start"] = ctx.evaluate(model)
    state = ctx.run_phase("stage2", model, e2, lr2)
    history["stage2"] = state["history"]
    train_acc["stage2"] = train_accuracy(ctx, model)

    kernels = {n: C.quantized_kernel(model.get_layer(n)) for n in names}  # 1 bit: the signs (gains per channel)
    entropy = {n: C.value_entropy(np.sign(k) if bits == 1 else k, bits) for n, k in kernels.items()}
    extra = {"two_stage": {"weight_bits": bits, "gain_log2": {n: list(q.gains_log2) if bits == 1 else q.gain_log2 for n, q in kq.items()},
                           "stage_epochs": [len(history["stage1"].get("loss", [])), len(history["stage2"].get("loss", []))],
                           "bin_entropy": entropy, "train_accuracy": train_acc,
                           "stage_lr": [lr1, lr2]}}
    return C.finish(ctx, model, quant, results, history, extra, kernel_bits={n: bits for n in names})
