"""python -m qat.nas: search an architecture, write arch.json and retraining configs (see search.py)."""

from __future__ import annotations

import argparse
import json
import logging
import sys
from pathlib import Path

import yaml

from qat.nas.pipeline import committed_configs, penalty_tag, retrain_configs, run_search, search_data
from qat.nas.search import SearchSettings

def main(argv=None) -> int:
    ap = argparse.ArgumentParser(prog="python -m qat.nas", description=__doc__)
    ap.add_argument("--features", choices=("mfcc", "raw"), required=True)
    ap.add_argument("--data", help="extracted Speech Commands folder (default synthetic)")
    ap.add_argument("--mac-penalty", type=float, nargs="+", default=[0.3],
                    help="one search per value (several: points of an accuracy-vs-MACs Pareto front)")
    ap.add_argument("--epochs", type=int, default=8)
    ap.add_argument("--reduced", action="store_true", help="small space, for a quick check")
    ap.add_argument("--out", help="output folder (default build/nas_<features>; with several penalties "
                                  "one <features>_p<penalty> folder each in it, default build/nas)")
    ap.add_argument("--configs", help="also write float + 8-bit QAT run configs of each found net into this "
                                      "folder (e.g. configs/nas, to commit and cross-validate by a sweep)")
    ap.add_argument("--retrain", action="store_true", help="then train float, linear8 and trained_bits models of it")
    ap.add_argument("--retrain-epochs", default="20,10", help="FLOAT,QAT epochs of the retraining")
    args = ap.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    data = {"source": "gsc", "path": args.data} if args.data else {"source": "synthetic"}
    several = len(args.mac_penalty) > 1
    try:
        settings = [SearchSettings(epochs=args.epochs, mac_penalty=p, warmup_epochs=min(1, args.epochs - 1))
                    for p in args.mac_penalty]  # every value checked before the first search
        if args.configs and not args.data:
            raise ValueError("--configs writes Speech Commands configs: give the search --data DIR")
        if several and args.retrain:
            raise ValueError("--retrain takes one --mac-penalty; cross-validate several with --configs and a sweep")
    except ValueError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    command = "python -m qat.nas " + " ".join(argv if argv is not None else sys.argv[1:])
    if args.data:  # the configs name the data by the variable their runs read, not this machine's path
        command = command.replace(args.data, "$KWS_GSC_DIR")
    try:
        xy = search_data(args.features, data)
    except ValueError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    root = Path(args.out or ("build/nas" if several else f"build/nas_{args.features}"))
    for s in settings:
        out = root / f"{args.features}_{penalty_tag(s.mac_penalty)}" if several else root
        found = run_search(args.features, xy, s, args.reduced, out)
        print(json.dumps({"mac_penalty": s.mac_penalty, "arch": found["arch"], "expected_macs": found["expected_macs"]}))
        epochs = tuple(int(e) for e in args.retrain_epochs.split(","))
        configs = retrain_configs(out.name, found["model"], found, data, epochs)
        for key, cfg in configs.items():
            (out / f"{key}.yaml").write_text(yaml.safe_dump(cfg, sort_keys=False))
        if args.configs:
            Path(args.configs).mkdir(parents=True, exist_ok=True)
            for head, cfg in committed_configs(args.features, s.mac_penalty, found, command.strip()).values():
                (Path(args.configs) / f"{cfg['name'].removeprefix('gsc_')}.yaml").write_text(
                    head + yaml.safe_dump(cfg, sort_keys=False, default_flow_style=None))
        if args.retrain:
            from qat.run_config import RunConfig
            from qat.train import train

            for key in ("float", "linear8", "trained_bits"):
                m = train(RunConfig.from_dict(configs[key]), out.parent, progress=False)
                print(key, m["accuracy"], m.get("avg_weight_bits"), m.get("avg_activation_bits"))
    return 0


if __name__ == "__main__":
    sys.exit(main())
