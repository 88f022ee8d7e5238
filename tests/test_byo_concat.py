"""Channel Concatenate (inception-style / multi-branch nets), through every stage:
QKeras == golden, hls4ml C simulation == golden, RTL (kws_concat + schedule-sized FIFOs) == golden.

Models (built here): input -> two branches of unequal latency and of different fixed types ->
Concatenate(axis=-1) -> QActivation -> more layers. "conv1d": a 9-tap + 5-tap 'same' conv chain
against a 1x1 conv (the short branch runs 6 beats ahead); "dense": two QDense against one;
"conv2d": a 3x3 'same' conv against a 1x1 conv on a 6x6 image. The converter gives the
Concatenate the common type of its two inputs (hw.convert.hls_config.concat_type), so hls4ml's
per-element conversion into it is exact.

Reproduce: ``.venv/bin/python -m pytest tests/test_byo_concat.py`` (`-m hls` / `-m sim` for the
C simulation / RTL parts).
"""

from __future__ import annotations

import shutil

import numpy as np
import pytest

from hw.convert import HlsSettings, UnsupportedModelError, check_supported, convert
from hw.convert.hls_config import concat_type
from hw.golden import GoldenModel
from qat.fixed import FixedType
from sim.testmodels import inputs_with_ties

BITS = 8
KINDS = ("conv1d", "dense", "conv2d")
IO_TYPES = ("io_parallel", "io_stream")


def concat_model(kind: str, bits: int = BITS, seed: int = 0, short_first: bool = False):
    """input -> long branch / short branch (different types) -> Concatenate -> QActivation -> head.
    short_first: Concatenate([short, long]) (the leading branch is input 0)."""
    import tensorflow as tf
    from qkeras import QActivation, QConv1D, QConv2D, QDense, quantized_bits, quantized_relu

    tf.keras.utils.set_random_seed(seed)
    wq = dict(kernel_quantizer=quantized_bits(bits, 0, alpha=1), bias_quantizer=quantized_bits(bits, 2, alpha=1))
    relu = lambda name, integer=2: QActivation(quantized_relu(bits, integer), name=name)  # noqa: E731
    shape = {"conv1d": (24, 3), "dense": (16,), "conv2d": (6, 6, 2)}[kind]
    inp = tf.keras.Input(shape, name="features")
    x = QActivation(quantized_bits(bits, 2, alpha=1), name="q_in")(inp)
    if kind == "conv1d":
        a = relu("long1_relu")(QConv1D(4, 9, padding="same", name="long1", **wq)(x))
        a = relu("long2_relu")(QConv1D(4, 5, padding="same", name="long2", **wq)(a))
        b = QConv1D(3, 1, name="short", **wq)(x)
    elif kind == "dense":
        a = relu("long1_relu")(QDense(6, name="long1", **wq)(x))
        a = relu("long2_relu", 1)(QDense(5, name="long2", **wq)(a))
        b = QDense(4, name="short", **wq)(x)
    else:
        a = relu("long1_relu")(QConv2D(3, (3, 3), padding="same", name="long1", **wq)(x))
        b = QConv2D(2, (1, 1), name="short", **wq)(x)
    # signed, coarser and wider-ranged than the unsigned long branch: the common type is wider than both
    b = QActivation(quantized_bits(bits - 2, 3, alpha=1), name="short_q")(b)
    z = tf.keras.layers.Concatenate(axis=-1, name="cat")([b, a] if short_first else [a, b])
    z = relu("cat_relu")(z) if kind != "dense" else QActivation(quantized_bits(bits, 2, alpha=1), name="cat_q")(z)
    head = {"conv1d": lambda: QConv1D(5, 3, name="head", **wq), "dense": lambda: QDense(4, name="head", **wq),
            "conv2d": lambda: QConv2D(3, (3, 3), name="head", **wq)}[kind]()
    z = QActivation(quantized_bits(bits + 4, 4, alpha=1), name="out_q")(head(z))
    model = tf.keras.Model(inp, z, name=f"concat_{kind}")
    rng = np.random.default_rng(seed)
    for layer in model.layers:
        ws = layer.get_weights()
        if ws:
            layer.set_weights([rng.uniform(-1, 1, w.shape).astype(np.float32) for w in ws])
    return model


