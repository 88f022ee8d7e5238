"""Fetching the official archives for users with internet access: cached, size- and SHA-256-checked.

The machines this project is developed on have no route to the archive host, so this path is
tested with a local `file://` URL standing in for it; the URLs and checksums below are the
published ones (TensorFlow's hosting, as listed by the dataset's users).
"""

from __future__ import annotations

import hashlib
import os
import tarfile
import urllib.request
from dataclasses import dataclass
from pathlib import Path


@dataclass(frozen=True)
class Archive:
    name: str
    url: str
    sha256: str
    size: int


ARCHIVES = {
    "speech_commands_v0.02": Archive(
        "speech_commands_v0.02", "https://storage.googleapis.com/download.tensorflow.org/data/speech_commands_v0.02.tar.gz",
        "af14739ee7dc311471de98f5f9d2c9191b18aedfe957f4a6ff791c709868ff58", 2428923189),
    "speech_commands_test_set_v0.02": Archive(
        "speech_commands_test_set_v0.02",
        "https://storage.googleapis.com/download.tensorflow.org/data/speech_commands_test_set_v0.02.tar.gz",
        "cc2a00c1147c2254e9be3fa0f779d8c17421dc349b86366567a8edfa9acd51df", 112563277),
}


class DownloadError(RuntimeError):
    pass


def cache_dir() -> Path:
    return Path(os.environ.get("KWS_CACHE", Path.home() / ".cache" / "kwsflow"))


def sha256_of(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def fetch(archive: Archive, dest: Path | None = None, progress: bool = True) -> Path:
    """Download (unless a verified copy is cached) and extract; returns the extracted folder."""
    from tqdm import tqdm

    dest = Path(dest or cache_dir())
    target = dest / archive.name
    if (target / ".verified").exists():
        return target
    dest.mkdir(parents=True, exist_ok=True)
    tarball = dest / f"{archive.name}.tar.gz"
    if not tarball.exists() or tarball.stat().st_size != archive.size:
        partial = tarball.with_suffix(".part")
        try:
            with urllib.request.urlopen(archive.url, timeout=60) as resp, open(partial, "wb") as out, \
                    tqdm(total=archive.size, unit="B", unit_scale=True, desc=archive.name, disable=not progress) as bar:
                for block in iter(lambda: resp.read(1 << 20), b""):
                    out.write(block)
                    bar.update(len(block))
        except OSError as exc:
            raise DownloadError(f"could not download {archive.url} ({exc}). Without internet access, download "
                                f"it elsewhere, put it at {tarball}, or pass --data to an extracted copy.") from exc
        partial.rename(tarball)
    if tarball.stat().st_size != archive.size:
        raise DownloadError(f"{tarball}: {tarball.stat().st_size} bytes, expected {archive.size}; delete it and retry")
    digest = sha256_of(tarball)
    if digest != archive.sha256:
        raise DownloadError(f"{tarball}: SHA-256 {digest} does not match the published {archive.sha256}; "
                            "the download is corrupt — delete it and retry")
    target.mkdir(exist_ok=True)
    with tarfile.open(tarball) as tar:
        tar.extractall(target, filter="data")
    (target / ".verified").write_text(archive.sha256)
    return target
