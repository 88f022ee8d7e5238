"""The disk-backed clip store: int16 rows round-trip exactly, labels and errors with them,
reads give float32 k/32768 like the arrays they replaced, entries appear atomically."""

import json

import numpy as np
import pytest

from qat.data import clip_store
from qat.data.clips import PCM_SCALE, ClipAudio, ClipRef, load_clips, quantize16
from qat.data.npy_rows import NpyRowWriter
from qat.data.wav import write_wav


@pytest.fixture
def clip_refs(tmp_path):
    """Nine readable clips (one short, one a gain-scaled noise slice) and one corrupt file."""
    rng = np.random.default_rng(3)
    refs = []
    write_wav(tmp_path / "noise.wav", (0.3 * rng.standard_normal(3 * 16000)).clip(-1, 1))
    for i in range(8):
        write_wav(tmp_path / f"w{i}.wav", 0.2 * rng.standard_normal(12000 if i == 2 else 16000))
        refs.append(ClipRef(tmp_path / f"w{i}.wav", i % 12, f"s{i}"))
    (tmp_path / "bad.wav").write_bytes(b"not a wav")
    refs.insert(4, ClipRef(tmp_path / "bad.wav", 5, "s9"))
    refs.append(ClipRef(tmp_path / "noise.wav", 0, "silence", offset=5000, gain=0.37))
    return refs


def expected_pcm(refs):
    from qat.data.wav import AudioError, fit_length, read_wav

    rows = []
    for r in refs:
        try:
            wave = read_wav(r.path)
        except AudioError:
            continue
        wave = fit_length(wave) if r.offset is None else fit_length(wave[r.offset:r.offset + 16000]) * r.gain
        rows.append(quantize16(wave))
    return np.stack(rows)


def test_store_round_trips_int16_labels_and_errors(tmp_path, clip_refs):
    refs = clip_refs
    entry = tmp_path / "cache" / "abc"
    built = clip_store.write_entry(entry, lambda path: load_clips(refs, progress=False, store=path))
    stored = clip_store.open_entry(entry)
    want = expected_pcm(refs)
    for clips in (built, stored):
        assert len(clips.audio) == 9 and clips.audio.shape == (9, 16000)
        np.testing.assert_array_equal(clips.audio.pcm(), want)
        np.testing.assert_array_equal(clips.labels, [r.label for r in refs if r.path.name != "bad.wav"])
        assert len(clips.errors) == 1 and "bad.wav" in clips.errors[0]
    assert len(built.refs) == 9 and stored.refs == []  # refs are not stored (as before)
    # on disk: a read-only int16 .npy of exactly the kept rows (the header was fixed up in place)
    mapped = np.load(entry / "audio.npy", mmap_mode="r")
    assert isinstance(mapped, np.memmap) and mapped.dtype == np.int16 and mapped.shape == (9, 16000)
    assert (entry / "audio.npy").stat().st_size == mapped.offset + 9 * 16000 * 2
    # the in-memory loader gives the same rows
    np.testing.assert_array_equal(load_clips(refs, progress=False).audio.pcm(), want)


def test_clip_audio_reads_float32_like_an_array(tmp_path):
    pcm = np.random.default_rng(0).integers(-32768, 32768, (7, 16000)).astype(np.int16)
    np.save(tmp_path / "a.npy", pcm)
    ref = pcm.astype(np.float32) / 32768
    for audio in (ClipAudio(tmp_path / "a.npy"), ClipAudio(pcm)):
        assert audio.shape == (7, 16000) and len(audio) == 7
        for got, want in ((audio[3], ref[3]), (audio[-1], ref[-1]), (audio[2:5], ref[2:5]), (audio[[4, 0]], ref[[4, 0]]),
                          (audio[:, 8000:], ref[:, 8000:]), (audio[1, :10], ref[1, :10]), (np.asarray(audio), ref),
                          (np.stack(list(audio)), ref)):
            assert got.dtype == np.float32 and not isinstance(got, np.memmap)
            np.testing.assert_array_equal(got, want)
        assert ref.min() >= -1 and ref.max() < 1 and PCM_SCALE == 32768
        sub = audio.take([5, 1, 6]).take([2, 0])  # rows 6, 5 of the source, nothing read yet
        np.testing.assert_array_equal(sub[:], ref[[6, 5]])
        np.testing.assert_array_equal(sub.pcm(), pcm[[6, 5]])
        blocks = list(audio.chunks(3))
        assert [w for w, _ in blocks] == [slice(0, 3), slice(3, 6), slice(6, 7)]
        np.testing.assert_array_equal(np.concatenate([b for _, b in blocks]), ref)


def test_row_writer_announced_more_rows_than_written(tmp_path):
    rows = np.arange(3 * 5, dtype=np.int16).reshape(3, 5)
    with NpyRowWriter(tmp_path / "r.npy", 1000, 5) as w:
        for r in rows:
            w.append(r)
        with pytest.raises(ValueError, match="shape"):
            w.append(np.zeros(4))
    np.testing.assert_array_equal(np.load(tmp_path / "r.npy"), rows)


def test_entry_is_atomic_and_a_rival_build_wins_cleanly(tmp_path, clip_refs):
    refs = clip_refs[:3]
    entry = tmp_path / "e"

    def failing(path):
        load_clips(refs, progress=False, store=path)
        assert clip_store.open_entry(entry) is None  # half-built: invisible to readers
        raise RuntimeError("killed")

    with pytest.raises(RuntimeError, match="killed"):
        clip_store.write_entry(entry, failing)
    assert not list(tmp_path.glob("e*"))  # neither the entry nor the temporary folder

    def raced(path):
        # another process finishes the same entry while this one is still building
        clip_store.write_entry(entry, lambda p: load_clips(refs, progress=False, store=p))
        return load_clips(refs, progress=False, store=path)

    clips = clip_store.write_entry(entry, raced)
    assert sorted(p.name for p in tmp_path.glob("e*")) == ["e"]  # no temporary folder left
    np.testing.assert_array_equal(clips.audio.pcm(), expected_pcm(refs))
    assert json.loads((entry / "errors.json").read_text()) == []
    assert clip_store.cached(entry, failing).labels.tolist() == [r.label for r in refs]  # a hit builds nothing
