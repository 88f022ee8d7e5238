"""Held-out Speech Commands test clips as normalized features (shared by the residual-net tests),
and the trained runs (`make train-gsc`, folders build/<run>/) the real-model checks use when present."""

from functools import lru_cache

import numpy as np
import pytest

REAL_RUNS = ["gsc_dscnn_linear8", "gsc_dscnn_linear4", "gsc_ffn_linear8", "gsc_ffn_linear4",
             "gsc_ffn_frames_linear8", "gsc_ffn_frames_linear4",
             "gsc_rawcnn_linear8", "gsc_rawcnn_linear4", "gsc_tcresnet_linear8", "gsc_tcresnet_linear4"]


@lru_cache(maxsize=4)
def _real_features(kind: str, n: int) -> np.ndarray:
    from qat.dataset import DataConfig, load_splits
    from qat.features import Normalizer, compute
    from tests.conftest import gsc_dir

    splits = ("test", "validation", "train")  # the testing list first; beyond it, other real recordings
    clips = load_splits(DataConfig(source="gsc", path=str(gsc_dir())), progress=False, splits=splits)
    feats = compute(kind, np.concatenate([clips[s].audio for s in splits])[:n])
    return Normalizer.fit(kind, feats)(kind, feats).astype(np.float32)


def real_features(kind: str = "mfcc", n: int = 200) -> np.ndarray:
    """The first n clips' features (the testing list's 469, then validation and training clips),
    normalized (skips the test when the data is missing)."""
    from tests.conftest import gsc_dir

    if gsc_dir() is None:
        pytest.skip("Speech Commands data not found (set KWS_GSC_DIR)")
    x = _real_features(kind, n)
    assert len(x) == n, f"only {len(x)} clips"
    return x
