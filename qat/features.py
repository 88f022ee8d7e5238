"""Front ends, in numpy, one code path for training, evaluation and the hardware test vectors.

- `mfcc`: MLPerf Tiny KWS reference — 30 ms Hann window, 20 ms hop, 512-point FFT magnitude,
  40 mel bands 20–4000 Hz (HTK mel scale, as tf.signal), log(mel + 1e-6), DCT-II, first 10
  coefficients → 49 x 10. Matches tf.signal's pipeline (tested against it).
- `logmel`: the same 49 x 40 log-mel frames, stacked — the streaming feed-forward model's input.
- `raw`: the waveform itself (16000 samples), for the raw-waveform CNN.

The model decides the kind; a run's `data.features` may change the number of mel bands
(`mel_bands`, default 40) and of MFCC coefficients (`coefficients`, default 10): a
`FeatureSpec` carries all three, and every function here takes either a spec or a kind name
(= the default spec of that kind).

`Normalizer` then scales each coefficient (or the waveform as a whole) with training-set
statistics, so one fixed-point input format fits all inputs.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass

import numpy as np
import scipy.fft

from qat.data.labels import CLIP_SAMPLES, SAMPLE_RATE

FRAME_LENGTH = 480  # 30 ms
FRAME_STEP = 320  # 20 ms
FFT_LENGTH = 512
NUM_MEL = 40
MEL_LOW_HZ, MEL_HIGH_HZ = 20.0, 4000.0
NUM_MFCC = 10
FEATURE_KINDS = ("mfcc", "logmel", "raw")
NUM_FRAMES = 1 + (CLIP_SAMPLES - FRAME_LENGTH) // FRAME_STEP  # 49 per one-second clip


MAX_MEL_BANDS = 80  # 20-4000 Hz holds ~127 FFT bins: more bands would be narrower than a bin at the low end
FEATURE_SETTINGS = ("mel_bands", "coefficients")


class FeatureError(ValueError):
    pass


@dataclass(frozen=True)
class FeatureSpec:
    """What a model reads: the kind, and for mfcc/logmel the mel bands (and MFCC coefficients)."""

    kind: str
    mel_bands: int = NUM_MEL
    coefficients: int = NUM_MFCC  # mfcc only: the first `coefficients` DCT-II outputs

    def __post_init__(self):
        if self.kind not in FEATURE_KINDS:
            raise FeatureError(f"unknown feature kind {self.kind!r}; choose one of {FEATURE_KINDS}")
        for name in FEATURE_SETTINGS:
            value = getattr(self, name)
            if not isinstance(value, int) or isinstance(value, bool):
                raise FeatureError(f"data.features.{name}={value!r}: an integer")
        if not 2 <= self.mel_bands <= MAX_MEL_BANDS:
            raise FeatureError(f"data.features.mel_bands={self.mel_bands}: between 2 and {MAX_MEL_BANDS}")
        if not 1 <= self.coefficients <= self.mel_bands:
            raise FeatureError(f"data.features.coefficients={self.coefficients}: between 1 and mel_bands "
                               f"({self.mel_bands}); a DCT of {self.mel_bands} bands has no more")

    @classmethod
    def of(cls, kind: str, settings: dict | None = None) -> "FeatureSpec":
        """The spec of `kind` with a run's `data.features` settings; refuses what the kind does not use."""
        settings = dict(settings or {})
        unknown = set(settings) - set(FEATURE_SETTINGS)
        if unknown:
            raise FeatureError(f"data.features: unknown setting(s) {sorted(unknown)}; known: {list(FEATURE_SETTINGS)}")
        unused = {"raw": set(FEATURE_SETTINGS), "logmel": {"coefficients"}, "mfcc": set()}.get(kind, set()) & set(settings)
        if unused:
            raise FeatureError(f"data.features: {sorted(unused)} do(es) not apply to {kind!r} features "
                               f"(the model reads {'the waveform' if kind == 'raw' else 'log-mel bands'})")
        return cls(kind, **settings)


def as_spec(kind: "str | FeatureSpec") -> FeatureSpec:
    return kind if isinstance(kind, FeatureSpec) else FeatureSpec(kind)


def hann_periodic(n: int) -> np.ndarray:
    return (0.5 - 0.5 * np.cos(2 * np.pi * np.arange(n) / n)).astype(np.float32)


