"""`kwsflow plan` / `make plan`: the fewest multipliers whose II meets a rate on a part at a clock.

    kwsflow plan --run build/<run> --part ecp5-25k-cabga381 --clock-mhz 25 --rate 50 [--check N]
    kwsflow plan --run build/<run> --part ice40-up5k-sg48 --clock-mhz 12 --hop-ms 20 [--check N]

hw/planner.py chooses the per-layer reuse factors (exact for the generator's cycle model); for the
windowed IP, when the sequential engine (RF=seq, hw/rtl/sequential.py: one multiplier for every
layer, cycles derived exactly from the layer geometry) meets the rate, it is the plan. This
writes build/<run>/plan/plan_<part>_<clock>mhz_<rate>ips.{json,md} (or ..._hop<H>ms for the
streaming IP; other settings keep their files) with the chosen RFs, the predicted II (cycles per
hop), the multipliers against the part's DSP blocks and the real-time margin. `--check N` then
generates that RTL and streams N of the run's test clips through the Verilator harness: the
windowed IP through python -m sim's run (measured II and latency, "N of N identical"), the
streaming IP as one stream of their frames against the streaming golden model (every decision;
cycles per hop back to back, and the busiest hop with frames a hop apart).
No plan within the part: the report says why, and the command ends with one `error:` line (exit 2).
"""

from __future__ import annotations

import argparse
import json
import math
import sys
from dataclasses import dataclass
from functools import partial
from pathlib import Path

from hw.cli import InputError
from hw.planner import cycles_text


@dataclass(frozen=True)
class Target:
    """What the design must sustain: `rate` inferences/s of the windowed IP, or a frame every
    `hop_ms` for the streaming IP (--hop-ms)."""

    clock_mhz: float
    rate: float | None = None
    hop_ms: float | None = None

    @property
    def stream(self) -> bool:
        return self.hop_ms is not None

    @property
    def budget_cycles(self) -> float:
        """The II (streaming IP: cycles per hop) may not exceed this."""
        if self.stream:
            return self.clock_mhz * 1e3 * self.hop_ms
        return math.floor(self.clock_mhz * 1e6 / self.rate)

    @property
    def unit(self) -> str:
        return "cycles per hop" if self.stream else "cycles per inference"

    def achieved(self, ii_cycles: float) -> str:
        """What an II gives at this clock, in the target's terms."""
        if self.stream:
            return f"a hop of {ii_cycles / (self.clock_mhz * 1e3):.4g} ms at {self.clock_mhz:g} MHz"
        return f"{self.clock_mhz * 1e6 / ii_cycles:,.1f} inferences/s at {self.clock_mhz:g} MHz"

    def describe(self) -> str:
        return f"a {self.hop_ms:g} ms hop" if self.stream else f"{self.rate:g} inferences/s"

    def tag(self) -> str:
        return f"hop{self.hop_ms:g}ms" if self.stream else f"{self.rate:g}ips"

    def check(self) -> None:
        value = self.hop_ms if self.stream else self.rate
        if self.clock_mhz <= 0 or value is None or value <= 0:
            raise InputError(f"clock {self.clock_mhz:g} MHz, {'hop' if self.stream else 'rate'} {value}: "
                             "both must be positive")


def report_stem(part, target: Target) -> str:
    return f"plan_{part.name}_{target.clock_mhz:g}mhz_{target.tag()}"


def checked_part(name: str):
    from hw.tools.nextpnr import UnknownPartError, get_part

    try:
        return get_part(name)
    except UnknownPartError as err:
        raise InputError(str(err)) from None


