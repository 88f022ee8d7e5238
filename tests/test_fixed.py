"""qat.fixed: hand-computed cases, then a cross-check against hls4ml's bundled ap_fixed C++ types."""

import itertools
import os
import shutil
import subprocess

import numpy as np
import pytest

from qat.fixed import MAX_WIDTH, FixedRangeError, FixedType


# ---------------------------------------------------------------- type basics and text forms
def test_ranges_and_fraction_bits():
    t = FixedType(8, 3)
    assert (t.frac, t.min_raw, t.max_raw, t.lsb, t.min, t.max) == (5, -128, 127, 1 / 32, -4.0, 127 / 32)
    u = FixedType(8, 3, signed=False)
    assert (u.min_raw, u.max_raw, u.max) == (0, 255, 255 / 32)
    assert FixedType(8, 3, overflow="SAT_SYM").min_raw == -127
    assert FixedType(6, 8).frac == -2  # integer bits beyond the width: LSB weighs 4
    assert FixedType(4, -2).frac == 6


def test_parse_and_print_round_trip():
    cases = {
        "fixed<8,3,RND_CONV,SAT>": FixedType(8, 3, True, "RND_CONV", "SAT"),
        "ufixed<6,0>": FixedType(6, 0, False),
        "ap_fixed<16,6,AP_RND,AP_SAT_SYM>": FixedType(16, 6, True, "RND", "SAT_SYM"),
        "fixed<16,6,TRN,WRAP,0>": FixedType(16, 6),  # hls4ml's str() form
        "int<8>": FixedType(8, 8),
        "ap_uint<4>": FixedType(4, 4, False),
    }
    for text, expected in cases.items():
        assert FixedType.parse(text) == expected, text
    for t in cases.values():
        assert FixedType.parse(t.to_hls()) == t
        assert FixedType.parse(t.to_ap()) == t
    assert FixedType(8, 3).to_hls() == "fixed<8,3>"
    assert FixedType(8, 3, rounding="RND_CONV").to_hls() == "fixed<8,3,RND_CONV,WRAP>"
    assert FixedType(8, 3, False, "RND_CONV", "SAT").to_ap() == "ap_ufixed<8,3,AP_RND_CONV,AP_SAT>"


@pytest.mark.parametrize("bad", ["fixed<8>", "float<8,3>", "fixed<8,3,RND_CONV,SAT,2>", "fixed<8,3,ROUND,SAT>"])
def test_parse_rejects(bad):
    with pytest.raises(ValueError):
        FixedType.parse(bad)


def test_from_hls4ml():
    from hls4ml.model.types import FixedPrecisionType, IntegerPrecisionType, NamedType, XnorPrecisionType

    p = FixedPrecisionType(10, 4, True, "RND_CONV", "SAT")
    assert FixedType.from_hls4ml(p) == FixedType(10, 4, True, "RND_CONV", "SAT")
    assert FixedType.from_hls4ml(NamedType("x_t", p)) == FixedType(10, 4, True, "RND_CONV", "SAT")
    assert FixedType.from_hls4ml(FixedPrecisionType(7, 2, False)) == FixedType(7, 2, False)
    assert FixedType.from_hls4ml(IntegerPrecisionType(5, False)) == FixedType(5, 5, False)
    with pytest.raises(ValueError):
        FixedType.from_hls4ml(XnorPrecisionType())


# ---------------------------------------------------------------- hand-computed conversions
def test_quantize_rounding_modes_on_ties_and_negatives():
    # fixed<8,4>: LSB = 1/16. Values in LSBs: +-0.5, +-1.5, +-2.5, +0.25, -0.25, +0.75, -0.75
    lsbs = np.array([0.5, -0.5, 1.5, -1.5, 2.5, -2.5, 0.25, -0.25, 0.75, -0.75])
    expected = {
        "TRN": [0, -1, 1, -2, 2, -3, 0, -1, 0, -1],  # floor
        "TRN_ZERO": [0, 0, 1, -1, 2, -2, 0, 0, 0, 0],  # toward zero
        "RND": [1, 0, 2, -1, 3, -2, 0, 0, 1, -1],  # ties toward +inf
        "RND_ZERO": [0, 0, 1, -1, 2, -2, 0, 0, 1, -1],  # ties toward zero
        "RND_MIN_INF": [0, -1, 1, -2, 2, -3, 0, 0, 1, -1],  # ties toward -inf
        "RND_INF": [1, -1, 2, -2, 3, -3, 0, 0, 1, -1],  # ties away from zero
        "RND_CONV": [0, 0, 2, -2, 2, -2, 0, 0, 1, -1],  # ties to even (tf.round)
    }
    for mode, want in expected.items():
        t = FixedType(8, 4, rounding=mode)
        assert t.quantize(lsbs / 16).tolist() == want, mode
        # the same numbers as raw integers with 2 extra fraction bits
        assert t.requantize((lsbs * 4).astype(np.int64), from_frac=6).tolist() == want, mode


