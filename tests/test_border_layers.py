"""Keras ZeroPadding1D/2D and Cropping1D/2D through every stage: QKeras == golden == hls4ml C
simulation == RTL (kws_zeropad / kws_crop, compiled Verilator harness), and the refusals.

Models (sim/testmodels.py): "seq" crops then pads a sequence around an unpadded strided conv and
crops its output; "img" pads the frequency axis only (the unpadded DS-CNN's layer), crops, pads
all sides before a depthwise conv and pads before an average pool; "res_proj" / "res_id" are
TC-ResNet's unpadded block (time_padding='valid'): the shortcut is the block input right-aligned
by a Cropping1D, then a 1x1 stride-2 conv ("res_proj") or nothing ("res_id"); and the valid DS-CNN
and TC-ResNet themselves (narrow, random weights). Inputs: random with ties and saturation.

Reproduce: ``.venv/bin/python -m pytest tests/test_border_layers.py`` (`-m hls` / `-m sim` for the
C simulation / RTL parts).
"""

from __future__ import annotations

import shutil

import numpy as np
import pytest

from hw.convert import HlsSettings, UnsupportedModelError, check_supported, convert
from hw.golden import GoldenModel
from sim.testmodels import border_model, inputs_with_ties, kws_model, residual_model

BITS = 8
MODELS = {
    "seq": lambda: border_model("seq"),
    "img": lambda: border_model("img"),
    "res_proj": lambda: residual_model(bits=BITS, seed=4, kernel=3, time_padding="valid"),
    "res_id": lambda: residual_model(bits=BITS, seed=4, kernel=3, identity=True, time_padding="valid"),
    "dscnn_valid": lambda: kws_model("dscnn", bits=BITS, seed=1, width=8, blocks_count=2, time_padding="valid"),
    "tcresnet_valid": lambda: kws_model("tc_resnet", bits=BITS, seed=1, width=0.5, time_padding="valid"),
}
SMALL = ("seq", "img", "res_proj", "res_id")
IO_TYPES = ("io_parallel", "io_stream")
BORDER_CLASSES = ("ZeroPadding1D", "ZeroPadding2D", "Cropping1D", "Cropping2D")


def _graph(name, tmp_path, **settings):
    model = MODELS[name]()
    return model, convert(model, tmp_path / f"prj_{name}", HlsSettings(**settings))


def _inputs(model, n, seed=1):
    if model.input_shape[1:] == (49, 10, 1):  # the KWS models: MFCC-like spread, past the input range
        return np.random.default_rng(seed).normal(0, 1.5, (n, 49, 10, 1)).astype(np.float32)
    return inputs_with_ties(model, n, BITS, seed=seed)


def _predict(model, x):
    return model.predict(x, verbose=0, batch_size=256).reshape(len(x), -1)


# ---------------------------------------------------------------- QKeras == golden
@pytest.mark.parametrize("io_type", IO_TYPES)
@pytest.mark.parametrize("name", list(MODELS))
def test_qkeras_equals_golden(name, io_type, tmp_path):
    model, graph = _graph(name, tmp_path, io_type=io_type)
    golden = GoldenModel(graph)
    kinds = {s.layer_class.removeprefix("Vitis") for s in golden.stages}
    assert kinds & set(BORDER_CLASSES), kinds  # the Keras layers reach the graph as themselves
    x = _inputs(model, 500)
    want = _predict(model, x)
    got = golden.predict(x).reshape(len(x), -1)
    assert np.all(got == want, axis=1).sum() == len(x)
    assert len(np.unique(want, axis=0)) > 100


def test_golden_crops_and_pads_like_numpy(tmp_path):
    """Traced: each border stage's output is its input with np.pad / the kept window, same codes."""
    model, graph = _graph("img", tmp_path)
    x = _inputs(model, 20)
    trace = GoldenModel(graph).trace(x)
    crop_in = trace["conv_relu"].reshape(20, 5, 7, 3)
    assert np.array_equal(trace["crop"].reshape(20, 4, 6, 3), crop_in[:, 1:, :6])
    assert np.array_equal(trace["dw_pad"].reshape(20, 6, 8, 3), np.pad(crop_in[:, 1:, :6], ((0, 0), (1, 1), (2, 0), (0, 0))))


# ---------------------------------------------------------------- hls4ml C simulation == golden
needs_gxx = pytest.mark.skipif(shutil.which("g++") is None, reason="hls4ml C simulation needs g++")
CSIM_CASES = [  # name, settings: both io types, both backends, Latency and Resource
    ("seq", {"io_type": "io_stream", "strategy": "Resource", "reuse_factor": 2}),
    ("img", {"io_type": "io_parallel", "backend": "Vivado"}),
    ("res_id", {"io_type": "io_stream"}),
    ("res_proj", {"io_type": "io_parallel", "backend": "Vivado", "strategy": "Resource", "reuse_factor": 2}),
    ("dscnn_valid", {"io_type": "io_stream"}),
    ("tcresnet_valid", {"io_type": "io_parallel"}),
]
CSIM_CASES += [pytest.param(n, {"io_type": io}, marks=pytest.mark.slow) for n in SMALL for io in IO_TYPES
               if not any(c[0] == n and c[1]["io_type"] == io for c in CSIM_CASES)]


