"""Bring-your-own QKeras idioms (kwsflow issue 14, part 1): fused activations and binary/ternary
kernels, carried by hw.convert.rewrite, exact through golden, hls4ml C simulation and RTL.

Per idiom a small model (input QActivation(quantized_bits(8,2,alpha=1)) -> the layer -> a
QActivation), random weights with spread, 300 inputs (half on rounding ties, some saturating):
QKeras(user model) == golden(converted graph) for all idioms; hls4ml C sim == golden for one model
per family; RTL (Verilator harness, sim.check.compare) == golden for every idiom, at reuse factors
1 and > 1, with valid/ready bubbles on most. Plus the refusals and an .h5 save/load round trip.
"""

from __future__ import annotations

import os
import shutil

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

import numpy as np  # noqa: E402
import pytest  # noqa: E402

pytest.importorskip("qkeras")
pytest.importorskip("hls4ml")

from qkeras import (  # noqa: E402
    QActivation,
    QConv1D,
    QConv2D,
    QDense,
    QDepthwiseConv2D,
    binary,
    quantized_bits,
    quantized_relu,
    stochastic_binary,
    ternary,
)
from tensorflow import keras  # noqa: E402

from hw.convert import HlsSettings, UnsupportedModelError, check_supported, convert, rewrite  # noqa: E402
from hw.convert.quantizer_types import quantizer_repr  # noqa: E402
from hw.golden import GoldenModel  # noqa: E402
from sim.testmodels import inputs_with_ties  # noqa: E402

N = 300


def qb(bits, integer):
    return quantized_bits(bits, integer, alpha=1)


def _wq(kernel):
    return {"kernel_quantizer": kernel, "bias_quantizer": qb(8, 2)}


# idiom -> (input shape, the layer under test, output quantizer or None, what the rewrite must do)
def _idioms():
    return {
        "fused_relu_dense": ((16,), lambda: QDense(8, activation=quantized_relu(8, 4), name="fc", **_wq(qb(6, 0))),
                             qb(12, 5), "split"),
        "fused_relu_conv1d": ((20, 3), lambda: QConv1D(5, 3, strides=2, activation=quantized_relu(8, 4), name="c1",
                                                       **_wq(qb(6, 0))), qb(12, 5), "split"),
        "fused_relu_conv2d": ((7, 6, 2), lambda: QConv2D(4, (3, 3), padding="same", activation=quantized_relu(8, 3),
                                                         name="c2", **_wq(qb(6, 0))), qb(12, 5), "split"),
        "fused_relu_depthwise": ((6, 6, 3), lambda: QDepthwiseConv2D(3, activation=quantized_relu(8, 3), name="dw",
                                                                     depthwise_quantizer=qb(6, 0), bias_quantizer=qb(8, 2)),
                                 qb(12, 5), "split"),
        # fused quantized_bits as the last layer: the split-off QActivation is the trailing quantizer
        "fused_bits_dense": ((16,), lambda: QDense(6, activation="quantized_bits(10,4,alpha=1)", name="fc",
                                                   **_wq(qb(6, 0))), None, "split"),
        "binary_dense": ((16,), lambda: QDense(8, name="fc", **_wq(binary(alpha=1))), qb(10, 5), "exact_weights"),
        "ternary_conv1d": ((20, 3), lambda: QConv1D(5, 3, name="c1", **_wq(ternary(alpha=1))), qb(10, 5), "exact_weights"),
        "binary_po2_dense": ((16,), lambda: QDense(8, name="fc", **_wq(binary(alpha="auto_po2"))), qb(12, 5),
                             "exact_weights"),
        "ternary_po2_conv2d": ((6, 5, 2), lambda: QConv2D(6, (3, 3), name="c2", **_wq(ternary(alpha="auto_po2"))),
                               qb(12, 5), "exact_weights"),
        "binary_po2_depthwise_fused": ((6, 6, 3), lambda: QDepthwiseConv2D(
            3, activation=quantized_relu(8, 3), name="dw", depthwise_quantizer=binary(alpha="auto_po2"),
            bias_quantizer=qb(8, 2)), qb(12, 5), "both"),
    }


