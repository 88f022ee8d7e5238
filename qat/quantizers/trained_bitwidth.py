"""Trained bit-width quantizer (paper C): learned power-of-two step and range; bits follow.

Two trainable scalars per quantizer, both in log2 units:
    step  d   = 2**round(step_log2)                     (STE through the rounding)
    range top = 2**max(ceil(range_log2), min_range_log2) (STE through the ceiling)
    q = d * round(clip(x, lo, top - d) / d)             lo = -top (signed) or 0 (unsigned)
so q is exactly QKeras quantized_bits(bits, integer=log2 top, alpha=1) (signed) or
quantized_relu(bits, integer=log2 top) (unsigned) with
    bits = log2(top) - log2(d) + 1 (signed),   log2(top) - log2(d) (unsigned).
The gradient w.r.t. d is LSQ's (round(u) - u per value), w.r.t. top the clipping gradient (PACT).
`hard_bits` is that bit count with straight-through gradients (forward: the integer bits the
hardware gets; backward: -1 per step exponent unit, +1 per range exponent unit, 0 where a clamp
holds): the penalty `BitPenalty` uses it, so the averages it sees are the reported ones.
`soft_bits` is the formula on the unrounded exponents.

Per-channel scales (`channel_shifts`, one power-of-two exponent s_c per output channel on `axis`):
the trained step and range act on the channel scaled to a common size,
    q_c = 2**-s_c * Q(w_c * 2**s_c)
so every channel gets all the tensor's levels (one shared step and range would spend them on the
widest channel and round a narrow channel's weights to 0 at 2-3 bits, as with `linear`'s
per-layer 4-bit grids). The bits stay one count per tensor; the values of all channels lie on
the finest channel's grid, so the exporter writes one plain wider `quantized_bits` and the
hardware recovers each column's shift from its trailing zero bits, as for `channel_po2_bits`.

Exponent learning rate: each exponent is stored as v = exponent / exp_lr_scale. Adam moves a
variable by about lr per step whatever its gradient's size, so with v = exponent an exponent can
move at most lr x steps (3e-4 x ~15,000 QAT steps at cosine lr ~ 2.4 log2 units in a whole run,
when every step pushes the same way): a bit is dropped only when an exponent crosses a rounding
boundary, which then takes most of the run. With exponent = s * v the same optimizer moves the
exponent s x lr per step (the forward pass is unchanged, so the QKeras export is too).

It is a Keras layer (not a plain QKeras object) because it owns trainable variables: used as a
QDense kernel_quantizer or a QActivation activation, Keras tracks its variables as part of the
host layer, so the optimizer trains them and model.save (h5) keeps them.
"""

from __future__ import annotations

import math

import numpy as np
import tensorflow as tf

from .fixed_grid import check_channel_exponents, ste_ceil, ste_round