@needs_gxx
@pytest.mark.hls
@pytest.mark.parametrize("name,settings", CSIM_CASES, ids=lambda v: v if isinstance(v, str) else "-".join(map(str, v.values())))
def test_csim_equals_golden(name, settings, tmp_path):
    model, graph = _graph(name, tmp_path, **settings)
    x = _inputs(model, 300, seed=2)
    golden = GoldenModel(graph).predict(x).reshape(len(x), -1)
    graph.compile()
    csim = np.asarray(graph.predict(np.ascontiguousarray(x, dtype=np.float64))).reshape(len(x), -1)
    assert np.all(csim == golden, axis=1).sum() == len(x)
    assert np.array_equal(golden, _predict(model, x))


# ---------------------------------------------------------------- RTL == golden
N_RTL = 200
RTL_CASES = [  # name, io_type, reuse factor, [(p_valid, p_ready)...], FIFO depths of each Add
    ("seq", "io_parallel", 1, [(100, 100), (60, 40)], []),
    ("seq", "io_stream", 3, [(100, 100), (90, 20)], []),
    ("img", "io_stream", 1, [(100, 100), (60, 40)], []),
    ("img", "io_parallel", 4, [(100, 100), (70, 50)], []),
    # right-aligned: the shortcut's output j needs the fork beat the long branch's output j ends on,
    # so neither branch leads and no FIFO is needed (the fork lets each branch take a beat on its own)
    ("res_proj", "io_stream", 2, [(100, 100), (60, 40)], [[0, 0]]),
    ("res_id", "io_parallel", 1, [(100, 100), (60, 40), (30, 90)], [[0, 0]]),
    ("res_id", "io_stream", 4, [(100, 100), (50, 70), (90, 10)], [[0, 0]]),
    ("tcresnet_valid", "io_parallel", 8, [(100, 100), (70, 60)], [[0, 0]] * 3),
    ("dscnn_valid", "io_stream", 16, [(100, 100), (80, 70)], []),
]


@pytest.mark.sim
@pytest.mark.parametrize("name,io_type,rf,handshakes,depths", RTL_CASES,
                         ids=[f"{n}-{io}-rf{rf}" for n, io, rf, _, _ in RTL_CASES])
def test_rtl_equals_golden(name, io_type, rf, handshakes, depths, tmp_path):
    from hw.rtl import generate_rtl
    from sim.reference import random_raw_inputs
    from tests.rtl_checks import assert_rtl_exact

    _, graph = _graph(name, tmp_path, io_type=io_type)
    design = generate_rtl(graph, tmp_path / "rtl", reuse_factor=rf)
    modules = {l.module for l in design.layers}
    # a padding in front of a conv is folded into its line buffer (hw/rtl/fold_padding.py): the
    # DS-CNN's every one, the border models' all but the one before the pool
    # (hls4ml's io_stream flow adds its own zp* padding in front of a 'same' conv: folded as well)
    folded = sorted(l.notes["folded_padding"] for l in design.layers if "folded_padding" in l.notes)
    want = {"seq": ["conv_pad"], "img": ["conv_pad", "dw_pad"], "dscnn_valid": ["conv1_pad", "dw1_pad", "dw2_pad"]}
    assert [f for f in folded if not f.startswith("zp")] == want.get(name, []), folded
    assert ("kws_zeropad" in modules) == (name == "img"), modules
    assert modules & {"kws_zeropad", "kws_crop"} or name == "dscnn_valid", modules
    assert [l.notes["fifo_depths"] for l in design.layers if l.kind == "Merge"] == depths
    assert_rtl_exact(design, graph, random_raw_inputs(graph, N_RTL, seed=4), handshakes, rf)


def test_schedule_needs_of_a_crop():
    """A kept pixel needs its own input pixel; the cropped ones are needed by nothing."""
    from hw.rtl.emitters.base import Edge
    from hw.rtl.layer_spec import LayerSpec
    from hw.rtl.schedule import needs
    from qat.fixed import FixedType

    t = FixedType(8, 2)
    spec = LayerSpec("c", "Cropping2D", t, t, (4, 5, 3), (2, 3, 3), attrs={
        "in_height": 4, "in_width": 5, "n_chan": 3, "crop_top": 1, "crop_bottom": 1, "crop_left": 2, "crop_right": 0})
    assert needs(spec, Edge(3, t), Edge(3, t)) == [7, 8, 9, 12, 13, 14]
    seq = LayerSpec("c", "Cropping1D", t, t, (9, 2), (3, 2), attrs={"in_width": 9, "n_chan": 2, "crop_left": 6,
                                                                      "crop_right": 0})
    assert needs(seq, Edge(2, t), Edge(2, t)) == [6, 7, 8]


