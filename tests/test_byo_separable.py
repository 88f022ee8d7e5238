"""QSeparableConv1D / QSeparableConv2D: QKeras == golden == hls4ml C simulation == RTL.

hls4ml 1.3 splits a separable conv into <name>_depthwise (DepthwiseConv1D/2D) + <name>_pointwise
(PointwiseConv1D/2D); hw/convert/separable.py makes the intermediate the exact depthwise sum and
refuses what QKeras's float32 or hls4ml's C simulation cannot do exactly. Models:
sim.testmodels.separable_model (input quantizer -> separable -> quantized_relu or quantized_bits
[-> QDense -> logits]) and separable_dscnn (MLPerf-Tiny-style DS-CNN with 1-D separable blocks).
"""

from __future__ import annotations

import shutil

import numpy as np
import pytest

from hw.convert import HlsSettings, UnsupportedModelError, build_hls_config, check_supported, convert
from hw.golden import GoldenModel
from sim.testmodels import inputs_with_ties, qkeras_output, separable_dscnn, separable_model

N = 300
CASES = {  # name: separable_model arguments (with/without bias, valid/same, stride 1/2, 1-D/2-D)
    "1d_same": dict(dim=1),
    "1d_valid_nobias_s2_dense": dict(dim=1, bias=False, padding="valid", stride=2, dense=True),
    "1d_same_s2_bits": dict(dim=1, stride=2, act="bits"),
    "2d_same_bits": dict(dim=2, act="bits"),
    "2d_valid_nobias": dict(dim=2, bias=False, padding="valid"),
    "2d_valid_s2_dense": dict(dim=2, padding="valid", stride=2, dense=True),
    "2d_same_s2": dict(dim=2, stride=2),
}
needs_gxx = pytest.mark.skipif(shutil.which("g++") is None, reason="hls4ml C simulation needs g++")


def _graph(case, tmp_path, io_type="io_parallel", **settings):
    model = separable_model(**CASES[case]) if case in CASES else separable_dscnn()
    return model, convert(model, tmp_path / "prj", HlsSettings(io_type=io_type, **settings))


def _split(graph):
    return {l.name: l for l in graph.get_layers() if l.name.startswith("sep")}


@pytest.mark.parametrize("io_type", ["io_parallel", "io_stream"])
@pytest.mark.parametrize("case", list(CASES))
def test_qkeras_equals_golden(case, io_type, tmp_path):
    model, graph = _graph(case, tmp_path, io_type)
    dim = CASES[case]["dim"]
    layers = _split(graph)
    assert layers["sep_depthwise"].class_name == f"DepthwiseConv{dim}D"
    assert layers["sep_pointwise"].class_name == f"PointwiseConv{dim}D"
    x = inputs_with_ties(model, N, 8)
    want = qkeras_output(model, x)
    got = GoldenModel(graph).predict(x).reshape(N, -1)
    assert np.all(got == want, axis=1).sum() == N
    assert len(np.unique(want)) > 64  # a spread of outputs, not a saturated constant


def test_intermediate_is_the_exact_depthwise_sum_and_needed(tmp_path):
    """The converter sets the depthwise half's result to the exact sum type; without the key,
    hls4ml's split gives the intermediate the layer's result (here the next quantizer's type)."""
    import hls4ml

    from hw.convert.separable import exact_sum_type
    from qat.fixed import FixedType

    model, graph = _graph("2d_same_bits", tmp_path)
    dw = _split(graph)["sep_depthwise"]
    want_t = exact_sum_type(FixedType(8, 3, True, "RND_CONV", "SAT"), FixedType(6, 1), 9)
    assert FixedType.from_hls4ml(dw.get_output_variable().type.precision) == want_t == FixedType(18, 8)
    cfg = build_hls_config(model)
    prec = cfg["LayerName"]["sep"]["Precision"]
    assert prec["depthwise_result"] == want_t.to_hls() and prec["result"] == "fixed<12,5,RND_CONV,SAT>"
    del prec["depthwise_result"]  # what an explicit config without it does
    bad = hls4ml.converters.convert_from_keras_model(model, hls_config=cfg, output_dir=str(tmp_path / "bad"),
                                                      backend="Vitis", io_type="io_parallel")
    assert str(_split(bad)["sep_depthwise"].get_output_variable().type.precision).startswith("fixed<12,5")
    x = inputs_with_ties(model, N, 8)
    want = qkeras_output(model, x)
    assert np.all(GoldenModel(bad).predict(x).reshape(N, -1) == want, axis=1).sum() < N // 2
    assert np.array_equal(GoldenModel(graph).predict(x).reshape(N, -1), want)


