"""One table (and plot) of every finished cross-validation and testing-list run: model x precision
x {CV mean ± std, testing list}, with params, MACs, weight memory and train time.

    python -m qat.cv_table [--cv-dir build/cv] [--build-dir build] [--out build/cv/results]

Reads `<cv-dir>/<config>_k<K>/cv.json` (written by `python -m qat.cv`; screens of a few folds
are left out, they are not CV results) and, for the same config name, `<build-dir>/<config>/metrics.json`
(an ordinary `make train-gsc` run, scored on the archive's testing list). Writes `<out>.md`
and `<out>.png` (accuracy vs weight memory, one line per model, error bars = std over seeds), and
for the CVs run with --det `<out>_det_<model>.png` (their pooled DET curves, one figure per model).
"""

from __future__ import annotations

import argparse
import json
import re
import sys
from pathlib import Path

FULL_CV = re.compile(r"^(?P<config>.+)_k(?P<k>\d+)$")


def _model_and_bits(config: str) -> tuple[str, int | None]:
    """('dscnn', 4) from gsc_dscnn_linear4 (also gsc_dscnn_fxp4_acc16, gsc_dscnn_linear4_pc);
    bits None for a float config (gsc_dscnn_float)."""
    parts = config.split("_")
    model, rest = (parts[1], parts[2:]) if len(parts) > 2 else (parts[0], parts[1:])
    m = re.search(r"\d+", "_".join(rest))
    return model, None if config.endswith("_float") or m is None else int(m.group())


def collect(cv_dir: Path, build_dir: Path) -> list[dict]:
    rows = []
    for path in sorted(cv_dir.glob("*/cv.json")):
        m = FULL_CV.match(path.parent.name)
        s = json.loads(path.read_text())
        if m is None or len(s.get("scored_folds", [])) != s.get("folds"):
            continue  # a screen (--only-folds): not a cross-validation result
        config = m.group("config")
        model, bits = _model_and_bits(config)
        row = {"config": config, "model": model, "bits": bits, "precision": f"{bits}-bit" if bits else "float", "folds": s["folds"], "seeds": s["seeds"], "clips": s["clips"],
               "cv_mean": s["accuracy_mean"], "cv_std": s["accuracy_std_seeds"], "fold_std": s["accuracy_std_folds"],
               "float_mean": s["float_accuracy_mean"], "params": s["params"], "macs": s["macs"],
               "weight_bits": s["weight_memory_bits"], "seconds": s["train_seconds_mean"], "testing_list": None,
               "det": s.get("det")}
        metrics = build_dir / config / "metrics.json"
        if metrics.exists():
            acc = json.loads(metrics.read_text())["accuracy"]
            row["testing_list"] = acc["quantized" if "quantized" in acc else "float"]["test"]
            row["testing_clips"] = json.loads(metrics.read_text())["clips"]["test"]
        rows.append(row)
    return sorted(rows, key=lambda r: (r["model"], r["bits"] is not None, -(r["bits"] or 0), r["config"]))


def markdown(rows: list[dict]) -> str:
    lines = ["| config | precision | seeds | CV accuracy (mean ± std over seeds) | Δ vs its float (same folds, seeds) "
             "| fold std | testing list | params | MACs | weight bits | s / run |", "|---|---|---|---|---|---|---|---|---|---|---|"]
    for r in rows:
        delta = "–" if r["precision"] == "float" else f"{100 * (r['cv_mean'] - r['float_mean']):+.1f} pt"
        tl = f"{r['testing_list']:.1%} ({r['testing_clips']})" if r["testing_list"] is not None else "not run"
        seeds = " ".join(map(str, r["seeds"]))
        # one seed has no spread over seeds: say so rather than print ± 0
        acc = f"**{r['cv_mean']:.2%} ± {r['cv_std']:.2%}**" if len(r["seeds"]) > 1 else f"**{r['cv_mean']:.2%}** (one seed)"
        lines.append(f"| `{r['config']}` | {r['precision']} | {seeds} | {acc} | {delta} "
                     f"| {r['fold_std']:.1%} | {tl} | {r['params']:,} | {r['macs']:,} | {r['weight_bits']:,} | {r['seconds']:.0f} |")
    return "\n".join(lines) + "\n"


def plot(rows: list[dict], path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(7, 4.5))
    for model in sorted({r["model"] for r in rows}):
        mine = sorted((r for r in rows if r["model"] == model), key=lambda r: r["weight_bits"])
        ax.errorbar([r["weight_bits"] / 8192 for r in mine], [100 * r["cv_mean"] for r in mine],
                    yerr=[100 * r["cv_std"] for r in mine], marker="o", capsize=3, label=model)
        for r in mine:
            label = r["config"].split(f"_{model}_", 1)[-1]  # linear4, linear4_pc, float: tells same-size variants apart
            ax.annotate(label, (r["weight_bits"] / 8192, 100 * r["cv_mean"]), fontsize=7,
                        textcoords="offset points", xytext=(4, -10))
    ax.set(xscale="log", xlabel="weight memory (KiB)", ylabel="CV accuracy (%)",
           title="speaker-grouped cross-validation: accuracy vs weight memory")
    ax.grid(alpha=0.3)
    ax.legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)


def plot_dets(rows: list[dict], path: Path) -> bool:
    """One DET figure per model over every CV that was run with --det (its pooled curve, labelled
    with its weight memory); the float runs' curve once per model. False when there is none."""
    from qat.det import plot_det

    drawn = False
    for model in sorted({r["model"] for r in rows if r["det"]}):
        curves = {}
        for r in sorted((r for r in rows if r["model"] == model and r["det"]), key=lambda r: -r["weight_bits"]):
            if "float" in r["det"] and "float" not in curves:
                curves["float"] = r["det"]["float"]
            curves[f"{r['config']} ({r['weight_bits'] / 8192:.0f} KiB)"] = r["det"]["final"]
        some = next(r for r in rows if r["model"] == model and r["det"])["det"]["final"]
        plot_det(curves, path.with_name(f"{path.stem}_{model}.png"),
                 f"{model}: DET pooled over {some['streams']} streams, {some['hours']:.2f} h")
        drawn = True
    return drawn


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(prog="python -m qat.cv_table", description=__doc__.split("\n\n")[0])
    ap.add_argument("--cv-dir", default="build/cv")
    ap.add_argument("--build-dir", default="build")
    ap.add_argument("--out", default=None, help="output path without suffix (default <cv-dir>/results)")
    args = ap.parse_args(argv)
    rows = collect(Path(args.cv_dir), Path(args.build_dir))
    if not rows:
        print(f"error: no finished cross-validation under {args.cv_dir} (run `make cv CONFIG=...` first)", file=sys.stderr)
        return 2
    out = Path(args.out) if args.out else Path(args.cv_dir) / "results"
    out.parent.mkdir(parents=True, exist_ok=True)
    text = markdown(rows)
    out.with_suffix(".md").write_text(text)
    plot(rows, out.with_suffix(".png"))
    dets = " and DET plots " + str(out.with_name(out.name + "_det_<model>.png")) if plot_dets(rows, out.with_name(out.name + "_det")) else ""
    print(text + f"-> {out.with_suffix('.md')}, {out.with_suffix('.png')}{dets}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