IDIOMS = sorted(_idioms())


def _randomize(model, seed):
    """Uniform weights with a different magnitude per output channel (2**-4 .. 2**1), so auto_po2
    gives several per-channel gains and ternary's 0.33 threshold zeroes some weights, not all."""
    rng = np.random.default_rng(seed)
    for layer in model.layers:
        ws = layer.get_weights()
        if ws:
            out = []
            for w in ws:
                gain = 2.0 ** rng.uniform(-4, 1, w.shape[-1]) if w.ndim > 1 else 2.0
                out.append((rng.uniform(-1, 1, w.shape) * gain).astype(np.float32))
            layer.set_weights(out)
    return model


def idiom_model(idiom, seed=0):
    shape, layer, out_q, _ = _idioms()[idiom]
    inp = keras.Input(shape, name="features")
    x = QActivation(qb(8, 2), name="in_q")(inp)
    x = layer()(x)
    if out_q is not None:
        x = QActivation(out_q, name="out_q")(x)
    return _randomize(keras.Model(inp, x, name=idiom), seed)


def residual_model(seed=0):
    """A fork and a residual Add around rewritten layers: c1 (binary kernel, fused ReLU) feeds both c2
    (ternary auto_po2, fused quantized_bits) and the Add."""
    inp = keras.Input((16, 3), name="features")
    x = QActivation(qb(8, 2), name="in_q")(inp)
    a = QConv1D(4, 3, padding="same", activation=quantized_relu(8, 3), name="c1", **_wq(binary(alpha=1)))(x)
    b = QConv1D(4, 3, padding="same", activation=qb(8, 3), name="c2", **_wq(ternary(alpha="auto_po2")))(a)
    y = keras.layers.Add(name="add")([a, b])
    y = QActivation(qb(10, 4), name="sum_q")(y)
    y = keras.layers.Flatten(name="flat")(y)
    y = QDense(5, name="fc", activation="quantized_bits(12,5,alpha=1)", **_wq(qb(6, 0)))(y)
    return _randomize(keras.Model(inp, y, name="residual"), seed)


def _build(idiom, seed=0):
    return residual_model(seed) if idiom == "residual" else idiom_model(idiom, seed)


def _predict(model, x):
    return model.predict(x, verbose=0, batch_size=256).reshape(len(x), -1)


def _graph(model, tmp_path, io_type="io_parallel"):
    return convert(model, tmp_path / "prj", HlsSettings(io_type=io_type))


# ---------------------------------------------------------------- what the rewrite produces
@pytest.mark.parametrize("idiom", IDIOMS)
def test_rewrite_spells_the_idiom_in_supported_layers(idiom):
    model = idiom_model(idiom)
    what = _idioms()[idiom][3]
    new = rewrite(model)
    assert new is not model
    user = {l.name: type(l).__name__ for l in model.layers}
    got = {l.name: type(l).__name__ for l in new.layers}
    assert {k: v for k, v in got.items() if k in user} == user  # the user's names and classes are kept
    inserted = sorted(set(got) - set(user))
    if what in ("split", "both"):
        assert len(inserted) == 1 and got[inserted[0]] == "QActivation" and "bias" not in inserted[0]
    else:
        assert inserted == []
    for layer in new.layers:
        cfg = layer.get_config()
        for key in ("kernel_quantizer", "depthwise_quantizer", "bias_quantizer"):
            if cfg.get(key):
                assert cfg[key]["class_name"] == "quantized_bits", (layer.name, cfg[key])
        if "activation" in cfg and type(layer).__name__ != "QActivation":
            assert cfg["activation"] == "linear"
    check_supported(model)
    assert rewrite(new) is new  # idempotent: nothing left to rewrite


