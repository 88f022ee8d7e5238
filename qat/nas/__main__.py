"""python -m qat.nas: search an architecture, write arch.json and retraining configs (see search.py)."""

from __future__ import annotations

import argparse
import json
import logging
import sys
from pathlib import Path

import yaml

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
                         "scheme_args": {"weight_lambda": 0.05, "act_lambda": 0.02},
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


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(prog="python -m qat.nas", description=__doc__)
    ap.add_argument("--features", choices=("mfcc", "raw"), required=True)
    ap.add_argument("--data", help="extracted Speech Commands folder (default synthetic)")
    ap.add_argument("--mac-penalty", type=float, default=0.3)
    ap.add_argument("--epochs", type=int, default=8)
    ap.add_argument("--reduced", action="store_true", help="small space, for a quick check")
    ap.add_argument("--out", help="output folder (default build/nas_<features>)")
    ap.add_argument("--retrain", action="store_true", help="then train float, linear8 and trained_bits models of it")
    ap.add_argument("--retrain-epochs", default="20,10", help="FLOAT,QAT epochs of the retraining")
    args = ap.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    out = Path(args.out or f"build/nas_{args.features}")
    data = {"source": "gsc", "path": args.data} if args.data else {"source": "synthetic"}
    try:
        settings = SearchSettings(epochs=args.epochs, mac_penalty=args.mac_penalty, warmup_epochs=min(1, args.epochs - 1))
        found = run_search(args.features, data, settings, args.reduced, out)
    except ValueError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    print(json.dumps({"arch": found["arch"], "expected_macs": found["expected_macs"]}, indent=1))
    epochs = tuple(int(e) for e in args.retrain_epochs.split(","))
    configs = retrain_configs(out.name, found["model"], found, data, epochs)
    for key, cfg in configs.items():
        (out / f"{key}.yaml").write_text(yaml.safe_dump(cfg, sort_keys=False))
    if args.retrain:
        from qat.run_config import RunConfig
        from qat.train import train

        for key in ("float", "linear8", "trained_bits"):
            m = train(RunConfig.from_dict(configs[key]), out.parent, progress=False)
            print(key, m["accuracy"], m.get("avg_weight_bits"), m.get("avg_activation_bits"))
    return 0


if __name__ == "__main__":
    sys.exit(main())
