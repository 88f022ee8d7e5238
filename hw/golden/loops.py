"""Compiled inner loops (numba) for the kernels numpy cannot express in a few passes.

A depthwise convolution has 9 multiply-adds per output: numpy needs two full passes per filter tap
(18 over the map), BLAS has no shape for it. Compiled, each vector is copied once into a small
zero-padded buffer (L1-sized, columns split by stride phase) and every output row (width x
channels, one contiguous SIMD loop) takes 3 taps per pass (a 3 x 3 filter: all 9 in one pass), the
requantization in the same loop. A loop writes either arrays it does not read or, in place, the
one array it is given: LLVM vectorises only what it can tell apart (a two-array loop called in
place ran ~4x slower).

numba comes with the ``hw`` extra (hls4ml[da] -> da4ml -> numba); without it, or with
``KWS_GOLDEN_NUMBA=0``, ``AVAILABLE`` is False and the kernels use their numpy form (same values,
slower). tests/test_hw_golden_fast.py checks both forms against a plain int64 reference.

Exactness: the loops add integer-valued products in the array's own dtype. The caller (``Mac``)
picked that dtype from a bound on *every* partial sum in *any* order (float32 below 2**23, float64
below 2**52, else int64), so reassociation and fused multiply-add (allowed below) cannot round.
"""

from __future__ import annotations

import os

import numpy as np

AVAILABLE = False
if os.environ.get("KWS_GOLDEN_NUMBA", "1") != "0":
    try:
        import numba

        AVAILABLE = True
    except ImportError:  # pragma: no cover - numba ships with the hw extra
        pass

