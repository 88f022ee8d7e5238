"""Converter error paths: every unsupported layer / quantizer / setting is rejected by
``hw.convert`` with ONE ``UnsupportedModelError`` that names every offending layer and says what to
use instead, before hls4ml is called (nothing is written, no C++ is compiled, no process abort).

Fast: builds tiny Keras models only.
"""

import os

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

import pytest

pytest.importorskip("qkeras")
pytest.importorskip("hls4ml")

from qkeras import (  # noqa: E402
    QActivation,
    QConv2D,
    QConv2DBatchnorm,
    QDense,
    QDepthwiseConv2D,
    quantized_bits,
    quantized_po2,
    quantized_relu,
    quantized_relu_po2,
)
from tensorflow import keras  # noqa: E402

from hw.convert import (  # noqa: E402
    HlsSettings,
    UnsupportedModelError,
    build_hls_config,
    check_supported,
    convert,
)

L = keras.layers


def q(bits=8, integer=0, **kw):
    return quantized_bits(bits, integer, alpha=kw.pop("alpha", 1), **kw)


def qdense(units, name, **kw):
    kw.setdefault("kernel_quantizer", q())
    kw.setdefault("bias_quantizer", q(8, 2))
    return QDense(units, name=name, **kw)


def seq(shape, *layers, input_name="features", input_quant=True):
    inp = keras.Input(shape, name=input_name)
    x = QActivation(q(8, 2), name="in_q")(inp) if input_quant else inp
    for layer in layers:
        x = layer(x)
    return keras.Model(inp, x)


def relu(name):
    return QActivation(quantized_relu(8, 3), name=name)


def out_q():
    return QActivation(q(16, 5), name="out_q")


def dw(name="dw", **kw):
    kw.setdefault("depthwise_quantizer", q())
    kw.setdefault("bias_quantizer", q(8, 2))
    return QDepthwiseConv2D(3, padding="same", name=name, **kw)


