"""Export of a model trained with our quantizers to plain fixed-bit QKeras, and h5 round trips."""

import numpy as np
import pytest
import tensorflow as tf
from qkeras import QActivation, QConv1D, QDense, quantized_bits, quantized_relu
from qkeras.utils import _add_supported_quantized_objects

from qat.acos_regularizer import AbsCosineRegularizer
from qat.quantizers import GridFit, custom_objects, export_fixed_qkeras, fit_signed_grid, fixed_point, squashed_bits, trained_bits
from qat.quantizers.transient_formats import FormatError


def mixed_model():
    """Every kind of quantizer of ours, as a scheme would place them."""
    sq4 = squashed_bits(4, gain_log2=-1, per_channel=True)
    x = tf.keras.Input((8, 2))
    h = QActivation(fixed_point(10, 3), name="in_q")(x)
    h = QConv1D(4, 3, kernel_quantizer=sq4, bias_quantizer=quantized_bits(8, 2, alpha=1),
                kernel_regularizer=AbsCosineRegularizer.for_quantizer(sq4, lam=0.1), name="conv")(h)
    h = QActivation(fixed_point(16, 5), name="conv_acc")(h)
    h = QActivation(trained_bits(2 ** -3, 2.0, signed=False), name="conv_act")(h)
    h = tf.keras.layers.Flatten(name="flat")(h)
    h = QDense(5, kernel_quantizer=trained_bits(2 ** -5, 1.0), bias_quantizer=quantized_bits(8, 2, alpha=1),
               name="dense")(h)
    h = QActivation(quantized_relu(6, 2), name="dense_act")(h)
    y = QDense(3, kernel_quantizer=squashed_bits(1, gain_log2=-2), use_bias=False, name="binary")(h)
    return tf.keras.Model(x, y)


@pytest.fixture(scope="module")
def trained():
    tf.keras.utils.set_random_seed(0)
    model = mixed_model()
    model.compile(tf.keras.optimizers.Adam(1e-2), "mse")
    rng = np.random.default_rng(0)
    data = rng.normal(0, 1.5, (64, 8, 2)).astype(np.float32)
    model.fit(data, rng.normal(size=(64, 3)), epochs=2, batch_size=16, verbose=0)
    return model, data


def test_fit_signed_grid_on_known_values():
    assert fit_signed_grid(np.array([0.5, -0.25])) == GridFit(3, 0, 2)  # quantized_bits(3, 0)
    assert fit_signed_grid(np.array([-1.0, 0.875])) == GridFit(4, 0, 3)
    assert fit_signed_grid(np.array([1.0, -1.0])) == GridFit(2, 1, 0)  # +1 needs integer 1
    assert fit_signed_grid(np.array([12.0, -16.0, 4.0])) == GridFit(3, 4, -2)  # step 4
    assert fit_signed_grid(np.array([0.25, -0.25])) == GridFit(3, 0, 2)  # 1-bit x 2**-2, no negative integer
    with pytest.raises(ValueError, match="non-finite"):
        fit_signed_grid(np.array([np.nan]))


def test_exported_weights_are_integers_on_the_grid(trained):
    model, _ = trained
    plain, report = export_fixed_qkeras(model)
    assert set(report) >= {"conv", "dense", "binary"}
    for name, weight in (("conv", "kernel"), ("dense", "kernel"), ("binary", "kernel")):
        layer = plain.get_layer(name)
        q = layer.kernel_quantizer_internal
        assert isinstance(q, quantized_bits) and q.alpha == 1 and q.integer >= 0
        w = getattr(layer, weight).numpy().astype(np.float64)
        frac = q.bits - q.integer - 1
        k = w * 2.0 ** frac
        np.testing.assert_array_equal(k, np.round(k))  # on the grid
        assert k.min() >= -(2 ** (q.bits - 1)) and k.max() <= 2 ** (q.bits - 1) - 1  # in range
        np.testing.assert_array_equal(q(w.astype(np.float32)).numpy(), w)  # QKeras keeps it as is
        # and the values are those the trained quantizer produced
        old = model.get_layer(name)
        np.testing.assert_array_equal(w, old.kernel_quantizer_internal(getattr(old, weight)).numpy())
    assert report["binary"]["kernel"]["bits"] == 3 and set(np.unique(plain.get_layer("binary").kernel.numpy())) <= {-0.25, 0.25}
    assert report["conv"]["kernel"]["bits"] <= 5  # 4-bit grid x 2**-1 gain