def _graph(kind, io_type, tmp_path, overrides=None, short_first=False):
    model = concat_model(kind, short_first=short_first)
    return model, convert(model, tmp_path / f"prj_{kind}_{io_type}", HlsSettings(io_type=io_type), overrides=overrides)


def _predict(model, x):
    return model.predict(x, verbose=0, batch_size=256).reshape(len(x), -1)


def _cat(graph):
    (cat,) = [l for l in graph.get_layers() if l.class_name == "Concatenate"]
    return cat


# ---------------------------------------------------------------- QKeras == golden
@pytest.mark.parametrize("short_first", [False, True], ids=["long_first", "short_first"])
@pytest.mark.parametrize("io_type", IO_TYPES)
@pytest.mark.parametrize("kind", KINDS)
def test_qkeras_equals_golden(kind, io_type, short_first, tmp_path):
    model, graph = _graph(kind, io_type, tmp_path, short_first=short_first)
    cat = _cat(graph)
    in_ts = [FixedType.from_hls4ml(cat.get_input_variable(i).type.precision) for i in cat.inputs]
    out_t = FixedType.from_hls4ml(cat.get_output_variable().type.precision)
    assert in_ts[0] != in_ts[1] and out_t not in in_ts and out_t == concat_type(*in_ts)  # a real conversion
    x = inputs_with_ties(model, 500, BITS)
    want = _predict(model, x)
    got = GoldenModel(graph).predict(x).reshape(len(x), -1)
    assert np.all(got == want, axis=1).sum() == len(x)
    assert len(np.unique(want)) > 100
    # both branches reach the output: the concatenated tensor itself, traced, is the two branch tensors
    trace = GoldenModel(graph).trace(x[:50])
    a, b = (trace[i].reshape(50, -1, cat.get_input_variable(i).shape[-1]) for i in cat.inputs)  # tensor = layer name
    assert np.array_equal(trace["cat"].reshape(50, -1, a.shape[-1] + b.shape[-1]), np.concatenate([a, b], axis=-1))


def test_narrower_result_type_is_modelled_and_is_why_the_common_type_is_set(tmp_path):
    """Forced to a type with 4 fraction bits, hls4ml's conversion truncates the long branch's values
    (6 fraction bits): the golden model follows (see the C-simulation test below), QKeras differs."""
    model, graph = _graph("conv1d", "io_parallel", tmp_path, overrides={"cat": {"result": "fixed<7,3,TRN,SAT>"}})
    x = inputs_with_ties(model, 300, BITS)
    got = GoldenModel(graph).predict(x).reshape(len(x), -1)
    assert np.all(got == _predict(model, x), axis=1).sum() < len(x) // 2


def test_concat_type_holds_both_inputs_exactly_and_is_the_narrowest():
    cases = [(FixedType(8, 2, False), FixedType(6, 3)), (FixedType(8, 1, False), FixedType(8, 4)),
             (FixedType(8, 5, False), FixedType(6, 3)),
             (FixedType(5, 5), FixedType(9, 0)), (FixedType(4, -1, False), FixedType(7, 7, False)),
             (FixedType(6, 2, True, "RND_CONV", "SAT"), FixedType(6, 2, True, "RND_CONV", "SAT"))]
    for a, b in cases:
        t = concat_type(a, b)
        if a == b:
            assert t == a
        for src in (a, b):
            raw = np.arange(src.min_raw, src.max_raw + 1)
            assert t.fits(t.requantize(raw, src.frac)) and np.array_equal(t.to_float(t.requantize(raw, src.frac)),
                                                                          src.to_float(raw))
            assert np.array_equal(t.requantize(raw, src.frac) * 2.0 ** -t.frac, src.to_float(raw))
        narrower = [FixedType(t.width - 1, t.integer - 1, t.signed), FixedType(t.width - 1, t.integer, t.signed)]
        for n in narrower:  # one integer or one fraction bit less loses a value of one input
            assert any(not np.array_equal(n.to_float(n.requantize(np.arange(s.min_raw, s.max_raw + 1), s.frac)),
                                          s.to_float(np.arange(s.min_raw, s.max_raw + 1))) for s in (a, b))


# ---------------------------------------------------------------- hls4ml C simulation == golden
needs_gxx = pytest.mark.skipif(shutil.which("g++") is None, reason="hls4ml C simulation needs g++")


