"""The archive download path, against a local file:// stand-in for the real host."""

import hashlib
import io
import tarfile

import pytest

from qat.data import download


def make_tarball(path):
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w:gz") as tar:
        data = b"yes/a_nohash_0.wav\n"
        info = tarfile.TarInfo("testing_list.txt")
        info.size = len(data)
        tar.addfile(info, io.BytesIO(data))
    path.write_bytes(buf.getvalue())
    return hashlib.sha256(buf.getvalue()).hexdigest(), len(buf.getvalue())


def test_fetch_verifies_and_extracts(tmp_path):
    src = tmp_path / "src.tar.gz"
    sha, size = make_tarball(src)
    archive = download.Archive("tiny", src.as_uri(), sha, size)
    out = download.fetch(archive, tmp_path / "cache", progress=False)
    assert (out / "testing_list.txt").read_text() == "yes/a_nohash_0.wav\n"
    src.unlink()  # cached now: no second download
    assert download.fetch(archive, tmp_path / "cache", progress=False) == out


def test_checksum_mismatch_is_refused(tmp_path):
    src = tmp_path / "src.tar.gz"
    _, size = make_tarball(src)
    archive = download.Archive("bad", src.as_uri(), "0" * 64, size)
    with pytest.raises(download.DownloadError, match="does not match"):
        download.fetch(archive, tmp_path / "cache", progress=False)


def test_unreachable_host_says_what_to_do(tmp_path):
    archive = download.Archive("gone", (tmp_path / "missing.tar.gz").as_uri(), "0" * 64, 10)
    with pytest.raises(download.DownloadError, match="--data"):
        download.fetch(archive, tmp_path / "cache", progress=False)


def test_published_archives_listed():
    assert set(download.ARCHIVES) == {"speech_commands_v0.02", "speech_commands_test_set_v0.02"}
    assert all(len(a.sha256) == 64 and a.size > 10**8 for a in download.ARCHIVES.values())
