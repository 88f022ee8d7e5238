"""Train a keyword-spotting model: float pre-training, then (if `quant` is set) BatchNorm
folding, power-of-two rescaling, calibration and fixed-point QAT.

    python -m qat.train --config configs/dscnn_linear8.yaml [--data DIR] [--set train.qat_epochs=5]

Writes build/<name>/: model.h5 (the QKeras model hls4ml reads), config.yaml (resolved, with
the calibrated formats), normalizer.npz, test_vectors.npz, metrics.json, report.md and PNG
plots. Interrupted runs resume from the last finished epoch (ckpt/); --fresh starts over.
"""

from __future__ import annotations

import argparse
import json
import logging
import math
import shutil
import sys
import time
import zlib
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from qat.data.labels import CLASSES
from qat.run_config import RunConfig, RunConfigError, parse_override, stamp_path
from qat.teacher import Teacher, load_teacher

log = logging.getLogger("qat.train")


@dataclass
class Prepared:
    kind: object  # qat.features.FeatureSpec: the model's kind of input and the run's data.features
    normalizer: object
    train_audio: object  # qat.data.clips.ClipAudio: int16 (on disk for cached data), read a chunk at a time
    train_labels: np.ndarray
    noises: list
    features: dict  # split -> (x, y)
    skipped: dict  # split -> number of clips that could not be read


def prepare_data(cfg: RunConfig, progress: bool = True) -> Prepared:
    """Every split's features, normalized with training-set statistics; computed a chunk of clips
    at a time (qat/data/feature_chunks.py), so memory holds the features, not the audio. The
    normalizer is fitted on every k-th training clip, at most 20k of them (all clips of a smaller
    training split, so such runs get the same statistics as the whole-split code)."""
    from qat import features
    from qat.data import feature_chunks as chunked
    from qat.dataset import background_noises, load_splits
    kind = cfg.feature_spec()
    splits = load_splits(cfg.data, progress=progress)
    for split, clips in splits.items():
        if len(clips.labels) == 0:
            raise RunConfigError(f"the {split} split is empty: check the dataset's validation/testing lists")
    train_x = chunked.clip_features(kind, splits["train"].audio)
    normalizer = features.Normalizer.fit(kind, chunked.fit_sample(train_x))
    feats = {s: (chunked.normalize_in_place(kind, normalizer, train_x) if s == "train"
                 else chunked.clip_features(kind, c.audio, normalizer), c.labels) for s, c in splits.items()}
    return Prepared(kind, normalizer, splits["train"].audio, splits["train"].labels, background_noises(cfg.data),
                    feats, {s: len(c.errors) for s, c in splits.items()})


def epoch_features(prep: Prepared, cfg: RunConfig, epoch: int, phase: str,
                   teacher: Teacher | None = None) -> tuple[np.ndarray, np.ndarray | None]:
    """Freshly augmented training features; seeded by (seed, phase, epoch) so a resume sees the same data.
    With a teacher that reads other features (qat.teacher), also its features of the same audio
    (else None).

    Computed CHUNK_CLIPS (2,048) clips at a time into one array, one random stream running
    through the chunks in order (a chunk's waveform augmentation, then its SpecAugment, then the
    next chunk). A training split of at most one chunk gets exactly the draws of the former
    whole-split code; a larger one gets other draws than that code gave for the same seed,
    still fixed by (seed, phase, epoch) and CHUNK_CLIPS."""
    from qat import features
    from qat.data.augment import augment, spec_augment
    from qat.data.feature_chunks import map_chunks

    rng = np.random.default_rng([cfg.train.seed, zlib.crc32(phase.encode()), epoch])
    sa = dict(cfg.train.spec_augment or {})
    if sa:
        step = features.frame_samples(prep.kind)  # widths are given in 20 ms frames
        sa["time_width"] = sa.get("time_width", 0) * step
    own = teacher is not None and teacher.spec is not None
    teacher_x = np.empty((len(prep.train_audio), *features.input_shape(teacher.spec)), np.float32) if own else None

    def one_chunk(audio: np.ndarray, where: slice) -> np.ndarray:
        audio = augment(audio, prep.noises, rng, labels=prep.train_labels[where], **cfg.data.augment)
        x = prep.normalizer(prep.kind, features.compute(prep.kind, audio))
        if own:
            teacher_x[where] = teacher.features(audio)
        if sa:
            spec_augment(features.time_freq_view(prep.kind, x), rng, **sa)
        return x

    return map_chunks(prep.train_audio, one_chunk, features.input_shape(prep.kind)), teacher_x


