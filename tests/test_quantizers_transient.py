"""Transient-variable formats (paper A): saturation, rounding, choice from ranges, hls4ml export."""

import numpy as np
import pytest
import tensorflow as tf
from qkeras import QDense, quantized_bits, quantized_relu

from qat.quantizers import (FormatError, calibrate_ranges, check_covers, choose_format, choose_formats, fixed_point,
                            hls4ml_precisions, qkeras_quantizer, transient_format)
from qat.quantizers.transient_formats import check_formats, covers, formats_from_json, formats_to_json


def fake_quantized(fmt, x):
    """Reference: the one fixed-point type's own RND_CONV + SAT quantization, back to floats."""
    return fmt.to_float(fmt.quantize(x))


def test_format_arithmetic_and_hls_string():
    f = transient_format(8, 3)
    assert (f.frac, f.lsb, f.min, f.max) == (5, 1 / 32, -4.0, 4 - 1 / 32)
    assert f.to_hls() == "fixed<8,3,RND_CONV,SAT>"
    u = transient_format(16, 6, signed=False)
    assert (u.min, u.max) == (0.0, 64 - 2 ** -10)
    assert u.to_hls() == "ufixed<16,6,RND_CONV,SAT>"


def test_fake_quant_saturates_and_rounds_half_to_even():
    q = fixed_point(8, 3)  # step 1/32, [-4, 3.96875]
    x = tf.Variable([-100.0, -4.01, 3.99, 100.0, 1 / 64, 3 / 64, -0.3])
    with tf.GradientTape() as tape:
        y = q(x)
    np.testing.assert_array_equal(y.numpy(), [-4.0, -4.0, 3.96875, 3.96875, 0.0, 0.0625, -0.3125])
    # straight through inside the range, zero where saturated
    np.testing.assert_array_equal(tape.gradient(y, x).numpy(), [0, 0, 0, 0, 1, 1, 1])
    np.testing.assert_array_equal(y.numpy(), fake_quantized(transient_format(8, 3), x.numpy()))


def test_fake_quant_equals_the_exported_qkeras_quantizer():
    x = tf.constant(np.random.default_rng(0).uniform(-40, 40, 5000).astype(np.float32))
    signed = transient_format(10, 4)
    exported = qkeras_quantizer(signed)
    assert isinstance(exported, quantized_bits) and (exported.bits, exported.integer) == (10, 3)
    np.testing.assert_array_equal(fixed_point(10, 4)(x).numpy(), exported(x).numpy())
    unsigned = transient_format(8, 2, signed=False)
    assert isinstance(qkeras_quantizer(unsigned), quantized_relu)
    np.testing.assert_array_equal(fixed_point(8, 2, signed=False)(x).numpy(),
                                  qkeras_quantizer(unsigned)(x).numpy())
    with pytest.raises(FormatError, match="negative integer"):
        qkeras_quantizer(transient_format(8, 0))


@pytest.mark.parametrize("lo, hi, width, signed, expected", [
    (-3.2, 5.1, 16, None, transient_format(16, 4)),          # needs [-8, 8)
    (-8.0, 7.9, 16, None, transient_format(16, 4)),          # -8 is representable exactly
    (-8.0, 8.0, 16, None, transient_format(16, 5)),          # +8 is not: one more bit
    (0.0, 0.9, 16, None, transient_format(16, 0, signed=False)),
    (0.0, 1.0, 8, None, transient_format(8, 1, signed=False)),
    (0.0, 1.0 - 2 ** -8, 8, None, transient_format(8, 0, signed=False)),  # top value exactly
    (0.0, 1.0 - 2 ** -9, 8, None, transient_format(8, 1, signed=False)),  # just above 1 - step
    (-0.1, 0.1, 32, True, transient_format(32, -2)),         # [-0.125, 0.125)
])
def test_choose_format_is_the_smallest_that_holds_the_range(lo, hi, width, signed, expected):
    f = choose_format(lo, hi, width, signed=signed)
    assert f == expected
    assert covers(f, lo, hi)
    assert not covers(transient_format(f.width, f.integer - 1, f.signed), lo, hi)


