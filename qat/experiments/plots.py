"""The grid's plots: accuracy vs weight bits per model, weight memory, MACs, DET curves."""

from __future__ import annotations

import json
from pathlib import Path


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
