"""The comparison grid of the three papers: one float model per (model, seed), every QAT scheme
started from it (train.init_from), one table.

    python -m qat.experiments [--data DIR] [--full] [--only PATTERN] [--build-dir build/experiments]

Reduced grid (default; sized for well under an hour on 2 cores with the shared GSC subset):
- DS-CNN on MFCC (papers A, C): linear 8/4-bit weights, squashed+ACosR at lambda 0 and >0,
  FXP-QAT with transient formats and a 32- vs 16-bit accumulator, trained bit-widths;
- streaming FFN on log-mel (paper B): two-stage with 1/4/5/8-bit stage-1 weights, plus a DET
  curve (false rejects vs false alarms/hour) on a stream of held-out test clips over noise;
- seeds: 0 everywhere, 1 for the cheap FFN runs.
--full: full epochs, three seeds everywhere. --data DIR (or $KWS_GSC_DIR with --gsc) reads real
Speech Commands; default is the synthetic set.

--report-only [--runs-from DIR ...] tabulates finished runs without training (e.g. runs made
by parallel invocations with other --build-dir).
Writes <build-dir>/results.csv, results.md, accuracy_vs_bits.png, weight_memory.png, macs.png,
det_ffn.png (+ det.json), and each run's folder under <build-dir>/runs/.
"""

from __future__ import annotations

import argparse
import csv
import fnmatch
import json
import logging
import os
import sys
import time
from pathlib import Path

log = logging.getLogger("qat.experiments")

W4 = {"weight_bits": 4, "act_bits": 8, "input_bits": 8}
W8 = {"weight_bits": 8, "act_bits": 8, "input_bits": 8}
ACOS_LAMBDA = 1e-4


