"""`kwsflow plan` / `make plan`: the fewest multipliers whose II meets a rate on a part at a clock.

    kwsflow plan --run build/<run> --part ecp5-25k-cabga381 --clock-mhz 25 --rate 50 [--check N]

hw/planner.py chooses the per-layer reuse factors (exact for the generator's cycle model); this
writes build/<run>/plan/plan_<part>_<clock>mhz_<rate>ips.{json,md} (other settings keep their files)
with the chosen RFs, the predicted II, the multipliers against the part's DSP blocks and the
real-time margin. `--check N` then generates that RTL and streams N of the run's test clips through
the Verilator harness (python -m sim's run): measured II and latency, "N of N identical".
No plan within the part: the report says why, and the command ends with one `error:` line (exit 2).
"""

from __future__ import annotations

import argparse
import json
import math
import sys
from pathlib import Path

from hw.cli import InputError


def budget_cycles(clock_mhz: float, rate: float) -> int:
    """Cycles per inference at `rate` inferences/s: the II may not exceed this."""
    return math.floor(clock_mhz * 1e6 / rate)


def report_stem(part, clock_mhz: float, rate: float) -> str:
    return f"plan_{part.name}_{clock_mhz:g}mhz_{rate:g}ips"


def checked_part(name: str):
    from hw.tools.nextpnr import UnknownPartError, get_part

    try:
        return get_part(name)
    except UnknownPartError as err:
        raise InputError(str(err)) from None


def plan_run(run_dir, part, clock_mhz: float, rate: float, check: int = 0, command: str = "") -> dict:
    """Plan (and with `check` > 0 simulate) one run; writes the reports, returns the report dict.
    An infeasible setting still writes its report, then raises PlanInfeasible."""
    from hw.planner import PlanInfeasible, design_space, fastest, least_area
    from hw.rtl.run import graph_for_run

    part = checked_part(part) if isinstance(part, str) else part  # before the hls4ml conversion
    if clock_mhz <= 0 or rate <= 0:
        raise InputError(f"clock {clock_mhz:g} MHz, rate {rate:g}/s: both must be positive")
    run_dir = Path(run_dir)
    graph, _ = graph_for_run(run_dir)
    space = design_space(graph)
    budget = budget_cycles(clock_mhz, rate)
    capacity = part.dsp or None  # no DSP blocks: multipliers are LUT logic, not bounded by this model
    quickest = fastest(space)
    report = {"run": run_dir.name, "part": part.name, "clock_mhz": clock_mhz, "rate_per_s": rate,
              "budget_cycles": budget, "dsp_blocks": part.dsp, "dsp_kind": part.dsp_kind,
              "fastest": {"ii_cycles": quickest.ii_cycles, "multipliers": quickest.multipliers,
                          "rate_per_s": clock_mhz * 1e6 / quickest.ii_cycles},
              "fixed_cycles": space.fixed_cycles, "command": command}
    stem = run_dir / "plan" / report_stem(part, clock_mhz, rate)
    try:
        plan = least_area(space, budget, capacity)
    except PlanInfeasible as err:
        report.update(feasible=False, verdict=f"no plan: {err}")
        if err.best is not None:  # the best this part can do, as a rate
            report["best_within_part"] = {"ii_cycles": err.best.ii_cycles, "multipliers": err.best.multipliers,
                                          "rate_per_s": clock_mhz * 1e6 / err.best.ii_cycles,
                                          "reuse_factor": str(err.best.reuse)}
            report["verdict"] += (f" = {report['best_within_part']['rate_per_s']:,.1f} inferences/s at "
                                  f"{clock_mhz:g} MHz (asked {rate:g})")
        _write(stem, report)
        raise PlanInfeasible(f"{report['verdict']}; report {stem.with_suffix('.md')}", err.best) from None
    report.update(feasible=True, reuse_factor=str(plan.reuse), ii_cycles=plan.ii_cycles, multipliers=plan.multipliers,
                  margin=budget / plan.ii_cycles, layers=plan.rows(),
                  verdict=f"meets {rate:g}/s (predicted II {plan.ii_cycles:,} <= {budget:,} cycles)")
    if check:
        report["check"] = measure(run_dir, plan.reuse, check, stem.parent / f"{stem.name}_rtl", budget)
    _write(stem, report)
    return report


def measure(run_dir: Path, reuse, n: int, rtl_dir: Path, budget: int) -> dict:
    """The chosen plan's RTL on n test clips, through python -m sim's own run (same files, same report)."""
    from sim.__main__ import run as sim_run

    args = argparse.Namespace(run=str(run_dir), n=n, split="test", reuse_factor=reuse, rtl=str(rtl_dir),
                              p_valid=100, p_ready=100, cocotb=0, waves=False)
    r = sim_run(args)
    return {"identical": r["identical"], "total": r["total"], "ii_cycles": r["ii_cycles"],
            "latency_cycles": r["latency_cycles"], "multipliers": r["multipliers"],
            "meets_budget": r["ii_cycles"] <= budget, "sim_report": str(rtl_dir / "sim_report.md")}


