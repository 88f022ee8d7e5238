"""Speaker-grouped K-fold cross-validation of run configs, several seeds: every clip of the
dataset is scored once per seed by a model that never heard its speaker.

    python -m qat.cv --config configs/gsc/dscnn_linear4.yaml [--folds 5] [--seeds 0 1 2] [--jobs 2]
                     [--data DIR] [--set train.mixup=0.2 --tag mixup] [--build-dir build/cv]

A config that starts from a float run (`train.init_from`) gets that run cross-validated first,
fold by fold and seed by seed (the float config is found in configs/ by its name, and gets the
same --set overrides and --tag, except QAT-only ones such as train.distill), and the quantized run of each fold starts from the float model
of the same fold and seed. A run distilling from a named float config (`train.distill.teacher`)
gets that config's runs of the same fold as its teacher (an ensemble of the seeds in
`train.distill.teacher_seeds`, default the run's own seed), trained first in the same way. Each
(config, seed, fold) is an ordinary training run in <build-dir>/<name>[_<tag>]_k<K>_s<seed>_f<fold>/;
finished runs are skipped, so an interrupted CV resumes; a run trained before the float run it
starts from (or a teacher) was trained again is trained again too. Writes <build-dir>/<name>[_<tag>]_k<K>/:
cv.json, cv_report.md (accuracy mean ± std over seeds and over folds, per-class recall) and cv.png.
--det adds the detection-error trade-off on streams: each run's model on a stream of its own
fold's test clips over background noise (`qat.det.run_det`), pooled over every (seed, fold)
(`qat.det.pool_det`), beside its float runs' pooled the same way: cv.json "det", det.png.
--ensemble also scores each fold by the mean of its seeds' models' softmax outputs (`ensemble`;
cv.json "ensemble"): a reference of several models, e.g. for distillation, not one model's accuracy.
"""

from __future__ import annotations

import argparse
import json
import os

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")  # before TensorFlow is imported below
import subprocess
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np
import yaml

from qat.data.labels import CLASSES
from qat.run_config import RunConfig, RunConfigError, parse_override, stamp_path, teacher_names

CONFIG_DIR = Path(__file__).resolve().parent.parent / "configs"
# settings that act only on the quantized phases: overriding them does not change the float run
QAT_ONLY = ("quant", "scheme", "train.qat_epochs", "train.qat_lr", "train.distill", "train.calib_clips")


def find_config(name: str, config_dir: Path = CONFIG_DIR, setting: str = "train.init_from") -> Path:
    """The committed config whose `name:` is `name` (what a `train.init_from` or a distillation
    teacher refers to)."""
    for path in sorted(config_dir.rglob("*.yaml")):
        data = yaml.safe_load(path.read_text()) or {}
        if isinstance(data, dict) and data.get("name") == name:
            return path
    raise RunConfigError(f"{setting}: {name!r} names no config under {config_dir}; cross-validation "
                         "needs the float config to train it on every fold")


def data_overrides(data: str | None) -> dict:
    """What --data DIR sets in every run: Speech Commands at DIR (nothing without it)."""
    return {"data.source": "gsc", "data.path": data} if data else {}


def run_name(name: str, tag: str | None, folds: int, seed: int, fold: int) -> str:
    return f"{name}{'_' + tag if tag else ''}_k{folds}_s{seed}_f{fold}"


