"""Sweeps (qat.experiments): a sweep file expands into (config, seed, fold) runs through qat.cv.plan,
float runs before the QAT runs that start from them; finished runs start nothing; a dead Ray
address or a bad sweep is one error line before any training; one real Ray sweep on synthetic
data. Also the streaming DET counting on a hand-made stream."""

import json
import shutil
import time

import numpy as np
import pytest

from qat import det
from qat.data.labels import CLASSES, CLIP_SAMPLES, SAMPLE_RATE
from qat.experiments import sweep as sweep_mod
from qat.experiments.__main__ import main
from qat.experiments.sweep import SWEEP_DIR, SweepError, expand, load, run_here
from qat.run_config import RunConfig

SMOKE = str(SWEEP_DIR / "smoke.yaml")


@pytest.fixture
def espeak():
    if shutil.which("espeak-ng") is None:
        pytest.skip("espeak-ng not installed (the smoke sweep's synthetic data)")


def write_sweep(tmp_path, text: str) -> str:
    path = tmp_path / "sweep.yaml"
    path.write_text(text)
    return str(path)


def fake_train(calls: list):
    """Stands in for qat.cv.train_one: records the call and leaves what a finished run leaves
    (metrics.json, the config stamp), with made-up numbers."""
    def train_one(build_dir, run, threads):
        calls.append(run["name"])
        parent = run["overrides"].get("train.init_from")
        assert parent is None or parent in calls or (build_dir / parent / "metrics.json").exists(), \
            f"{run['name']} trained before its float run {parent}"
        out = build_dir / run["name"]
        (out / "ckpt").mkdir(parents=True)
        RunConfig.load(run["config"], run["overrides"]).save(out / "ckpt" / "run_config.yaml")
        cm = np.eye(len(CLASSES), dtype=int) * (3 + run["overrides"]["data.fold"])
        acc = {"float": {"test": 0.9, "validation": 0.9}}
        if "init_from" in str(run["overrides"]):
            acc["quantized"] = {"test": 0.8, "validation": 0.8}
            cm[0, 0] -= 1  # one clip of each fold wrong: 82 of 84 over the smoke sweep's two folds
            cm[0, 1] += 1
        (out / "metrics.json").write_text(json.dumps({
            "accuracy": acc, "confusion_test": cm.tolist(), "train_wall_seconds": 1.0,
            "params": 100, "macs": 1000, "weight_memory_bits": 800 if parent else 3200}))
    return train_one


def test_sweep_expands_configs_seeds_folds_float_first(espeak, tmp_path):
    sweep = load(write_sweep(tmp_path, "folds: 3\nseeds: [0, 1]\nruns: [configs/smoke/*.yaml]\n"))
    plan = expand(sweep, None)
    floats, quantized = plan.stages
    assert len(floats) == len(quantized) == 6  # 3 folds x 2 seeds each; the float config listed once
    assert {r["name"] for r in floats} == {f"smoke_dscnn_float_k3_s{s}_f{k}" for s in (0, 1) for k in range(3)}
    for run in quantized:
        o = run["overrides"]
        assert o["train.init_from"] == f"smoke_dscnn_float_k3_s{o['train.seed']}_f{o['data.fold']}"
    assert sorted(plan.groups) == ["smoke_dscnn_float_k3", "smoke_dscnn_linear8_k3"]
    only = expand(load(write_sweep(tmp_path, "folds: 3\nonly_folds: [1]\nruns: [configs/smoke/dscnn_linear8.yaml]\n")), None)
    assert [r["name"] for s in only.stages for r in s] == ["smoke_dscnn_float_k3_s0_f1", "smoke_dscnn_linear8_k3_s0_f1"]


def test_a_run_waits_for_its_float_run_and_its_teachers(tmp_path):
    """What Ray awaits before a run: the float run it starts from and every distillation teacher
    that is itself being trained (a finished one, here t1, is not waited for)."""
    from qat.experiments.sweep import schedule

    config = "configs/smoke/dscnn_float.yaml"
    (tmp_path / "t1" / "ckpt").mkdir(parents=True)
    (tmp_path / "t1" / "metrics.json").write_text("{}")
    RunConfig.load(config, {"name": "t1"}).save(tmp_path / "t1" / "ckpt" / "run_config.yaml")
    student = {"name": "s", "config": config, "overrides": {"train.init_from": "f", "train.distill.teacher": ["t0", "t1"]}}
    stages = [[{"name": n, "config": config, "overrides": {"name": n}} for n in ("t0", "t1", "f")], [student]]
    got = schedule(stages, tmp_path, lambda run, parents: (run["name"], [p[0] for p in parents]))
    assert list(got) == ["t0", "f", "s"] and got["s"] == ("s", ["f", "t0"])


