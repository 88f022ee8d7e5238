"""Per-output-channel power-of-two weight scales, hardware side: trained ≡ exported QKeras ≡ golden
≡ hls4ml C simulation, and RTL (narrow ROM + a shift per output, hw/rtl/channel_shift.py) ≡ golden.

Models: sim.testmodels.per_channel_model (4-bit kernels, shifts 0..5 in every layer), 300 vectors
each. Small enough for the default suite: the whole file took ~100 s here (6 hls4ml compiles, 6
Verilator builds).
"""

from __future__ import annotations

import shutil

import numpy as np
import pytest

from hw.convert import HlsSettings, UnsupportedModelError, check_supported, convert
from hw.golden import GoldenModel
from hw.rtl.channel_shift import factor_channel_shifts, trailing_zeros
from qat.fixed import FixedType
from sim.testmodels import PER_CHANNEL_KINDS, per_channel_model
from sim.testmodels import inputs_with_ties

N = 300
IO = {"dscnn": "io_stream"}  # as the KWS runs are converted; single layers in io_parallel


def _graph(kind, tmp_path, seed=0):
    plain, trained = per_channel_model(kind, seed=seed)
    return plain, trained, convert(plain, tmp_path / "prj", HlsSettings(io_type=IO.get(kind, "io_parallel")))


def _predict(model, x):
    return model.predict(x, verbose=0, batch_size=256).reshape(len(x), -1)


@pytest.mark.parametrize("kind", PER_CHANNEL_KINDS)
def test_trained_equals_exported_equals_golden(kind, tmp_path):
    plain, trained, graph = _graph(kind, tmp_path)
    x = inputs_with_ties(plain, 500, 8)
    want = _predict(plain, x)
    assert np.array_equal(_predict(trained, x), want)
    got = GoldenModel(graph).predict(x).reshape(len(x), -1)
    assert np.all(got == want, axis=1).sum() == len(x)
    assert len(np.unique(want)) > 8


def _three_way(kind, tmp_path):
    plain, _, graph = _graph(kind, tmp_path)
    graph.compile()
    x = inputs_with_ties(plain, N, 8, seed=2)
    want = _predict(plain, x)
    golden = GoldenModel(graph).predict(x).reshape(N, -1)
    csim = np.asarray(graph.predict(np.ascontiguousarray(x, dtype=np.float64))).reshape(N, -1)
    report = (f"{kind}: golden==qkeras {np.all(golden == want, axis=1).sum()}/{N}, "
              f"csim==golden {np.all(csim == golden, axis=1).sum()}/{N}")
    assert np.array_equal(golden, want), report
    assert np.array_equal(csim, golden), report


needs_gxx = pytest.mark.skipif(shutil.which("g++") is None, reason="hls4ml C simulation needs g++")


@needs_gxx
@pytest.mark.hls
def test_csim_dscnn_shaped(tmp_path):
    _three_way("dscnn", tmp_path)


@needs_gxx
@pytest.mark.hls
@pytest.mark.parametrize("kind", [k for k in PER_CHANNEL_KINDS if k != "dscnn"])
def test_csim_per_layer_kind(kind, tmp_path):
    _three_way(kind, tmp_path)


# ---------------------------------------------------------------- RTL
def _rtl(kind, rf, tmp_path):
    from hw.rtl import generate_rtl
    from sim.check import compare
    from sim.reference import random_raw_inputs
    from hw.tools.verilator import verilator_lint

    _, _, graph = _graph(kind, tmp_path)
    design = generate_rtl(graph, tmp_path / "rtl", reuse_factor=rf)
    shifted = {l.layer: l.notes for l in design.layers if "channel_shifts" in l.notes}
    mac_layers = [l.name for l in graph.get_layers() if "weight" in l.weights]
    assert sorted(shifted) == sorted(mac_layers)  # every MAC layer stores 4-bit weights + shifts
    assert all(n["stored_weight_bits"] == 4 and max(n["channel_shifts"]) == 5 for n in shifted.values())
    assert verilator_lint(design.files, design.top) == ""
    res = compare(design, graph, random_raw_inputs(graph, N, seed=4), p_valid=75, p_ready=70, seed=4)
    assert res["n"] == N and res["exact"] == N, res["first_bad"]


@pytest.mark.sim
def test_rtl_dscnn_shaped_equals_golden(tmp_path):
    _rtl("dscnn", 64, tmp_path)


@pytest.mark.sim
@pytest.mark.parametrize("kind,rf", [("dense", 1), ("dense", 4), ("conv1d", 3), ("conv2d", 5), ("depthwise", 3)])
def test_rtl_per_layer_kind_equals_golden(kind, rf, tmp_path):
    _rtl(kind, rf, tmp_path)


