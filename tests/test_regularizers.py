"""Absolute-cosine regularizer (paper A) and the lambda ramp: values, gradients, schedule."""

import math

import numpy as np
import pytest
import tensorflow as tf
from qkeras import QDense, quantized_bits

from qat.acos_regularizer import AbsCosineRegularizer, find_acos_regularizers, grid_offsets
from qat.lambda_ramp import LambdaRamp, ramp_value
from qat.quantizers import squashed_bits


def test_penalty_values_on_known_inputs():
    # step 0.25: 0 and 0.25 on the grid (0), 0.0625 = 1/4 step (1 - cos(pi/4)),
    # 0.3 = 1.2 steps (1 - cos(0.2 pi)), -0.375 = 1.5 steps (halfway: 1)
    reg = AbsCosineRegularizer(0.25, lam=2.0)
    w = tf.constant([0.0, 0.0625, 0.3, 0.25, -0.375])
    per_value = reg.penalty_per_value(w).numpy()
    np.testing.assert_allclose(per_value, [0.0, 0.29289322, 0.19098301, 0.0, 1.0], atol=1e-6)
    assert float(reg(w)) == pytest.approx(2.0 * 1.48387624, rel=1e-6)


def test_penalty_gradient_on_known_inputs():
    # dR/dw = lam * (pi/step) * sign(cos(pi w/step)) * sin(pi w/step)
    reg = AbsCosineRegularizer(0.25, lam=2.0)
    w = tf.Variable([0.0, 0.0625, 0.3, 0.25])
    with tf.GradientTape() as tape:
        r = reg(w)
    grad = tape.gradient(r, w).numpy()
    np.testing.assert_allclose(grad, [0.0, 17.7715318, 14.7726546, 0.0], atol=1e-4)


def test_penalty_on_squashed_weights_acts_on_the_squashed_value():
    q = squashed_bits(4)  # grid of s: k/8
    reg = AbsCosineRegularizer.for_quantizer(q, lam=1.0)
    assert reg.step == pytest.approx(1 / 8)
    # theta chosen so that s = tanh(theta)/max|tanh| is exactly on k/8 except one value
    s = np.array([1.0, 0.5, -0.25, 0.3125], np.float32)  # 0.3125 = 2.5 steps: penalty 1
    theta = np.arctanh(s * 0.9)  # max|tanh| = 0.9, normalised back to s
    np.testing.assert_allclose(reg.penalty_per_value(tf.constant(theta)).numpy(), [0, 0, 0, 1], atol=1e-5)


def test_for_quantizer_reads_the_fixed_point_grid():
    assert AbsCosineRegularizer.for_quantizer(quantized_bits(8, 2, alpha=1)).step == 2.0 ** -5
    assert AbsCosineRegularizer.for_quantizer(quantized_bits(4, 0, alpha=1)).step == 2.0 ** -3
    with pytest.raises(ValueError, match="1-bit"):
        AbsCosineRegularizer.for_quantizer(squashed_bits(1))
    with pytest.raises(ValueError, match="alpha=1"):
        AbsCosineRegularizer.for_quantizer(quantized_bits(8, 0, alpha="auto_po2"))


@pytest.mark.parametrize("kwargs, match", [
    ({"step": 0.25, "lam": -0.1}, "lam"),
    ({"step": 0.0}, "step"),
    ({"step": -1.0}, "step"),
    ({"step": 0.25, "lam": float("nan")}, "lam"),
])
def test_bad_arguments_are_rejected(kwargs, match):
    with pytest.raises(ValueError, match=match):
        AbsCosineRegularizer(**kwargs)


def test_config_round_trip_keeps_current_lambda_and_squash():
    reg = AbsCosineRegularizer.for_quantizer(squashed_bits(5, gain_log2=-1), lam=0.0)
    reg.lam.assign(0.75)
    again = AbsCosineRegularizer.from_config(reg.get_config())
    assert again.step == reg.step and float(again.lam.numpy()) == 0.75
    assert again.squash.get_config() == reg.squash.get_config()


def test_minimizing_the_penalty_clusters_values_on_the_grid():
    rng = np.random.default_rng(0)
    w = tf.Variable(rng.uniform(-1, 1, 500).astype(np.float32))
    reg, step = AbsCosineRegularizer(0.125, lam=1.0), 0.125
    before = grid_offsets(w.numpy(), step).mean()
    opt = tf.keras.optimizers.SGD(1e-4)
    for _ in range(100):
        with tf.GradientTape() as tape:
            loss = reg(w)
        opt.apply_gradients([(tape.gradient(loss, w), w)])
    after = grid_offsets(w.numpy(), step).mean()
    assert before > 0.2 and after < 0.5 * before  # uniform data starts at mean offset 0.25


def test_ramp_schedule_values():
    got = [ramp_value(e, 1.0, warmup_epochs=2, ramp_epochs=4) for e in range(8)]
    assert got == [0.0, 0.0, 0.25, 0.5, 0.75, 1.0, 1.0, 1.0]
    with pytest.raises(ValueError, match="target"):
        LambdaRamp([tf.Variable(0.0)], target=-1.0)
    with pytest.raises(ValueError, match="no lambda"):
        LambdaRamp([], target=1.0)


def test_ramped_lambda_reaches_the_compiled_train_step():
    # lr=0 keeps the weights fixed, so the loss of each epoch = mse + lambda * R(kernel)
    tf.keras.utils.set_random_seed(0)
    reg = AbsCosineRegularizer(0.25, lam=0.0)
    x = tf.keras.Input((3,))
    y = QDense(2, kernel_quantizer=quantized_bits(3, 0, alpha=1), kernel_regularizer=reg,
               use_bias=False, name="d")(x)
    model = tf.keras.Model(x, y)
    model.compile(tf.keras.optimizers.SGD(0.0), "mse")
    ramp = LambdaRamp([r.lam for r in find_acos_regularizers(model)],
                      target=2.0, warmup_epochs=1, ramp_epochs=2)
    data = np.random.default_rng(1).normal(size=(16, 3)).astype(np.float32)
    hist = model.fit(data, np.zeros((16, 2)), epochs=4, batch_size=16, verbose=0, callbacks=[ramp])
    kernel = model.get_layer("d").kernel.numpy()
    r = float(np.sum(1 - np.abs(np.cos(math.pi * kernel / 0.25))))
    loss = np.array(hist.history["loss"])
    assert hist.history["lambda"] == [0.0, 1.0, 2.0, 2.0]
    np.testing.assert_allclose(loss - loss[0], [0.0, 1.0 * r, 2.0 * r, 2.0 * r], rtol=1e-4, atol=1e-5)
    assert r > 0.1  # the check above is not vacuous
