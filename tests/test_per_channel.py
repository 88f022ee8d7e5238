"""Per-output-channel power-of-two weight scales, training side: the shift choice, the quantizer,
config validation, and a toy QAT run whose exported plain-QKeras model equals the trained one."""

from __future__ import annotations

import numpy as np
import pytest
import tensorflow as tf

from qat.quantizers import channel_po2_bits, channel_shifts, custom_objects, export_fixed_qkeras
from qat.quantizers.channel_po2 import MAX_SPAN, best_channel_shift
from tests.test_schemes import float_model, load, make_ctx  # noqa: F401  (float_model: the toy fixture)


def test_a_channel_with_10x_smaller_weights_gets_a_shift_of_about_3():
    rng = np.random.default_rng(0)
    kernel = rng.uniform(-1, 1, (3, 3, 16, 4)).astype(np.float32)
    kernel[..., 2] *= 0.1
    shifts = channel_shifts(kernel, 4)
    others = {shifts[i] for i in (0, 1, 3)}
    assert len(others) == 1
    assert shifts[2] - others.pop() == 3  # log2(10) = 3.3: the nearest power of two below


def test_shift_is_the_mse_best_clip_point_and_dead_channels_add_no_width():
    w = np.array([0.9, -0.7, 0.2, 0.05])
    s = best_channel_shift(w, 4)
    step = lambda s: 2.0 ** -(s + 3)  # noqa: E731
    q = np.clip(np.round(w / step(s)), -8, 7) * step(s)
    for other in range(s - 3, s + 4):
        qo = np.clip(np.round(w / step(other)), -8, 7) * step(other)
        assert np.mean((q - w) ** 2) <= np.mean((qo - w) ** 2)
    kernel = np.stack([w, np.zeros(4), w * 2.0 ** -20], axis=-1)  # (4 inputs, 3 channels)
    shifts = channel_shifts(kernel, 4)
    assert shifts[1] == shifts[0] and shifts[2] == shifts[0] + MAX_SPAN


def test_depthwise_kernel_channels_on_axis_minus_two():
    rng = np.random.default_rng(1)
    kernel = rng.uniform(-1, 1, (3, 3, 5, 1))
    kernel[:, :, 3, :] *= 1 / 16
    shifts = channel_shifts(kernel, 4, axis=-2)
    assert len(shifts) == 5 and shifts[3] == shifts[0] + 4


def test_quantizer_grid_exact_forward_and_straight_through_gradient():
    q = channel_po2_bits(4, [0, 2, -1])
    w = tf.Variable(np.array([[0.3, 0.3, 0.3], [5.0, 5.0, -5.0], [0.01, 0.07, 1.3]], np.float32))
    with tf.GradientTape() as tape:
        y = q(w)
        loss = tf.reduce_sum(y * 3.0)
    got = y.numpy().astype(np.float64)
    for c, s in enumerate([0, 2, -1]):
        step = 2.0 ** -(s + 3)
        want = np.clip(np.round(w.numpy()[:, c] / step), -8, 7) * step
        assert np.array_equal(got[:, c], want)
    assert np.array_equal(tape.gradient(loss, w).numpy(), np.full((3, 3), 3.0, np.float32))
    assert np.array_equal(tf.function(q)(w).numpy(), y.numpy())  # graph mode: no inexact division
    again = channel_po2_bits.from_config(q.get_config())
    assert np.array_equal(again(w).numpy(), y.numpy()) and q.max() == 2.0


def test_exported_kernel_is_one_plain_grid_and_the_model_round_trips(tmp_path):
    from qkeras import QActivation, QDense, quantized_bits

    tf.keras.utils.set_random_seed(0)
    x = tf.keras.Input((6,))
    h = QActivation(quantized_bits(8, 2, alpha=1), name="q_in")(x)
    kq = channel_po2_bits(4, [0, 1, 3, 5])
    y = QDense(4, kernel_quantizer=kq, bias_quantizer=quantized_bits(8, 2, alpha=1), name="fc")(h)
    model = tf.keras.Model(x, y)
    u = np.random.default_rng(0).uniform(-1, 1, (6, 4))
    model.get_layer("fc").set_weights([(u * 2.0 ** -np.array([0, 1, 3, 5])).astype(np.float32), np.zeros(4, np.float32)])
    model.save(tmp_path / "m.h5")
    loaded = tf.keras.models.load_model(tmp_path / "m.h5", custom_objects=custom_objects(), compile=False)
    plain, report = export_fixed_qkeras(loaded)
    pq = plain.get_layer("fc").kernel_quantizer_internal
    assert type(pq).__name__ == "quantized_bits" and pq.alpha == 1
    assert (report["fc"]["kernel"]["bits"], report["fc"]["kernel"]["integer"]) == (9, 0)  # 4 bits + span 5
    data = np.random.default_rng(0).normal(0, 2, (64, 6)).astype(np.float32)
    assert np.array_equal(model(data).numpy(), plain(data).numpy())
    assert np.array_equal(model.predict(data, verbose=0), plain.predict(data, verbose=0))


# ---------------------------------------------------------------- config
@pytest.mark.parametrize("value", ["yes", 1, None, [True]])
def test_per_channel_must_be_a_bool(value):
    with pytest.raises(ValueError, match="per_channel"):
        load("linear", {"per_channel": value})


def test_linear_scheme_args():
    assert load("linear", {"per_channel": True}).scheme_args == {"per_channel": True}
    assert load("linear", {}).scheme_args == {}
    with pytest.raises(ValueError, match="takes no scheme_args"):
        load("linear", {"per_chanel": True})


# ---------------------------------------------------------------- a tiny QAT run
def test_per_channel_qat_exports_what_was_trained(float_model, tmp_path):
    from qat.schemes import linear

    ctx = make_ctx(float_model, tmp_path, "linear", {"per_channel": True}, qat_epochs=1)
    result = linear.quantize(ctx)
    trained = ctx.phases[0][1]
    for name in ("fc1", "fc2", "logits"):
        q = trained.get_layer(name).kernel_quantizer_internal
        assert isinstance(q, channel_po2_bits) and len(q.shifts) == trained.get_layer(name).kernel.shape[-1]
        assert result.extra["per_channel"]["shifts"][name] == q.shifts
        plain_q = result.model.get_layer(name).kernel_quantizer_internal
        assert type(plain_q).__name__ == "quantized_bits" and plain_q.alpha == 1
        assert result.extra["weight_memory_layers"][name]["kernel_bits"] == 4
    x = np.concatenate([ctx.prep.features[s][0] for s in ("train", "test")])
    assert np.array_equal(trained(x, training=False).numpy(), result.model(x, training=False).numpy())
    assert np.array_equal(trained.predict(x, verbose=0), result.model.predict(x, verbose=0))  # graph mode too
    assert result.results["quantized"]["test"]["accuracy"] > 0.5
    assert result.extra["export_max_abs_diff"] == 0.0
    from hw.convert import check_supported

    check_supported(result.model)  # what hls4ml will read is a plain fixed-point model


def test_per_channel_off_is_todays_linear_scheme(float_model, tmp_path):
    from qkeras import quantized_bits

    from qat.schemes import linear

    ctx = make_ctx(float_model, tmp_path, "linear", {"per_channel": False}, qat_epochs=0)
    result = linear.quantize(ctx)
    assert all(isinstance(l.kernel_quantizer_internal, quantized_bits) for l in result.model.layers
               if hasattr(l, "kernel_quantizer_internal"))
    assert "per_channel" not in result.extra