def test_a_run_older_than_its_float_run_is_trained_again_from_scratch(tmp_path, monkeypatch):
    """As make sees it: a QAT run whose float run finished after it started grew from the old float
    weights, so it is trained again, with --fresh; so is one whose float run is trained again now.
    An interrupted run of the current float run resumes (no --fresh)."""
    import os

    from qat.cv import train_one
    from qat.experiments.sweep import schedule

    config = "configs/smoke/dscnn_float.yaml"

    def run(name, parent=None):
        return {"name": name, "config": config, "overrides": {"name": name, **({"train.init_from": parent} if parent else {})}}

    def leave(name, t, done=True):  # what a run started at time t leaves (finished: metrics at t + 1)
        (tmp_path / name / "ckpt").mkdir(parents=True, exist_ok=True)
        stamp = tmp_path / name / "ckpt" / "run_config.yaml"
        RunConfig.load(config, run(name, None if name == "f" else "f")["overrides"]).save(stamp)
        os.utime(stamp, (t, t))
        if done:
            (tmp_path / name / "metrics.json").write_text("{}")
            os.utime(tmp_path / name / "metrics.json", (t + 1, t + 1))

    def plan(*children):
        stages = [[run("f")], [run(c, "f") for c in children]]
        return {n: bool(r.get("fresh")) for n, r in schedule(stages, tmp_path, lambda r, _: r).items()}

    leave("f", 100)
    leave("q", 200)                # started after f finished: up to date
    leave("old", 50)               # finished before f was trained (again)
    leave("cut", 300, done=False)  # interrupted, from the current f
    assert plan("q", "old", "cut") == {"old": True, "cut": False}
    (tmp_path / "f" / "metrics.json").unlink()  # f unfinished: it and everything from it train again
    assert plan("q", "cut") == {"f": False, "q": True, "cut": True}
    calls = []  # and qat.train is told to start over
    monkeypatch.setattr("qat.cv.subprocess.call", lambda cmd, **kw: calls.append(cmd) or 0)
    train_one(tmp_path, {**run("q", "f"), "fresh": True}, 1)
    train_one(tmp_path, run("cut", "f"), 1)
    assert "--fresh" in calls[0] and "--fresh" not in calls[1]


@pytest.mark.gsc
def test_papers_sweep_trains_each_float_run_once(gsc_root):
    from qat.cv import upstream

    plan = expand(load(SWEEP_DIR / "papers.yaml"), str(gsc_root))
    runs = [r for stage in plan.stages for r in stage]
    floats = [r for r in runs if "train.init_from" not in r["overrides"]]
    quantized = [r for r in runs if "train.init_from" in r["overrides"]]
    assert len(plan.groups) == 14 and len(floats) == 2 * 3 * 2  # two float configs x 3 folds x 2 seeds
    assert len(quantized) == 12 * 3 * 2 and len({r["name"] for r in runs}) == len(runs)
    assert {r["overrides"]["train.init_from"] for r in quantized} == {r["name"] for r in floats}
    # every run after the runs it starts from or distils from: the FFN float run of a fold after
    # the DS-CNN float run of the same fold and seed that teaches it, the FFN's QAT runs after both
    stage = {r["name"]: i for i, s in enumerate(plan.stages) for r in s}
    assert all(stage[u] < stage[r["name"]] for r in runs for u in upstream(r))
    assert [stage["gsc_dscnn_float_k3_s1_f2"], stage["gsc_ffn_float_k3_s1_f2"], stage["gsc_ffn_linear8_k3_s1_f2"]] == [0, 1, 2]
    ffn = next(r for r in floats if r["name"] == "gsc_ffn_float_k3_s1_f2")
    assert ffn["overrides"]["train.distill.teacher"] == ["gsc_dscnn_float_k3_s1_f2"]
    assert "gsc_ffn_two_stage_w1_k3" in plan.det and "gsc_dscnn_float_k3" not in plan.det