def test_rnd_conv_matches_numpy_round_half_even():
    x = np.arange(-64, 64) / 4.0  # many exact ties
    assert np.array_equal(FixedType(16, 14, rounding="RND_CONV").quantize(x / 4), np.round(x).astype(np.int64))


def test_overflow_modes():
    raws = np.array([-200, -129, -128, -127, 0, 127, 128, 255, 300])
    assert FixedType(8, 8).requantize(raws, 0).tolist() == [56, 127, -128, -127, 0, 127, -128, -1, 44]
    assert FixedType(8, 8, overflow="SAT").requantize(raws, 0).tolist() == [-128, -128, -128, -127, 0, 127, 127, 127, 127]
    assert FixedType(8, 8, overflow="SAT_SYM").requantize(raws, 0).tolist() == [-127, -127, -127, -127, 0, 127, 127, 127, 127]
    assert FixedType(8, 8, overflow="SAT_ZERO").requantize(raws, 0).tolist() == [0, 0, -128, -127, 0, 127, 0, 0, 0]
    u = FixedType(8, 8, signed=False)
    assert u.requantize(raws, 0).tolist() == [56, 127, 128, 129, 0, 127, 128, 255, 44]
    assert u.with_(overflow="SAT").requantize(raws, 0).tolist() == [0, 0, 0, 0, 0, 127, 128, 255, 255]


def test_rounding_carry_then_saturation():
    # 3.96875 = 127/32 in fixed<8,3>; rounding 127.5 LSB up gives 128 -> saturates (SAT) or wraps.
    x = np.array([127.5 / 32, -128.5 / 32])
    assert FixedType(8, 3, rounding="RND", overflow="SAT").quantize(x).tolist() == [127, -128]
    assert FixedType(8, 3, rounding="RND", overflow="WRAP").quantize(x).tolist() == [-128, -128]
    assert FixedType(8, 3, rounding="RND_INF", overflow="WRAP").quantize(x).tolist() == [-128, 127]


def test_requantize_left_shift_and_negative_frac():
    t = FixedType(8, 6)  # frac 2
    assert t.requantize(np.array([3, -3]), from_frac=0).tolist() == [12, -12]
    # fixed<6,8>: LSB = 4; value 10 (raw 10 with frac 0) -> 2.5 LSB -> floor 2
    assert FixedType(6, 8).requantize(np.array([10, -10]), 0).tolist() == [2, -3]
    assert FixedType(6, 8).to_float(np.array([2, -3])).tolist() == [8.0, -12.0]


def test_extreme_int64_inputs_are_exact():
    big = np.array([np.iinfo(np.int64).max, np.iinfo(np.int64).min, -1, 1])
    assert FixedType(8, 8, overflow="SAT").requantize(big, 0).tolist() == [127, -128, -1, 1]
    # dropping more than 62 bits: everything is a fraction of an LSB
    assert FixedType(8, 8, rounding="RND").requantize(big, 70).tolist() == [0, 0, 0, 0]
    assert FixedType(8, 8, rounding="TRN").requantize(big, 70).tolist() == [0, -1, -1, 0]
    # tie exactly at half an LSB with a 63-bit shift: -2**63 / 2**64 = -0.5
    assert FixedType(8, 8, rounding="RND_CONV").requantize(big[1:2], 64).tolist() == [0]
    assert FixedType(8, 8, rounding="RND_INF").requantize(big[1:2], 64).tolist() == [-1]
    # left shift beyond int64 keeps exact WRAP / SAT semantics
    assert FixedType(8, 8).requantize(np.array([3]), -62).tolist() == [0]
    assert FixedType(8, 8, overflow="SAT").requantize(np.array([-3]), -62).tolist() == [-128]
    assert FixedType(63, 63).requantize(np.array([-1, 1 << 61]), -1).tolist() == [-2, -(1 << 62)]


def test_quantize_huge_and_invalid_floats():
    assert FixedType(8, 3, overflow="SAT").quantize([1e300, -1e300]).tolist() == [127, -128]
    assert FixedType(8, 3, overflow="SAT_ZERO").quantize([1e300, -1e300]).tolist() == [0, 0]
    assert FixedType(8, 3).quantize([2.0**70 + 2.0**-5]).tolist() == [0]  # low 8 bits of 2**75 are 0
    with pytest.raises(ValueError):
        FixedType(8, 3).quantize([np.nan])


def test_width_limit_is_enforced():
    FixedType(MAX_WIDTH, 10).quantize([1.0])
    with pytest.raises(FixedRangeError):
        FixedType(MAX_WIDTH + 1, 10).quantize([1.0])
    with pytest.raises(FixedRangeError):
        FixedType(MAX_WIDTH, 10, signed=False).requantize(np.array([1]), 0)
    with pytest.raises(TypeError):
        FixedType(8, 3).requantize(np.array([1.0]), 0)


