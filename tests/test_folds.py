"""Speaker-grouped cross-validation folds: speaker-disjoint, every clip scored exactly once,
validation speakers outside the scored fold, clear errors for impossible fold counts."""

from pathlib import Path

import numpy as np
import pytest

from qat.data.clips import ClipRef
from qat.data.folds import FoldError, assign_folds, fold_splits


def toy_refs(n_speakers=23, seed=0):
    rng = np.random.default_rng(seed)
    refs = [ClipRef(Path(f"w/{s}_{i}.wav"), int(rng.integers(2, 12)), f"spk{s}")
            for s in range(n_speakers) for i in range(int(rng.integers(1, 30)))]
    refs += [ClipRef(Path("noise.wav"), 0, "silence", offset=i, gain=0.5) for i in range(40)]
    return refs


def check_folds(refs, folds, seed=0):
    seen = np.zeros(len(refs), np.int64)
    for k in range(folds):
        s = fold_splits(refs, folds, k, seed)
        seen[s["test"]] += 1
        assert not set(s["test"]) & set(s["train"]) and not set(s["validation"]) & set(s["train"])
        assert not set(s["validation"]) & set(s["test"])
        assert set(s["train"]) | set(s["validation"]) | set(s["test"]) == set(range(len(refs)))
        spk = lambda idx: {refs[i].speaker for i in idx} - {"silence"}  # noqa: E731
        assert not spk(s["test"]) & spk(s["train"]), "a speaker in both train and the scored fold"
        assert not spk(s["test"]) & spk(s["validation"]) and not spk(s["validation"]) & spk(s["train"])
        assert s["validation"] and s["train"] and s["test"]
    assert (seen == 1).all(), "every clip is scored exactly once"


def test_toy_folds_are_speaker_disjoint_and_cover_every_clip_once():
    refs = toy_refs()
    check_folds(refs, 5)
    sizes = np.bincount(assign_folds(refs, 5), minlength=5)
    assert sizes.max() - sizes.min() <= 30  # balanced to within one speaker's clips


def test_folds_depend_on_seed_only():
    refs = toy_refs()
    assert (assign_folds(refs, 4, 1) == assign_folds(refs, 4, 1)).all()
    assert (assign_folds(refs, 4, 1) != assign_folds(refs, 4, 2)).any()


def test_more_folds_than_speakers_is_refused():
    with pytest.raises(FoldError, match="more than the 23 speakers"):
        assign_folds(toy_refs(), 24)
    with pytest.raises(FoldError, match="data.fold=5"):
        fold_splits(toy_refs(), 5, 5)


@pytest.mark.gsc
def test_real_folds_cover_the_subset(gsc_root):
    from qat.data.speech_commands import SPLITS, scan_raw_archive

    refs, _ = scan_raw_archive(gsc_root)
    pool = [r for s in SPLITS for r in refs[s]]
    check_folds(pool, 5)


@pytest.mark.gsc
def test_fold_count_checked_before_training(gsc_root):
    from qat.cv import plan
    from qat.run_config import RunConfigError

    with pytest.raises((RunConfigError, ValueError), match="speakers in the data"):
        plan(Path("configs/gsc/dscnn_float.yaml"), {}, None, 10_000, [0], str(gsc_root))



