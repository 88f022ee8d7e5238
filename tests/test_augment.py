import numpy as np

from qat.data.augment import add_background, augment, time_shift


def test_time_shift_moves_by_at_most_100ms():
    audio = np.zeros((200, 16000), np.float32)
    audio[:, 8000] = 1.0
    shifted = time_shift(audio, np.random.default_rng(0))
    pos = np.argmax(shifted, axis=1)
    assert np.all(np.abs(pos - 8000) <= 1600) and len(set(pos)) > 50
    assert np.all(shifted.sum(axis=1) == 1.0)  # nothing duplicated or lost away from the edges


def test_noise_probability_and_volume():
    rng = np.random.default_rng(1)
    audio = np.zeros((1000, 16000), np.float32)
    noise = [np.ones(32000, np.float32)]
    mixed = add_background(audio, noise, rng, probability=0.8, volume=0.1)
    touched = np.any(mixed != 0, axis=1)
    assert 0.75 < touched.mean() < 0.85
    assert mixed.max() <= 0.1


def test_deterministic_for_a_seed():
    audio = np.random.default_rng(2).standard_normal((8, 16000)).astype(np.float32) * 0.1
    noise = [np.random.default_rng(3).standard_normal(40000).astype(np.float32)]
    a = augment(audio, noise, np.random.default_rng(5))
    b = augment(audio, noise, np.random.default_rng(5))
    assert np.array_equal(a, b) and not np.array_equal(a, audio)
