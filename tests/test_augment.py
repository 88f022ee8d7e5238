import numpy as np

import pytest

from qat.data.augment import add_background, augment, speed_perturb, time_shift


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


def test_speed_perturbation_scales_time_about_the_centre():
    t = np.arange(16000) / 16000
    audio = np.tile(np.sin(2 * np.pi * 200 * t).astype(np.float32), (300, 1))
    out = speed_perturb(audio, np.random.default_rng(0), 0.2)
    assert out.shape == audio.shape and out.dtype == audio.dtype
    # 200 Hz becomes 200 f Hz with f in [0.8, 1.2]: count the rising zero crossings of the middle 0.5 s
    mid = out[:, 4000:12000]
    rate = np.sum((mid[:, :-1] < 0) & (mid[:, 1:] >= 0), axis=1) / 0.5
    assert rate.min() >= 0.8 * 200 - 4 and rate.max() <= 1.2 * 200 + 4 and rate.std() > 20
    # faster clips read past the clip's ends: zeros there, never values from outside
    fast = rate > 210
    assert np.all(out[fast, :100] == 0) and np.all(out[fast, -100:] == 0)


def test_speed_off_draws_nothing_and_changes_nothing():
    audio = np.random.default_rng(2).standard_normal((4, 16000)).astype(np.float32)
    rng = np.random.default_rng(7)
    assert speed_perturb(audio, rng, 0.0) is audio
    assert rng.random() == np.random.default_rng(7).random()  # the random stream of the defaults is untouched
    noise = [np.random.default_rng(3).standard_normal(40000).astype(np.float32)]
    assert np.array_equal(augment(audio, noise, np.random.default_rng(5)), augment(audio, noise, np.random.default_rng(5), speed=0.0))
    assert not np.array_equal(augment(audio, noise, np.random.default_rng(5)), augment(audio, noise, np.random.default_rng(5), speed=0.1))


def test_partial_augment_settings_keep_the_other_defaults():
    from qat.dataset import AUGMENT_DEFAULTS, DataConfig, DataConfigError

    assert DataConfig(augment={"speed": 0.1}).augment == {**AUGMENT_DEFAULTS, "speed": 0.1}  # silence re-cut stays on
    for bad, match in (({"sped": 0.1}, "unknown key"), ({"speed": 0.5}, "speed=0.5"), ({"noise_volume": -1}, ">= 0"),
                       ({"noise_probability": 1.5}, "between 0 and 1")):
        with pytest.raises(DataConfigError, match=match):
            DataConfig(augment=bad)
