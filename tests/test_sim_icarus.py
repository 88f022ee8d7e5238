"""The second simulator: small designs under Icarus Verilog and under Verilator, the same cocotb
bench with the same seeded bubbles and backpressure. Every output beat, its value and the cycle it
was accepted, must be identical in both (and equal to the golden model); latency and II too.

Icarus is event-driven and four-state, so an X reaching an output (cocotb cannot read it as an
integer), a read of an uninitialised register or a blocking/non-blocking race would show up here
while Verilator's two-state, cycle-based model hides it.
"""

import pytest

from hw.rtl import generate_rtl
from sim.check import golden_frames
from sim.frames import to_beats
from sim.reference import random_raw_inputs
from sim.runner import run_cocotb
from sim.testmodels import layer_model, residual_model, to_hls

N = 12  # frames per design: Icarus runs ~10x slower than Verilator

# (model kind, io_type, reuse factor, argmax): one design per hand-written library module family
# The two largest designs (50-80 s each) run with `-m slow`; their modules also run under
# Verilator in the default suite (test_sim_layers, test_sim_residual).
CASES = [
    pytest.param("conv2d_same_s2", "io_stream", 2, False, marks=pytest.mark.slow),  # kws_zeropad, kws_window, kws_dense, kws_requant
    ("depthwise", "io_parallel", 9, False),     # rotating tap rows
    ("avgpool2d", "io_parallel", 1, False),     # kws_pool + kws_pool_div
    ("maxpool2d", "io_parallel", 1, False),
    ("pw_avgpool2d_wide", "io_parallel", 64, False),  # kws_pool_serial: sums in a registered-read memory
    ("dense_argmax", "io_parallel", 1, True),   # kws_dense_pipe (RF 1, one beat), kws_argmax
    pytest.param("residual", "io_parallel", 2, False, marks=pytest.mark.slow),  # kws_fork, kws_fifo skip buffer, kws_add
    ("pw_depthwise", "io_parallel", "64,dw=9", False),  # kws_window MEM=1: block-RAM line buffer
    ("pw_avgpool2d_wide", "io_parallel", "seq", False),  # the sequential engine: its memories, divider, output
]


def _design(kind, io, rf, argmax, tmp_path):
    model = residual_model(bits=8, seed=4) if kind == "residual" else layer_model(kind, bits=8, seed=4)
    graph = to_hls(model, tmp_path / "prj", io_type=io)
    design = generate_rtl(graph, tmp_path / "rtl", reuse_factor=rf, argmax=argmax,
                          block_line_buffers=kind == "pw_depthwise")  # the other cases: the register forms
    x = random_raw_inputs(graph, N, seed=4)
    ie = design.in_edge
    return design, {"frames_in": [to_beats(v, ie.beat, ie.width) for v in x],
                    "frames_out": golden_frames(design, graph, x, argmax=argmax)}


@pytest.mark.sim
@pytest.mark.parametrize("kind,io,rf,argmax", CASES,
                         ids=[c[0] + ("_seq" if c[2] == "seq" else "") for c in (getattr(c, "values", c) for c in CASES)])
def test_icarus_and_verilator_agree_beat_for_beat(kind, io, rf, argmax, tmp_path):
    design, frames = _design(kind, io, rf, argmax, tmp_path)
    bram = [l.layer for l in design.layers if l.notes.get("line_buffer", "").startswith("block RAM")]
    assert bram == (["dw"] if kind == "pw_depthwise" else []), bram
    cfg = {**frames, "p_valid": 0.7, "p_ready": 0.6, "seed": 5}
    reports = {}
    for simulator in ("verilator", "icarus"):
        res = run_cocotb(design.files, design.top, "sim.tb_stream", tb_config=cfg, testcase="stream_exact",
                         simulator=simulator)
        rep = res.report.get("stream_exact", {})
        assert res.failed == 0 and rep.get("frames_exact") == N, (simulator, rep.get("errors"))
        reports[simulator] = rep
    assert reports["icarus"]["beats"] == reports["verilator"]["beats"]
    assert len(reports["icarus"]["beats"]) == sum(len(f) for f in frames["frames_out"])
