import os
from pathlib import Path

import pytest

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
REPO = Path(__file__).resolve().parents[1]


_OWN_SIM_BUILD = []  # the tmp build root this process made (removed at the end)


def pytest_configure(config):
    # Verilator builds and result files of the suite go to a tmp dir, not the repository's build/
    # (set KWS_SIM_BUILD yourself to keep the build cache between runs). pytest-xdist workers
    # inherit the controller's, so every worker shares one build cache.
    if not os.environ.get("KWS_SIM_BUILD"):
        import tempfile

        os.environ["KWS_SIM_BUILD"] = tempfile.mkdtemp(prefix="kwsflow-sim-")
        _OWN_SIM_BUILD.append(os.environ["KWS_SIM_BUILD"])


def pytest_unconfigure(config):
    # A suite's builds are 2-3 GB: left behind, a few dozen runs fill the disk.
    import shutil

    for path in _OWN_SIM_BUILD:
        shutil.rmtree(path, ignore_errors=True)


def gsc_dir() -> Path | None:
    """The shared Speech Commands subset: $KWS_GSC_DIR, else ../shared/data next to the checkout."""
    path = Path(os.environ.get("KWS_GSC_DIR", REPO.parent / "shared" / "data" / "speech_commands_v0.02"))
    return path if (path / "testing_list.txt").exists() else None


@pytest.fixture
def gsc_root():
    path = gsc_dir()
    if path is None:
        pytest.skip("Speech Commands data not found (set KWS_GSC_DIR)")
    return path


@pytest.fixture(autouse=True)
def _isolated_cache(tmp_path_factory, monkeypatch):
    # Tests never touch the user's ~/.cache/kwsflow; one cache per test session.
    monkeypatch.setenv("KWS_CACHE", str(tmp_path_factory.getbasetemp() / "kws_cache"))