# ---------------------------------------------------------------- the factoring itself
def test_shifts_come_from_trailing_zeros_and_only_when_exact_and_narrower():
    w_t = FixedType(9, 1)
    w = np.array([[3, 8, 0], [-5, -32, 0], [7, 16, 0]], np.int64)  # column 1: multiples of 8
    assert [trailing_zeros(w[:, c]) for c in range(3)] == [0, 3, 0]
    pc = factor_channel_shifts(w, w_t, prod_shift=0)
    assert pc.shifts == (0, 3, 0) and pc.w_type.width == 4 and pc.w_type.frac == w_t.frac
    assert np.array_equal(pc.weights[:, 1], [1, -4, 2]) and pc.shift_width == 2
    assert factor_channel_shifts(w, w_t, prod_shift=1) is None  # products rounded one by one: not exact
    assert factor_channel_shifts(w, FixedType(4, 1), prod_shift=0) is None  # nothing to gain
    assert factor_channel_shifts(w[:, [0, 2]], w_t, prod_shift=0) is None  # no shifts at all


def test_binary_kernels_become_sign_bits_and_ternary_ones_do_not():
    w_t = FixedType(3, 1)  # +-1 codes of a rewritten binary kernel with gain 2**-2
    binary = np.array([[1, -1], [-1, -1], [1, 1]], np.int64)
    pc = factor_channel_shifts(binary, w_t, prod_shift=3)
    assert pc.binary and pc.w_type.width == 2 and pc.shifts == (0, 0)
    assert np.array_equal(pc.sign_bits(), [[0, 1], [1, 1], [0, 0]])  # 1 = -1, kws_mac_chain W_SIGN
    ternary = factor_channel_shifts(np.array([[1, 0], [-1, 1]], np.int64), w_t, prod_shift=3)
    assert not ternary.binary  # a zero needs the 2-bit code
    with pytest.raises(ValueError, match="other than -1 and \\+1"):
        ternary.sign_bits()
    gains = factor_channel_shifts(np.array([[4, -2], [-4, 2]], np.int64), FixedType(5, 1), prod_shift=0)
    assert gains.binary and gains.shifts == (2, 1)  # sign x per-channel power of two: shifts + sign bits


def test_unexported_per_channel_model_is_one_clear_error_naming_the_layer():
    _, trained = per_channel_model("dense")
    with pytest.raises(UnsupportedModelError, match=r"fc: kernel_quantizer: channel_po2_bits.*export_fixed_qkeras"):
        check_supported(trained)


# ---------------------------------------------------------------- paper B: 1-bit sign x per-channel gain
from tests.test_schemes import float_model, one_bit, toy_data  # noqa: E402,F401  (module fixtures: a toy 1-bit run)


def _one_bit_graph(one_bit, tmp_path):
    _, result = one_bit
    return result, convert(result.model, tmp_path / "prj", HlsSettings(io_type="io_parallel"))


def test_one_bit_two_stage_ffn_qkeras_equals_golden(one_bit, tmp_path):
    """A streaming FFN trained by two_stage at 1 bit (sign x 2**g_c per output channel), exported:
    hls4ml reads signed fixed-point weights of >= 2 bits (not its XNOR 0/1 encoding of 1-bit
    kernels), and the golden model of that graph equals QKeras on every output bit."""
    result, graph = _one_bit_graph(one_bit, tmp_path)
    mac = [l for l in graph.get_layers() if "weight" in l.weights]
    assert sorted(l.name for l in mac) == ["fc1", "fc2", "logits"]
    for layer in mac:
        w_t = FixedType.from_hls4ml(layer.weights["weight"].type.precision)  # raises on an Xnor type
        assert w_t.signed and w_t.width >= 2
    rng = np.random.default_rng(7)
    x = np.concatenate([toy_data(300, 4)[0], rng.normal(0, 4, (200, 24)).astype(np.float32)])  # + saturation
    want = _predict(result.model, x)
    got = GoldenModel(graph).predict(x).reshape(len(x), -1)
    assert np.array_equal(got, want), f"{np.all(got == want, axis=1).sum()} of {len(x)} identical"
    assert len(np.unique(want)) > 8


@pytest.mark.sim
def test_one_bit_two_stage_ffn_rtl_stores_signs_and_shifts_by_the_gain(one_bit, tmp_path):
    """RTL: every 1-bit layer's ROM stores one sign bit per weight and column c is shifted by
    g_c - min(g) (the gain as a shift), and the design equals the golden model bit for bit."""
    from hw.rtl import generate_rtl
    from hw.tools.verilator import verilator_lint
    from sim.check import compare
    from sim.reference import random_raw_inputs

    result, graph = _one_bit_graph(one_bit, tmp_path)
    gains = result.extra["two_stage"]["gain_log2"]
    design = generate_rtl(graph, tmp_path / "rtl", reuse_factor=4)
    notes = {l.layer: l.notes for l in design.layers}
    for name in ("fc1", "fc2", "logits"):
        assert notes[name].get("stored_weight_bits") == 1, (name, notes[name])
        assert notes[name].get("channel_shifts", [0] * len(gains[name])) == [g - min(gains[name]) for g in gains[name]]
    assert verilator_lint(design.files, design.top) == ""
    res = compare(design, graph, random_raw_inputs(graph, N, seed=5), p_valid=75, p_ready=70, seed=5)
    assert res["n"] == N and res["exact"] == N, res["first_bad"]
