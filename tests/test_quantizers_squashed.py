"""Squashed (tanh) weight quantizer, papers A and B stage 1."""

import math

import numpy as np
import pytest
import tensorflow as tf
from qkeras import quantized_bits

from qat.quantizers import UniformSquashInitializer, level_entropy, squashed_bits, theta_from_weights


def test_known_values_4_bits():
    # tanh([0, .5, -1, 2]) / tanh(2) = [0, .4794, -.7900, 1.0] -> x8 -> round -> clip to +-7 -> /8
    out = squashed_bits(4)(tf.constant([0.0, 0.5, -1.0, 2.0])).numpy()
    np.testing.assert_array_equal(out, [0.0, 0.5, -0.75, 0.875])


def test_gain_is_a_power_of_two_multiplier():
    theta = tf.constant([0.0, 0.5, -1.0, 2.0])
    np.testing.assert_array_equal(squashed_bits(4, gain_log2=-2)(theta).numpy(),
                                  [0.0, 0.125, -0.1875, 0.21875])


@pytest.mark.parametrize("bits", [4, 5, 8])
def test_grid_is_qkeras_symmetric_quantized_bits_of_the_squashed_value(bits):
    theta = tf.constant(np.random.default_rng(bits).normal(0, 1, 1000).astype(np.float32))
    q = squashed_bits(bits)
    s = q.squash(theta)
    expected = quantized_bits(bits, 0, symmetric=1, alpha=1)(s).numpy()
    np.testing.assert_array_equal(q(theta).numpy(), expected)
    assert len(np.unique(q(theta).numpy())) <= 2 ** bits - 1


def test_gradient_without_normalisation_is_the_tanh_derivative():
    theta = tf.Variable([0.5, -1.0])
    with tf.GradientTape() as tape:
        y = tf.reduce_sum(tf.constant([1.0, 3.0]) * squashed_bits(4, gain_log2=1, normalize=False)(theta))
    grad = tape.gradient(y, theta).numpy()
    # gain 2 * c * (1 - tanh^2): 2 * 1 * 0.786448, 2 * 3 * 0.419974
    np.testing.assert_allclose(grad, [1.5728955, 2.5198447], rtol=1e-5)


def test_gradient_with_normalisation_matches_finite_differences_of_the_squash():
    # STE: the gradient of the quantized weights is the gradient of gain * s(theta)
    rng = np.random.default_rng(3)
    theta0 = rng.normal(0, 0.8, 6)
    c = rng.normal(size=6)
    q = squashed_bits(5, gain_log2=-1)
    theta = tf.Variable(theta0.astype(np.float32))
    with tf.GradientTape() as tape:
        y = tf.reduce_sum(c.astype(np.float32) * q(theta))
    grad = tape.gradient(y, theta).numpy()

    def f(t):  # float64 reference of 0.5 * tanh(t) / max|tanh(t)|
        s = np.tanh(t)
        return float(np.sum(c * 0.5 * s / np.max(np.abs(s))))
    eps, numeric = 1e-6, np.zeros(6)
    for i in range(6):
        d = np.zeros(6)
        d[i] = eps
        numeric[i] = (f(theta0 + d) - f(theta0 - d)) / (2 * eps)
    np.testing.assert_allclose(grad, numeric, rtol=1e-4, atol=1e-5)


def test_one_bit_is_sign_times_gain_with_straight_through_gradient():
    theta = tf.Variable([-0.3, 0.0, 0.2, 5.0])
    q = squashed_bits(1, gain_log2=-2)
    with tf.GradientTape() as tape:
        out = q(theta)
        y = tf.reduce_sum(out)
    np.testing.assert_array_equal(out.numpy(), [-0.25, 0.25, 0.25, 0.25])  # 0 -> +1 like QKeras
    # same as QKeras' 1-bit quantized_bits (sign) on the squashed value
    np.testing.assert_array_equal(out.numpy() / 0.25, quantized_bits(1, 0, alpha=1)(q.squash(theta)).numpy())
    grad = tape.gradient(y, theta).numpy()
    assert np.all(np.isfinite(grad)) and np.any(grad != 0)  # not the zero gradient of sign()


def test_per_channel_normalisation_puts_each_channel_top_on_the_top_level():
    theta = tf.constant(np.array([[0.1, 2.0], [-0.2, 1.0], [0.05, -3.0]], np.float32))
    out = squashed_bits(4, per_channel=True)(theta).numpy()
    np.testing.assert_array_equal(np.max(np.abs(out), axis=0), [0.875, 0.875])
    per_tensor = squashed_bits(4)(theta).numpy()
    assert np.max(np.abs(per_tensor[:, 0])) < 0.875  # channel 0 is small against channel 1