@pytest.mark.gsc
def test_cv_trains_each_folds_teachers_first(gsc_root):
    """A run distilling from a float config gets, per fold, that config's runs of the same fold (one
    per teacher seed) as its teacher, trained in the stage before it; nothing else may teach it."""
    from qat.cv import plan
    from qat.run_config import RunConfig, RunConfigError

    distill = {"train.distill": {"teacher": "gsc_dscnn_float", "teacher_seeds": [0, 1]}}
    teachers, students = plan(Path("configs/gsc/dscnn_float.yaml"), distill, "kd", 3, [5], str(gsc_root))
    assert [r["name"] for r in teachers] == [f"gsc_dscnn_float_k3_s{s}_f{f}" for f in range(3) for s in (0, 1)]
    assert all(r["overrides"]["data.fold"] == int(r["name"][-1]) for r in teachers)
    for fold, run in enumerate(students):
        assert run["name"] == f"gsc_dscnn_float_kd_k3_s5_f{fold}"
        assert run["overrides"]["train.distill.teacher"] == [f"gsc_dscnn_float_k3_s{s}_f{fold}" for s in (0, 1)]
        assert RunConfig.load(run["config"], run["overrides"]).train.distill["teacher_seeds"] is None  # resolved
    # without teacher_seeds: the student's own seed; a QAT config cannot teach; the config's own
    # name without a tag would make the student's runs the teacher's
    _, students = plan(Path("configs/gsc/dscnn_float.yaml"), {"train.distill": {"teacher": "gsc_dscnn_float"}},
                       "kd", 3, [2], str(gsc_root), only=[1])
    assert students[0]["overrides"]["train.distill.teacher"] == ["gsc_dscnn_float_k3_s2_f1"]
    # a QAT config: its float runs and its teachers are the same runs when they name the same config
    floats, qat = plan(Path("configs/gsc/dscnn_linear4.yaml"), distill, "kd", 3, [1], str(gsc_root), only=[2])
    assert [r["name"] for r in floats] == ["gsc_dscnn_float_k3_s1_f2", "gsc_dscnn_float_k3_s0_f2"]
    assert all("train.init_from" not in r["overrides"] for r in floats)
    assert qat[0]["overrides"]["train.init_from"] == "gsc_dscnn_float_k3_s1_f2"
    with pytest.raises(RunConfigError, match="must be a float config"):
        plan(Path("configs/gsc/dscnn_float.yaml"), {"train.distill": {"teacher": "gsc_dscnn_linear8"}}, "kd", 3, [0],
             str(gsc_root))
    with pytest.raises(RunConfigError, match="own name"):
        plan(Path("configs/gsc/dscnn_float.yaml"), distill, None, 3, [0], str(gsc_root))
    with pytest.raises(RunConfigError, match="names no config"):
        plan(Path("configs/gsc/dscnn_float.yaml"), {"train.distill": {"teacher": "nope"}}, "kd", 3, [0], str(gsc_root))


@pytest.mark.gsc
def test_cv_trains_a_float_runs_teachers_before_it_and_its_qat_after_it(gsc_root, tmp_path, monkeypatch):
    """A QAT config whose float config distils from a third config (the FFN from the DS-CNN): three
    stages, teacher, float, QAT, each fold's float run pointed at the teacher's run of its fold."""
    import yaml

    from qat import cv

    (tmp_path / "ffn_float.yaml").write_text(yaml.safe_dump(
        {"name": "t_ffn_float", "model": "streaming_ffn", "train": {"distill": {"teacher": "gsc_dscnn_float"}}}))
    (tmp_path / "ffn_linear8.yaml").write_text(yaml.safe_dump(
        {"name": "t_ffn_linear8", "model": "streaming_ffn", "quant": {"weight_bits": 8, "act_bits": 8},
         "train": {"init_from": "t_ffn_float"}}))
    committed = cv.find_config
    monkeypatch.setattr(cv, "find_config", lambda name, **kw: (
        tmp_path / "ffn_float.yaml" if name == "t_ffn_float" else committed(name, **kw)))
    stages = cv.plan(tmp_path / "ffn_linear8.yaml", {}, None, 3, [0, 1], str(gsc_root), only=[1])
    assert [[r["name"] for r in s] for s in stages] == [
        ["gsc_dscnn_float_k3_s0_f1", "gsc_dscnn_float_k3_s1_f1"],
        ["t_ffn_float_k3_s0_f1", "t_ffn_float_k3_s1_f1"],
        ["t_ffn_linear8_k3_s0_f1", "t_ffn_linear8_k3_s1_f1"]]
    for seed, run in enumerate(stages[1]):
        assert run["overrides"]["train.distill.teacher"] == [f"gsc_dscnn_float_k3_s{seed}_f1"]
        assert stages[2][seed]["overrides"]["train.init_from"] == run["name"]
        assert "train.distill.teacher" not in stages[2][seed]["overrides"]  # the QAT run distils nothing


