"""Power-of-two fixed-point grids shared by the quantizers and the exporter.

QKeras `quantized_bits(bits, integer, alpha=1)` is the grid {k * 2**(integer-bits+1)} clipped to
[-2**integer, 2**integer - step]; rounding is `tf.round` (half to even, ap_fixed RND_CONV).
Everything here keeps to that convention so a trained value maps onto exactly one QKeras format.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import tensorflow as tf

MAX_FRAC_BITS = 40  # float32 has 24 mantissa bits; any value on a finer grid is not fixed-point


def check_bits(bits, name: str = "bits", minimum: int = 1, maximum: int = 32) -> int:
    """Validate a bit count before any graph is built (bad configs must fail before training)."""
    if isinstance(bits, bool) or not isinstance(bits, (int, np.integer)):
        raise ValueError(f"{name}={bits!r}: must be an integer number of bits")
    if not minimum <= bits <= maximum:
        raise ValueError(f"{name}={bits}: must be from {minimum} to {maximum}; "
                         f"use {minimum} bits or more")
    return int(bits)


def check_int(value, name: str) -> int:
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)):
        raise ValueError(f"{name}={value!r}: must be an integer (a power-of-two exponent)")
    return int(value)


def ste_round(x):
    """Round half to even (like QKeras/tf.round) forward, identity gradient backward."""
    return x + tf.stop_gradient(tf.round(x) - x)


def ste_ceil(x):
    return x + tf.stop_gradient(tf.math.ceil(x) - x)


def check_channel_exponents(values, axis: int, name: str, what: str) -> tuple[list[int], int]:
    """(one power-of-two exponent per output channel, the channel axis) of a per-channel quantizer."""
    exponents = [check_int(v, f"{name}.{what}[]") for v in np.asarray(values).ravel().tolist()]
    if not exponents:
        raise ValueError(f"{name}: {what} must name one exponent per output channel")
    if axis not in (-1, -2):
        raise ValueError(f"{name}.axis={axis!r}: use -1 (Dense/Conv) or -2 (depthwise)")
    return exponents, int(axis)


@dataclass(frozen=True)
class GridFit:
    """The smallest QKeras quantized_bits(bits, integer, alpha=1) holding a set of values exactly."""
    bits: int
    integer: int  # QKeras convention: sign bit excluded, >= 0 (QKeras cannot take negative)
    frac: int  # bits - integer - 1: values * 2**frac are integers

    @property
    def step(self) -> float:
        return 2.0 ** -self.frac

    def qkeras_config(self) -> dict:
        return {"bits": self.bits, "integer": self.integer, "alpha": 1}

    def quantizer(self):
        from qkeras import quantized_bits
        return quantized_bits(self.bits, self.integer, alpha=1)


def fraction_bits_of(values: np.ndarray) -> int:
    """Smallest f (may be negative) such that every value * 2**f is an integer."""
    v = np.asarray(values, dtype=np.float64).ravel()
    if not np.all(np.isfinite(v)):
        raise ValueError("non-finite values cannot be put on a fixed-point grid (training diverged?)")
    v = v[v != 0]
    if v.size == 0:
        return 0
    # Start coarse (largest power of two dividing all values) and refine until exact.
    for f in range(-int(math.floor(math.log2(np.max(np.abs(v))))) - 1, MAX_FRAC_BITS + 1):
        scaled = v * 2.0 ** f
        if np.all(scaled == np.round(scaled)):
            return f
    raise ValueError(f"values are not on any power-of-two grid up to 2**-{MAX_FRAC_BITS}: "
                     "they were not produced by a fixed-point quantizer")


def fit_signed_grid(values: np.ndarray) -> GridFit:
    """Choose quantized_bits(bits, integer>=0, alpha=1) that represents `values` exactly."""
    v = np.asarray(values, dtype=np.float64)
    frac = fraction_bits_of(v)
    ints = np.round(v * 2.0 ** frac) if v.size else np.zeros(1)
    # two's complement with `frac` fraction bits: need -2**n <= k <= 2**n - 1, integer = n - frac
    need = max(int(-ints.min()) if ints.min() < 0 else 0, int(ints.max()) + 1 if ints.max() >= 0 else 0, 1)
    n = int(math.ceil(math.log2(need)))
    integer = max(0, n - frac)
    bits = integer + frac + 1
    if bits < 2:  # quantized_bits with 1 bit is a sign function, not a grid: add fraction bits
        frac += 2 - bits
        bits = 2
    return GridFit(bits=bits, integer=integer, frac=frac)
