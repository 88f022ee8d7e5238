"""Exactness on REAL trained models (build/<run>/ from the training side) and real Speech Commands
features of every split (hw.vectors): QKeras == golden numpy model (default suite, no C++), and
QKeras == golden == hls4ml C simulation (slow: compiling a DS-CNN project takes minutes).

Outputs are compared with np.array_equal on the raw output values, never argmax. A run whose
folder does not exist yet is skipped, as is a model trained before its input was renamed
'features' (hls4ml reserves 'input'; retrain it).
"""

import os

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

import numpy as np
import pytest

from tests.conftest import REPO
from tests.real_clips import REAL_RUNS

pytest.importorskip("qkeras")
pytest.importorskip("hls4ml")

RUNS = REAL_RUNS
MIN_VECTORS = 1000
_CACHE: dict = {}


def _run_dir(run):
    path = REPO / "build" / run
    for name in ("model.h5", "config.yaml", "normalizer.npz"):
        if not (path / name).exists():
            pytest.skip(f"{path} not trained yet (no {name})")
    return path


def _loaded(run, gsc_root, monkeypatch):
    """(model, vectors, QKeras outputs) of a run, computed once per session."""
    run_dir = _run_dir(run)
    monkeypatch.setenv("KWS_GSC_DIR", str(gsc_root))
    key = (run, (run_dir / "model.h5").stat().st_mtime)
    if key not in _CACHE:
        from hw.convert import load_run
        from hw.vectors import run_vectors

        model, _ = load_run(run_dir)
        if model.layers[0].name == "input":
            pytest.skip(f"{run}: trained before the input layer was named 'features'; retrain it")
        vectors = run_vectors(run_dir, "all")
        y_q = model.predict(vectors.x, verbose=0, batch_size=256).reshape(len(vectors), -1).astype(np.float64)
        _CACHE[key] = (model, vectors, y_q)
    return _CACHE[key]


def _report(name, a, b):
    same = np.all(a == b, axis=1)
    return f"{name}: {int(same.sum())} of {len(a)} vectors identical"


@pytest.mark.gsc
@pytest.mark.parametrize("run", RUNS)
def test_real_model_golden_equals_qkeras(run, gsc_root, monkeypatch, tmp_path):
    from hw.convert import HlsSettings, convert, run_overrides
    from hw.golden import GoldenModel
    from hw.trace import first_mismatch, golden_trace, qkeras_trace

    model, vectors, y_q = _loaded(run, gsc_root, monkeypatch)
    assert len(vectors) >= MIN_VECTORS, vectors.description
    graph = convert(model, tmp_path / "prj", HlsSettings(), run_overrides(_run_dir(run)))
    golden = GoldenModel(graph)
    y_g = golden.predict(vectors.x).reshape(len(vectors), -1)
    if not np.array_equal(y_g, y_q):
        m = first_mismatch(qkeras_trace(model, graph, vectors.x[:300]), golden_trace(golden, vectors.x[:300]), golden)
        pytest.fail(f"{_report(run, y_q, y_g)}; {m}")
    assert len(np.unique(y_q)) > 20  # real, varied outputs


@pytest.mark.gsc
@pytest.mark.hls
@pytest.mark.slow
@pytest.mark.parametrize("run,io_type", [(r, "io_parallel") for r in RUNS] + [(r, "io_stream") for r in RUNS if "dscnn" in r])
def test_real_model_csim_equals_golden_equals_qkeras(run, io_type, gsc_root, monkeypatch, tmp_path):
    """Full three-way check through the same code path as `python -m hw.hls`."""
    from hw.convert import HlsSettings, run_overrides
    from hw.hls import check_setting

    model, vectors, y_q = _loaded(run, gsc_root, monkeypatch)
    assert len(vectors) >= MIN_VECTORS, vectors.description
    result = check_setting(model, HlsSettings(io_type=io_type), run_overrides(_run_dir(run)), tmp_path / "prj", vectors.x, y_q)
    summary = {pair: f"{p['identical']} of {p['total']}" for pair, p in result["pairs"].items()}
    assert result["exact"], f"{run} {io_type}: {summary}; first mismatch: {result['first_mismatch']}"
    assert all(p["total"] == len(vectors) for p in result["pairs"].values())