if AVAILABLE:
    # only reassociation and contraction: integer-valued floats within the planned bound are exact
    # in any order and with or without FMA; no finite-math or reciprocal assumptions
    _options = dict(cache=True, nogil=True, boundscheck=False, fastmath={"reassoc", "contract"})
    _jit = numba.njit(**_options)
    # helpers called once per row: inlined in numba's IR (a call per row made requant_rows ~2x slower)
    _inline = numba.njit(inline="always", **_options)

    @_inline
    def _phase_map(x, b, n_chan, stride, pt, pl, buf):
        """Vector ``b`` of the map ``x`` (batch, rows, width*C) into ``buf``: zero-padded (pt rows on
        top, pl columns on the left) and each row split by column phase: padded column ``p`` at
        slot ``p // stride`` of segment ``p % stride``, so that the columns one tap reads across an
        output row are contiguous. Only what fits is copied (the rest no output reads); the border
        is never written, so it stays zero."""
        seg = buf.shape[1] // stride  # slots * C
        for r in range(min(x.shape[1], buf.shape[0] - pt)):
            src, dst = x[b, r], buf[r + pt]
            for col in range(x.shape[2] // n_chan):
                p = col + pl
                at = (p % stride) * seg + (p // stride) * n_chan
                if at + n_chan <= (p % stride + 1) * seg:
                    _copy(src[col * n_chan:], dst[at:], n_chan)

    @_inline
    def _copy(src, dst, n):
        for t in range(n):
            dst[t] = src[t]

    @_inline
    def _mac3(acc, x0, x1, x2, w0, w1, w2):
        """acc += x0 * w0 + x1 * w1 + x2 * w2 over acc's length: three taps per load/store of acc."""
        for t in range(acc.shape[0]):
            acc[t] += x0[t] * w0[t] + x1[t] * w1[t] + x2[t] * w2[t]

    @_inline
    def _tap_offset(j, sw, seg, n_chan):
        """Where tap column ``j`` of output column 0 lies in a phase-split row (see ``_phase_map``)."""
        return (j % sw) * seg + (j // sw) * n_chan

    @_inline
    def _depthwise_row(buf, w_rows, n_chan, fh, sh, sw, y, acc):
        """acc[x*C + c] = sum_{i,j} padded[y*sh + i, x*sw + j, c] * w_rows[i*taps + j, x*C + c] from
        the phase-split map ``buf`` (see ``_phase_map``); ``w_rows`` holds the tap weights tiled over
        the output width, ``taps`` per filter row (a multiple of TAP_GROUP, zero weights appended)."""
        taps, seg = w_rows.shape[0] // fh, buf.shape[1] // sw
        acc[:] = 0
        for i in range(fh):
            row, k = buf[y * sh + i], i * taps
            for j in range(0, taps, TAP_GROUP):
                _mac3(acc, row[_tap_offset(j, sw, seg, n_chan):], row[_tap_offset(j + 1, sw, seg, n_chan):],
                      row[_tap_offset(j + 2, sw, seg, n_chan):], w_rows[k + j], w_rows[k + j + 1], w_rows[k + j + 2])

    # The common depthwise filter, a 3 x 3 block of taps (3 rows of one TAP_GROUP), is summed in
    # one pass: no partial sums stored, ~20% faster than three passes of _mac3 (and its
    # requantization rides in the same loop).
    @_inline
    def _is_3x3(w_rows, fh):
        return fh == 3 and w_rows.shape[0] == 3 * TAP_GROUP

    @_inline
    def _views_3x3(buf, n_chan, sh, sw, y):
        """The input of each of the 9 taps across output row ``y``, as contiguous views."""
        seg = buf.shape[1] // sw
        o1, o2 = _tap_offset(1, sw, seg, n_chan), _tap_offset(2, sw, seg, n_chan)
        r0, r1, r2 = buf[y * sh], buf[y * sh + 1], buf[y * sh + 2]
        return r0, r0[o1:], r0[o2:], r1, r1[o1:], r1[o2:], r2, r2[o1:], r2[o2:]

    @_inline
    def _sum_3x3(a0, a1, a2, b0, b1, b2, c0, c1, c2, w, t):
        return (a0[t] * w[0, t] + a1[t] * w[1, t] + a2[t] * w[2, t] + b0[t] * w[3, t] + b1[t] * w[4, t]
                + b2[t] * w[5, t] + c0[t] * w[6, t] + c1[t] * w[7, t] + c2[t] * w[8, t])

    @_inline
    def _phase_buffer(x, w_rows, n_chan, fh, sh, sw, out):
        """Zeros of the phase-split padded map that ``_depthwise_row`` reads for ``out``."""
        taps, ow = w_rows.shape[0] // fh, out.shape[2] // n_chan
        slots = ow + (taps - 1) // sw
        return np.zeros(((out.shape[1] - 1) * sh + fh, sw * slots * n_chan), x.dtype)

    @_jit
    def depthwise_sums(x, w_rows, n_chan, fh, sh, sw, pt, pl, out):
        """Depthwise sums of the unpadded map ``x`` (batch, rows, width*C) into ``out`` (batch, oh, ow*C)."""
        buf = _phase_buffer(x, w_rows, n_chan, fh, sh, sw, out)
        for b in range(x.shape[0]):
            _phase_map(x, b, n_chan, sw, pt, pl, buf)
            if _is_3x3(w_rows, fh):  # decided per vector: a branch per row cost the 3 x 3 loop ~20%
                for y in range(out.shape[1]):
                    a0, a1, a2, b0, b1, b2, c0, c1, c2 = _views_3x3(buf, n_chan, sh, sw, y)
                    row = out[b, y]
                    for t in range(row.shape[0]):
                        row[t] = _sum_3x3(a0, a1, a2, b0, b1, b2, c0, c1, c2, w_rows, t)
            else:
                for y in range(out.shape[1]):
                    _depthwise_row(buf, w_rows, n_chan, fh, sh, sw, y, out[b, y])
        return out

    @_jit
    def depthwise_requant(x, w_rows, n_chan, fh, sh, sw, pt, pl, out, bias_row, scale, rounding, overflow, relu,
                          lo, hi, m, half):
        """``requant_rows`` of (depthwise sums + ``bias_row``), one output row at a time while its sums
        are in L1: the sums are never stored. ``bias_row`` is the bias tiled over the output width."""
        buf = _phase_buffer(x, w_rows, n_chan, fh, sh, sw, out)
        acc = np.empty(out.shape[2], dtype=out.dtype)
        for b in range(x.shape[0]):
            _phase_map(x, b, n_chan, sw, pt, pl, buf)
            if _is_3x3(w_rows, fh):
                for y in range(out.shape[1]):
                    a0, a1, a2, b0, b1, b2, c0, c1, c2 = _views_3x3(buf, n_chan, sh, sw, y)
                    row = out[b, y]
                    for t in range(row.shape[0]):
                        total = _sum_3x3(a0, a1, a2, b0, b1, b2, c0, c1, c2, w_rows, t) + bias_row[t]
                        row[t] = _requant_one(total, scale, rounding, overflow, relu, lo, hi, half)
            else:
                for y in range(out.shape[1]):
                    _depthwise_row(buf, w_rows, n_chan, fh, sh, sw, y, acc)
                    _requant_span(acc, bias_row, out[b, y], scale, rounding, overflow, relu, lo, hi, half)
        return out

    @_jit
    def sum_rows(x, out):
        """out[b, c] = sum_p x[b, p, c] in out's dtype (a global pool: contiguous channel rows)."""
        for b in range(x.shape[0]):
            acc = out[b]
            acc[:] = 0
            for p in range(x.shape[1]):
                row = x[b, p]
                for c in range(x.shape[2]):
                    acc[c] += row[c]
        return out

    @_jit
    def gather_columns(flat, index, out):
        """im2col: out[b, p, k] = flat[b, index[p, k]], or 0 where the index is -1 (zero padding, never
        built); a copy (numpy's take is ~5x slower here)."""
        for b in range(flat.shape[0]):
            for p in range(index.shape[0]):
                for k in range(index.shape[1]):
                    v = index[p, k]
                    out[b, p, k] = flat[b, v] if v >= 0 else 0
        return out

    @_inline
    def _requant_one(y, scale, rounding, overflow, relu, lo, hi, half):
        """One value of ``requant_rows`` (the common modes): [ReLU], scale, round, clip."""
        if relu:
            y = max(y, half - half)
        y = y * scale
        if rounding == 6:  # RND_CONV: ties to even
            y = np.rint(y)
        elif rounding == 0:  # TRN
            y = np.floor(y)
        elif rounding == 2:  # RND: ties up
            y = np.floor(y + half)
        if overflow == 1 or overflow == 3:
            y = min(max(y, lo), hi)
        return y

    @_inline
    def _requant_span(x, b, out, scale, rounding, overflow, relu, lo, hi, half):
        """out[c] = requant(x[c] + b[c]) for the common modes (see ``requant_rows``); ``out`` must not
        be ``x``: LLVM vectorises the loop only for distinct arrays (in place runs ~4x slower)."""
        for c in range(x.shape[0]):
            out[c] = _requant_one(x[c] + b[c], scale, rounding, overflow, relu, lo, hi, half)

    @_jit
    def requant_rows(x, b, out, scale, rounding, overflow, relu, lo, hi, m, half):
        """``requant_float`` of ``x + b`` (``b`` added to every row of the 2-D ``x``: a layer's
        bias, or zeros) for the modes QKeras and hls4ml's defaults use (rounding TRN, RND or
        RND_CONV or none; overflow SAT, SAT_SYM or none). Few enough branches for LLVM to hoist
        them out of the loop and vectorise it (the general loop runs ~10x slower). ``x + b`` is
        exact: the Mac's bound covers every sum with the bias. ``out`` must be another array than
        ``x`` (see ``requant_rows_in_place``)."""
        for r in range(x.shape[0]):
            _requant_span(x[r], b, out[r], scale, rounding, overflow, relu, lo, hi, half)
        return out

    @_jit
    def requant_rows_in_place(x, b, scale, rounding, overflow, relu, lo, hi, m, half):
        """``requant_rows`` into ``x`` itself: one array, so LLVM vectorises it without an overlap
        check, and no second tensor to allocate and fill (a layer's pass over its sums ~10% faster)."""
        for r in range(x.shape[0]):
            row = x[r]
            for c in range(row.shape[0]):
                row[c] = _requant_one(row[c] + b[c], scale, rounding, overflow, relu, lo, hi, half)
        return x

    @_jit
    def requant_float(x, out, scale, rounding, overflow, relu, lo, hi, m, half):
        """One pass of ``hw.golden.arith.Requant`` on float codes: [ReLU], scale by a power of two
        (exact), round (``ROUNDING`` index; -1: the scale appends bits, nothing to round), then the
        overflow (``OVERFLOW`` index; -1: provably none; ``m`` = 2**width for WRAP). Same steps as
        the numpy form; every constant comes in the array's dtype (``half`` = 0.5), so no step
        leaves it (a float64 literal would turn the loop into float64 and stop vectorising it)."""
        xf, of = x.reshape(-1), out.reshape(-1)
        zero = half - half
        for n in range(xf.size):
            y = xf[n]
            if relu:
                y = max(y, zero)
            y = y * scale
            if rounding == 6:  # RND_CONV: ties to even
                y = np.rint(y)
            elif rounding == 0:  # TRN
                y = np.floor(y)
            elif rounding == 1:  # TRN_ZERO
                y = np.trunc(y)
            elif rounding == 2:  # RND: ties up
                y = np.floor(y + half)
            elif rounding == 5:  # RND_MIN_INF: ties down
                y = np.ceil(y - half)
            elif rounding == 3:  # RND_ZERO: ties toward zero, sign(y) * ceil(|y| - 0.5)
                y = np.sign(y) * np.ceil(np.abs(y) - half)
            elif rounding == 4:  # RND_INF: ties away from zero, sign(y) * floor(|y| + 0.5)
                y = np.sign(y) * np.floor(np.abs(y) + half)
            if overflow == 1 or overflow == 3:  # SAT, SAT_SYM (lo is the symmetric minimum then)
                y = min(max(y, lo), hi)
            elif overflow == 2:  # SAT_ZERO
                y = zero if (y < lo) | (y > hi) else y
            elif overflow == 0:  # WRAP
                y = y - np.floor((y - lo) / m) * m
            of[n] = y
        return out
else:  # pragma: no cover
    depthwise_sums = depthwise_requant = gather_columns = requant_float = requant_rows = requant_rows_in_place = sum_rows = None

TAP_GROUP = 3  # depthwise taps summed per pass over an output row (one load and store of the sums)


def tap_rows(w, fh: int, fw: int, out_width: int) -> np.ndarray:
    """Depthwise weights (fh * fw, C) as ``depthwise_*`` read them: each filter row padded with
    zero taps to a multiple of TAP_GROUP (a zero weight adds nothing), each tap tiled over the
    output width -> (fh * taps, out_width * C)."""
    taps = -(-fw // TAP_GROUP) * TAP_GROUP
    grouped = np.zeros((fh, taps, w.shape[1]), w.dtype)
    grouped[:, :fw] = w.reshape(fh, fw, -1)
    return np.ascontiguousarray(np.tile(grouped.reshape(fh * taps, -1), (1, out_width)))


ROUNDING = ("TRN", "TRN_ZERO", "RND", "RND_ZERO", "RND_INF", "RND_MIN_INF", "RND_CONV")
OVERFLOW = ("WRAP", "SAT", "SAT_ZERO", "SAT_SYM")


def common_modes(rounding: int, overflow: int) -> bool:
    """Mode indices (-1: no rounding / no overflow) that ``requant_rows`` handles."""
    return rounding in (-1, 0, 2, 6) and overflow in (-1, 1, 3)
