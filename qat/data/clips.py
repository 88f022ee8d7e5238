"""A clip reference (a file, or a slice of a background-noise recording), its loader, and the
loaded audio.

Loading is separate from scanning so a 3,000-file run reports every bad file at the end
instead of dying on the first one (or silently dropping it).

Loaded audio is kept on the 16-bit PCM grid as int16 (`ClipAudio`): half the bytes of float32,
and on disk (a read-only `.npy`) it is read a chunk at a time, so a 105k-clip training split
(3.4 GB as int16, 6.7 GB as float32) never has to fit in memory at once.
"""

from __future__ import annotations

import contextlib
import logging
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from qat.data.labels import CLIP_SAMPLES
from qat.data.npy_rows import NpyRowWriter
from qat.data.wav import AudioError, fit_length, read_wav

log = logging.getLogger(__name__)
PCM_SCALE = 32768  # int16 sample k stands for k / 32768, as soundfile reads PCM_16
CHUNK_CLIPS = 2048  # clips read (and augmented, featurized) at a time: 125 MiB as float32


@dataclass(frozen=True)
class ClipRef:
    path: Path
    label: int
    speaker: str = ""
    # For `_silence_` clips cut from a long noise recording: where, and how loud.
    offset: int | None = None
    gain: float = 1.0


def quantize16(audio: np.ndarray) -> np.ndarray:
    """Onto the 16-bit PCM grid: clips read from 16-bit files are stored losslessly, and a
    cached and a fresh load give identical arrays (resampled or gain-scaled clips are rounded)."""
    return np.clip(np.round(np.asarray(audio) * PCM_SCALE), -32768, 32767).astype(np.int16)


class ClipAudio:
    """(N, 16000) clips held as int16 — in memory, or a read-only `.npy` on disk — that read as
    float32 k/32768 in [-1, 1), like the float32 arrays they replace.

    `audio[i]`, `audio[a:b]`, `audio[rows]`, `audio[:, 8000:]`, iteration and `np.asarray(audio)`
    read only the rows asked for and give float32 (so `np.asarray` of a whole 105k-clip split is
    6.7 GB: read big splits with `chunks()`); `pcm(...)` gives the int16 rows; `take(rows)`
    selects rows without reading anything (a cross-validation fold of the pooled clips).
    """

    dtype = np.dtype(np.float32)
    ndim = 2

    def __init__(self, source: np.ndarray | str | Path, rows: np.ndarray | None = None):
        if isinstance(source, (str, Path)):
            self._path, self._array = Path(source), None
            n, columns = self._open().shape
        else:
            self._path, self._array = None, np.asarray(source)
            n, columns = self._array.shape
        if columns != CLIP_SAMPLES:
            raise ValueError(f"{self._path or 'clip array'}: rows of {columns} samples, expected {CLIP_SAMPLES}")
        self._rows = None if rows is None else np.asarray(rows, dtype=np.int64)
        self._len = n if self._rows is None else len(self._rows)

    def _open(self) -> np.ndarray:
        if self._array is not None:
            return self._array
        # A fresh read-only map per read, dropped with it: the touched pages of a map that stays
        # open count in the resident set, so one pass over a split would leave all of it there.
        pcm = np.load(self._path, mmap_mode="r")
        if pcm.dtype != np.int16 or pcm.ndim != 2:
            raise ValueError(f"{self._path}: expected an (N, {CLIP_SAMPLES}) int16 array, got {pcm.dtype} {pcm.shape}")
        return pcm

    def _read(self, key, dtype) -> np.ndarray:
        source = self._open()
        picked = source[key] if self._rows is None else source[self._rows[key]]
        return np.array(picked, dtype=dtype)  # a copy, never a view of the map

    @property
    def shape(self) -> tuple[int, int]:
        return (self._len, CLIP_SAMPLES)

    def __len__(self) -> int:
        return self._len

    def pcm(self, key=slice(None)) -> np.ndarray:
        """The int16 rows `key` (an index, slice or index array), copied."""
        return self._read(key, np.int16)

    def __getitem__(self, key) -> np.ndarray:
        rows, rest = (key[0], key[1:]) if isinstance(key, tuple) else (key, ())
        out = self._read(rows, np.float32)
        out /= PCM_SCALE  # exact: k / 2**15 is a float32
        if not rest:
            return out
        return out[rest] if out.ndim == 1 else out[(slice(None), *rest)]

    def __array__(self, dtype=None, copy=None) -> np.ndarray:
        out = self[:]
        return out if dtype is None else out.astype(dtype, copy=False)

    def chunks(self, size: int | None = None):
        """(slice, float32 rows) of consecutive chunks of at most `size` (CHUNK_CLIPS) clips."""
        size = size or CHUNK_CLIPS
        for start in range(0, self._len, size):
            where = slice(start, min(start + size, self._len))
            yield where, self[where]

    def __iter__(self):
        for _, block in self.chunks():
            yield from block

    def take(self, rows) -> "ClipAudio":
        rows = np.asarray(rows, dtype=np.int64)
        picked = rows if self._rows is None else self._rows[rows]
        return ClipAudio(self._path if self._path is not None else self._array, picked)

    def __repr__(self) -> str:
        return f"ClipAudio({self._len} clips, {self._path or 'in memory'})"


@dataclass
class LoadedClips:
    audio: ClipAudio  # (N, 16000), reads as float32
    labels: np.ndarray  # (N,) int
    refs: list[ClipRef]
    errors: list[str]  # one line per clip that could not be used


def load_clips(refs: list[ClipRef], desc: str = "clips", progress: bool = True,
               store: str | Path | None = None) -> LoadedClips:
    """Read every clip onto the 16-bit grid; bad ones are listed in `errors` (and logged), the
    rest are kept. With `store`, the rows go straight into that `.npy` file (memory stays at one
    clip) and the result reads from it; else they are kept in memory."""
    from tqdm import tqdm

    labels, kept, errors = [], [], []
    noise_cache: dict[Path, np.ndarray] = {}
    memory = None if store else np.empty((len(refs), CLIP_SAMPLES), np.int16)
    with NpyRowWriter(store, len(refs), CLIP_SAMPLES) if store else contextlib.nullcontext() as writer:
        for ref in tqdm(refs, desc=f"loading {desc}", unit="clip", disable=not progress, leave=False):
            try:
                if ref.offset is None:
                    wave = fit_length(read_wav(ref.path))
                else:
                    if ref.path not in noise_cache:
                        noise_cache[ref.path] = read_wav(ref.path)
                    noise = noise_cache[ref.path]
                    wave = fit_length(noise[ref.offset:ref.offset + CLIP_SAMPLES]) * ref.gain
            except AudioError as exc:
                errors.append(str(exc))
                continue
            if store:
                writer.append(quantize16(wave))
            else:
                memory[len(kept)] = quantize16(wave)
            labels.append(ref.label)
            kept.append(ref)
    if errors:
        shown = "\n  ".join(errors[:10]) + ("\n  ..." if len(errors) > 10 else "")
        log.warning("%d of %d %s could not be used and were skipped:\n  %s", len(errors), len(refs), desc, shown)
    if refs and not kept:
        raise AudioError(f"none of the {len(refs)} {desc} could be read; first error: {errors[0]}")
    audio = ClipAudio(store) if store else ClipAudio(memory[:len(kept)])
    return LoadedClips(audio, np.asarray(labels, dtype=np.int64), kept, errors)

