"""`python -m sim`'s work as a library: a run's RTL generated and simulated on its clips, compared
with hw.golden, timed; the report dict and its Markdown (also used by `kwsflow plan --check`)."""

from __future__ import annotations

import json
import time
from pathlib import Path

import numpy as np


def run(args) -> dict:
    from hw.rtl.report import fused_text
    from hw.rtl.run import generate_for_run
    from sim.check import compare, lower_bounds, timing
    from sim.reference import expected_raw, golden_of

    from hw.vectors import run_vectors

    from hw.convert import run_folder

    run_dir = run_folder(args.run)
    if args.split == "test" and not (run_dir / "test_vectors.npz").exists():
        raise FileNotFoundError(f"{run_dir / 'test_vectors.npz'} not found (written by training)")
    vectors = run_vectors(run_dir, args.split, args.n or None)
    x, y = vectors.x, vectors.y
    t0 = time.perf_counter()
    from hw.tools.yosys import block_line_buffers

    design, graph = generate_for_run(run_dir, args.rtl, args.reuse_factor,
                                     block_line_buffers=block_line_buffers(getattr(args, "target", None) or ""))
    t_gen = time.perf_counter() - t0
    golden = golden_of(graph)
    x_raw = golden.quantize_input(x)
    res = compare(design, graph, x_raw, p_valid=args.p_valid, p_ready=args.p_ready, seed=1)
    tim = timing(design, x_raw)
    gold = expected_raw(graph, x_raw)
    report = {
        "run": str(run_dir), "rtl": str(design.out_dir), "vectors": vectors.description,
        "identical": res["exact"], "total": res["n"], "first_differing": res["first_bad"],
        "golden_accuracy": float(np.mean(np.argmax(gold, 1) == y)),
        "latency_cycles": tim["latency_cycles"], "ii_cycles": tim["ii_cycles"], "layer_timing": tim["layer_timing"],
        **lower_bounds(design),
        "reuse_factor": str(args.reuse_factor), "split": args.split, "p_valid": args.p_valid, "p_ready": args.p_ready,
        "sim_cycles": res["cycles"], "sim_wall_s": res["wall_s"], "cycles_per_s": res["cycles_per_s"],
        "inferences_per_s": res["inferences_per_s"], "harness_build_s": res["build_s"], "generate_s": t_gen,
        "layers": [{**{k: l.get(k) for k in ("layer", "kind", "reuse_factor", "multipliers", "compute_cycles")},
                    **({"fused_activation": fused_text(l)} if "fused_activation" in l else {})}
                   for l in design.report["layers"]],
    }
    if args.cocotb:
        report["cocotb"] = cocotb_run(design, x_raw[: args.cocotb], gold[: args.cocotb], args.waves)
    out = Path(design.out_dir)
    (out / "sim_report.json").write_text(json.dumps(report, indent=1))
    (out / "sim_report.md").write_text(markdown(report))
    return report


def cocotb_run(design, x_raw, y_raw, waves: bool) -> dict:
    """The cocotb bench on a few clips: exactness under random valid/ready, its cycles/s, an FST."""
    import shutil

    from sim.frames import frames_for
    from sim.runner import run_cocotb

    cfg = {**frames_for(design, x_raw, y_raw), "p_valid": 0.8, "p_ready": 0.8, "seed": 1}
    res = run_cocotb(design.files, design.top, "sim.tb_stream", tb_config=cfg, testcase="stream_exact", waves=waves,
                     build_args=("--trace-fst",) if waves else ())
    rep = res.report.get("stream_exact", {})
    out = {"identical": rep.get("frames_exact", 0), "total": len(x_raw), "cycles": rep.get("cycles"),
           "cycles_per_s": rep.get("cycles_per_s"), "inferences_per_s": rep.get("inferences_per_s"),
           "build_s": res.build_seconds, "failed_tests": res.failed}
    dumps = sorted(res.results_xml.parent.glob("*.fst"))
    if waves and dumps:
        out["waves"] = str(Path(shutil.copy(dumps[0], Path(design.out_dir) / "dump.fst")))
    return out


def markdown(r: dict) -> str:
    lines = [f"# RTL simulation: {r['run']}", "",
             f"**{r['identical']} of {r['total']} identical** (RTL vs hw.golden, bit for bit, {r['vectors']}; "
             f"valid {r['p_valid']}% / ready {r['p_ready']}%)", "",
             f"- latency {r['latency_cycles']} cycles, II {r['ii_cycles']:.0f} cycles "
             f"(lower bound {r['ii_lower_bound']} = busiest layer's MACs / multipliers, or input beats)",
             f"- {r['multipliers']} multipliers for {r['macs']} MACs per inference",
             f"- simulation: {r['cycles_per_s']:.3g} cycles/s, {r['inferences_per_s']:.1f} inferences/s (compiled Verilator harness)",
             *([f"- cocotb bench (random valid/ready 80 %): {r['cocotb']['identical']} of {r['cocotb']['total']} identical, "
                f"{r['cocotb']['cycles_per_s']:.3g} cycles/s, {r['cocotb']['inferences_per_s']:.2f} inferences/s"
                + (f"; waveform {r['cocotb']['waves']}" if r['cocotb'].get('waves') else "")] if r.get("cocotb") else []),
             f"- golden-model accuracy on these clips: {r['golden_accuracy']:.4f}", "",
             "Per layer: the generator's estimate, and what one frame in an empty pipeline took in simulation "
             "(cycles of the layer's first input beat to its last output beat; what it adds to the latency: its last "
             "output beat minus its input's last beat — the column sums to the latency minus the input's streaming "
             "time, and is negative for a layer whose last output does not wait for its input's last beats, e.g. a "
             "strided window that never reads the trailing rows, such as the bottom padding rows of a 'same' conv with stride 2).", "",
             "A MAC layer's row includes the activation folded into it (its output lanes apply it; hw/rtl/fuse_activation.py).", "",
             "| layer | kind | reuse factor | multipliers | cycles/frame (est.) | first in → last out | adds |",
             "|---|---|---|---|---|---|---|"]
    measured = {t["layer"]: t for t in r.get("layer_timing", [])}
    for l in r["layers"]:
        t = measured.get(l["layer"])
        span = f"{t['first_in']} → {t['last_out']} ({t['latency']})" if t else ""
        name = l["layer"] + (f" + {l['fused_activation']}" if l.get("fused_activation") else "")
        lines.append(f"| {name} | {l['kind']} | {l.get('reuse_factor') or ''} | {l['multipliers']} "
                     f"| {l['compute_cycles']} | {span} | {t['adds'] if t else ''} |")
    cmd = f"python -m sim --run {r['run']} -n {r['total']} --reuse-factor {r['reuse_factor']} --rtl {r['rtl']}"
    if r.get("split", "test") != "test":
        cmd += f" --split {r['split']}"
    if (r["p_valid"], r["p_ready"]) != (100, 100):
        cmd += f" --p-valid {r['p_valid']} --p-ready {r['p_ready']}"
    lines += ["", f"Command: `{cmd}`", ""]
    return "\n".join(lines)
