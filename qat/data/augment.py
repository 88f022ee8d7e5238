"""Training-time augmentation on waveforms (MLPerf Tiny / TensorFlow speech_commands recipe).

- time shift: uniform in ±100 ms, zero-filled;
- background noise: with probability 0.8 add a random one-second slice of a background
  recording, scaled by uniform(0, 0.1); the sum is clipped to [-1, 1].
`_silence_` clips get noise too: that is what they are.
"""

from __future__ import annotations

import numpy as np

from qat.data.labels import CLIP_SAMPLES, SAMPLE_RATE


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


def augment(audio: np.ndarray, noises: list[np.ndarray], rng: np.random.Generator, shift_ms: float = 100.0,
            noise_probability: float = 0.8, noise_volume: float = 0.1) -> np.ndarray:
    return add_background(time_shift(audio, rng, shift_ms), noises, rng, noise_probability, noise_volume)
