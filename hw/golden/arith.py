"""Exact integer building blocks shared by the kernels: range-planned requantization, multiply-
accumulate.

Speed model. Tensors between layers are raw integer codes held in float arrays: integers are exact
in float32 below 2**24 and in float64 below 2**53, and BLAS matmul / in-place float ufuncs are far
faster than numpy int64 arithmetic. Each kernel is *planned* once, when the GoldenModel is built:
it knows its input type and a bound on its input raw codes, derives a bound on every value it
computes (partial sums included), and picks per step the narrowest exact representation
(``exact_dtype``): float32, float64, or int64 with ``FixedType.requantize`` as the fallback.

A conversion whose bound shows it cannot round or overflow is skipped entirely, so a layer costs
one requantize pass. ``Requant`` is tested against ``FixedType.requantize`` (the one definition of
rounding and overflow) for every mode and every representation, ties and overflow included
(tests/test_hw_golden_fast.py); the end-to-end equality tests prove the kernels.
"""

from __future__ import annotations

import math
from fractions import Fraction

import numpy as np

from hw.errors import UnsupportedLayerError
from hw.golden import loops
from qat.fixed import FixedRangeError, FixedType

# Bounds below which a float type is used: one bit of margin under 2**24 / 2**53, so that the
# "+ 0.5" of half-up rounding and the WRAP reduction stay exact too.
FLOAT32_LIMIT = 2**23
FLOAT64_LIMIT = 2**52


def exact_dtype(bound: int):
    """Narrowest array dtype in which integers up to ``bound`` in magnitude (and sums up to it) are exact."""
    if bound < FLOAT32_LIMIT:
        return np.float32
    if bound < FLOAT64_LIMIT:
        return np.float64
    return np.int64


class Range:
    """Closed interval [lo, hi] of raw integer codes (Python ints, no overflow)."""

    __slots__ = ("lo", "hi")

    def __init__(self, lo: int, hi: int):
        self.lo, self.hi = int(lo), int(hi)

    @classmethod
    def of_type(cls, t: FixedType) -> "Range":
        return cls(t.min_raw, t.max_raw)

    @property
    def absmax(self) -> int:
        return max(abs(self.lo), abs(self.hi))

    def with_zero(self) -> "Range":
        """Zero padding adds 0 to the values a window can see."""
        return Range(min(self.lo, 0), max(self.hi, 0))

    def __repr__(self) -> str:
        return f"Range({self.lo}, {self.hi})"


def _round_exact(values: list[int], shift: int, mode: str) -> list[int]:
    """Round Python ints with ``shift`` fraction bits to integers with FixedType's rounding rule."""
    if shift <= 0:
        return [v << -shift for v in values]
    if any(abs(v) >= 2**62 for v in values):
        raise FixedRangeError(f"raw values up to {max(map(abs, values))} exceed int64 arithmetic")
    t = FixedType(63, 63, True, mode, "WRAP")  # frac 0: only its rounding acts on these bounds
    return [int(r) for r in t.requantize(np.asarray(values, dtype=np.int64), shift)]