def test_to_float_inverts_quantize_on_representable_values():
    t = FixedType(10, 2, overflow="SAT")
    raws = np.arange(t.min_raw, t.max_raw + 1)
    assert np.array_equal(t.quantize(t.to_float(raws)), raws)


def test_immutable():
    t = FixedType(8, 3)
    with pytest.raises(Exception):
        t.width = 9
    assert t.with_(width=9) == FixedType(9, 3) and t == FixedType(8, 3)
    assert len({FixedType(8, 3), FixedType(8, 3)}) == 1


# ---------------------------------------------------------------- cross-check with ap_fixed C++
# Every rounding x overflow mode, signed and unsigned, several (W, I) shapes including I > W and
# I < 0, from a source with 3 more fraction bits (all 2**12 source codes) and from one with 2 fewer.
_SHAPES = [(4, 2), (6, 8), (5, -1)]
_EXTRA = (3, -2)


def _ap_types_dir():
    import hls4ml

    return os.path.join(os.path.dirname(hls4ml.__file__), "templates", "vivado", "ap_types")


@pytest.mark.skipif(shutil.which("g++") is None, reason="needs g++")
def test_matches_ap_fixed_cpp(tmp_path):
    types = [
        FixedType(w, i, s, r, o)
        for (w, i), s, r, o in itertools.product(_SHAPES, (True, False), ("TRN", "TRN_ZERO", "RND", "RND_ZERO", "RND_INF", "RND_MIN_INF", "RND_CONV"), ("WRAP", "SAT", "SAT_ZERO", "SAT_SYM"))
    ]
    src_w = 12
    lines = ["#include <cstdio>", "#include <cstdint>", '#include "ap_fixed.h"', "int main() {"]
    for k, t in enumerate(types):
        for extra in _EXTRA:
            src = f"ap_fixed<{src_w},{src_w - (t.frac + extra)}>"
            lines.append(
                f"  for (int64_t r = -{1 << (src_w - 1)}; r < {1 << (src_w - 1)}; ++r) "
                f"{{ {src} s; s.range({src_w - 1}, 0) = r; {t.to_ap()} d = s; "
                f'std::printf("%lld\\n", (long long)(d.range({t.width - 1}, 0).to_int64())); }}'
            )
    lines += ["  return 0;", "}"]
    (tmp_path / "x.cpp").write_text("\n".join(lines))
    subprocess.run(["g++", "-O0", "-w", "-I", _ap_types_dir(), "x.cpp", "-o", "x"], cwd=tmp_path, check=True)
    out = subprocess.run(["./x"], cwd=tmp_path, check=True, capture_output=True, text=True).stdout.split()
    got = np.array(out, dtype=np.int64).reshape(len(types), len(_EXTRA), 1 << src_w)
    src_raw = np.arange(-(1 << (src_w - 1)), 1 << (src_w - 1), dtype=np.int64)
    failures = []
    for k, t in enumerate(types):
        for e, extra in enumerate(_EXTRA):
            ours = t.requantize(src_raw, t.frac + extra)
            # C++ printed the W low bits unsigned; map ours to the same bit pattern
            ours_bits = ours & ((1 << t.width) - 1)
            bad = np.count_nonzero(ours_bits != got[k, e])
            if bad:
                failures.append(f"{t} from frac+{extra}: {bad} of {src_raw.size} differ")
            # quantize() from the same values as float64 must agree too
            q = t.quantize(src_raw * 2.0 ** -(t.frac + extra)) & ((1 << t.width) - 1)
            if not np.array_equal(q, got[k, e]):
                failures.append(f"{t} quantize() from frac+{extra} differs")
    assert not failures, "\n".join(failures)


@pytest.mark.parametrize("converter", ["APTypeConverter", "ACTypeConverter"])
def test_from_hls4ml_accepts_backend_precision_types(converter):
    """Backends re-class the precisions of a graph (Vitis/Vivado: APFixedPrecisionType...);
    from_hls4ml must read those too (hw/rtl/layer_spec.py used to work around it)."""
    from hls4ml.backends.fpga import fpga_types
    from hls4ml.model.types import FixedPrecisionType, IntegerPrecisionType

    conv = getattr(fpga_types, converter)()
    p = conv.convert(FixedPrecisionType(10, 4, True, "RND_CONV", "SAT"))
    assert type(p).__name__ != "FixedPrecisionType"  # really a backend subclass
    assert FixedType.from_hls4ml(p) == FixedType(10, 4, True, "RND_CONV", "SAT")
    assert FixedType.from_hls4ml(conv.convert(IntegerPrecisionType(5, False))) == FixedType(5, 5, False)
