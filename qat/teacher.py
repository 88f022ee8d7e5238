"""Distillation teachers (`train.distill`): the model whose logits a run learns from, and what it reads.

A teacher that reads the student's input gets the student's features. A named teacher may read
other features (a DS-CNN on MFCCs teaching the streaming FFN on log-mel): it then gets its own
features of the very clips the student sees that epoch (the same augmented audio, the same mixup
partners), normalized with its own run's statistics. SpecAugment masks only the student's copy.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

from qat.data.labels import CLASSES
from qat.run_config import RunConfig, RunConfigError, teacher_names


@dataclass
class Teacher:
    model: object  # a Keras model; an ensemble is one model giving the mean of its members' logits
    spec: object = None  # qat.features.FeatureSpec it reads; None: the student's input
    normalizer: object = None  # its run's normalizer (with spec)

    def features(self, audio: np.ndarray) -> np.ndarray:
        """Its own normalized features of float32 audio (only for a teacher with a spec)."""
        from qat import features

        return self.normalizer(self.spec, features.compute(self.spec, audio))

    def logits(self, x: np.ndarray) -> np.ndarray:
        return self.model.predict(x, batch_size=512, verbose=0).astype(np.float32)


def load_teacher(cfg: RunConfig, build_dir: Path) -> Teacher | None:
    """The teacher named by train.distill.teacher (several names: an ensemble), loaded and checked
    before any data is read; None: no distillation, or a QAT run's own float model."""
    from qat import features
    from qat.models import average_logits, load_model

    d = cfg.train.distill
    if d is None:
        return None
    names = teacher_names(d)
    if d["teacher_seeds"] is not None:
        raise RunConfigError("train.distill.teacher_seeds picks the teacher's fold runs in cross-validation (qat.cv, "
                             "make cv, make experiments); a single run distils from the runs named in "
                             "train.distill.teacher: list them there")
    if not names:
        if cfg.quant is None:
            raise RunConfigError("train.distill: a float run (no `quant:` section) distils from a named teacher; "
                                 "set train.distill.teacher to a finished float run")
        return None
    student = cfg.feature_spec()
    models, specs, normalizers = [], [], []
    for name in names:
        run_dir = build_dir / name
        path = run_dir / "model.h5"
        if not path.exists():
            own = " or set teacher: null (its own float model)" if cfg.quant is not None else ""
            raise RunConfigError(f"train.distill.teacher: {path} not found; train that run first{own}")
        model = load_model(path)
        spec = _run_spec(run_dir)
        want = tuple(features.input_shape(spec or student))
        have = tuple(model.input_shape[1:])
        if have != want or model.output_shape[-1] != len(CLASSES):
            expected = (f"its run's config.yaml says it reads {spec.kind} features of shape {want}" if spec else
                        f"this run's model reads {want} (a teacher reading other features needs its run's "
                        "config.yaml and normalizer.npz)")
            raise RunConfigError(f"train.distill.teacher: {path} reads {have} and gives {model.output_shape[-1]} "
                                 f"classes, where {expected} and {len(CLASSES)} classes are needed")
        models.append(model)
        specs.append(spec if spec not in (None, student) else None)
        normalizers.append(features.Normalizer.load(run_dir / "normalizer.npz") if specs[-1] else None)
    if len(set(specs)) > 1 or specs[0] and any(not _same(normalizers[0], n) for n in normalizers):
        raise RunConfigError(f"train.distill.teacher: the ensemble {names} mixes features or normalizations "
                             "(its members must read one input); name runs of one config and fold")
    model = models[0] if len(models) == 1 else average_logits(models)
    return Teacher(model, specs[0], normalizers[0])


def _run_spec(run_dir: Path):
    """The features a finished run's model reads (from its config.yaml and normalizer.npz), or None
    when the run does not record them: it must then read the student's input."""
    if not (run_dir / "config.yaml").exists() or not (run_dir / "normalizer.npz").exists():
        return None
    return RunConfig.load(run_dir / "config.yaml").feature_spec()


def _same(a, b) -> bool:
    return a.mean.shape == b.mean.shape and np.allclose(a.mean, b.mean) and np.allclose(a.std, b.std)
