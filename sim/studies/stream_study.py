"""`make stream RUN=<run>`: the always-on IP of a run, end to end on an hour of real audio.

    python -m sim.studies.stream_study --run build/<run> [--data DIR] [--reuse-factor 64] [--seconds 3600]
                                       [--clock-mhz 12] [--compare build/<other run> ...] [--set stream.threshold=3]

1. plan the streaming form of the run's hls4ml graph (hw/stream/plan.py) with the run's `stream:`
   settings - a model that cannot stream, or a decision period its strides do not divide, stops
   here with the layer named;
2. generate the streaming RTL with the keyword detector behind the logits (build/<run>/stream/rtl);
3. build the evaluation stream (qat/eval_stream.py: >= 1 hour of testing-list clips over
   background noise) and its feature frames;
4. run the streaming golden model and the golden detector on every frame, and the RTL through the
   compiled Verilator harness: "N of N decisions identical" (logits, fire and keyword id, bit for bit);
5. cycles per hop, per layer and in all, with frames a hop apart, and against the windowed IP of
   the same graph at the same reuse factor recomputing its window for every decision; the
   real-time margin at the clock;
6. DET curves (false rejects vs false alarms per hour) of the RTL's logits and of the run's float
   QKeras model (its `init_from`), the operating point by our DET rule and by MLPerf Tiny's
   streaming-wakeword counting; `--compare` overlays other runs' finished stream reports (with
   `--report-only`, on a finished report without simulating again).

Writes build/<run>/stream/stream_report.{json,md} and stream_det.png; the flow report shows them.
Exit status 1 unless every decision is identical.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from pathlib import Path

import numpy as np

THRESHOLDS = np.round(np.arange(0.0, 10.01, 0.25), 2)  # mean logit margins of the DET sweep (hw.stream_eval's)


def _float_curve(run_dir: Path, cfg, es, thresholds) -> dict | None:
    """The DET of the run's float model (its `train.init_from`, or the run itself when it is float)
    in QKeras on the same stream, or None when that run is not in the build folder."""
    from hw.convert import load_run
    from hw.detector import evaluate
    from qat import det
    from qat.features import Normalizer

    float_dir = run_dir.parent / cfg.train.init_from if cfg.train.init_from else run_dir
    if cfg.train.init_from is None and cfg.quant is not None or not (float_dir / "model.h5").exists():
        return None
    model, _ = load_run(float_dir)
    kind = cfg.feature_spec()
    frames = es.frames(kind, Normalizer.load(float_dir / "normalizer.npz"))
    logits = det.stream_logits(model, frames, kind, cfg.stream.decision_frames)
    return {"run": float_dir.name, **evaluate(logits, es.stream, cfg.stream, thresholds)}


def stream_study(run_dir, data, *, reuse_factor=64, seconds: float = 3600.0, seed: int = 0, clock_mhz: float = 12.0,
                 timing_frames: int = 400, overrides: dict | None = None, out_dir=None) -> dict:
    from hw.detector import evaluate
    from hw.rtl.emitters.detector_emitter import read_output_beat
    from hw.rtl.run import stream_ip
    from qat import det
    from qat.eval_stream import evaluation_stream
    from qat.features import Normalizer
    from qat.stream_config import FRAME_HOP
    from sim.stream_check import hop_timing, stream_compare, windowed_ii

    run_dir = Path(run_dir)
    out_dir = Path(out_dir) if out_dir else run_dir / "stream"
    t0 = time.perf_counter()
    ip = stream_ip(run_dir, overrides)  # bad settings fail before any work
    cfg, graph, plan, golden, params = ip.config, ip.graph, ip.plan, ip.golden, ip.params
    design = ip.generate(out_dir / "rtl", reuse_factor)
    n_classes = int(np.prod(golden.golden.output_shape))
    es = evaluation_stream(data, seconds, seed)
    kind = cfg.feature_spec()
    frames = es.frames(kind, Normalizer.load(run_dir / "normalizer.npz"))
    raw = golden.quantize_frames(frames).reshape(len(frames), -1)
    t1 = time.perf_counter()
    logits = golden.run(raw)
    golden_s = time.perf_counter() - t1
    want, golden_fires = ip.expected_beats(logits)
    res = stream_compare(design, want, raw)
    rtl = [read_output_beat(beats[0], n_classes, golden.output_t) for beats in res.pop("got")]
    rtl_logits = np.array([codes for codes, _, _ in rtl], np.int64).reshape(-1, n_classes)
    rtl_fires = int(sum(f for _, f, _ in rtl))
    timing = hop_timing(design, raw[:timing_frames], det.emission_count(min(timing_frames, len(raw)),
                        plan.decision_frames), plan.receptive_frames)
    windows = det.windows(frames, kind, plan.decision_frames, count=3)
    window = windowed_ii(graph, reuse_factor, golden.golden.quantize_input(windows), out_dir / "windowed_rtl")
    strides = {x["name"]: x["stride_frames"] for x in plan.to_dict()["layers"]}
    for row, layer in zip(timing["layers"], [l for l in design.layers if l.module]):
        # the schedule's cycles per output time step, spread over the frames between time steps
        row["schedule_cycles_per_hop"] = layer.compute_cycles / strides.get(layer.layer, 1)
        if "fused_activation" in layer.notes:  # its stage also applies that activation (hw/rtl/fuse_activation.py)
            row["fused_activation"] = layer.notes["fused_activation"]
    hop_budget = clock_mhz * 1e6 * float(FRAME_HOP)  # cycles between two 20 ms frames
    k = plan.decision_frames
    curves = {f"{run_dir.name} (RTL)": evaluate(rtl_logits, es.stream, cfg.stream, THRESHOLDS, golden.output_t)}
    flt = _float_curve(run_dir, cfg, es, THRESHOLDS)
    if flt is not None:
        curves[f"{flt['run']} (float, QKeras)"] = flt
    report = {
        "run": str(run_dir), "rtl": str(design.out_dir), "reuse_factor": str(reuse_factor), "stream": es.info,
        "settings": cfg.stream.to_dict(), "detector": {"smooth": params.smooth, "threshold_code": params.threshold,
                                                        "refractory_emissions": params.refractory},
        "plan": plan.to_dict(), "frames": len(raw), "decisions": res["decisions"], "identical": res["identical"],
        "first_differing": res["first_differing"], "rtl_detections": rtl_fires, "golden_detections": golden_fires,
        "multipliers": sum(l.multipliers for l in design.layers),
        "timing": timing, "windowed": window,
        # back to back, the cycles a decision occupies the IP (its II) against the windowed IP's II
        "cycles_per_decision": {"stream": timing["back_to_back_cycles_per_frame"] * k, "windowed": window["ii_cycles"]},
        "speedup_vs_windowed": window["ii_cycles"] / max(timing["back_to_back_cycles_per_frame"] * k, 1e-9),
        "clock_mhz": clock_mhz, "hop_budget_cycles": hop_budget,
        "real_time_margin": hop_budget / max(timing["max_cycles_per_hop"], 1),
        "sim_cycles": res["cycles"], "sim_wall_s": res["wall_s"], "golden_s": golden_s,
        "harness_build_s": res["build_s"], "total_s": time.perf_counter() - t0,
        "curves": curves,
    }
    out_dir.mkdir(parents=True, exist_ok=True)
    (out_dir / "stream_report.json").write_text(json.dumps(report, indent=1, default=_jsonable))
    (out_dir / "stream_report.md").write_text(render(report))
    det.plot_det(curves, out_dir / "stream_det.png", f"{run_dir.name}: {es.info['hours']:.2f} h testing-list stream",
                 marks={name: (c["det"]["false_alarms_per_hour"], c["det"]["false_reject_rate"]) for name, c in curves.items()})
    return report


def overlay(run_dir, compare, out_dir=None) -> dict:
    """A finished stream report with the RTL curves of other runs' reports added (DET plot and page
    rewritten; nothing simulated again)."""
    from qat import det

    out_dir = Path(out_dir) if out_dir else Path(run_dir) / "stream"
    path = out_dir / "stream_report.json"
    reports = [path] + [Path(c) / "stream" / "stream_report.json" for c in compare]
    missing = [str(p) for p in reports if not p.exists()]
    if missing:
        raise FileNotFoundError(f"{missing[0]} not found; run `make stream RUN=...` of that run first")
    report = json.loads(path.read_text())
    for other in reports[1:]:
        report["curves"].update({n: c for n, c in json.loads(other.read_text())["curves"].items() if "(RTL)" in n})
    path.write_text(json.dumps(report, indent=1, default=_jsonable))
    (out_dir / "stream_report.md").write_text(render(report))
    curves = report["curves"]
    det.plot_det(curves, out_dir / "stream_det.png", f"{Path(run_dir).name}: {report['stream']['hours']:.2f} h testing-list stream",
                 marks={name: (c["det"]["false_alarms_per_hour"], c["det"]["false_reject_rate"]) for name, c in curves.items()})
    return report


def _jsonable(x):
    if isinstance(x, (np.integer, np.floating)):
        return x.item()
    if isinstance(x, np.ndarray):
        return x.tolist()
    raise TypeError(type(x))


def render(r: dict) -> str:
    t, w, s = r["timing"], r["windowed"], r["stream"]
    k = r["plan"]["decision_frames"]
    lines = [f"# Always-on IP of `{Path(r['run']).name}`", "",
             f"A decision every {k} frames ({k * 20} ms), reuse factor {r['reuse_factor']}, {r['multipliers']} multipliers; "
             f"stream: {s['hours']:.2f} h, {s['keyword_clips']} keyword and {s['unknown_clips']} unknown-word clips "
             f"(seed {s['seed']}).", "",
             f"**{r['identical']} of {r['decisions']} decisions identical** (RTL vs streaming golden model: logits, "
             f"fire and keyword id), {r['rtl_detections']} detections in the RTL, {r['golden_detections']} in the golden model.", "",
             "## Cycles", "",
             f"- **cycles per hop: {t['back_to_back_cycles_per_frame']:.1f}** (frames back to back: the shortest hop "
             f"the IP sustains), {r['cycles_per_decision']['stream']:.0f} per decision, against {w['ii_cycles']:.0f} "
             f"(II) for the windowed IP recomputing its window for every decision with the same {w['multipliers']} "
             f"multipliers: **{r['speedup_vs_windowed']:.1f}x fewer**",
             f"- latency of a hop (frames {t['hop_cycles']} cycles apart, {t['hops']} hops after the buffers filled; "
             f"from the frame to the last beat anywhere): mean {t['mean_cycles_per_hop']:.0f}, busiest hop "
             f"{t['max_cycles_per_hop']} (a decision hop); the windowed IP's latency is {w['latency_cycles']}",
             f"- real time at {r['clock_mhz']:g} MHz: a 20 ms hop is {r['hop_budget_cycles']:,.0f} cycles, "
             f"{r['real_time_margin']:,.0f}x the busiest hop", "",
             "| layer | schedule cycles per hop | span per hop (mean) | span, busiest hop | adds (mean) | output beats per hop |",
             "|---|---|---|---|---|---|"]
    name = lambda x: x["layer"] + (f" + {x['fused_activation']}" if x.get("fused_activation") else "")  # noqa: E731
    lines += [f"| {name(x)} | {x['schedule_cycles_per_hop']:.1f} | {x['mean_cycles']:.1f} | {x['max_cycles']} | "
              f"{x['mean_adds']:.1f} | {x['out_beats_per_hop']:.2f} |" for x in t["layers"]]
    lines += ["", "Schedule: the generator's arithmetic cycles per output time step over the frames between time steps "
              "(the busiest layer bounds the cycles per hop). Span: from a layer's first input beat to its last output "
              "beat within a hop, frames a hop apart (layers overlap); adds: beyond its input's last beat.", "",
              "## Detection", "",
              "| model | threshold | false rejects | false alarms / h | MLPerf Tiny TP / FN / FP |", "|---|---|---|---|---|"]
    for name, c in r["curves"].items():
        d, m = c["det"], c["mlperf"]
        lines.append(f"| {name} | {c['threshold']} | {d['false_reject_rate']:.1%} | {d['false_alarms_per_hour']:.1f} | "
                     f"{m['true_positives']} / {m['false_negatives']} / {m['false_positives']} |")
    lines += ["", "DET curves: stream_det.png. Counting: qat/det_count.py (our rule; MLPerf Tiny's streaming-wakeword "
              "scorer, each keyword as its own wakeword).", ""]
    return "\n".join(lines)


def main(argv=None) -> int:
    from hw.cli import InputError
    from qat.det import StreamError
    from qat.run_config import RunConfigError, parse_override

    ap = argparse.ArgumentParser(prog="python -m sim.studies.stream_study", description=__doc__.split("\n\n")[0])
    ap.add_argument("--run", required=True, help="training run folder")
    ap.add_argument("--data", default=os.environ.get("KWS_GSC_DIR"), help="Speech Commands folder (default $KWS_GSC_DIR)")
    ap.add_argument("--reuse-factor", default="64")
    ap.add_argument("--seconds", type=float, default=3600.0, help="least length of the evaluation stream")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--clock-mhz", type=float, default=12.0)
    ap.add_argument("--compare", nargs="*", default=[], help="other runs whose stream reports to overlay")
    ap.add_argument("--set", action="append", default=[], metavar="stream.KEY=VALUE")
    ap.add_argument("--report-only", action="store_true", help="only add --compare curves to the finished report")
    ap.add_argument("--out", help="report folder (default <run>/stream; another keeps that report, e.g. at another RF)")
    args = ap.parse_args(argv)
    out_dir = Path(args.out) if args.out else Path(args.run) / "stream"
    if args.report_only:
        overlay(args.run, args.compare, out_dir)
        print(out_dir / "stream_report.md")
        return 0
    if not args.data:
        raise InputError("no Speech Commands folder: pass --data DIR or set KWS_GSC_DIR")
    missing = [c for c in args.compare if not (Path(c) / "stream" / "stream_report.json").exists()]
    if missing:  # before the hour of simulation, not after it
        raise InputError(f"--compare {missing[0]}: no stream/stream_report.json; run `make stream RUN=...` of it first")
    rf = int(args.reuse_factor) if args.reuse_factor.isdigit() else args.reuse_factor
    try:
        r = stream_study(args.run, args.data, reuse_factor=rf, seconds=args.seconds, seed=args.seed,
                         clock_mhz=args.clock_mhz, overrides=dict(parse_override(s) for s in args.set), out_dir=out_dir)
    except (RunConfigError, StreamError) as exc:
        raise InputError(str(exc)) from None
    if args.compare:
        r = overlay(args.run, args.compare, out_dir)
    print(f"{args.run}: {r['identical']} of {r['decisions']} decisions identical; "
          f"{r['timing']['back_to_back_cycles_per_frame']:.0f} cycles per hop, {r['speedup_vs_windowed']:.1f}x fewer than "
          f"recomputing the window; {out_dir / 'stream_report.md'}")
    return 0 if r["identical"] == r["decisions"] else 1


if __name__ == "__main__":
    from hw.cli import run_main

    sys.exit(run_main(main, prog="python -m sim.studies.stream_study"))
