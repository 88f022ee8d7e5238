"""Per-output-channel power-of-two shifts recovered from a MAC layer's weight columns.

A kernel trained with per-channel power-of-two scales (qat/quantizers/channel_po2.py) reaches the
hls4ml graph as one plain, wider weight type: column c holds w'_c * 2**k_c (k_c trailing zero
bits). The graph, the golden model and hls4ml multiply by those wide weights. The RTL instead
stores w'_c (the trained bit width) and shifts each output's sum once:

    y_c = out( (sum_i x_i * w'_ic) << k_c  +  acc(bias_c) )

which equals out(acc(bias_c) + sum_i x_i * w_ic) bit for bit as long as every product enters
the accumulator exactly (no product bits dropped) and the accumulator wraps: multiplying by 2**k
commutes with the modulo-2**W sum. With per-product rounding (paper A's narrow accumulators) it
would not, so such layers keep the wide weights.

Applied only when it narrows the ROM word, so a layer without per-channel scales is generated
exactly as before. One exception: a sign kernel (every code -1, 0 or +1, as binary/ternary kernels
rewritten by hw.convert.rewrite with one common gain 2**-k are: QKeras's grids have integer >= 0, so
+-2**-2 is codes +-1 of a 3-bit fixed<3,1>) is narrowed to 2-bit codes with no shifts at all: the raw
codes, their fraction bits and so every product are unchanged, only the ROM word is narrower.
A binary kernel (every narrow code -1 or +1, no zero) goes one bit further in kws_dense's ROM: its
sign bits, one per weight (`binary`, `sign_bits`; kws_mac_chain W_SIGN rebuilds the +-1 code).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from qat.fixed import FixedType


@dataclass(frozen=True)
class ChannelShifts:
    weights: np.ndarray  # (n_in, n_out) narrow raw codes: column c is the graph's column >> shifts[c]
    w_type: FixedType  # narrow width; same fraction bits as the graph's weight type (raw units unchanged)
    shifts: tuple[int, ...]  # k_c per output channel

    @property
    def shift_width(self) -> int:
        return max(1, max(self.shifts).bit_length())

    @property
    def binary(self) -> bool:
        """Every narrow code is -1 or +1: one sign bit per weight holds the kernel."""
        return bool(np.all(np.abs(self.weights) == 1))

    def sign_bits(self) -> np.ndarray:
        """The kernel as kws_mac_chain's W_SIGN words: 1 for -1, 0 for +1 (binary kernels only)."""
        if not self.binary:
            raise ValueError("sign_bits: the kernel has codes other than -1 and +1")
        return sign_bit_words(self.weights)


def sign_bit_words(codes: np.ndarray) -> np.ndarray:
    """+-1 codes as the stored sign bits: 1 for -1, 0 for +1 (rebuilt as the 2-bit code {b, 1})."""
    return (np.asarray(codes) < 0).astype(np.int64)


def _signed_width(lo: int, hi: int) -> int:
    """Two's complement bits holding [lo, hi] (at least 2: kws_dense multiplies signed weights)."""
    need = max(-lo if lo < 0 else 0, hi + 1 if hi >= 0 else 0, 1)
    return max(2, (need - 1).bit_length() + 1)


def trailing_zeros(column: np.ndarray) -> int:
    """Largest k with every code of the column divisible by 2**k (0 for an all-zero column)."""
    nz = np.asarray(column, np.int64)
    nz = nz[nz != 0]
    if nz.size == 0:
        return 0
    lowest = np.bitwise_and(nz, -nz)  # the lowest set bit of each code
    return int(np.log2(lowest.min()))


def factor_channel_shifts(weights: np.ndarray, w_type: FixedType, prod_shift: int) -> ChannelShifts | None:
    """The narrow weights and shifts, or None when it would not be exact (prod_shift > 0: products
    are rounded into the accumulator one by one) or would not narrow the weights. Sign kernels
    (codes in {-1, 0, 1}) are narrowed without shifts whatever prod_shift, and binary ones (+-1)
    are returned even at 2 bits: kws_dense stores their sign bits (see the module docstring)."""
    w = np.asarray(weights, np.int64)
    sign_kernel = bool(np.all(np.abs(w) <= 1))
    if prod_shift > 0 and not sign_kernel:
        return None
    shifts = tuple(trailing_zeros(w[:, c]) for c in range(w.shape[1])) if prod_shift <= 0 else (0,) * w.shape[1]
    if not any(shifts) and not sign_kernel:
        return None
    narrow = w >> np.asarray(shifts, np.int64)[None, :]  # exact: the shifted-out bits are zero
    width = _signed_width(int(narrow.min()), int(narrow.max()))
    factored = ChannelShifts(narrow, FixedType(width, width - w_type.frac, True), shifts)
    if width >= w_type.width and not factored.binary:  # (+-1 codes narrow to sign bits)
        return None
    return factored