class Requant:
    """Planned conversion of raw codes with ``from_frac`` fraction bits lying in ``in_range`` into
    type ``t`` (``t``'s rounding, then ``t``'s overflow), optionally after a ReLU.

    Equals ``t.requantize(np.maximum(x, 0) if relu else x, from_frac)``. ``out_range`` bounds the
    result. ``identity`` is True when the conversion provably changes nothing (then ``__call__``
    returns its input).
    """

    def __init__(self, t: FixedType, from_frac: int, in_range: Range, relu: bool = False):
        self.t, self.from_frac = t, int(from_frac)
        self.shift = self.from_frac - t.frac  # > 0: drop bits (round); < 0: append zero bits
        self.relu = relu and in_range.lo < 0
        lo, hi = (max(in_range.lo, 0), max(in_range.hi, 0)) if relu else (in_range.lo, in_range.hi)
        rlo, rhi = _round_exact([lo, hi], self.shift, t.rounding)  # rounding is monotone
        self.overflows = rlo < t.min_raw or rhi > t.max_raw
        if not self.overflows:
            self.out_range = Range(rlo, rhi)
        elif t.overflow in ("SAT", "SAT_SYM"):
            self.out_range = Range(min(max(rlo, t.min_raw), t.max_raw), max(min(rhi, t.max_raw), t.min_raw))
        elif t.overflow == "SAT_ZERO":
            self.out_range = Range(min(max(rlo, t.min_raw), 0), max(min(rhi, t.max_raw), 0))
        else:  # WRAP
            self.out_range = Range.of_type(t)
        # A ReLU in front of an unsigned saturating type is the type's own lower clip:
        # rounding is monotone and maps 0 to 0, so round(max(x, 0)) clipped to [0, M] == round(x) clipped.
        if self.relu and self.overflows and t.overflow in ("SAT", "SAT_SYM") and t.min_raw == 0:
            self.relu = False
        self.identity = self.shift == 0 and not self.overflows and not self.relu
        scaled = max(abs(lo), abs(hi)) * (2 ** max(-self.shift, 0))
        wrap_room = (1 << t.width) if self.overflows and t.overflow == "WRAP" else 0
        width = t.width + (not t.signed)
        self.dtype = exact_dtype(max(in_range.absmax, scaled) + wrap_room) if width <= 53 else np.int64
        self.rows_loop = False
        if self.dtype is not np.int64:  # arguments of the compiled pass (same constants as the numpy steps)
            f = self.dtype
            self.loop_args = (f(2.0**-self.shift), loops.ROUNDING.index(t.rounding) if self.shift > 0 else -1,
                               loops.OVERFLOW.index(t.overflow) if self.overflows else -1, self.relu,
                               f(t.min_raw), f(t.max_raw), f(1 << t.width), f(0.5))
            self.rows_loop = loops.AVAILABLE and loops.common_modes(*self.loop_args[1:3])

    def rows(self, x2d, b, out2d=None):
        """Compiled ``self(x2d + b)`` into ``out2d``, or into ``x2d`` itself (only when ``self.rows_loop``)."""
        if out2d is None:
            return loops.requant_rows_in_place(x2d, b, *self.loop_args)
        return loops.requant_rows(x2d, b, out2d, *self.loop_args)

    def __call__(self, x: np.ndarray, inplace: bool = True) -> np.ndarray:
        """Convert ``x`` (any integer-valued array within the planned range); may overwrite ``x``
        unless ``inplace=False``."""
        if self.identity:
            return x
        t = self.t
        if self.dtype is np.int64:
            raw = x if x.dtype == np.int64 else x.astype(np.int64)
            if self.relu:
                raw = np.maximum(raw, 0)
            return t.requantize(raw, self.from_frac)
        if loops.AVAILABLE and x.ndim:  # the same steps, one compiled pass
            out = np.empty(x.shape, self.dtype)  # not in place: LLVM vectorises the pass for distinct arrays only
            x = np.ascontiguousarray(x)
            if self.rows_loop:
                n = x.shape[-1]
                self.rows(x.reshape(-1, n), np.zeros(n, x.dtype), out.reshape(-1, n))
                return out
            return loops.requant_float(x, out, *self.loop_args)
        if x.dtype != self.dtype:
            x = x.astype(self.dtype)
        elif not inplace:
            x = x.copy()
        if self.relu:
            np.maximum(x, 0, out=x)
        if self.shift != 0:
            np.multiply(x, self.dtype(2.0 ** -self.shift), out=x)  # exact: power-of-two scale of an integer
        if self.shift > 0:
            _round_float(x, t.rounding)
        if self.overflows:
            lo, hi = self.dtype(t.min_raw), self.dtype(t.max_raw)
            if t.overflow in ("SAT", "SAT_SYM"):
                np.clip(x, lo, hi, out=x)
            elif t.overflow == "SAT_ZERO":
                x[(x < lo) | (x > hi)] = 0
            else:  # WRAP: x - 2**W * floor((x - min) / 2**W), every step exact within the bound
                m = self.dtype(1 << t.width)
                x -= np.floor((x - lo) / m) * m
        return x


def _round_float(y: np.ndarray, mode: str) -> None:
    """Round float64 values (integers scaled by 2**-shift, so every step is exact) in place."""
    if mode == "RND_CONV":
        np.rint(y, out=y)  # ties to even
    elif mode == "TRN":
        np.floor(y, out=y)
    elif mode == "TRN_ZERO":
        np.trunc(y, out=y)
    elif mode == "RND":
        y += 0.5
        np.floor(y, out=y)
    elif mode == "RND_MIN_INF":
        y -= 0.5
        np.ceil(y, out=y)
    elif mode == "RND_ZERO":  # ties toward zero: sign(y) * ceil(|y| - 0.5)
        s = np.sign(y)
        np.abs(y, out=y)
        y -= 0.5
        np.ceil(y, out=y)
        y *= s
    elif mode == "RND_INF":  # ties away from zero: sign(y) * floor(|y| + 0.5)
        s = np.sign(y)
        np.abs(y, out=y)
        y += 0.5
        np.floor(y, out=y)
        y *= s
    else:  # pragma: no cover - FixedType validates modes
        raise ValueError(mode)


