"""One row per finished run and the grid's results.csv / results.md."""

from __future__ import annotations

import csv
import json
from pathlib import Path

from qat.experiments.plots import plot_all


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
