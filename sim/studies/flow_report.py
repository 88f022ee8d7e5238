"""One page for a whole run: training → hls4ml/C sim → RTL simulation → synthesis → place and route.

    python -m sim.studies.flow_report --run build/demo

Reads what each stage wrote under build/<run>/ (metrics.json, hls/exactness.json,
rtl/sim_report.json, synth/*/resources.json, pnr/pnr_report_*.json) and writes build/<run>/flow_report.md. A stage that has
not run is listed as such: nothing is filled in that was not measured.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path


def _load(path: Path):
    return json.loads(path.read_text()) if path.exists() else None


def render(run_dir: Path) -> str:
    """Every stage that has results; a stage without them says so (a model of your own has no training)."""
    lines = [f"# kwsflow run `{run_dir.name}`", ""]
    lines += training_section(run_dir) + model_check_section(run_dir)
    hls = _load(run_dir / "hls" / "exactness.json")
    lines += ["## hls4ml conversion and C simulation", ""]
    if hls is None:
        lines += ["Not run (`make hls RUN=...`).", ""]
    else:
        s = hls["settings"]
        lines += [f"{s['backend']}, {s['io_type']}, {s['strategy']}, reuse factor {s['reuse_factor']}; {hls['vectors']}.", "",
                  "| pair | identical vectors |", "|---|---|"]
        lines += [f"| {k} | {p['identical']} of {p['total']} |" for k, p in hls["pairs"].items()]
        lines += ["", f"Golden numpy model: {hls['golden_inferences_per_s']} inferences/s.", ""]

    sim = _load(run_dir / "rtl" / "sim_report.json")
    lines += ["## RTL under Verilator", ""]
    if sim is None:
        lines += ["Not run.", ""]
    else:
        lines += [f"**{sim['identical']} of {sim['total']} identical** (RTL vs golden model, {sim.get('vectors', '')}), "
                  f"reuse factor {sim.get('reuse_factor')}.", "",
                  f"- latency {sim.get('latency_cycles')} cycles, initiation interval {sim.get('ii_cycles')} cycles "
                  f"(lower bound {sim.get('ii_lower_bound')})",
                  f"- {sim.get('multipliers')} multipliers for {sim.get('macs')} MACs per inference", ""]
    lines += ["## Yosys", ""]
    synths = sorted((run_dir / "synth").glob("*/resources.json"))  # hw.synth: synth/rf<RF>_<target>[_acc<W>]/
    if not synths:
        lines += [f"Not run (`make synth RUN={run_dir.name}`).", ""]
    else:
        lines += ["| design | LUT | FF | carry | BRAM | layers synthesized |", "|---|---|---|---|---|---|"]
        for synth in synths:
            data = _load(synth)
            t, missing = data["total"]["summary"], data["total"].get("missing", [])
            done = f"{len(data['layers']) - len(missing)} of {len(data['layers'])}" + \
                (f" (failed: {', '.join(missing)})" if missing else "")
            lines.append(f"| {synth.parent.name} | {t['lut']} | {t['ff']} | {t['carry']} | {t['bram']} | {done} |")
        lines += ["", "Totals are sums over the layers, each synthesized as its own top (`python -m hw.synth`).", ""]
    lines += stream_section(run_dir) + pnr_section(run_dir)
    return "\n".join(lines) + "\n"


def training_section(run_dir: Path) -> list[str]:
    m = _load(run_dir / "metrics.json")
    if m is None:
        return ["## Training", "", "No metrics.json: not trained here (a model of your own, or training has not run).", ""]
    phases = next(iter(m["accuracy"].values()))
    lines = [f"## Training ({m['model']} on {m['data']} data)", "", "| phase | " + " | ".join(phases) + " |",
             "|---|" + "---|" * len(phases)]
    for phase, accs in m["accuracy"].items():
        lines.append(f"| {phase} | " + " | ".join(f"{v:.2%}" for v in accs.values()) + " |")
    return lines + ["", f"{m['params']:,} parameters, {m['macs']:,} MACs per inference, {m['weight_memory_bits']:,} "
                        f"weight bits; epoch time per phase {m.get('epoch_seconds', {})} s.", ""]


def model_check_section(run_dir: Path) -> list[str]:
    """`kwsflow hw` (sim/model_check.py) of a model of the user's own, if it ran into this folder."""
    r = _load(run_dir / "summary.json")
    if r is None or "pairs" not in r:
        return []
    lines = ["## Your model through the chain (`kwsflow hw`)", "",
             f"{r['model']} on {r['vectors']} vectors of {r['inputs']}; {r['io_type']}, reuse factor {r['reuse_factor']}, "
             f"valid {r['p_valid']} % / ready {r['p_ready']} %.", "", "| pair | identical vectors |", "|---|---|"]
    lines += [f"| {name} | {p['identical']} of {p['total']} |" for name, p in r["pairs"].items()]
    return lines + ["", f"Latency {r['latency_cycles']} cycles, II {r['ii_cycles']} cycles, {r['multipliers']} multipliers.", ""]


