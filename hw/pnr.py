"""Place and route of a run's generated RTL on a named FPGA (`make pnr`): the same RTL as `make
synth` / `make sim` (hw.rtl.run), the whole top in one Yosys run, nextpnr at a requested clock.
The tool itself (parts, flags, log reading, verdict) is hw/tools/nextpnr.py.

    python -m hw.pnr --run build/<run> --part ice40-up5k-sg48 [--clock-mhz 12] [--reuse-factor 64]

Writes build/<run>/pnr/pnr_report_<part>_rf<RF>_<clock>mhz.{json,md} (earlier parts, reuse factors
and clocks keep their files) and prints one line. Work files: build/<run>/pnr/rf<RF>/ (RTL, I/O
shell, Yosys netlist - shared by every clock of a family - and one nextpnr folder per run).
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

from hw.rtl.io_shell import SHELL_PINS, io_shell, shell_name
from hw.tools.nextpnr import LABELS, PARTS, SHORT, Part, PnrResult, get_part, place_and_route
from hw.tools.yosys import block_line_buffers

IO_MODES = ("shell", "pins")


def pnr_design(design, part, work_dir: Path, clock_mhz: float | None = None, io: str = "shell",
               seed: int = 1) -> tuple[PnrResult, dict]:
    """(result, I/O note) of a generated design (hw.rtl.generate_rtl's RtlDesign). io='shell':
    inside hw.rtl.io_shell's 9-pin wrapper; io='pins': its stream ports straight on package pins
    (only small designs on big packages have that many)."""
    part = get_part(part)
    if io not in IO_MODES:
        raise ValueError(f"io {io!r}: use one of {IO_MODES}")
    work_dir = Path(work_dir)
    files, top = list(design.files), design.top
    in_bits, out_bits = design.report["in_tdata_bits"], design.report["out_tdata_bits"]
    note = {"io": io, "in_tdata_bits": in_bits, "out_tdata_bits": out_bits}
    if io == "shell":
        shell = work_dir / "shell" / f"{shell_name(top)}.v"
        shell.parent.mkdir(parents=True, exist_ok=True)
        shell.write_text(io_shell(top, in_bits, out_bits))
        files, top = files + [shell], shell_name(top)
        note.update(pins=SHELL_PINS, shell_ff=in_bits + 1)
    return place_and_route(files, top, part, work_dir, clock_mhz, seed=seed), note


def report_stem(part: Part, plan, clock_mhz: float, io: str = "shell", seed: int = 1, stream: bool = False) -> str:
    return (f"pnr_report_{part.name}_{'stream_' if stream else ''}rf{plan.tag}_{clock_mhz:g}mhz"
            + (f"_seed{seed}" if seed != 1 else "") + ("_pins" if io == "pins" else ""))


def pnr_run(run_dir, part, *, reuse_factor, clock_mhz: float | None = None, io: str = "shell", seed: int = 1,
            command: str = "", stream: bool = False) -> dict:
    """Generate the run's RTL at `reuse_factor`, place and route it on `part`, write the reports;
    returns the report dict (with 'json' and 'markdown': the files written). `command`: Markdown (in
    backticks) naming the command, for the report. stream=True: the always-on IP (streaming RTL +
    keyword detector, the run's `stream:` settings) instead of the windowed one."""
    from hw.rtl.reuse import parse_reuse
    from hw.rtl.run import generate_for_run, stream_ip

    part = get_part(part)  # an unknown part stops before the hls4ml conversion
    plan = parse_reuse(reuse_factor)
    clock_mhz = float(clock_mhz or part.clock_mhz)
    run_dir = Path(run_dir)
    work = run_dir / "pnr" / f"{'stream_' if stream else ''}rf{plan.tag}"
    if stream:
        design = stream_ip(run_dir).generate(work / "rtl", plan)
    else:
        design, _ = generate_for_run(run_dir, work / "rtl", plan, block_line_buffers=block_line_buffers(part.family))
    result, note = pnr_design(design, part, work, clock_mhz, io, seed)
    report = {"run": run_dir.name, "ip": "always-on (streaming)" if stream else "windowed", "reuse_factor": str(plan),
              "part": part.name, "family": part.family,
              "device": part.device, "package": part.package, **result.to_dict(), "io_note": note,
              "design": {"top": design.top, "multipliers": design.report["multipliers"],
                         "rom_bits": design.report["rom_bits"]},
              "command": command}
    stem = run_dir / "pnr" / report_stem(part, plan, clock_mhz, io, seed, stream)
    report["json"], report["markdown"] = str(stem.with_suffix(".json")), str(stem.with_suffix(".md"))
    stem.with_suffix(".json").write_text(json.dumps(report, indent=1))
    stem.with_suffix(".md").write_text(markdown(report))
    return report


def markdown(rep: dict) -> str:
    """A short page: verdict, utilisation vs the part, fmax per clock, step times, I/O, command."""
    ip = " (always-on IP)" if rep.get("ip", "").startswith("always-on") else ""
    lines = [f"# Place and route: {rep['run']}{ip} on {rep['part']}, RF {rep['reuse_factor']}, {rep['clock_mhz']:g} MHz", "",
             f"**{rep['verdict']}**: {rep['reason']}.", "",
             "| resource | used | available | use |", "|---|---|---|---|"]
    for key, u in rep["utilization"].items():
        share = f"{u['used'] / u['available']:.0%}" if u["available"] else ("-" if not u["used"] else "none available")
        source = f" ({u['bel']})" if u.get("bel") else " (Yosys)"
        lines.append(f"| {LABELS[key]}{source} | {u['used']} | {u['available']} | {share} |")
    lines.append("")
    if rep["fmax_mhz"]:
        lines += ["| clock | fmax (MHz, post-route) | requested (MHz) |", "|---|---|---|"]
        lines += [f"| `{c}` | {f:.2f} | {rep['clock_mhz']:g} |" for c, f in rep["fmax_mhz"].items()]
        lines.append("")
    s = rep["synth"]
    steps = ", ".join(f"{k} {v:.1f} s" for k, v in rep["seconds"].items())
    lines += [f"Netlist (Yosys `{rep['commands'].get('yosys', '')}`{', cached' if rep['synth_cached'] else ''}): "
              f"{s['lut']} LUT4, {s['ff']} FF, {s['carry']} carry, {s['bram']} BRAM, {s['dsp']} DSP cells; "
              f"{rep['design']['multipliers']} multipliers and {rep['design']['rom_bits']} weight ROM bits in the RTL.", ""]
    if rep["commands"].get("nextpnr"):
        lines += [f"nextpnr: `{rep['commands']['nextpnr']}` ({rep['tool']}).", ""]
    if rep["commands"].get("nextpnr_pack"):
        lines += [f"Packer only (no placement: the netlist is larger than the part): `{rep['commands']['nextpnr_pack']}`.", ""]
    note = rep["io_note"]
    if note["io"] == "shell":
        lines += [f"I/O: inside hw.rtl.io_shell ({note['pins']} pins): the {note['in_tdata_bits']}-bit input beat "
                  f"shifts in serially and the {note['out_tdata_bits']}-bit output beat leaves as one parity bit; "
                  f"the shell's {note['shell_ff']} flip-flops and parity tree are in the counts above.", ""]
    else:
        lines += [f"I/O: the stream ports straight on pins ({note['in_tdata_bits']} + {note['out_tdata_bits']} "
                  "tdata bits + handshakes).", ""]
    lines += [f"Steps: {steps}.", ""]
    if rep.get("command"):
        lines += [f"Command: {rep['command']}", ""]
    return "\n".join(lines)


def main(argv=None) -> int:
    import argparse

    from hw.rtl.reuse import REUSE_HELP, parse_reuse

    ap = argparse.ArgumentParser(prog="python -m hw.pnr", description=__doc__.split("\n\n")[0])
    ap.add_argument("--run", required=True)
    ap.add_argument("--part", default=None, help=f"one of {', '.join(PARTS)}")
    ap.add_argument("--clock-mhz", type=float, default=None, help="requested clock (default: the part's, "
                    + ", ".join(f"{p.name} {p.clock_mhz:g}" for p in PARTS.values()) + ")")
    ap.add_argument("--reuse-factor", type=parse_reuse, default=parse_reuse(64), help=REUSE_HELP)
    ap.add_argument("--io", choices=IO_MODES, default="shell",
                    help="shell: inside a 9-pin serial wrapper (default); pins: stream ports on package pins")
    ap.add_argument("--seed", type=int, default=1, help="nextpnr's placer seed")
    ap.add_argument("--stream", action="store_true", help="the always-on IP (make stream's RTL + detector)")
    args = ap.parse_args(argv)
    try:
        if args.part is None:
            raise ValueError(f"--part is required; known parts: {', '.join(PARTS)}")
        part = get_part(args.part)
        if not Path(args.run).is_dir():
            raise ValueError(f"{args.run} does not exist; train it first")
        clock = f"{args.clock_mhz:g}" if args.clock_mhz else None
        cmd = (f"python -m hw.pnr --run {args.run} --part {part.name} --reuse-factor {args.reuse_factor}"
               + (f" --clock-mhz {clock}" if clock else "") + (f" --io {args.io}" if args.io != "shell" else "")
               + (f" --seed {args.seed}" if args.seed != 1 else "") + (" --stream" if args.stream else ""))
        cmd = f"`{cmd}`"
        if args.io == "shell" and args.seed == 1:  # what `make pnr` runs
            cmd = (f"`make pnr RUN={Path(args.run).name} PART={part.name} RF={args.reuse_factor}"
                   + (f" CLOCK_MHZ={clock}" if clock else "") + (" STREAM=1" if args.stream else "") + f"` ({cmd})")
        rep = pnr_run(args.run, part, reuse_factor=args.reuse_factor, clock_mhz=args.clock_mhz, io=args.io,
                      seed=args.seed, command=cmd, stream=args.stream)
    except (ValueError, RuntimeError, subprocess.TimeoutExpired) as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    used = ", ".join(f"{SHORT[k]} {u['used']}/{u['available']}" for k, u in rep["utilization"].items()
                     if u["available"] or u["used"])
    print(f"{rep['run']}{' (always-on IP)' if args.stream else ''} RF {rep['reuse_factor']} on {rep['part']}: {rep['verdict']} ({rep['reason']}); {used}; "
          f"report {rep['markdown']}")
    return 1 if rep["verdict"] == "failed" else 0


if __name__ == "__main__":
    from hw.cli import run_main

    sys.exit(run_main(main, prog="python -m hw.pnr"))
