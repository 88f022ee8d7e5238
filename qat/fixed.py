"""The one fixed-point type of the project: exact ``ap_fixed<W, I, Q, O>`` semantics on numpy int64.

Training (paper A's transient formats), the bit-accurate numpy model, the Verilog emitters and the
testbenches all describe numbers with :class:`FixedType` and convert between formats with
:meth:`FixedType.quantize` / :meth:`FixedType.requantize`, so rounding and overflow are defined once.
It sits on the bottom floor (qat/) so that every floor above can import it.

Conventions (identical to Xilinx/hls4ml ``ap_fixed``):

* ``width`` W is the total number of bits, ``integer`` I the number of bits left of the binary
  point *including the sign bit* for signed types; ``frac = W - I`` may be negative or exceed W.
* A value is stored as a *raw* integer ``r`` meaning ``r * 2**-frac``.
  Signed raw range is ``[-2**(W-1), 2**(W-1) - 1]``, unsigned ``[0, 2**W - 1]``.
* Rounding (``ap_q_mode``) applies when bits below the LSB are dropped:
  ``TRN`` floor, ``TRN_ZERO`` toward zero, ``RND`` ties toward +inf (half up),
  ``RND_ZERO`` ties toward zero, ``RND_MIN_INF`` ties toward -inf, ``RND_INF`` ties away from
  zero, ``RND_CONV`` ties to even (what QKeras's ``tf.round`` does).
* Overflow (``ap_o_mode``) applies to the rounded value: ``WRAP`` two's complement (modulo 2**W),
  ``SAT`` clamp to [min, max], ``SAT_ZERO`` out-of-range -> 0, ``SAT_SYM`` clamp to
  [-max, max] (signed: the most negative code is never produced, as in ap_fixed).
  ``WRAP_SM`` and non-zero saturation bits (the N template parameter) are not supported.

Limits: raw codes are numpy ``int64``. Types needing more than 63 bits (signed W > 63, unsigned
W > 62) raise :class:`FixedRangeError`. Any int64 input to ``requantize`` and any finite float to
``quantize`` is handled exactly (rare huge cases fall back to Python integers).
"""

from __future__ import annotations

import re
from dataclasses import dataclass, replace

import numpy as np

ROUNDING_MODES = ("TRN", "TRN_ZERO", "RND", "RND_ZERO", "RND_INF", "RND_MIN_INF", "RND_CONV")
OVERFLOW_MODES = ("WRAP", "SAT", "SAT_ZERO", "SAT_SYM")

# Raw codes are int64; a type may use at most 63 bits of it (sign included, so ufixed <= 62 bits)
# so that rounding up by one LSB never leaves int64.
MAX_WIDTH = 63


class FixedRangeError(OverflowError):
    """A value or type does not fit the int64 arithmetic this module uses."""