def test_model_without_idioms_is_returned_unchanged():
    inp = keras.Input((8,), name="features")
    x = QActivation(qb(8, 2), name="in_q")(inp)
    x = QDense(4, name="fc", **_wq(qb(6, 0)))(x)
    model = keras.Model(inp, QActivation(quantized_relu(8, 3), name="relu")(x))
    assert rewrite(model) is model


def test_binary_and_ternary_grids():
    """+-1 -> quantized_bits(2,1); per-channel +-2**k_c (and 0) -> the smallest grid holding all."""
    new = rewrite(idiom_model("binary_dense"))
    assert new.get_layer("fc").get_config()["kernel_quantizer"]["config"]["bits"] == 2
    assert new.get_layer("fc").get_config()["kernel_quantizer"]["config"]["integer"] == 1
    assert set(np.unique(new.get_layer("fc").get_weights()[0])) == {-1.0, 1.0}
    new = rewrite(idiom_model("binary_po2_dense"))
    w = new.get_layer("fc").get_weights()[0]
    scales = np.abs(w).max(axis=0)
    ks = np.log2(scales)
    assert np.array_equal(ks, np.round(ks)) and len(set(ks)) >= 3  # several per-channel gains
    assert all(set(np.unique(np.abs(w[:, c]))) == {scales[c]} for c in range(w.shape[1]))
    q = new.get_layer("fc").get_config()["kernel_quantizer"]["config"]
    frac = q["bits"] - 1 - q["integer"]
    assert frac == -int(ks.min()) and 2 ** q["integer"] > scales.max() >= 2 ** (q["integer"] - 1)
    tern = rewrite(idiom_model("ternary_conv1d")).get_layer("c1").get_weights()[0]
    assert set(np.unique(tern)) == {-1.0, 0.0, 1.0}


def test_zero_weight_is_plus_alpha_in_binary():
    """QKeras's binary maps a zero weight to +alpha (sign(0) -> +1); the rewrite keeps that."""
    model = idiom_model("binary_dense")
    w, b = model.get_layer("fc").get_weights()
    w[:3, 0] = 0.0
    model.get_layer("fc").set_weights([w, b])
    assert np.all(rewrite(model).get_layer("fc").get_weights()[0][:3, 0] == 1.0)


# ---------------------------------------------------------------- QKeras == golden
@pytest.mark.parametrize("idiom", IDIOMS + ["residual"])
def test_qkeras_equals_golden(idiom, tmp_path):
    model = _build(idiom)
    graph = _graph(model, tmp_path)
    x = inputs_with_ties(model, N, 8)
    want = _predict(model, x)
    got = GoldenModel(graph).predict(x).reshape(N, -1)
    assert np.all(got == want, axis=1).sum() == N
    assert len(np.unique(want)) > 8  # the comparison can fail: outputs spread


# ---------------------------------------------------------------- hls4ml C simulation == golden
needs_gxx = pytest.mark.skipif(shutil.which("g++") is None, reason="hls4ml C simulation needs g++")


@needs_gxx
@pytest.mark.hls
@pytest.mark.parametrize("idiom,io_type", [("fused_relu_conv2d", "io_parallel"), ("fused_bits_dense", "io_parallel"),
                                           ("binary_dense", "io_parallel"), ("ternary_po2_conv2d", "io_stream"),
                                           pytest.param("residual", "io_stream", marks=pytest.mark.slow)])
def test_csim_equals_golden(idiom, io_type, tmp_path):
    model = _build(idiom)
    graph = _graph(model, tmp_path, io_type)
    graph.compile()
    x = inputs_with_ties(model, N, 8, seed=2)
    want = _predict(model, x)
    golden = GoldenModel(graph).predict(x).reshape(N, -1)
    csim = np.asarray(graph.predict(np.ascontiguousarray(x, dtype=np.float64))).reshape(N, -1)
    report = (f"{idiom}: golden==qkeras {np.all(golden == want, axis=1).sum()}/{N}, "
              f"csim==golden {np.all(csim == golden, axis=1).sum()}/{N}")
    assert np.array_equal(golden, want), report
    assert np.array_equal(csim, golden), report


