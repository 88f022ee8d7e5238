"""Exactness on REAL trained models and real Speech Commands features of every split
(hw.vectors): QKeras == golden numpy model (default suite, no C++), and QKeras == golden ==
hls4ml C simulation (slow: compiling a DS-CNN project takes minutes).

Two kinds of runs: small ones trained here on the shared subset (a few epochs each, so the check
runs on every fresh clone and in CI: a 4-bit per-channel DS-CNN and an 8-bit residual net, real
weights, real folded batch norm, real calibration), and the full runs of `make train-gsc`
(build/<run>/), checked when they exist. Outputs are compared with np.array_equal on the raw
output values, never argmax.
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


# trained inside the suite: (model, model_args, quant, scheme_args)
TINY = {
    "tiny_dscnn_linear4_pc": ("dscnn", {"width": 8}, {"weight_bits": 4, "act_bits": 4, "input_bits": 8},
                              {"per_channel": True}),
    "tiny_tcresnet_linear8": ("tc_resnet", {"width": 0.25}, {"weight_bits": 8, "act_bits": 8, "input_bits": 8}, {}),
}
_TINY_DIRS: dict = {}


def _tiny_run(name, gsc_root, tmp_path_factory):
    """Train (once per session) a small real run on the shared subset: 3 float + 1 QAT epochs."""
    if name not in _TINY_DIRS:
        from qat.run_config import RunConfig
        from qat.train import train

        model, args, quant, scheme_args = TINY[name]
        cfg = RunConfig.from_dict({"name": name, "model": model, "model_args": args, "quant": quant,
                                   "scheme_args": scheme_args, "data": {"source": "gsc", "path": str(gsc_root)},
                                   "train": {"float_epochs": 3, "qat_epochs": 1, "batch_size": 64, "patience": 10}})
        build = tmp_path_factory.mktemp("real_runs")
        train(cfg, build, progress=False)
        _TINY_DIRS[name] = build / name
    return _TINY_DIRS[name]


def _run_dir(run):
    path = REPO / "build" / run
    for name in ("model.h5", "config.yaml", "normalizer.npz"):
        if not (path / name).exists():
            pytest.skip(f"{path} not trained yet (no {name})")
    return path


def _loaded(run_dir, gsc_root, monkeypatch):
    """(model, vectors, QKeras outputs) of a run, computed once per session."""
    run = run_dir.name
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


def _golden_equals_qkeras(run_dir, gsc_root, monkeypatch, tmp_path):
    from hw.convert import HlsSettings, convert, run_overrides
    from hw.golden import GoldenModel
    from hw.trace import first_mismatch, golden_trace, qkeras_trace

    model, vectors, y_q = _loaded(run_dir, gsc_root, monkeypatch)
    assert len(vectors) >= MIN_VECTORS, vectors.description
    graph = convert(model, tmp_path / "prj", HlsSettings(), run_overrides(run_dir))
    golden = GoldenModel(graph)
    y_g = golden.predict(vectors.x).reshape(len(vectors), -1)
    if not np.array_equal(y_g, y_q):
        m = first_mismatch(qkeras_trace(model, graph, vectors.x[:300]), golden_trace(golden, vectors.x[:300]), golden)
        pytest.fail(f"{_report(run_dir.name, y_q, y_g)}; {m}")
    assert len(np.unique(y_q)) > 20  # real, varied outputs


@pytest.mark.gsc
@pytest.mark.parametrize("name", sorted(TINY))
def test_small_real_model_trained_here_golden_equals_qkeras(name, gsc_root, monkeypatch, tmp_path, tmp_path_factory):
    _golden_equals_qkeras(_tiny_run(name, gsc_root, tmp_path_factory), gsc_root, monkeypatch, tmp_path)


@pytest.mark.gsc
@pytest.mark.parametrize("run", RUNS)
def test_real_model_golden_equals_qkeras(run, gsc_root, monkeypatch, tmp_path):
    _golden_equals_qkeras(_run_dir(run), gsc_root, monkeypatch, tmp_path)


@pytest.mark.gsc
@pytest.mark.hls
@pytest.mark.slow
@pytest.mark.parametrize("run,io_type", [(r, "io_parallel") for r in RUNS] + [(r, "io_stream") for r in RUNS if "dscnn" in r])
def test_real_model_csim_equals_golden_equals_qkeras(run, io_type, gsc_root, monkeypatch, tmp_path):
    """Full three-way check through the same code path as `python -m hw.hls`."""
    from hw.convert import HlsSettings, run_overrides
    from hw.hls import check_setting

    model, vectors, y_q = _loaded(_run_dir(run), gsc_root, monkeypatch)
    assert len(vectors) >= MIN_VECTORS, vectors.description
    result = check_setting(model, HlsSettings(io_type=io_type), run_overrides(_run_dir(run)), tmp_path / "prj", vectors.x, y_q)
    summary = {pair: f"{p['identical']} of {p['total']}" for pair, p in result["pairs"].items()}
    assert result["exact"], f"{run} {io_type}: {summary}; first mismatch: {result['first_mismatch']}"
    assert all(p["total"] == len(vectors) for p in result["pairs"].values())
