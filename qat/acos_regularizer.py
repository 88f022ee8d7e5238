"""Absolute-cosine regularizer (paper A): pulls weights onto their quantization grid.

    R(w) = lambda * sum(1 - |cos(pi * w / step)|)

is 0 on every grid point k*step and 1 halfway between, so minimizing it makes weights cluster
on the grid and rounding them after training costs little. lambda is a tf.Variable: training
starts it at 0 (float warm-up) and `qat.lambda_ramp.LambdaRamp` raises it; the variable is read
inside the compiled train step, so assignments take effect without recompiling.

For squashed weights the grid lives on the squashed value s, not on the latent theta: pass the
`squashed_bits` quantizer as `squash` and R acts on s.
"""

from __future__ import annotations

import math

import numpy as np
import tensorflow as tf


class AbsCosineRegularizer(tf.keras.regularizers.Regularizer):
    def __init__(self, step: float, lam: float = 0.0, squash=None):
        if not (isinstance(step, (int, float)) and math.isfinite(step) and step > 0):
            raise ValueError(f"AbsCosineRegularizer.step={step!r}: must be the positive grid step "
                             "of the tensor's quantizer, e.g. 2**(integer - bits + 1)")
        if not (isinstance(lam, (int, float)) and math.isfinite(lam) and lam >= 0):
            raise ValueError(f"AbsCosineRegularizer.lam={lam!r}: must be >= 0 "
                             "(0 during warm-up, then ramped up by LambdaRamp)")
        from .quantizers.squashed_weights import squashed_bits
        if isinstance(squash, dict):
            squash = squashed_bits.from_config(squash)
        if squash is not None and not isinstance(squash, squashed_bits):
            raise ValueError(f"AbsCosineRegularizer.squash={squash!r}: a squashed_bits quantizer or None")
        self.step = float(step)
        self.squash = squash
        self.lam = tf.Variable(float(lam), trainable=False, dtype=tf.float32, name="acos_lambda")

    @classmethod
    def for_quantizer(cls, quantizer, lam: float = 0.0) -> "AbsCosineRegularizer":
        """Regularizer on the grid of a QKeras quantized_bits(alpha=1) or a squashed_bits."""
        from qkeras import quantized_bits
        from .quantizers.squashed_weights import squashed_bits
        if isinstance(quantizer, squashed_bits):
            if quantizer.bits < 2:
                raise ValueError("AbsCosineRegularizer: a 1-bit (sign) grid has no interior grid "
                                 "points to pull weights onto; use bits >= 2")
            return cls(1.0 / quantizer.levels, lam, squash=quantizer)
        if isinstance(quantizer, quantized_bits):
            if quantizer.alpha not in (1, 1.0):
                raise ValueError("AbsCosineRegularizer: only alpha=1 quantized_bits has a fixed grid")
            return cls(2.0 ** (quantizer.integer - quantizer.bits + 1), lam)
        raise ValueError(f"AbsCosineRegularizer: no grid known for {type(quantizer).__name__}")

    def penalty_per_value(self, w):
        x = self.squash.squash(w) if self.squash is not None else tf.cast(w, tf.float32)
        return 1.0 - tf.abs(tf.cos(math.pi * x / self.step))

    def __call__(self, w):
        return self.lam * tf.reduce_sum(self.penalty_per_value(w))

    def get_config(self):
        return {"step": self.step, "lam": float(self.lam.numpy()),
                "squash": None if self.squash is None else self.squash.get_config()}


def grid_offsets(values, step: float) -> np.ndarray:
    """|w/step - round(w/step)| in [0, 0.5]: 0 = on the grid. Histogram it to show clustering."""
    u = np.asarray(values, np.float64) / step
    return np.abs(u - np.round(u))


def find_acos_regularizers(model) -> list[AbsCosineRegularizer]:
    found = []
    for layer in model._flatten_layers(include_self=False, recursive=True):
        for attr, value in vars(layer).items():
            if attr.endswith("_regularizer") and isinstance(value, AbsCosineRegularizer):
                found.append(value)
    return found