class trained_bits(tf.keras.layers.Layer):  # noqa: N801  (QKeras names quantizers in lower case)
    def __init__(self, init_step: float = 2.0 ** -7, init_range: float = 1.0, signed: bool = True,
                 min_range_log2: int | None = 0, exp_lr_scale: float = 1.0, max_step_log2: int | None = 0,
                 channel_shifts=None, axis: int = -1, **kwargs):
        super().__init__(**kwargs)
        if isinstance(exp_lr_scale, bool) or not isinstance(exp_lr_scale, (int, float)) or \
                not (math.isfinite(exp_lr_scale) and exp_lr_scale > 0) or \
                math.log2(exp_lr_scale) != round(math.log2(exp_lr_scale)):
            # a power of two keeps exponent = s * (exponent / s) exact in float32: the ceiling of
            # the range exponent must not see a rounding error (2.0000001 would ceil to 3)
            raise ValueError(f"trained_bits.exp_lr_scale={exp_lr_scale!r}: must be a power of two (1, 2, 4, ...)")
        for name, value in (("init_step", init_step), ("init_range", init_range)):
            if not (isinstance(value, (int, float)) and math.isfinite(value) and value > 0):
                raise ValueError(f"trained_bits.{name}={value!r}: must be a positive number")
        if init_step >= init_range:
            raise ValueError(f"trained_bits: init_step={init_step} >= init_range={init_range} "
                             "leaves no levels; choose a step smaller than the range")
        for name, value in (("min_range_log2", min_range_log2), ("max_step_log2", max_step_log2)):
            if value is not None and (isinstance(value, bool) or not isinstance(value, (int, np.integer))):
                raise ValueError(f"trained_bits.{name}={value!r}: integer or None")
        if max_step_log2 is not None and init_step > 2.0 ** max_step_log2:
            raise ValueError(f"trained_bits: init_step={init_step} > 2**max_step_log2={2.0 ** max_step_log2}; "
                             "the hardware path needs steps <= 1 (no negative fraction bits)")
        if channel_shifts is not None:
            channel_shifts, axis = check_channel_exponents(channel_shifts, axis, "trained_bits", "channel_shifts")
        self.channel_shifts, self.axis = channel_shifts, int(axis)
        self.init_step = float(init_step)
        self.init_range = float(init_range)
        self.signed = bool(signed)
        # QKeras cannot express a negative integer part (range < 1): keeping range >= 2**0 by
        # default makes the trained quantizer and the exported QKeras one identical.
        self.min_range_log2 = None if min_range_log2 is None else int(min_range_log2)
        self.exp_lr_scale = float(exp_lr_scale)
        # hls4ml/the golden model refuse formats with more integer than total bits (step > 1):
        # keeping step <= 2**0 by default keeps every trained format convertible.
        self.max_step_log2 = None if max_step_log2 is None else int(max_step_log2)
        self.kind = None  # "weight" or "activation", known at build
        self.num_values = None  # values quantized per inference (weights) or per sample (acts)

    def build(self, input_shape):
        shape = tf.TensorShape(input_shape)
        # A kernel arrives with a fully known shape; an activation with a batch dimension.
        self.kind = "activation" if shape.rank and shape[0] is None else "weight"
        dims = shape[1:] if self.kind == "activation" else shape
        self.num_values = int(np.prod([d for d in dims if d is not None])) if dims.rank else 1
        self._up = self._down = None
        if self.channel_shifts is not None:
            if self.kind != "weight" or shape.rank < 2 or shape[self.axis] != len(self.channel_shifts):
                raise ValueError(f"{self.name}: {len(self.channel_shifts)} channel_shifts for a tensor of shape "
                                 f"{shape} (axis {self.axis}); give one per output channel of a kernel")
            s = np.asarray(self.channel_shifts, np.float64).reshape([-1] + [1] * (-self.axis - 1))
            # powers of two, multiplied (never divided): exact in float32, eagerly and in graphs
            self._up, self._down = (tf.constant(np.exp2(v), tf.float32) for v in (s, -s))
        const = tf.keras.initializers.Constant
        s = self.exp_lr_scale
        # the trained variables: exponent / exp_lr_scale (see the module docstring)
        self.step_v = self.add_weight("step_log2_v", shape=(), initializer=const(math.log2(self.init_step) / s))
        self.range_v = self.add_weight("range_log2_v", shape=(), initializer=const(math.log2(self.init_range) / s))
        super().build(input_shape)

    # -- exponents (the QKeras format) ----------------------------------------------------
    @property
    def step_log2(self):
        """The (unrounded) step exponent, a tensor: exp_lr_scale * step_v."""
        return self.exp_lr_scale * self.step_v

    @property
    def range_log2(self):
        return self.exp_lr_scale * self.range_v

    def _exponents(self):
        # The clamps act on the unrounded exponents, up to half a unit beyond where they bind:
        # ceil(max(r, m - 0.5)) = max(ceil(r), m) and round(min(s, t - 1.25)) = min(round(s), t - 1)
        # for integer m, t, but an exponent held by a clamp gets no gradient once it is that far
        # past it, so a penalty cannot push it ever further where it changes nothing.
        range_log2 = self.range_log2
        if self.min_range_log2 is not None:
            range_log2 = tf.maximum(range_log2, self.min_range_log2 - 0.5)
        top = ste_ceil(range_log2)
        # at least one level above the sign: bits >= 2 signed, >= 1 unsigned
        step_log2 = tf.minimum(self.step_log2, top - 1.25)
        if self.max_step_log2 is not None:  # round(min(s, m + 0.25)) = min(round(s), m)
            step_log2 = tf.minimum(step_log2, self.max_step_log2 + 0.25)
        return ste_round(step_log2), top

    def call(self, x):
        step_log2, top_log2 = self._exponents()
        d, top = tf.pow(2.0, step_log2), tf.pow(2.0, top_log2)
        lo = -top if self.signed else tf.zeros_like(top)
        x = tf.cast(x, tf.float32)
        if self._up is not None:
            x = x * self._up
        clipped = tf.minimum(tf.maximum(x, lo), top - d)
        q = d * ste_round(clipped / d)
        return q if self._down is None else q * self._down

    def soft_bits(self):
        """Bit count on the unrounded, unclamped exponents."""
        return self.range_log2 - self.step_log2 + (1.0 if self.signed else 0.0)

    def hard_bits(self):
        """The integer bits (forward), straight-through gradients to the exponents (backward)."""
        step_log2, top_log2 = self._exponents()
        return top_log2 - step_log2 + (1.0 if self.signed else 0.0)

    def fixed_format(self) -> dict:
        """Current format: bits, integer (QKeras convention), frac, step, signed."""
        if not self.built:
            raise ValueError(f"{self.name}: not built yet (call the model once first)")
        step_log2, top_log2 = (int(round(float(v))) for v in self._exponents())
        bits = top_log2 - step_log2 + (1 if self.signed else 0)
        return {"bits": bits, "integer": top_log2, "frac": -step_log2, "step": 2.0 ** step_log2,
                "signed": self.signed}

    @property
    def bits(self) -> int:
        if self.built:
            return self.fixed_format()["bits"]
        steps = math.log2(self.init_range) - math.log2(self.init_step)
        return int(math.ceil(steps)) + (1 if self.signed else 0)

    # QKeras wraps kernels in Clip(+-max(1, quantizer.max())) and QInitializer(quantizer).
    def max(self):
        widest = 0 if self.channel_shifts is None else min(self.channel_shifts)
        return self.init_range * 2.0 ** -widest

    def min(self):
        return -self.max() if self.signed else 0.0

    def get_config(self):
        config = super().get_config()
        config.update(init_step=self.init_step, init_range=self.init_range, signed=self.signed,
                      min_range_log2=self.min_range_log2, exp_lr_scale=self.exp_lr_scale,
                      max_step_log2=self.max_step_log2, channel_shifts=self.channel_shifts, axis=self.axis)
        return config


