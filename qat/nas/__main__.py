"""python -m qat.nas: search an architecture, write arch.json and retraining configs (see search.py)."""

from __future__ import annotations

import argparse
import json
import logging
import sys
from pathlib import Path

import yaml

from qat.nas.pipeline import retrain_configs, run_search
from qat.nas.search import SearchSettings

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
