"""`make hls`: convert a trained run to an HLS project, build hls4ml's C simulation, and check
QKeras == golden numpy model == C simulation on test vectors.

    python -m hw.hls --run build/<run> [--backend Vitis] [--io-type io_parallel]
                     [--strategy Latency] [--reuse-factor 1] [--inputs x.npy] [-n 1000]

Writes build/<run>/hls/ (the HLS project, usable as-is with Vitis/Vivado HLS), plus
build/<run>/hls/report.md and build/<run>/hls/exactness.json. Exit status 1 if any pair differs.
Settings come from the run's config.yaml ``hls:`` section, then from the command line.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from pathlib import Path

import numpy as np

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

from hw.convert import HlsSettings, convert, load_run  # noqa: E402
from hw.fixed import FixedType  # noqa: E402


def test_vectors(run_dir: Path, model, n: int, inputs: str | None, seed: int = 0) -> tuple[np.ndarray, str]:
    """(vectors, description). Priority: --inputs file, build/<run>/test_features.npy, synthetic."""
    for path in ([Path(inputs)] if inputs else []) + [run_dir / "test_features.npy"]:
        if path.exists():
            x = np.load(path)[:n]
            return x.astype(np.float32), f"{len(x)} vectors from {path}"
        if inputs:
            raise FileNotFoundError(path)
    rng = np.random.default_rng(seed)
    x = rng.normal(0, 1.5, size=(n, *model.input_shape[1:])).astype(np.float32)
    return x, f"{n} synthetic N(0, 1.5) vectors (no test features found)"


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


def run(args) -> int:
    from hw.golden import GoldenModel
    from hw.trace import csim_trace, first_mismatch, golden_trace, qkeras_trace

    run_dir = Path(args.run)
    model, config = load_run(run_dir)
    hls_cfg = dict(config.get("hls", {}) or {})
    for key in ("backend", "io_type", "strategy", "reuse_factor"):
        if getattr(args, key) is not None:
            hls_cfg[key] = getattr(args, key)
    overrides = hls_cfg.pop("precision_overrides", None)
    settings = HlsSettings.from_dict(hls_cfg)
    out_dir = run_dir / "hls"

    t0 = time.time()
    graph = convert(model, out_dir / "project", settings, overrides)
    graph.compile()  # writes the project and builds the C simulation library with g++
    t_build = time.time() - t0
    golden = GoldenModel(graph)
    x, source = test_vectors(run_dir, model, args.n, args.inputs)

    y_q = model.predict(x, verbose=0, batch_size=256).reshape(len(x), -1).astype(np.float64)
    t0 = time.time()
    y_g = golden.predict(x).reshape(len(x), -1)
    golden_rate = len(x) / max(time.time() - t0, 1e-9)
    y_c = np.asarray(graph.predict(np.ascontiguousarray(x, dtype=np.float64))).reshape(len(x), -1)

    pairs = {"qkeras_vs_golden": compare(y_q, y_g), "golden_vs_csim": compare(y_g, y_c), "qkeras_vs_csim": compare(y_q, y_c)}
    exact = all(p["identical"] == p["total"] for p in pairs.values())
    mismatches = {}
    if pairs["qkeras_vs_golden"]["identical"] < len(x):
        m = first_mismatch(qkeras_trace(model, graph, x), golden_trace(golden, x), golden)
        mismatches["qkeras_vs_golden"] = m.to_dict() if m else None
    if pairs["golden_vs_csim"]["identical"] < len(x):
        traced = convert(model, out_dir / "trace_project", settings, overrides, trace=True)
        traced.compile()
        m = first_mismatch(golden_trace(golden, x), csim_trace(traced, x), golden)
        mismatches["golden_vs_csim"] = m.to_dict() if m else None

    layers = layer_table(graph)
    result = {
        "run": str(run_dir), "settings": settings.__dict__, "vectors": source, "exact": exact, "pairs": pairs,
        "first_mismatch": mismatches, "layers": layers,
        "params": sum(r["params"] for r in layers), "weight_bits": sum(r["weight_bits"] for r in layers),
        "golden_inferences_per_s": round(golden_rate, 1), "build_seconds": round(t_build, 1),
        "command": "python -m hw.hls " + " ".join(sys.argv[1:]),
    }
    out_dir.mkdir(parents=True, exist_ok=True)
    (out_dir / "exactness.json").write_text(json.dumps(result, indent=2))
    text = render_report(result)
    (out_dir / "report.md").write_text(text)
    print(text)
    return 0 if exact else 1


def render_report(r: dict) -> str:
    s = r["settings"]
    lines = [
        f"# HLS conversion and exactness: {r['run']}",
        "",
        f"Command: `{r['command']}`  ",
        f"Backend {s['backend']}, {s['io_type']}, strategy {s['strategy']}, reuse factor {s['reuse_factor']}.  ",
        f"Parameters: {r['params']}, weight bits: {r['weight_bits']}. Test vectors: {r['vectors']}.",
        "",
        "| layer | class | output shape | result | weight | bias | accum | params |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for row in r["layers"]:
        lines.append(
            f"| {row['name']} | {row['class']} | {row['shape']} | {row['result']} | {row.get('weight', '')} | "
            f"{row.get('bias', '')} | {row.get('accum', '')} | {row['params']} |"
        )
    lines += ["", "| pair | identical vectors | same argmax |", "|---|---|---|"]
    for name, p in r["pairs"].items():
        lines.append(f"| {name} | {p['identical']} of {p['total']} | {p['same_argmax']} of {p['total']} |")
    lines += ["", f"Golden model: {r['golden_inferences_per_s']} inferences/s (one process).",
              "", "**EXACT**" if r["exact"] else "**NOT EXACT**"]
    for pair, m in r["first_mismatch"].items():
        lines.append(f"- {pair}: " + (
            f"first differing layer `{m['layer']}` ({m['layer_type']}): {m['differing_elements']} of "
            f"{m['total_elements']} elements, max {m['max_lsb_difference']} LSB" if m else "outputs differ but no traced layer does"))
    return "\n".join(lines) + "\n"


def main(argv=None) -> int:
    p = argparse.ArgumentParser(prog="python -m hw.hls", description=__doc__.split("\n\n")[0])
    p.add_argument("--run", required=True, help="run directory build/<run> with model.h5 and config.yaml")
    p.add_argument("--backend", choices=["Vitis", "Vivado"])
    p.add_argument("--io-type", dest="io_type", choices=["io_parallel", "io_stream"])
    p.add_argument("--strategy", choices=["Latency", "Resource"])
    p.add_argument("--reuse-factor", dest="reuse_factor", type=int)
    p.add_argument("--inputs", help="float test features .npy (default: build/<run>/test_features.npy)")
    p.add_argument("-n", type=int, default=1000, help="number of test vectors (default 1000)")
    return run(p.parse_args(argv))


if __name__ == "__main__":
    sys.exit(main())
