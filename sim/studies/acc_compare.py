"""Paper A's hardware claim in our terms: one network trained with FXP-QAT narrow (e.g. 16-bit) and
wide (32-bit) accumulators, each taken to RTL at the same reuse factor, side by side:
accuracy, "N of N identical" (QKeras ≡ golden and golden ≡ RTL), latency / II in simulated
cycles, Yosys LUT / FF per layer and in total.

    python -m sim.studies.acc_compare --runs build/gsc_dscnn_fxp4_acc16 build/gsc_dscnn_fxp4_acc32 \
        [--reuse-factor 64] [--target ice40] [-n 0] [--out build/acc_compare] [--no-synth]

Each run keeps its trained accumulator formats (width, binary point, rounding) but wraps on
overflow (hw.accumulators.wrapping_accumulators): the time-multiplexed RTL adds products in its
own order, and only a wrapping sum is independent of it. QKeras fake-quantizes (saturates) the
finished sum instead, so QKeras ≡ hardware holds exactly when no final sum leaves the trained
format, which the QKeras-vs-golden count measures on the real clips.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

import numpy as np

from hw.rtl.reuse import REUSE_HELP
from hw.rtl.reuse import parse_reuse


def compare_run(run_dir, *, reuse_factor: int, target: str, n: int, out_dir: Path, synth: bool = True,
                jobs: int = 1) -> dict:
    from hw.accumulators import wrapping_accumulators
    from hw.convert import load_run
    from hw.hls import compare as compare_outputs
    from hw.rtl.run import generate_for_run, graph_for_run
    from hw.synth import synthesize_design
    from sim.check import compare as compare_rtl, lower_bounds, timing
    from sim.reference import golden_of

    run_dir, out_dir = Path(run_dir), Path(out_dir)
    with np.load(run_dir / "test_vectors.npz") as d:
        x, y = (d["x"][:n], d["y"][:n]) if n else (d["x"], d["y"])
    base, _ = graph_for_run(run_dir)
    wrap = wrapping_accumulators(base)
    design, graph = generate_for_run(run_dir, out_dir / "rtl", reuse_factor, extra_overrides=wrap)
    golden = golden_of(graph)
    model, _ = load_run(run_dir)
    y_q = np.asarray(model.predict(x, batch_size=256, verbose=0)).reshape(len(x), -1)
    y_g = np.asarray(golden.predict(x)).reshape(len(x), -1)
    x_raw = golden.quantize_input(x)
    rtl = compare_rtl(design, graph, x_raw)
    row = {
        "run": str(run_dir), "accumulators": wrap, "reuse_factor": str(reuse_factor), "clips": len(x),
        "accuracy_hw": float(np.mean(np.argmax(y_g, 1) == y)), "accuracy_qkeras": float(np.mean(np.argmax(y_q, 1) == y)),
        "qkeras_vs_golden": compare_outputs(y_q, y_g), "golden_vs_rtl": {"identical": rtl["exact"], "total": rtl["n"]},
        **timing(design, x_raw), **lower_bounds(design), "rom_bits": design.report["rom_bits"],
    }
    if synth:
        t0 = time.perf_counter()
        res = synthesize_design(design, out_dir / "yosys", target, whole=False, progress=True, jobs=jobs)
        row["yosys"] = {"target": target, "seconds": time.perf_counter() - t0, "total": res["total"]["summary"],
                        "layers": {k: v["summary"] for k, v in res["layers"].items() if v["summary"]}}
    (out_dir / "result.json").write_text(json.dumps(row, indent=1))
    return row


def collect(out_dir: Path) -> dict:
    """A run's row from what an earlier (possibly interrupted) invocation left on disk: result.json,
    plus per-layer Yosys results found under yosys/ (a layer missing there stays missing)."""
    from hw.tools.yosys import summarize

    row = json.loads((out_dir / "result.json").read_text())
    order = [l["layer"] for l in json.loads((out_dir / "rtl" / "report.json").read_text())["layers"]]
    layers = {}
    for name in order:  # design order
        res = out_dir / "yosys" / f"layer_{name}" / "resources.json"
        if res.exists():
            data = json.loads(res.read_text())
            layers[name] = {**data["summary"], "seconds": data["seconds"]}
    if layers and "yosys" not in row:
        cells: dict[str, int] = {}
        for name in layers:
            data = json.loads((out_dir / "yosys" / f"layer_{name}" / "resources.json").read_text())
            for c, n in data["cells"].items():
                cells[c] = cells.get(c, 0) + n
        row["yosys"] = {"target": data["target"], "total": summarize(cells),
                        "layers": {k: {x: v[x] for x in v if x != "seconds"} for k, v in layers.items()},
                        "seconds": sum(v["seconds"] for v in layers.values())}
    return row


def markdown(rows: list[dict], cmd: str) -> str:
    def acc_widths(r):
        widths = sorted({int(v["accum"].split("<")[1].split(",")[0]) for v in r["accumulators"].values()})
        return "/".join(map(str, widths))

    names = [Path(r["run"]).name for r in rows]
    head = "| | " + " | ".join(names) + " |\n|---|" + "---|" * len(rows)
    line = lambda label, f: f"| {label} | " + " | ".join(f(r) for r in rows) + " |"  # noqa: E731
    lines = ["# Narrow vs wide accumulators (paper A) in RTL", "", head,
             line("accumulator widths (bits)", acc_widths),
             line("test accuracy, hardware (golden = RTL)", lambda r: f"{100 * r['accuracy_hw']:.1f} %"),
             line("QKeras ≡ golden", lambda r: f"{r['qkeras_vs_golden']['identical']} of {r['qkeras_vs_golden']['total']}"),
             line("golden ≡ RTL (Verilator)", lambda r: f"{r['golden_vs_rtl']['identical']} of {r['golden_vs_rtl']['total']}"),
             line("latency (cycles)", lambda r: str(r["latency_cycles"])),
             line("II (cycles)", lambda r: f"{r['ii_cycles']:.0f} (bound {r['ii_lower_bound']})"),
             line("multipliers", lambda r: str(r["multipliers"])),
             line("weight ROM bits", lambda r: str(r["rom_bits"]))]
    if all("yosys" in r for r in rows):
        y0 = rows[0]["yosys"]
        # Totals over the layers every column has (an interrupted synthesis may lack some).
        common = [n for n in y0["layers"] if all(n in r["yosys"]["layers"] for r in rows)]
        total = lambda r, k: sum(r["yosys"]["layers"][n][k] for n in common)  # noqa: E731
        lines.append(line(f"Yosys {y0['target']} LUT / FF / carry / BRAM, {len(common)} layers",
                          lambda r: " / ".join(str(total(r, k)) for k in ("lut", "ff", "carry", "bram"))))
        lines += ["", "Per layer (LUT / FF; - = not synthesized):", "", head]
        for layer in y0["layers"]:
            lines.append(line(layer, lambda r: "{lut} / {ff}".format(**r["yosys"]["layers"].get(layer, {"lut": "-", "ff": "-"}))))
    lines += ["", f"Command: `{cmd}`", ""]
    return "\n".join(lines)


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(prog="python -m sim.studies.acc_compare", description=__doc__.split("\n\n")[0])
    ap.add_argument("--runs", nargs="+", required=True, help="run directories (e.g. the acc16 and acc32 runs)")
    ap.add_argument("--reuse-factor", type=parse_reuse, default=parse_reuse(64), help=REUSE_HELP)
    ap.add_argument("--target", default="ice40", choices=("ice40", "xilinx", "generic"))
    ap.add_argument("-n", type=int, default=0, help="test clips (0: all)")
    ap.add_argument("--out", default="build/acc_compare")
    ap.add_argument("--no-synth", action="store_true")
    ap.add_argument("--jobs", type=int, default=1, help="Yosys processes at once")
    ap.add_argument("--report-only", action="store_true",
                    help="no simulation or synthesis: the table from the results an earlier run left in --out")
    args = ap.parse_args(argv)
    out = Path(args.out)
    if args.report_only:
        rows = [collect(out / Path(r).name) for r in args.runs]
    else:
        rows = [compare_run(r, reuse_factor=args.reuse_factor, target=args.target, n=args.n,
                            out_dir=out / Path(r).name, synth=not args.no_synth, jobs=args.jobs) for r in args.runs]
    cmd = "python -m sim.studies.acc_compare " + " ".join(sys.argv[1:] if argv is None else argv)
    text = markdown(rows, cmd)
    (out / "acc_compare.md").write_text(text)
    (out / "acc_compare.json").write_text(json.dumps(rows, indent=1))
    print(text)
    exact = all(r["golden_vs_rtl"]["identical"] == r["golden_vs_rtl"]["total"] for r in rows)
    return 0 if exact else 1


if __name__ == "__main__":
    from hw.cli import run_main

    sys.exit(run_main(main, prog="python -m sim.studies.acc_compare"))
