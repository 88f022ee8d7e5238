"""A training run folder -> its hls4ml graph -> generated RTL (shared by `python -m hw.rtl` and
`python -m sim`, so both build exactly the same design)."""

from __future__ import annotations

import os
import tempfile
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


def generate_for_run(run_dir, out_dir=None, reuse_factor=None, argmax: bool = False, extra_overrides=None):
    """(design, graph): RTL of a run in `out_dir` (default build/<run>/rtl)."""
    from hw.rtl import generate_rtl

    graph, _ = graph_for_run(run_dir, extra_overrides)
    out_dir = Path(out_dir) if out_dir else Path(run_dir) / "rtl"
    design = generate_rtl(graph, out_dir, reuse_factor=reuse_factor, argmax=argmax)
    return design, graph