def plan(config: Path, overrides: dict, tag: str | None, folds: int, seeds: list[int], data: str | None,
         only: list[int] | None = None) -> list[list[dict]]:
    """Stages of runs, each depending only on earlier ones: the runs a run starts from (its float
    run) or distils from (its teachers, and its float run's teachers) come first.

    Every run is checked (config, folds against speakers) here, before anything trains."""
    base = {**overrides, **data_overrides(data)}
    cfg = RunConfig.load(config, base)
    parent = None
    # the float run shares the overrides that shape it (a recipe change applies to both phases);
    # QAT-only ones (e.g. train.distill) leave it alone, so variants of the QAT share one float run
    float_base = {k: v for k, v in base.items() if not k.startswith(QAT_ONLY)}
    float_tag = tag if any(not k.startswith(QAT_ONLY) for k in overrides) else None
    if cfg.train.init_from:
        parent = RunConfig.load(find_config(cfg.train.init_from), float_base)
        if not cfg.can_start_from(parent):  # qat.train would refuse it only after the float folds trained
            raise RunConfigError(f"{config}: train.init_from {parent.name!r} ({find_config(parent.name)}) has another "
                                 "model, model_args or data setting; make the two configs agree")
    if cfg.name in teacher_names(cfg.train.distill) and not tag:
        raise RunConfigError(f"train.distill.teacher: {cfg.name!r} is this config's own name, so its fold runs would "
                             "be the teacher's; give the run a --tag")
    runs: dict[str, dict] = {}  # every run by name, in planning order
    for seed in seeds:
        for fold in (only if only is not None else range(folds)):
            fold_set = {"data.folds": folds, "data.fold": fold, "train.seed": seed}
            if parent is not None:
                pname = run_name(parent.name, float_tag, folds, seed, fold)
                pset = {**float_base, **fold_set, **fold_teachers(parent, runs, folds, seed, fold, data), "name": pname}
                runs.setdefault(pname, dict(config=str(find_config(parent.name)), overrides=pset, name=pname))
                fold_set["train.init_from"] = pname
            fold_set.update(fold_teachers(cfg, runs, folds, seed, fold, data))
            name = run_name(cfg.name, tag, folds, seed, fold)
            runs[name] = dict(config=str(config), overrides={**base, **fold_set, "name": name}, name=name)
    for run in runs.values():
        RunConfig.load(run["config"], run["overrides"])  # bad settings fail now, not after hours
    # more folds than speakers: checked on the real listing before any training
    from qat.dataset import fold_speakers

    last = runs[name]  # a run of this config: its data settings
    fold_speakers(RunConfig.load(last["config"], last["overrides"]).data)
    return by_depth(runs)


def fold_teachers(cfg: RunConfig, runs: dict[str, dict], folds: int, seed: int, fold: int, data: str | None) -> dict:
    """The settings that point a run of `cfg` (seed, fold) at its teachers' runs of the same fold
    (they never heard the fold either; one per seed of teacher_seeds, default the run's own),
    which are added to `runs`; {} when cfg names no teacher."""
    names = teacher_names(cfg.train.distill)
    if not names:
        return {}
    resolved = []
    for tname in names:
        tpath = teacher_config(tname, data)
        for tseed in cfg.train.distill["teacher_seeds"] or [seed]:
            run = run_name(tname, None, folds, tseed, fold)
            # the teacher config as committed: none of the student's settings (its --set, its
            # init_from) reaches it, or its runs would differ per student
            tset = {"data.folds": folds, "data.fold": fold, "train.seed": tseed, "name": run, **data_overrides(data)}
            runs.setdefault(run, dict(config=str(tpath), overrides=tset, name=run))
            resolved.append(run)
    return {"train.distill.teacher": resolved, "train.distill.teacher_seeds": None}  # the run reads the names


def by_depth(runs: dict[str, dict]) -> list[list[dict]]:
    """Stages: a run that depends on nothing planned here is in stage 0, any other one stage after
    the deepest run it depends on (so a run keeps its stage in every plan it appears in)."""
    depth: dict[str, int] = {}

    def of(name: str) -> int:
        if name not in depth:
            depth[name] = 1 + max((of(u) for u in upstream(runs[name]) if u in runs), default=-1)
        return depth[name]

    stages: list[list[dict]] = [[] for _ in range(1 + max(of(n) for n in runs))]
    for name, run in runs.items():
        stages[depth[name]].append(run)
    return stages


def teacher_config(name: str, data: str | None) -> Path:
    """The committed float config a distillation teacher names, checked to train alone (no QAT,
    no init_from, no teacher of its own), so its fold runs can be trained before the student's."""
    path = find_config(name, setting="train.distill.teacher")
    teacher = RunConfig.load(path, data_overrides(data))
    if teacher.quant is not None or teacher.train.init_from or teacher.train.distill:
        raise RunConfigError(f"train.distill.teacher: {name!r} ({path}) must be a float config that trains alone "
                             "(no quant:, train.init_from or train.distill)")
    return path


