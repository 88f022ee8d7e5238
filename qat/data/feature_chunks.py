"""Features of many clips, a chunk of `qat.data.clips.CHUNK_CLIPS` at a time, into one
preallocated float32 array: peak memory is that array plus one chunk's audio and its temporaries, whatever the
number of clips (the full Speech Commands archive: 105k clips, 6.7 GB as float32 audio, 206 MB
as 49 x 10 MFCCs).

Each clip's features depend on that clip alone (`qat.features.compute` works row by row), so
chunking changes no value: the fixed features are bit-identical to computing all clips at once.
"""

from __future__ import annotations

import math
from typing import Callable

import numpy as np

from qat.data import clips
from qat.data.clips import ClipAudio

# The normalizer is fitted on every k-th training clip, at most this many: its mean and std
# settle long before 20k clips, and 20k x 49 x 10 MFCCs are 39 MB (all 105k of them: 206 MB,
# plus numpy's temporaries). Training splits of up to 20k clips use every clip, as before.
NORMALIZER_FIT_CLIPS = 20_000


def chunk_slices(n: int, size: int | None = None):
    size = size or clips.CHUNK_CLIPS  # looked up per call, so a test may shrink it
    for start in range(0, n, size):
        yield slice(start, min(start + size, n))


def map_chunks(audio: ClipAudio, fn: Callable[[np.ndarray, slice], np.ndarray], feature_shape: tuple,
               size: int | None = None) -> np.ndarray:
    """`fn(float32 audio of rows where, where)` for consecutive chunks, in order, stacked into
    one (N, *feature_shape) float32 array."""
    out = np.empty((len(audio), *feature_shape), np.float32)
    for where in chunk_slices(len(audio), size):
        out[where] = fn(audio[where], where)
    return out


def clip_features(kind: str, audio: ClipAudio, normalizer=None, size: int | None = None) -> np.ndarray:
    """`qat.features.compute` of every clip (then `normalizer`, if given), chunk by chunk."""
    from qat import features

    def one(block: np.ndarray, _where) -> np.ndarray:
        x = features.compute(kind, block)
        return normalizer(kind, x) if normalizer is not None else x

    return map_chunks(audio, one, features.input_shape(kind), size)


def fit_sample(x: np.ndarray) -> np.ndarray:
    """Every k-th row of `x`, at most NORMALIZER_FIT_CLIPS of them (a view: no copy)."""
    return x[::max(1, math.ceil(len(x) / NORMALIZER_FIT_CLIPS))]  # NORMALIZER_FIT_CLIPS read per call


def normalize_in_place(kind: str, normalizer, x: np.ndarray, size: int | None = None) -> np.ndarray:
    """x = normalizer(kind, x), a chunk at a time (the normalizer works element by element)."""
    for where in chunk_slices(len(x), size):
        x[where] = normalizer(kind, x[where])
    return x