def _csim(graph, x):
    graph.compile()
    return np.asarray(graph.predict(np.ascontiguousarray(x, dtype=np.float64))).reshape(len(x), -1)


# three in the default suite (one per model, both io types), the other three `slow` (file time ~2 min)
CSIM_CASES = [("conv1d", "io_stream"), ("dense", "io_parallel"), ("conv2d", "io_stream")]
CSIM_CASES += [pytest.param(k, io, marks=pytest.mark.slow) for k in KINDS for io in IO_TYPES if (k, io) not in CSIM_CASES]


@needs_gxx
@pytest.mark.hls
@pytest.mark.parametrize("kind,io_type", CSIM_CASES)
def test_csim_equals_golden(kind, io_type, tmp_path):
    model, graph = _graph(kind, io_type, tmp_path)
    x = inputs_with_ties(model, 300, BITS, seed=2)
    golden = GoldenModel(graph).predict(x).reshape(len(x), -1)
    csim = _csim(graph, x)
    assert np.all(csim == golden, axis=1).sum() == len(x)
    assert np.array_equal(golden, _predict(model, x))


@needs_gxx
@pytest.mark.hls
def test_csim_equals_golden_with_a_narrower_result_type(tmp_path):
    model, graph = _graph("conv1d", "io_stream", tmp_path, overrides={"cat": {"result": "fixed<7,3,TRN,SAT>"}})
    x = inputs_with_ties(model, 300, BITS, seed=3)
    golden = GoldenModel(graph).predict(x).reshape(len(x), -1)
    assert np.all(_csim(graph, x) == golden, axis=1).sum() == len(x)
    assert not np.array_equal(golden, _predict(model, x))


# ---------------------------------------------------------------- RTL == golden
N_RTL = 250
RTL_CASES = [  # kind, io_type, reuse factor, short branch first, [(p_valid, p_ready)...]
    ("conv1d", "io_parallel", 1, False, [(100, 100), (60, 40)]),
    ("conv1d", "io_stream", 4, False, [(100, 100), (90, 20)]),
    ("conv1d", "io_stream", 2, True, [(100, 100), (60, 40)]),  # the FIFO on input 0, which leads
    ("dense", "io_parallel", 1, False, [(100, 100), (70, 50)]),
    ("dense", "io_stream", 6, True, [(100, 100), (50, 70)]),
    ("conv2d", "io_stream", 3, False, [(100, 100), (75, 60)]),
]
LEADS = {"conv1d": 6, "conv2d": 7, "dense": 0}  # beats the short branch runs ahead: (9-1)/2 + (5-1)/2; one row + 1


@pytest.mark.sim
@pytest.mark.parametrize("kind,io_type,rf,short_first,handshakes", RTL_CASES,
                         ids=[f"{k}-{io}-rf{rf}" + ("-short_first" if sf else "") for k, io, rf, sf, _ in RTL_CASES])
def test_rtl_equals_golden(kind, io_type, rf, short_first, handshakes, tmp_path):
    from hw.rtl import generate_rtl
    from sim.reference import random_raw_inputs
    from tests.rtl_checks import assert_rtl_exact

    _, graph = _graph(kind, io_type, tmp_path, short_first=short_first)
    design = generate_rtl(graph, tmp_path / "rtl", reuse_factor=rf)
    (cat,) = [l for l in design.layers if l.kind == "Concatenate"]
    # the short branch holds the schedule's lead + 2 beats of slack; the long one none
    lead, depth = [0, LEADS[kind]], [0, LEADS[kind] + 2 if LEADS[kind] else 0]
    order = slice(None, None, -1 if short_first else 1)
    assert cat.notes["fifo_schedule"]["lead_beats"] == lead[order] and cat.notes["fifo_depths"] == depth[order]
    assert cat.out.beat == sum(cat.notes["channels"])
    assert_rtl_exact(design, graph, random_raw_inputs(graph, N_RTL, seed=4), handshakes, rf)