def grid(full: bool, epochs: tuple | None = None) -> list[dict]:
    """Run specs: name, model, seed, scheme, scheme_args, quant, label, bits (x axis), init_from."""
    seeds_a = [0, 1, 2] if full else [0]
    seeds_b = [0, 1, 2] if full else [0, 1]
    f_ep, q_ep = epochs[:2] if epochs else ((40, 20) if full else (20, 6))
    s_ep = epochs[2] if epochs and len(epochs) > 2 else None
    runs = []
    for seed in seeds_a:
        fl = f"dscnn_float_s{seed}"
        runs.append(dict(name=fl, model="dscnn", seed=seed, label="float", bits=32, float_epochs=f_ep))
        common = dict(model="dscnn", seed=seed, init_from=fl, qat_epochs=q_ep)
        runs += [
            dict(name=f"dscnn_linear_w8_s{seed}", scheme="linear", quant=W8, label="linear", bits=8, **common),
            dict(name=f"dscnn_linear_w4_s{seed}", scheme="linear", quant=W4, label="linear", bits=4, **common),
            dict(name=f"dscnn_acos0_w4_s{seed}", scheme="acos", quant=W4, label="squashed (lambda=0)", bits=4,
                 scheme_args={"lam": 0.0, "soft_epochs": q_ep // 2 + 1}, **common),
            dict(name=f"dscnn_acos_w4_s{seed}", scheme="acos", quant=W4, label="squashed+ACosR", bits=4,
                 scheme_args={"lam": ACOS_LAMBDA, "soft_epochs": q_ep // 2 + 1, "warmup_epochs": 1,
                              "ramp_epochs": 1}, **common),
            dict(name=f"dscnn_fxp_acc32_w4_s{seed}", scheme="fxp_qat", quant=W4, label="fxp_qat acc32", bits=4,
                 scheme_args={"accum_width": 32}, **common),
            dict(name=f"dscnn_fxp_acc16_w4_s{seed}", scheme="fxp_qat", quant=W4, label="fxp_qat acc16", bits=4,
                 scheme_args={"accum_width": 16}, **common),
            dict(name=f"dscnn_trained_bits_s{seed}", scheme="trained_bits", quant=W8, label="trained_bits", bits=None,
                 scheme_args={"weight_lambda": 0.05, "act_lambda": 0.02}, **common),
        ]
        if full:
            runs.append(dict(name=f"dscnn_fxp_acc32_w8_s{seed}", scheme="fxp_qat", quant=W8, label="fxp_qat acc32",
                             bits=8, scheme_args={"accum_width": 32}, **common))
    for seed in seeds_b:
        fl = f"ffn_float_s{seed}"
        runs.append(dict(name=fl, model="streaming_ffn", seed=seed, label="float", bits=32, float_epochs=f_ep, det=True))
        for bits in ([1, 4, 5, 8] if (full or seed == 0) else [4]):
            runs.append(dict(name=f"ffn_two_stage_w{bits}_s{seed}", model="streaming_ffn", seed=seed, scheme="two_stage",
                             quant=W8, label="two_stage", bits=bits, init_from=fl, qat_epochs=q_ep, det=True,
                             scheme_args={"weight_bits": bits, "stage1_epochs": q_ep, "stage2_epochs": q_ep}))
    # paper C: searched architectures, fixed vs trained bit-widths (last: the most expensive per result)
    for features in ("mfcc", "raw"):
        runs.append(dict(name=f"nas_{features}_search", nas=features, seed=0,
                         float_epochs=f_ep if full else f_ep // 2, qat_epochs=q_ep if full else q_ep // 2,
                         search_epochs=s_ep or (12 if full else (8 if features == "mfcc" else 5))))
    # Most important results first, so a cut-short run still has them; floats precede their QAT runs.
    priority = {None: 0, "linear": 1, "fxp_qat": 1, "two_stage": 1, "acos": 2, "trained_bits": 3}
    return sorted(runs, key=lambda r: (5 if r.get("nas") else r["seed"] > 0, priority[r.get("scheme")]))


def run_config(spec: dict, data: dict):
    from qat.run_config import RunConfig

    train = {"seed": spec["seed"], "float_epochs": spec.get("float_epochs", 0), "qat_epochs": spec.get("qat_epochs", 0)}
    if spec.get("init_from"):
        train["init_from"] = spec["init_from"]
    return RunConfig.from_dict({"name": spec["name"], "model": spec["model"], "data": data,
                                "quant": spec.get("quant"), "scheme": spec.get("scheme", "linear"),
                                "scheme_args": spec.get("scheme_args", {}), "train": train})


def kernel_entropy(run_dir: Path, m: dict) -> float | None:
    """Bin entropy of the exported quantized kernels / their bits, weight-count weighted over
    layers (1.0 = every level of the grid used equally; paper A's near-uniform claim)."""
    import numpy as np
    import tensorflow as tf

    from qat.quantizers import custom_objects
    from qat.schemes.common import kernel_attr, value_entropy

    if m.get("scheme") is None:
        return None
    model = tf.keras.models.load_model(run_dir / "model.h5", custom_objects=custom_objects(), compile=False)
    total = count = 0.0
    for layer in model.layers:
        q = getattr(layer, "depthwise_quantizer_internal", None) or getattr(layer, "kernel_quantizer_internal", None)
        if q is None:
            continue
        k = np.asarray(q(getattr(layer, kernel_attr(layer))))
        bits = m.get("kernel_bits", {}).get(layer.name, q.bits)
        total += value_entropy(k, bits)["ratio"] * k.size
        count += k.size
    return total / count if count else None


def row(spec: dict, m: dict) -> dict:
    acc = m["accuracy"]
    final = "quantized" if "quantized" in acc else "float"
    extra = {}
    if "acos" in m:
        extra["post_rounding_drop_val"] = m["acos"]["post_rounding_drop"].get("validation")
        extra["grid_offset_before_after"] = f"{m['acos']['mean_grid_offset_before']:.3f}->{m['acos']['mean_grid_offset_after']:.3f}"
    if m.get("kernel_entropy") is not None:
        extra["entropy_ratio"] = m["kernel_entropy"]
    if "two_stage" in m:
        extra["stage1_test"] = acc.get("stage1", {}).get("test")
    return {
        "run": spec["name"], "model": spec["model"], "scheme": spec.get("scheme", "float") if spec.get("quant") else "float",
        "label": spec["label"], "seed": spec["seed"],
        "weight_bits": spec["bits"] if spec["bits"] is not None else m.get("avg_weight_bits"),
        "avg_weight_bits": m.get("avg_weight_bits"), "avg_activation_bits": m.get("avg_activation_bits"),
        "float_test": acc["float"]["test"], "float_val": acc["float"]["validation"],
        "test": acc[final]["test"], "val": acc[final]["validation"], "delta_test": acc[final]["test"] - acc["float"]["test"],
        "ptq_test": acc.get("ptq", acc.get("stage2_start", acc.get("rounded", {}))).get("test"),
        "weight_memory_bits": m["weight_memory_bits"], "macs": m["macs"], "params": m["params"],
        "epochs": json.dumps(m["epochs"]), "wall_s": m["train_wall_seconds"], **extra,
        "frr_at_5_fa_per_hour": m.get("det", {}).get("frr_at_5_fa_per_hour"),
        **({"arch": spec["arch"], "search_s": spec["search_seconds"]} if spec.get("arch") else {}),
    }


def nas_specs(spec: dict, data: dict, runs_dir: Path, fresh: bool) -> list:
    """Search (or reuse the search of) one feature kind, then the runs retraining what it found."""
    from qat.nas.pipeline import retrain_configs, run_search
    from qat.nas.search import SearchSettings
    from qat.run_config import RunConfig

    out = runs_dir / spec["name"]
    if fresh or not (out / "arch.json").exists():
        log.info("NAS search on %s features", spec["nas"])
        settings = SearchSettings(epochs=spec["search_epochs"], warmup_epochs=min(1, spec["search_epochs"] - 1),
                                  seed=spec["seed"])
        run_search(spec["nas"], data, settings, False, out,
                   log=log.info)
    found = json.loads((out / "arch.json").read_text())
    name = f"nas_{spec['nas']}"
    cfgs = retrain_configs(name, found["model"], found, data, (spec["float_epochs"], spec["qat_epochs"]), spec["seed"])
    arch = ",".join("skip" if op["op"] == "skip" else f"k{op['kernel']}c{op['channels']}" for op in found["arch"])
    labels = {"float": ("float", 32), "linear8": ("nas fixed 8-bit", 8), "trained_bits": ("nas trained_bits", None)}
    out_specs = []
    for key, c in cfgs.items():
        label, bits = labels[key]
        s = dict(name=c["name"], model=found["model"], seed=spec["seed"], label=label, bits=bits, arch=arch,
                 scheme=c.get("scheme"), quant=c.get("quant"), search_seconds=found["search_seconds"])
        out_specs.append((s, RunConfig.from_dict(c)))
    return out_specs


def run_det(run_dir: Path, cfg, spec: dict, stream_cache: dict) -> dict:
    """DET numbers for a saved streaming run, on one stream per seed built from the test split."""
    from qat import det
    from qat.dataset import background_noises, load_splits
    from qat.features import Normalizer
    from qat.models import feature_kind
    from qat.quantizers import custom_objects
    import tensorflow as tf

    key = json.dumps(cfg.data.to_dict(), sort_keys=True)
    if key not in stream_cache:
        test = load_splits(cfg.data, progress=False, splits=("test",))["test"]
        stream_cache[key] = det.build_stream(test.audio, test.labels, background_noises(cfg.data), seed=0)
    model = tf.keras.models.load_model(run_dir / "model.h5", custom_objects=custom_objects(), compile=False)
    out = det.evaluate_model(model, feature_kind(cfg.model), Normalizer.load(run_dir / "normalizer.npz"), stream_cache[key])
    (run_dir / "det.json").write_text(json.dumps(out, indent=1))
    return out


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(prog="python -m qat.experiments", description=__doc__,
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


def write_outputs(out_dir: Path, rows: list[dict], data: dict, args, wall: float) -> None:
    keys = []
    for r in rows:
        keys += [k for k in r if k not in keys]
    with open(out_dir / "results.csv", "w", newline="") as f:
        w = csv.DictWriter(f, fieldnames=keys)
        w.writeheader()
        w.writerows(rows)
    write_markdown(out_dir, rows, data, args, wall)
    plot_all(out_dir, rows)


def _fmt(v, pct=False):
    if v is None or v == "":
        return "-"
    if isinstance(v, float):
        return f"{v:.2%}" if pct else f"{v:.3g}"
    return str(v)


def write_markdown(out_dir: Path, rows: list[dict], data: dict, args, wall: float) -> None:
    cmd = "python -m qat.experiments" + (" --full" if args.full else "") + \
        (f" --data {args.data}" if args.data else " --gsc" if args.gsc else "") + \
        (f" --only '{args.only}'" if args.only else "") + (f" --epochs {args.epochs}" if args.epochs else "") + \
        (" --report-only" if getattr(args, "report_only", False) else "") + \
        "".join(f" --runs-from {d}" for d in getattr(args, "runs_from", []))
    cols = [("run", False), ("label", False), ("seed", False), ("weight_bits", False), ("float_test", True),
            ("ptq_test", True), ("test", True), ("delta_test", True), ("val", True), ("weight_memory_bits", False),
            ("macs", False), ("avg_weight_bits", False), ("avg_activation_bits", False), ("entropy_ratio", False),
            ("post_rounding_drop_val", True), ("grid_offset_before_after", False), ("stage1_test", True),
            ("frr_at_5_fa_per_hour", True), ("arch", False)]
    lines = [f"# QAT experiments ({'full' if args.full else 'reduced'} grid, data: {data['source']})", "",
             f"Produced by `{cmd}` in {wall / 60:.1f} min. `test`/`val` = the exported fixed-point model;",
             "`ptq_test` = before any QAT epoch (two_stage: stage-2 start; acos: rounded after the ACosR phase);",
             "`delta_test` = test - float test of the same float model; weight memory in bits (1-bit kernels "
             "counted as 1 bit); `frr_at_5_fa_per_hour` = false-reject rate at <= 5 false alarms/hour on the "
             "test stream (see det_ffn.png).", "",
             "| " + " | ".join(c for c, _ in cols) + " |", "|" + "---|" * len(cols)]
    for r in rows:
        lines.append("| " + " | ".join(_fmt(r.get(c), pct) for c, pct in cols) + " |")
    (out_dir / "results.md").write_text("\n".join(lines) + "\n")


def plot_all(out_dir: Path, rows: list[dict]) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    for model in sorted({r["model"] for r in rows}):
        mrows = [r for r in rows if r["model"] == model]
        fig, ax = plt.subplots(figsize=(6.5, 4.5))
        floats = [r["test"] for r in mrows if r["scheme"] == "float"]
        if floats:
            ax.axhline(sum(floats) / len(floats), color="k", ls="--", label="float (mean over seeds)")
        for label in sorted({r["label"] for r in mrows if r["scheme"] != "float"}):
            pts = sorted((float(r["weight_bits"]), r["test"]) for r in mrows if r["label"] == label and r["weight_bits"])
            ax.plot([p[0] for p in pts], [p[1] for p in pts], marker="o", ls="-" if len(pts) > 1 else "", label=label)
        ax.set_xlabel("weight bits (trained_bits: learned average)")
        ax.set_ylabel("test accuracy (exported fixed-point model)")
        ax.set_title(f"{model}: accuracy vs weight bits")
        ax.grid(alpha=0.3)
        ax.legend(fontsize=8)
        fig.tight_layout()
        fig.savefig(out_dir / f"accuracy_vs_bits_{model}.png", dpi=120)
        plt.close(fig)
    for key, fname, xlabel in (("weight_memory_bits", "weight_memory.png", "weight memory (KiB)"),
                               ("macs", "macs.png", "MACs per inference")):
        fig, ax = plt.subplots(figsize=(7, 0.32 * len(rows) + 1.2))
        scale = 8192 if key == "weight_memory_bits" else 1
        ax.barh([r["run"] for r in rows], [r[key] / scale for r in rows])
        ax.invert_yaxis()
        ax.set_xlabel(xlabel)
        ax.tick_params(axis="y", labelsize=7)
        fig.tight_layout()
        fig.savefig(out_dir / fname, dpi=120)
        plt.close(fig)


def plot_det_curves(out_dir: Path, dets: dict) -> None:
    from qat import det

    if dets:
        det.plot_det(dets, out_dir / "det_ffn.png", "streaming FFN: DET on the held-out test stream")
        (out_dir / "det.json").write_text(json.dumps(dets, indent=1))


if __name__ == "__main__":
    sys.exit(main())