# ---------------------------------------------------------------- RTL == golden
def _rtl(idiom, rf, p_valid, p_ready, tmp_path, io_type="io_parallel"):
    from hw.rtl import generate_rtl
    from hw.tools.verilator import verilator_lint
    from sim.check import compare
    from sim.reference import random_raw_inputs

    graph = _graph(_build(idiom), tmp_path, io_type)
    design = generate_rtl(graph, tmp_path / "rtl", reuse_factor=rf)
    assert verilator_lint(design.files, design.top) == ""
    res = compare(design, graph, random_raw_inputs(graph, N, seed=4), p_valid=p_valid, p_ready=p_ready, seed=4)
    assert res["n"] == N and res["exact"] == N, res["first_bad"]
    return graph, design


def stored_weight_bits(graph, design) -> dict[str, int]:
    """Per MAC layer, the width of the words its RTL weight ROM stores."""
    notes = {l.layer: l.notes for l in design.layers}
    return {l.name: int(notes[l.name].get("stored_weight_bits", l.weights["weight"].type.precision.width))
            for l in graph.get_layers() if "weight" in l.weights}


RTL_CASES = [  # (idiom, reuse factor, p_valid, p_ready, io type): one per idiom, RF 1 and > 1, most with bubbles
    ("fused_relu_dense", 1, 100, 100, "io_parallel"), ("fused_relu_conv1d", 3, 70, 80, "io_parallel"),
    ("fused_relu_conv2d", 1, 75, 70, "io_parallel"), ("fused_relu_depthwise", 3, 80, 75, "io_parallel"),
    ("fused_bits_dense", 4, 70, 70, "io_parallel"), ("binary_dense", 1, 100, 100, "io_parallel"),
    pytest.param("binary_dense", 4, 70, 75, "io_parallel", marks=pytest.mark.slow),
    ("ternary_conv1d", 5, 75, 70, "io_parallel"), ("binary_po2_dense", 2, 80, 70, "io_parallel"),
    ("ternary_po2_conv2d", 3, 70, 80, "io_stream"), ("binary_po2_depthwise_fused", 3, 75, 75, "io_parallel"),
    ("residual", 2, 80, 80, "io_parallel"),
]


@pytest.mark.sim
@pytest.mark.parametrize("idiom,rf,p_valid,p_ready,io_type", RTL_CASES)
def test_rtl_equals_golden(idiom, rf, p_valid, p_ready, io_type, tmp_path):
    graph, design = _rtl(idiom, rf, p_valid, p_ready, tmp_path, io_type)
    if not idiom.startswith(("binary", "ternary")):
        return
    # ROM words whatever the grid: binary kernels one sign bit per weight (kws_mac_chain W_SIGN),
    # ternary 2-bit codes (-1/0/+1); at RF 1 the weights are shift-add constants, +-1 codes of 2 bits.
    # Per-channel gains 2**k_c become one shift per output channel.
    bits = stored_weight_bits(graph, design)
    assert set(bits.values()) == {1 if idiom.startswith("binary") and rf > 1 else 2}, bits
    if idiom in ("binary_po2_dense", "ternary_po2_conv2d"):
        layer = next(l for l in graph.get_layers() if "weight" in l.weights)
        notes = next(l.notes for l in design.layers if l.layer == layer.name)
        assert layer.weights["weight"].type.precision.width > 2 and len(set(notes["channel_shifts"])) >= 2, notes


SEQ_CASES = {  # idiom -> (stored weight word, per-channel shifts?) in the sequential engine's one ROM
    "binary_dense": (1, False), "binary_po2_dense": (1, True), "ternary_po2_conv2d": (2, True),
}


