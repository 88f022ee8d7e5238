"""The offline default data set (espeak-ng)."""

import shutil

import numpy as np
import pytest

from qat.data.speech_commands import scan_raw_archive
from qat.data.synthetic import SynthesisError, speakers, synthesize

pytestmark = [pytest.mark.espeak,
              pytest.mark.skipif(shutil.which("espeak-ng") is None, reason="espeak-ng not installed (make setup)")]


def test_deterministic_and_speaker_disjoint(tmp_path):
    a = synthesize(tmp_path / "a", n_speakers=12, seed=3, words=("yes", "no", "bed"), progress=False)
    b = synthesize(tmp_path / "b", n_speakers=12, seed=3, words=("yes", "no", "bed"), progress=False)
    files_a = sorted(p.relative_to(a) for p in a.rglob("*.wav"))
    assert files_a == sorted(p.relative_to(b) for p in b.rglob("*.wav"))
    assert all((a / f).read_bytes() == (b / f).read_bytes() for f in files_a)
    splits, problems = scan_raw_archive(a)
    assert problems == []
    spk = {s: {r.speaker for r in refs} - {"silence"} for s, refs in splits.items()}
    assert spk["validation"] and spk["test"] and spk["train"]
    assert not (spk["train"] & spk["test"]) and not (spk["train"] & spk["validation"])


def test_clips_are_one_second_and_audible(tmp_path):
    root = synthesize(tmp_path / "s", n_speakers=4, seed=0, words=("stop",), progress=False)
    import soundfile as sf

    for f in (root / "stop").glob("*.wav"):
        audio, rate = sf.read(f)
        assert rate == 16000 and len(audio) == 16000 and np.abs(audio).max() > 0.2


def test_cached_when_recipe_unchanged(tmp_path):
    root = synthesize(tmp_path / "c", n_speakers=3, seed=0, words=("go",), progress=False)
    stamp = (root / ".complete").stat().st_mtime_ns
    synthesize(tmp_path / "c", n_speakers=3, seed=0, words=("go",), progress=False)
    assert (root / ".complete").stat().st_mtime_ns == stamp


def test_missing_espeak_is_a_clear_error(tmp_path, monkeypatch):
    monkeypatch.setattr(shutil, "which", lambda name: None)
    with pytest.raises(SynthesisError, match="apt-get install espeak-ng"):
        synthesize(tmp_path / "x", n_speakers=3, words=("go",), progress=False)


def test_speaker_ids_unique():
    ids = [s["id"] for s in speakers(200, seed=0)]
    assert len(set(ids)) == len(ids)