def plan_run(run_dir, part, target: Target, check: int = 0, command: str = "") -> dict:
    """Plan (and with `check` > 0 simulate) one run; writes the reports, returns the report dict.
    An infeasible setting still writes its report, then raises PlanInfeasible."""
    from hw.planner import PlanInfeasible, design_space, fastest, least_area, tighten
    from hw.rtl.run import graph_for_run

    part = checked_part(part) if isinstance(part, str) else part  # before the hls4ml conversion
    target.check()
    run_dir = Path(run_dir)
    graph, config = graph_for_run(run_dir)
    stream_plan = _stream_plan(graph, config) if target.stream else None
    space = design_space(graph, stream_plan=stream_plan)
    budget = target.budget_cycles
    capacity = part.dsp or None  # no DSP blocks: multipliers are LUT logic, not bounded by this model
    quickest = fastest(space)
    report = {"run": run_dir.name, "part": part.name, "clock_mhz": target.clock_mhz, "rate_per_s": target.rate,
              "hop_ms": target.hop_ms, "ip": "streaming" if target.stream else "windowed", "unit": target.unit,
              "budget_cycles": budget, "dsp_blocks": part.dsp, "dsp_kind": part.dsp_kind,
              "fastest": {"ii_cycles": quickest.ii_cycles, "multipliers": quickest.multipliers,
                          "achieves": target.achieved(quickest.ii_cycles)},
              "fixed_cycles": space.fixed_cycles, "command": command}
    if stream_plan is not None:
        report["decision_frames"] = stream_plan.decision_frames
    stem = run_dir / "plan" / report_stem(part, target)
    engine = None if target.stream else _sequential(graph)
    if engine is not None:
        report["sequential"] = {"ii_cycles": engine.compute_cycles, "achieves": target.achieved(engine.compute_cycles)}
        # one multiplier for every layer: fewer than any dataflow plan (one per layer with weights at least)
        if engine.compute_cycles <= budget and len(space.layers) > 1:
            return _sequential_plan(report, stem, engine, target, run_dir, check)
    try:
        plan = least_area(space, budget, capacity, target.unit)
    except PlanInfeasible as err:
        report.update(feasible=False, verdict=f"no plan: {err}")
        if err.best is not None:  # the best this part can do, in the target's terms
            report["best_within_part"] = {"ii_cycles": err.best.ii_cycles, "multipliers": err.best.multipliers,
                                          "reuse_factor": str(err.best.reuse)}
            report["verdict"] += f" = {target.achieved(err.best.ii_cycles)}, asked {target.describe()}"
        _write(stem, report)
        raise PlanInfeasible(f"{report['verdict']}; report {report['markdown']}", err.best) from None
    report.update(feasible=True, reuse_factor=str(plan.reuse), ii_cycles=plan.ii_cycles, multipliers=plan.multipliers,
                  margin=budget / plan.ii_cycles, layers=plan.rows(),
                  verdict=f"meets {target.describe()} (predicted {cycles_text(plan.ii_cycles)} <= {cycles_text(budget)} {target.unit})")
    if check:
        rtl = stem.parent / f"{stem.name}_rtl"
        quick = partial(stream_ii, graph, stream_plan) if target.stream else partial(windowed_ii, graph)
        try:  # the model can be short for windowed layers: plan again below the budget by what it missed
            tight, report["rounds"] = tighten(space, plan, budget, partial(quick, run_dir, rtl), capacity, target.unit)
        except PlanInfeasible as err:
            report.update(feasible=False, verdict=f"no plan meets it in simulation: {err}")
            _write(stem, report)
            raise PlanInfeasible(f"{report['verdict']}; report {report['markdown']}", err.best) from None
        if tight != plan:
            report.update(reuse_factor=str(tight.reuse), ii_cycles=tight.ii_cycles, multipliers=tight.multipliers,
                          margin=budget / tight.ii_cycles, layers=tight.rows(),
                          verdict=f"meets {target.describe()} after {len(report['rounds']) - 1} re-plan(s) "
                                  f"(planned within {cycles_text(report['rounds'][-1]['planned_within'])} "
                                  f"{target.unit}, predicted {cycles_text(tight.ii_cycles)})")
        _record_check(report, target, measure_stream(run_dir, graph, stream_plan, tight.reuse, check, rtl)
                      if target.stream else measure(run_dir, tight.reuse, check, rtl))
    _write(stem, report)
    return report