def stream_section(run_dir: Path) -> list[str]:
    """The always-on IP (sim/studies/stream_study.py), if `make stream` ran for this run."""
    r = _load(run_dir / "stream" / "stream_report.json")
    lines = ["## Always-on IP (streaming RTL + keyword detector)", ""]
    if r is None:
        return lines + [f"Not run (`make stream RUN={run_dir.name}`).", ""]
    t, k = r["timing"], r["plan"]["decision_frames"]
    lines += [f"**{r['identical']} of {r['decisions']} decisions identical** (RTL vs streaming golden model) on "
              f"{r['stream']['hours']:.2f} h of testing-list audio, a decision every {k} frames, reuse factor "
              f"{r['reuse_factor']}.", "",
              f"- {t['back_to_back_cycles_per_frame']:.1f} cycles per hop, {r['speedup_vs_windowed']:.1f}x fewer than the "
              f"windowed IP recomputing its window ({r['windowed']['ii_cycles']:.0f} cycles per decision); real-time margin "
              f"{r['real_time_margin']:,.0f}x at {r['clock_mhz']:g} MHz", ""]
    lines += ["| model | false rejects | false alarms / h | MLPerf Tiny TP / FN / FP |", "|---|---|---|---|"]
    for name, c in r["curves"].items():
        d, m = c["det"], c["mlperf"]
        lines.append(f"| {name} | {d['false_reject_rate']:.1%} | {d['false_alarms_per_hour']:.1f} | "
                     f"{m['true_positives']} / {m['false_negatives']} / {m['false_positives']} |")
    return lines + ["", "Details: stream/stream_report.md, DET curves stream/stream_det.png.", ""]


def pnr_section(run_dir: Path) -> list[str]:
    """One row per hw.pnr report (part, reuse factor, clock): verdict, fmax, what was used of the part."""
    lines = ["## Place and route (nextpnr)", ""]
    reports = sorted((run_dir / "pnr").glob("pnr_report_*.json"))
    if not reports:
        return lines + [f"Not run (`make pnr RUN={run_dir.name} PART=...`).", ""]
    lines += ["| part | RF | clock (MHz) | verdict | fmax (MHz) | LC | FF | BRAM | DSP | I/O |",
              "|---|---|---|---|---|---|---|---|---|---|"]
    for path in reports:
        r = _load(path)
        u = r["utilization"]
        cell = lambda k: f"{u[k]['used']} / {u[k]['available']}" if k in u else "-"  # noqa: E731
        fmax = f"{min(r['fmax_mhz'].values()):.1f}" if r["fmax_mhz"] else "-"
        lines.append(f"| {r['part']} | {r['reuse_factor']} | {r['clock_mhz']:g} | {r['verdict']} | {fmax} | "
                     + " | ".join(cell(k) for k in ("logic_cells", "ff", "bram", "dsp", "io")) + " |")
    lines += ["", "Whole top in one Yosys run, then nextpnr (`python -m hw.pnr`); used / available of the part; "
              "fmax: the slowest clock after routing.", ""]
    return lines


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(prog="python -m sim.studies.flow_report", description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--run", required=True)
    args = ap.parse_args(argv)
    run_dir = Path(args.run)
    if not run_dir.is_dir():
        print(f"error: {run_dir} does not exist; train it first", file=sys.stderr)
        return 2
    text = render(run_dir)
    (run_dir / "flow_report.md").write_text(text)
    print(text)
    return 0


if __name__ == "__main__":
    from hw.cli import run_main

    sys.exit(run_main(main, prog="python -m sim.studies.flow_report"))
