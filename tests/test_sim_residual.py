"""Residual blocks in RTL: fork + Add with the schedule-sized skip FIFO, bit for bit against
hw.golden, under random bubbles and backpressure; TC-ResNet on 1,000 real clips with latency / II.
"""

import json

import numpy as np
import pytest

from hw.rtl import generate_rtl
from sim.check import compare, lower_bounds, timing
from sim.reference import golden_of, random_raw_inputs
from hw.tools.verilator import verilator_lint
from sim.runner import DEFAULT_BUILD_ROOT
from sim.testmodels import kws_model, residual_model, to_hls
from tests.real_clips import real_features

RESULTS = DEFAULT_BUILD_ROOT / "results"  # a tmp dir under pytest (tests/conftest.py)
pytestmark = pytest.mark.sim


def _record(name, data):
    RESULTS.mkdir(parents=True, exist_ok=True)
    (RESULTS / f"{name}.json").write_text(json.dumps(data, indent=1, default=str))


def _merges(design):
    return [l for l in design.layers if l.kind == "Merge"]


@pytest.mark.gsc
def test_tc_resnet_real_clips_rtl_equals_golden(tmp_path):
    graph = to_hls(kws_model("tc_resnet", bits=8, seed=1, width=0.5), tmp_path / "prj")
    design = generate_rtl(graph, tmp_path / "rtl", reuse_factor=8)
    assert verilator_lint(design.files, design.top) == ""
    # 9-tap stride-2 conv -> 9-tap conv against a 1x1 stride-2 shortcut: the long branch's output t
    # needs fork beat 2t+12, the shortcut's 2t, so the shortcut runs 6 beats ahead (+2 slack)
    for merge in _merges(design):
        assert merge.notes["fifo_schedule"]["lead_beats"] == [0, 6] and merge.notes["fifo_depths"] == [0, 8]
    x = golden_of(graph).quantize_input(real_features("mfcc", 1000))
    res = compare(design, graph, x, p_valid=90, p_ready=90, seed=1)
    tim = timing(design, x)
    _record("real_clips_tc_resnet_8b_rf8", {**res, **tim, **lower_bounds(design), "report": design.report})
    assert res["exact"] == res["n"] == 1000, res["first_bad"]
    assert res["tlast_ok"]
    assert tim["ii_cycles"] >= lower_bounds(design)["ii_lower_bound"]
    outputs = golden_of(graph).run_raw(np.asarray(x, np.int64)).reshape(len(x), -1)
    assert len(np.unique(outputs, axis=0)) > 100


@pytest.mark.parametrize("identity", [False, True], ids=["projection", "identity"])
def test_residual_block_rtl_equals_golden_with_bubbles(tmp_path, identity):
    graph = to_hls(residual_model(bits=8, seed=4, identity=identity), tmp_path / "prj")
    design = generate_rtl(graph, tmp_path / "rtl", reuse_factor=4)
    assert verilator_lint(design.files, design.top) == ""
    (merge,) = _merges(design)
    # the short branch (identity: the fork itself; projection: the 1x1 conv) gets the FIFO
    assert merge.notes["fifo_depths"][0] == 0 and merge.notes["fifo_depths"][1] > 2
    x = random_raw_inputs(graph, 300, seed=4)
    for p_valid, p_ready in ((100, 100), (60, 40), (90, 20)):
        res = compare(design, graph, x, p_valid=p_valid, p_ready=p_ready, seed=p_ready)
        assert res["exact"] == res["n"] == 300, (p_valid, p_ready, res["first_bad"])


def test_fork_and_merge_cocotb_backpressure_reset_latency(tmp_path):
    """The generic cocotb bench on a fork + merge design: random bubbles and backpressure, reset in
    the middle of a frame, latency and II."""
    from sim.frames import frames_for
    from sim.reference import expected_raw
    from sim.runner import run_cocotb

    graph = to_hls(residual_model(bits=8, seed=6), tmp_path / "prj")
    design = generate_rtl(graph, tmp_path / "rtl", reuse_factor=4)
    x = random_raw_inputs(graph, 30, seed=6)
    cfg = {**frames_for(design, x, expected_raw(graph, x)), "p_valid": 0.6, "p_ready": 0.45, "seed": 6}
    result = run_cocotb(design.files, design.top, "sim.tb_stream", tb_config=cfg)
    rep = result.report
    _record("cocotb_residual_block", rep)
    assert rep["stream_exact"]["frames_exact"] == 30, rep["stream_exact"]["errors"]
    assert result.failed == 0 and result.passed == 3, rep
    assert rep["reset_mid_stream"]["extra_valid_cycles"] == 0
    assert rep["latency_and_ii"]["ii_cycles"] > 0


def test_skip_fifo_below_the_schedule_deadlocks(tmp_path, monkeypatch):
    """The sizing matters: with a one-beat skip FIFO the shortcut stalls the fork before the long
    branch has the beats its first output needs, and nothing ever comes out."""
    import hw.rtl.generate as generate
    from sim.frames import frames_for
    from sim.reference import expected_raw
    from sim.runner import run_cocotb

    monkeypatch.setattr(generate, "fifo_depths", lambda *a, **k: ((0, 1), {"model": "forced to 1 (test)"}))
    graph = to_hls(residual_model(bits=8, seed=6), tmp_path / "prj")
    design = generate_rtl(graph, tmp_path / "rtl", reuse_factor=4)
    x = random_raw_inputs(graph, 2, seed=6)
    cfg = {**frames_for(design, x, expected_raw(graph, x)), "p_valid": 1.0, "p_ready": 1.0, "max_cycles": 5000}
    result = run_cocotb(design.files, design.top, "sim.tb_stream", tb_config=cfg, testcase="stream_exact")
    assert result.failed == 1 and "stream_exact" not in result.report  # timed out before writing its report
    assert "timeout after 5000 cycles: 0/" in result.results_xml.read_text()  # and not one output beat came out