@pytest.mark.sim
@pytest.mark.parametrize("idiom", sorted(SEQ_CASES))
def test_sequential_engine_stores_sign_bits_and_shifts(idiom, tmp_path):
    """RF=seq (one multiplier, hw/rtl/sequential.py): a +-1 kernel is one sign bit per weight, a
    ternary one 2-bit codes, and power-of-two gains a shift per output channel read beside the bias."""
    graph, design = _rtl(idiom, "seq", 70, 75, tmp_path, "io_stream" if "conv2d" in idiom else "io_parallel")
    (engine,) = [l for l in design.layers if l.module]
    width, shifted = SEQ_CASES[idiom]
    layer = next(l for l in graph.get_layers() if "weight" in l.weights)
    assert layer.weights["weight"].type.precision.width > width
    assert engine.notes["stored_weight_bits"] == width
    assert engine.rom_bits == layer.weights["weight"].data.size * width
    assert (len(set(engine.notes["channel_shifts"].get(layer.name, [0]))) >= 2) == shifted, engine.notes


# ---------------------------------------------------------------- refusals and messages
def _one_layer(layer, shape=(8,)):
    inp = keras.Input(shape, name="features")
    x = QActivation(qb(8, 2), name="in_q")(inp)
    return keras.Model(inp, QActivation(qb(12, 5), name="out_q")(layer()(x)))


REFUSALS = {
    "fused_float_relu": (lambda: QDense(4, activation="relu", name="fc", **_wq(qb(6, 0))),
                         ["fused activation 'relu' is unquantized", "activation=None", "QActivation(quantized_relu("]),
    "binary_alpha_auto": (lambda: QDense(4, name="fc", **_wq(binary(alpha="auto"))),
                          ["binary(alpha='auto')", "alpha='auto_po2'"]),
    "ternary_alpha_auto": (lambda: QConv1D(3, 3, name="fc", **_wq(ternary(alpha="auto"))),
                           ["ternary(alpha='auto')", "alpha='auto_po2'"]),
    "binary_use_01": (lambda: QDense(4, name="fc", **_wq(binary(use_01=True, alpha=1))),
                      ["binary(use_01=True,alpha=1)", "use binary(alpha=1)"]),
    "binary_alpha_not_po2": (lambda: QDense(4, name="fc", **_wq(binary(alpha=0.3))), ["alpha=0.3 is no power of two"]),
    # a QKeras layer turns alpha=None of its kernel's binary/ternary/stochastic_* into 'auto_po2'
    "stochastic_binary": (lambda: QDense(4, name="fc", **_wq(stochastic_binary())),
                          ["stochastic_binary(alpha='auto_po2') draws random weights", "deterministic"]),
    # (binary(use_stochastic_rounding=True) does not even build in QKeras 0.9; ternary needs alpha='auto*')
    "ternary_stochastic_rounding": (lambda: QConv1D(3, 3, name="fc", **_wq(ternary(alpha="auto_po2", use_stochastic_rounding=True))),
                                    ["ternary(alpha='auto_po2',use_stochastic_rounding=True)", "deterministic"]),
    "fused_binary_activation": (lambda: QDense(4, activation=binary(alpha=1), name="fc", **_wq(qb(6, 0))),
                                ["fused activation binary(alpha=1)", "kernels only"]),
    "fused_leaky_relu": (lambda: QDense(4, activation=quantized_relu(8, 3, negative_slope=0.25), name="fc",
                                        **_wq(qb(6, 0))),
                         ["fused activation quantized_relu(8,3,negative_slope=0.25)", "use negative_slope=0"]),
}