@dataclass(frozen=True)
class FixedType:
    """Immutable ``ap_fixed<width, integer, rounding, overflow>`` (or ``ap_ufixed`` if not signed)."""

    width: int
    integer: int
    signed: bool = True
    rounding: str = "TRN"
    overflow: str = "WRAP"

    def __post_init__(self):
        rounding = _strip_prefix(str(self.rounding))
        overflow = _strip_prefix(str(self.overflow))
        object.__setattr__(self, "rounding", rounding)
        object.__setattr__(self, "overflow", overflow)
        object.__setattr__(self, "width", int(self.width))
        object.__setattr__(self, "integer", int(self.integer))
        object.__setattr__(self, "signed", bool(self.signed))
        if self.width < 1:
            raise ValueError(f"FixedType width must be >= 1, got {self.width}")
        if rounding not in ROUNDING_MODES:
            raise ValueError(f"unsupported rounding mode {rounding!r}; use one of {ROUNDING_MODES}")
        if overflow not in OVERFLOW_MODES:
            raise ValueError(f"unsupported overflow mode {overflow!r}; use one of {OVERFLOW_MODES}")

    # ----- derived properties -------------------------------------------------------------
    @property
    def frac(self) -> int:
        """Number of fraction bits (``width - integer``); the LSB weighs ``2**-frac``."""
        return self.width - self.integer

    @property
    def min_raw(self) -> int:
        """Smallest raw code the type can hold (SAT_SYM excludes the most negative code)."""
        if not self.signed:
            return 0
        low = -(1 << (self.width - 1))
        return low + 1 if self.overflow == "SAT_SYM" else low

    @property
    def max_raw(self) -> int:
        return (1 << (self.width - self.signed)) - 1

    @property
    def lsb(self) -> float:
        return 2.0 ** -self.frac

    @property
    def min(self) -> float:
        return self.min_raw * self.lsb

    @property
    def max(self) -> float:
        return self.max_raw * self.lsb

    def with_(self, **changes) -> "FixedType":
        """A copy with some fields changed, e.g. ``t.with_(rounding='RND_CONV', overflow='SAT')``."""
        return replace(self, **changes)

    # ----- text forms ---------------------------------------------------------------------
    def to_hls(self) -> str:
        """hls4ml config string, e.g. ``fixed<8,3,RND_CONV,SAT>`` (modes omitted when TRN, WRAP)."""
        name = "fixed" if self.signed else "ufixed"
        if self.rounding == "TRN" and self.overflow == "WRAP":
            return f"{name}<{self.width},{self.integer}>"
        return f"{name}<{self.width},{self.integer},{self.rounding},{self.overflow}>"

    def to_ap(self) -> str:
        """C++ type, e.g. ``ap_fixed<8,3,AP_RND_CONV,AP_SAT>``."""
        name = "ap_fixed" if self.signed else "ap_ufixed"
        if self.rounding == "TRN" and self.overflow == "WRAP":
            return f"{name}<{self.width},{self.integer}>"
        return f"{name}<{self.width},{self.integer},AP_{self.rounding},AP_{self.overflow}>"

    def __str__(self) -> str:
        return self.to_hls()

    def kif(self) -> tuple[int, int, int]:
        """da4ml / HGQ convention: (keep_negative, integer bits without the sign, fraction bits)."""
        return int(self.signed), self.integer - int(self.signed), self.frac

    @classmethod
    def parse(cls, text: str) -> "FixedType":
        """Parse ``fixed<8,3,RND_CONV,SAT>``, ``ufixed<8,0>``, ``ap_fixed<16,6,AP_RND,AP_SAT,0>``,
        ``int<8>``, ``uint<4>``, ``ap_int<8>`` (integers are fixed types with ``frac = 0``)."""
        m = re.fullmatch(r"\s*(?:ap_)?(u?)(fixed|int)\s*<([^>]*)>\s*", text)
        if not m:
            raise ValueError(f"cannot parse fixed-point type {text!r}")
        unsigned, kind, args = m.group(1) == "u", m.group(2), [a.strip() for a in m.group(3).split(",")]
        if kind == "int":
            if len(args) != 1:
                raise ValueError(f"integer type takes one parameter: {text!r}")
            return cls(int(args[0]), int(args[0]), not unsigned)
        if not 2 <= len(args) <= 5:
            raise ValueError(f"fixed type takes 2 to 5 parameters: {text!r}")
        if len(args) == 5 and int(args[4]) != 0:
            raise ValueError(f"saturation bits (N={args[4]}) are not supported: {text!r}")
        rounding = args[2] if len(args) > 2 else "TRN"
        overflow = args[3] if len(args) > 3 else "WRAP"
        return cls(int(args[0]), int(args[1]), not unsigned, rounding, overflow)

    @classmethod
    def from_hls4ml(cls, precision) -> "FixedType":
        """From an hls4ml ``FixedPrecisionType`` / ``IntegerPrecisionType`` (or a ``NamedType``
        wrapping one). Xnor, exponent and float types raise ``ValueError``."""
        precision = getattr(precision, "precision", precision)  # NamedType -> PrecisionType
        kind = type(precision).__name__
        # backends subclass the types (APFixedPrecisionType, APIntegerPrecisionType, ...)
        kinds = {cls.__name__ for cls in type(precision).__mro__}
        if "IntegerPrecisionType" in kinds:
            return cls(precision.width, precision.width, precision.signed)
        if "FixedPrecisionType" in kinds:
            if precision.saturation_bits:
                raise ValueError(f"saturation bits are not supported: {precision}")
            return cls(
                precision.width,
                precision.integer,
                precision.signed,
                str(precision.rounding_mode),
                str(precision.saturation_mode),
            )
        raise ValueError(f"{kind} ({precision}) is not a fixed-point type")

    # ----- conversions --------------------------------------------------------------------
    def quantize(self, x) -> np.ndarray:
        """Real values -> raw int64 codes of this type (this type's rounding and overflow).

        Exact for float64 input: scaling by a power of two is exact, and ties are detected on
        the exact remainder. NaN/inf raise ``ValueError``.
        """
        self._check_width()
        y = np.ldexp(np.asarray(x, dtype=np.float64), self.frac)
        if not np.all(np.isfinite(y)):
            raise ValueError("cannot quantize NaN or infinite values")
        floor = np.floor(y)
        rem = y - floor  # exact, in [0, 1)
        if floor.size and np.abs(floor).max() >= _BIG:
            floor = _to_pyint(floor)  # rare: huge values, done exactly in Python ints
        else:
            floor = floor.astype(np.int64)
        return self._overflow(_round(floor, rem > 0.5, rem == 0.5, rem > 0, self.rounding))

    def to_float(self, raw) -> np.ndarray:
        """Raw codes -> float64 values (exact while width <= 53)."""
        return np.ldexp(np.asarray(raw, dtype=np.float64), -self.frac)

    def requantize(self, raw, from_frac: int) -> np.ndarray:
        """Convert raw integers with ``from_frac`` fraction bits (any int64) into this type:
        drop low bits with this type's rounding, then apply its overflow mode.

        This is what assigning a wider ``ap_fixed`` (e.g. an accumulator) to this type does.
        """
        self._check_width()
        raw = np.asarray(raw)
        if raw.dtype.kind not in "iu":
            raise TypeError(f"requantize needs integer raw codes, got dtype {raw.dtype}")
        raw = raw.astype(np.int64)
        shift = int(from_frac) - self.frac
        if shift == 0:
            return self._overflow(raw)
        if shift < 0:
            # Gaining fraction bits is exact; only overflow can happen.
            k = -shift
            if raw.size and (k >= 63 or raw.max() > _I64_MAX >> k or raw.min() < _I64_MIN >> k):
                return self._overflow(_to_pyint(raw) << k)  # rare: exact in Python ints
            return self._overflow(raw << k)
        if shift > 62:
            # Rare: drop more bits than int64 holds; exact in Python ints.
            big = _to_pyint(raw)
            floor = big // (1 << shift)
            rem = big - floor * (1 << shift)
            half = 1 << (shift - 1)
            return self._overflow(_round(floor.astype(np.int64), rem > half, rem == half, rem != 0, self.rounding))
        floor = raw >> shift  # arithmetic shift = floor division by 2**shift
        rem = raw & ((1 << shift) - 1)  # dropped bits, in [0, 2**shift)
        half = 1 << (shift - 1)
        return self._overflow(_round(floor, rem > half, rem == half, rem != 0, self.rounding))

    def fits(self, raw) -> bool:
        """True if every raw code lies in [min_raw, max_raw]."""
        raw = np.asarray(raw)
        return bool(raw.size == 0 or (raw.min() >= self.min_raw and raw.max() <= self.max_raw))

    # ----- internals ----------------------------------------------------------------------
    def _check_width(self):
        if self.width + (not self.signed) > MAX_WIDTH:
            raise FixedRangeError(
                f"{self}: raw codes wider than {MAX_WIDTH} bits (incl. sign) do not fit int64 arithmetic"
            )

    def _overflow(self, raw: np.ndarray) -> np.ndarray:
        """Apply the overflow mode to exact rounded integers (int64 or Python-int object array)."""
        lo, hi = self.min_raw, self.max_raw
        if self.overflow in ("SAT", "SAT_SYM"):
            return np.clip(raw, lo, hi).astype(np.int64)
        if self.overflow == "SAT_ZERO":
            return np.where((raw < lo) | (raw > hi), 0, raw).astype(np.int64)
        # WRAP: keep the low `width` bits; signed types reinterpret them as two's complement.
        low_bits = np.bitwise_and(raw, (1 << self.width) - 1).astype(np.int64)
        if self.signed:
            unused = 64 - self.width
            # numpy's int64 shifts drop bits silently: shift the sign bit to bit 63, then back.
            low_bits = (low_bits << unused) >> unused
        return low_bits


