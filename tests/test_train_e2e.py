"""A tiny end-to-end run: data → float training → fold → QAT → files; must beat chance clearly."""

import json
import shutil

import numpy as np
import pytest

from qat.run_config import RunConfig
from qat.train import train
from tests.conftest import gsc_dir

CHANCE = 1 / 12


def tiny_config(name, data, **train_overrides):
    return RunConfig.from_dict({
        "name": name, "model": "dscnn", "model_args": {"width": 16}, "data": data,
        "quant": {"weight_bits": 8, "act_bits": 8},
        "train": {"float_epochs": 20, "qat_epochs": 2, "batch_size": 32, "lr": 3e-3, "patience": 20, **train_overrides},
    })


@pytest.fixture(scope="module")
def synthetic_run(tmp_path_factory):
    if shutil.which("espeak-ng") is None:
        pytest.skip("espeak-ng not installed")
    build = tmp_path_factory.mktemp("build")
    cfg = tiny_config("tiny", {"source": "synthetic", "synth_speakers": 60})
    return build, cfg, train(cfg, build, progress=False)


def test_beats_chance_and_writes_everything(synthetic_run):
    build, cfg, metrics = synthetic_run
    acc = metrics["accuracy"]
    assert acc["float"]["test"] > 3 * CHANCE, acc
    assert acc["quantized"]["test"] > 3 * CHANCE, acc
    run = build / "tiny"
    for f in ("model.h5", "config.yaml", "normalizer.npz", "test_vectors.npz", "metrics.json", "report.md",
              "training_curves.png", "confusion_test.png"):
        assert (run / f).exists(), f
    saved = json.loads((run / "metrics.json").read_text())
    assert np.array(saved["confusion_test"]).sum() == saved["clips"]["test"]
    resolved = RunConfig.load(run / "config.yaml")
    assert resolved.quant.layer_act_int and resolved.quant.weight_int  # calibrated formats recorded


def test_saved_model_predicts_like_the_report(synthetic_run):
    from qat.models import load_model

    build, _, metrics = synthetic_run
    model = load_model(build / "tiny" / "model.h5")
    vectors = np.load(build / "tiny" / "test_vectors.npz")
    pred = np.argmax(model.predict(vectors["x"], verbose=0), axis=-1)
    assert np.mean(pred == vectors["y"]) == pytest.approx(metrics["accuracy"]["quantized"]["test"])


def test_resume_continues_after_the_last_finished_epoch(synthetic_run, tmp_path):
    build, cfg, _ = synthetic_run
    short = tiny_config("resume", cfg.data.to_dict(), float_epochs=2, qat_epochs=0)
    train(short, tmp_path, progress=False)
    longer = tiny_config("resume", cfg.data.to_dict(), float_epochs=4, qat_epochs=0)
    out = train(longer, tmp_path, progress=False)
    state = json.loads((tmp_path / "resume" / "ckpt" / "float" / "state.json").read_text())
    assert state["epochs_done"] == 4 and len(out["history"]["float"]["loss"]) == 4


@pytest.mark.gsc
@pytest.mark.slow
def test_real_speech_commands_beats_chance(tmp_path):
    if gsc_dir() is None:
        pytest.skip("no Speech Commands data")
    cfg = tiny_config("gsc_tiny", {"source": "gsc", "path": str(gsc_dir())}, float_epochs=10)
    metrics = train(cfg, tmp_path, progress=False)
    assert metrics["accuracy"]["quantized"]["test"] > 4 * CHANCE