def prefetched_features(prep: Prepared, cfg: RunConfig, phase: str, first: int, end: int,
                        teacher: Teacher | None = None):
    """epoch_features of epochs first .. end-1, each computed while the caller trains on the one
    before (TensorFlow leaves a core idle part of the time); they depend only on (seed, phase,
    epoch), so computing them ahead does not change them."""
    with ThreadPoolExecutor(1) as pool:
        upcoming = pool.submit(epoch_features, prep, cfg, first, phase, teacher) if first < end else None
        for epoch in range(first, end):
            x = upcoming.result()
            if epoch + 1 < end:
                upcoming = pool.submit(epoch_features, prep, cfg, epoch + 1, phase, teacher)
            yield x


def compile_model(model, lr: float, loss=None, n_classes: int | None = None):
    """Adam; `loss` on soft targets (qat.losses.make_loss) or, by default, on integer labels."""
    import tensorflow as tf

    from qat.losses import target_accuracy

    if loss is None:
        model.compile(optimizer=tf.keras.optimizers.Adam(lr),
                      loss=tf.keras.losses.SparseCategoricalCrossentropy(from_logits=True), metrics=["accuracy"])
    else:
        model.compile(optimizer=tf.keras.optimizers.Adam(lr), loss=loss, metrics=[target_accuracy(n_classes)])


def lr_at(epoch: int, epochs: int, lr: float, warmup: int) -> float:
    """Linear warm-up over `warmup` epochs, then cosine decay over the rest."""
    if epoch < warmup:
        return lr * (epoch + 1) / (warmup + 1)
    span = max(epochs - warmup, 1)
    return lr * 0.5 * (1 + math.cos(math.pi * (epoch - warmup) / span))


def epoch_targets(x: np.ndarray, labels: np.ndarray, tc, rng: np.random.Generator, n_classes: int,
                  teacher: Teacher | None = None, teacher_x: np.ndarray | None = None) -> tuple[np.ndarray, np.ndarray]:
    """(inputs, soft targets) of one epoch: label smoothing, then mixup, then the teacher's logits
    on the very inputs the student sees (distillation); a teacher with its own features
    (`teacher_x`, the same clips) gets them blended with the same partners."""
    from qat.losses import mixup, smoothed_targets

    targets = smoothed_targets(labels, n_classes, tc.label_smoothing)
    x, targets, *mixed = mixup(x, targets, rng, tc.mixup, also=() if teacher_x is None else (teacher_x,))
    if teacher is not None:
        targets = np.concatenate([targets, teacher.logits(mixed[0] if mixed else x)], axis=1)
    return x, targets


def accuracy(model, x: np.ndarray, y: np.ndarray) -> tuple[float, np.ndarray]:
    pred = np.argmax(model.predict(x, batch_size=512, verbose=0), axis=-1)
    return float(np.mean(pred == y)) if len(y) else float("nan"), pred