def test_exported_activations_and_outputs_match(trained):
    model, data = trained
    plain, _ = export_fixed_qkeras(model)
    assert str(plain.get_layer("in_q").quantizer) == str(quantized_bits(10, 2, alpha=1))
    conv_act = plain.get_layer("conv_act").quantizer
    assert isinstance(conv_act, quantized_relu)
    np.testing.assert_allclose(plain.predict(data, verbose=0), model.predict(data, verbose=0), rtol=0, atol=1e-6)


def test_exported_model_is_plain_qkeras(trained, tmp_path):
    model, data = trained
    plain, _ = export_fixed_qkeras(model)
    text = plain.to_json()
    for ours in ("squashed_bits", "trained_bits", "fixed_point", "AbsCosineRegularizer"):
        assert ours not in text
    plain.save(tmp_path / "plain.h5")
    qkeras_only = {}
    _add_supported_quantized_objects(qkeras_only)
    loaded = tf.keras.models.load_model(tmp_path / "plain.h5", custom_objects=qkeras_only)
    np.testing.assert_array_equal(loaded.predict(data, verbose=0), plain.predict(data, verbose=0))


def test_trained_model_round_trips_through_h5(trained, tmp_path):
    model, data = trained
    model.save(tmp_path / "trained.h5")
    loaded = tf.keras.models.load_model(tmp_path / "trained.h5", custom_objects=custom_objects())
    np.testing.assert_array_equal(loaded.predict(data, verbose=0), model.predict(data, verbose=0))
    # learned step/range come back as weights, quantizer settings as config
    for a, b in zip(model.weights, loaded.weights):
        assert a.name == b.name
        np.testing.assert_array_equal(a.numpy(), b.numpy())
    assert loaded.get_layer("conv").kernel_quantizer_internal.get_config() == squashed_bits(4, -1, per_channel=True).get_config()
    reg = loaded.get_layer("conv").kernel_regularizer
    assert isinstance(reg, AbsCosineRegularizer) and float(reg.lam.numpy()) == pytest.approx(0.1)
    assert loaded.get_layer("in_q").quantizer.format == fixed_point(10, 3).format
    for a, b in zip(model.layers, loaded.layers):
        assert type(a) is type(b)
        for attr in ("kernel_quantizer_internal", "quantizer"):
            if hasattr(a, attr):
                qa, qb = getattr(a, attr), getattr(b, attr)
                assert type(qa) is type(qb) and qa.get_config().keys() == qb.get_config().keys()
                assert {k: v for k, v in qa.get_config().items() if k != "name"} == \
                    {k: v for k, v in qb.get_config().items() if k != "name"}


def test_negative_range_activation_is_refused_at_export():
    x = tf.keras.Input((4,))
    y = QActivation(trained_bits(2 ** -6, 0.25, min_range_log2=None), name="small")(x)
    model = tf.keras.Model(x, y)
    with pytest.raises(FormatError, match="min_range_log2=0"):
        export_fixed_qkeras(model)


def test_sign_times_channel_gain_exports_to_one_plain_grid(tmp_path):
    """1-bit kernels with a power-of-two gain per output channel (paper B): the exported kernel holds
    exactly +-2**g_c in column c, on quantized_bits(5, 0) (codes +-1, +-4, +-8 on the finest grid,
    2**-4), never a 1-bit (XNOR) type, and survives an h5 round trip of the trained model."""
    from qat.quantizers import sign_po2_bits

    tf.keras.utils.set_random_seed(0)
    x = tf.keras.Input((6,))
    h = QActivation(quantized_bits(8, 2, alpha=1), name="q_in")(x)
    y = QDense(3, kernel_quantizer=sign_po2_bits([-1, -4, -2]), bias_quantizer=quantized_bits(8, 2, alpha=1), name="fc")(h)
    model = tf.keras.Model(x, y)
    model.save(tmp_path / "m.h5")
    model = tf.keras.models.load_model(tmp_path / "m.h5", custom_objects=custom_objects(), compile=False)
    plain, report = export_fixed_qkeras(model)
    assert (report["fc"]["kernel"]["bits"], report["fc"]["kernel"]["integer"]) == (5, 0)
    kernel = plain.get_layer("fc").kernel.numpy()
    np.testing.assert_array_equal(np.abs(kernel), np.broadcast_to([0.5, 2.0 ** -4, 0.25], kernel.shape))
    np.testing.assert_array_equal(kernel, model.get_layer("fc").kernel_quantizer_internal(model.get_layer("fc").kernel).numpy())
    data = np.random.default_rng(0).normal(0, 2, (64, 6)).astype(np.float32)
    assert np.array_equal(model.predict(data, verbose=0), plain.predict(data, verbose=0))