# name -> (model builder, strategy, [(offending layer, words the explanation must contain), ...])
CASES = {
    "lstm": (lambda: seq((10, 4), L.LSTM(8, name="rnn"), qdense(3, "fc"), out_q()), "Latency",
             [("rnn", ["LSTM is not supported", "streaming FFN"])]),
    "gru": (lambda: seq((10, 4), L.GRU(8, name="rnn"), qdense(3, "fc"), out_q()), "Latency",
            [("rnn", ["GRU is not supported", "recurrent layers"])]),
    "alpha_auto_po2_kernel": (lambda: seq((8,), qdense(4, "fc", kernel_quantizer=q(alpha="auto_po2")), out_q()), "Latency",
                              [("fc", ["kernel_quantizer", "alpha='auto_po2'", "use alpha=1"])]),
    "alpha_auto_activation": (lambda: seq((8,), qdense(4, "fc"), QActivation(q(8, 2, alpha="auto"), name="act")), "Latency",
                              [("act", ["alpha='auto'", "use alpha=1"])]),
    "quantized_po2_kernel": (lambda: seq((8,), qdense(4, "fc", kernel_quantizer=quantized_po2(4)), out_q()), "Latency",
                             [("fc", ["quantized_po2(4) weights", "quantized_bits(bits, integer, alpha=1)"])]),
    "quantized_po2_activation": (lambda: seq((8,), qdense(4, "fc"), QActivation(quantized_po2(4), name="act")), "Latency",
                                 [("act", ["quantized_po2", "use quantized_bits"])]),
    "quantized_relu_po2": (lambda: seq((8,), qdense(4, "fc"), QActivation(quantized_relu_po2(4), name="act")), "Latency",
                           [("act", ["quantized_relu_po2", "use quantized_relu(bits, integer)"])]),
    "batchnorm_left_in": (lambda: seq((8,), qdense(4, "fc"), L.BatchNormalization(name="bn"), relu("act")), "Latency",
                          [("bn", ["BatchNormalization is not supported", "fold BatchNorm"])]),
    "qconv2d_batchnorm": (lambda: seq((6, 6, 1), QConv2DBatchnorm(2, 3, kernel_quantizer=q(), bias_quantizer=q(8, 2), name="cbn"),
                                      relu("act")), "Latency",
                          [("cbn", ["QConv2DBatchnorm is not supported", "fold BatchNorm into a plain QConv2D"])]),
    "depthwise_resource": (lambda: seq((6, 6, 2), dw(), relu("act")), "Resource",
                           [("dw", ["Strategy 'Resource'", "use Strategy 'Latency'"])]),
    "depth_multiplier_2": (lambda: seq((6, 6, 2), dw(depth_multiplier=2), relu("act")), "Latency",
                           [("dw", ["depth_multiplier", "use depth_multiplier=1"])]),
    "reserved_name_input": (lambda: seq((8,), qdense(4, "fc"), out_q(), input_name="input"), "Latency",
                            [("input", ["reserves the layer name 'input'", "rename"])]),
    "plain_dense": (lambda: seq((8,), L.Dense(4, name="fc"), out_q()), "Latency",
                    [("fc", ["Dense is not supported", "use QDense"])]),
    "missing_kernel_quantizer": (lambda: seq((8,), QDense(4, bias_quantizer=q(8, 2), name="fc"), out_q()), "Latency",
                                 [("fc", ["without kernel_quantizer", "quantized_bits"])]),
    "missing_bias_quantizer": (lambda: seq((8,), QDense(4, kernel_quantizer=q(), name="fc"), out_q()), "Latency",
                               [("fc", ["unquantized bias", "bias_quantizer"])]),
    "fused_activation": (lambda: seq((8,), qdense(4, "fc", activation="relu"), out_q()), "Latency",
                         [("fc", ["fused activation", "separate QActivation"])]),
    "unquantized_input": (lambda: seq((8,), qdense(4, "fc"), out_q(), input_quant=False), "Latency",
                          [("features", ["input must be followed by QActivation(quantized_bits"])]),
    "softmax": (lambda: seq((8,), qdense(4, "fc"), out_q(), L.Softmax(name="sm")), "Latency",
                [("sm", ["Softmax is not supported", "argmax outside"])]),
    "keras_activation": (lambda: seq((8,), qdense(4, "fc"), L.Activation("relu", name="act")), "Latency",
                         [("act", ["Activation is not supported", "QActivation(quantized_relu"])]),
    "global_average_pool": (lambda: seq((4, 4, 2), relu("act"), L.GlobalAveragePooling2D(name="gap")), "Latency",
                            [("gap", ["GlobalAveragePooling2D is not supported", "AveragePooling2D over the whole map"])]),
    "avgpool_non_pow2_unquantized": (lambda: seq((6, 4, 2), relu("act"), L.AveragePooling2D((3, 2), name="pool"), L.Flatten(name="flat")),
                                     "Latency", [("pool", ["mean over 6 cells", "QActivation(quantized_bits"])]),
    "avgpool_without_known_input": (lambda: seq((4, 4, 2), L.AveragePooling2D(2, name="pool"), L.Flatten(name="f"), qdense(2, "fc"), out_q(),
                                                input_quant=False), "Latency",
                                    [("pool", ["needs a QActivation before it"]), ("features", ["input must be followed"])]),
    "pool_padding_same": (lambda: seq((5, 5, 2), L.MaxPooling2D(2, padding="same", name="pool"), L.Flatten(name="f")), "Latency",
                          [("pool", ["padding='same'", "use padding='valid'"])]),
    "biasless_named_bias": (lambda: seq((8,), qdense(4, "bias_fc", use_bias=False, bias_quantizer=None), out_q()), "Latency",
                            [("bias_fc", ["name contains 'bias'", "rename"])]),
    "binary_weights": (lambda: seq((8,), qdense(4, "fc", kernel_quantizer=quantized_bits(1, 0, alpha=1)), out_q()), "Latency",
                       [("fc", ["binary", "bits >= 2"])]),
    "integer_equals_bits": (lambda: seq((8,), qdense(4, "fc", kernel_quantizer=q(4, 4)), out_q()), "Latency",
                            [("fc", ["integer == bits", "use integer < bits"])]),
    "stochastic_rounding": (lambda: seq((8,), qdense(4, "fc", kernel_quantizer=q(use_stochastic_rounding=True)), out_q()), "Latency",
                            [("fc", ["use_stochastic_rounding", "deterministic"])]),
    "unsigned_weights": (lambda: seq((8,), qdense(4, "fc", kernel_quantizer=q(keep_negative=False)), out_q()), "Latency",
                         [("fc", ["keep_negative=False", "use keep_negative=True"])]),
    "leaky_relu": (lambda: seq((8,), qdense(4, "fc"), QActivation(quantized_relu(8, 3, negative_slope=0.25), name="act")), "Latency",
                   [("act", ["negative_slope", "use negative_slope=0"])]),
    "relu_upper_bound": (lambda: seq((8,), qdense(4, "fc"), QActivation(quantized_relu(8, 3, relu_upper_bound=2.0), name="act")), "Latency",
                         [("act", ["relu_upper_bound", "remove it"])]),
    "unknown_layer_class": (lambda: seq((8,), L.Lambda(lambda t: 2 * t, name="double"), qdense(2, "fc"), out_q()), "Latency",
                            [("double", ["Lambda is not supported", "use one of", "QDense"])]),
    "act_integer_beyond_bits": (lambda: seq((8,), qdense(4, "fc"), QActivation(q(2, 3), name="act")), "Latency",
                                [("act", ["more integer bits than bits", "use integer <= 1"])]),
    "relu_integer_beyond_bits": (lambda: seq((8,), qdense(4, "fc"), QActivation(quantized_relu(3, 4), name="act")), "Latency",
                                 [("act", ["more integer bits than bits", "use integer <= 3"])]),
    "dilated_conv": (lambda: seq((9, 9, 1), QConv2D(2, 3, dilation_rate=2, kernel_quantizer=q(), bias_quantizer=q(8, 2), name="c"),
                                 relu("act")), "Latency",
                     [("c", ["dilated", "use dilation_rate=1"])]),
}