def run_phase(phase: str, model, prep: Prepared, cfg: RunConfig, run_dir: Path, epochs: int, lr: float,
              progress: bool, callbacks: list | None = None, teacher=None) -> dict:
    """Train `epochs` epochs (warm-up + cosine LR, the recipe's targets and augmentation), with
    early stopping after `patience` epochs without a better validation accuracy; checkpoint every
    epoch. Ends with the best validation epoch's weights or the last ones (`train.select`)."""
    import tensorflow as tf
    from tqdm import tqdm

    from qat.losses import kernel_variables, make_loss

    ckpt_dir = run_dir / "ckpt" / phase
    ckpt_dir.mkdir(parents=True, exist_ok=True)
    state_file = ckpt_dir / "state.json"
    tc = cfg.train
    n_classes = len(CLASSES)
    d = tc.distill if teacher is not None else None
    loss = make_loss(n_classes, d["alpha"] if d else 0.0, d["temperature"] if d else 1.0, tc.weight_decay,
                     kernel_variables(model))
    compile_model(model, lr, loss, n_classes)
    checkpoint = tf.train.Checkpoint(model=model, optimizer=model.optimizer)
    state = {"epochs_done": 0, "best_val": -1.0, "best_epoch": -1, "history": {}, "early_stopped": False}
    if state_file.exists() and (ckpt_dir / "last.index").exists():
        state = json.loads(state_file.read_text())
        checkpoint.read(str(ckpt_dir / "last")).expect_partial()
        log.info("%s: resuming after epoch %d", phase, state["epochs_done"])
    x_val, y_val = prep.features["validation"]
    bar = tqdm(total=epochs, initial=state["epochs_done"], desc=f"{phase} training", unit="epoch", disable=not progress)
    features = prefetched_features(prep, cfg, phase, state["epochs_done"], epochs, teacher)
    while not state["early_stopped"] and state["epochs_done"] < epochs:
        epoch = state["epochs_done"]
        epoch_started = time.time()
        model.optimizer.learning_rate.assign(lr_at(epoch, epochs, lr, tc.warmup_epochs))
        tf.keras.utils.set_random_seed(tc.seed * 1000 + epoch)
        x, teacher_x = next(features)
        rng = np.random.default_rng([tc.seed, zlib.crc32(phase.encode()), epoch, 1])
        x, targets = epoch_targets(x, prep.train_labels, tc, rng, n_classes, teacher, teacher_x)
        # initial_epoch/epochs give callbacks (e.g. a regularizer ramp) the true epoch number.
        fit = model.fit(x, targets, batch_size=tc.batch_size, initial_epoch=epoch, epochs=epoch + 1,
                        verbose=0, shuffle=True, callbacks=callbacks or None)
        for key, values in fit.history.items():
            state["history"].setdefault(key, []).append(float(values[-1]))
        val_loss, val = validation_scores(model, x_val, y_val)
        state["history"].setdefault("val_loss", []).append(val_loss)
        state["history"].setdefault("val_accuracy", []).append(val)
        if val > state["best_val"]:
            state["best_val"], state["best_epoch"] = val, epoch
            model.save_weights(str(ckpt_dir / "best.weights.h5"))
        state["epochs_done"] = epoch + 1
        state["seconds"] = state.get("seconds", 0.0) + time.time() - epoch_started
        if tc.select == "best" and epoch - state["best_epoch"] >= tc.patience:
            state["early_stopped"] = True
        checkpoint.write(str(ckpt_dir / "last"))
        state_file.write_text(json.dumps(state))
        bar.update(1)
        bar.set_postfix(loss=f"{state['history']['loss'][-1]:.3f}", val_acc=f"{val:.3f}", best=f"{state['best_val']:.3f}")
    bar.close()
    features.close()
    if tc.select == "best" and (ckpt_dir / "best.weights.h5").exists():
        model.load_weights(str(ckpt_dir / "best.weights.h5"))
    return state


def validation_scores(model, x: np.ndarray, y: np.ndarray) -> tuple[float, float]:
    """Cross-entropy on the hard labels and accuracy (the numbers early stopping watches)."""
    logits = model.predict(x, batch_size=512, verbose=0).astype(np.float64)
    logits -= logits.max(axis=1, keepdims=True)
    log_p = logits - np.log(np.exp(logits).sum(axis=1, keepdims=True))
    return float(-log_p[np.arange(len(y)), y].mean()), float(np.mean(np.argmax(logits, 1) == y))


