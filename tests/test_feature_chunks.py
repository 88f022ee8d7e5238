"""Chunked features: the fixed features are bit-identical to computing every clip at once, the
augmented epoch features are the whole-split computation when the split fits one chunk and
deterministic per (seed, phase, epoch) when it does not; cross-validation folds read rows of
the stored pool."""

import zlib

import numpy as np
import pytest

from qat import features
from qat.data import clips as clips_module
from qat.data import feature_chunks as chunked
from qat.data.clips import ClipAudio
from qat.data.scale_check import generate
from qat.run_config import RunConfig

AUGMENT = {"shift_ms": 100.0, "noise_probability": 0.8, "noise_volume": 0.1, "silence_volume": 0.5}
SPEC = {"time_masks": 2, "time_width": 5, "freq_masks": 1, "freq_width": 3}


@pytest.fixture(scope="module")
def archive(tmp_path_factory):
    return generate(tmp_path_factory.mktemp("gen") / "archive", 400, seed=1, progress=False)


def run_config(archive, **data):
    return RunConfig.from_dict({"name": "chunks", "model": "dscnn", "train": {"float_epochs": 1, "spec_augment": SPEC},
                                "data": {"source": "gsc", "path": str(archive), "augment": AUGMENT, **data}})


def whole_split_epoch(prep, cfg, epoch, phase):
    """The former epoch_features: every training clip augmented at once, then SpecAugment."""
    from qat.data.augment import augment, spec_augment

    rng = np.random.default_rng([cfg.train.seed, zlib.crc32(phase.encode()), epoch])
    audio = augment(np.asarray(prep.train_audio), prep.noises, rng, labels=prep.train_labels, **cfg.data.augment)
    x = prep.normalizer(prep.kind, features.compute(prep.kind, audio))
    spec_augment(features.time_freq_view(prep.kind, x), rng, **SPEC)
    return x


@pytest.mark.parametrize("kind", ["mfcc", "logmel", "raw"])
def test_chunked_features_equal_all_at_once(kind):
    pcm = (np.random.default_rng(0).standard_normal((23, 16000)) * 3000).clip(-32768, 32767).astype(np.int16)
    audio = ClipAudio(pcm)
    whole = features.compute(kind, pcm.astype(np.float32) / 32768)
    norm = features.Normalizer.fit(kind, whole)
    np.testing.assert_array_equal(chunked.clip_features(kind, audio, size=5), whole)
    np.testing.assert_array_equal(chunked.clip_features(kind, audio, norm, size=7), norm(kind, whole))
    x = whole.copy()
    np.testing.assert_array_equal(chunked.normalize_in_place(kind, norm, x, size=4), norm(kind, whole))


def test_prepare_data_in_small_chunks_is_bit_identical(archive, monkeypatch):
    from qat.dataset import load_splits
    from qat.train import prepare_data

    cfg = run_config(archive)
    monkeypatch.setattr(clips_module, "CHUNK_CLIPS", 64)
    prep = prepare_data(cfg, progress=False)
    splits = load_splits(cfg.data, progress=False)
    whole = features.compute("mfcc", np.asarray(splits["train"].audio))
    norm = features.Normalizer.fit("mfcc", whole)
    assert len(prep.train_labels) > 3 * 64  # several chunks
    np.testing.assert_array_equal(prep.normalizer.mean, norm.mean)
    np.testing.assert_array_equal(prep.normalizer.std, norm.std)
    for split, clips in splits.items():
        x, y = prep.features[split]
        assert x.dtype == np.float32
        np.testing.assert_array_equal(x, norm("mfcc", features.compute("mfcc", np.asarray(clips.audio))))
        np.testing.assert_array_equal(y, clips.labels)


def test_normalizer_fit_sample_is_every_kth_clip(monkeypatch):
    x = np.arange(10 * 3, dtype=np.float32).reshape(10, 3)
    assert chunked.fit_sample(x) is not x and np.shares_memory(chunked.fit_sample(x), x)
    np.testing.assert_array_equal(chunked.fit_sample(x), x)
    monkeypatch.setattr(chunked, "NORMALIZER_FIT_CLIPS", 4)
    np.testing.assert_array_equal(chunked.fit_sample(x), x[::3])


