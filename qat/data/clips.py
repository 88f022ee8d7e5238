"""A clip reference (a file, or a slice of a background-noise recording) and its loader.

Loading is separate from scanning so a 3,000-file run reports every bad file at the end
instead of dying on the first one (or silently dropping it).
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from qat.data.labels import CLIP_SAMPLES
from qat.data.wav import AudioError, fit_length, read_wav

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class ClipRef:
    path: Path
    label: int
    speaker: str = ""
    # For `_silence_` clips cut from a long noise recording: where, and how loud.
    offset: int | None = None
    gain: float = 1.0


@dataclass
class LoadedClips:
    audio: np.ndarray  # (N, 16000) float32
    labels: np.ndarray  # (N,) int
    refs: list[ClipRef]
    errors: list[str]  # one line per clip that could not be used


def load_clips(refs: list[ClipRef], desc: str = "clips", progress: bool = True) -> LoadedClips:
    """Read every clip; bad ones are listed in `errors` (and logged), the rest are kept."""
    from tqdm import tqdm

    audio, labels, kept, errors = [], [], [], []
    noise_cache: dict[Path, np.ndarray] = {}
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
        audio.append(wave)
        labels.append(ref.label)
        kept.append(ref)
    if errors:
        shown = "\n  ".join(errors[:10]) + ("\n  ..." if len(errors) > 10 else "")
        log.warning("%d of %d %s could not be used and were skipped:\n  %s", len(errors), len(refs), desc, shown)
    if refs and not kept:
        raise AudioError(f"none of the {len(refs)} {desc} could be read; first error: {errors[0]}")
    arr = np.stack(audio).astype(np.float32) if audio else np.zeros((0, CLIP_SAMPLES), np.float32)
    return LoadedClips(arr, np.asarray(labels, dtype=np.int64), kept, errors)
