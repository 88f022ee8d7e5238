"""`kwsflow hw`: a QKeras model the project did not train, through the whole hardware chain.

    kwsflow hw MODEL.h5 --inputs X.npy [--expect Y.npy] [--reuse-factor RF] [--csim] [--out DIR] [--json FILE]
               [--io-type io_parallel|io_stream] [--p-valid 100] [--p-ready 100] [--quantize-inputs]

Checks the model and the arrays first (a refused layer, a missing file, a wrong shape or dtype,
NaN/inf, values off the input quantizer's grid: one ``error:`` line each, exit 2), then converts
with hls4ml (DIR/hls), runs the golden numpy model, generates our Verilog (DIR/rtl) and streams
every input through it under Verilator, and prints one line per pair:

    golden vs QKeras: 200 of 200 identical
    golden vs expected: 200 of 200 identical      (with --expect: the raw outputs you expect)
    C sim vs golden: 200 of 200 identical         (with --csim: hls4ml's C simulation, g++)
    RTL vs golden: 200 of 200 identical
    latency 1,234 cycles, II 1,000 cycles

and writes the summary as JSON (DIR/summary.json, or --json FILE). Exit status 0 when every pair
is identical, 1 when any differs, 2 when the model or the inputs are refused.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

import numpy as np

PAIR_ORDER = ("golden vs QKeras", "golden vs expected", "C sim vs golden", "RTL vs golden")


def _pair(a, b) -> dict:
    a, b = np.asarray(a).reshape(len(a), -1), np.asarray(b).reshape(len(b), -1)
    same = np.all(a == b, axis=1)
    bad = np.flatnonzero(~same)
    return {"identical": int(same.sum()), "total": int(len(a)), "first_differing": bad[:10].tolist()}


def _input_quantizer(model) -> str:
    """The input QActivation's quantizer as the user wrote it (for messages)."""
    from hw.convert.keras_graph import consumers

    from hw.convert.quantizer_types import quantizer_config

    for layer in model.layers:
        if type(layer).__name__ == "InputLayer":
            after = consumers(model, layer)
            if after and type(after[0]).__name__ == "QActivation":
                name, cfg = quantizer_config(after[0].get_config().get("activation"))
                args = ", ".join(str(cfg[k]) for k in ("bits", "integer") if k in cfg)
                return f"{name}({args})"
    return ""


def run(args) -> dict:
    from hw.cli import quiet
    from hw.convert import HlsSettings, check_supported, convert
    from hw.golden import GoldenModel
    from hw.rtl import generate_rtl
    from hw.rtl.reuse import parse_reuse
    from hw.user_arrays import check_expected, check_inputs, load_array, load_user_model
    from sim.check import compare, timing

    t0 = time.perf_counter()
    # everything that can be refused is refused before the long work (hls4ml, g++, Verilator)
    x_file = load_array(args.inputs, "x")
    y_file = load_array(args.expect, "y") if args.expect else None
    plan = parse_reuse(args.reuse_factor)
    with quiet():
        model = load_user_model(args.model)
        settings = HlsSettings(io_type=args.io_type)
        check_supported(model, settings.strategy, settings.io_type, settings.reuse_factor)
    out = Path(args.out) if args.out else Path("kwsflow_out") / Path(args.model).stem
    with quiet():
        graph = convert(model, out / "hls", settings)
    golden = GoldenModel(graph)
    in_shape, out_shape = tuple(model.input_shape[1:]), golden.output_shape
    if args.quantize_inputs:
        x_file = golden.input_t.to_float(golden.quantize_input(np.asarray(x_file, dtype=np.float64)))
    x = check_inputs(x_file, in_shape, golden.input_t, args.inputs, _input_quantizer(model))
    y_expect = check_expected(y_file, len(x), out_shape, args.expect) if y_file is not None else None

    pairs: dict[str, dict] = {}
    y_golden = golden.predict(x)
    with quiet():
        y_qkeras = model.predict(x.astype(np.float32), verbose=0, batch_size=256)
    pairs["golden vs QKeras"] = _pair(y_golden, y_qkeras)
    if y_expect is not None:
        pairs["golden vs expected"] = _pair(y_golden, y_expect)
    if args.csim:
        with quiet():
            graph.compile()
            y_csim = np.asarray(graph.predict(np.ascontiguousarray(x, dtype=np.float64)))
        pairs["C sim vs golden"] = _pair(y_csim, y_golden)
    design = generate_rtl(graph, out / "rtl", reuse_factor=plan)
    x_raw = golden.quantize_input(x)
    rtl = compare(design, graph, x_raw, p_valid=args.p_valid, p_ready=args.p_ready, seed=1)
    pairs["RTL vs golden"] = {"identical": rtl["exact"], "total": rtl["n"], "first_differing": rtl["first_bad"]}
    tim = timing(design, x_raw)
    summary = {
        "model": str(args.model), "inputs": str(args.inputs), "expect": str(args.expect) if args.expect else None,
        "vectors": len(x), "out": str(out), "io_type": settings.io_type, "reuse_factor": str(args.reuse_factor),
        "p_valid": args.p_valid, "p_ready": args.p_ready, "pairs": pairs,
        "exact": all(p["identical"] == p["total"] for p in pairs.values()),
        "latency_cycles": tim["latency_cycles"], "ii_cycles": tim["ii_cycles"],
        "multipliers": design.report["multipliers"], "rom_bits": design.report["rom_bits"],
        "layers": [{k: l.get(k) for k in ("layer", "kind", "reuse_factor", "multipliers", "compute_cycles")}
                   for l in design.report["layers"]],
        "seconds": round(time.perf_counter() - t0, 1),
    }
    json_path = Path(args.json) if args.json else out / "summary.json"
    json_path.parent.mkdir(parents=True, exist_ok=True)
    json_path.write_text(json.dumps(summary, indent=1) + "\n")
    summary["json"] = str(json_path)
    return summary


