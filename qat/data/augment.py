"""Training-time augmentation on waveforms (MLPerf Tiny / TensorFlow speech_commands recipe).

- speed (off by default, `speed: 0.1` = ±10 %): each clip played faster or slower by a factor
  uniform in [1 - speed, 1 + speed] (time and pitch together, like tape), by linear interpolation
  around the clip's centre, cut or zero-padded back to one second;
- time shift: uniform in ±100 ms, zero-filled;
- background noise: with probability 0.8 add a random one-second slice of a background
  recording, scaled by uniform(0, 0.1); the sum is clipped to [-1, 1].
- silence re-cut: the `_silence_` training clips are replaced every epoch by fresh slices of the
  noise recordings at volume uniform(0, silence_volume), so the model sees many more of them than
  the few dozen fixed ones (the reference recipe's habit).
`_silence_` clips get noise too: that is what they are.

`spec_augment` works on features (SpecAugment, Park et al. 2019): time and frequency bands set
to the normalized mean (0).
"""

from __future__ import annotations

import numpy as np

from qat.data.labels import CLIP_SAMPLES, SAMPLE_RATE


def speed_perturb(audio: np.ndarray, rng: np.random.Generator, max_change: float) -> np.ndarray:
    """Each row resampled by a factor f ~ U(1 - max_change, 1 + max_change) about its centre: output
    sample j reads input position c + (j - c) f (f > 1: faster and higher), zero outside the clip."""
    if max_change <= 0:
        return audio
    t = np.arange(CLIP_SAMPLES, dtype=np.float64)
    centre = (CLIP_SAMPLES - 1) / 2
    out = np.empty_like(audio)
    for i, f in enumerate(rng.uniform(1 - max_change, 1 + max_change, size=len(audio))):
        out[i] = np.interp(centre + (t - centre) * f, t, audio[i], left=0.0, right=0.0)
    return out


def time_shift(audio: np.ndarray, rng: np.random.Generator, max_ms: float = 100.0) -> np.ndarray:
    max_shift = int(SAMPLE_RATE * max_ms / 1000)
    out = np.zeros_like(audio)
    shifts = rng.integers(-max_shift, max_shift + 1, size=len(audio))
    for i, s in enumerate(shifts):
        if s >= 0:
            out[i, s:] = audio[i, :CLIP_SAMPLES - s]
        else:
            out[i, :s] = audio[i, -s:]
    return out


def add_background(audio: np.ndarray, noises: list[np.ndarray], rng: np.random.Generator,
                   probability: float = 0.8, volume: float = 0.1) -> np.ndarray:
    usable = [n for n in noises if len(n) >= CLIP_SAMPLES]
    if not usable or probability <= 0:
        return audio
    out = audio.copy()
    for i in np.flatnonzero(rng.random(len(audio)) < probability):
        noise = usable[rng.integers(len(usable))]
        start = rng.integers(0, len(noise) - CLIP_SAMPLES + 1)
        out[i] += rng.uniform(0, volume) * noise[start:start + CLIP_SAMPLES]
    return np.clip(out, -1.0, 1.0)


def recut_silence(audio: np.ndarray, labels: np.ndarray, noises: list[np.ndarray], rng: np.random.Generator,
                  volume: float = 1.0) -> np.ndarray:
    """A copy of `audio` whose `_silence_` rows are fresh noise slices at volume U(0, volume)."""
    from qat.data.labels import CLASSES, SILENCE

    usable = [n for n in noises if len(n) >= CLIP_SAMPLES]
    rows = np.flatnonzero(np.asarray(labels) == CLASSES.index(SILENCE))
    if not usable or not len(rows):
        return audio
    out = audio.copy()
    for i in rows:
        noise = usable[rng.integers(len(usable))]
        start = rng.integers(0, len(noise) - CLIP_SAMPLES + 1)
        out[i] = np.clip(rng.uniform(0, volume) * noise[start:start + CLIP_SAMPLES], -1.0, 1.0)
    return out


def augment(audio: np.ndarray, noises: list[np.ndarray], rng: np.random.Generator, shift_ms: float = 100.0,
            noise_probability: float = 0.8, noise_volume: float = 0.1, labels: np.ndarray | None = None,
            silence_volume: float | None = None, speed: float = 0.0) -> np.ndarray:
    """The waveform augmentations; silence re-cut only when `labels` and `silence_volume` are given,
    speed perturbation only when `speed` > 0 (no random draws otherwise)."""
    if labels is not None and silence_volume:
        audio = recut_silence(audio, labels, noises, rng, silence_volume)
    audio = speed_perturb(audio, rng, speed)
    return add_background(time_shift(audio, rng, shift_ms), noises, rng, noise_probability, noise_volume)


def spec_augment(grid: np.ndarray, rng: np.random.Generator, time_masks: int = 0, time_width: int = 0,
                 freq_masks: int = 0, freq_width: int = 0, fill: float = 0.0) -> np.ndarray:
    """Masks (N, T, F) features in place and returns them: per example `time_masks` bands of
    0..time_width steps and `freq_masks` bands of 0..freq_width bins, each set to `fill`."""
    n, t_len, f_len = grid.shape
    for masks, width, axis_len, axis in ((time_masks, time_width, t_len, 1), (freq_masks, freq_width, f_len, 2)):
        if masks <= 0 or width <= 0 or axis_len <= 1:
            continue
        widths = rng.integers(0, min(width, axis_len) + 1, size=(n, masks))
        starts = (rng.random((n, masks)) * (axis_len - widths + 1)).astype(np.int64)
        for i in range(n):
            for w, s in zip(widths[i], starts[i]):
                if axis == 1:
                    grid[i, s:s + w, :] = fill
                else:
                    grid[i, :, s:s + w] = fill
    return grid
