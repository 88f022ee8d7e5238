"""Paper C: trained bit-widths. Every kernel and every ReLU output gets a `trained_bits`
quantizer (learned power-of-two step and range; bits follow), a bit budget (`BitPenalty`:
lambda x how far the average integer bits per weight / per activation value lie above a target)
pushes the widths down, and the run reports each quantizer's bits and the averages.
Start widths are the `quant` section's (weight_bits, act_bits); biases, input and logits use
its fixed linear quantizers. Compare with `linear` (fixed bit-widths) at the same start.

scheme_args:
  weight_target_bits, act_target_bits  average widths to reach (default 3.0, 3.5); 0 = no target,
      every bit is penalised; else from the quantizer's minimum (2 signed, 1 unsigned) to the start width.
      The targets are annealed linearly from the start widths over `ramp_epochs` after `warmup_epochs`.
  weight_lambda, act_lambda  penalty per bit of average width above the target, in loss (nats)
      units: 1 = one bit over budget costs as much as 1 nat of cross-entropy (default 1.0, 1.0;
      >= 0, <= 100). Ramped from 0 like the targets.
  exp_lr_scale  exponent = exp_lr_scale x trained variable, so Adam moves the exponents
      exp_lr_scale x qat_lr per step: a power of two from 1 to 1024 (1 = the old parametrization,
      whose exponents cannot cross rounding boundaries within a run), or "auto" (default): the
      smallest power of two that lets an exponent travel twice the bits to shed within the ramp
      at the full qat_lr (`auto_exp_lr_scale`; 256 on the GSC subset's 27 steps per epoch).
  per_channel  one power-of-two scale per output channel of every kernel (default false): each
      channel is scaled so its peak lies in (0.5, 1] and the tensor's trained step and range act
      on that (`trained_bits(channel_shifts=...)`); the range may then clip down to 2**-1 of it.
      Bits stay per tensor. Exported and carried into hardware like `linear`'s per_channel.
  retrain_epochs  after the search, train this many epochs again from the folded float weights
      with every format frozen at what the search found (default 0 = keep the searched model).
      The search moves the grids under the weights every step and settles late, at a low
      learning rate; the retrain gives the weights a whole schedule on the final formats.
  fill_budget  with retrain_epochs: before the retrain, spend what the search left of each budget
      (`fill_budget`): one finer step at a time to the quantizer with the fewest bits among those
      whose extra bit still fits under its target (default false). The search rounds every width
      down to an integer, so it ends below its budget (2.76 of 3.0 bits per weight on a DS-CNN fold);
      filling it moved that fold by -0.2 pt, a raw-CNN fold by +0.1 pt (qat/README.md "Paper C").
  warmup_epochs (1, >= 0), ramp_epochs (8, >= 1).
  settle_epochs  the last settle_epochs epochs (not before the ramp ends) freeze the exponents at
      the first training step where both averages meet their targets, so the weights fine-tune on
      fixed formats and the model ends within the budget (default 6; 0 = never freeze).
"""

from __future__ import annotations

import math

import tensorflow as tf

from qat.lambda_ramp import LambdaRamp
from qat.quantizers import BitPenalty, bits_report
from qat.quantizers.trained_bitwidth import find_trained_bits
from qat.quantizers import trained_bits as TB
from qat.schemes.base import QatContext, QatResult, SchemeError
from qat.schemes import common as C

NAME = "trained_bits"
DEFAULTS = {"weight_lambda": 1.0, "act_lambda": 1.0, "weight_target_bits": 3.0, "act_target_bits": 3.5,
            "exp_lr_scale": "auto", "warmup_epochs": 1, "ramp_epochs": 8, "settle_epochs": 6,
            "per_channel": False, "retrain_epochs": 0, "fill_budget": False}
MAX_LAMBDA, MAX_EXP_LR_SCALE = 100.0, 1024


