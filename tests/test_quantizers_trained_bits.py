"""Trained bit-width quantizer (paper C): bits from learned step/range, gradients, bit penalty."""

import math

import numpy as np
import pytest
import tensorflow as tf
from qkeras import QActivation, QDense, quantized_bits, quantized_relu

from qat.quantizers import BitPenalty, bits_report, trained_bits

LN2 = math.log(2.0)


def built(**kwargs):
    q = trained_bits(**kwargs)
    q.build(tf.TensorShape([None, 4]))
    return q


@pytest.mark.parametrize("init_range, init_step, signed, min_range_log2, bits, integer", [
    (1.0, 2 ** -4, True, 0, 5, 0),      # [-1, 1 - 1/16]: 16 + 16 levels
    (0.7, 2 ** -4, True, 0, 5, 0),      # range rounds up to the next power of two
    (3.0, 2 ** -2, True, 0, 5, 2),      # [-4, 3.75] step 1/4
    (3.0, 2 ** -2, False, 0, 4, 2),     # unsigned: no sign bit
    (8.0, 2 ** -3, False, 0, 6, 3),     # [0, 8 - 1/8]
    (1.0, 0.1, True, 0, 4, 0),          # step log2(0.1) = -3.32 rounds to 1/8
    (0.25, 2 ** -6, True, 0, 7, 0),     # range clamped to 1 (QKeras has no negative integer)
    (0.25, 2 ** -6, True, None, 5, -2),  # unclamped: [-0.25, 0.25) step 1/64
])
def test_bits_for_known_ranges(init_range, init_step, signed, min_range_log2, bits, integer):
    q = built(init_step=init_step, init_range=init_range, signed=signed, min_range_log2=min_range_log2)
    fmt = q.fixed_format()
    assert (fmt["bits"], fmt["integer"]) == (bits, integer)
    assert q.bits == bits


def test_values_equal_qkeras_fixed_formats():
    x = tf.constant(np.random.default_rng(0).uniform(-3, 3, 2000).astype(np.float32))
    signed = built(init_step=2 ** -3, init_range=1.0)
    np.testing.assert_array_equal(signed(x).numpy(), quantized_bits(4, 0, alpha=1)(x).numpy())
    unsigned = built(init_step=2 ** -2, init_range=2.0, signed=False)
    np.testing.assert_array_equal(unsigned(x).numpy(), quantized_relu(3, 1)(x).numpy())
    np.testing.assert_array_equal(signed(tf.constant([-3.0, 0.06, 0.97, 2.0])).numpy(),
                                  [-1.0, 0.0, 0.875, 0.875])


def test_gradients_on_known_inputs():
    q = built(init_step=2 ** -3, init_range=1.0)  # step 1/8, range [-1, 0.875]
    x = tf.Variable([5.0, 0.3, -5.0])
    grads = []
    for i in range(3):
        with tf.GradientTape() as tape:
            y = q(x)[i]
        grads.append(tape.gradient(y, [q.range_log2, q.step_log2, x]))
    (r_top, s_top, x_top), (r_in, s_in, x_in), (r_low, s_low, _) = grads
    # clipped at the top: q = 2**top - d -> dq/drange_log2 = ln2 * 2**top, dq/dstep_log2 = -d ln2
    assert float(r_top) == pytest.approx(LN2, rel=1e-5)
    assert float(s_top) == pytest.approx(-0.125 * LN2, rel=1e-5)
    assert float(x_top[0]) == 0.0
    # inside: LSQ, dq/dd = round(x/d) - x/d = 2 - 2.4; times dd/dstep_log2 = d ln2
    assert r_in is None or float(r_in) == 0.0
    assert float(s_in) == pytest.approx(-0.4 * 0.125 * LN2, rel=1e-4)
    assert float(x_in[1]) == 1.0
    # clipped at the bottom: q = -2**top
    assert float(r_low) == pytest.approx(-LN2, rel=1e-5)
    assert s_low is None or float(s_low) == 0.0


def test_soft_bits_gradient():
    q = built(init_step=2 ** -4, init_range=2.0)
    with tf.GradientTape() as tape:
        b = q.soft_bits()
    gr, gs = tape.gradient(b, [q.range_log2, q.step_log2])
    assert float(b) == pytest.approx(1 + 4 + 1) and float(gr) == 1.0 and float(gs) == -1.0


def small_model():
    x = tf.keras.Input((4,))
    h = QDense(3, kernel_quantizer=trained_bits(2 ** -4, 1.0), bias_quantizer=quantized_bits(8, 3, alpha=1),
               name="d1")(x)  # 12 kernel values, 5 bits
    h = QActivation(trained_bits(2 ** -2, 4.0, signed=False), name="a1")(h)  # 3 values, 4 bits
    y = QDense(2, kernel_quantizer=trained_bits(2 ** -7, 1.0), use_bias=False, name="d2")(h)  # 6 values, 8 bits
    return tf.keras.Model(x, y)


def test_variables_are_trainable_weights_of_the_host_layers():
    model = small_model()
    names = [w.name for w in model.trainable_weights]
    assert sum("step_log2" in n for n in names) == 3 and sum("range_log2" in n for n in names) == 3


def test_bits_report_and_penalty_are_count_weighted_averages():
    model = small_model()
    report = bits_report(model)
    assert [(r["layer"], r["kind"], r["num_values"], r["bits"]) for r in report["quantizers"]] == [
        ("d1", "weight", 12, 5), ("a1", "activation", 3, 4), ("d2", "weight", 6, 8)]
    assert report["avg_weight_bits"] == pytest.approx((12 * 5 + 6 * 8) / 18)
    assert report["avg_activation_bits"] == 4
    penalty = BitPenalty(model, weight_lambda=0.5, act_lambda=0.25)
    assert float(penalty()) == pytest.approx(0.5 * (12 * 5 + 6 * 8) / 18 + 0.25 * 4)


def test_bit_penalty_lowers_the_bits_in_training():
    tf.keras.utils.set_random_seed(0)
    model = small_model()
    model.add_loss(BitPenalty(model, weight_lambda=1.0, act_lambda=1.0))
    model.compile(tf.keras.optimizers.SGD(0.5), "mse")
    before = bits_report(model)
    data = np.random.default_rng(0).normal(size=(64, 4)).astype(np.float32)
    model.fit(data, np.zeros((64, 2)), epochs=3, batch_size=16, verbose=0)
    after = bits_report(model)
    assert after["avg_weight_bits"] < before["avg_weight_bits"]
    assert after["avg_activation_bits"] < before["avg_activation_bits"]


@pytest.mark.parametrize("kwargs, match", [
    ({"init_step": 0.0}, "init_step"), ({"init_step": -0.1}, "init_step"),
    ({"init_range": 0.0}, "init_range"), ({"init_step": 1.0, "init_range": 0.5}, "no levels"),
    ({"min_range_log2": 0.5}, "min_range_log2"),
])
def test_bad_arguments_are_rejected(kwargs, match):
    with pytest.raises(ValueError, match=match):
        trained_bits(**kwargs)


def test_bad_penalty_is_rejected():
    model = small_model()
    with pytest.raises(ValueError, match="weight_lambda"):
        BitPenalty(model, weight_lambda=-1.0)
    plain = tf.keras.Sequential([tf.keras.Input((2,)), tf.keras.layers.Dense(1)])
    with pytest.raises(ValueError, match="no trained_bits"):
        BitPenalty(plain, 1.0)
