"""Trained bit-width quantizer (paper C): bits from learned step/range, gradients, bit penalty."""

import math

import numpy as np
import pytest
import tensorflow as tf
from qkeras import QActivation, QDense, quantized_bits, quantized_relu

from qat.quantizers import BitPenalty, bits_report, fit_signed_grid, trained_bits
from qat.quantizers.trained_bitwidth import find_trained_bits

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
@pytest.mark.parametrize("scale", [1, 16, 1024])
def test_bits_for_known_ranges(init_range, init_step, signed, min_range_log2, bits, integer, scale):
    q = built(init_step=init_step, init_range=init_range, signed=signed, min_range_log2=min_range_log2,
              exp_lr_scale=scale)
    fmt = q.fixed_format()
    assert (fmt["bits"], fmt["integer"]) == (bits, integer)
    assert q.bits == bits
    if integer >= 0:  # the values are QKeras's on a grid of quarter steps (ties included)
        grid = np.arange(-2.5 * 2 ** integer, 2.5 * 2 ** integer, fmt["step"] / 4, dtype=np.float32)
        ref = quantized_bits(bits, integer, alpha=1) if signed else quantized_relu(bits, integer)
        np.testing.assert_array_equal(q(tf.constant(grid)).numpy(), ref(tf.constant(grid)).numpy())


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
        grads.append(tape.gradient(y, [q.range_v, q.step_v, x]))
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


@pytest.mark.parametrize("scale", [1, 16])
def test_soft_and_hard_bits_gradients(scale):
    q = built(init_step=2 ** -4, init_range=2.0, exp_lr_scale=scale)
    with tf.GradientTape(persistent=True) as tape:
        soft, hard = q.soft_bits(), q.hard_bits()
    assert float(soft) == pytest.approx(1 + 4 + 1) and float(hard) == 6.0 == q.bits
    for b in (soft, hard):  # d bits / d v = scale * d bits / d exponent
        gr, gs = tape.gradient(b, [q.range_v, q.step_v])
        assert (float(gr), float(gs)) == (scale, -scale)


def test_hard_bits_are_the_reported_bits_and_clamps_stop_their_gradient():
    # range 0.6 -> exponent -0.74: the clamp at min_range_log2=0 holds it, and it is > 0.5 below: no push
    q = built(init_step=2 ** -3.4, init_range=0.6, signed=True)
    with tf.GradientTape() as tape:
        hard = q.hard_bits()
    gr, gs = tape.gradient(hard, [q.range_v, q.step_v])
    assert float(hard) == q.bits == 4 and float(q.soft_bits()) == pytest.approx(1 - 0.737 + 3.4, abs=1e-3)
    assert (gr is None or float(gr) == 0.0) and float(gs) == -1.0


# ------------------------------------------------------------ exponents cross integer boundaries
LR = 3e-4  # train.qat_lr


def adam_steps_under_penalty(q, steps: int):
    """Adam at the QAT lr on loss = avg bits (one quantizer, lambda 1, no target): a constant
    gradient of -scale on step_v and +scale on range_v. Adam moves each v by lr per step, so the
    exponents move scale * lr per step. Returns the reported bits after every step."""
    x = tf.keras.Input((4,))
    model = tf.keras.Model(x, QActivation(q, name="a")(x))
    penalty = BitPenalty(model, weight_lambda=1.0, act_lambda=1.0)
    opt = tf.keras.optimizers.Adam(LR)
    bits = []
    for _ in range(steps):
        with tf.GradientTape() as tape:
            loss = penalty()
        variables = [q.step_v, q.range_v]
        grads = tape.gradient(loss, variables)
        opt.apply_gradients([(g, v) for g, v in zip(grads, variables) if g is not None])
        bits.append(q.fixed_format()["bits"])
    return bits


def test_exponents_cross_integer_boundaries_in_the_predicted_steps():
    # unsigned, step 2**-6, range 2**2: 8 bits. Per step both exponents move 16 * 3e-4 = 0.0048:
    # step -6 -> -5.5 (half to even still -6) after 104.2 steps: round -5 from step 105 (7 bits);
    # range 2 -> 1 (ceil 1) after 208.3 steps: from step 209 (6 bits).
    q = trained_bits(2 ** -6, 4.0, signed=False, exp_lr_scale=16)
    bits = adam_steps_under_penalty(q, 210)
    assert bits[103] == 8 and bits[104] == 7  # step numbers 104 and 105
    assert bits[207] == 7 and bits[208] == 6
    assert float(q.step_log2) == pytest.approx(-6 + 210 * 16 * LR, abs=1e-4)
    assert float(q.range_log2) == pytest.approx(2 - 210 * 16 * LR, abs=1e-4)


def test_old_parametrization_moves_only_lr_per_step():
    # exponent = variable: the same 210 steps move it 0.063, no boundary crossed; one bit needs
    # 0.5 / 3e-4 = 1667 steps (about two GSC epochs at the full lr, all pushing the same way).
    q = trained_bits(2 ** -6, 4.0, signed=False, exp_lr_scale=1)
    bits = adam_steps_under_penalty(q, 210)
    assert set(bits) == {8}
    assert float(q.step_log2) == pytest.approx(-6 + 210 * LR, abs=1e-4)  # float32 sums