def test_golden_1d_depthwise_compiled_equals_numpy_form(tmp_path, monkeypatch):
    from hw.golden import loops

    model, graph = _graph("1d_valid_nobias_s2_dense", tmp_path)
    x = inputs_with_ties(model, 64, 8)
    fast = GoldenModel(graph).trace(x)["sep_depthwise"]
    monkeypatch.setattr(loops, "AVAILABLE", False)
    assert np.array_equal(GoldenModel(graph).trace(x)["sep_depthwise"], fast)


# ---------------------------------------------------------------- hls4ml C simulation
def _csim(case, tmp_path, io_type, **settings):
    model, graph = _graph(case, tmp_path, io_type, **settings)
    graph.compile()
    x = inputs_with_ties(model, N, 8, seed=2)
    want = qkeras_output(model, x)
    golden = GoldenModel(graph).predict(x).reshape(N, -1)
    csim = np.asarray(graph.predict(np.ascontiguousarray(x, dtype=np.float64))).reshape(N, -1)
    report = (f"{case} {io_type} {settings}: golden==qkeras {np.all(golden == want, axis=1).sum()}/{N}, "
              f"csim==golden {np.all(csim == golden, axis=1).sum()}/{N}")
    assert np.array_equal(golden, want), report
    assert np.array_equal(csim, golden), report


@needs_gxx
@pytest.mark.hls
@pytest.mark.parametrize("case,io_type", [("1d_same_s2_bits", "io_parallel"), ("2d_same_bits", "io_stream")])
def test_csim_equals_golden(case, io_type, tmp_path):
    _csim(case, tmp_path, io_type)


@needs_gxx
@pytest.mark.hls
@pytest.mark.slow
@pytest.mark.parametrize("case,io_type,settings", [
    ("1d_valid_nobias_s2_dense", "io_stream", {}), ("2d_valid_s2_dense", "io_parallel", {}),
    ("1d_same_s2_bits", "io_stream", dict(strategy="Resource", reuse_factor=3)),
    ("2d_same_bits", "io_stream", dict(strategy="Resource", reuse_factor=3)),
    ("dscnn", "io_stream", {})])
def test_csim_equals_golden_more(case, io_type, settings, tmp_path):
    _csim(case, tmp_path, io_type, **settings)


# ---------------------------------------------------------------- RTL
def _rtl(case, tmp_path, io_type, rf, p_valid=100, p_ready=100):
    from hw.rtl import generate_rtl
    from sim.check import compare
    from sim.reference import random_raw_inputs

    _, graph = _graph(case, tmp_path, io_type)
    design = generate_rtl(graph, tmp_path / "rtl", reuse_factor=rf)
    res = compare(design, graph, random_raw_inputs(graph, N, seed=4), p_valid=p_valid, p_ready=p_ready, seed=4)
    assert res["n"] == N and res["exact"] == N, res["first_bad"]
    return design


@pytest.mark.sim
@pytest.mark.parametrize("case,io_type,rf,p", [
    ("1d_same_s2_bits", "io_stream", 1, 100),
    ("2d_same_bits", "io_parallel", "4,sep=3", 70)])
def test_rtl_equals_golden(case, io_type, rf, p, tmp_path):
    design = _rtl(case, tmp_path, io_type, rf, p_valid=p, p_ready=p)
    halves = {r["layer"]: r for r in design.report["layers"] if r.get("keras_layer") == "sep"}
    assert sorted(halves) == ["sep_depthwise", "sep_pointwise"]
    assert {r["reuse_factor"] for r in halves.values()} == ({1} if rf == 1 else {3})


@pytest.mark.sim
@pytest.mark.slow
@pytest.mark.parametrize("case,io_type,rf,p", [
    ("1d_valid_nobias_s2_dense", "io_parallel", 1, 100), ("1d_same", "io_stream", "sep=5", 60),
    ("2d_valid_s2_dense", "io_stream", 4, 80), ("2d_same_s2", "io_parallel", 1, 75), ("2d_valid_nobias", "io_stream", 2, 100)])
def test_rtl_equals_golden_more(case, io_type, rf, p, tmp_path):
    _rtl(case, tmp_path, io_type, rf, p_valid=p, p_ready=p)


@pytest.mark.sim
def test_dscnn_with_separable_blocks_end_to_end(tmp_path):
    """QKeras == golden, and RTL (io_stream as the KWS runs, RF 8, bubbles and backpressure) == golden."""
    model, graph = _graph("dscnn", tmp_path, "io_stream")
    x = inputs_with_ties(model, N, 8)
    want = qkeras_output(model, x)
    assert np.array_equal(GoldenModel(graph).predict(x).reshape(N, -1), want)
    assert len(np.unique(want)) > 100
    design = _rtl("dscnn", tmp_path, "io_stream", 8, p_valid=85, p_ready=80)
    split = [r["layer"] for r in design.report["layers"] if "keras_layer" in r]
    assert split == ["sep1_depthwise", "sep1_pointwise", "sep2_depthwise", "sep2_pointwise"]


