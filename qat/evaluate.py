"""Evaluate a trained run on any supported dataset layout.

    python -m qat.evaluate --run build/dscnn_linear8                     # its own test split
    python -m qat.evaluate --run build/dscnn_linear8 --data DIR          # raw archive: its testing list
    python -m qat.evaluate --run build/dscnn_linear8 --data TESTSET_DIR  # official 12-class test set

Prints accuracy and per-class recall; writes build/<run>/eval_<dataset>.json and a confusion PNG.
"""

from __future__ import annotations

import argparse
import json
import logging
import sys
from pathlib import Path

import numpy as np

from qat.data.labels import CLASSES


def evaluate(run_dir: Path, data: str | None = None, split: str = "test", progress: bool = True) -> dict:
    from qat import features
    from qat.data.feature_chunks import clip_features
    from qat.data.speech_commands import is_test_set_layout
    from qat.dataset import DataConfig, load_splits, load_test_set
    from qat.metrics import confusion, plot_confusion
    from qat.models import load_model
    from qat.run_config import RunConfig

    run_dir = Path(run_dir)
    if not (run_dir / "model.h5").exists():
        raise FileNotFoundError(f"{run_dir}/model.h5 not found: train the run first (python -m qat.train)")
    cfg = RunConfig.load(run_dir / "config.yaml")
    if data and is_test_set_layout(data):
        clips, name = load_test_set(data, progress), f"official_test_{Path(data).name}"
    else:
        data_cfg = DataConfig(**{**cfg.data.to_dict(), **({"source": "gsc", "path": data} if data else {})})
        clips, name = load_splits(data_cfg, progress, splits=(split,))[split], f"{data_cfg.source}_{split}"
    kind = cfg.feature_spec()
    # chunk by chunk: the official archive's audio need not fit in memory as float32 (feature_chunks)
    x = clip_features(kind, clips.audio, features.Normalizer.load(run_dir / "normalizer.npz"))
    model = load_model(run_dir / "model.h5")
    pred = np.argmax(model.predict(x, batch_size=512, verbose=0), axis=-1)
    cm = confusion(clips.labels, pred)
    result = {
        "run": cfg.name, "dataset": name, "clips": int(len(pred)), "skipped_clips": len(clips.errors),
        "accuracy": float(np.mean(pred == clips.labels)),
        "recall": {c: float(cm[i, i] / cm[i].sum()) if cm[i].sum() else None for i, c in enumerate(CLASSES)},
        "confusion": cm.tolist(),
    }
    (run_dir / f"eval_{name}.json").write_text(json.dumps(result, indent=1))
    plot_confusion(cm, run_dir / f"eval_{name}_confusion.png", f"{cfg.name} on {name}: {result['accuracy']:.1%}")
    return result


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(prog="python -m qat.evaluate", description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--run", required=True, help="a run folder, e.g. build/dscnn_linear8")
    ap.add_argument("--data", help="Speech Commands archive folder or official test-set folder")
    ap.add_argument("--split", default="test", choices=("train", "validation", "test"))
    ap.add_argument("--no-progress", action="store_true")
    args = ap.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(name)s: %(message)s")
    try:
        r = evaluate(Path(args.run), args.data, args.split, progress=not args.no_progress)
    except (ValueError, FileNotFoundError, RuntimeError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    print(f"{r['run']} on {r['dataset']}: {r['accuracy']:.2%} of {r['clips']} clips"
          + (f" ({r['skipped_clips']} unreadable clips skipped)" if r["skipped_clips"] else ""))
    for cls, rec in r["recall"].items():
        print(f"  {cls:>10}: {'-' if rec is None else f'{rec:.1%}'}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
