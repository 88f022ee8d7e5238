"""The evaluation stream of the always-on IP: every clip of a Speech Commands testing list
(keywords and unknown words, none of them seen in training) laid over the `_background_noise_`
recordings with random gaps, for at least an hour (qat.det.build_stream).

The testing list of the shared subset has 429 word clips, ~16 minutes per pass, so an hour
reuses every clip in several passes, each with a new order, new gaps (0.5-2 s), new clip gains
(-6 to +3 dB) and another stretch and level of noise (0.05 x -6 to +6 dB). The stream is quantized
to 16-bit PCM (what an always-on front end reads) and deterministic per seed. Building the hour
takes ~2 s and its MFCC frames ~2 s (measured on the shared subset), so nothing is cached on disk.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from qat.data.clips import load_clips, quantize16
from qat.data.labels import BACKGROUND_NOISE_DIR, CLASSES, CLIP_SAMPLES, KEYWORDS
from qat.data.speech_commands import listed_refs
from qat.data.wav import read_wav
from qat.det import Stream, StreamError, build_stream, normalize_frames, stream_frames

SETTINGS = {"gap_s": (0.5, 2.0), "gain_db": (-6.0, 3.0), "noise_volume": 0.05, "noise_db": (-6.0, 6.0)}


@dataclass
class EvalStream:
    stream: Stream  # audio: int16 PCM
    info: dict  # seed, seconds asked, hours, passes, clip counts, build seconds, settings
    _frames: dict = field(default_factory=dict)  # per kind, unnormalized

    def frames(self, kind, normalizer=None) -> np.ndarray:
        """(F, 10) MFCC or (F, 40) log-mel of every 20 ms frame (`kind`: a kind, or a run's
        FeatureSpec), normalized with a run's Normalizer if given; emission e of a network deciding
        every k frames reads rows [e k, e k + 49)."""
        if kind not in self._frames:
            self._frames[kind] = stream_frames(self.stream.audio, kind)
        x = self._frames[kind]
        return normalize_frames(x, normalizer) if normalizer is not None else x


def _load_testing_list(root: Path):
    refs = listed_refs(root, "testing_list.txt")
    clips = load_clips(refs, "testing-list clips", progress=False)
    if clips.errors:
        raise StreamError(f"{len(clips.errors)} testing-list clip(s) unreadable ({clips.errors[0]}): the stream "
                         "must hold every clip of the list; replace or remove them from testing_list.txt")
    noise_files = sorted((root / BACKGROUND_NOISE_DIR).glob("*.wav"))
    noises = [n for n in (read_wav(f) for f in noise_files) if len(n) >= CLIP_SAMPLES]
    if not noises:
        raise StreamError(f"{root / BACKGROUND_NOISE_DIR}: no background-noise recording of at least 1 s to lay the clips on")
    return clips, noises


def evaluation_stream(root, seconds: float = 3600.0, seed: int = 0) -> EvalStream:
    """The stream of `root`'s testing list lasting at least `seconds` (whole passes over the list)."""
    root = Path(root).expanduser().resolve()
    if not (root / "testing_list.txt").exists():
        raise StreamError(f"{root / 'testing_list.txt'} not found: point to an extracted speech_commands_v0.02 folder")
    if not (isinstance(seconds, (int, float)) and seconds > 0):
        raise StreamError(f"seconds={seconds!r}: the stream's length, > 0")
    t0 = time.perf_counter()
    clips, noises = _load_testing_list(root)
    built = build_stream(clips.audio, clips.labels, noises, seed=seed, min_seconds=seconds, **SETTINGS)
    stream = Stream(quantize16(built.audio), built.events, built.speech, built.clips)  # what a 16-bit front end reads
    keyword_ids = {CLASSES.index(k) for k in KEYWORDS}
    info = {"seed": int(seed), "seconds_asked": float(seconds), "hours": stream.hours, "source": str(root),
            "list_clips": len(clips.labels), "passes": len(stream.events) // len(clips.labels),
            "keyword_clips": sum(c in keyword_ids for *_, c in stream.events),
            "unknown_clips": sum(c not in keyword_ids for *_, c in stream.events),
            "build_seconds": round(time.perf_counter() - t0, 1), **SETTINGS}
    return EvalStream(stream, info)