def test_finished_runs_start_nothing_and_the_table_is_written(espeak, tmp_path, monkeypatch):
    calls = []
    monkeypatch.setattr(sweep_mod, "train_one", fake_train(calls))
    args = ["--sweep", SMOKE, "--build-dir", str(tmp_path / "b"), "--no-ray", "--no-progress"]
    assert main(args) == 0
    assert len(calls) == 4 and calls[:2] == ["smoke_dscnn_float_k2_s0_f0", "smoke_dscnn_float_k2_s0_f1"]
    assert main(args) == 0
    assert len(calls) == 4  # the second invocation trained nothing
    # nor does the Ray path start a task (or Ray itself) when every run has finished
    import ray

    from qat.experiments.ray_runner import run_on_ray

    plan = expand(load(SMOKE), None)
    assert run_on_ray(plan.stages, tmp_path / "b", None, 1, 1) == [] and not ray.is_initialized()
    out = tmp_path / "b" / "smoke"  # the sweep's results folder, beside the runs
    lines = (out / "results.csv").read_text().splitlines()
    assert lines[0].startswith("config,config_file,model,scheme") and len(lines) == 3
    md = (out / "results.md").read_text()
    # accuracy pooled from the folds' confusion matrices (82 of 84), Δ against the float accuracy
    # the QAT runs report of the float model they started from (made up: 90 %)
    assert "`smoke_dscnn_linear8_k2` | dscnn | linear | 1 × 2 | **97.62%** (one seed) | +7.6 pt" in md
    assert (out / "accuracy_vs_bits.png").exists() and (out / "accuracy_vs_cost.png").exists()


def test_compare_gives_paired_differences(espeak, tmp_path, monkeypatch):
    """`compare:` A - B per seed on the pooled clips (82/84 vs 84/84) and per (fold, seed) model
    (made-up 0.8 vs 0.9 on each of 2 folds x 2 seeds)."""
    monkeypatch.setattr(sweep_mod, "train_one", fake_train([]))
    text = ("folds: 2\nseeds: [0, 1]\nruns: [configs/smoke/*.yaml]\n"
            "compare: {qat: [smoke_dscnn_linear8, smoke_dscnn_float]}\n")
    assert main(["--sweep", write_sweep(tmp_path, text), "--build-dir", str(tmp_path / "b"), "--no-ray",
                 "--no-progress"]) == 0
    (p,) = json.loads((tmp_path / "b" / "sweep" / "paired.json").read_text())
    assert p["delta_per_seed"] == pytest.approx([82 / 84 - 1] * 2)
    assert p["delta_std_seeds"] == 0 and p["delta_std_models"] == pytest.approx(0)
    assert (p["a_better_models"], p["b_better_models"], p["models"]) == (0, 4, 4)
    md = (tmp_path / "b" / "sweep" / "results.md").read_text()
    assert "| qat | `smoke_dscnn_linear8_k2` | `smoke_dscnn_float_k2` | 97.62% | 100.00% | **-2.38 ± 0.00 pt**" in md