# ---------------------------------------------------------------- refusals
def _after_conv(border, activation_first=True):
    """q_in -> QConv1D -> [QActivation ->] border layer [-> QActivation]."""
    import tensorflow as tf
    from qkeras import QActivation, QConv1D, quantized_bits, quantized_relu

    wq = dict(kernel_quantizer=quantized_bits(8, 0, alpha=1), bias_quantizer=quantized_bits(8, 2, alpha=1))
    inp = tf.keras.Input((12, 2), name="features")
    x = QConv1D(3, 3, name="conv", **wq)(QActivation(quantized_bits(8, 2, alpha=1), name="q_in")(inp))
    relu = QActivation(quantized_relu(8, 2), name="relu")
    x = border(relu(x)) if activation_first else relu(border(x))
    return tf.keras.Model(inp, x)


def test_refuses_cropping_of_an_inferred_type():
    import tensorflow as tf

    with pytest.raises(UnsupportedModelError, match=r"crop: Cropping1D of 'conv' \(QConv1D\), whose result type "
                                                    r"hls4ml infers: .*default type fixed<16,6>.*put a QActivation"):
        check_supported(_after_conv(tf.keras.layers.Cropping1D((1, 2), name="crop"), activation_first=False))
    check_supported(_after_conv(tf.keras.layers.Cropping1D((1, 2), name="crop")))


def test_zero_padding_of_an_inferred_type_keeps_it(tmp_path):
    """hls4ml's precision inference reaches a ZeroPadding (not a Cropping): accepted, and exact."""
    import tensorflow as tf

    from qat.fixed import FixedType
    from sim.testmodels import randomize

    model = randomize(_after_conv(tf.keras.layers.ZeroPadding1D((2, 1), name="pad"), activation_first=False),
                       np.random.default_rng(0))
    graph = convert(model, tmp_path / "prj", HlsSettings())
    types = {l.name: FixedType.from_hls4ml(l.get_output_variable().type.precision) for l in graph.get_layers()}
    assert types["pad"] == types["conv"] and types["conv"].width > 16  # the exact sum, not the default
    x = inputs_with_ties(model, 300, BITS)
    assert np.array_equal(GoldenModel(graph).predict(x).reshape(300, -1), _predict(model, x))


@pytest.mark.parametrize("cls", ["ZeroPadding2D", "Cropping2D"])
def test_refuses_channels_first(cls):
    import tensorflow as tf
    from qkeras import QActivation, quantized_bits, quantized_relu

    inp = tf.keras.Input((3, 6, 5), name="features")
    x = QActivation(quantized_relu(8, 2), name="q_in")(QActivation(quantized_bits(8, 2, alpha=1), name="q0")(inp))
    x = getattr(tf.keras.layers, cls)(((0, 0), (1, 1)), data_format="channels_first", name="border")(x)
    with pytest.raises(UnsupportedModelError, match=rf"border: {cls} with data_format='channels_first' is not "
                                                    r"supported; use data_format='channels_last'"):
        check_supported(tf.keras.Model(inp, QActivation(quantized_bits(8, 2, alpha=1), name="out_q")(x)))


def test_refuses_a_precision_override_on_padding(tmp_path):
    model = MODELS["img"]()
    with pytest.raises(UnsupportedModelError, match=r"conv_pad: precision override .* on a ZeroPadding2D: padding and "
                                                    r"cropping keep their input's type"):
        convert(model, tmp_path / "prj", HlsSettings(), overrides={"conv_pad": {"result": "fixed<6,2>"}})


def test_golden_and_rtl_refuse_what_the_converter_would(tmp_path):
    """A graph made without hw.convert: the golden model refuses a channels-first padding, the RTL
    a cropping that changes the type; each names the layer."""
    import hls4ml
    import tensorflow as tf

    from hw.errors import UnsupportedLayerError
    from hw.rtl.emitters.base import Edge
    from hw.rtl.emitters.border_emitter import emit_crop
    from hw.rtl.errors import UnsupportedLayerError as RtlUnsupported
    from hw.rtl.layer_spec import LayerSpec
    from qat.fixed import FixedType

    inp = tf.keras.Input((3, 6, 5), name="features")
    model = tf.keras.Model(inp, tf.keras.layers.ZeroPadding2D(((0, 0), (1, 1)), data_format="channels_first",
                                                              name="border")(inp))
    cfg = hls4ml.utils.config_from_keras_model(model, granularity="name", backend="Vitis")
    graph = hls4ml.converters.convert_from_keras_model(model, hls_config=cfg, output_dir=str(tmp_path / "prj"),
                                                       backend="Vitis")
    with pytest.raises(UnsupportedLayerError, match=r"'border'.*data_format 'channels_first'; only channels_last"):
        GoldenModel(graph)
    a, b = FixedType(15, 7), FixedType(16, 6)
    spec = LayerSpec("crop", "Cropping1D", a, b, (6, 2), (4, 2), attrs={"in_width": 6, "n_chan": 2, "crop_left": 2,
                                                                         "crop_right": 0})
    with pytest.raises(RtlUnsupported, match=r"'crop'.*changes type fixed<15,7> -> fixed<16,6>"):
        emit_crop(spec, Edge(2, a), "kws_top", 1)
