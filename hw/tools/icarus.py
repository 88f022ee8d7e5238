"""Icarus Verilog (Debian `iverilog`, installed by `make system-deps`): the second simulator.

The cocotb regression of the small designs also runs under Icarus, so the RTL does not lean on
one simulator's semantics (Verilator is cycle-based and two-state; Icarus is event-driven and
four-state: an X reaching an output, or a race between blocking and non-blocking assignments,
shows up here and not there).
"""

from __future__ import annotations

import shutil


class IcarusNotFound(RuntimeError):
    """No `iverilog`/`vvp` on PATH."""


ICARUS_ARGS = ()  # cocotb adds -g2012; our Verilog-2001 compiles under it
# Our Verilog has no `timescale (Verilator defaults to 1ns/1ps); Icarus would run at 1 s / 1 s,
# in which cocotb's 10 ns clock cannot be represented.
ICARUS_TIMESCALE = ("1ns", "1ps")


def check_icarus() -> None:
    missing = [exe for exe in ("iverilog", "vvp") if shutil.which(exe) is None]
    if missing:
        raise IcarusNotFound(f"{' and '.join(missing)} not found: run 'make system-deps' "
                             "(Debian package iverilog) or 'apt-get install iverilog'")


def run_testbench(sources, top: str, work_dir, timeout: float = 120) -> str:
    """Compile `sources` with `iverilog -g2005` (top module `top`, a self-checking or file-writing
    testbench) in `work_dir` and run it with `vvp`; returns its standard output."""
    import subprocess
    from pathlib import Path

    check_icarus()
    work_dir = Path(work_dir)
    work_dir.mkdir(parents=True, exist_ok=True)
    comp = subprocess.run(["iverilog", "-g2005", "-s", top, "-o", "sim.vvp", *map(str, sources)], cwd=work_dir,
                          capture_output=True, text=True, timeout=timeout)
    if comp.returncode != 0:
        raise RuntimeError(f"iverilog failed:\n{comp.stdout[-3000:]}{comp.stderr[-3000:]}")
    run = subprocess.run(["vvp", "-n", "sim.vvp"], cwd=work_dir, capture_output=True, text=True, timeout=timeout)
    if run.returncode != 0:
        raise RuntimeError(f"vvp failed:\n{run.stdout[-3000:]}{run.stderr[-3000:]}")
    return run.stdout
