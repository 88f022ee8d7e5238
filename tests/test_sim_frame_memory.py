"""kws_dense's block-RAM frame store (kws_frame_store.v, MEM = 1; chosen by hw/rtl/frame_store.py)
against hw.golden, bit for bit, and its cycles against the schedule.

The model (sim.testmodels.frame_memory_model) has a windowed conv (FC core), a depthwise conv and
a dense layer; its reuse-factor plans put each of them just above or just below the point where
the memory is chosen. Every window is a frame of its core, so one image wraps the ping-pong
memory 30 times.
"""

import pytest

from hw.rtl import generate_rtl
from sim.check import compare, timing
from sim.reference import random_raw_inputs
from sim.testmodels import frame_memory_model, small_mlp, to_hls
from tests.rtl_checks import assert_rtl_exact

N = 40
# reuse-factor plan -> the frame store each MAC layer gets (conv 3x3x8 -> 16, dw 3x3x16, fc 480 -> 4)
PLANS = {
    "conv=288,dw=18,fc=480": {"conv": "memory", "dw": "memory", "fc": "memory"},  # 32/64/32-bit words
    "conv=144,dw=9,fc=1920": {"conv": "registers", "dw": "registers", "fc": "memory"},  # 64/128-bit words; 8-bit
    "conv=1152,dw=144,fc=60": {"conv": "memory", "dw": "memory", "fc": "registers"},  # IB = OB = 1; 256-bit words
}


@pytest.fixture(scope="module")
def graph(tmp_path_factory):
    return to_hls(frame_memory_model(seed=1), tmp_path_factory.mktemp("hls") / "prj")


def _stores(design) -> dict:
    return {l.layer: l.notes["frame_store"] for l in design.layers if l.multipliers}


@pytest.mark.sim
@pytest.mark.parametrize("plan", [pytest.param(p, marks=[pytest.mark.slow] if i else []) for i, p in enumerate(PLANS)])
def test_frame_memory_rtl_equals_golden(graph, plan, tmp_path):
    """Random bubbles and backpressure, then back to back: every bit as the golden model, and the
    II the schedule predicts (the memory's read runs a cycle ahead: no cycle added per frame)."""
    design = generate_rtl(graph, tmp_path / "rtl", reuse_factor=plan)
    assert _stores(design) == PLANS[plan]
    x = random_raw_inputs(graph, N, seed=3)
    assert_rtl_exact(design, graph, x, [(75, 70), (100, 35)], rf=2)
    tim = timing(design, x, frames=4)
    assert tim["ii_cycles"] == max(l.compute_cycles for l in design.layers)  # window: positions x (RF + 1)


@pytest.mark.sim
def test_frame_memory_dense_schedule_and_latency(tmp_path, monkeypatch):
    """A dense layer (one 64 x 8-bit beat per frame) at RF 128 keeps its frame in memory (16 words
    of 4 inputs): a frame every RF + 1 cycles as with registers. The beat is taken with its last
    word, so the first result comes exactly 16 - 1 cycles later than with registers, and as soon
    after the beat is taken. At RF 64 (8 words of 64 bits a frame: four blocks for 1,024 bits)
    the registers stay."""
    import hw.rtl.emitters.dense_emitter as dense_emitter
    from sim.frames import to_beats
    from sim.verilator_harness import run_harness

    graph = to_hls(small_mlp(64, (), 8, seed=2, a_bits=8), tmp_path / "prj")
    x = random_raw_inputs(graph, 6, seed=2)
    assert _stores(generate_rtl(graph, tmp_path / "rtl64", reuse_factor=64)) == {"fc_out": "registers"}
    mem = generate_rtl(graph, tmp_path / "mem", reuse_factor=128)
    assert _stores(mem) == {"fc_out": "memory"} and mem.layers[-1].notes["frame_memory"] == "32 x 32"
    monkeypatch.setattr(dense_emitter, "frame_memory", lambda **kw: None)
    regs = generate_rtl(graph, tmp_path / "regs", reuse_factor=128)
    assert _stores(regs) == {"fc_out": "registers"}
    t_mem, t_regs = timing(mem, x, frames=6), timing(regs, x, frames=6)
    assert t_mem["ii_cycles"] == t_regs["ii_cycles"] == 128 + 1 == mem.report["expected_ii_cycles"]
    assert t_mem["latency_cycles"] == t_regs["latency_cycles"]  # from the beat taken to the last result
    one = [to_beats(x[0], mem.in_edge.beat, mem.in_edge.width)]
    cycles = [run_harness(d, one, d.out_frame_beats)[1]["cycles"] for d in (mem, regs)]
    assert cycles[0] - cycles[1] == 16 - 1  # from reset (the beat offered) to the last result
    assert compare(mem, graph, x, p_valid=60, p_ready=60, seed=2)["exact"] == len(x)