def test_too_narrow_formats_are_rejected_with_what_to_do():
    with pytest.raises(FormatError, match="width of at least"):
        choose_format(-1e6, 1e6, 16, what="conv1 accumulator")
    with pytest.raises(FormatError, match="calibrated range"):
        check_covers(transient_format(16, 4), -10.0, 3.0)
    with pytest.raises(FormatError, match="signed"):
        choose_format(-1.0, 1.0, 8, signed=False)
    with pytest.raises(ValueError, match="width"):
        transient_format(0, 0)
    with pytest.raises(FormatError, match="non-finite"):
        choose_format(float("nan"), 1.0, 8)


def tiny_model():
    x = tf.keras.Input((3,))
    d = QDense(2, activation="relu", kernel_quantizer=quantized_bits(8, 1, alpha=1),
               bias_quantizer=quantized_bits(8, 1, alpha=1), name="dense")
    y = d(x)
    model = tf.keras.Model(x, y)
    d.set_weights([np.array([[1.0, -0.5], [0.25, 1.5], [-1.0, 0.75]], np.float32),
                   np.array([0.5, -0.25], np.float32)])
    return model


def test_calibration_records_accumulator_and_output_ranges():
    model = tiny_model()
    x = np.random.default_rng(0).normal(0, 2, (300, 3)).astype(np.float32)
    ranges = calibrate_ranges(model, x, batch_size=64)
    w, b = model.get_layer("dense").get_weights()
    pre = x @ w + b
    np.testing.assert_allclose(ranges["dense"]["accum"], (pre.min(), pre.max()), rtol=1e-5)
    np.testing.assert_allclose(ranges["dense"]["output"], (0.0, pre.max()), rtol=1e-5)
    assert ranges["dense"]["accum"][0] < 0  # the relu really was bypassed
    assert ranges["dense"]["activation"] == "relu"


def test_formats_go_into_the_hls4ml_config_under_hls4ml_layer_names():
    ranges = {"dense": {"output": (0.0, 5.0), "accum": (-9.0, 5.0), "activation": "relu"},
              "pool": {"output": (-0.5, 0.5)}}
    f32 = choose_formats(ranges, accum_width=32, result_width=16)
    f16 = choose_formats(ranges, accum_width=16, result_width=16)
    # accumulator: [-16, 16) -> 5 integer bits incl. sign; its width sets the fraction bits
    assert f32["dense"]["accum"] == transient_format(32, 5) and f16["dense"]["accum"] == transient_format(16, 5)
    assert f32["dense"]["result"] == transient_format(16, 5)  # hls4ml: Dense result = pre-activation
    assert f32["dense_relu"] == {"result": transient_format(16, 3, signed=False)}  # [0, 8)
    assert f32["pool"] == {"result": transient_format(16, 1)}  # +0.5 needs [-1, 1)
    cfg = hls4ml_precisions(f32)["LayerName"]
    assert cfg["dense"]["Precision"] == {"accum": "fixed<32,5,RND_CONV,SAT>", "result": "fixed<16,5,RND_CONV,SAT>"}
    assert cfg["dense_relu"]["Precision"] == {"result": "ufixed<16,3,RND_CONV,SAT>"}
    assert cfg["pool"]["Precision"] == {"result": "fixed<16,1,RND_CONV,SAT>"}
    assert formats_from_json(formats_to_json(f32)) == f32
    check_formats(f32, ranges)
    with pytest.raises(FormatError, match="dense accum"):
        check_formats({"dense": {"accum": transient_format(16, 3)}}, ranges)
    with pytest.raises(FormatError, match="dense_relu result"):
        check_formats({"dense_relu": {"result": transient_format(8, 2, signed=False)}}, ranges)


def test_calibrated_names_match_the_hls4ml_graph():
    import hls4ml
    model = tiny_model()
    x = np.random.default_rng(0).normal(0, 2, (64, 3)).astype(np.float32)
    formats = choose_formats(calibrate_ranges(model, x))
    config = hls4ml.utils.config_from_keras_model(model, granularity="name", backend="Vivado")
    assert set(formats) <= set(config["LayerName"]), (sorted(formats), sorted(config["LayerName"]))


def test_config_round_trip():
    q = fixed_point(12, 4, signed=False)
    again = fixed_point.from_config(q.get_config())
    assert again.format == q.format
