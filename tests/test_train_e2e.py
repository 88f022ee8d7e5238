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


def test_float_run_learns_from_its_teacher(synthetic_run, tmp_path):
    """A float run with train.distill (alpha 1: the teacher's soft targets only) follows its teacher,
    here one that always says class 3: without the teacher in the float phase it would learn the labels."""
    from qat.models import build_model, load_model

    build, cfg, _ = synthetic_run
    shape = np.load(build / "tiny" / "test_vectors.npz")["x"].shape[1:]
    teacher = build_model("dscnn", shape, 12, None, width=8)
    for w in teacher.weights:
        w.assign(np.zeros(w.shape))
    teacher.get_layer("logits").bias.assign(np.eye(12)[3] * 10.0)
    (tmp_path / "always3").mkdir()
    teacher.save(tmp_path / "always3" / "model.h5")
    student = RunConfig.from_dict({**tiny_config("student", cfg.data.to_dict(), float_epochs=3).to_dict(), "quant": None,
                                   "train": {"float_epochs": 3, "batch_size": 32, "mixup": 0,
                                             "distill": {"teacher": "always3", "alpha": 1.0, "temperature": 1.0}}})
    train(student, tmp_path, progress=False)
    vectors = np.load(tmp_path / "student" / "test_vectors.npz")
    pred = np.argmax(load_model(tmp_path / "student" / "model.h5").predict(vectors["x"], verbose=0), axis=-1)
    assert np.mean(pred == 3) > 0.9


@pytest.mark.gsc
@pytest.mark.slow
def test_real_speech_commands_beats_chance(tmp_path):
    if gsc_dir() is None:
        pytest.skip("no Speech Commands data")
    cfg = tiny_config("gsc_tiny", {"source": "gsc", "path": str(gsc_dir())}, float_epochs=10)
    metrics = train(cfg, tmp_path, progress=False)
    assert metrics["accuracy"]["quantized"]["test"] > 4 * CHANCE


def test_evaluate_cli_on_own_split_and_official_layout(synthetic_run, tmp_path, capsys):
    from qat.data.labels import CLASSES
    from qat.data.wav import write_wav
    from qat.dataset import load_splits
    from qat.evaluate import evaluate, main

    build, cfg, metrics = synthetic_run
    own = evaluate(build / "tiny", progress=False)
    assert own["accuracy"] == pytest.approx(metrics["accuracy"]["quantized"]["test"])
    # The same clips laid out as the official 12-class test set give the same accuracy.
    test = load_splits(cfg.data, progress=False, splits=("test",))["test"]
    for i, (audio, label) in enumerate(zip(test.audio, test.labels)):
        write_wav(tmp_path / "official" / CLASSES[label] / f"s{i}_nohash_0.wav", audio)
    official = evaluate(build / "tiny", str(tmp_path / "official"), progress=False)
    assert official["clips"] == len(test.labels)
    # Written back as 16-bit PCM: at most a clip or two may round differently.
    assert official["accuracy"] == pytest.approx(own["accuracy"], abs=2.5 / len(test.labels))
    assert main(["--run", str(build / "tiny"), "--data", str(tmp_path / "official"), "--no-progress"]) == 0
    assert "of %d clips" % len(test.labels) in capsys.readouterr().out
    assert main(["--run", str(tmp_path / "nothing")]) == 2


def test_checkpoints_of_another_config_are_refused(tmp_path):
    from qat.run_config import RunConfigError
    from qat.train import check_resumable

    a = tiny_config("x", {"source": "synthetic"})
    check_resumable(a, tmp_path)
    check_resumable(tiny_config("x", {"source": "synthetic"}, float_epochs=50), tmp_path)  # extending is fine
    b = RunConfig.from_dict({**a.to_dict(), "model_args": {"width": 32}})
    with pytest.raises(RunConfigError, match="--fresh"):
        check_resumable(b, tmp_path)


@pytest.mark.sim
def test_sim_cli_streams_every_split_of_a_trained_run(synthetic_run, capsys):
    """`python -m sim --split all`: vectors from test, validation and train (more than the test split
    holds), every clip identical, and the report names where they came from."""
    from sim.__main__ import main

    build, _, metrics = synthetic_run
    n_test = metrics["clips"]["test"]
    n = n_test + 5
    out = build / "tiny" / "rtl_all"
    assert main(["--run", str(build / "tiny"), "--split", "all", "-n", str(n), "--reuse-factor", "64", "--rtl", str(out)]) == 0
    report = json.loads((out / "sim_report.json").read_text())
    assert report["identical"] == report["total"] == n
    assert f"test {n_test}" in report["vectors"] and "validation 5" in report["vectors"]
    printed = capsys.readouterr().out
    assert f"{n} of {n} identical" in printed and "--split all" in printed


def test_feature_settings_reach_training_evaluation_and_vectors(tmp_path):
    """data.features (20 MFCC coefficients): the model reads (49, 20, 1), the normalizer has 20
    entries, and evaluation and the hardware test vectors recompute the same features."""
    if shutil.which("espeak-ng") is None:
        pytest.skip("espeak-ng not installed")
    from hw.vectors import run_vectors
    from qat.evaluate import evaluate
    from qat.features import Normalizer
    from qat.models import load_model

    cfg = RunConfig.from_dict({"name": "mfcc20", "model": "tc_resnet", "model_args": {"width": 0.5},
                               "data": {"source": "synthetic", "synth_speakers": 60, "features": {"coefficients": 20}},
                               "train": {"float_epochs": 1, "batch_size": 64}})
    metrics = train(cfg, tmp_path, progress=False)
    run = tmp_path / "mfcc20"
    assert load_model(run / "model.h5").input_shape[1:] == (49, 20, 1)
    assert Normalizer.load(run / "normalizer.npz").mean.shape == (20,)
    assert evaluate(run, progress=False)["accuracy"] == pytest.approx(metrics["accuracy"]["float"]["test"])
    with np.load(run / "test_vectors.npz") as saved:
        (run / "test_vectors.npz").unlink()  # recomputed from the audio by the hardware side
        again = run_vectors(run, split="test")
        np.testing.assert_allclose(again.x, saved["x"], atol=1e-5)
