"""Front ends against TensorFlow's tf.signal reference pipeline (the MLPerf Tiny recipe)."""

import numpy as np
import pytest

from qat import features


@pytest.fixture(scope="module")
def clips():
    rng = np.random.default_rng(0)
    t = np.arange(16000) / 16000
    speechy = 0.3 * np.sin(2 * np.pi * (300 + 500 * t) * t) * (t > 0.3) * (t < 0.7) + 0.01 * rng.standard_normal(16000)
    return np.stack([speechy, 0.05 * rng.standard_normal(16000), np.zeros(16000)]).astype(np.float32)


def tf_reference(audio, n_mfcc=10):
    import tensorflow as tf

    stft = tf.signal.stft(audio, frame_length=480, frame_step=320, fft_length=512)
    spec = tf.abs(stft)
    mel = tf.signal.linear_to_mel_weight_matrix(40, spec.shape[-1], 16000, 20.0, 4000.0)
    log_mel = tf.math.log(tf.tensordot(spec, mel, 1) + 1e-6)
    return log_mel.numpy(), tf.signal.mfccs_from_log_mel_spectrograms(log_mel)[..., :n_mfcc].numpy()


def test_shapes():
    assert features.input_shape("mfcc") == (49, 10, 1)
    assert features.input_shape("logmel") == (49 * 40,)
    assert features.input_shape("raw") == (16000, 1)


def test_mel_matrix_matches_tf():
    import tensorflow as tf

    ref = tf.signal.linear_to_mel_weight_matrix(40, 257, 16000, 20.0, 4000.0).numpy()
    np.testing.assert_allclose(features.mel_matrix(), ref, atol=1e-5)


def test_mfcc_and_logmel_match_tf_signal(clips):
    ref_logmel, ref_mfcc = tf_reference(clips)
    ours_mfcc = features.compute("mfcc", clips)[..., 0]
    ours_logmel = features.compute("logmel", clips).reshape(3, 49, 40)
    # Two float32 FFT implementations: equal to float32 round-off (bands with signal in them; an
    # all-zero clip sits exactly on the log floor, checked separately below).
    np.testing.assert_allclose(ours_logmel, ref_logmel, atol=2e-3, rtol=1e-4)
    np.testing.assert_allclose(ours_mfcc, ref_mfcc, atol=2e-3, rtol=1e-4)


def test_silence_is_log_floor(clips):
    logmel = features.compute("logmel", clips[2:3])
    np.testing.assert_allclose(logmel, np.log(1e-6), rtol=1e-6)


def test_bad_input():
    with pytest.raises(features.FeatureError, match="shape"):
        features.compute("mfcc", np.zeros((2, 8000), np.float32))
    with pytest.raises(features.FeatureError, match="unknown feature"):
        features.compute("cqt", np.zeros((1, 16000), np.float32))


def test_normalizer_round_trip(tmp_path, clips):
    for kind in features.FEATURE_KINDS:
        x = features.compute(kind, clips[:2])
        norm = features.Normalizer.fit(kind, x)
        y = norm(kind, x)
        assert y.shape == x.shape
        norm.save(tmp_path / f"{kind}.npz")
        assert np.array_equal(features.Normalizer.load(tmp_path / f"{kind}.npz")(kind, x), y)
    mfcc = features.Normalizer.fit("mfcc", features.compute("mfcc", clips[:2]))
    assert mfcc.mean.shape == (10,)


def test_feature_settings_shapes_and_values(clips):
    """data.features: other band/coefficient counts give the matching shapes; 10 of 40 is the default."""
    spec = features.FeatureSpec("mfcc", mel_bands=40, coefficients=20)
    x = features.compute(spec, clips)
    assert x.shape == (3, 49, 20, 1) and features.input_shape(spec) == (49, 20, 1)
    # the DCT's first 10 rows: the same matrix, so the same features up to float32 rounding (BLAS sums
    # a 40x20 and a 40x10 product in different orders on some CPUs: up to 1.5e-5 apart on one)
    np.testing.assert_array_equal(features.dct2_matrix(40, 20)[:, :10], features.dct2_matrix(40, 10))
    ten = features.compute("mfcc", clips)
    np.testing.assert_allclose(x[..., :10, :], ten, rtol=0, atol=1e-6 * np.abs(ten).max())
    _, ref20 = tf_reference(clips, n_mfcc=20)
    np.testing.assert_allclose(x[..., 0], ref20, atol=2e-3, rtol=1e-4)
    bands = features.FeatureSpec("logmel", mel_bands=20)
    assert features.compute(bands, clips).shape == (3, 49 * 20) and features.input_shape(bands) == (980,)
    assert features.time_freq_view(bands, features.compute(bands, clips)).shape == (3, 49, 20)
    assert features.FeatureSpec.of("mfcc") == features.as_spec("mfcc") == features.FeatureSpec("mfcc", 40, 10)


def test_normalizer_follows_feature_settings(tmp_path, clips):
    for spec, n in ((features.FeatureSpec("mfcc", 32, 32), 32), (features.FeatureSpec("logmel", 20), 20)):
        x = features.compute(spec, clips)
        norm = features.Normalizer.fit(spec, x)
        assert norm.mean.shape == (n,)
        y = norm(spec, x)
        per = features.time_freq_view(spec, y)
        np.testing.assert_allclose(per.mean(axis=(0, 1)), 0, atol=1e-4)
        norm.save(tmp_path / "n.npz")
        # a saved normalizer knows its width: the kind name is enough to apply it
        assert np.array_equal(features.Normalizer.load(tmp_path / "n.npz")(spec.kind, x), y)
    with pytest.raises(features.FeatureError, match="normalizer of 20 bands"):
        norm("logmel", features.compute("logmel", clips))
    with pytest.raises(features.FeatureError, match="normalizer of 10 coefficients"):
        features.Normalizer.fit("mfcc", features.compute("mfcc", clips))("mfcc", features.compute(features.FeatureSpec("mfcc", 40, 12), clips))
