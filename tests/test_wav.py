import numpy as np
import pytest
import soundfile as sf

from qat.data.wav import AudioError, fit_length, read_wav, write_wav


def tone(n, rate=16000, freq=440.0):
    return (0.5 * np.sin(2 * np.pi * freq * np.arange(n) / rate)).astype(np.float32)


def test_reads_16k_mono(tmp_path):
    write_wav(tmp_path / "a.wav", tone(16000))
    x = read_wav(tmp_path / "a.wav")
    assert x.shape == (16000,) and x.dtype == np.float32
    np.testing.assert_allclose(x, tone(16000), atol=1 / 32767)


def test_wrong_rate_is_resampled(tmp_path):
    sf.write(tmp_path / "b.wav", tone(44100, rate=44100), 44100)
    x = read_wav(tmp_path / "b.wav")
    assert len(x) == 16000
    # Still a 440 Hz tone after resampling: the spectral peak stays at 440 Hz.
    peak_hz = np.argmax(np.abs(np.fft.rfft(x))) * 16000 / len(x)
    assert abs(peak_hz - 440) < 2


def test_stereo_is_mixed_down(tmp_path):
    sf.write(tmp_path / "s.wav", np.stack([tone(16000), -tone(16000)], axis=1), 16000)
    assert np.max(np.abs(read_wav(tmp_path / "s.wav"))) < 1e-4


def test_short_is_padded_long_is_cut():
    assert np.array_equal(fit_length(np.ones(100, np.float32))[:100], np.ones(100))
    assert fit_length(np.ones(100, np.float32)).shape == (16000,) and fit_length(np.ones(100))[100:].sum() == 0
    assert fit_length(np.arange(20000.0)).tolist() == list(np.arange(16000.0))


@pytest.mark.parametrize("content", [b"", b"RIFF\x00\x00garbage", b"not audio at all" * 10])
def test_corrupt_file_names_the_file(tmp_path, content):
    bad = tmp_path / "broken.wav"
    bad.write_bytes(content)
    with pytest.raises(AudioError, match="broken.wav"):
        read_wav(bad)


def test_empty_recording(tmp_path):
    sf.write(tmp_path / "e.wav", np.zeros(0, np.float32), 16000)
    with pytest.raises(AudioError, match="e.wav"):
        read_wav(tmp_path / "e.wav")