def validate(args: dict, quant) -> None:
    a = C.check_args(NAME, args, DEFAULTS)
    C.need_quant(NAME, quant)
    C.check_number(NAME, "weight_lambda", a["weight_lambda"], 0.0, MAX_LAMBDA)
    C.check_number(NAME, "act_lambda", a["act_lambda"], 0.0, MAX_LAMBDA)
    for name, start, least in (("weight_target_bits", quant.weight_bits, 2), ("act_target_bits", quant.act_bits, 1)):
        target = C.check_number(NAME, name, a[name], 0.0, start)
        if 0 < target < least:
            raise SchemeError(f"scheme {NAME!r}: scheme_args.{name}={a[name]!r} is below the {least}-bit "
                              f"minimum of its quantizers; use 0 (no target) or {least} to {start}")
    scale = a["exp_lr_scale"]
    if scale != "auto":
        if isinstance(scale, str):
            raise SchemeError(f"scheme {NAME!r}: scheme_args.exp_lr_scale={scale!r}: 'auto' or a power of two")
        C.check_int(NAME, "exp_lr_scale", scale, 1, MAX_EXP_LR_SCALE)
        if scale & (scale - 1):
            raise SchemeError(f"scheme {NAME!r}: scheme_args.exp_lr_scale={scale!r} must be a power of two "
                              f"(1, 2, 4, ..., {MAX_EXP_LR_SCALE}) so the exponents stay exact")
    for flag in ("per_channel", "fill_budget"):
        if not isinstance(a[flag], bool):
            raise SchemeError(f"scheme {NAME!r}: scheme_args.{flag}={a[flag]!r} must be true or false")
    C.check_int(NAME, "warmup_epochs", a["warmup_epochs"], 0)
    C.check_int(NAME, "ramp_epochs", a["ramp_epochs"], 1)
    C.check_int(NAME, "settle_epochs", a["settle_epochs"], 0)
    C.check_int(NAME, "retrain_epochs", a["retrain_epochs"], 0)
    if a["fill_budget"] and a["retrain_epochs"] == 0:
        raise SchemeError(f"scheme {NAME!r}: scheme_args.fill_budget=true changes the searched formats, so the weights "
                          "must train on them again: set retrain_epochs > 0 or fill_budget: false")


def auto_exp_lr_scale(bits_to_shed: float, qat_lr: float, steps_per_epoch: int, ramp_epochs: int) -> int:
    """Smallest power of two s (1..1024) with s * qat_lr * steps_per_epoch * ramp_epochs >= 2 * bits_to_shed:
    Adam moves an exponent s * lr per step when the budget pushes it steadily."""
    need = 2.0 * max(bits_to_shed, 0.0) / (qat_lr * steps_per_epoch * ramp_epochs)
    return int(min(MAX_EXP_LR_SCALE, 2 ** max(0, math.ceil(math.log2(max(need, 1.0))))))


def fill_budget(rows: list[dict], targets: dict, max_bits: dict) -> tuple[dict, list[str]]:
    """Spend the rest of each budget. rows: `bits_report` rows; targets: {kind: average bits, 0 = none};
    max_bits: {kind: the start width, never exceeded}. Repeatedly gives one more bit (half the
    step, same range) to the quantizer of that kind with the fewest bits, ties to the most values,
    among those whose extra bit keeps the count-weighted average <= the target.
    Returns ({quantizer: format}, the quantizers raised, in order)."""
    formats = {r["quantizer"]: {k: r[k] for k in ("bits", "integer", "frac", "step", "signed")} for r in rows}
    raised = []
    for kind, target in targets.items():
        mine = [r for r in rows if r["kind"] == kind]
        if target <= 0 or not mine:
            continue
        total = sum(r["num_values"] for r in mine)
        room = target * total - sum(r["bits"] * r["num_values"] for r in mine)
        while True:
            fits = [r for r in mine if r["num_values"] <= room + 1e-9 and formats[r["quantizer"]]["bits"] < max_bits[kind]]
            if not fits:
                break
            r = min(fits, key=lambda r: (formats[r["quantizer"]]["bits"], -r["num_values"]))
            f = formats[r["quantizer"]]
            f.update(bits=f["bits"] + 1, frac=f["frac"] + 1, step=f["step"] / 2)
            room -= r["num_values"]
            raised.append(r["quantizer"])
    return formats, raised


