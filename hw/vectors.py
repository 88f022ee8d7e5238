"""Real input vectors for a trained run: the one place the hardware side gets its test inputs.

A run folder ``build/<run>/`` holds the model, its ``config.yaml`` and the ``normalizer.npz``
fitted on its training split. ``run_vectors`` recomputes the normalized features of the run's
dataset exactly as training did (``qat.features.compute`` + the run's normalizer):

* ``split="all"``: test, validation and train splits, in that order (thousands of real clips;
  the test split alone is often only a few hundred);
* ``split="test"``: the test split only: ``test_vectors.npz`` saved by training if present,
  else recomputed.

The data location comes from the run config (``data.path``) or ``$KWS_GSC_DIR``; it is never
hard-coded here.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

SPLITS = ("all", "test")
_ORDER = ("test", "validation", "train")


class VectorsError(RuntimeError):
    """Real vectors cannot be made for a run (missing files or data)."""


@dataclass
class Vectors:
    x: np.ndarray  # normalized float32 features, batch first, the model's input shape
    y: np.ndarray  # integer labels
    description: str

    def __len__(self) -> int:
        return len(self.x)


def run_config(run_dir):
    """The run's ``qat.run_config.RunConfig`` (ignoring the hardware-only ``hls:`` section)."""
    import yaml

    from qat.run_config import RunConfig

    path = Path(run_dir) / "config.yaml"
    if not path.exists():
        raise VectorsError(f"{path} not found: not a training run folder")
    data = yaml.safe_load(path.read_text()) or {}
    data.pop("hls", None)
    return RunConfig.from_dict(data)


def run_vectors(run_dir, split: str = "all", n: int | None = None, progress: bool = False) -> Vectors:
    """Normalized features (and labels) of a run's dataset; at most ``n`` vectors (first ones)."""
    if split not in SPLITS:
        raise ValueError(f"split {split!r}: use one of {SPLITS}")
    run_dir = Path(run_dir)
    saved = run_dir / "test_vectors.npz"
    if split == "test" and saved.exists():
        with np.load(saved) as d:
            missing = [k for k in ("x", "y") if k not in d.files]
            if missing:
                raise VectorsError(f"{saved} holds {sorted(d.files)}, not {missing}: it needs features 'x' and labels "
                                   "'y' (np.savez(path, x=..., y=...)); for inputs without labels use "
                                   "kwsflow hw MODEL.h5 --inputs X.npy")
            x, y = d["x"], d["y"]
        return _take(x, y, n, f"the test split saved by training ({saved})")

    from qat import dataset, features
    from qat.data.feature_chunks import clip_features
    cfg = run_config(run_dir)
    norm_path = run_dir / "normalizer.npz"
    if not norm_path.exists():
        raise VectorsError(f"{norm_path} not found: the run's feature normalizer is needed")
    kind = cfg.feature_spec()  # the model's kind of input with the run's data.features
    normalizer = features.Normalizer.load(norm_path)
    wanted = ("test",) if split == "test" else _ORDER
    try:
        clips = dataset.load_splits(cfg.data, progress=progress, splits=tuple(s for s in _ORDER if s in wanted))
    except (dataset.DataConfigError, FileNotFoundError, OSError) as exc:
        raise VectorsError(f"cannot load the {cfg.data.source!r} data of {run_dir}: {exc} "
                           "(set KWS_GSC_DIR, or use the test split saved by training: --split test)") from exc
    xs, ys, counts = [], [], []
    budget = n
    for name in wanted:
        audio, labels = clips[name].audio, clips[name].labels
        if budget is not None:
            audio, labels = audio[:budget], labels[:budget]
            budget -= len(audio)
        if len(audio):
            xs.append(clip_features(kind, audio, normalizer))  # a chunk of audio at a time
            ys.append(np.asarray(labels))
        counts.append(f"{name} {len(audio)}")
        if budget is not None and budget <= 0:
            break
    x, y = np.concatenate(xs), np.concatenate(ys)
    return Vectors(x.astype(np.float32), y, f"{len(x)} real {kind.kind} vectors of the {cfg.data.source} data ({', '.join(counts)})")


def _take(x, y, n, what) -> Vectors:
    x, y = (x[:n], y[:n]) if n is not None else (x, y)
    return Vectors(np.asarray(x, dtype=np.float32), np.asarray(y), f"{len(x)} real vectors from {what}")
