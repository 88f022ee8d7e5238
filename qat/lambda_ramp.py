"""Callback that holds penalty weights at 0 for a float warm-up, then ramps them linearly.

Used for the ACos regularizer's lambda (paper A) and the bit penalty's lambdas (paper C): the
network first trains without the penalty, then the penalty grows over `ramp_epochs` to `target`.
With `start`, the value goes from `start` to `target` instead (paper C anneals its bit targets
from the starting widths down).
"""

from __future__ import annotations

import math

import tensorflow as tf


def ramp_value(epoch: int, target: float, warmup_epochs: int, ramp_epochs: int) -> float:
    """0 for epochs < warmup, then target * (epochs since warm-up + 1) / ramp, capped."""
    if epoch < warmup_epochs:
        return 0.0
    return target * min(1.0, (epoch - warmup_epochs + 1) / ramp_epochs)


class LambdaRamp(tf.keras.callbacks.Callback):
    def __init__(self, variables, target: float, warmup_epochs: int = 0, ramp_epochs: int = 1,
                 log_name: str = "lambda", start: float = 0.0):
        for name, value in (("target", target), ("start", start)):
            if not (isinstance(value, (int, float)) and math.isfinite(value) and value >= 0):
                raise ValueError(f"LambdaRamp.{name}={value!r}: must be >= 0")
        if not isinstance(warmup_epochs, int) or warmup_epochs < 0:
            raise ValueError(f"LambdaRamp.warmup_epochs={warmup_epochs!r}: integer >= 0")
        if not isinstance(ramp_epochs, int) or ramp_epochs < 1:
            raise ValueError(f"LambdaRamp.ramp_epochs={ramp_epochs!r}: integer >= 1")
        variables = list(variables)
        if not variables:
            raise ValueError("LambdaRamp: no lambda variables given (no regularizer in the model?)")
        super().__init__()
        self.variables, self.target, self.start = variables, float(target), float(start)
        self.warmup_epochs, self.ramp_epochs, self.log_name = warmup_epochs, ramp_epochs, log_name

    def on_epoch_begin(self, epoch, logs=None):
        value = self.start + ramp_value(epoch, self.target - self.start, self.warmup_epochs, self.ramp_epochs)
        for v in self.variables:
            v.assign(value)

    def on_epoch_end(self, epoch, logs=None):
        if logs is not None:
            logs[self.log_name] = float(self.variables[0].numpy())