@pytest.mark.gsc
def test_cv_end_to_end_scores_every_clip_once(gsc_root, tmp_path, capsys):
    """A 2-fold CV of a quantized config (float first, then QAT from the same fold's float model),
    tiny epochs: the summary pools every clip of the subset exactly once and writes its files."""
    import json

    from qat.cv import main

    args = ["--config", "configs/gsc/dscnn_linear8.yaml", "--folds", "2", "--seeds", "0", "--data", str(gsc_root),
            "--build-dir", str(tmp_path), "--no-progress", "--tag", "tiny",
            "--set", "model_args={width: 8}", "--set", "train.float_epochs=1", "--set", "train.qat_epochs=1"]
    assert main(args) == 0
    out = tmp_path / "gsc_dscnn_linear8_tiny_k2"
    summary = json.loads((out / "cv.json").read_text())
    from qat.data.speech_commands import SPLITS, scan_raw_archive

    refs, _ = scan_raw_archive(gsc_root)
    assert summary["clips"] == sum(len(refs[s]) for s in SPLITS)  # every clip of the pool, once
    assert np.asarray(summary["confusion"]).sum() == summary["clips"]
    assert (tmp_path / "gsc_dscnn_float_tiny_k2_s0_f1" / "model.h5").exists()  # the float runs it started from
    assert (out / "cv_report.md").exists() and (out / "cv.png").exists()
    # a report of other settings under the same tag is refused, not filled with these runs
    assert main(args + ["--set", "train.qat_epochs=2", "--report-only"]) == 2
    assert "2 of 2 runs are missing, were trained with other settings" in capsys.readouterr().err
    # a second call trains nothing: every run is finished; --det scores each fold's models on a
    # stream of that fold's test clips and pools them: every keyword clip of the pool, once
    before = {p: p.stat().st_mtime for p in tmp_path.glob("*/metrics.json")}
    assert main(args + ["--det"]) == 0
    assert before == {p: p.stat().st_mtime for p in tmp_path.glob("*/metrics.json")}
    from qat.data.labels import CLASSES, KEYWORDS

    dets = json.loads((out / "cv.json").read_text())["det"]
    keywords = sum(np.asarray(summary["confusion"])[CLASSES.index(k)].sum() for k in KEYWORDS)
    for label in ("final", "float"):
        assert dets[label]["streams"] == 2 and dets[label]["keyword_clips"] == keywords and dets[label]["hours"] > 1.0
    assert (out / "det.png").exists() and "false-reject rate at 1 / 5 / 20" in (out / "cv_report.md").read_text()
    assert (tmp_path / "gsc_dscnn_float_tiny_k2_s0_f0" / "det.json").exists()


def test_ensemble_scores_each_fold_by_the_mean_of_its_seeds_softmax(tmp_path, capsys):
    """Two seeds' models per fold, each right on one clip and wrong on the other: alone 50 %, but
    each is confident where it is right and unsure where it is wrong, so the mean of their softmax
    outputs is right on both (a vote would tie, one model would score 50 %)."""
    from tensorflow import keras

    from qat.cv import ensemble, main
    from qat.data.labels import CLASSES

    n = len(CLASSES)
    x = np.zeros((2, n), np.float32)
    x[0, 1], x[1, 2] = 1, 1  # clip 0 is class 1, clip 1 is class 2
    y = np.array([1, 2])
    # seed 0: class 1 (logit 10) on clip 0, class 0 (logit 1) on clip 1; seed 1 the mirror (class 0
    # is the lowest index, so a tied vote would pick the wrong class)
    kernels = {0: {(1, 1): 10.0, (2, 0): 1.0}, 1: {(1, 0): 1.0, (2, 2): 10.0}}
    runs = []
    for fold in (0, 1):
        for seed, entries in kernels.items():
            name = f"toy_k2_s{seed}_f{fold}"
            kernel = np.zeros((n, n), np.float32)
            for (i, j), v in entries.items():
                kernel[i, j] = v
            model = keras.Sequential([keras.Input((n,)), keras.layers.Dense(n, use_bias=False)])
            model.layers[0].set_weights([kernel])
            (tmp_path / name).mkdir()
            model.save(tmp_path / name / "model.h5")
            np.savez(tmp_path / name / "test_vectors.npz", x=x, y=y)
            assert np.mean(np.argmax(model.predict(x, verbose=0), 1) == y) == 0.5
            runs.append(dict(name=name, overrides={"train.seed": seed, "data.fold": fold}))
    out = ensemble(tmp_path, runs, [0, 1])
    assert out["accuracy"] == 1.0 and out["accuracy_per_fold"] == [1.0, 1.0]
    assert ensemble(tmp_path, runs, [0])["accuracy"] == 0.5
    np.savez(tmp_path / "toy_k2_s1_f1" / "test_vectors.npz", x=x, y=y[::-1])
    with pytest.raises(RuntimeError, match="toy_k2_s1_f1: its test clips are not those"):
        ensemble(tmp_path, runs, [0, 1])
    assert main(["--config", "configs/gsc/dscnn_float.yaml", "--seeds", "0", "--ensemble", "--report-only"]) == 2
    assert "error: --ensemble averages the seeds' models: give at least two --seeds" in capsys.readouterr().err
