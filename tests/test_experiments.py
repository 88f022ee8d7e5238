"""Experiment grid and streaming DET: configs valid up front, DET counting on a hand-made stream."""

from types import SimpleNamespace

import numpy as np
import pytest

from qat import det, experiments
from qat.data.labels import CLASSES, CLIP_SAMPLES, SAMPLE_RATE


@pytest.mark.parametrize("full", [False, True])
def test_every_grid_config_loads(full):
    specs = experiments.grid(full)
    names = [s["name"] for s in specs]
    assert len(names) == len(set(names))
    for s in specs:
        if s.get("nas"):
            continue
        cfg = experiments.run_config(s, {"source": "synthetic"})
        if s.get("init_from"):
            assert s["init_from"] in names[:names.index(s["name"])]  # float run comes first
        assert cfg.scheme == s.get("scheme", "linear")
    schemes = {s.get("scheme") for s in specs}
    assert {"linear", "acos", "fxp_qat", "two_stage", "trained_bits"} <= schemes
    assert {s["seed"] for s in specs} >= {0, 1}


def test_rows_and_report(tmp_path):
    spec = next(s for s in experiments.grid(False) if s.get("scheme") == "linear" and s["model"] == "dscnn")
    m = {"accuracy": {"float": {"test": 0.8, "validation": 0.82}, "ptq": {"test": 0.7}, "quantized": {"test": 0.79, "validation": 0.8}},
         "weight_memory_bits": 1000, "macs": 10, "params": 5, "epochs": {"qat": 4}, "train_wall_seconds": 3.0}
    r = experiments.row(spec, m)
    assert r["delta_test"] == pytest.approx(-0.01) and r["ptq_test"] == 0.7
    experiments.write_outputs(tmp_path, [r], {"source": "synthetic"}, SimpleNamespace(full=False, data=None, gsc=False,
                                                                                        only=None, epochs=None), 60)
    text = (tmp_path / "results.md").read_text()
    assert "python -m qat.experiments" in text and "79.00%" in text
    assert (tmp_path / "results.csv").read_text().startswith("run,")
    assert (tmp_path / "accuracy_vs_bits_dscnn.png").exists()


def test_det_counts_hits_and_false_alarms():
    yes, no = CLASSES.index("yes"), CLASSES.index("no")
    events = [(SAMPLE_RATE * 2, SAMPLE_RATE * 3, yes), (SAMPLE_RATE * 6, SAMPLE_RATE * 7, no)]
    stream = det.Stream(np.zeros(SAMPLE_RATE * 3600, np.float32), events)  # one hour
    ends = np.arange(CLIP_SAMPLES, SAMPLE_RATE * 12, SAMPLE_RATE // 10)
    p = np.zeros((len(ends), len(CLASSES)))
    centers = ends - CLIP_SAMPLES // 2
    p[(centers > SAMPLE_RATE * 2) & (centers < SAMPLE_RATE * 3), yes] = 0.9  # hit on "yes"
    p[(centers > SAMPLE_RATE * 9) & (centers < SAMPLE_RATE * 10), yes] = 0.6  # a false alarm
    (thr_lo, frr_lo, fa_lo), (thr_hi, frr_hi, fa_hi) = det.det_points(p, ends, stream, thresholds=[0.5, 0.7])
    assert (frr_lo, fa_lo) == (0.5, 1.0)  # "no" missed, one false alarm in one hour
    assert (frr_hi, fa_hi) == (0.5, 0.0)


def test_stream_windows_match_clip_features():
    from qat.features import Normalizer, compute

    rng = np.random.default_rng(0)
    audio = rng.normal(0, 0.1, (3, CLIP_SAMPLES)).astype(np.float32)
    stream = det.build_stream(audio, np.array([2, 3, 4]), [], seed=0)
    norm = Normalizer(np.zeros(40, np.float32), np.ones(40, np.float32))
    x, ends = det.window_features(stream, "logmel", norm, hop_frames=1)
    for k in (0, 57, len(x) - 1):  # window k covers frames k..k+48, i.e. samples from 320 k, one second
        s0 = ends[k] - 480 - 48 * 320
        assert s0 == 320 * k
        np.testing.assert_allclose(x[k], compute("logmel", stream.audio[None, s0:s0 + CLIP_SAMPLES])[0],
                                   rtol=1e-4, atol=1e-4)


def test_experiment_configs_load():
    from pathlib import Path

    from qat.run_config import RunConfig

    files = sorted((Path(__file__).resolve().parents[1] / "configs" / "experiments").glob("*.yaml"))
    assert files
    for f in files:
        assert RunConfig.load(f).quant is not None, f
