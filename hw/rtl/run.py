"""A training run folder -> its hls4ml graph -> generated RTL (shared by `python -m hw.rtl` and
`python -m sim`, so both build exactly the same design)."""

from __future__ import annotations

import os
import tempfile
from dataclasses import dataclass
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")


def graph_for_run(run_dir, extra_overrides: dict | None = None):
    """(hls4ml ModelGraph, run config) with the run's settings and precision overrides
    (hw.convert.run_overrides), plus `extra_overrides` applied last (e.g. narrow accumulators)."""
    from hw.convert import HlsSettings, convert, load_run, merge_overrides, run_overrides

    run_dir = Path(run_dir)
    model, config = load_run(run_dir)
    hls_cfg = dict(config.get("hls", {}) or {})
    hls_cfg.pop("precision_overrides", None)
    hls_cfg.pop("reuse_factor", None)  # the RTL's reuse factor is chosen by hw.rtl, not by hls4ml
    settings = HlsSettings.from_dict(hls_cfg)
    overrides = merge_overrides(run_overrides(run_dir, config), extra_overrides)
    prj = Path(tempfile.mkdtemp(prefix="kws_rtl_hls_"))  # hls4ml only writes here on write()/compile()
    return convert(model, prj / "prj", settings, overrides), config


def generate_for_run(run_dir, out_dir=None, reuse_factor=None, argmax: bool = False, extra_overrides=None,
                     block_line_buffers: bool = False):
    """(design, graph): RTL of a run in `out_dir` (default build/<run>/rtl); block_line_buffers:
    as generate_rtl (true for a synthesis target without LUT-RAM)."""
    from hw.rtl import generate_rtl

    graph, _ = graph_for_run(run_dir, extra_overrides)
    out_dir = Path(out_dir) if out_dir else Path(run_dir) / "rtl"
    design = generate_rtl(graph, out_dir, reuse_factor=reuse_factor, argmax=argmax,
                          block_line_buffers=block_line_buffers)
    return design, graph


@dataclass
class StreamIP:
    """The always-on IP of a run, before any RTL: its graph, stream plan, streaming golden model and
    keyword detector. `generate` writes its RTL (streaming layers + detector) at a reuse factor, and
    `expected_beats` the output beats that RTL must give for the golden model's logits. `make
    stream`, `make synth/pnr STREAM=1` and `make plan --hop-ms` all build and check this one design."""

    graph: object  # hls4ml ModelGraph
    plan: object  # hw.stream.plan.StreamPlan
    golden: object  # hw.stream.golden.StreamingGolden
    params: object  # hw.detector.DetectorParams
    config: object  # qat.run_config.RunConfig (with the overrides)

    def generate(self, out_dir, reuse_factor):
        from hw.rtl.emitters.detector_emitter import emit_detector
        from hw.rtl.stream_generate import generate_stream_rtl

        return generate_stream_rtl(self.graph, self.plan, Path(out_dir), reuse_factor=reuse_factor,
                                   tail=(lambda edge, n: emit_detector(edge, self.params),))

    def expected_beats(self, logits) -> tuple[list[list[int]], int]:
        """(one output beat per decision: logits, fire and id of the golden detector; detections)."""
        from hw.detector import detect
        from hw.rtl.emitters.detector_emitter import output_beat

        fire, ids = detect(logits, self.params)
        width = self.golden.output_t.width
        return [[output_beat(codes, f, i, width)] for codes, f, i in zip(logits, fire, ids)], int(fire.sum())


def stream_ip(run_dir, overrides: dict | None = None) -> StreamIP:
    """The run's always-on IP; its `stream:` settings (with `overrides`, e.g.
    {'stream.decision_frames': 8}) and the plan are checked here, before any RTL or simulation."""
    import numpy as np

    from hw.detector import params_for
    from hw.stream.golden import StreamingGolden
    from hw.stream.plan import build_plan
    from qat.run_config import RunConfig

    cfg = RunConfig.load(Path(run_dir) / "config.yaml", overrides)
    graph, _ = graph_for_run(run_dir)
    plan = build_plan(graph, cfg.stream.decision_frames)
    golden = StreamingGolden(graph, plan)
    params = params_for(cfg.stream, int(np.prod(golden.golden.output_shape)), golden.output_t)
    return StreamIP(graph, plan, golden, params, cfg)