def hz_to_mel(hz):
    return 1127.0 * np.log1p(np.asarray(hz, dtype=np.float64) / 700.0)


def mel_matrix(num_mel: int = NUM_MEL, num_bins: int = FFT_LENGTH // 2 + 1, rate: int = SAMPLE_RATE,
               low: float = MEL_LOW_HZ, high: float = MEL_HIGH_HZ) -> np.ndarray:
    """Triangular mel filters over FFT bins, as tf.signal.linear_to_mel_weight_matrix (DC bin unused)."""
    bin_mel = hz_to_mel(np.linspace(0.0, rate / 2, num_bins))[1:, None]
    edges = np.linspace(hz_to_mel(low), hz_to_mel(high), num_mel + 2)
    left, center, right = edges[:-2], edges[1:-1], edges[2:]
    weights = np.maximum(0.0, np.minimum((bin_mel - left) / (center - left), (right - bin_mel) / (right - center)))
    return np.pad(weights, ((1, 0), (0, 0))).astype(np.float32)


def dct2_matrix(n_in: int = NUM_MEL, n_out: int = NUM_MFCC) -> np.ndarray:
    """DCT-II scaled like tf.signal.mfccs_from_log_mel_spectrograms: 2*cos(...)/sqrt(2N)."""
    k = np.arange(n_out)[None, :]
    n = np.arange(n_in)[:, None]
    return (2.0 * np.cos(np.pi * k * (2 * n + 1) / (2 * n_in)) / np.sqrt(2.0 * n_in)).astype(np.float32)


@functools.lru_cache(maxsize=None)
def _mel(num_mel: int) -> np.ndarray:
    return mel_matrix(num_mel)


@functools.lru_cache(maxsize=None)
def _dct(n_in: int, n_out: int) -> np.ndarray:
    return dct2_matrix(n_in, n_out)


_MEL = _mel(NUM_MEL)
_DCT = _dct(NUM_MEL, NUM_MFCC)
_WINDOW = hann_periodic(FRAME_LENGTH)


def frames(audio: np.ndarray) -> np.ndarray:
    """(N, samples) → (N, frames, FFT_LENGTH): Hann-windowed 30 ms frames every 20 ms, no padding at
    the end (tf.signal.stft pad_end=False), each zero-padded to the FFT length. Written straight from
    a strided view of the audio: gathering the frames and then padding them copied each clip twice,
    and made the features cost more than the training step they feed."""
    audio = np.asarray(audio, dtype=np.float32)
    if audio.ndim == 1:
        audio = audio[None]
    n_frames = 1 + (audio.shape[-1] - FRAME_LENGTH) // FRAME_STEP
    windows = np.lib.stride_tricks.sliding_window_view(audio, FRAME_LENGTH, axis=-1)[:, ::FRAME_STEP]
    out = np.zeros(audio.shape[:1] + (n_frames, FFT_LENGTH), np.float32)
    np.multiply(windows, _WINDOW, out=out[..., :FRAME_LENGTH])
    return out


def log_mel(audio: np.ndarray, mel_bands: int = NUM_MEL) -> np.ndarray:
    # scipy's FFT stays in float32 (numpy's works in float64): 3x faster, and training recomputes
    # the features of every augmented clip each epoch
    spectrum = np.abs(scipy.fft.rfft(frames(audio)))
    return np.log(spectrum @ _mel(mel_bands) + 1e-6)


def mfcc(audio: np.ndarray, mel_bands: int = NUM_MEL, coefficients: int = NUM_MFCC) -> np.ndarray:
    return log_mel(audio, mel_bands) @ _dct(mel_bands, coefficients)


def frame_features(spec: "str | FeatureSpec", log_mel_frames: np.ndarray) -> np.ndarray:
    """(..., frames, mel_bands) log-mel → what the spec reads per frame: the MFCCs or the bands."""
    spec = as_spec(spec)
    return log_mel_frames @ _dct(spec.mel_bands, spec.coefficients) if spec.kind == "mfcc" else log_mel_frames


