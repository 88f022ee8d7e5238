"""Both Speech Commands layouts on small generated folders, including bad files."""

import numpy as np
import pytest

from qat.data.clips import load_clips
from qat.data.labels import CLASSES, KEYWORDS
from qat.data.speech_commands import DatasetLayoutError, scan_raw_archive, scan_test_set
from qat.data.wav import write_wav


def make_archive(root, speakers=("aa11", "bb22", "cc33", "dd44"), words=KEYWORDS + ("bed", "cat")):
    rng = np.random.default_rng(0)
    for w in words:
        for s in speakers:
            write_wav(root / w / f"{s}_nohash_0.wav", 0.1 * rng.standard_normal(16000))
    write_wav(root / "_background_noise_" / "noise.wav", 0.1 * rng.standard_normal(5 * 16000))
    (root / "validation_list.txt").write_text("".join(f"{w}/bb22_nohash_0.wav\n" for w in words))
    (root / "testing_list.txt").write_text("".join(f"{w}/cc33_nohash_0.wav\n" for w in words))
    return root


def test_splits_follow_the_lists(tmp_path):
    root = make_archive(tmp_path / "gsc")
    splits, problems = scan_raw_archive(root, seed=1)
    assert problems == []
    speakers = {s: {r.speaker for r in refs if r.label != CLASSES.index("_silence_")} for s, refs in splits.items()}
    assert speakers["validation"] == {"bb22"} and speakers["test"] == {"cc33"}
    assert speakers["train"] == {"aa11", "dd44"}
    train_labels = [r.label for r in splits["train"]]
    # 20 keyword clips → ceil(10 %) = 2 unknown and 2 silence clips.
    assert train_labels.count(CLASSES.index("_unknown_")) == 2
    assert train_labels.count(CLASSES.index("_silence_")) == 2
    assert sum(train_labels.count(CLASSES.index(k)) for k in KEYWORDS) == 20


def test_bad_files_are_reported_and_the_rest_kept(tmp_path):
    root = make_archive(tmp_path / "gsc")
    (root / "yes" / "aa11_nohash_0.wav").write_bytes(b"corrupt")
    (root / "testing_list.txt").write_text((root / "testing_list.txt").read_text() + "no/zz99_nohash_0.wav\n")
    (root / "empty_word").mkdir()
    splits, problems = scan_raw_archive(root)
    assert any("zz99_nohash_0.wav" in p for p in problems)
    assert any("empty_word" in p for p in problems)
    loaded = load_clips(splits["train"], progress=False)
    assert len(loaded.errors) == 1 and "yes/aa11_nohash_0.wav" in loaded.errors[0]
    assert len(loaded.labels) == len(splits["train"]) - 1
    assert loaded.audio.shape == (len(loaded.labels), 16000)


def test_not_an_archive(tmp_path):
    with pytest.raises(DatasetLayoutError, match="no such folder"):
        scan_raw_archive(tmp_path / "missing")
    (tmp_path / "x").mkdir()
    with pytest.raises(DatasetLayoutError, match="validation_list.txt"):
        scan_raw_archive(tmp_path / "x")
    (tmp_path / "x" / "validation_list.txt").write_text("")
    (tmp_path / "x" / "testing_list.txt").write_text("")
    with pytest.raises(DatasetLayoutError, match="no keyword clips"):
        scan_raw_archive(tmp_path / "x")


def test_official_test_set_layout(tmp_path):
    rng = np.random.default_rng(0)
    for i, cls in enumerate(CLASSES):
        write_wav(tmp_path / cls / f"s{i}_nohash_0.wav", 0.1 * rng.standard_normal(8000))  # short: padded
    refs, problems = scan_test_set(tmp_path)
    assert problems == [] and sorted(r.label for r in refs) == list(range(len(CLASSES)))
    loaded = load_clips(refs, progress=False)
    assert loaded.audio.shape == (12, 16000) and np.all(loaded.audio[:, 8000:] == 0)


def test_every_clip_unreadable_is_an_error(tmp_path):
    root = make_archive(tmp_path / "gsc", speakers=("aa11",), words=KEYWORDS)
    for f in root.glob("*/*.wav"):
        if f.parent.name != "_background_noise_":
            f.write_bytes(b"x")
    splits, _ = scan_raw_archive(root, silence_percent=0)
    with pytest.raises(ValueError, match="none of the"):
        load_clips(splits["train"], progress=False)


@pytest.mark.gsc
def test_shared_subset_scans(gsc_root):
    splits, problems = scan_raw_archive(gsc_root)
    assert problems == []
    assert len(splits["test"]) > 100 and len(splits["train"]) > 1000
    train_speakers = {r.speaker for r in splits["train"]} - {"silence"}
    test_speakers = {r.speaker for r in splits["test"]} - {"silence"}
    assert not train_speakers & test_speakers  # held-out speakers