def lines(summary: dict) -> list[str]:
    rows = []
    for name in PAIR_ORDER:
        p = summary["pairs"].get(name)
        if p:
            rows.append(f"{name}: {p['identical']} of {p['total']} identical"
                        + (f" (first differing input {p['first_differing'][0]})" if p["identical"] < p["total"] else ""))
    rows.append(f"latency {summary['latency_cycles']:,} cycles, II {summary['ii_cycles']:,.0f} cycles "
                f"({summary['multipliers']} multipliers, reuse factor {summary['reuse_factor']})")
    rows.append(f"summary: {summary['json']}")
    return rows


def parser() -> argparse.ArgumentParser:
    from hw.rtl.reuse import REUSE_HELP

    ap = argparse.ArgumentParser(prog="kwsflow hw", description=__doc__.split("\n\n")[0],
                                 epilog="Exit status: 0 every pair identical, 1 some pair differs, 2 refused.")
    ap.add_argument("model", help="saved QKeras model (.h5)")
    ap.add_argument("--inputs", required=True, help="input vectors: .npy, or .npz with array 'x' (batch first)")
    ap.add_argument("--expect", help="expected raw outputs: .npy, or .npz with array 'y' (compared exactly)")
    ap.add_argument("--reuse-factor", default="1", help=REUSE_HELP.replace("(default 64)", "(default 1)"))
    ap.add_argument("--io-type", choices=("io_parallel", "io_stream"), default="io_parallel",
                    help="hls4ml io type of the conversion (default io_parallel)")
    ap.add_argument("--csim", action="store_true", help="also build and run hls4ml's C simulation (g++)")
    ap.add_argument("--out", help="output folder (default kwsflow_out/<model name>)")
    ap.add_argument("--json", help="summary JSON (default <out>/summary.json)")
    ap.add_argument("--p-valid", type=int, default=100, help="input valid probability in the RTL run, percent")
    ap.add_argument("--p-ready", type=int, default=100, help="output ready probability in the RTL run, percent")
    ap.add_argument("--quantize-inputs", action="store_true",
                    help="round inputs onto the input quantizer's grid instead of refusing off-grid values")
    return ap


def main(argv=None) -> int:
    from hw.cli import InputError

    args = parser().parse_args(argv)
    for name in ("p_valid", "p_ready"):
        if not 1 <= getattr(args, name) <= 100:
            raise InputError(f"--{name.replace('_', '-')} {getattr(args, name)}: give a percentage in 1..100")
    summary = run(args)
    print("\n".join(lines(summary)))
    return 0 if summary["exact"] else 1


if __name__ == "__main__":
    from hw.cli import run_main

    sys.exit(run_main(main, prog="kwsflow hw"))
