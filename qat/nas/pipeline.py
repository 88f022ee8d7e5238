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


# what the committed configs of a found architecture train with: the recipe of the hand-made model on
# the same input (configs/gsc/dscnn_* for MFCC: speed perturbation; configs/gsc/rawcnn_* for raw)
COMMITTED_DATA = {"mfcc": {"source": "gsc", "augment": {"speed": 0.15}}, "raw": {"source": "gsc"}}


def penalty_tag(penalty: float) -> str:
    """p0, p0.3, p3: the MAC penalty in a config name."""
    return "p" + f"{penalty:g}"


def committed_configs(features: str, penalty: float, found: dict, command: str) -> dict[str, tuple[str, dict]]:
    """Run configs for configs/nas/ of what a search found: float (the recipe's defaults) and its
    8-bit linear QAT (as configs/gsc/*_linear8.yaml), cross-validated like any other config.
    Returns key -> (header comment, config)."""
    name = f"gsc_nas_{features}_{penalty_tag(penalty)}"
    model_args = json.loads(json.dumps({"arch": found["arch"], "space": found["space"]}))
    base = {"model": found["model"], "model_args": model_args, "data": COMMITTED_DATA[features]}
    arch = ", ".join("skip" if op["op"] == "skip" else f"conv {op['kernel']}/{op['channels']}" for op in found["arch"])
    head = (f"# Paper C's NAS, {features} input, MAC penalty {penalty:g}: blocks {arch}; expected MACs of the "
            f"search {found['expected_macs']:,.0f}.\n# Found by `{command}` (search on the training list's "
            "speakers; data path: --data DIR or $KWS_GSC_DIR).\n")
    q8 = {"weight_bits": 8, "act_bits": 8, "input_bits": 8}
    return {"float": (head, {"name": f"{name}_float", **base}),
            "linear8": (head.replace("# Paper", "# 8-bit linear QAT of paper", 1),
                        {"name": f"{name}_linear8", **base, "quant": q8,
                         "train": {"qat_epochs": 20, "init_from": f"{name}_float"}})}


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
