"""`make hls`: convert a trained run to an HLS project, build hls4ml's C simulation, and check
QKeras == golden numpy model == C simulation on real feature vectors of the run's dataset.

    python -m hw.hls --run build/<run> [--split all|test] [-n N] [--inputs x.npy]
                     [--io-type io_parallel [io_stream]] [--backend Vitis] [--strategy Latency]
                     [--reuse-factor 1]

Vectors (hw.vectors): by default every split of the run's dataset (test, validation, train) with
the run's normalizer; the data folder comes from the run config or $KWS_GSC_DIR.
Writes build/<run>/hls/project/ (the HLS project of the first io type, usable as-is with
Vitis/Vivado HLS; further io types in project_<io_type>/), build/<run>/hls/report.md and
build/<run>/hls/exactness.json. Exit status 1 if any pair differs, 2 if no vectors can be made.
Settings come from the run's config.yaml ``hls:`` section, then from the command line; precision
overrides from build/<run>/hls_precisions.json, then ``hls.precision_overrides``.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from dataclasses import replace
from pathlib import Path

import numpy as np

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

from hw.convert import HlsSettings, convert, load_run, run_overrides  # noqa: E402
from qat.fixed import FixedType  # noqa: E402
from hw.vectors import SPLITS, Vectors, VectorsError, run_vectors  # noqa: E402


def load_vectors(run_dir: Path, split: str, n: int | None, inputs: str | None) -> Vectors:
    """--inputs file if given, else real vectors of the run (hw.vectors)."""
    if inputs:
        x = np.load(inputs)
        x = x[:n] if n else x
        return Vectors(x.astype(np.float32), np.full(len(x), -1), f"{len(x)} vectors from {inputs}")
    return run_vectors(run_dir, split, n)


def layer_table(graph) -> list[dict]:
    rows = []
    for layer in graph.get_layers():
        row = {"name": layer.name, "class": type(layer).__name__, "shape": list(layer.get_output_variable().shape),
               "result": FixedType.from_hls4ml(layer.get_output_variable().type.precision).to_hls()}
        params, bits = 0, 0
        for key, var in layer.weights.items():
            t = FixedType.from_hls4ml(var.type.precision)
            row[key] = t.to_hls()
            params += int(var.data.size)
            bits += int(var.data.size) * t.width
        if "accum_t" in layer.types:
            row["accum"] = FixedType.from_hls4ml(layer.types["accum_t"].precision).to_hls()
        row["params"], row["weight_bits"] = params, bits
        rows.append(row)
    return rows


def compare(a: np.ndarray, b: np.ndarray) -> dict:
    a, b = a.reshape(len(a), -1), b.reshape(len(b), -1)
    same = np.all(a == b, axis=1)
    return {"identical": int(same.sum()), "total": int(len(a)),
            "same_argmax": int(np.sum(np.argmax(a, 1) == np.argmax(b, 1)))}


def check_setting(model, settings: HlsSettings, overrides: dict, project_dir: Path, x: np.ndarray,
                  y_q: np.ndarray) -> dict:
    """Convert + compile one HLS setting and compare QKeras / golden / C simulation on ``x``."""
    from hw.golden import GoldenModel
    from hw.trace import csim_trace, first_mismatch, golden_trace, qkeras_trace

    t0 = time.time()
    graph = convert(model, project_dir, settings, overrides)
    graph.compile()  # writes the project and builds the C simulation library with g++
    t_build = time.time() - t0
    golden = GoldenModel(graph)
    y_g = golden.predict(x).reshape(len(x), -1)
    speed = golden.throughput(x, repeats=3, threads=1)
    t0 = time.time()
    y_c = np.asarray(graph.predict(np.ascontiguousarray(x, dtype=np.float64))).reshape(len(x), -1)
    t_csim = time.time() - t0

    pairs = {"qkeras_vs_golden": compare(y_q, y_g), "golden_vs_csim": compare(y_g, y_c), "qkeras_vs_csim": compare(y_q, y_c)}
    mismatches = {}
    if pairs["qkeras_vs_golden"]["identical"] < len(x):
        m = first_mismatch(qkeras_trace(model, graph, x), golden_trace(golden, x), golden)
        mismatches["qkeras_vs_golden"] = m.to_dict() if m else None
    if pairs["golden_vs_csim"]["identical"] < len(x):
        traced = convert(model, project_dir.with_name(project_dir.name + "_trace"), settings, overrides, trace=True)
        traced.compile()
        m = first_mismatch(golden_trace(golden, x), csim_trace(traced, x), golden)
        mismatches["golden_vs_csim"] = m.to_dict() if m else None
    layers = layer_table(graph)
    return {
        "settings": settings.__dict__, "project": str(project_dir),
        "exact": all(p["identical"] == p["total"] for p in pairs.values()), "pairs": pairs, "first_mismatch": mismatches,
        "layers": layers, "params": sum(r["params"] for r in layers), "weight_bits": sum(r["weight_bits"] for r in layers),
        "golden_inferences_per_s": round(speed.per_cpu_second, 1),
        "golden_throughput": {"per_cpu_second": round(speed.per_cpu_second, 1), "per_wall_second": round(speed.per_wall_second, 1),
                              "vectors": speed.vectors, "blas_threads": speed.threads},
        "csim_inferences_per_s": round(len(x) / max(t_csim, 1e-9), 1), "build_seconds": round(t_build, 1),
    }


def run(args) -> int:
    run_dir = Path(args.run)
    model, config = load_run(run_dir)
    hls_cfg = dict(config.get("hls", {}) or {})
    hls_cfg.pop("precision_overrides", None)
    for key in ("backend", "strategy", "reuse_factor"):
        if getattr(args, key) is not None:
            hls_cfg[key] = getattr(args, key)
    io_types = args.io_type or [hls_cfg.pop("io_type", "io_parallel")]
    hls_cfg.pop("io_type", None)
    base = HlsSettings.from_dict(hls_cfg)
    overrides = run_overrides(run_dir, config)
    out_dir = Path(args.out) if args.out else run_dir / "hls"
    try:
        vectors = load_vectors(run_dir, args.split, args.n, args.inputs)
    except VectorsError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    x = vectors.x
    y_q = model.predict(x, verbose=0, batch_size=256).reshape(len(x), -1).astype(np.float64)

    results = []
    for i, io_type in enumerate(io_types):
        project = out_dir / ("project" if i == 0 else f"project_{io_type}")
        results.append(check_setting(model, replace(base, io_type=io_type), overrides, project, x, y_q))
    result = dict(results[0])
    result.update({
        "run": str(run_dir), "vectors": vectors.description, "n_vectors": len(x),
        "precision_overrides": overrides, "exact": all(r["exact"] for r in results), "also": results[1:],
        "command": "python -m hw.hls " + " ".join(sys.argv[1:] if args.argv is None else args.argv),
    })
    out_dir.mkdir(parents=True, exist_ok=True)
    (out_dir / "exactness.json").write_text(json.dumps(result, indent=2))
    text = render_report(result)
    (out_dir / "report.md").write_text(text)
    print(text)
    return 0 if result["exact"] else 1


def render_report(r: dict) -> str:
    lines = [
        f"# HLS conversion and exactness: {r['run']}",
        "",
        f"Command: `{r['command']}`  ",
        f"Parameters: {r['params']}, weight bits: {r['weight_bits']}. Test vectors: {r['vectors']}.  ",
        "Precision overrides: " + (", ".join(f"{k} {v}" for k, v in r["precision_overrides"].items()) or "none") + ".",
        "",
        "| layer | class | output shape | result | weight | bias | accum | params |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for row in r["layers"]:
        lines.append(
            f"| {row['name']} | {row['class']} | {row['shape']} | {row['result']} | {row.get('weight', '')} | "
            f"{row.get('bias', '')} | {row.get('accum', '')} | {row['params']} |"
        )
    lines += ["", "Outputs compared with np.array_equal on the raw output values (not argmax).", "",
              "| setting | pair | identical vectors | same argmax |", "|---|---|---|---|"]
    for setting in [r, *r["also"]]:
        s = setting["settings"]
        name = f"{s['backend']} {s['io_type']} {s['strategy']} RF{s['reuse_factor']}"
        for pair, p in setting["pairs"].items():
            lines.append(f"| {name} | {pair} | {p['identical']} of {p['total']} | {p['same_argmax']} of {p['total']} |")
    lines.append("")
    for setting in [r, *r["also"]]:
        s, t = setting["settings"], setting["golden_throughput"]
        lines.append(f"- {s['io_type']}: golden model {t['per_cpu_second']} inferences/s on one core (CPU time, "
                     f"{t['blas_threads']} BLAS thread; {t['per_wall_second']}/s wall clock over {t['vectors']} vectors); "
                     f"C simulation {setting['csim_inferences_per_s']} inferences/s; build {setting['build_seconds']} s.")
        for pair, m in setting["first_mismatch"].items():
            lines.append(f"  - {pair}: " + (
                f"first differing layer `{m['layer']}` ({m['layer_type']}): {m['differing_elements']} of "
                f"{m['total_elements']} elements, max {m['max_lsb_difference']} LSB" if m else "outputs differ but no traced layer does"))
    lines += ["", "**EXACT**" if r["exact"] else "**NOT EXACT**"]
    return "\n".join(lines) + "\n"


def main(argv=None) -> int:
    p = argparse.ArgumentParser(prog="python -m hw.hls", description=__doc__.split("\n\n")[0])
    p.add_argument("--run", required=True, help="run directory build/<run> with model.h5, config.yaml, normalizer.npz")
    p.add_argument("--split", choices=SPLITS, default="all",
                   help="real vectors: all splits of the run's dataset (default) or the test split only")
    p.add_argument("-n", type=int, default=None, help="at most this many vectors (default: the whole split)")
    p.add_argument("--inputs", help="float feature vectors .npy instead of the run's dataset")
    p.add_argument("--backend", choices=["Vitis", "Vivado"])
    p.add_argument("--io-type", dest="io_type", nargs="+", choices=["io_parallel", "io_stream"],
                   help="one or more io types, each checked (default: config, else io_parallel)")
    p.add_argument("--strategy", choices=["Latency", "Resource"])
    p.add_argument("--reuse-factor", dest="reuse_factor", type=int)
    p.add_argument("--out", help="output folder (default build/<run>/hls)")
    args = p.parse_args(argv)
    args.argv = argv
    return run(args)


if __name__ == "__main__":
    from hw.cli import run_main

    sys.exit(run_main(main, prog="python -m hw.hls"))