@pytest.mark.parametrize("case", sorted(REFUSALS))
def test_refusal_names_the_layer_and_reads_like_user_code(case, tmp_path):
    layer, words = REFUSALS[case]
    shape = (10, 2) if case.startswith("ternary") else (8,)
    model = _one_layer(layer, shape)
    with pytest.raises(UnsupportedModelError) as info:
        check_supported(model)
    assert [name for name, _ in info.value.problems] == ["fc"], str(info.value)
    why = info.value.problems[0][1]
    for word in words:
        assert word in why, (word, why)
    assert "class_name" not in str(info.value) and "{" not in str(info.value)  # no serialized dicts
    with pytest.raises(UnsupportedModelError):
        convert(model, tmp_path / "prj")
    assert not (tmp_path / "prj").exists()


def test_binary_activation_layer_is_refused():
    inp = keras.Input((8,), name="features")
    x = QActivation(qb(8, 2), name="in_q")(inp)
    x = QDense(4, name="fc", **_wq(qb(6, 0)))(x)
    model = keras.Model(inp, QActivation(ternary(alpha=1), name="sign")(x))
    with pytest.raises(UnsupportedModelError, match=r"sign: ternary\(alpha=1\) activations .* kernels only"):
        check_supported(model)


def test_problem_after_a_split_is_reported_under_the_users_layer_name():
    """A problem the split-off QActivation's position raises (the input's first consumer must be a
    quantized_bits QActivation) names the user's layers only."""
    inp = keras.Input((8,), name="features")
    x = QDense(4, name="fc", activation=quantized_relu(8, 3), **_wq(binary(alpha=1)))(inp)
    x = keras.layers.Add(name="add")([x, x])
    model = keras.Model(inp, x)
    with pytest.raises(UnsupportedModelError) as info:
        check_supported(model)
    names = {name for name, _ in info.value.problems}
    assert names == {"features", "add"}, str(info.value)
    from hw.convert.rewrite import user_layer_name

    new = rewrite(model)
    assert [user_layer_name(new, l.name) for l in new.layers] == ["features", "fc", "fc", "add"]


def test_all_zero_channel_under_auto_po2_is_refused_with_the_reason():
    """QKeras gives an all-zero output channel of binary(alpha='auto_po2') the scale 2**-23: exact,
    but on a 25-bit grid; refused with the reason rather than carried."""
    model = idiom_model("binary_po2_dense")
    w, b = model.get_layer("fc").get_weights()
    w[:, 2] = 0.0
    model.get_layer("fc").set_weights([w, b])
    with pytest.raises(UnsupportedModelError, match=r"fc: kernel_quantizer: binary\(alpha='auto_po2'\).*2\*\*-23"):
        check_supported(model)


@pytest.mark.parametrize("q,text", [
    (quantized_relu(8, 4), "quantized_relu(8,4)"),
    (quantized_bits(8, 0, alpha=1), "quantized_bits(8,0,alpha=1)"),
    (quantized_bits(6, 2, alpha="auto_po2", keep_negative=False), "quantized_bits(6,2,keep_negative=False,alpha='auto_po2')"),
    (binary(alpha="auto_po2"), "binary(alpha='auto_po2')"),
    (ternary(alpha=1, threshold=0.2), "ternary(alpha=1,threshold=0.2)"),
    ({"class_name": "quantized_relu", "config": {"bits": 4, "integer": 2, "use_sigmoid": 0}}, "quantized_relu(4,2)"),
    ("quantized_bits(4,0,alpha=1)", "quantized_bits(4,0,alpha=1)"),
])
def test_quantizer_repr_reads_like_user_code(q, text):
    assert quantizer_repr(q) == text


def test_existing_messages_show_quantizers_as_written():
    model = _one_layer(lambda: QDense(4, name="fc", **_wq(quantized_bits(8, 0, alpha="auto_po2"))))
    with pytest.raises(UnsupportedModelError, match=r"fc: kernel_quantizer: quantized_bits\(8,0,alpha='auto_po2'\): "):
        check_supported(model)