# ---------------------------------------------------------------- reuse factors of the split pair
def test_keras_name_reuse_factor_caps_both_halves_and_unknown_names_are_refused(tmp_path):
    from hw.rtl import generate_rtl
    from hw.rtl.errors import RtlGenerationError

    _, graph = _graph("1d_same", tmp_path, "io_stream")  # depthwise 5 taps x 3, pointwise 3 x 5
    rep = generate_rtl(graph, tmp_path / "a", reuse_factor="1,sep=4").report
    rf = {r["layer"]: r["reuse_factor"] for r in rep["layers"] if "reuse_factor" in r}
    assert rf["sep_depthwise"] == 3 and rf["sep_pointwise"] == 3  # largest each realises <= 4 (3 | 5x3 and 3x5)
    rep = generate_rtl(graph, tmp_path / "b", reuse_factor="1,sep=5,sep_pointwise=1").report
    rf = {r["layer"]: r["reuse_factor"] for r in rep["layers"] if "reuse_factor" in r}
    assert rf["sep_depthwise"] == 5 and rf["sep_pointwise"] == 1  # an hls4ml name is exact and wins
    assert "sep_depthwise (of sep)" in (tmp_path / "b" / "report.md").read_text()
    with pytest.raises(RtlGenerationError, match=r"unknown layer\(s\) \['sepp'\]"):
        generate_rtl(graph, tmp_path / "c", reuse_factor="1,sepp=4")


# ---------------------------------------------------------------- refusals
def _refused(model, match, **kw):
    with pytest.raises(UnsupportedModelError, match=match):
        check_supported(model, **kw)


def test_refusals():
    import tensorflow as tf
    from qkeras import QActivation, QSeparableConv1D, QSeparableConv2D, quantized_bits

    _refused(separable_model(dim=1, depth_multiplier=2), r"sep: depth_multiplier != 1 aborts")
    _refused(separable_model(dim=2), r"Strategy 'Resource' with a separable conv in io_parallel", strategy="Resource")
    _refused(separable_model(dim=1), r"pointwise half \(3 -> 5 channels\) with reuse_factor 2 aborts.*in \[1, 3\]$",
             strategy="Resource", io_type="io_stream", reuse_factor=2)
    check_supported(separable_model(dim=1), strategy="Resource", io_type="io_stream", reuse_factor=3)
    _refused(separable_model(dim=2, bits=(16, 12, 12), filters=4), r"float32, exact only up to 2\*\*24 LSBs; here the "
             r"depthwise sum reaches 37748736 LSBs and the pointwise sum \+ bias reaches")
    _refused(separable_model(dim=2, kernel=(1, 3), stride=(2, 1)), r"io_stream SeparableConv2D with a kernel one row",
             io_type="io_stream")
    inp = tf.keras.Input((12, 3), name="features")
    x = QActivation(quantized_bits(8, 2, alpha=1), name="q_in")(inp)
    # (padding='causal' is refused too, but QKeras 0.9's QSeparableConv1D cannot even build it)
    x = QSeparableConv1D(4, 3, depthwise_quantizer=quantized_bits(6, 0, alpha=1), name="first",
                         pointwise_quantizer=quantized_bits(6, 0, alpha=1), bias_quantizer=quantized_bits(8, 2, alpha=1))(x)
    x = QSeparableConv1D(4, 3, depthwise_quantizer=quantized_bits(6, 0, alpha=1), use_bias=False, name="chained")(x)
    model = tf.keras.Model(inp, QActivation(quantized_bits(12, 4, alpha=1), name="out_q")(x))
    with pytest.raises(UnsupportedModelError) as err:
        check_supported(model)
    text = str(err.value)
    assert "first:" not in text
    assert "chained: QSeparableConv1D without pointwise_quantizer" in text
    assert "chained: a separable conv needs a QActivation before it" in text
    inp = tf.keras.Input((6, 5, 2), name="features")
    x = QActivation(quantized_bits(8, 2, alpha=1), name="q_in")(inp)
    x = tf.keras.layers.SeparableConv2D(3, 3, name="plain")(x)
    _refused(tf.keras.Model(inp, x), r"plain: SeparableConv2D is not supported; use QSeparableConv2D")


def test_float32_bound_is_the_sum_of_magnitudes():
    from hw.convert.separable import float32_bounds
    from qat.fixed import FixedType

    model = separable_model(dim=2)  # input fixed<8,3>, depthwise fixed<6,1>, pointwise fixed<5,1>, bias fixed<8,3>
    dw, pw = float32_bounds(model.get_layer("sep"), FixedType(8, 3, True, "RND_CONV", "SAT"))
    assert dw == 9 * 128 * 32  # taps x max |input code| x max |weight code|
    assert pw == 3 * dw * 16 + 128 * 2 ** (5 + 5 + 4 - 5)  # channels x ... + the bias on the product grid