# Per-channel kernels may clip each channel down to half its power-of-two peak: the exporter fits
# any range (integer >= 0 of the wider common grid), so only the accuracy limits it.
CHANNEL_MIN_RANGE_LOG2 = -1


def build_model(ctx: QatContext, quant, weights: dict, exp_lr_scale: int = 1, per_channel: bool = False,
                frozen: dict | None = None):
    """Kernels: signed range 1 (po2-rescaled weights peak in (0.5, 1]; per_channel: every channel
    scaled there); activations: unsigned, the calibrated range; start steps give the configured bit-widths.
    frozen: {quantizer name: fixed_format()} starts every quantizer at that format, not trainable."""
    def start(name, step, top):
        if frozen is None:
            return {"init_step": step, "init_range": top, "exp_lr_scale": exp_lr_scale}
        fmt = frozen[name]
        return {"init_step": fmt["step"], "init_range": 2.0 ** fmt["integer"], "trainable": False}

    shifts = {}
    if per_channel:
        from qat.quantizers.channel_po2 import channel_shifts, peak_shift
        shifts = C.per_channel_quantizers(ctx.float_model, weights, lambda kernel, axis: (
            channel_shifts(kernel, quant.weight_bits, axis, best_shift=peak_shift), axis))

    def kernel(name):
        extra = {}
        if name in shifts:
            # channel c's step is 2**(step_log2 - s_c): capping step_log2 at min s_c keeps every
            # channel's step <= 1, which the hardware path needs (a peak > 1 gives s_c = -1)
            extra = {"channel_shifts": shifts[name][0], "axis": shifts[name][1], "min_range_log2": CHANNEL_MIN_RANGE_LOG2,
                     "max_step_log2": min(0, min(shifts[name][0]))}
        return TB(signed=True, name=f"{name}_wq", **start(f"{name}_wq", 2.0 ** -(quant.weight_bits - 1), 1.0), **extra)

    def act(name):
        top = quant.layer_act_int.get(name, quant.act_int)
        return TB(signed=False, name=f"{name}_aq", **start(f"{name}_aq", 2.0 ** (top - quant.act_bits), 2.0 ** top))

    model = ctx.build(C.SchemeQuant(quant, kernel=kernel, activation=act))
    C.assign_weights(model, weights)
    return model


class BitsLog(tf.keras.callbacks.Callback):
    """Average weight / activation bits after every epoch, into the history."""

    def on_epoch_end(self, epoch, logs=None):
        if logs is not None:
            report = bits_report(self.model)
            logs["avg_weight_bits"] = report["avg_weight_bits"]
            logs["avg_activation_bits"] = report["avg_activation_bits"]


class SettleExponents(tf.keras.callbacks.Callback):
    """From `start_epoch` on, freeze every exponent at the first step after which the bit budget
    is met (penalty 0): their values are put back after every later step, whatever Adam does."""

    def __init__(self, penalty: BitPenalty, start_epoch: int):
        super().__init__()
        self.penalty, self.start_epoch = penalty, start_epoch
        self.variables = [v for q in penalty.quantizers for v in (q.step_v, q.range_v)]
        self.frozen, self.settled_at, self.epoch = None, None, 0

    def on_epoch_begin(self, epoch, logs=None):
        self.epoch = epoch

    def on_train_batch_end(self, batch, logs=None):
        if self.frozen is not None:
            for var, value in zip(self.variables, self.frozen):
                var.assign(value)
        elif self.epoch >= self.start_epoch and float(self.penalty()) == 0.0:
            self.frozen = [v.numpy() for v in self.variables]
            self.settled_at = {"epoch": self.epoch, "step": batch}


