"""The sweep's table: one row per config, its cross-validated accuracy from qat.cv.summarize
(pooled over folds, mean ± std over seeds), with its cost; written as results.csv and results.md."""

from __future__ import annotations

import csv
from pathlib import Path

import numpy as np

from qat.cv import CONFIG_DIR, finished, summarize
from qat.run_config import RunConfig

COLUMNS = ["config", "config_file", "model", "scheme", "seeds", "folds", "scored_folds", "accuracy_mean",
           "accuracy_std_seeds", "accuracy_std_folds", "float_accuracy_mean", "delta_vs_float", "delta_std_seeds", "bits_per_param",
           "weight_memory_bits", "macs", "params", "train_seconds_mean", "frr_at_5_fa_per_hour"]


def rows(build_dir: Path, groups: dict[str, list[dict]], folds: int, seeds: list[int], dets: dict | None = None) -> list[dict]:
    """A row per config whose runs have all finished (others are left out)."""
    out = []
    for name, runs in groups.items():
        if not all(finished(build_dir, r) for r in runs):
            continue
        s = summarize(build_dir, runs, folds, seeds)
        cfg = RunConfig.load(runs[0]["config"], runs[0]["overrides"])
        out.append({
            "config": name, "config_file": str(Path(runs[0]["config"]).resolve().relative_to(CONFIG_DIR.parent)),
            "model": cfg.model, "scheme": cfg.scheme if cfg.quant else "float",
            "seeds": len(seeds), "folds": folds, "scored_folds": len(s["scored_folds"]),
            "accuracy_mean": s["accuracy_mean"], "accuracy_std_seeds": s["accuracy_std_seeds"],
            "accuracy_std_folds": s["accuracy_std_folds"], "float_accuracy_mean": s["float_accuracy_mean"],
            "delta_vs_float": s["accuracy_mean"] - s["float_accuracy_mean"] if cfg.quant else None,
            "delta_std_seeds": _std(np.subtract(s["accuracy_per_seed"], s["float_accuracy_per_seed"])) if cfg.quant else None,
            # measured, one definition for every scheme: weight memory (kernels at their exported
            # bits, 1-bit kernels as 1 bit, biases) over the parameter count
            "bits_per_param": s["weight_memory_bits"] / s["params"],
            "weight_memory_bits": s["weight_memory_bits"], "macs": s["macs"], "params": s["params"],
            "train_seconds_mean": s["train_seconds_mean"],
            "frr_at_5_fa_per_hour": (dets or {}).get(name, {}).get("frr_at_5_fa_per_hour"),
        })
    return sorted(out, key=lambda r: (r["model"], r["scheme"] != "float", -r["bits_per_param"], r["config"]))


def _std(values) -> float:
    return float(np.std(values, ddof=1)) if len(values) > 1 else 0.0


def comparisons(build_dir: Path, groups: dict[str, list[dict]], compare: dict[str, tuple[str, str]], folds: int,
                seeds: list[int]) -> list[dict]:
    """Paired differences A - B of the sweep's `compare:` pairs whose runs have all finished: per seed
    (every scored clip once; the two configs share folds and seeds) and per (fold, seed) model."""
    out = []
    for label, (a, b) in compare.items():
        if not all(finished(build_dir, r) for r in groups[a] + groups[b]):
            continue
        sa, sb = summarize(build_dir, groups[a], folds, seeds), summarize(build_dir, groups[b], folds, seeds)
        per_seed = np.subtract(sa["accuracy_per_seed"], sb["accuracy_per_seed"])
        per_model = np.subtract(sa["accuracy_per_fold"], sb["accuracy_per_fold"])
        out.append({"label": label, "a": a, "b": b, "a_mean": sa["accuracy_mean"], "b_mean": sb["accuracy_mean"],
                    "delta_per_seed": per_seed.tolist(), "delta_mean": float(per_seed.mean()),
                    "delta_std_seeds": _std(per_seed), "delta_std_models": _std(per_model),
                    "models": len(per_model), "a_better_models": int((per_model > 0).sum()),
                    "b_better_models": int((per_model < 0).sum())})
    return out


def write_csv(path: Path, table: list[dict]) -> None:
    with open(path, "w", newline="") as f:
        w = csv.DictWriter(f, fieldnames=COLUMNS)
        w.writeheader()
        w.writerows(table)


def markdown(table: list[dict], command: str, missing: list[str], paired: list[dict] = ()) -> str:
    lines = ["# QAT sweep: speaker-grouped cross-validation, one row per config", "",
             f"Produced by `{command}`. Accuracy = every scored clip once per seed (the exported fixed-point model), "
             "mean ± std over seeds; Δ = against the float runs the config started from (same folds, seeds); "
             "fold std = spread of the single (fold, seed) models; bits/param = weight memory / parameters; "
             "FRR@5FA/h = false rejects at ≤ 5 false alarms per hour, pooled over the config's runs, each on a stream "
             "of its own fold's test clips (det_ffn.png).", "",
             "| config | model | scheme | seeds × folds | accuracy | Δ vs float | fold std | bits/param "
             "| weight memory (KiB) | MACs | params | s / run | FRR@5FA/h |",
             "|---|---|---|---|---|---|---|---|---|---|---|---|---|"]
    for r in table:
        folds = f"{r['folds']}" if r["scored_folds"] == r["folds"] else f"{r['scored_folds']} of {r['folds']} (screen)"
        acc = f"**{r['accuracy_mean']:.2%} ± {r['accuracy_std_seeds']:.2%}**" if r["seeds"] > 1 else f"**{r['accuracy_mean']:.2%}** (one seed)"
        delta = "–" if r["delta_vs_float"] is None else f"{100 * r['delta_vs_float']:+.1f} pt" + (
            f" ± {100 * r['delta_std_seeds']:.1f}" if r["seeds"] > 1 else "")
        frr = "–" if r["frr_at_5_fa_per_hour"] is None else f"{r['frr_at_5_fa_per_hour']:.1%}"
        lines.append(f"| `{r['config']}` | {r['model']} | {r['scheme']} | {r['seeds']} × {folds} | {acc} | {delta} "
                     f"| {r['accuracy_std_folds']:.1%} | {r['bits_per_param']:.2f} | {r['weight_memory_bits'] / 8192:,.1f} "
                     f"| {r['macs']:,} | {r['params']:,} | {r['train_seconds_mean']:.0f} | {frr} |")
    if paired:
        lines += ["", "Paired differences (A − B, same folds and seeds): mean ± std over seeds of the pooled accuracy; "
                  "std over the single (fold, seed) models; how many of those models A / B scored higher.", "",
                  "| comparison | A | B | A | B | A − B | std over models | models A > B / A < B |",
                  "|---|---|---|---|---|---|---|---|"]
        for p in paired:
            lines.append(f"| {p['label']} | `{p['a']}` | `{p['b']}` | {p['a_mean']:.2%} | {p['b_mean']:.2%} "
                         f"| **{100 * p['delta_mean']:+.2f} ± {100 * p['delta_std_seeds']:.2f} pt** "
                         f"| {100 * p['delta_std_models']:.2f} pt | {p['a_better_models']} / {p['b_better_models']} of {p['models']} |")
    if missing:
        lines += ["", "Not finished yet (no row): " + ", ".join(f"`{m}`" for m in missing)]
    return "\n".join(lines) + "\n"