@pytest.mark.sim
def test_rtl_without_the_schedule_fifo_deadlocks(tmp_path, monkeypatch):
    """The FIFO matters: without it the 1x1 branch fills up, stalls the fork, and the 9-tap branch
    never gets the beats its first output needs; nothing comes out."""
    import hw.rtl.generate as generate
    from hw.rtl import generate_rtl
    from sim.frames import frames_for
    from sim.reference import expected_raw, random_raw_inputs
    from sim.runner import run_cocotb

    monkeypatch.setattr(generate, "fifo_depths", lambda *a, **k: ((0, 0), {"model": "forced to 0 (test)"}))
    _, graph = _graph("conv1d", "io_stream", tmp_path)
    design = generate_rtl(graph, tmp_path / "rtl", reuse_factor=1)
    x = random_raw_inputs(graph, 2, seed=6)
    cfg = {**frames_for(design, x, expected_raw(graph, x)), "p_valid": 1.0, "p_ready": 1.0, "max_cycles": 5000}
    result = run_cocotb(design.files, design.top, "sim.tb_stream", tb_config=cfg, testcase="stream_exact")
    assert result.failed == 1 and "stream_exact" not in result.report
    assert "timeout after 5000 cycles: 0/" in result.results_xml.read_text()


# ---------------------------------------------------------------- refusals
def _branches(shape, n=2, channels=(4, 4), axis=-1, same_tensor=False):
    import tensorflow as tf
    from qkeras import QActivation, QConv1D, quantized_bits

    wq = dict(kernel_quantizer=quantized_bits(8, 0, alpha=1), bias_quantizer=quantized_bits(8, 2, alpha=1))
    inp = tf.keras.Input(shape, name="features")
    x = QActivation(quantized_bits(8, 2, alpha=1), name="q_in")(inp)
    ys = [QActivation(quantized_bits(8, 2, alpha=1), name=f"b{j}_q")(QConv1D(channels[j % 2], 1, name=f"b{j}", **wq)(x))
          for j in range(1 if same_tensor else n)]
    z = tf.keras.layers.Concatenate(axis=axis, name="cat")(ys * 2 if same_tensor else ys)
    return tf.keras.Model(inp, QActivation(quantized_bits(8, 2, alpha=1), name="out_q")(z))


@pytest.mark.parametrize("axis", [1, -2])
def test_refuses_concatenation_along_time(axis):
    with pytest.raises(UnsupportedModelError, match=rf"cat: Concatenate along axis {axis} .* only the channel \(last\) axis"):
        check_supported(_branches((8, 3), axis=axis))


@pytest.mark.parametrize("axis", [-1, 2])
def test_accepts_the_channel_axis_either_way(axis):
    check_supported(_branches((8, 3), channels=(4, 3), axis=axis))


def test_refuses_three_inputs_and_a_tensor_with_itself():
    with pytest.raises(UnsupportedModelError, match=r"cat: Concatenate of 3 tensors; .*nest two-input"):
        check_supported(_branches((8, 3), n=3))
    with pytest.raises(UnsupportedModelError, match=r"cat: Concatenate of a tensor with itself"):
        check_supported(_branches((8, 3), same_tensor=True))


def test_other_merges_still_refused():
    import tensorflow as tf

    inp = tf.keras.Input((4,), name="features")
    model = tf.keras.Model(inp, tf.keras.layers.Subtract(name="sub")([inp, inp]))
    with pytest.raises(UnsupportedModelError, match=r"sub: Subtract is not supported; .*Add .* and Concatenate"):
        check_supported(model)


def test_golden_and_rtl_refuse_another_axis_in_a_graph_the_converter_did_not_check(tmp_path):
    """A graph converted without hw.convert (straight hls4ml): both stages name the layer."""
    import hls4ml

    from hw.errors import UnsupportedLayerError
    from hw.rtl import generate_rtl
    from hw.rtl.errors import UnsupportedLayerError as RtlUnsupported

    model = _branches((8, 3), axis=1)
    cfg = hls4ml.utils.config_from_keras_model(model, granularity="name", backend="Vitis")
    graph = hls4ml.converters.convert_from_keras_model(model, hls_config=cfg, output_dir=str(tmp_path / "prj"),
                                                       backend="Vitis")
    with pytest.raises(UnsupportedLayerError, match=r"cat.*only the last axis"):
        GoldenModel(graph)
    with pytest.raises(RtlUnsupported, match=r"cat.*only the channel \(last\) axis"):
        generate_rtl(graph, tmp_path / "rtl")
