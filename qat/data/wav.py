"""Reading one clip, with the documented fixes and clear errors for what cannot be fixed.

Documented behaviour (the same for every dataset source):
- another sample rate is resampled to 16 kHz (polyphase, scipy) — many user recordings are 44.1/48 kHz;
- more than one channel is mixed down to mono;
- a clip shorter than one second is zero-padded at the end, a longer one keeps its first second
  (the Speech Commands archive itself has short clips padded the same way by its reference code);
- an unreadable, empty or non-finite file raises `AudioError` naming the file.
"""

from __future__ import annotations

from fractions import Fraction
from pathlib import Path

import numpy as np

from qat.data.labels import CLIP_SAMPLES, SAMPLE_RATE


class AudioError(ValueError):
    """A clip that cannot be used; the message names the file and what is wrong."""


def read_wav(path: str | Path, sample_rate: int = SAMPLE_RATE) -> np.ndarray:
    """Mono float32 waveform in [-1, 1] at `sample_rate`, any length (see `fit_length`)."""
    import soundfile as sf

    path = Path(path)
    try:
        data, rate = sf.read(str(path), dtype="float32", always_2d=True)
    except Exception as exc:  # soundfile raises several types; all mean "not a usable audio file"
        raise AudioError(f"{path}: cannot read audio ({exc}); is it a valid WAV file?") from exc
    if data.shape[0] == 0:
        raise AudioError(f"{path}: no samples (empty recording)")
    audio = data.mean(axis=1) if data.shape[1] > 1 else data[:, 0]
    if not np.all(np.isfinite(audio)):
        raise AudioError(f"{path}: contains NaN/Inf samples")
    if rate != sample_rate:
        audio = resample(audio, rate, sample_rate)
    return audio.astype(np.float32)


def resample(audio: np.ndarray, rate_in: int, rate_out: int) -> np.ndarray:
    from scipy.signal import resample_poly

    ratio = Fraction(rate_out, rate_in).limit_denominator(1000)
    return resample_poly(audio, ratio.numerator, ratio.denominator).astype(np.float32)


def fit_length(audio: np.ndarray, n: int = CLIP_SAMPLES) -> np.ndarray:
    """Zero-pad at the end or keep the first `n` samples."""
    if len(audio) >= n:
        return audio[:n]
    return np.pad(audio, (0, n - len(audio)))


def write_wav(path: str | Path, audio: np.ndarray, sample_rate: int = SAMPLE_RATE) -> None:
    """16-bit PCM, as the Speech Commands archive stores its clips."""
    import soundfile as sf

    Path(path).parent.mkdir(parents=True, exist_ok=True)
    sf.write(str(path), np.clip(audio, -1.0, 1.0), sample_rate, subtype="PCM_16")