class Mac:
    """hls4ml's multiply-accumulate, planned: every product (exact, frac = fx + fw) is converted to
    accum_t, the bias is converted to accum_t, and they are summed in accum_t; the sum is then
    converted to the layer's result type. With a WRAP accumulator the sum wraps modulo 2**W
    regardless of order, so we sum exactly and wrap once.

    An accumulator with fewer fraction bits than the products (paper A's narrow accumulators)
    rounds every product on its own. Products x*w for one weight value v depend on x only, so the
    layer is evaluated as sum_v contract(round(x*v), [w == v]): one contraction per distinct
    weight value (<= 16 for 4-bit weights), any index pattern, still exact.

    ``w_raw`` has shape (n_terms, n_out): each output column is a sum over n_terms products.
    ``contract(x, w)`` computes those sums with the layer's index pattern (matmul, taps...).
    """

    def __init__(self, x_t: FixedType, in_range: Range, w_raw, w_t: FixedType, b_raw, b_t, acc_t: FixedType,
                 out_t: FixedType, layer_name: str = ""):
        prod_frac = x_t.frac + w_t.frac
        w = np.asarray(w_raw, dtype=np.int64)
        w = w.reshape(w.shape[0], -1)
        xr = in_range.with_zero()
        self.acc_t, self.prod_frac = acc_t, prod_frac
        self.drop = max(prod_frac - acc_t.frac, 0)  # product bits each product loses (rounded one by one)
        if self.drop:
            # rounded products: |round(p / 2**drop)| <= |p| / 2**drop + 1, so partial sums of n terms
            # stay within partial / 2**drop + n; saturation per product is the accumulator's own clip
            scale, slack = Fraction(1, 2**self.drop), w.shape[0]
        else:
            scale, slack = 2 ** (acc_t.frac - prod_frac), 0
        pos = np.where(w > 0, w, 0).astype(object).sum(axis=0)  # Python ints: exact bounds
        neg = np.where(w < 0, w, 0).astype(object).sum(axis=0)
        s_lo = [math.floor((int(p) * xr.lo + int(n) * xr.hi) * scale) - slack for p, n in zip(pos, neg)]
        s_hi = [math.ceil((int(p) * xr.hi + int(n) * xr.lo) * scale) + slack for p, n in zip(pos, neg)]
        # any partial sum, in any order, is bounded by sum |w| * max |x| (products; then accumulator units)
        partial_prod = max(((int(p) - int(n)) * xr.absmax for p, n in zip(pos, neg)), default=0)
        partial = math.ceil(partial_prod * scale) + slack
        if partial_prod >= 2**62:
            raise UnsupportedLayerError(layer_name, None, f"sum of products of {x_t} and {w_t} may exceed int64")
        if b_raw is not None:
            b_acc = acc_t.requantize(np.asarray(b_raw, dtype=np.int64), b_t.frac).reshape(-1)
            b_acc = np.broadcast_to(b_acc, (len(s_lo),)) if b_acc.size == 1 else b_acc
        else:
            b_acc = np.zeros(len(s_lo), dtype=np.int64)
        pre = Range(min(lo + int(b) for lo, b in zip(s_lo, b_acc)), max(hi + int(b) for hi, b in zip(s_hi, b_acc)))
        if max(partial, pre.absmax) >= 2**62:
            raise UnsupportedLayerError(layer_name, None, f"accumulator values of {acc_t} may exceed int64")
        if acc_t.overflow != "WRAP":
            # A saturating accumulator saturates per addition, so the result depends on hls4ml's
            # summation order, unless no partial sum (bias first, any order) can reach its limits.
            bias_max = int(np.abs(b_acc).max()) if len(b_acc) else 0
            if partial + bias_max > min(-acc_t.min_raw, acc_t.max_raw):
                raise UnsupportedLayerError(
                    layer_name, None, f"accumulator {acc_t} saturates per addition and partial sums may reach its limits "
                    "(order-dependent); use a WRAP accumulator or more integer bits")
        self.acc_dtype = exact_dtype(max(partial, pre.absmax))  # contraction, scaling, bias
        if self.drop:
            self.values = [int(v) for v in np.unique(w) if v != 0] or [0]  # [0]: all-zero kernel
            self.dtype = self.acc_dtype
            self.masks = [(w == v).astype(self.dtype) for v in self.values]
            self.w, self.up = None, 0
        else:
            self.up = acc_t.frac - prod_frac
            self.dtype = exact_dtype(partial_prod)
            if self.dtype is np.int64 or self.acc_dtype is np.int64:
                self.dtype = self.acc_dtype = np.int64
            if self.up and exact_dtype(partial) is self.dtype:
                w = w << self.up  # fold the product -> accumulator alignment into the weights (exact)
                self.up = 0
            self.w = w.astype(self.dtype)
        self.wrap = Requant(acc_t, acc_t.frac, pre)  # identity unless the accumulator can wrap
        self.result = Requant(out_t, acc_t.frac, self.wrap.out_range)
        self.out_range = self.result.out_range
        self.has_bias = b_raw is not None and bool(np.any(b_acc))
        self.b = np.ascontiguousarray(np.asarray(b_acc).astype(self.acc_dtype))
        self.then, self.fused = None, False  # see fuse()
        self.direct_result = not self.result.identity and self._one_pass(self.result)

    def _one_pass(self, q: Requant) -> bool:
        """True when ``q.rows(sums, bias)`` is ``q`` of this Mac's accumulator: no per-product
        rounding, no alignment shift, an accumulator that provably cannot wrap, and ``q`` compiled
        in the accumulator's own float dtype."""
        return (loops.AVAILABLE and not self.drop and not self.up and self.wrap.identity
                and self.acc_dtype is not np.int64 and q.dtype is self.acc_dtype and q.rows_loop)

    def fuse(self, then: Requant) -> bool:
        """Plan the Requant ``then`` (the next layer's, e.g. a ReLU activation reading only this
        output) into this Mac's output pass: bias + ``then`` in one compiled pass over the sums.
        Only where that is the same arithmetic: no per-product rounding, no alignment shift, an
        accumulator that provably cannot wrap and a result conversion that is the identity, so
        the unfused path would hand ``then`` exactly ``sums + bias`` in ``then``'s dtype. The
        model switches it on per run (``self.fused``); a trace runs unfused (it records both)."""
        ok = self.result.identity and self._one_pass(then)
        self.then = then if ok else None
        return ok

    def _sum_rounded_products(self, x, contract):
        """sum_v contract(accum_t(x * v), [w == v]): each product converted to accum_t on its own."""
        x = np.asarray(x).astype(np.int64)
        s = None
        for v, mask in zip(self.values, self.masks):
            part = contract(self.acc_t.requantize(x * v, self.prod_frac).astype(self.dtype), mask)
            s = part if s is None else s + part
        return s

    def out_pass(self):
        """The Requant this Mac applies to its sums + bias in one compiled pass (``Requant.rows``),
        or None when its output takes the general steps below: the fused activation, or else the
        result conversion where that is the same arithmetic (see ``fuse``)."""
        if self.fused and self.then is not None:
            return self.then
        return self.result if self.direct_result else None

    def __call__(self, x, contract, contract_out=None):
        """Raw input codes -> raw result codes; ``contract(x, w)`` must return a fresh array.
        ``contract_out(x, w, b, q)``, if given, returns ``q.rows`` of contract(x, w) + b from the
        kernel's own loop (the sums are then never stored)."""
        q = self.out_pass()
        if self.drop:
            s = self._sum_rounded_products(x, contract)
        else:
            x = np.asarray(x)
            if x.dtype != self.dtype:
                x = x.astype(self.dtype)
            if q is not None and contract_out is not None:
                return contract_out(x, self.w, self.b, q)
            s = contract(x, self.w)
        if s.dtype != self.acc_dtype:
            s = s.astype(self.acc_dtype)
        if q is not None:
            s = np.ascontiguousarray(s)
            q.rows(s.reshape(-1, self.b.shape[0]), self.b)  # in place: contract returned a fresh array
            return s
        if self.up:
            if self.acc_dtype is np.int64:
                s <<= self.up
            else:
                s *= self.acc_dtype(2.0**self.up)  # exact: power-of-two scale
        if self.has_bias:
            s += self.b
        return self.result(self.wrap(s))
