"""Squashed (tanh) weight quantizer: papers A (FXP-QAT) and B (2-stage sub-8-bit, stage 1).

The kernel variable holds a latent theta; the layer uses
    s = tanh(theta) / max|tanh(theta)|          (normalize=True; per tensor or per output channel)
    w = 2**gain_log2 * Q_bits(s)
Q_bits is the symmetric power-of-two grid k / 2**(bits-1), |k| <= 2**(bits-1) - 1, rounded half to
even with a straight-through gradient, so dw/dtheta is the derivative of the squash. tanh flattens
the heavy tails of a weight distribution, which spreads the weights more evenly over the levels.
With bits=1 the grid is sign(s) (0 -> +1, as in QKeras) times the power-of-two gain.

Every value w is on the grid of quantized_bits(bits, 0, alpha=1) scaled by 2**gain_log2, so
`qat.quantizers.export` turns the layer into plain QKeras without changing a single weight.
"""

from __future__ import annotations

import math

import numpy as np
import tensorflow as tf
from qkeras.quantizers import BaseQuantizer

from .fixed_grid import check_bits, check_channel_exponents, check_int

# QKeras clips the kernel variable to +-max(1, quantizer.max()). Here the variable is theta, and
# tanh(4) = 0.9993, so this bound costs nothing but stops theta drifting where tanh has no gradient.
LATENT_LIMIT = 4.0


class squashed_bits(BaseQuantizer):  # noqa: N801  (QKeras names quantizers in lower case)
    def __init__(self, bits: int = 8, gain_log2: int = 0, normalize: bool = True,
                 per_channel: bool = False):
        super().__init__()
        self.bits = check_bits(bits, "squashed_bits.bits", minimum=1, maximum=16)
        self.gain_log2 = check_int(gain_log2, "squashed_bits.gain_log2")
        self.normalize = bool(normalize)
        self.per_channel = bool(per_channel)
        self.built = True

    @property
    def gain(self) -> float:
        return 2.0 ** self.gain_log2

    @property
    def levels(self) -> int:
        """Positive levels of the grid: s is rounded to k / levels."""
        return 2 ** (self.bits - 1)

    def squash(self, theta):
        """Continuous value in [-1, 1] before rounding (what the ACos regularizer acts on)."""
        t = tf.tanh(tf.cast(theta, tf.float32))
        if not self.normalize:
            return t
        axes = list(range(len(t.shape) - 1)) if self.per_channel and len(t.shape) > 1 else None
        peak = tf.reduce_max(tf.abs(t), axis=axes, keepdims=axes is not None)
        return t / tf.maximum(peak, 1e-12)

    def __call__(self, theta):
        s = self.squash(theta)
        if self.bits == 1:
            q = tf.where(s >= 0, tf.ones_like(s), -tf.ones_like(s))
        else:
            n = float(self.levels)
            q = tf.clip_by_value(tf.round(s * n), -(n - 1), n - 1) / n
        return self.gain * (s + tf.stop_gradient(q - s))

    # -- QKeras quantizer protocol --------------------------------------------------------
    def max(self):
        return LATENT_LIMIT

    def min(self):
        return -LATENT_LIMIT

    def __str__(self):
        return (f"squashed_bits({self.bits},gain_log2={self.gain_log2},"
                f"normalize={int(self.normalize)},per_channel={int(self.per_channel)})")

    def get_config(self):
        return {"bits": self.bits, "gain_log2": self.gain_log2, "normalize": self.normalize,
                "per_channel": self.per_channel}

    @classmethod
    def from_config(cls, config):
        return cls(**config)


