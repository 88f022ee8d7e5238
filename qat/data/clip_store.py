"""The on-disk clip cache: one folder per entry, written once, then opened read-only.

    <entry>/audio.npy    (N, 16000) int16, opened with np.load(mmap_mode="r") and read in chunks
    <entry>/labels.npy   (N,) int64
    <entry>/errors.json  one line per clip that could not be read (the clips are not in audio.npy)

An entry is built in a temporary folder of its own (named after the process) and renamed into place in one step, so a
reader never sees half an entry and parallel runs (qat.cv --jobs) building the same entry at
once each finish (the first rename wins; the other drops its identical copy).
"""

from __future__ import annotations

import json
import os
import shutil
import tempfile
from pathlib import Path
from typing import Callable

import numpy as np

from qat.data.clips import ClipAudio, LoadedClips

AUDIO, LABELS, ERRORS = "audio.npy", "labels.npy", "errors.json"


def open_entry(entry: Path) -> LoadedClips | None:
    """The stored clips (refs are not stored: empty), or None if there is no complete entry."""
    entry = Path(entry)
    if not (entry / ERRORS).exists():  # written last, so its presence means complete
        return None
    audio = ClipAudio(entry / AUDIO)
    labels = np.load(entry / LABELS)
    if len(labels) != len(audio):
        raise ValueError(f"{entry}: {len(audio)} clips but {len(labels)} labels; delete the folder to rebuild it")
    return LoadedClips(audio, labels, [], json.loads((entry / ERRORS).read_text()))


def write_entry(entry: Path, build: Callable[[Path], LoadedClips]) -> LoadedClips:
    """Build the entry with `build(audio_npy_path)` (which writes the int16 rows there, e.g.
    `load_clips(..., store=path)`), store labels and errors, rename it into place; returns the
    clips reading from the stored entry, with the refs `build` gave."""
    entry = Path(entry)
    entry.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f"{entry.name}.{os.getpid()}.", suffix=".tmp", dir=entry.parent))
    try:
        clips = build(tmp / AUDIO)
        np.save(tmp / LABELS, np.asarray(clips.labels, dtype=np.int64))
        (tmp / ERRORS).write_text(json.dumps(list(clips.errors)))
        try:
            os.replace(tmp, entry)
        except OSError:
            if open_entry(entry) is None:  # not a rival's finished entry: a real failure
                raise
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    stored = open_entry(entry)
    return LoadedClips(stored.audio, stored.labels, clips.refs, stored.errors)


def cached(entry: Path, build: Callable[[Path], LoadedClips]) -> LoadedClips:
    """The entry if it exists, else built and stored first."""
    stored = open_entry(entry)
    return stored if stored is not None else write_entry(entry, build)
