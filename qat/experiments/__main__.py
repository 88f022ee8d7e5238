"""`python -m qat.experiments`: train what a sweep file lists (on Ray), tabulate and plot (the sweep
and its options: qat/experiments/__init__.py)."""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from pathlib import Path

from qat.cv import finished
from qat.experiments.plots import plot_all, plot_det_curves, plot_pareto
from qat.experiments.results import comparisons, markdown, rows, write_csv
from qat.experiments.sweep import SWEEP_DIR, expand, load, run_here
from qat.run_config import RunConfig, RunConfigError


def progress_line(build_dir: Path, total: int, quiet: bool):
    count = [0]

    def report(name: str) -> None:
        count[0] += 1
        if not quiet:
            acc = json.loads((build_dir / name / "metrics.json").read_text())["accuracy"]
            final = acc.get("quantized", acc["float"])["test"]
            print(f"[{count[0]}/{total}] {name}: {final:.2%} on its fold", flush=True)
    return report


def det_curves(build_dir: Path, groups: dict, names: set) -> dict:
    """DET of each `det: true` config, pooled over its finished runs (every seed and scored fold,
    each model on a stream of its own fold's held-out speakers)."""
    from qat.det import pool_det, run_det

    dets, streams = {}, {}
    for name in sorted(names):
        done = [run for run in groups[name] if finished(build_dir, run)]
        if done:
            dets[name] = pool_det([run_det(build_dir / run["name"], RunConfig.load(run["config"], run["overrides"]), streams)
                                   for run in done])
    return dets


def main(argv=None) -> int:
    import qat.experiments

    ap = argparse.ArgumentParser(prog="python -m qat.experiments", description=qat.experiments.__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--sweep", default=str(SWEEP_DIR / "papers.yaml"), help="sweep file (default: %(default)s)")
    ap.add_argument("--data", help="extracted Speech Commands folder for every run (default: each config's data, "
                                   "gsc from $KWS_GSC_DIR)")
    ap.add_argument("--address", help="an existing Ray cluster (default $RAY_ADDRESS; unset: Ray on this machine)")
    ap.add_argument("--jobs", type=int, default=os.cpu_count() or 1,
                    help="CPUs of the local Ray, i.e. runs at once with --cpus-per-run 1 (default: %(default)s)")
    ap.add_argument("--cpus-per-run", type=int, default=1, help="CPUs (training threads) of each run")
    ap.add_argument("--build-dir", default="build/experiments")
    ap.add_argument("--no-ray", action="store_true", help="train the runs one after another in this process, no Ray")
    ap.add_argument("--report-only", action="store_true", help="tabulate finished runs, train nothing")
    ap.add_argument("--no-progress", action="store_true", help="no line per finished run")
    args = ap.parse_args(argv)
    started = time.time()
    build_dir = Path(args.build_dir).resolve()
    try:
        if args.jobs < 1 or args.cpus_per_run < 1:
            raise RunConfigError("--jobs and --cpus-per-run must be >= 1")
        address = args.address or os.environ.get("RAY_ADDRESS")
        train = not args.report_only
        if train and address and not args.no_ray:
            from qat.experiments.ray_runner import probe

            probe(address)  # a dead address is refused in seconds, before the sweep is planned
        sweep = load(args.sweep)
        plan = expand(sweep, str(Path(args.data).resolve()) if args.data else None)  # every run checked here
        if train:
            todo = sum(not finished(build_dir, r) for stage in plan.stages for r in stage)
            report = progress_line(build_dir, todo, args.no_progress)
            if args.no_ray:
                run_here(plan.stages, build_dir, args.cpus_per_run, report)
            else:
                from qat.experiments.ray_runner import run_on_ray

                run_on_ray(plan.stages, build_dir, address, args.jobs, args.cpus_per_run, report)
        dets = det_curves(build_dir, plan.groups, plan.det)
        table = rows(build_dir, plan.groups, sweep.folds, sweep.seeds, dets)
        paired = comparisons(build_dir, plan.groups, sweep.compare, sweep.folds, sweep.seeds)
    except (RunConfigError, ValueError, RuntimeError, FileNotFoundError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    out = build_dir / Path(args.sweep).stem  # one folder of results per sweep; runs are shared
    out.mkdir(parents=True, exist_ok=True)
    command = "python -m qat.experiments " + " ".join(argv if argv is not None else sys.argv[1:])
    missing = [name for name in plan.groups if name not in {r["config"] for r in table}]
    write_csv(out / "results.csv", table)
    (out / "results.md").write_text(markdown(table, command.strip(), missing, paired))
    (out / "paired.json").write_text(json.dumps(paired, indent=1))
    if table:
        plot_all(out, table)
        plot_pareto(out, table)
    plot_det_curves(out, dets)
    print(f"{len(table)} of {len(plan.groups)} configs tabulated in {(time.time() - started) / 60:.1f} min "
          f"-> {out / 'results.md'}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