def _record_check(report: dict, target: Target, measured: dict) -> None:
    """The simulated plan into the report; a measured II over the budget is the verdict."""
    budget = report["budget_cycles"]
    report["check"] = {**measured, "meets_budget": measured["ii_cycles"] <= budget}
    if not report["check"]["meets_budget"]:
        report["verdict"] = (f"misses {target.describe()} in simulation: {cycles_text(measured['ii_cycles'])} > "
                             f"{cycles_text(budget)} {target.unit} (predicted {cycles_text(report['ii_cycles'])})")


def _sequential(graph):
    """The sequential engine's stage (hw/rtl/sequential.py), or None for a graph it cannot compute."""
    from hw.rtl.errors import UnsupportedLayerError
    from hw.rtl.generate import sequential_engine

    try:
        return sequential_engine(graph)[0]
    except UnsupportedLayerError:
        return None


def _sequential_plan(report: dict, stem: Path, engine, target: Target, run_dir: Path, check: int) -> dict:
    """The plan when the sequential engine meets the budget: RF=seq (and with `check`, simulated)."""
    budget = report["budget_cycles"]
    ii = engine.compute_cycles
    report.update(feasible=True, reuse_factor="seq", ii_cycles=ii, multipliers=1, margin=budget / ii,
                  layers=[{"layer": name, "keras_layer": name, "reuse_factor": "seq", "multipliers": "shared",
                           "cycles": cycles} for name, cycles in engine.notes["layer_cycles"].items()],
                  verdict=f"meets {target.describe()} with the sequential engine, one multiplier for every layer "
                          f"(predicted {cycles_text(ii)} <= {cycles_text(budget)} {target.unit})")
    if check:
        _record_check(report, target, measure(run_dir, "seq", check, stem.parent / f"{stem.name}_rtl"))
    _write(stem, report)
    return report


QUICK_CLIPS = 4  # clips (their frames, for the streaming IP) to time a plan while tightening


def windowed_ii(graph, run_dir: Path, rtl_dir: Path, reuse) -> float:
    """Measured II of the windowed IP at `reuse`: a few clips back to back (sim.check.timing)."""
    from hw.rtl import generate_rtl
    from hw.vectors import run_vectors
    from sim.check import timing
    from sim.reference import golden_of

    design = generate_rtl(graph, rtl_dir, reuse_factor=reuse)
    x_raw = golden_of(graph).quantize_input(run_vectors(run_dir, "test", QUICK_CLIPS).x)
    return timing(design, x_raw)["ii_cycles"]


def stream_ii(graph, stream_plan, run_dir: Path, rtl_dir: Path, reuse) -> float:
    """Measured steady cycles per hop of the streaming IP at `reuse`, on the frames of a few clips."""
    from hw.rtl.stream_generate import generate_stream_rtl
    from hw.stream.golden import StreamingGolden
    from sim.stream_check import steady_cycles_per_frame

    golden = StreamingGolden(graph, stream_plan)
    raw = _clip_frames(run_dir, golden, stream_plan, QUICK_CLIPS)
    design = generate_stream_rtl(graph, stream_plan, rtl_dir, reuse_factor=reuse)
    return steady_cycles_per_frame(design, raw, len(golden.run(raw)), stream_plan.receptive_frames)


def _clip_frames(run_dir: Path, golden, stream_plan, n: int):
    """Raw input codes of the feature frames of the first n test clips, one after the other."""
    from hw.vectors import run_vectors

    x = run_vectors(run_dir, "test", n).x.reshape(-1, stream_plan.frame_elems)
    return golden.quantize_frames(x).reshape(-1, stream_plan.frame_elems)


def _stream_plan(graph, config: dict):
    """The streaming IP's layers at the run's decision period (its `stream:` settings)."""
    from hw.stream.plan import build_plan
    from qat.stream_config import StreamConfig

    return build_plan(graph, StreamConfig.from_dict(config.get("stream")).decision_frames)


