"""A search on the run's data and the training configs of what it found (used by
`python -m qat.nas` and by the experiment grid)."""

from __future__ import annotations

import json
from pathlib import Path

from qat.nas.search import SearchSettings, search
from qat.nas.supernet import mfcc_space, raw_space

REDUCED_SPACE = {"n_blocks": 2, "channels": (8, 16), "stem_channels": 16}


def retrain_configs(name: str, model: str, found: dict, data: dict, epochs: tuple[int, int], seed: int = 0) -> dict:
    """qat.train configs for the found architecture: float, fixed 8-bit, trained bit-widths."""
    model_args = json.loads(json.dumps({"arch": found["arch"], "space": found["space"]}))  # plain YAML-able types
    base = {"model": model, "model_args": model_args, "data": data}
    fl = f"{name}_float"
    q8 = {"weight_bits": 8, "act_bits": 8, "input_bits": 8}
    return {
        "float": {"name": fl, **base, "train": {"seed": seed, "float_epochs": epochs[0]}},
        "linear8": {"name": f"{name}_linear8", **base, "quant": q8, "scheme": "linear",
                    "train": {"seed": seed, "qat_epochs": epochs[1], "init_from": fl}},
        "trained_bits": {"name": f"{name}_trained_bits", **base, "quant": q8, "scheme": "trained_bits",
                         "scheme_args": {},  # the scheme's defaults (bit targets)
                         "train": {"seed": seed, "qat_epochs": epochs[1], "init_from": fl}},
    }


def run_search(features: str, data: dict, settings: SearchSettings, reduced: bool, out: Path, log=print,
               max_clips: int | None = None) -> dict:
    from qat.data.labels import CLASSES
    from qat.run_config import RunConfig
    from qat.train import prepare_data

    model = {"mfcc": "nas_mfcc", "raw": "nas_raw"}[features]
    cfg = RunConfig.from_dict({"name": "nas_search", "model": model, "data": data})
    prep = prepare_data(cfg, progress=False)
    x, y = prep.features["train"]
    if max_clips:
        x, y = x[:max_clips], y[:max_clips]
    space = (mfcc_space if features == "mfcc" else raw_space)(**(REDUCED_SPACE if reduced else {}))
    found = search(space, x, y, len(CLASSES), settings, log)
    found["features"], found["model"] = features, model
    out.mkdir(parents=True, exist_ok=True)
    (out / "arch.json").write_text(json.dumps(found, indent=1))
    return found
