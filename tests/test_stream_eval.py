"""`python -m hw.stream_eval` end to end on a tiny model: the detector's DET on the testing-list
stream, written next to the run; a bad setting is one error line."""

from __future__ import annotations

import json

import numpy as np


def tiny_run(path):
    from tensorflow import keras

    from qat.features import Normalizer
    from qat.run_config import RunConfig

    path.mkdir()
    inp = keras.Input((49, 10, 1))
    model = keras.Model(inp, keras.layers.Dense(12)(keras.layers.Flatten()(inp)))
    model.save(path / "model.h5")
    RunConfig.from_dict({"name": "tiny", "model": "dscnn", "stream": {"threshold": 0.5}}).save(path / "config.yaml")
    Normalizer(np.zeros(10, np.float32), np.full(10, 10.0, np.float32)).save(path / "normalizer.npz")
    return path


def test_stream_eval_writes_the_det_of_a_run(gsc_root, tmp_path, capsys):
    from hw.cli import run_main
    from hw.stream_eval import main

    run = tiny_run(tmp_path / "tiny")
    assert run_main(main, ["--run", str(run), "--data", str(gsc_root), "--seconds", "60"]) == 0
    line = capsys.readouterr().out.strip()
    assert "false alarms/h" in line and "MLPerf Tiny" in line and "\n" not in line
    out = json.loads((run / "stream_det.json").read_text())
    assert out["threshold"] == 0.5 and len(out["points"]) > 10 and (run / "stream_det.png").exists()
    assert out["stream"]["list_clips"] == out["det"]["keyword_clips"] + out["stream"]["unknown_clips"]

    assert run_main(main, ["--run", str(run), "--data", str(gsc_root), "--set", "stream.smooth=0"]) == 2
    assert capsys.readouterr().err.startswith("error: stream.smooth=0")