# ---------------------------------------------------------------- save / load
def test_h5_round_trip_converts_the_same(tmp_path):
    from qkeras.utils import load_qmodel

    model = residual_model()
    path = tmp_path / "user.h5"
    model.save(path)
    loaded = load_qmodel(str(path))
    x = inputs_with_ties(model, N, 8, seed=3)
    want = _predict(model, x)
    assert np.array_equal(_predict(loaded, x), want)
    a = GoldenModel(_graph(model, tmp_path / "a")).predict(x).reshape(N, -1)
    b = GoldenModel(_graph(loaded, tmp_path / "b")).predict(x).reshape(N, -1)
    assert np.array_equal(a, want) and np.array_equal(b, want)


# ---------------------------------------------------------------- RTL / accumulator details
def test_sign_kernels_are_narrowed_without_shifts():
    """Codes -1/0/+1 on a wider grid (a common gain 2**-2: fixed<3,1>) are stored in 2-bit words with
    no shifts; a kernel with other codes and no trailing zeros is left alone (generated as before)."""
    from hw.rtl.channel_shift import factor_channel_shifts
    from qat.fixed import FixedType

    w_t = FixedType(3, 1)
    sign = np.array([[1, -1, 0], [-1, 1, 1]], np.int64)
    for prod_shift in (0, 1):  # the products are unchanged, so rounding them one by one does not matter
        pc = factor_channel_shifts(sign, w_t, prod_shift)
        assert pc.shifts == (0, 0, 0) and pc.w_type.width == 2 and pc.w_type.frac == w_t.frac
        assert np.array_equal(pc.weights, sign)
    assert factor_channel_shifts(np.array([[3, -1], [1, 2]]), FixedType(4, 1), 0) is None
    assert factor_channel_shifts(sign, FixedType(2, 2), 0) is None  # already 2 bits: nothing to gain


def test_narrow_accumulator_rounding_above_the_integer_lsb_is_refused(tmp_path):
    """Binary kernels times integer activations give integer products; dropping LSBs from them would
    round into fixed<W, I> with I > W, which aborts hls4ml 1.3's C simulation (found by
    sim/fuzz.py --byo, seed 108): refused with the reason."""
    from hw.accumulators import AccumulatorRangeError, narrow_accumulators

    inp = keras.Input((12,), name="features")
    x = QActivation(qb(3, 2), name="in_q")(inp)  # integer codes -4..3
    x = QDense(4, name="fc", kernel_quantizer=binary(alpha=1), use_bias=False)(x)
    model = _randomize(keras.Model(inp, QActivation(qb(8, 7), name="out_q")(x)), 0)
    graph = _graph(model, tmp_path)
    assert narrow_accumulators(graph, 10)["fc"]["accum"].startswith("fixed<10,10")
    with pytest.raises(AccumulatorRangeError, match=r"'fc'.*0 fraction bits.*use drop_bits <= 0"):
        narrow_accumulators(graph, 10, 2)


# ---------------------------------------------------------------- the fuzzer's byo idioms
def test_fuzzer_byo_specs_keep_the_plain_ones_and_are_supported():
    from sim.fuzz_models import SIGN_KERNELS, generate, supported, walk

    seen, fused = set(), 0
    for seed in range(100, 112):
        assert generate(seed) == generate(seed, byo=False)
        spec = generate(seed, byo=True)
        layers = list(walk(spec["layers"]))
        seen |= {l["kq"] for l in layers if l.get("kq")}
        fused += sum(bool(l.get("fused")) for l in layers)
        if seed in (101, 103, 107, 108):  # between them: every sign kernel, fused and not
            model, why = supported(spec)
            assert model is not None, (seed, why)
    assert seen == set(SIGN_KERNELS) and fused >= 5


@pytest.mark.slow
@pytest.mark.sim
@pytest.mark.parametrize("seed", range(100, 112))
def test_fuzzer_byo_model_exact(seed):
    from sim.fuzz import STAGES, check
    from sim.fuzz_models import generate

    res = check(generate(seed, byo=True), STAGES)
    assert res["exact"], (res.get("pair"), res.get("detail"))