def test_epoch_features_one_chunk_is_the_whole_split_code_and_chunks_are_deterministic(archive, monkeypatch):
    from qat.train import epoch_features, prepare_data

    cfg = run_config(archive)
    prep = prepare_data(cfg, progress=False)
    n = len(prep.train_labels)
    assert n <= clips_module.CHUNK_CLIPS
    one, teacher_x = epoch_features(prep, cfg, 2, "float")
    assert teacher_x is None  # no teacher reading features of its own
    np.testing.assert_array_equal(one, whole_split_epoch(prep, cfg, 2, "float"))
    monkeypatch.setattr(clips_module, "CHUNK_CLIPS", 100)
    a, b = epoch_features(prep, cfg, 2, "float")[0], epoch_features(prep, cfg, 2, "float")[0]
    np.testing.assert_array_equal(a, b)
    assert a.shape == one.shape and a.dtype == np.float32 and not np.array_equal(a, one)  # other draws
    assert not np.array_equal(a, epoch_features(prep, cfg, 3, "float")[0])
    assert not np.array_equal(a, epoch_features(prep, cfg, 2, "qat")[0])


def test_prefetched_features_are_each_epochs_own(archive):
    """Training computes the next epoch's features while the current one trains: the same arrays as
    epoch_features of each epoch, from a resumed epoch on, and nothing past the last."""
    from qat.train import epoch_features, prefetched_features, prepare_data

    cfg = run_config(archive)
    prep = prepare_data(cfg, progress=False)
    got = list(prefetched_features(prep, cfg, "qat", 2, 5))
    assert len(got) == 3
    for epoch, (x, _) in zip(range(2, 5), got):
        np.testing.assert_array_equal(x, epoch_features(prep, cfg, epoch, "qat")[0])
    assert list(prefetched_features(prep, cfg, "qat", 5, 5)) == []


def test_cross_validation_fold_reads_rows_of_the_pool(archive):
    from qat.data.speech_commands import SPLITS, scan_raw_archive
    from qat.dataset import load_splits
    from qat.train import prepare_data

    cfg = run_config(archive, folds=3, fold=1)
    splits = load_splits(cfg.data, progress=False)
    refs, _ = scan_raw_archive(archive)
    pool = [r for s in SPLITS for r in refs[s]]
    own = load_splits(run_config(archive).data, progress=False)  # the archive's lists: the same clips, in pool order
    flat = np.concatenate([own[s].audio.pcm() for s in SPLITS])
    assert len(flat) == len(pool) == sum(len(c.labels) for c in splits.values())
    row_of = {r: i for i, r in enumerate(pool)}
    for clips in splits.values():
        assert isinstance(clips.audio, ClipAudio) and len(clips.audio) == len(clips.labels) == len(clips.refs)
        rows = [row_of[r] for r in clips.refs]
        np.testing.assert_array_equal(clips.audio.pcm(), flat[rows])
        np.testing.assert_array_equal(clips.audio[:5], flat[rows[:5]].astype(np.float32) / 32768)
    prep = prepare_data(cfg, progress=False)
    assert {s: len(y) for s, (_, y) in prep.features.items()} == {s: len(c.labels) for s, c in splits.items()}


def test_a_teacher_with_features_of_its_own_gets_them_from_the_same_augmented_audio(archive):
    """Cross-feature distillation: the teacher's features are computed from the very augmented clips
    of the student's epoch (before SpecAugment), and computing them takes no random draws."""
    from qat.data.augment import augment
    from qat.teacher import Teacher
    from qat.train import epoch_features, prepare_data

    cfg = run_config(archive)
    prep = prepare_data(cfg, progress=False)
    assert len(prep.train_labels) <= clips_module.CHUNK_CLIPS
    spec = features.FeatureSpec("logmel", mel_bands=20)
    norm = features.Normalizer.fit(spec, features.compute(spec, np.asarray(prep.train_audio)))
    x, teacher_x = epoch_features(prep, cfg, 2, "float", Teacher(None, spec, norm))
    np.testing.assert_array_equal(x, epoch_features(prep, cfg, 2, "float")[0])
    rng = np.random.default_rng([cfg.train.seed, zlib.crc32(b"float"), 2])
    audio = augment(np.asarray(prep.train_audio), prep.noises, rng, labels=prep.train_labels, **cfg.data.augment)
    np.testing.assert_array_equal(teacher_x, norm(spec, features.compute(spec, audio)))