def train(cfg: RunConfig, build_dir: Path = Path("build"), progress: bool = True, fresh: bool = False) -> dict:
    import tensorflow as tf

    from qat import metrics as M
    from qat import schemes
    from qat.models import build_model
    from qat.schemes import QatContext

    run_dir = Path(build_dir) / cfg.name
    if fresh and run_dir.exists():
        shutil.rmtree(run_dir)
    run_dir.mkdir(parents=True, exist_ok=True)
    check_resumable(cfg, run_dir)
    teacher = load_teacher(cfg, Path(build_dir))  # before any data is loaded or epoch is run
    tf.keras.utils.set_random_seed(cfg.train.seed)
    started = time.time()
    prep = prepare_data(cfg, progress)
    shape = prep.features["train"][0].shape[1:]
    n_classes = len(CLASSES)

    float_model = build_model(cfg.model, shape, n_classes, None, **cfg.model_args)
    epoch_seconds: dict[str, float] = {}  # per phase, summed over resumed invocations
    if cfg.train.init_from:
        float_model.set_weights(load_float_run(Path(build_dir) / cfg.train.init_from, cfg).get_weights())
        history = {"float": {}}
    else:
        float_teacher = teacher if cfg.quant is None else None  # a QAT run distils its QAT phases only
        float_state = run_phase("float", float_model, prep, cfg, run_dir, cfg.train.float_epochs, cfg.train.lr,
                                progress, teacher=float_teacher)
        history = {"float": float_state["history"]}
        epoch_seconds["float"] = float_state.get("seconds", 0.0)
    results = {"float": evaluate_splits(float_model, prep)}
    final_model, quant = float_model, None

    extra, hls_precisions = {}, None
    if cfg.quant is not None:
        if cfg.train.distill is not None and teacher is None:
            teacher = Teacher(float_model)  # distil from this run's own float model
        def phase_runner(phase, model, epochs, lr, callbacks=None):
            return run_phase(phase, model, prep, cfg, run_dir, epochs, lr, progress, callbacks, teacher)

        ctx = QatContext(cfg, prep, run_dir, float_model, shape, n_classes, progress, teacher,
                         phase_runner=phase_runner, evaluator=lambda model: evaluate_splits(model, prep))
        qat = schemes.get(cfg.scheme).quantize(ctx)
        final_model, quant, extra, hls_precisions = qat.model, qat.quant, qat.extra, qat.hls_precisions
        results.update(qat.results)
        for phase in qat.history:
            state_file = run_dir / "ckpt" / phase / "state.json"
            if state_file.exists():
                epoch_seconds[phase] = json.loads(state_file.read_text()).get("seconds", 0.0)
        history.update(qat.history)
    wall = time.time() - started

    resolved = RunConfig.from_dict({**cfg.to_dict(), "quant": quant.to_dict() if quant else None})
    resolved.save(run_dir / "config.yaml")
    final_model.save(run_dir / "model.h5", include_optimizer=False)
    prep.normalizer.save(run_dir / "normalizer.npz")
    if hls_precisions:
        (run_dir / "hls_precisions.json").write_text(json.dumps(hls_precisions, indent=1))
    x_test, y_test = prep.features["test"]
    np.savez(run_dir / "test_vectors.npz", x=x_test, y=y_test)

    final_key = "quantized" if quant else "float"
    cost = M.model_cost(final_model, quant)
    cm = M.confusion(*results[final_key]["test"].pop("labels_predicted"))
    for phase in results.values():
        for split in phase.values():
            split.pop("labels_predicted", None)
    out = {
        "run": cfg.name, "model": cfg.model, "data": cfg.data.source, "classes": list(CLASSES),
        "accuracy": {phase: {s: v["accuracy"] for s, v in r.items()} for phase, r in results.items()},
        "clips": {s: int(len(y)) for s, (_, y) in prep.features.items()},
        "skipped_clips": prep.skipped,
        "params": cost["params"], "macs": cost["macs"], "weight_memory_bits": cost["weight_memory_bits"],
        "layers": cost["layers"], "confusion_test": cm.tolist(),
        "epochs": {phase: len(h.get("loss", [])) for phase, h in history.items()},
        "train_wall_seconds": round(wall, 1), "epoch_seconds": {k: round(v, 1) for k, v in epoch_seconds.items()}, "scheme": cfg.scheme if quant else None, **extra,
        "history": history,
    }
    (run_dir / "metrics.json").write_text(json.dumps(out, indent=1))
    M.plot_history(history, run_dir / "training_curves.png")
    M.plot_confusion(cm, run_dir / "confusion_test.png", f"{cfg.name}: test, {out['accuracy'][final_key]['test']:.1%}")
    (run_dir / "report.md").write_text(report(out))
    return out


