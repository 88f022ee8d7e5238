"""Per-output-channel power-of-two weight scales: `channel_po2_bits` and the choice of the shifts.

Output channel c of a kernel is quantized to quantized_bits(bits, -s_c) (QKeras grid, half to
even, two's complement clip), i.e. k * 2**-(s_c + bits - 1) with k in [-2**(bits-1), 2**(bits-1)-1].
At 4 bits, one grid per layer spends most of its 16 levels on the widest channel; a channel with
10x smaller weights then uses 3 of them. A shift per channel gives every channel all 16.

Why this representation, and not QKeras `alpha=<po2 array>` / `alpha="auto_po2"`: hls4ml 1.3's
QKerasFactorizeAlpha pass moves the scale into an inserted ApplyAlpha (BatchNormalization) layer
and moves the *bias* there too, so the layer's result, its hidden `_linear` activation and the
new layer's `auto` precisions would all need carrying again; an alpha given as an array crashes
that pass (`quantizer.scale.numpy()` on a list) and auto_po2 re-derives its own scales from the
weights. Here instead every trained value lies on one common fine grid (the finest channel's),
so `qat.quantizers.export` writes the kernel as a plain quantized_bits(bits + span, i, alpha=1):
hls4ml, the golden model and the C simulation see an ordinary fixed-point layer (the exactness
already proven for the linear flow), and the hardware generator recovers each column's shift
from its trailing zero bits (hw/rtl/channel_shift.py) to store `bits`-wide weights and shift the
sum once per output.

The forward value is exactly q, eagerly and in graph mode (`predict`): a custom straight-through
gradient instead of QKeras's `w + stop_gradient(q - w)`, which can be off by a float ulp, and
multiplications by powers of two only. So the exported model computes bit for bit what was trained.
"""

from __future__ import annotations

import math

import numpy as np
import tensorflow as tf
from qkeras.quantizers import BaseQuantizer

from .fixed_grid import check_bits, check_channel_exponents

# Largest spread of shifts within one layer. Each extra bit widens the exported grid (and the
# hardware's accumulator) by one bit; a channel that wants more (nearly dead after BatchNorm
# folding) is given the coarsest allowed grid, on which its tiny weights round toward zero.
MAX_SPAN = 8


class channel_po2_bits(BaseQuantizer):  # noqa: N801  (QKeras names quantizers in lower case)
    """quantized_bits(bits, -shifts[c]) on output channel c (channels on `axis`: -1, or -2 for
    a depthwise kernel (kh, kw, C, 1)). Straight-through gradient, forward value exactly on the grid."""

    def __init__(self, bits: int = 4, shifts=(0,), axis: int = -1):
        super().__init__()
        self.bits = check_bits(bits, "channel_po2_bits.bits", minimum=2, maximum=16)
        self.shifts, self.axis = check_channel_exponents(shifts, axis, "channel_po2_bits", "shifts")
        self.built = True

    def _scale(self, rank: int, sign: int = 1):
        """2**(sign * (s_c + bits - 1)) shaped to broadcast against the kernel's channel axis."""
        s = sign * (np.asarray(self.shifts, np.float64) + (self.bits - 1))
        shape = [len(self.shifts)] + [1] * (-self.axis - 1)
        return tf.constant(np.exp2(s).reshape(shape) if rank > 1 else np.exp2(s), tf.float32)

    def __call__(self, w):
        w = tf.cast(w, tf.float32)
        # Multiplications by powers of two only: exact. (A division is not: in graph mode it ran
        # through an approximate reciprocal here, 2**-7 came out as 0.0078124995.)
        scale, step = self._scale(len(w.shape)), self._scale(len(w.shape), -1)
        n = float(2 ** (self.bits - 1))

        @tf.custom_gradient
        def quantize(v):
            q = tf.clip_by_value(tf.round(v * scale), -n, n - 1) * step
            return q, lambda dy: dy  # straight through

        return quantize(w)

    # -- QKeras quantizer protocol --------------------------------------------------------
    def max(self):
        """The coarsest channel's range (QKeras clips the kernel variable to +-max(1, max()))."""
        return 2.0 ** -min(self.shifts)

    def min(self):
        return -self.max()

    def __str__(self):
        return f"channel_po2_bits({self.bits},shifts={min(self.shifts)}..{max(self.shifts)},axis={self.axis})"

    def get_config(self):
        return {"bits": self.bits, "shifts": list(self.shifts), "axis": self.axis}

    @classmethod
    def from_config(cls, config):
        return cls(**config)


def grid_error(w: np.ndarray, bits: int, shift: int) -> float:
    """Mean squared error of quantized_bits(bits, -shift) on w (half to even, two's complement clip)."""
    w = np.asarray(w, np.float64)
    scale = 2.0 ** (shift + bits - 1)
    n = 2 ** (bits - 1)
    q = np.clip(np.round(w * scale), -n, n - 1) / scale
    return float(np.mean((q - w) ** 2))


def peak_shift(w: np.ndarray, bits: int | None = None) -> int | None:
    """The shift putting w's peak in (0.5, 1] (nothing clips but the top level); None if w == 0."""
    peak = float(np.max(np.abs(w)))
    if not math.isfinite(peak):
        raise ValueError("non-finite weights: training diverged")
    return -int(math.ceil(math.log2(peak))) if peak > 0 else None


def best_channel_shift(w: np.ndarray, bits: int, span: int = 10) -> int | None:
    """The shift whose grid gives w the least error (clip point traded against step); None if w == 0."""
    base = peak_shift(w)
    if base is None:
        return None
    return min(range(base - 1, base + span), key=lambda s: grid_error(w, bits, s))


def channel_shifts(kernel: np.ndarray, bits: int, axis: int = -1, max_span: int = MAX_SPAN,
                   best_shift=None) -> list[int]:
    """One MSE-best power-of-two shift per output channel (channels on `axis`), spread <= max_span.

    best_shift(row, bits) -> shift or None picks one channel's shift (default best_channel_shift,
    the quantized_bits grid; the 1-bit sign grid passes its own). An all-zero channel takes the
    coarsest shift of the layer (any grid holds zeros; this one adds no width)."""
    k = np.moveaxis(np.asarray(kernel, np.float64), axis, 0).reshape(kernel.shape[axis], -1)
    best = [(best_shift or best_channel_shift)(row, bits) for row in k]
    known = [s for s in best if s is not None]
    lo = min(known) if known else 0
    return [lo if s is None else min(s, lo + max_span) for s in best]