def measure(run_dir: Path, reuse, n: int, rtl_dir: Path) -> dict:
    """The chosen plan's RTL on n test clips, through python -m sim's own run (same files, same report)."""
    from sim.rtl_run import run as sim_run

    args = argparse.Namespace(run=str(run_dir), n=n, split="test", reuse_factor=reuse, rtl=str(rtl_dir),
                              p_valid=100, p_ready=100, cocotb=0, waves=False)
    r = sim_run(args)
    return {"identical": r["identical"], "total": r["total"], "what": f"{r['total']} test clips",
            "ii_cycles": r["ii_cycles"], "latency_cycles": r["latency_cycles"], "multipliers": r["multipliers"],
            "sim_report": str(rtl_dir / "sim_report.md")}


def measure_stream(run_dir: Path, graph, stream_plan, reuse, n: int, rtl_dir: Path) -> dict:
    """The chosen plan's streaming IP on the frames of n test clips, back to back as one stream:
    every decision against the streaming golden model, cycles per hop back to back (the II the
    planner predicts) and the busiest hop with frames a hop apart (sim/stream_check.py)."""
    from hw.rtl.stream_generate import generate_stream_rtl
    from hw.stream.golden import StreamingGolden
    from sim.stream_check import decision_beats, hop_timing, steady_cycles_per_frame, stream_compare

    golden = StreamingGolden(graph, stream_plan)
    raw = _clip_frames(run_dir, golden, stream_plan, n)
    want = golden.run(raw)
    design = generate_stream_rtl(graph, stream_plan, rtl_dir, reuse_factor=reuse)
    res = stream_compare(design, decision_beats(design, want), raw)
    timing = hop_timing(design, raw, len(want), stream_plan.receptive_frames)
    return {"identical": res["identical"], "total": res["decisions"],
            "what": f"{len(raw)} frames of {n} test clips, {res['decisions']} decisions",
            "ii_cycles": steady_cycles_per_frame(design, raw, len(want), stream_plan.receptive_frames),
            "latency_cycles": timing["max_cycles_per_hop"], "multipliers": design.report["multipliers"],
            "rtl": str(rtl_dir)}


def _write(stem: Path, report: dict) -> None:
    stem.parent.mkdir(parents=True, exist_ok=True)
    # by name, not with_suffix: a tag such as 12.5ips has a dot of its own
    paths = {kind: stem.parent / f"{stem.name}.{ext}" for kind, ext in (("json", "json"), ("markdown", "md"))}
    report.update({kind: str(path) for kind, path in paths.items()})
    paths["json"].write_text(json.dumps(report, indent=1))
    paths["markdown"].write_text(markdown(report))