@pytest.mark.sim
def test_frame_memory_reset_mid_frame(graph, tmp_path):
    """The generic cocotb bench on the all-memory plan: bubbles and backpressure, the input stopped
    half-way through a frame (windows are being written into the memories), a reset, then a new
    stream: outputs before the reset a correct prefix, after it exact, nothing stray. Under Icarus
    (four-state: a word read before it was written would reach the outputs as X)."""
    from sim.frames import frames_for
    from sim.reference import expected_raw
    from sim.runner import run_cocotb

    design = generate_rtl(graph, tmp_path / "rtl", reuse_factor=next(iter(PLANS)))
    x = random_raw_inputs(graph, 4, seed=5)
    cfg = {**frames_for(design, x, expected_raw(graph, x)), "reset_frames": 3}
    result = run_cocotb(design.files, design.top, "sim.tb_stream", tb_config=cfg, testcase="reset_mid_stream",
                        simulator="icarus")
    rep = result.report["reset_mid_stream"]
    assert result.failed == 0 and result.passed == 1 and not rep["errors"], rep
    assert rep["beats_before_reset"] > 0 and rep["extra_valid_cycles"] == 0


@pytest.mark.sim
def test_unpack_stops_a_producer_that_breaks_the_hold_rule(capfd):
    """The memory form reads a beat word by word from the producer's tdata: kws_unpack's simulation
    check must pass a producer that holds its beat and stop one that changes it before tready
    (Icarus: no build to wait for; the check is plain Verilog, Verilator stops the same way)."""
    from hw.rtl.generate import LIBRARY_DIR
    from sim.runner import run_cocotb

    def run(testcase):
        return run_cocotb([LIBRARY_DIR / "kws_unpack.v"], "kws_unpack", "sim.tb_axis_hold", testcase=testcase,
                          simulator="icarus", build_args=("-Pkws_unpack.N=4", "-Pkws_unpack.BEAT=1", "-Pkws_unpack.EW=8"))

    held = run("producer_holds")
    assert held.passed == 1 and held.failed == 0
    assert "hold tdata and tvalid until tready" not in capfd.readouterr().out
    with pytest.raises(RuntimeError):
        run("producer_breaks_rule")
    assert "the input beat changed or was withdrawn before it was taken" in capfd.readouterr().out


@pytest.mark.sim
def test_single_output_buffer(graph, tmp_path, monkeypatch):
    """kws_dense OBUF = 0 (results leave from yreg; compute holds before overwriting it): chosen for
    the stages with cycles to spare (dw, fc behind the slower conv), same II as two buffers; forced
    on every stage, also the slowest, it holds compute whenever its consumer is slow and stays
    exact under bubbles and backpressure."""
    import hw.rtl.emitters.dense_emitter as dense_emitter

    plan = next(iter(PLANS))
    x = random_raw_inputs(graph, 12, seed=4)
    chosen = generate_rtl(graph, tmp_path / "chosen", reuse_factor=plan)
    assert {l.layer: l.notes["output_buffer"] for l in chosen.layers if l.multipliers} == \
        {"conv": "double", "dw": "single", "fc": "single"}
    monkeypatch.setattr(dense_emitter, "single_output_buffer", lambda *a: False)
    double = generate_rtl(graph, tmp_path / "double", reuse_factor=plan)
    monkeypatch.setattr(dense_emitter, "single_output_buffer", lambda *a: True)
    single = generate_rtl(graph, tmp_path / "single", reuse_factor=plan)
    assert all(l.notes["output_buffer"] == "single" for l in single.layers if l.multipliers)
    assert_rtl_exact(single, graph, x, [(80, 30), (100, 100)], rf=2)
    ii = [timing(d, x, frames=4)["ii_cycles"] for d in (chosen, double)]
    assert ii[0] == ii[1] == chosen.report["expected_ii_cycles"] - 1  # as test_frame_memory_rtl_equals_golden
