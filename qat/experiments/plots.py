"""The sweep's plots: accuracy vs bits per parameter, and vs weight memory and MACs (error bars =
std over seeds), one colour per model; DET curves of the streaming models."""

from __future__ import annotations

import json
from pathlib import Path


def _points(ax, table: list[dict], key: str, scale: float = 1.0) -> None:
    for model in sorted({r["model"] for r in table}):
        mine = sorted((r for r in table if r["model"] == model), key=lambda r: r[key])
        bars = ax.errorbar([r[key] / scale for r in mine], [100 * r["accuracy_mean"] for r in mine],
                           yerr=[100 * r["accuracy_std_seeds"] for r in mine], fmt="o", capsize=3, label=model)
        for r in mine:  # the config's own words tell same-size variants apart (acc16 vs acc32)
            short = r["config"].split(f"{model}_", 1)[-1].rsplit("_k", 1)[0]
            ax.annotate(short, (r[key] / scale, 100 * r["accuracy_mean"]), fontsize=7, color=bars[0].get_color(),
                        textcoords="offset points", xytext=(4, -10))
    ax.set(xscale="log", ylabel="CV accuracy (%)")
    ax.grid(alpha=0.3)
    ax.legend(fontsize=8)


def plot_all(out_dir: Path, table: list[dict]) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(7, 4.5))
    _points(ax, table, "bits_per_param")
    ax.set(xscale="log", xlabel="weight bits per parameter (weight memory / params)",
           title="accuracy vs weight bits (error bars: std over seeds)")
    ax.set_xticks([1, 2, 4, 8, 16, 32], ["1", "2", "4", "8", "16", "32"])
    fig.tight_layout()
    fig.savefig(out_dir / "accuracy_vs_bits.png", dpi=110)
    plt.close(fig)

    fig, (ax_m, ax_c) = plt.subplots(1, 2, figsize=(12, 4.5))
    _points(ax_m, table, "weight_memory_bits", 8192)
    ax_m.set(xlabel="weight memory (KiB)", title="accuracy vs weight memory")
    _points(ax_c, table, "macs")
    ax_c.set(xlabel="MACs per inference", title="accuracy vs MACs")
    fig.tight_layout()
    fig.savefig(out_dir / "accuracy_vs_cost.png", dpi=110)
    plt.close(fig)


def plot_det_curves(out_dir: Path, dets: dict) -> None:
    from qat import det

    if dets:
        det.plot_det(dets, out_dir / "det_ffn.png", "streaming models: DET on a held-out test stream")
        (out_dir / "det.json").write_text(json.dumps(dets, indent=1))
