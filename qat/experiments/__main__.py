"""`python -m qat.experiments`: train what the grid lists, tabulate and plot (the grid and its options:
qat/experiments/__init__.py)."""

from __future__ import annotations

import argparse
import fnmatch
import json
import logging
import os
import sys
import time
from pathlib import Path

from qat.experiments.det_run import run_det
from qat.experiments.grid import grid, nas_specs, run_config
from qat.experiments.plots import plot_det_curves
from qat.experiments.results import kernel_entropy, row, write_outputs

log = logging.getLogger("qat.experiments")

def main(argv=None) -> int:
    import qat.experiments

    ap = argparse.ArgumentParser(prog="python -m qat.experiments", description=qat.experiments.__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--data", help="extracted Speech Commands folder (default: synthetic data)")
    ap.add_argument("--gsc", action="store_true", help="real data from $KWS_GSC_DIR")
    ap.add_argument("--full", action="store_true", help="full epochs and three seeds (hours)")
    ap.add_argument("--only", help="run names matching this glob (floats they start from are added)")
    ap.add_argument("--build-dir", default="build/experiments")
    ap.add_argument("--epochs", help="FLOAT,QAT[,SEARCH] epochs instead of the grid's (e.g. 1,1,1 for a smoke test)")
    ap.add_argument("--fresh", action="store_true", help="re-run runs that already have metrics.json")
    ap.add_argument("--report-only", action="store_true",
                    help="no training: tabulate the runs that have finished (also under --runs-from folders)")
    ap.add_argument("--runs-from", nargs="*", default=[], metavar="DIR",
                    help="with --report-only: more <build-dir>/runs folders to take finished runs from")
    args = ap.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    from qat.run_config import RunConfigError
    from qat.train import train

    if args.data:
        data = {"source": "gsc", "path": str(args.data)}
    elif args.gsc:
        if not os.environ.get("KWS_GSC_DIR"):
            print("error: --gsc needs $KWS_GSC_DIR", file=sys.stderr)
            return 2
        data = {"source": "gsc"}
    else:
        data = {"source": "synthetic"}
    epochs = tuple(int(e) for e in args.epochs.split(",")) if args.epochs else None
    specs = grid(args.full, epochs)
    if args.only:
        wanted = {s["name"] for s in specs if fnmatch.fnmatch(s["name"], args.only)}
        wanted |= {s["init_from"] for s in specs if s["name"] in wanted and s.get("init_from")}
        specs = [s for s in specs if s["name"] in wanted]
    out_dir = Path(args.build_dir)
    runs_dir = out_dir / "runs"
    runs_dir.mkdir(parents=True, exist_ok=True)
    try:
        configs = [None if s.get("nas") else run_config(s, data) for s in specs]  # checked before any training
    except (RunConfigError, ValueError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    if args.report_only:  # link finished runs of other build dirs (parallel or partial grids) into this one
        for other in map(Path, args.runs_from):
            for run in other.glob("*"):
                done = (run / "metrics.json").exists() or (run / "arch.json").exists()
                if done and not (runs_dir / run.name).exists():
                    (runs_dir / run.name).symlink_to(run.resolve())
    rows, streams, dets, started = [], {}, {}, time.time()
    queue = list(zip(specs, configs))
    while queue:
        spec, cfg = queue.pop(0)
        if spec.get("nas"):
            if args.report_only and not (runs_dir / spec["name"] / "arch.json").exists():
                continue
            queue = nas_specs(spec, data, runs_dir, args.fresh) + queue
            continue
        metrics_file = runs_dir / cfg.name / "metrics.json"
        if args.report_only and not metrics_file.exists():
            log.info("not finished, left out: %s", cfg.name)
            continue
        if args.fresh or not metrics_file.exists():
            log.info("run %s (%s) [%.0f s so far]", cfg.name, spec.get("scheme") or "float", time.time() - started)
            train(cfg, runs_dir, progress=False, fresh=args.fresh)
        m = json.loads(metrics_file.read_text())
        m["kernel_entropy"] = kernel_entropy(runs_dir / cfg.name, m)
        if spec.get("det"):
            det_file = runs_dir / cfg.name / "det.json"
            m["det"] = json.loads(det_file.read_text()) if det_file.exists() and not args.fresh else \
                run_det(runs_dir / cfg.name, cfg, spec, streams)
            dets[f"{cfg.name}"] = m["det"]
            plot_det_curves(out_dir, dets)
        rows.append(row(spec, m))
        write_outputs(out_dir, rows, data, args, time.time() - started)  # partial results survive a crash
    print((out_dir / "results.md").read_text())
    return 0


if __name__ == "__main__":
    sys.exit(main())
