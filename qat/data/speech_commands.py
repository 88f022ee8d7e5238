"""The two Speech Commands v0.02 layouts.

Raw archive (`speech_commands_v0.02.tar.gz`): one folder per spoken word, `_background_noise_/`,
`validation_list.txt` and `testing_list.txt`; every file in neither list is training data. We map
it to the 12-class task like TensorFlow's reference input pipeline: the ten keywords, `_unknown_`
sampled from the other words, `_silence_` cut from the background noise, each of the two extra
classes sized to `unknown_percent`/`silence_percent` of the split's keyword clips.

Official test set (`speech_commands_test_set_v0.02.tar.gz`): folders named after the 12
classes (`yes/ ... _silence_/ _unknown_/`), used as they are.
"""

from __future__ import annotations

import logging
import math
from pathlib import Path

import numpy as np

from qat.data.clips import ClipRef
from qat.data.labels import BACKGROUND_NOISE_DIR, CLASSES, CLIP_SAMPLES, KEYWORDS, SILENCE, UNKNOWN, label_index

log = logging.getLogger(__name__)
SPLITS = ("train", "validation", "test")


class DatasetLayoutError(ValueError):
    """The folder is not in a layout we know; the message says what was expected."""


def speaker_of(path: Path) -> str:
    """Speaker ID from the archive's file naming `<speaker>_nohash_<n>.wav`."""
    return path.name.split("_nohash_")[0]


def _read_list(root: Path, name: str, problems: list[str]) -> set[str]:
    listing = root / name
    if not listing.exists():
        raise DatasetLayoutError(f"{listing} is missing: a Speech Commands archive has validation_list.txt "
                                 "and testing_list.txt next to the word folders")
    entries = {line.strip() for line in listing.read_text().splitlines() if line.strip()}
    for entry in sorted(entries):
        if not (root / entry).exists():
            problems.append(f"{listing.name} names {entry}, which is not under {root}")
    return entries


def scan_raw_archive(root: str | Path, unknown_percent: float = 10.0, silence_percent: float = 10.0,
                     seed: int = 0) -> tuple[dict[str, list[ClipRef]], list[str]]:
    """Clip references per split, and a list of problems found (missing listed files, empty folders)."""
    root = Path(root)
    if not root.is_dir():
        raise DatasetLayoutError(f"{root}: no such folder (set --data / KWS_GSC_DIR to the extracted archive)")
    problems: list[str] = []
    validation = _read_list(root, "validation_list.txt", problems)
    testing = _read_list(root, "testing_list.txt", problems)

    keyword: dict[str, list[ClipRef]] = {s: [] for s in SPLITS}
    other: dict[str, list[ClipRef]] = {s: [] for s in SPLITS}
    words = sorted(p for p in root.iterdir() if p.is_dir() and p.name != BACKGROUND_NOISE_DIR and not p.name.startswith("."))
    for word_dir in words:
        files = sorted(word_dir.glob("*.wav"))
        if not files:
            problems.append(f"{word_dir} holds no .wav files")
        for f in files:
            rel = f"{word_dir.name}/{f.name}"
            split = "validation" if rel in validation else "test" if rel in testing else "train"
            ref = ClipRef(f, label_index(word_dir.name), speaker_of(f))
            (keyword if word_dir.name in KEYWORDS else other)[split].append(ref)
    if not any(keyword.values()):
        raise DatasetLayoutError(f"{root}: no keyword clips found; expected folders {', '.join(KEYWORDS)} "
                                 "with .wav files (the layout of speech_commands_v0.02.tar.gz)")

    rng = np.random.default_rng(seed)
    noise_files = sorted((root / BACKGROUND_NOISE_DIR).glob("*.wav"))
    splits = {}
    for split in SPLITS:
        refs = list(keyword[split])
        n_extra = math.ceil(len(refs) * unknown_percent / 100)
        if other[split] and n_extra:
            pick = rng.choice(len(other[split]), size=min(n_extra, len(other[split])), replace=False)
            refs += [ClipRef(other[split][i].path, CLASSES.index(UNKNOWN), other[split][i].speaker) for i in sorted(pick)]
        n_silence = math.ceil(len(keyword[split]) * silence_percent / 100)
        refs += silence_refs(noise_files, n_silence, rng, problems)
        splits[split] = refs
    for line in problems:
        log.warning(line)
    return splits, problems


def listed_refs(root: str | Path, listing: str = "testing_list.txt") -> list[ClipRef]:
    """Every clip a split's list names, labelled by its folder (a keyword, else `_unknown_`), in
    the list's sorted order; a listed file that is missing is an error."""
    root = Path(root)
    if not root.is_dir():
        raise DatasetLayoutError(f"{root}: no such folder (an extracted speech_commands_v0.02 archive)")
    problems: list[str] = []
    entries = _read_list(root, listing, problems)
    if problems:
        raise DatasetLayoutError(f"{problems[0]}" + (f" (and {len(problems) - 1} more)" if len(problems) > 1 else ""))
    return [ClipRef(root / e, label_index(e.split("/")[0]), speaker_of(Path(e))) for e in sorted(entries)]


def silence_refs(noise_files: list[Path], n: int, rng: np.random.Generator, problems: list[str]) -> list[ClipRef]:
    """`_silence_` examples: random one-second slices of the noise recordings at random volume."""
    import soundfile as sf

    lengths = {}
    for f in noise_files:
        try:
            lengths[f] = sf.info(str(f)).frames
        except Exception as exc:
            problems.append(f"{f}: unreadable background noise ({exc})")
    usable = [f for f, n_frames in lengths.items() if n_frames >= CLIP_SAMPLES]
    if n and not usable:
        problems.append("no usable background-noise recording: _silence_ clips are all-zero")
        return []
    refs = []
    for _ in range(n):
        f = usable[rng.integers(len(usable))]
        offset = int(rng.integers(0, lengths[f] - CLIP_SAMPLES + 1))
        refs.append(ClipRef(f, CLASSES.index(SILENCE), "silence", offset, float(rng.uniform(0.0, 1.0))))
    return refs


def scan_test_set(root: str | Path) -> tuple[list[ClipRef], list[str]]:
    """The official 12-class test set: every wav under each class folder."""
    root = Path(root)
    if not root.is_dir():
        raise DatasetLayoutError(f"{root}: no such folder")
    missing = [c for c in CLASSES if not (root / c).is_dir()]
    if len(missing) == len(CLASSES):
        raise DatasetLayoutError(f"{root}: none of the class folders {', '.join(CLASSES)} exists "
                                 "(the layout of speech_commands_test_set_v0.02.tar.gz)")
    problems = [f"{root / c} is missing" for c in missing]
    refs = []
    for cls in CLASSES:
        files = sorted((root / cls).glob("*.wav")) if (root / cls).is_dir() else []
        if (root / cls).is_dir() and not files:
            problems.append(f"{root / cls} holds no .wav files")
        refs += [ClipRef(f, CLASSES.index(cls), speaker_of(f)) for f in files]
    for line in problems:
        log.warning(line)
    return refs, problems


def is_test_set_layout(root: str | Path) -> bool:
    root = Path(root)
    return (root / SILENCE).is_dir() and (root / UNKNOWN).is_dir()
