"""The sweep's plots: accuracy vs bits per parameter, and vs weight memory and MACs (error bars =
std over seeds), one colour per model; the accuracy-vs-MACs Pareto front of each model with several
sizes (the NAS sweep); DET curves of the streaming models."""

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


def pareto_front(points: list[tuple[float, float]]) -> list[tuple[float, float]]:
    """The (cost, accuracy) points no other point beats on both (cheaper or equal and more accurate)."""
    front, best = [], float("-inf")
    for cost, acc in sorted(points, key=lambda p: (p[0], -p[1])):
        if acc > best:
            front.append((cost, acc))
            best = acc
    return front


def plot_pareto(out_dir: Path, table: list[dict]) -> None:
    """accuracy vs MACs, float and quantized apart; the front of each model with several sizes as a line."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    series = {}
    for r in table:
        series.setdefault((r["model"], "float" if r["scheme"] == "float" else "quantized"), []).append(r)
    if not any(len({r["macs"] for r in v}) >= 2 for v in series.values()):
        return  # no model with several sizes: no front to draw
    fig, ax = plt.subplots(figsize=(7.5, 4.8))
    for (model, kind), rows in sorted(series.items()):
        pts = [(r["macs"], 100 * r["accuracy_mean"]) for r in rows]
        dots = ax.errorbar([p[0] for p in pts], [p[1] for p in pts], yerr=[100 * r["accuracy_std_seeds"] for r in rows],
                           fmt="o" if kind == "float" else "s", capsize=3, alpha=0.8, label=f"{model} {kind}")
        front = pareto_front(pts)  # a model of one size (a hand-made reference) is a point, no line
        if len(front) > 1:
            ax.step([p[0] for p in front], [p[1] for p in front], where="post", color=dots[0].get_color(),
                    ls="-" if kind == "float" else "--", alpha=0.7)
    ax.set(xscale="log", xlabel="MACs per inference", ylabel="CV accuracy (%)",
           title="accuracy vs MACs: Pareto fronts (lines), error bars = std over seeds")
    ax.xaxis.set_minor_formatter(plt.NullFormatter())  # after the log scale, which resets it
    ax.grid(alpha=0.3)
    ax.legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(out_dir / "pareto_macs.png", dpi=110)
    plt.close(fig)


def plot_det_curves(out_dir: Path, dets: dict) -> None:
    from qat import det

    if dets:
        det.plot_det(dets, out_dir / "det_ffn.png", "streaming models: DET on a held-out test stream")
        (out_dir / "det.json").write_text(json.dumps(dets, indent=1))