_I64_MAX = np.iinfo(np.int64).max
_I64_MIN = np.iinfo(np.int64).min
_BIG = float(1 << 62)  # scaled floats beyond this take the exact Python-int path


def _to_pyint(a) -> np.ndarray:
    """Exact Python-int object array from an int64 or integral-float array."""
    a = np.asarray(a)
    return np.array([int(v) for v in a.ravel()], dtype=object).reshape(a.shape)


def _strip_prefix(mode: str) -> str:
    mode = mode.strip().upper()
    return mode[3:] if mode.startswith("AP_") else mode


def _round(floor, above_half, tie, inexact, mode):
    """Pick floor or floor+1 given the dropped remainder's relation to half an LSB.

    ``floor`` is the truncated (toward -inf) result; the sign of the exact value equals the sign
    of ``floor`` (floor < 0 <=> value < 0).
    """
    floor = np.asarray(floor)  # int64, or object (Python ints) on the rare huge-value path
    negative = floor < 0
    if mode == "TRN":
        up = np.zeros(floor.shape, bool)
    elif mode == "TRN_ZERO":
        up = negative & inexact
    elif mode == "RND":
        up = above_half | tie
    elif mode == "RND_ZERO":
        up = above_half | (tie & negative)
    elif mode == "RND_MIN_INF":
        up = above_half
    elif mode == "RND_INF":
        up = above_half | (tie & ~negative)
    elif mode == "RND_CONV":
        up = above_half | (tie & (np.bitwise_and(floor, 1) == 1))
    else:  # pragma: no cover - guarded by FixedType.__post_init__
        raise ValueError(mode)
    return floor + up.astype(np.int64)