def _assert_lists(err: UnsupportedModelError, expected):
    text = str(err)
    offending = [layer for layer, _ in err.problems]
    for layer, words in expected:
        assert layer in offending, f"{layer!r} not listed in:\n{text}"
        why = " | ".join(w for name, w in err.problems if name == layer)
        for word in words:
            assert word in why, f"{layer!r}: expected {word!r} in {why!r}"
        assert f"  - {layer}: " in text  # one line per offending layer in the message itself
    assert set(offending) == {layer for layer, _ in expected}, f"unexpected extra layers flagged:\n{text}"


@pytest.mark.parametrize("case", sorted(CASES))
def test_each_error_path_names_the_layer_and_the_fix(case, tmp_path):
    builder, strategy, expected = CASES[case]
    model = builder()
    with pytest.raises(UnsupportedModelError) as info:
        check_supported(model, strategy)
    _assert_lists(info.value, expected)
    # convert() raises the same error before hls4ml writes anything (no C++, no process abort)
    out = tmp_path / "prj"
    with pytest.raises(UnsupportedModelError):
        convert(model, out, HlsSettings(strategy=strategy))
    assert not out.exists()


def test_io_stream_pooling_with_overlapping_windows_is_refused_before_hls4ml(tmp_path):
    """hls4ml 1.3's io_stream pooling asserts pool == stride inside the C simulation (which aborts
    the Python process; found by sim/fuzz.py); io_parallel computes it exactly."""
    model = seq((6, 6, 2), L.MaxPooling2D(3, strides=2, name="pool"), L.Flatten(name="f"))
    check_supported(model, "Latency", "io_parallel")
    with pytest.raises(UnsupportedModelError) as info:
        check_supported(model, "Latency", "io_stream")
    _assert_lists(info.value, [("pool", ["strides == pool_size", "io_parallel"])])
    with pytest.raises(UnsupportedModelError):
        convert(model, tmp_path / "prj", HlsSettings(io_type="io_stream"))
    assert not (tmp_path / "prj").exists()


def test_a_model_that_computes_nothing_is_refused():
    """Input quantizer + reshape only: hls4ml 1.3 writes C++ that does not compile (found by sim/fuzz.py)."""
    model = seq((6, 8, 2), L.Reshape((6, 16), name="r"))
    with pytest.raises(UnsupportedModelError) as info:
        check_supported(model)
    assert "computes nothing" in str(info.value)
    check_supported(seq((6, 8, 2), L.Reshape((6, 16), name="r"), relu("act")))


