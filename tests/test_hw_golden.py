"""Exactness matrix, numpy side: QKeras output == GoldenModel(hls4ml graph) on single-layer models.

Every supported layer/quantizer at 8 and 4 bits. Inputs sit on a grid one bit finer than the input
quantizer, so many of them are exact rounding ties (half-to-even must be right). No C++ here;
tests/test_hw_csim.py adds the C simulation for the same models.
"""

import os

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

import numpy as np
import pytest

pytest.importorskip("qkeras")
pytest.importorskip("hls4ml")

from qkeras import QActivation, QConv1D, QConv2D, QDense, QDepthwiseConv2D, quantized_bits, quantized_relu  # noqa: E402
from tensorflow import keras  # noqa: E402

from hw.convert import HlsSettings, convert  # noqa: E402
from hw.golden import GoldenModel  # noqa: E402


def _wq(bits, integer=0):
    return quantized_bits(bits, integer, alpha=1)


def _conv_kw(bits, bias=True):
    kw = dict(kernel_quantizer=_wq(bits, 0), bias_quantizer=_wq(bits, 2) if bias else None, use_bias=bias)
    return kw


def _relu(bits, name):
    return QActivation(quantized_relu(bits, 2 if bits <= 4 else 3), name=name)


def _tail(bits, name="out_q"):
    return QActivation(quantized_bits(bits + 4, 4, alpha=1), name=name)


# Each builder: (bits) -> (input shape, list of layers after the input quantizer)
MODELS = {
    "dense_relu": lambda b: ((24,), [QDense(10, name="fc", **_conv_kw(b)), _relu(b, "relu")]),
    "dense_trailing_quant": lambda b: ((24,), [QDense(10, name="fc", **_conv_kw(b)), _tail(b)]),
    "dense_nobias": lambda b: ((16,), [QDense(6, name="fc", **_conv_kw(b, bias=False)), _tail(b)]),
    "conv1d_stride_relu": lambda b: ((40, 3), [QConv1D(5, 7, strides=2, name="c1", **_conv_kw(b)), _relu(b, "relu")]),
    "conv1d_same_trailing": lambda b: ((20, 2), [QConv1D(4, 3, padding="same", name="c1", **_conv_kw(b)), _tail(b)]),
    "conv2d_same_stride": lambda b: ((13, 7, 1), [QConv2D(6, (5, 3), strides=2, padding="same", name="c2", **_conv_kw(b)), _relu(b, "relu")]),
    "conv2d_pointwise": lambda b: ((5, 4, 8), [QConv2D(6, 1, name="pw", **_conv_kw(b)), _tail(b)]),
    "depthwise_same": lambda b: (
        (7, 5, 4),
        [QDepthwiseConv2D(3, padding="same", depthwise_quantizer=_wq(b, 0), bias_quantizer=_wq(b, 2), name="dw"), _relu(b, "relu")],
    ),
    "avgpool2d_non_pow2": lambda b: (
        (10, 6, 3),
        [_relu(b, "relu_in"), keras.layers.AveragePooling2D((5, 3), name="pool"), QActivation(quantized_bits(16, 3, alpha=1), name="pool_q")],
    ),
    "avgpool2d_pow2_flatten_dense": lambda b: (
        (4, 4, 2),
        [_relu(b, "relu_in"), keras.layers.AveragePooling2D((2, 2), name="pool"), keras.layers.Flatten(name="flat"),
         QDense(5, name="fc", **_conv_kw(b)), _tail(b)],
    ),
    "avgpool1d": lambda b: ((12, 3), [_relu(b, "relu_in"), keras.layers.AveragePooling1D(3, name="pool"), QActivation(quantized_bits(12, 3, alpha=1), name="pool_q")]),
    "maxpool2d": lambda b: ((6, 6, 2), [keras.layers.MaxPooling2D((2, 3), name="pool"), keras.layers.Flatten(name="flat")]),
    "symmetric_and_unsigned_quantizers": lambda b: (
        (12,),
        [QDense(8, name="fc", **_conv_kw(b)), QActivation(quantized_bits(b, 1, symmetric=1, alpha=1), name="sym_q"),
         QDense(4, name="fc2", **_conv_kw(b)), QActivation(quantized_bits(b, 2, keep_negative=False, alpha=1), name="uq")],
    ),
}


