"""Verilog parameters of kws_requant.v for a conversion between two FixedTypes (from qat/fixed.py)."""

from __future__ import annotations

from qat.fixed import OVERFLOW_MODES, ROUNDING_MODES, FixedType

# The numbering kws_requant.v decodes; order is fixed by the Verilog, not by qat/fixed.py.
RND_CODE = {"TRN": 0, "TRN_ZERO": 1, "RND": 2, "RND_ZERO": 3, "RND_INF": 4, "RND_MIN_INF": 5, "RND_CONV": 6}
OVF_CODE = {"WRAP": 0, "SAT": 1, "SAT_ZERO": 2, "SAT_SYM": 3}
assert set(RND_CODE) == set(ROUNDING_MODES) and set(OVF_CODE) == set(OVERFLOW_MODES)


def requant_params(src_frac: int, dst: FixedType) -> dict:
    """SHIFT/OUT_*/RND/OVF for converting raws with `src_frac` fraction bits into `dst`."""
    return {
        "SHIFT": src_frac - dst.frac,
        "OUT_W": dst.width,
        "OUT_SIGNED": int(dst.signed),
        "RND": RND_CODE[dst.rounding],
        "OVF": OVF_CODE[dst.overflow],
    }


def verilog_const(value: int, width: int) -> str:
    """Two's complement bit pattern of `value` as a sized Verilog hex literal."""
    return f"{width}'h{value & ((1 << width) - 1):x}"


def pack(raws, width: int) -> int:
    """Pack raw codes into one integer, element 0 in the least significant bits (tdata layout)."""
    word = 0
    mask = (1 << width) - 1
    for i, r in enumerate(raws):
        word |= (int(r) & mask) << (i * width)
    return word


def unpack(word: int, width: int, count: int, signed: bool) -> list[int]:
    """Inverse of `pack`."""
    mask = (1 << width) - 1
    out = []
    for i in range(count):
        v = (word >> (i * width)) & mask
        if signed and v >> (width - 1):
            v -= 1 << width
        out.append(v)
    return out