def _write(stem: Path, report: dict) -> None:
    stem.parent.mkdir(parents=True, exist_ok=True)
    report["json"], report["markdown"] = str(stem.with_suffix(".json")), str(stem.with_suffix(".md"))
    stem.with_suffix(".json").write_text(json.dumps(report, indent=1))
    stem.with_suffix(".md").write_text(markdown(report))


def markdown(r: dict) -> str:
    lines = [f"# Real-time plan: {r['run']} on {r['part']} at {r['clock_mhz']:g} MHz, {r['rate_per_s']:g} inferences/s", "",
             f"**{r['verdict']}**", "",
             f"- budget: {r['clock_mhz']:g} MHz / {r['rate_per_s']:g} per s = {r['budget_cycles']:,} cycles per inference",
             f"- fastest plan of this model: II {r['fastest']['ii_cycles']:,} cycles "
             f"({r['fastest']['rate_per_s']:,.1f} inferences/s at this clock), {r['fastest']['multipliers']:,} multipliers",
             f"- part: {r['dsp_blocks']} DSP blocks" + (f" ({r['dsp_kind']})" if r['dsp_kind'] else
                                                         " (multipliers are LUT logic: not checked by the planner)")]
    if r["feasible"]:
        lines += [f"- chosen: `{r['reuse_factor']}`: {r['multipliers']:,} multipliers, predicted II {r['ii_cycles']:,} "
                  f"cycles, real-time margin {r['margin']:.2f}x", "",
                  "| layer | reuse factor | multipliers | cycles per frame (predicted) |", "|---|---|---|---|"]
        lines += [f"| {l['layer']} | {l['reuse_factor']} | {l['multipliers']} | {l['cycles']:,} |" for l in r["layers"]]
        lines += ["", f"Stages without a reuse factor (and the input/output stream): {r['fixed_cycles']:,} cycles."]
    c = r.get("check")
    if c:
        lines += ["", f"Measured (Verilator, {c['total']} test clips): **{c['identical']} of {c['total']} identical**, "
                      f"II {c['ii_cycles']:,.0f} cycles (predicted {r['ii_cycles']:,}), latency {c['latency_cycles']:,} "
                      f"cycles; the measured II {'meets' if c['meets_budget'] else 'MISSES'} the budget "
                      f"of {r['budget_cycles']:,} cycles ({c['sim_report']})."]
    lines += ["", "Cost model: multipliers only (LUTs, flip-flops and block RAM are not counted); cycles are the "
                  "generator's schedule (hw/planner.py).", ""]
    if r.get("command"):
        lines += [f"Command: {r['command']}", ""]
    return "\n".join(lines)


def main(argv=None) -> int:
    from hw.tools.nextpnr import PARTS

    ap = argparse.ArgumentParser(prog="kwsflow plan", description=__doc__.split("\n\n")[0])
    ap.add_argument("--run", required=True)
    ap.add_argument("--part", required=True, help=f"one of {', '.join(PARTS)}")
    ap.add_argument("--clock-mhz", type=float, required=True)
    ap.add_argument("--rate", type=float, required=True, help="inferences per second the design must sustain")
    ap.add_argument("--check", type=int, default=0, metavar="N",
                    help="simulate the chosen plan on N test clips: measured II/latency, N of N identical")
    args = ap.parse_args(argv)
    part = checked_part(args.part)
    cmd = (f"`kwsflow plan --run {args.run} --part {part.name} --clock-mhz {args.clock_mhz:g} --rate {args.rate:g}"
           + (f" --check {args.check}" if args.check else "") + "`")
    r = plan_run(args.run, part, args.clock_mhz, args.rate, args.check, command=cmd)
    print(f"{r['run']} on {r['part']} at {r['clock_mhz']:g} MHz, {r['rate_per_s']:g}/s: {r['verdict']}; "
          f"RF {r['reuse_factor']}; {r['multipliers']:,} multipliers (part: {r['dsp_blocks']} DSP)"
          + (f"; measured II {r['check']['ii_cycles']:,.0f}, {r['check']['identical']} of {r['check']['total']} identical"
             if r.get("check") else "") + f"; report {r['markdown']}")
    c = r.get("check")
    return 0 if not c or (c["identical"] == c["total"] and c["meets_budget"]) else 1


if __name__ == "__main__":
    from hw.cli import run_main

    sys.exit(run_main(main, prog="kwsflow plan"))