def markdown(r: dict) -> str:
    stream = r["ip"] == "streaming"
    asked = (f"a {r['hop_ms']:g} ms hop (streaming IP, a decision every {r['decision_frames']} frames)" if stream
             else f"{r['rate_per_s']:g} inferences/s")
    budget = (f"{r['clock_mhz']:g} MHz x {r['hop_ms']:g} ms" if stream
              else f"{r['clock_mhz']:g} MHz / {r['rate_per_s']:g} per s")
    lines = [f"# Real-time plan: {r['run']} on {r['part']} at {r['clock_mhz']:g} MHz, {asked}", "",
             f"**{r['verdict']}**", "",
             f"- budget: {budget} = {cycles_text(r['budget_cycles'])} {r['unit']}",
             f"- fastest plan of this model: {cycles_text(r['fastest']['ii_cycles'])} {r['unit']} ({r['fastest']['achieves']}), "
             f"{r['fastest']['multipliers']:,} multipliers",
             f"- part: {r['dsp_blocks']} DSP blocks" + (f" ({r['dsp_kind']})" if r['dsp_kind'] else
                                                         " (multipliers are LUT logic: not checked by the planner)")]
    if r["feasible"]:
        lines += [f"- chosen: `{r['reuse_factor']}`: {r['multipliers']:,} multipliers, predicted {cycles_text(r['ii_cycles'])} "
                  f"{r['unit']}, real-time margin {r['margin']:.2f}x", "",
                  f"| layer | reuse factor | multipliers | {r['unit']} (predicted) |", "|---|---|---|---|"]
        lines += [f"| {l['layer']} | {l['reuse_factor']} | {l['multipliers']} | {cycles_text(l['cycles'])} |" for l in r["layers"]]
        lines += ["", f"Stages without a reuse factor (and the input/output stream): {cycles_text(r['fixed_cycles'])} {r['unit']}."]
    if len(r.get("rounds", [])) > 1:
        lines += ["", "Timed on a few clips, each plan's measured cycles against the model's (the next plan is made "
                      "within the budget less the model's shortfall):", "",
                  "| planned within | reuse factors | multipliers | predicted | measured |", "|---|---|---|---|---|"]
        lines += [f"| {cycles_text(x['planned_within'])} | `{x['reuse_factor']}` | {x['multipliers']} | "
                  f"{cycles_text(x['predicted'])} | {cycles_text(x['measured'])} |" for x in r["rounds"]]
    c = r.get("check")
    if c:
        what = ("cycles per hop back to back", "busiest hop (frames a hop apart)") if stream else ("II", "latency")
        lines += ["", f"Measured (Verilator, {c['what']}): **{c['identical']} of {c['total']} identical**, "
                      f"{what[0]} {cycles_text(c['ii_cycles'])} (predicted {cycles_text(r['ii_cycles'])}), {what[1]} {cycles_text(c['latency_cycles'])} "
                      f"cycles; the measured {what[0]} {'meets' if c['meets_budget'] else 'MISSES'} the budget "
                      f"of {cycles_text(r['budget_cycles'])} ({c.get('sim_report') or c.get('rtl')})."]
    if r.get("sequential") and r.get("reuse_factor") != "seq":
        lines += ["", f"The sequential engine (RF=seq, one multiplier for every layer) would take "
                      f"{cycles_text(r['sequential']['ii_cycles'])} {r['unit']} ({r['sequential']['achieves']})."]
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
    need = ap.add_mutually_exclusive_group(required=True)
    need.add_argument("--rate", type=float, help="inferences per second the windowed IP must sustain")
    need.add_argument("--hop-ms", type=float, help="the streaming IP must take a frame every HOP_MS ms")
    ap.add_argument("--check", type=int, default=0, metavar="N",
                    help="simulate the chosen plan on N test clips: measured II/latency, N of N identical")
    args = ap.parse_args(argv)
    part = checked_part(args.part)
    target = Target(args.clock_mhz, rate=args.rate, hop_ms=args.hop_ms)
    need_flag = f"--hop-ms {args.hop_ms:g}" if target.stream else f"--rate {args.rate:g}"
    cmd = (f"`kwsflow plan --run {args.run} --part {part.name} --clock-mhz {args.clock_mhz:g} {need_flag}"
           + (f" --check {args.check}" if args.check else "") + "`")
    r = plan_run(args.run, part, target, args.check, command=cmd)
    c = r.get("check")
    print(f"{r['run']} on {r['part']} at {r['clock_mhz']:g} MHz: {r['verdict']}; RF {r['reuse_factor']}; "
          f"{r['multipliers']:,} multipliers (part: {r['dsp_blocks']} DSP)"
          + (f"; measured {cycles_text(c['ii_cycles'])} {r['unit']} ({'meets' if c['meets_budget'] else 'MISSES'} "
             f"the budget), {c['identical']} of {c['total']} identical" if c else "")
          + f"; report {r['markdown']}")
    return 0 if not c or (c["identical"] == c["total"] and c["meets_budget"]) else 1


if __name__ == "__main__":
    from hw.cli import run_main

    sys.exit(run_main(main, prog="kwsflow plan"))
