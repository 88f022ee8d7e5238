"""From a data setting to arrays: which source, which clips per split, cached audio.

Sources (`data.source` in a run config):
- `synthetic`: the offline default, espeak-ng keywords + generated noise (no download, no shared files);
- `gsc`: an extracted Speech Commands v0.02 archive at `data.path` (or $KWS_GSC_DIR);
- `download`: the official archive fetched into the cache (needs internet);
`data.test_set` may name the official 12-class test-set folder: it is then evaluated too.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
from dataclasses import asdict, dataclass, field, fields
from pathlib import Path

import numpy as np

from qat.data import clip_store, download, synthetic
from qat.data.clips import LoadedClips, load_clips
from qat.data.folds import FoldError, fold_splits
from qat.data.labels import BACKGROUND_NOISE_DIR, CLIP_SAMPLES
from qat.data.speech_commands import SPLITS, scan_raw_archive, scan_test_set
from qat.data.wav import AudioError, read_wav

log = logging.getLogger(__name__)
SOURCES = ("synthetic", "gsc", "download")
CACHE_FORMAT = 3  # bump when the cached audio's encoding changes (3: a folder with an int16 .npy)


# Waveform augmentation (qat/data/augment.py); a run's data.augment overrides single keys of it.
AUGMENT_DEFAULTS = {"shift_ms": 100.0, "noise_probability": 0.8, "noise_volume": 0.1, "silence_volume": 1.0}
AUGMENT_KEYS = (*AUGMENT_DEFAULTS, "speed")  # speed: off unless set (0 = off)


class DataConfigError(ValueError):
    pass


@dataclass
class DataConfig:
    source: str = "synthetic"
    path: str | None = None
    test_set: str | None = None
    seed: int = 0
    unknown_percent: float = 10.0
    silence_percent: float = 10.0
    synth_speakers: int = 160
    # Speaker-grouped cross-validation (qat/data/folds.py): folds=K>=2 pools every clip of the
    # three lists and makes fold `fold` the test split; 0 = the archive's own lists.
    folds: int = 0
    fold: int = 0
    validation_percent: float = 5.0  # of the training folds' clips, whole speakers, when folds > 0
    # silence_volume: `_silence_` training clips re-cut from the noise every epoch at U(0, 1) volume
    augment: dict = field(default_factory=lambda: dict(AUGMENT_DEFAULTS))
    # The front end's size (qat/features.py FeatureSpec): mel_bands (default 40) and, for MFCC
    # models, coefficients (default 10); empty = the defaults. Checked against the model's kind.
    features: dict = field(default_factory=dict)

    def __post_init__(self):
        if self.source not in SOURCES:
            raise DataConfigError(f"data.source={self.source!r}: choose one of {SOURCES}")
        if self.source == "synthetic" and self.synth_speakers < 3:
            raise DataConfigError("data.synth_speakers must be >= 3 (one each for train, validation, test)")
        if self.folds == 1 or self.folds < 0:
            raise DataConfigError(f"data.folds={self.folds}: 0 (the archive's lists) or at least 2")
        if self.folds and not 0 <= self.fold < self.folds:
            raise DataConfigError(f"data.fold={self.fold}: choose 0 .. {self.folds - 1} for data.folds={self.folds}")
        if not 0 < self.validation_percent < 50:
            raise DataConfigError(f"data.validation_percent={self.validation_percent}: between 0 and 50")
        # a partial data.augment (e.g. --set data.augment.speed=0.1) changes those keys only: the
        # others keep their defaults instead of silently falling back to augment()'s (no silence re-cut)
        self.augment = {**AUGMENT_DEFAULTS, **(self.augment or {})}
        unknown = set(self.augment) - set(AUGMENT_KEYS)
        if unknown:
            raise DataConfigError(f"data.augment: unknown key(s) {sorted(unknown)}; known: {list(AUGMENT_KEYS)}")
        for key, value in self.augment.items():
            if value is not None and (not isinstance(value, (int, float)) or isinstance(value, bool) or value < 0):
                raise DataConfigError(f"data.augment.{key}={value!r}: a number >= 0")
        if not 0 <= (self.augment["noise_probability"] or 0) <= 1:
            raise DataConfigError(f"data.augment.noise_probability={self.augment['noise_probability']}: between 0 and 1")
        if not 0 <= self.augment.get("speed", 0) < 0.5:
            raise DataConfigError(f"data.augment.speed={self.augment['speed']}: a relative change in [0, 0.5)")

    @classmethod
    def from_dict(cls, data: dict | None) -> "DataConfig":
        data = dict(data or {})
        known = {f.name for f in fields(cls)}
        if set(data) - known:
            raise DataConfigError(f"unknown data setting(s) {sorted(set(data) - known)}; known: {sorted(known)}")
        return cls(**data)

    def to_dict(self) -> dict:
        return asdict(self)


def resolve_root(cfg: DataConfig, progress: bool = True) -> Path:
    """The folder in raw-archive layout that this config reads."""
    if cfg.source == "synthetic":
        root = Path(cfg.path) if cfg.path else download.cache_dir() / f"synthetic_s{cfg.seed}_n{cfg.synth_speakers}"
        return synthetic.synthesize(root, n_speakers=cfg.synth_speakers, seed=cfg.seed, progress=progress)
    if cfg.source == "download":
        return download.fetch(download.ARCHIVES["speech_commands_v0.02"], progress=progress)
    path = cfg.path or os.environ.get("KWS_GSC_DIR")
    if not path:
        raise DataConfigError("data.source=gsc needs data.path (or --data, or $KWS_GSC_DIR) pointing to an "
                              "extracted speech_commands_v0.02 archive")
    return Path(path).expanduser().resolve()


def _cached(key: dict, build, progress: bool) -> LoadedClips:
    """The clips of `key` from the disk cache (qat/data/clip_store.py), built by `build(path)` on a miss."""
    key = {**key, "format": CACHE_FORMAT}
    digest = hashlib.sha1(json.dumps(key, sort_keys=True, default=str).encode()).hexdigest()[:16]
    return clip_store.cached(download.cache_dir() / "audio" / digest, build)


def load_splits(cfg: DataConfig, progress: bool = True, splits=SPLITS) -> dict[str, LoadedClips]:
    """Audio and labels per split (train/validation/test, plus `official_test` if configured)."""
    root = resolve_root(cfg, progress)
    refs, problems = scan_raw_archive(root, cfg.unknown_percent, cfg.silence_percent, cfg.seed)
    if cfg.folds:
        return _fold_splits(cfg, root, refs, progress, splits)
    out = {}
    for split in splits:
        key = dict(root=str(root), split=split, seed=cfg.seed, unknown=cfg.unknown_percent,
                   silence=cfg.silence_percent, files=len(refs[split]), mtime=_listing_stamp(root))
        out[split] = _cached(key, lambda path, s=split: load_clips(refs[s], f"{s} clips", progress, store=path), progress)
    if cfg.test_set:
        out["official_test"] = load_test_set(cfg.test_set, progress)
    return out


def _fold_splits(cfg: DataConfig, root: Path, refs: dict, progress: bool, splits) -> dict[str, LoadedClips]:
    """One cross-validation fold: the pooled clips (loaded and cached once for all folds) cut by speaker."""
    pool = [r for s in SPLITS for r in refs[s]]
    try:
        index = fold_splits(pool, cfg.folds, cfg.fold, cfg.seed, cfg.validation_percent)  # checks before loading
    except FoldError as exc:
        raise DataConfigError(str(exc)) from None
    key = dict(root=str(root), split="pool", seed=cfg.seed, unknown=cfg.unknown_percent,
               silence=cfg.silence_percent, files=len(pool), mtime=_listing_stamp(root))
    loaded = _cached(key, lambda path: load_clips(pool, "clips", progress, store=path), progress)
    if loaded.errors:
        # unreadable clips were dropped while loading: map the kept rows back to the pool by path
        raise DataConfigError(f"{len(loaded.errors)} clip(s) of {root} could not be read ({loaded.errors[0]}); "
                              "cross-validation needs every clip of the pool: remove or replace them")
    # row indices into the stored pool, not copies: a fold's training split reads a chunk at a time
    out = {s: LoadedClips(loaded.audio.take(index[s]), loaded.labels[index[s]], [pool[i] for i in index[s]], [])
           for s in splits}
    if cfg.test_set:
        out["official_test"] = load_test_set(cfg.test_set, progress)
    return out


def fold_speakers(cfg: DataConfig) -> dict[str, list[str]]:
    """Speakers per split of a cross-validation fold (for reports and tests)."""
    root = resolve_root(cfg, progress=False)
    refs, _ = scan_raw_archive(root, cfg.unknown_percent, cfg.silence_percent, cfg.seed)
    pool = [r for s in SPLITS for r in refs[s]]
    index = fold_splits(pool, cfg.folds, cfg.fold, cfg.seed, cfg.validation_percent)
    return {s: sorted({pool[i].speaker for i in idx}) for s, idx in index.items()}


def load_test_set(path: str | Path, progress: bool = True) -> LoadedClips:
    refs, _ = scan_test_set(path)
    key = dict(root=str(Path(path).resolve()), split="official_test", files=len(refs), mtime=_listing_stamp(Path(path)))
    return _cached(key, lambda path: load_clips(refs, "official test clips", progress, store=path), progress)


def _listing_stamp(root: Path) -> float:
    # Changes when files are added to / removed from the top folders or the lists are edited.
    items = [root, *(p for p in root.iterdir())]
    return max(p.stat().st_mtime for p in items)


def background_noises(cfg: DataConfig) -> list[np.ndarray]:
    root = resolve_root(cfg, progress=False)
    noises = []
    for f in sorted((root / BACKGROUND_NOISE_DIR).glob("*.wav")):
        try:
            noises.append(read_wav(f))
        except AudioError as exc:
            log.warning("background noise skipped: %s", exc)
    return [n for n in noises if len(n) >= CLIP_SAMPLES]
