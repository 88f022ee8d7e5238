"""DET numbers of a saved streaming run on a stream built from its test split (paper B); kept in
the run's det.json, so a finished run is scored once."""

from __future__ import annotations

import json
from pathlib import Path


def run_det(run_dir: Path, cfg, stream_cache: dict) -> dict:
    """DET numbers for a saved streaming run, on one stream per data setting built from its test split."""
    cached = run_dir / "det.json"
    if cached.exists() and cached.stat().st_mtime >= (run_dir / "metrics.json").stat().st_mtime:  # not a retrained run's
        return json.loads((run_dir / "det.json").read_text())
    from qat import det
    from qat.dataset import background_noises, load_splits
    from qat.features import Normalizer
    from qat.quantizers import custom_objects
    import tensorflow as tf

    key = json.dumps(cfg.data.to_dict(), sort_keys=True)
    if key not in stream_cache:
        test = load_splits(cfg.data, progress=False, splits=("test",))["test"]
        stream_cache[key] = det.build_stream(test.audio, test.labels, background_noises(cfg.data), seed=0)
    model = tf.keras.models.load_model(run_dir / "model.h5", custom_objects=custom_objects(), compile=False)
    out = det.evaluate_model(model, cfg.feature_spec(), Normalizer.load(run_dir / "normalizer.npz"), stream_cache[key])
    (run_dir / "det.json").write_text(json.dumps(out, indent=1))
    return out