def compute(kind: "str | FeatureSpec", audio: np.ndarray, batch: int = 128) -> np.ndarray:
    """Features of a batch of one-second clips: (N, 49, 10, 1), (N, 1960) or (N, 16000, 1) by
    default; (N, 49, coefficients, 1) and (N, 49 * mel_bands) with other settings. `batch` clips at
    a time: their temporaries (~13 MB) stay in the heap, where 512 clips' were mapped and unmapped
    each time (15 M page faults in a 160-epoch DS-CNN run, 1.5 M now). Every clip's features are
    the same whatever the batch."""
    audio = np.asarray(audio, dtype=np.float32)
    if audio.ndim != 2 or audio.shape[1] != CLIP_SAMPLES:
        raise FeatureError(f"expected clips of shape (N, {CLIP_SAMPLES}), got {audio.shape}")
    spec = as_spec(kind)
    if spec.kind == "raw":
        return audio[..., None]
    if spec.kind == "mfcc":
        fn = functools.partial(mfcc, mel_bands=spec.mel_bands, coefficients=spec.coefficients)
    else:
        fn = functools.partial(log_mel, mel_bands=spec.mel_bands)
    out = np.concatenate([fn(audio[i:i + batch]) for i in range(0, len(audio), batch)]) if len(audio) else None
    if out is None:
        out = fn(np.zeros((1, CLIP_SAMPLES), np.float32))[:0]
    return out[..., None] if spec.kind == "mfcc" else out.reshape(len(out), -1)


def time_freq_view(kind: "str | FeatureSpec", x: np.ndarray) -> np.ndarray:
    """(N, time, frequency) view of a feature batch (writes go through to x): frames x
    coefficients for mfcc/logmel, samples x 1 for raw (which has no frequency axis to mask)."""
    spec = as_spec(kind)
    if spec.kind == "mfcc":
        return x[..., 0]
    if spec.kind == "logmel":
        return x.reshape(len(x), -1, spec.mel_bands)
    return x.reshape(len(x), -1, 1)


def frame_samples(kind: "str | FeatureSpec") -> int:
    """Time steps of `time_freq_view` per 20 ms feature frame (SpecAugment widths are in frames)."""
    return FRAME_STEP if as_spec(kind).kind == "raw" else 1


def input_shape(kind: "str | FeatureSpec") -> tuple[int, ...]:
    return compute(kind, np.zeros((1, CLIP_SAMPLES), np.float32)).shape[1:]


@dataclass
class Normalizer:
    """(x - mean) / std with training-set statistics; per coefficient (MFCC/log-mel) or global (raw)."""

    mean: np.ndarray
    std: np.ndarray

    @classmethod
    def fit(cls, kind: "str | FeatureSpec", x: np.ndarray) -> "Normalizer":
        spec = as_spec(kind)
        if spec.kind == "raw":
            return cls(np.zeros(1, np.float32), np.asarray([x.std() + 1e-8], np.float32))
        if spec.kind == "mfcc":  # (N, 49, 10, 1): statistics per coefficient, shared over time
            return cls(x.mean(axis=(0, 1, 3)).astype(np.float32), (x.std(axis=(0, 1, 3)) + 1e-8).astype(np.float32))
        per_band = x.reshape(len(x), -1, spec.mel_bands)  # (N, 49*40) log-mel: per band
        return cls(per_band.mean(axis=(0, 1)).astype(np.float32), (per_band.std(axis=(0, 1)) + 1e-8).astype(np.float32))

    def __call__(self, kind: "str | FeatureSpec", x: np.ndarray) -> np.ndarray:
        spec = as_spec(kind)
        if spec.kind == "raw":
            return ((x - self.mean[0]) / self.std[0]).astype(np.float32)
        # statistics per coefficient or band: the saved normalizer says how many the run read
        n = len(self.mean)
        if spec.kind == "mfcc" and x.shape[2] != n or spec.kind == "logmel" and x.shape[1] != NUM_FRAMES * n:
            raise FeatureError(f"normalizer of {n} {'coefficients' if spec.kind == 'mfcc' else 'bands'} "
                               f"cannot scale features of shape {x.shape[1:]}: computed with other data.features?")
        if spec.kind == "mfcc":
            return ((x - self.mean[None, None, :, None]) / self.std[None, None, :, None]).astype(np.float32)
        shaped = x.reshape(len(x), -1, len(self.mean))
        return ((shaped - self.mean) / self.std).reshape(x.shape).astype(np.float32)

    def save(self, path) -> None:
        np.savez(path, mean=self.mean, std=self.std)

    @classmethod
    def load(cls, path) -> "Normalizer":
        with np.load(path) as data:
            return cls(data["mean"], data["std"])