def quantize(ctx: QatContext) -> QatResult:
    a = {**DEFAULTS, **ctx.args}
    weights, quant = C.folded_start(ctx)
    if a["exp_lr_scale"] == "auto":
        shed = [start - target for start, target in ((quant.weight_bits, a["weight_target_bits"]),
                                                     (quant.act_bits, a["act_target_bits"])) if target > 0]
        steps = math.ceil(len(ctx.prep.features["train"][1]) / ctx.cfg.train.batch_size)
        a["exp_lr_scale"] = auto_exp_lr_scale(max(shed, default=0.0), ctx.cfg.train.qat_lr, steps, a["ramp_epochs"])
    model = build_model(ctx, quant, weights, a["exp_lr_scale"], a["per_channel"])
    results = {"ptq": ctx.evaluate(model)}
    start = bits_report(model)
    penalty = BitPenalty(model)
    model.add_loss(penalty)
    ramp = (a["warmup_epochs"], a["ramp_epochs"])
    callbacks = [BitsLog(), LambdaRamp([penalty.weight_lambda], a["weight_lambda"], *ramp, "weight_lambda"),
                 LambdaRamp([penalty.act_lambda], a["act_lambda"], *ramp, "act_lambda")]
    for var, target, kind in ((penalty.weight_target, a["weight_target_bits"], "weight"),
                              (penalty.act_target, a["act_target_bits"], "activation")):
        if target > 0:  # anneal from the start width down to the target
            callbacks.append(LambdaRamp([var], target, *ramp, f"{kind}_target_bits", start=start[f"avg_{kind}_bits"]))
    settle = None
    if a["settle_epochs"] > 0:
        settle = SettleExponents(penalty, max(ctx.cfg.train.qat_epochs - a["settle_epochs"], sum(ramp)))
        callbacks.append(settle)
    state = ctx.run_phase("qat", model, ctx.cfg.train.qat_epochs, ctx.cfg.train.qat_lr, callbacks)
    history = {"qat": state["history"]}
    filled = None  # fill_budget: the quantizers raised and the searched averages before
    if a["retrain_epochs"] > 0:
        results["searched"] = ctx.evaluate(model)
        found = {q.name: q.fixed_format() for _, q in find_trained_bits(model)}
        if a["fill_budget"]:
            searched = bits_report(model)
            found, raised = fill_budget(searched["quantizers"],
                                        {"weight": a["weight_target_bits"], "activation": a["act_target_bits"]},
                                        {"weight": quant.weight_bits, "activation": quant.act_bits})
            filled = {"raised": raised, **{k: v for k, v in searched.items() if k.startswith("avg_")}}
        model = build_model(ctx, quant, weights, per_channel=a["per_channel"], frozen=found)
        if {q.name: q.fixed_format() for _, q in find_trained_bits(model)} != found:
            raise AssertionError("trained_bits retrain: the rebuilt model's formats differ from the ones it was given")
        history["retrain"] = ctx.run_phase("retrain", model, a["retrain_epochs"], ctx.cfg.train.qat_lr)["history"]
    report = bits_report(model)
    kernel_bits = {row["layer"]: row["bits"] for row in report["quantizers"] if row["kind"] == "weight"}
    extra = {"trained_bits": {"start": {k: start[k] for k in ("avg_weight_bits", "avg_activation_bits")},
                              **report, "args": a, "settled_at": settle.settled_at if settle else None,
                              "filled": filled},
             "avg_weight_bits": report["avg_weight_bits"], "avg_activation_bits": report["avg_activation_bits"]}
    if a["per_channel"]:
        extra["trained_bits"]["channel_shifts"] = {host: q.channel_shifts for host, q in find_trained_bits(model)
                                                   if q.channel_shifts is not None}
    return C.finish(ctx, model, quant, results, history, extra, kernel_bits=kernel_bits)