def test_all_problems_reported_at_once(tmp_path):
    """A model with many problems gets one error listing all of them, in layer order."""
    model = seq(
        (6, 6, 2),
        dw("dw", depth_multiplier=2),
        QActivation(quantized_relu_po2(4), name="act_po2"),
        L.BatchNormalization(name="bn"),
        L.Flatten(name="flat"),
        qdense(4, "fc", kernel_quantizer=q(alpha="auto_po2")),
        L.Softmax(name="sm"),
        input_name="input",
    )
    with pytest.raises(UnsupportedModelError) as info:
        convert(model, tmp_path / "prj", HlsSettings(strategy="Resource"))
    err = info.value
    names = [layer for layer, _ in err.problems]
    for layer in ("dw", "act_po2", "bn", "fc", "sm", "input"):
        assert layer in names
    assert names.count("dw") == 2  # depth_multiplier and Resource strategy: both reasons given
    assert str(err).startswith("model cannot be converted bit-exactly:")
    assert str(err).count("\n  - ") == len(err.problems)
    assert not (tmp_path / "prj").exists()


def test_supported_model_passes_the_checks():
    model = seq((6, 6, 2), dw(), relu("act"), L.Flatten(name="flat"), qdense(3, "fc"), out_q())
    check_supported(model, "Latency")
    cfg = build_hls_config(model)
    assert cfg["LayerName"]["fc"]["Precision"]["result"] == "fixed<16,6,RND_CONV,SAT>"
    assert cfg["LayerName"]["fc_linear"]["Precision"]["result"] == "fixed<16,6,RND_CONV,SAT>"


@pytest.mark.parametrize("bad,words", [
    (dict(backend="Quartus"), "backend 'Quartus'"),
    (dict(io_type="io_serial"), "io_type 'io_serial'"),
    (dict(strategy="Fast"), "strategy 'Fast'"),
    (dict(reuse_factor=0), "reuse_factor must be >= 1"),
])
def test_bad_hls_settings(bad, words):
    with pytest.raises(ValueError, match=words):
        HlsSettings(**bad)
    with pytest.raises(ValueError, match="unknown hls setting"):
        HlsSettings.from_dict({"io": "io_parallel"})


def test_narrow_accumulator_without_integer_bits_is_refused(tmp_path):
    """Products with 14 fraction bits into an 11-bit accumulator: its integer bits would be -3, on
    which hls4ml 1.3's C simulation aborts (found by sim/fuzz.py, seed 1007); the error says what fits."""
    from hw.accumulators import AccumulatorRangeError, narrow_accumulators

    model = seq((6,), qdense(3, "fc", kernel_quantizer=q(8, 0)), out_q())  # input 8b/5 frac x weight 7 frac
    graph = convert(model, tmp_path / "prj")
    assert narrow_accumulators(graph, 12)["fc"]["accum"].startswith("fixed<12,0")
    with pytest.raises(AccumulatorRangeError, match=r"'fc'.*-1 integer bits; use width >= 12 or drop_bits >= 1"):
        narrow_accumulators(graph, 11)
    assert narrow_accumulators(graph, 11, 1)["fc"]["accum"].startswith("fixed<11,0")


def test_resource_pointwise_conv_with_an_invalid_reuse_factor_is_refused():
    """hls4ml 1.3 corrects invalid Resource reuse factors, except on the Pointwise layer it makes of
    a 1x1 conv afterwards: its C simulation then asserts and aborts the process (sim/fuzz.py, seed 1064)."""
    from qkeras import QConv1D

    model = seq((6, 5), QConv1D(3, 1, kernel_quantizer=q(), bias_quantizer=q(8, 2), name="pw"), relu("act"))
    with pytest.raises(UnsupportedModelError) as info:
        check_supported(model, "Resource", reuse_factor=2)
    _assert_lists(info.value, [("pw", ["reuse_factor 2", "use reuse_factor in [1, 5]"])])
    check_supported(model, "Resource", reuse_factor=5)
    check_supported(model, "Latency", reuse_factor=2)


def test_io_stream_conv_with_a_one_row_kernel_and_vertical_stride_is_refused():
    """hls4ml 1.3's io_stream Conv2D ignores the vertical stride of a 1-row kernel: its C simulation
    silently differs from QKeras (found by sim/fuzz.py). io_parallel computes it exactly."""
    model = seq((6, 6, 2), QConv2D(2, (1, 2), strides=(2, 1), kernel_quantizer=q(), bias_quantizer=q(8, 2), name="c"),
                relu("act"))
    check_supported(model, "Latency", "io_parallel")
    with pytest.raises(UnsupportedModelError) as info:
        check_supported(model, "Latency", "io_stream")
    _assert_lists(info.value, [("c", ["vertical stride 2", "use io_type io_parallel"])])