def test_steps_stay_at_most_one_for_the_hardware_path():
    # hls4ml and the golden model refuse quantized_relu(bits, integer > bits): a step above 2**0.
    with pytest.raises(ValueError, match="max_step_log2"):
        trained_bits(2.0, 8.0, signed=False)
    free = built(init_step=2.0, init_range=8.0, signed=False, max_step_log2=None)
    assert (free.fixed_format()["bits"], free.fixed_format()["integer"]) == (2, 3)
    # under the penalty, range held at 2**2 (min_range_log2=2): step 2**-1 -> 2**0 at step 105
    # (3 -> 2 bits), then held there: no gradient once the exponent is 0.25 past 0 (step 261).
    # Uncapped, it reaches 2**1 at step 313: quantized_relu(1, 2), which the hardware refuses.
    for cap, last_bits, frac in ((0, 2, 0), (None, 1, -1)):
        q = trained_bits(2 ** -1, 4.0, signed=False, exp_lr_scale=16, min_range_log2=2, max_step_log2=cap)
        bits = adam_steps_under_penalty(q, 400)
        fmt = q.fixed_format()
        assert (bits[103], bits[104], bits[399]) == (3, 2, last_bits) and (fmt["integer"], fmt["frac"]) == (2, frac)
    q = trained_bits(2 ** -1, 4.0, signed=False, exp_lr_scale=16, min_range_log2=2)
    adam_steps_under_penalty(q, 400)
    assert 0.25 < float(q.step_log2) < 0.5  # stopped (Adam's momentum carries it a little past 0.25)
    with tf.GradientTape() as tape:
        hard = q.hard_bits()
    g = tape.gradient(hard, q.step_v)
    assert g is None or float(g) == 0.0


def test_bit_budget_is_zero_at_the_target_and_linear_above():
    model = small_model()  # weights avg (12*5 + 6*8)/18 = 6, activations 4
    penalty = BitPenalty(model, weight_lambda=0.5, act_lambda=2.0, weight_target=6.0, act_target=3.0)
    qs = [q for _, q in find_trained_bits(model)]
    with tf.GradientTape() as tape:
        value = penalty()
    grads = tape.gradient(value, [q.step_v for q in qs])
    assert float(value) == pytest.approx(2.0 * (4 - 3))
    # weights at their target: no push; the activation: lambda per bit
    assert [0.0 if g is None else float(g) for g in grads] == [0.0, -2.0, 0.0]


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
    ({"exp_lr_scale": 0}, "exp_lr_scale"), ({"exp_lr_scale": 10}, "power of two"), ({"exp_lr_scale": True}, "exp_lr_scale"),
    ({"channel_shifts": [0, 1.5]}, "channel_shifts"), ({"channel_shifts": []}, "one exponent per output channel"),
    ({"channel_shifts": [0], "axis": 0}, "axis"),
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


# ---------------------------------------------------------------- per-channel scales
def test_per_channel_scales_give_every_channel_the_whole_grid():
    """Channels 1, 1/8 and 1/64 the size of the first: with shifts 0, 3, 6 each lies on its own
    3-bit QKeras grid (bits per tensor unchanged); one shared grid rounds the narrowest to 0."""
    rng = np.random.default_rng(0)
    base = rng.uniform(-1, 1, (40, 3)).astype(np.float32)
    kernel = base * np.float32([1, 2 ** -3, 2 ** -6])
    shared = trained_bits(init_step=2 ** -2, init_range=1.0)
    per_channel = trained_bits(init_step=2 ** -2, init_range=1.0, channel_shifts=[0, 3, 6])
    for q in (shared, per_channel):
        q.build(tf.TensorShape(kernel.shape))
        assert q.bits == 3
    got = per_channel(tf.constant(kernel)).numpy()
    ref = quantized_bits(3, 0, alpha=1)
    for c, s in enumerate((0, 3, 6)):
        want = ref(tf.constant(kernel[:, c] * 2.0 ** s)).numpy() * 2.0 ** -s
        np.testing.assert_array_equal(got[:, c], want)
        assert len(np.unique(got[:, c])) >= 6  # of the grid's 8 levels
    assert np.all(shared(tf.constant(kernel)).numpy()[:, 2] == 0)
    # every channel on the finest channel's grid: one plain QKeras format (3 bits + 6 of span) holds them
    fit = fit_signed_grid(got)
    assert (fit.bits, fit.integer) == (3 + 6, 0)
    np.testing.assert_array_equal(fit.quantizer()(tf.constant(got)).numpy(), got)


def test_per_channel_depthwise_axis_and_shape_check():
    kernel = np.ones((3, 1, 4, 1), np.float32) * np.float32([0.5, 0.25, 0.125, 0.0625])[None, None, :, None]
    q = trained_bits(init_step=2 ** -3, init_range=1.0, channel_shifts=[0, 1, 2, 3], axis=-2)
    q.build(tf.TensorShape(kernel.shape))
    assert np.all(q(tf.constant(kernel)).numpy() == kernel)  # every channel scaled to 0.5: a grid point
    shared = trained_bits(init_step=2 ** -3, init_range=1.0)
    shared.build(tf.TensorShape(kernel.shape))
    assert np.all(shared(tf.constant(kernel)).numpy()[:, :, 3] == 0)  # 1/16 rounds to 0 on the 1/8 grid
    wrong = trained_bits(init_step=2 ** -3, init_range=1.0, channel_shifts=[0, 1, 2])
    with pytest.raises(ValueError, match="3 channel_shifts for a tensor of shape"):
        wrong.build(tf.TensorShape(kernel.shape))