def check_resumable(cfg: RunConfig, run_dir: Path) -> None:
    """Checkpoints in run_dir must come from the same model, data and quantization settings.

    Epoch counts and patience may change (that is how a run is extended); anything else would
    resume from weights of another network.
    """
    import yaml

    def identity(c: RunConfig) -> dict:
        d = c.to_dict()
        d["train"] = {k: v for k, v in d["train"].items() if k not in ("float_epochs", "qat_epochs", "patience")}
        d.pop("hls", None)
        d.pop("stream", None)  # the detector behind the network: no part of the weights
        return d

    stamp = stamp_path(run_dir)
    if stamp.exists():
        before = RunConfig.from_dict(yaml.safe_load(stamp.read_text()))
        if identity(before) != identity(cfg):
            raise RunConfigError(f"{run_dir} holds checkpoints of another configuration (see {stamp}); "
                                 "rerun with --fresh to start over, or give this run another name")
    stamp.parent.mkdir(parents=True, exist_ok=True)
    cfg.save(stamp)


def load_float_run(run_dir: Path, cfg: RunConfig):
    """The float model of an earlier run, checked to be the same model and data as this one."""
    from qat.models import load_model

    if not (run_dir / "model.h5").exists():
        raise RunConfigError(f"train.init_from: {run_dir}/model.h5 not found; train that float run first")
    other = RunConfig.load(run_dir / "config.yaml")
    if other.quant is not None:
        raise RunConfigError(f"train.init_from: {run_dir} is a quantized run; name a float run (quant: null)")
    if not cfg.can_start_from(other):
        raise RunConfigError(f"train.init_from: {run_dir} used another model or data setting than this run")
    return load_model(run_dir / "model.h5")


def evaluate_splits(model, prep: Prepared) -> dict:
    out = {}
    for split, (x, y) in prep.features.items():
        if split == "train":
            continue
        acc, pred = accuracy(model, x, y)
        out[split] = {"accuracy": acc, "labels_predicted": (y, pred)}
    return out


def report(m: dict) -> str:
    lines = [f"# {m['run']}: {m['model']} on {m['data']} data", "",
             "| phase | " + " | ".join(s for s in next(iter(m["accuracy"].values()))) + " |",
             "|---|" + "---|" * len(next(iter(m["accuracy"].values())))]
    for phase, accs in m["accuracy"].items():
        lines.append(f"| {phase} | " + " | ".join(f"{v:.2%}" for v in accs.values()) + " |")
    lines += ["", f"- clips: {m['clips']} (unreadable, skipped: {m['skipped_clips']})",
              f"- parameters: {m['params']:,}; MACs per inference: {m['macs']:,}; weight memory: "
              f"{m['weight_memory_bits']:,} bits ({m['weight_memory_bits'] / 8192:.1f} KiB)",
              f"- epochs: {m['epochs']}; seconds spent in epochs per phase {m.get('epoch_seconds')}; "
              f"this invocation took {m['train_wall_seconds']} s (less when it resumed finished phases)",
              "- `ptq` = the folded, calibrated fixed-point model before any QAT epoch (rounding alone).", ""]
    return "\n".join(lines)


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(prog="python -m qat.train", description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--config", required=True, help="run config YAML (see configs/)")
    ap.add_argument("--data", help="extracted Speech Commands folder: sets data.source=gsc, data.path=DIR")
    ap.add_argument("--set", action="append", default=[], metavar="KEY=VALUE", help="override a setting, e.g. train.qat_epochs=5")
    ap.add_argument("--build-dir", default="build")
    ap.add_argument("--fresh", action="store_true", help="discard checkpoints of an earlier run with this name")
    ap.add_argument("--no-progress", action="store_true")
    ap.add_argument("--threads", type=int, default=0, help="TensorFlow threads per op (0: all cores)")
    args = ap.parse_args(argv)
    if args.threads > 0:
        import tensorflow as tf

        tf.config.threading.set_intra_op_parallelism_threads(args.threads)
        tf.config.threading.set_inter_op_parallelism_threads(args.threads)
    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(name)s: %(message)s")
    try:
        overrides = dict(parse_override(o) for o in args.set)
        if args.data:
            overrides.update({"data.source": "gsc", "data.path": args.data})
        cfg = RunConfig.load(args.config, overrides)
        result = train(cfg, Path(args.build_dir), progress=not args.no_progress, fresh=args.fresh)
    except (RunConfigError, ValueError, RuntimeError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    print((Path(args.build_dir) / cfg.name / "report.md").read_text())
    return 0


if __name__ == "__main__":
    sys.exit(main())