def input_bits(bits):
    return (bits, 2)  # quantized_bits(bits, 2): LSB 2**-(bits-3)


def build(name: str, bits: int, seed: int = 0) -> keras.Model:
    shape, layers = MODELS[name](bits)
    inp = keras.Input(shape, name="inp")
    x = QActivation(quantized_bits(*input_bits(bits), alpha=1), name="in_q")(inp)
    for layer in layers:
        x = layer(x)
    model = keras.Model(inp, x, name=name)
    rng = np.random.default_rng(seed)
    for layer in model.layers:
        weights = layer.get_weights()
        if weights:  # kernel within the quantizer range, biases spread over a few LSBs and integers
            layer.set_weights([rng.uniform(-1, 1, w.shape) * (1.0 if i == 0 else 3.0) for i, w in enumerate(weights)])
    return model


def inputs_with_ties(model: keras.Model, n: int, bits: int, seed: int = 1) -> np.ndarray:
    """Random inputs on a grid 1 bit finer than the input quantizer (half are ties), some out of range."""
    bits_, integer = input_bits(bits)
    frac = bits_ - 1 - integer
    rng = np.random.default_rng(seed)
    lim = 2 ** (integer + frac + 2)  # reaches beyond the input range -> saturation is exercised
    raw = rng.integers(-lim, lim, size=(n, *model.input_shape[1:]))
    return (raw * 2.0 ** -(frac + 1)).astype(np.float32)


def qkeras_output(model, x):
    return model.predict(x, verbose=0, batch_size=256).reshape(len(x), -1)


@pytest.mark.parametrize("bits", [8, 4])
@pytest.mark.parametrize("name", sorted(MODELS))
def test_golden_equals_qkeras(name, bits, tmp_path):
    model = build(name, bits)
    graph = convert(model, tmp_path / "prj", HlsSettings(io_type="io_parallel"))
    golden = GoldenModel(graph)
    x = inputs_with_ties(model, 500, bits)
    want = qkeras_output(model, x)
    got = golden.predict(x).reshape(len(x), -1)
    same = np.all(got == want, axis=1)
    assert np.array_equal(got, want), f"{name}@{bits}b: {same.sum()} of {len(x)} vectors identical"
    # the test must be able to fail: outputs must not be trivially constant
    assert len(np.unique(want)) > 3


def test_golden_io_stream_graph_equals_qkeras(tmp_path):
    """io_stream inserts ZeroPadding layers and changes pooling code; the golden model follows the graph."""
    model = build("conv2d_same_stride", 8)
    golden = GoldenModel(convert(model, tmp_path / "prj", HlsSettings(io_type="io_stream")))
    assert any(s.layer_class.endswith("ZeroPadding2D") for s in golden.stages)
    x = inputs_with_ties(model, 300, 8)
    assert np.array_equal(golden.predict(x).reshape(len(x), -1), qkeras_output(model, x))


def test_golden_detects_a_dropped_quantizer(tmp_path):
    """Without hw.convert's precision carrying, hls4ml drops the trailing quantizer: the golden model
    (which follows the graph) must then disagree with QKeras - proves the comparison has teeth."""
    import hls4ml

    model = build("dense_trailing_quant", 8)
    cfg = hls4ml.utils.config_from_keras_model(model, granularity="name", backend="Vitis")
    graph = hls4ml.converters.convert_from_keras_model(model, hls_config=cfg, output_dir=str(tmp_path / "raw"), backend="Vitis")
    x = inputs_with_ties(model, 300, 8)
    got = GoldenModel(graph).predict(x).reshape(len(x), -1)
    assert not np.array_equal(got, qkeras_output(model, x))