def test_theta_from_weights_inverts_the_unnormalised_squash():
    w = np.array([0.3, -0.05, 0.45, -0.2], np.float32)
    theta = theta_from_weights(w, gain_log2=-1)
    np.testing.assert_allclose(0.5 * np.tanh(theta), w, atol=1e-6)


def test_level_entropy_measures_uniformity():
    n = 2 ** 3  # 4 bits: levels k/8, k = -7..7 (15 levels)
    all_levels = np.arange(-7, 8) / n
    uniform = level_entropy(np.repeat(all_levels, 10), bits=4)
    assert uniform["ratio"] == pytest.approx(1.0) and uniform["levels_used"] == 15
    assert level_entropy(np.full(50, 0.25), bits=4)["entropy_bits"] == 0.0
    two = level_entropy(np.array([0.25, 0.25, -0.5, -0.5]), bits=4)
    assert two["entropy_bits"] == pytest.approx(1.0)
    assert two["ratio"] == pytest.approx(1.0 / math.log2(15))
    with pytest.raises(ValueError, match="outside"):
        level_entropy(np.array([2.0]), bits=4)


def test_uniform_initializer_gives_nearly_uniform_levels_and_gaussian_does_not():
    q = squashed_bits(4)
    theta_u = UniformSquashInitializer(0.95, seed=1)((64, 64))
    theta_g = tf.constant(np.random.default_rng(0).normal(0, 0.3, (64, 64)).astype(np.float32))
    ratio_u = level_entropy(q(theta_u).numpy(), 4)["ratio"]
    ratio_g = level_entropy(q(theta_g).numpy(), 4)["ratio"]
    assert ratio_u > 0.97 and ratio_g < ratio_u - 0.05


@pytest.mark.parametrize("kwargs, match", [
    ({"bits": 0}, "bits"), ({"bits": -3}, "bits"), ({"bits": 2.5}, "bits"), ({"bits": 17}, "bits"),
    ({"bits": 4, "gain_log2": 0.5}, "gain_log2"),
])
def test_bad_arguments_are_rejected(kwargs, match):
    with pytest.raises(ValueError, match=match):
        squashed_bits(**kwargs)


def test_config_round_trip():
    q = squashed_bits(5, gain_log2=-3, normalize=False, per_channel=True)
    assert squashed_bits.from_config(q.get_config()).get_config() == q.get_config()


# ---------------------------------------------------------------- 1 bit, a gain per output channel
def test_sign_po2_is_exactly_sign_times_the_channel_gain_with_a_straight_through_gradient():
    from qat.quantizers import sign_po2_bits

    q = sign_po2_bits([-3, 0, -7])
    theta = tf.Variable(np.array([[0.3, -2.0, 0.0], [-0.01, 0.5, -4.0]], np.float32))
    with tf.GradientTape() as tape:
        out = q(theta)
        y = tf.reduce_sum(out * 3.0)
    gain = np.array([2.0 ** -3, 1.0, 2.0 ** -7])
    np.testing.assert_array_equal(out.numpy(), np.where(theta.numpy() >= 0, 1.0, -1.0) * gain)  # 0 -> +1
    np.testing.assert_array_equal(tf.function(q)(theta).numpy(), out.numpy())  # graph mode too
    # the gradient of 2**g_c * tanh(theta), as squashed_bits(1, g_c, normalize=False) per channel
    grad = tape.gradient(y, theta).numpy()
    for c, g in enumerate([-3, 0, -7]):
        with tf.GradientTape() as t2:
            ref = tf.reduce_sum(squashed_bits(1, g, normalize=False)(theta[:, c]) * 3.0)
        np.testing.assert_allclose(grad[:, c], t2.gradient(ref, theta).numpy()[:, c], rtol=1e-6)
    # theta_from_weights takes the per-channel gains (latent = atanh(w / gain))
    w = np.array([[0.1, -0.5, 0.005]], np.float32)
    np.testing.assert_allclose(gain * np.tanh(theta_from_weights(w, q.gain_log2)), w, rtol=1e-5)
    assert sign_po2_bits.from_config(q.get_config()).get_config() == q.get_config()


def test_sign_po2_depthwise_channels_on_axis_minus_two_and_bad_arguments():
    from qat.quantizers import sign_po2_bits

    out = sign_po2_bits([0, -2], axis=-2)(tf.constant(np.ones((3, 3, 2, 1), np.float32))).numpy()
    assert np.all(out[:, :, 0] == 1.0) and np.all(out[:, :, 1] == 0.25)
    for kwargs, match in (({"gains_log2": [0.5]}, "gains_log2"), ({"gains_log2": []}, "one exponent per output channel"),
                          ({"gains_log2": [0], "axis": 0}, "axis")):
        with pytest.raises(ValueError, match=match):
            sign_po2_bits(**kwargs)