def find_trained_bits(model) -> list[tuple[str, trained_bits]]:
    """(host layer name, quantizer) for every trained_bits inside a model, in layer order."""
    found = []
    for layer in model.layers:
        for sub in layer._flatten_layers(include_self=False, recursive=True):
            if isinstance(sub, trained_bits):
                found.append((layer.name, sub))
    return found


def bits_report(model) -> dict:
    """Bits of every trained quantizer and the averages paper C reports.

    Averages are weighted by how many values use each format: kernel entries for weights,
    activation values per sample for activations.
    """
    rows, totals = [], {"weight": [0, 0], "activation": [0, 0]}
    for host, q in find_trained_bits(model):
        fmt = q.fixed_format()
        rows.append({"layer": host, "quantizer": q.name, "kind": q.kind, "num_values": q.num_values, **fmt})
        totals[q.kind][0] += fmt["bits"] * q.num_values
        totals[q.kind][1] += q.num_values
    avg = {f"avg_{kind}_bits": (s / n if n else None) for kind, (s, n) in totals.items()}
    return {"quantizers": rows, **avg}


class BitPenalty:
    """Bit budget: lambda_w * max(0, avg bits per weight - target_w)
                 + lambda_a * max(0, avg bits per activation - target_a).

    The averages are the integer bits (`hard_bits`, count-weighted like `bits_report`) with
    straight-through gradients, so the penalty is zero exactly when the reported averages meet
    the targets. Target 0 = every bit costs lambda (a plain penalty). Lambdas and targets are
    tf.Variables so callbacks (qat.lambda_ramp) can ramp the lambdas and anneal the targets.
    Add with `model.add_loss(BitPenalty(model, ...))` after the model has been built.
    """

    def __init__(self, model, weight_lambda: float = 0.0, act_lambda: float = 0.0,
                 weight_target: float = 0.0, act_target: float = 0.0):
        for name, value in (("weight_lambda", weight_lambda), ("act_lambda", act_lambda),
                            ("weight_target", weight_target), ("act_target", act_target)):
            if isinstance(value, bool) or not (isinstance(value, (int, float)) and math.isfinite(value) and value >= 0):
                raise ValueError(f"BitPenalty.{name}={value!r}: must be a number >= 0")
        self.quantizers = [q for _, q in find_trained_bits(model)]
        if not self.quantizers:
            raise ValueError("BitPenalty: the model has no trained_bits quantizers")
        if any(not q.built for q in self.quantizers):
            raise ValueError("BitPenalty: build the model (call it once) before adding the penalty")
        self.weight_lambda = tf.Variable(float(weight_lambda), trainable=False, name="bit_penalty_weight_lambda")
        self.act_lambda = tf.Variable(float(act_lambda), trainable=False, name="bit_penalty_act_lambda")
        self.weight_target = tf.Variable(float(weight_target), trainable=False, name="bit_penalty_weight_target")
        self.act_target = tf.Variable(float(act_target), trainable=False, name="bit_penalty_act_target")

    def average_bits(self, kind: str):
        qs = [q for q in self.quantizers if q.kind == kind]
        if not qs:
            return tf.constant(0.0)
        n = float(sum(q.num_values for q in qs))
        return tf.add_n([q.hard_bits() * (q.num_values / n) for q in qs])

    def __call__(self):
        return (self.weight_lambda * tf.nn.relu(self.average_bits("weight") - self.weight_target)
                + self.act_lambda * tf.nn.relu(self.average_bits("activation") - self.act_target))

    @property
    def lambda_variables(self):
        return [self.weight_lambda, self.act_lambda]