def upstream(run: dict) -> list[str]:
    """The runs this one starts from (train.init_from) or distils from (its teachers)."""
    o = run["overrides"]
    return [n for n in [o.get("train.init_from"), *(o.get("train.distill.teacher") or [])] if n]


def outdated(build_dir: Path, run: dict) -> str | None:
    """The first run this one starts from or distils from that finished after this run was started
    (as make sees a target older than its prerequisite): its weights came from what that run was
    before. None when there is none, or this run never started."""
    stamp = stamp_path(build_dir / run["name"])
    if not stamp.exists():
        return None
    for name in upstream(run):
        done = build_dir / name / "metrics.json"
        if done.exists() and done.stat().st_mtime > stamp.stat().st_mtime:
            return name
    return None


def finished(build_dir: Path, run: dict) -> bool:
    stamp = stamp_path(build_dir / run["name"])
    if not (build_dir / run["name"] / "metrics.json").exists() or not stamp.exists():
        return False
    want = RunConfig.load(run["config"], run["overrides"]).to_dict()
    # read back through RunConfig: a stamp written before a setting existed gets that setting's
    # default, which by design is the behaviour of the code that wrote it
    same = RunConfig.from_dict(yaml.safe_load(stamp.read_text())).to_dict() == want
    return same and outdated(build_dir, run) is None


def to_train(stages: list[list[dict]], build_dir: Path) -> list[list[dict]]:
    """The runs of each stage that have to be trained: the unfinished ones and every run whose float
    run or teacher is trained again. Those start over (`fresh`: their checkpoints grew from the
    old weights); an interrupted run of the same upstream resumes."""
    redo: set[str] = set()
    out = []
    for stage in stages:
        todo = []
        for run in stage:
            again = any(name in redo for name in upstream(run))
            if again or not finished(build_dir, run):
                fresh = again or outdated(build_dir, run) is not None
                todo.append({**run, "fresh": True} if fresh else run)
        redo |= {run["name"] for run in todo}
        out.append(todo)
    return out


def train_one(build_dir: Path, run: dict, threads: int) -> None:
    cmd = [sys.executable, "-m", "qat.train", "--config", run["config"], "--build-dir", str(build_dir),
           "--no-progress", "--threads", str(threads)] + (["--fresh"] if run.get("fresh") else [])
    for key, value in run["overrides"].items():
        cmd += ["--set", f"{key}={json.dumps(value)}"]
    env = {**os.environ, "OMP_NUM_THREADS": str(threads), "OPENBLAS_NUM_THREADS": str(threads),
           "TF_CPP_MIN_LOG_LEVEL": "2"}
    log_file = build_dir / f"{run['name']}.log"
    with open(log_file, "w") as out:
        code = subprocess.call(cmd, stdout=out, stderr=subprocess.STDOUT, env=env)
    if code != 0:
        tail = log_file.read_text().strip().splitlines()[-1:] or ["(no output)"]
        raise RuntimeError(f"run {run['name']} failed ({tail[0]}); full log: {log_file}")