class sign_po2_bits(BaseQuantizer):  # noqa: N801
    """1-bit squashed kernel with one power-of-two gain per output channel (paper B's 1-bit gain):

        w[..., c] = 2**gains_log2[c] * sign(tanh(theta))          (0 -> +1, as squashed_bits(1))

    channels on `axis` (-1: Dense/Conv kernels, -2: depthwise (kh, kw, C, 1)). Straight-through
    gradient 2**g_c * tanh'(theta), as squashed_bits(1, g, normalize=False) per channel; the forward
    value is exactly +-2**g_c (custom gradient, no `s + stop_gradient(q - s)` rounding), so every
    value lies on one fine fixed-point grid and `qat.quantizers.export` writes the kernel as a plain
    quantized_bits whose columns the hardware stores as +-1 codes and a shift (hw/rtl/channel_shift.py).
    """

    bits = 1

    def __init__(self, gains_log2=(0,), axis: int = -1):
        super().__init__()
        self.gains_log2, self.axis = check_channel_exponents(gains_log2, axis, "sign_po2_bits", "gains_log2")
        self.built = True

    @property
    def gain_log2(self) -> np.ndarray:
        """The exponents shaped to broadcast against a kernel of rank >= 2 (channel on `axis`)."""
        return np.asarray(self.gains_log2, np.int64).reshape([len(self.gains_log2)] + [1] * (-self.axis - 1))

    def squash(self, theta):
        return tf.tanh(tf.cast(theta, tf.float32))

    def __call__(self, theta):
        gain = tf.constant(np.exp2(self.gain_log2.astype(np.float64)), tf.float32)

        @tf.custom_gradient
        def quantize(t):
            s = tf.tanh(t)
            q = tf.where(s >= 0, tf.ones_like(s), -tf.ones_like(s)) * gain  # exact: +-2**g
            return q, lambda dy: dy * gain * (1.0 - tf.square(s))  # straight through the sign

        return quantize(tf.cast(theta, tf.float32))

    # -- QKeras quantizer protocol --------------------------------------------------------
    def max(self):
        return LATENT_LIMIT

    def min(self):
        return -LATENT_LIMIT

    def __str__(self):
        return f"sign_po2_bits(gains_log2={min(self.gains_log2)}..{max(self.gains_log2)},axis={self.axis})"

    def get_config(self):
        return {"gains_log2": list(self.gains_log2), "axis": self.axis}

    @classmethod
    def from_config(cls, config):
        return cls(**config)


def suggest_gain_log2(weights: np.ndarray) -> int:
    """Power-of-two gain nearest (in log scale) to the float layer's largest |weight|."""
    peak = float(np.max(np.abs(weights)))
    if not math.isfinite(peak) or peak <= 0:
        raise ValueError(f"cannot choose a gain for weights with max |w| = {peak}")
    return int(round(math.log2(peak)))


def theta_from_weights(weights: np.ndarray, gain_log2: int, limit: float = 0.999) -> np.ndarray:
    """Latent theta with 2**gain_log2 * tanh(theta) == weights (clipped to +-limit * gain).

    gain_log2 may be an array broadcasting against weights (sign_po2_bits.gain_log2: one per channel).
    Exact inverse for normalize=False. With normalize=True the squashed weights become
    weights * 2**gain_log2 / max|weights| (a per-layer scale in [0.71, 1.41] with
    suggest_gain_log2), which a BN-free network does not absorb: prefer normalize=False when
    starting QAT from float-pretrained, BN-folded weights.
    """
    if not 0 < limit < 1:
        raise ValueError(f"limit={limit}: must be in (0, 1) so that atanh stays finite")
    scaled = np.clip(np.asarray(weights, np.float64) / np.exp2(np.asarray(gain_log2, np.float64)), -limit, limit)
    return np.arctanh(scaled).astype(np.float32)


class UniformSquashInitializer(tf.keras.initializers.Initializer):
    """theta = atanh(u), u ~ U(-limit, limit): tanh(theta) starts uniform (for training from scratch)."""

    def __init__(self, limit: float = 0.95, seed: int | None = None):
        if not 0 < limit < 1:
            raise ValueError(f"limit={limit}: must be in (0, 1) so that atanh stays finite")
        self.limit, self.seed = float(limit), seed

    def __call__(self, shape, dtype=None, **kwargs):
        u = tf.random.uniform(shape, -self.limit, self.limit, seed=self.seed)
        return tf.cast(tf.atanh(u), dtype or tf.float32)

    def get_config(self):
        return {"limit": self.limit, "seed": self.seed}


def level_entropy(quantized: np.ndarray, bits: int, gain_log2: int = 0) -> dict:
    """Entropy of the histogram of quantization levels, and its ratio to the grid's maximum.

    ratio 1.0 = every level used equally (the uniform distribution paper A aims for);
    ratio near 0 = weights collapsed onto few levels.
    """
    bits = check_bits(bits, "bits", minimum=1, maximum=16)
    q = np.asarray(quantized, np.float64).ravel() / 2.0 ** gain_log2
    if bits == 1:
        k, n_levels = (q > 0).astype(np.int64), 2
    else:
        n = 2 ** (bits - 1)
        k, n_levels = np.round(q * n).astype(np.int64) + (n - 1), 2 * n - 1
        if k.min() < 0 or k.max() >= n_levels:
            raise ValueError("values are outside the squashed grid of the given bits/gain_log2")
    counts = np.bincount(k, minlength=n_levels).astype(np.float64)
    p = counts[counts > 0] / counts.sum()
    entropy = float(-(p * np.log2(p)).sum())
    max_entropy = math.log2(n_levels)
    return {"entropy_bits": entropy, "max_entropy_bits": max_entropy,
            "ratio": entropy / max_entropy, "levels_used": int((counts > 0).sum()),
            "levels": n_levels}