def test_compare_of_a_config_not_in_the_sweep_is_refused_before_training(espeak, tmp_path, capsys, monkeypatch):
    calls = []
    monkeypatch.setattr(sweep_mod, "train_one", fake_train(calls))
    text = "folds: 2\nruns: [configs/smoke/*.yaml]\ncompare: {x: [smoke_dscnn_linear8, smoke_dscnn_linear4]}\n"
    assert main(["--sweep", write_sweep(tmp_path, text), "--build-dir", str(tmp_path / "b"), "--no-ray"]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "'smoke_dscnn_linear4' is not a config of this sweep" in err[0] and calls == []


def test_a_failed_run_is_one_error_line(espeak, tmp_path, monkeypatch, capsys):
    def broken(build_dir, run, threads):
        raise RuntimeError(f"run {run['name']} failed (boom); full log: x.log")

    monkeypatch.setattr(sweep_mod, "train_one", broken)
    assert main(["--sweep", SMOKE, "--build-dir", str(tmp_path), "--no-ray"]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith("error: run smoke_dscnn_float_k2_s0_f0 failed (boom)")


def test_dead_ray_address_is_one_error_line_before_anything(tmp_path, capsys, monkeypatch):
    monkeypatch.setattr(sweep_mod, "train_one", lambda *a: pytest.fail("trained despite a dead address"))
    started = time.time()
    assert main(["--sweep", SMOKE, "--build-dir", str(tmp_path / "b"), "--address", "127.0.0.1:1"]) == 2
    assert time.time() - started < 15  # ray.init on this address waits for minutes
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith("error: no Ray cluster answers at 127.0.0.1:1")
    assert "RAY_ADDRESS" in err[0] and not (tmp_path / "b").exists()


@pytest.mark.parametrize("text,match", [
    ("runs: [configs/gsc/no_such_model.yaml]\n", "names no config file"),
    ("runs: [tests/conftest.py]\n", "not a run config under"),
    ("runs: [configs/sweeps/smoke.yaml]\n", "not a run config"),
    ("seeds: [0, 0]\nruns: [configs/smoke/*.yaml]\n", "lists a value twice"),
    ("seeds: 0\nruns: [configs/smoke/*.yaml]\n", "not a non-empty list of integers"),
    ("folds: 1\nruns: [configs/smoke/*.yaml]\n", "folds: 1 must be an integer >= 2"),
    ("folds: 3\nonly_folds: [3]\nruns: [configs/smoke/*.yaml]\n", "folds are 0 .. 2"),
    ("runs: [{config: configs/smoke/dscnn_float.yaml, set: {train.lr: 0.1}}]\n", "give the variant a tag"),
    ("runs: [{config: configs/smoke/dscnn_float.yaml, colour: red}]\n", "a mapping with keys"),
    ("epochs: 3\nruns: [configs/smoke/*.yaml]\n", "a sweep is a mapping"),
    ("runs: [configs/smoke/*.yaml]\ncompare: {x: [smoke_dscnn_float]}\n", "compare: a mapping label"),
    ("runs: [configs/smoke/*.yaml]\ncompare: {x: [a, a]}\n", "two different config names"),
])
def test_bad_sweep_is_refused_when_loaded(tmp_path, text, match):
    with pytest.raises(SweepError, match=match):
        load(write_sweep(tmp_path, text))


def test_bad_config_is_one_error_line_and_nothing_trains(espeak, tmp_path, capsys, monkeypatch):
    calls = []
    monkeypatch.setattr(sweep_mod, "train_one", fake_train(calls))
    for text, match in [("runs: [configs/gsc/dscnn_float_typo.yaml]\n", "names no config file"),
                        ("runs: [configs/smoke/dscnn_float.yaml, {config: configs/smoke/dscnn_linear8.yaml, "
                         "set: {train.lr: -1}, tag: neg}]\n", "learning rates must be > 0")]:
        assert main(["--sweep", write_sweep(tmp_path, text), "--build-dir", str(tmp_path / "b"), "--no-ray"]) == 2
        err = capsys.readouterr().err.strip().splitlines()
        assert len(err) == 1 and err[0].startswith("error: ") and match in err[0], err
    assert calls == []


def test_sweep_on_ray_end_to_end(espeak, tmp_path):
    """The smoke sweep for real: 2 configs x 2 folds, one epoch each, as Ray tasks on this machine
    (one at a time: the cores are shared); every QAT run started from its own fold's float model."""
    build = tmp_path / "b"
    assert main(["--sweep", SMOKE, "--build-dir", str(build), "--jobs", "1", "--no-progress"]) == 0
    for fold in (0, 1):
        cfg = RunConfig.load(build / f"smoke_dscnn_linear8_k2_s0_f{fold}" / "config.yaml")
        assert cfg.train.init_from == f"smoke_dscnn_float_k2_s0_f{fold}" and cfg.data.fold == fold
    rows = (build / "smoke" / "results.csv").read_text().splitlines()[1:]
    assert [r.split(",")[0] for r in rows] == ["smoke_dscnn_float_k2", "smoke_dscnn_linear8_k2"]
    stamps = {p: p.stat().st_mtime for p in build.glob("*/metrics.json")}
    assert len(stamps) == 4
    assert main(["--sweep", SMOKE, "--build-dir", str(build), "--jobs", "1", "--no-progress"]) == 0
    assert stamps == {p: p.stat().st_mtime for p in build.glob("*/metrics.json")}


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


def test_pareto_front_keeps_only_undominated_points():
    from qat.experiments.plots import pareto_front

    pts = [(100, 80.0), (50, 70.0), (200, 79.0), (400, 85.0), (50, 72.0), (300, 85.0)]
    # (50, 70) loses to (50, 72) at the same cost; (200, 79) to (100, 80); (400, 85) to (300, 85)
    assert pareto_front(pts) == [(50, 72.0), (100, 80.0), (300, 85.0)]