def execute(stages: list[list[dict]], build_dir: Path, jobs: int, progress: bool = True) -> None:
    from tqdm import tqdm

    build_dir.mkdir(parents=True, exist_ok=True)
    todo = to_train(stages, build_dir)
    threads = max(1, (os.cpu_count() or 1) // jobs)
    with tqdm(total=sum(map(len, todo)), desc="cv runs", unit="run", disable=not progress) as bar:
        for stage in todo:
            with ThreadPoolExecutor(jobs) as pool:
                for fut in [pool.submit(train_one, build_dir, r, threads) for r in stage]:
                    fut.result()
                    bar.update(1)


def run_at(runs: list[dict], seed: int, fold: int) -> dict:
    return next(r for r in runs if r["overrides"]["train.seed"] == seed and r["overrides"]["data.fold"] == fold)


def summarize(build_dir: Path, runs: list[dict], folds: int, seeds: list[int]) -> dict:
    """Pooled accuracy per seed (every clip once), mean ± std over seeds and over folds, recall per class."""
    scored = sorted({r["overrides"]["data.fold"] for r in runs})
    per_seed, per_fold, float_seed, cms, seconds = [], [], [], [], []
    for seed in seeds:
        cm = np.zeros((len(CLASSES), len(CLASSES)), np.int64)
        float_hits = float_total = 0
        for fold in scored:
            run = run_at(runs, seed, fold)
            m = json.loads((build_dir / run["name"] / "metrics.json").read_text())
            fold_cm = np.asarray(m["confusion_test"], np.int64)
            cm += fold_cm
            final = "quantized" if "quantized" in m["accuracy"] else "float"
            per_fold.append(m["accuracy"][final]["test"])
            n = int(fold_cm.sum())
            float_hits += m["accuracy"]["float"]["test"] * n
            float_total += n
            seconds.append(m["train_wall_seconds"])
            meta = {k: m[k] for k in ("params", "macs", "weight_memory_bits")}
        per_seed.append(float(np.trace(cm) / cm.sum()))
        float_seed.append(float(float_hits / float_total))
        cms.append(cm)
    recall = np.stack([np.diag(c) / np.maximum(c.sum(1), 1) for c in cms])
    return {"folds": folds, "scored_folds": scored, "seeds": seeds, "clips": int(cms[0].sum()),
            "accuracy_per_seed": per_seed, "accuracy_mean": float(np.mean(per_seed)),
            "accuracy_std_seeds": float(np.std(per_seed, ddof=1)) if len(seeds) > 1 else 0.0,
            "accuracy_per_fold": per_fold,  # one model (a one-fold screen, one seed) has no spread
            "accuracy_std_folds": float(np.std(per_fold, ddof=1)) if len(per_fold) > 1 else 0.0,
            "float_accuracy_per_seed": float_seed, "float_accuracy_mean": float(np.mean(float_seed)),
            "recall_mean": dict(zip(CLASSES, recall.mean(0).tolist())),
            "recall_std": dict(zip(CLASSES, recall.std(0).tolist())),
            "confusion": np.sum(cms, axis=0).tolist(), "train_seconds_mean": float(np.mean(seconds)), **meta}


def ensemble(build_dir: Path, runs: list[dict], seeds: list[int]) -> dict:
    """Each fold's clips scored by the mean of its seeds' models' softmax outputs. None of them heard
    the fold's speakers, so this is a fair CV figure too, but of len(seeds) models (that many times
    the MACs): a reference for what one model might learn (e.g. by distillation), not one model."""
    from qat.det import posteriors
    from qat.models import load_model

    hits, clips, per_fold = 0, 0, []
    for fold in sorted({r["overrides"]["data.fold"] for r in runs}):
        probs, labels = 0.0, None
        for seed in seeds:
            run = run_at(runs, seed, fold)
            vectors = np.load(build_dir / run["name"] / "test_vectors.npz")
            if labels is not None and not np.array_equal(labels, vectors["y"]):
                raise RuntimeError(f"{run['name']}: its test clips are not those of the fold's other seeds; "
                                   "re-run it (its data settings differ)")
            labels = vectors["y"]
            probs = probs + posteriors(load_model(build_dir / run["name"] / "model.h5"), vectors["x"], smooth=1)
        right = int(np.sum(np.argmax(probs, axis=1) == labels))
        hits, clips = hits + right, clips + len(labels)
        per_fold.append(right / len(labels))
    return {"seeds": seeds, "accuracy": hits / clips, "accuracy_per_fold": per_fold}


def cv_det(build_dir: Path, stages: list[list[dict]]) -> dict:
    """{"final": pooled DET of the config's runs, "float": of the float runs they started from (if any)}."""
    from qat.det import pool_det, run_det

    streams, out = {}, {}
    for label, stage in (("float", stages[0] if len(stages) > 1 else None), ("final", stages[-1])):
        if stage is not None:
            out[label] = pool_det([run_det(build_dir / r["name"], RunConfig.load(r["config"], r["overrides"]), streams)
                                   for r in stage])
    return out


def det_lines(det: dict) -> list[str]:
    def at(d):
        return " / ".join(f"{d[f'frr_at_{fa}_fa_per_hour']:.3f}" for fa in (1, 5, 20))
    first = det["final"]
    lines = ["", f"DET (`--det`): every model on a stream of its own fold's test clips over background noise, pooled: "
             f"{first['hours']:.2f} h, {first['keyword_clips']:,} keyword clips, {first['streams']} streams (det.png).", "",
             "| models | false-reject rate at 1 / 5 / 20 false alarms per hour |", "|---|---|"]
    names = {"final": "this config", "float": "the float runs it started from"}
    return lines + [f"| {names[label]} | {at(d)} |" for label, d in det.items()]


def report(name: str, s: dict, command: str) -> str:
    pm = lambda m, sd: f"{m:.2%} ± {sd:.2%}"  # noqa: E731
    part = "" if len(s["scored_folds"]) == s["folds"] else f" (screening: folds {s['scored_folds']} only)"
    lines = [f"# {name}: {s['folds']}-fold speaker-grouped cross-validation{part}, seeds {s['seeds']}", "",
             f"Command: `{command}`", "",
             f"- accuracy (every one of {s['clips']:,} clips scored once per seed): **{pm(s['accuracy_mean'], s['accuracy_std_seeds'])}** "
             f"(mean ± std over {len(s['seeds'])} seed(s)); per seed " + ", ".join(f"{a:.2%}" for a in s["accuracy_per_seed"]),
             f"- spread over the {len(s['accuracy_per_fold'])} (fold, seed) models: std {s['accuracy_std_folds']:.2%}",
             f"- the float model of the same folds: {s['float_accuracy_mean']:.2%}"]
    if "ensemble" in s:
        n = len(s["ensemble"]["seeds"])
        lines.append(f"- each fold's {n} seeds' models as one ensemble (mean of their softmax outputs; {n}x the MACs, "
                     f"a reference, not one model): **{s['ensemble']['accuracy']:.2%}**")
    lines += [f"- params {s['params']:,}, MACs {s['macs']:,}, weight memory {s['weight_memory_bits']:,} bits; "
              f"{s['train_seconds_mean']:.0f} s per run (wall, mean)", "",
              "| class | recall (mean ± std over seeds) |", "|---|---|"]
    lines += [f"| {c} | {pm(s['recall_mean'][c], s['recall_std'][c])} |" for c in CLASSES]
    if "det" in s:
        lines += det_lines(s["det"])
    return "\n".join(lines) + "\n"


def plot(name: str, s: dict, path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, (ax_r, ax_f) = plt.subplots(1, 2, figsize=(11, 4), gridspec_kw={"width_ratios": [3, 1]})
    ax_r.bar(range(len(CLASSES)), [s["recall_mean"][c] for c in CLASSES], yerr=[s["recall_std"][c] for c in CLASSES],
             color="tab:blue", capsize=3)
    ax_r.set_xticks(range(len(CLASSES)), CLASSES, rotation=45, ha="right")
    ax_r.set(ylim=(0, 1), ylabel="recall", title=f"{name}: per-class recall ({s['folds']} folds, {len(s['seeds'])} seed(s))")
    ax_f.plot(np.zeros(len(s["accuracy_per_fold"])), s["accuracy_per_fold"], "o", alpha=0.5, label="(fold, seed)")
    ax_f.errorbar([0.3], [s["accuracy_mean"]], yerr=[s["accuracy_std_seeds"]], fmt="s", color="k", capsize=4, label="pooled")
    ax_f.set(xlim=(-0.5, 0.8), xticks=[], ylabel="accuracy", title="accuracy")
    ax_f.legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(prog="python -m qat.cv", description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--config", required=True)
    ap.add_argument("--folds", type=int, default=5)
    ap.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    ap.add_argument("--data", help="extracted Speech Commands folder (default: the config's data, or $KWS_GSC_DIR)")
    ap.add_argument("--set", action="append", default=[], metavar="KEY=VALUE", help="override a setting in every run")
    ap.add_argument("--tag", help="a name for the overridden variant (required with --set)")
    ap.add_argument("--only-folds", type=int, nargs="+", help="score only these folds (a quick screen; not a CV result)")
    ap.add_argument("--jobs", type=int, default=1, help="runs at once (the cores are shared between them)")
    ap.add_argument("--build-dir", default="build/cv")
    ap.add_argument("--report-only", action="store_true", help="summarize finished runs, train nothing")
    ap.add_argument("--det", action="store_true", help="also the DET on streams of each fold's test clips, pooled (det.png)")
    ap.add_argument("--ensemble", action="store_true", help="also score each fold by the mean of its seeds' models")
    ap.add_argument("--no-progress", action="store_true")
    args = ap.parse_args(argv)
    try:
        if args.set and not args.tag:
            raise RunConfigError("--set changes the recipe: give the variant a --tag, so its runs do not mix with the config's")
        if args.jobs < 1:
            raise RunConfigError("--jobs must be >= 1")
        if args.ensemble and len(set(args.seeds)) < 2:
            raise RunConfigError(f"--ensemble averages the seeds' models: give at least two --seeds (got {args.seeds})")
        overrides = dict(parse_override(o) for o in args.set)
        if args.only_folds and not all(0 <= k < args.folds for k in args.only_folds):
            raise RunConfigError(f"--only-folds {args.only_folds}: folds are 0 .. {args.folds - 1}")
        stages = plan(Path(args.config), overrides, args.tag, args.folds, args.seeds, args.data, args.only_folds)
        build_dir = Path(args.build_dir)
        started = time.time()
        if not args.report_only:
            execute(stages, build_dir, args.jobs, progress=not args.no_progress)
        stale = [r["name"] for r in to_train(stages, build_dir)[-1]]
        if stale:  # --report-only must not pass off runs of other settings as this config's
            raise RunConfigError(f"{len(stale)} of {len(stages[-1])} runs are missing, were trained with other settings "
                                 f"or before the run they start from (first: {build_dir / stale[0]}); run without "
                                 "--report-only to train them")
        summary = summarize(build_dir, stages[-1], args.folds, args.seeds)
        if args.ensemble:
            summary["ensemble"] = ensemble(build_dir, stages[-1], args.seeds)
        if args.det:
            summary["det"] = cv_det(build_dir, stages)
    except (RunConfigError, ValueError, RuntimeError, FileNotFoundError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    name = stages[-1][0]["name"].rsplit("_s", 1)[0] + ("_f" + "".join(map(str, args.only_folds)) if args.only_folds else "")
    out = build_dir / name
    out.mkdir(parents=True, exist_ok=True)
    command = "python -m qat.cv " + " ".join(argv if argv is not None else sys.argv[1:])
    summary["command"], summary["seconds"] = command, round(time.time() - started, 1)
    (out / "cv.json").write_text(json.dumps(summary, indent=1))
    (out / "cv_report.md").write_text(report(name, summary, command))
    plot(name, summary, out / "cv.png")
    if args.det:
        from qat.det import plot_det

        plot_det({(name if label == "final" else "its float runs"): d for label, d in summary["det"].items()}, out / "det.png",
                 f"{name}: DET pooled over {summary['det']['final']['streams']} streams, {summary['det']['final']['hours']:.2f} h")
    ens = f", ensemble of the seeds {summary['ensemble']['accuracy']:.2%}" if args.ensemble else ""
    print(f"{name}: {summary['accuracy_mean']:.2%} ± {summary['accuracy_std_seeds']:.2%} over {len(args.seeds)} seed(s), "
          f"{args.folds} folds (float {summary['float_accuracy_mean']:.2%}{ens}) -> {out / 'cv_report.md'}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
