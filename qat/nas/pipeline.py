"""A search on the run's data and the training configs of what it found (used by
`python -m qat.nas`)."""

from __future__ import annotations

import json
from pathlib import Path

from qat.nas.search import SearchSettings, search
from qat.nas.supernet import mfcc_space, raw_space

REDUCED_SPACE = {"n_blocks": 2, "channels": (8, 16), "stem_channels": 16}
MODEL_OF = {"mfcc": "nas_mfcc", "raw": "nas_raw"}
Q8 = {"weight_bits": 8, "act_bits": 8, "input_bits": 8}


def model_args(found: dict) -> dict:
    """The registry model's arguments of a found net (qat/models/nas_derived.py), as plain YAML-able types."""
    return json.loads(json.dumps({"arch": found["arch"], "space": found["space"]}))


def retrain_configs(name: str, model: str, found: dict, data: dict, epochs: tuple[int, int], seed: int = 0) -> dict:
    """qat.train configs for the found architecture: float, fixed 8-bit, trained bit-widths."""
    base = {"model": model, "model_args": model_args(found), "data": data}
    fl = f"{name}_float"
    return {
        "float": {"name": fl, **base, "train": {"seed": seed, "float_epochs": epochs[0]}},
        "linear8": {"name": f"{name}_linear8", **base, "quant": Q8, "scheme": "linear",
                    "train": {"seed": seed, "qat_epochs": epochs[1], "init_from": fl}},
        "trained_bits": {"name": f"{name}_trained_bits", **base, "quant": Q8, "scheme": "trained_bits",
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
    base = {"model": found["model"], "model_args": model_args(found), "data": COMMITTED_DATA[features]}
    arch = ", ".join("skip" if op["op"] == "skip" else f"conv {op['kernel']}/{op['channels']}" for op in found["arch"])
    head = (f"# Paper C's NAS, {features} input, MAC penalty {penalty:g}: blocks {arch}; expected MACs of the "
            f"search {found['expected_macs']:,.0f}.\n# Found by `{command}` (search on the training list's "
            "speakers; data path: --data DIR or $KWS_GSC_DIR).\n")
    return {"float": (head, {"name": f"{name}_float", **base}),
            "linear8": (head.replace("# Paper", "# 8-bit linear QAT of paper", 1),
                        {"name": f"{name}_linear8", **base, "quant": Q8,
                         "train": {"qat_epochs": 20, "init_from": f"{name}_float"}})}


def search_data(features: str, data: dict, max_clips: int | None = None):
    """The training split's features (x, y) the search learns on, prepared once for every penalty."""
    from qat.run_config import RunConfig
    from qat.train import prepare_data

    cfg = RunConfig.from_dict({"name": "nas_search", "model": MODEL_OF[features], "data": data})
    x, y = prepare_data(cfg, progress=False).features["train"]
    return (x[:max_clips], y[:max_clips]) if max_clips else (x, y)


def run_search(features: str, xy, settings: SearchSettings, reduced: bool, out: Path, log=print) -> dict:
    """One search on `xy` (search_data); writes <out>/arch.json."""
    from qat.data.labels import CLASSES

    space = (mfcc_space if features == "mfcc" else raw_space)(**(REDUCED_SPACE if reduced else {}))
    found = search(space, *xy, len(CLASSES), settings, log)
    found["features"], found["model"] = features, MODEL_OF[features]
    out.mkdir(parents=True, exist_ok=True)
    (out / "arch.json").write_text(json.dumps(found, indent=1))
    return found
