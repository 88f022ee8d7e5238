"""Per-layer RTL vs hw.golden, bit for bit: one small model per layer type, random weights,
8 and 4 bits, compiled Verilator harness with random bubbles and backpressure.

Each case is one Verilator build (~20-60 s on a shared core; cached by design content). The
4-bit variants run under the `slow` marker to keep the default suite short.
"""

import json

import pytest

from hw.rtl import generate_rtl
from sim.check import compare
from sim.reference import random_raw_inputs
from sim.runner import DEFAULT_BUILD_ROOT
from sim.testmodels import layer_model, to_hls

RESULTS = DEFAULT_BUILD_ROOT / "results"  # a tmp dir under pytest (tests/conftest.py)
N = 300

# (model kind, io_type, reuse factor, argmax stage)
CASES = [
    ("conv2d_same_s2", "io_parallel", 5, False),   # padding inside the window generator
    ("conv2d_same_s2", "io_stream", 1, False),     # hls4ml's ZeroPadding2D layer -> kws_zeropad
    ("conv1d", "io_parallel", 3, False),
    ("depthwise", "io_parallel", 3, False),        # all 9 taps per cycle, channels one by one
    ("depthwise", "io_parallel", 9, False),        # 3 taps per cycle: the tap rows rotate, then the channels
    ("pointwise", "io_parallel", 4, False),
    ("avgpool2d", "io_parallel", 1, False),        # 3x3 window: division by 9, one shared divider
    ("avgpool2d_wide", "io_parallel", 1, False),   # 2x2 window, 8 channels: a divider per channel
    ("pw_avgpool2d_wide", "io_parallel", 16, False),  # the same behind a slow conv: channel-serial
    ("pw_avgpool2d_wide", "io_parallel", 64, False),  # ... behind a slower one: a bit-serial divider too
    ("pw_maxpool2d", "io_parallel", 64, False),    # max pooling, channel-serial
    ("maxpool2d", "io_parallel", 1, False),        # 2x3 window, a trailing unused column
    ("avgpool1d", "io_parallel", 1, False),        # window 5
    ("dense_argmax", "io_parallel", 4, True),
    # behind a slow 1x1 conv (8 channels: 4 / 2 words of 16 bits a pixel): block-RAM line buffers
    ("pw_depthwise", "io_parallel", "64,dw=9", False),
    ("pw_conv2d_same_s2", "io_parallel", "64,conv=60", False),  # stride 2, padding in the window
    # the first layer at its largest RF: one word a pixel, so the block-RAM form takes its own cycles
    ("conv2d_2ch", "io_parallel", 72, False),
]
# the layer whose line buffer is block RAM
BRAM_LAYER = {"pw_depthwise": "dw", "pw_conv2d_same_s2": "conv", "conv2d_2ch": "conv"}


def _params():
    for kind, io, rf, am in CASES:
        for bits in (8, 4):
            marks = [pytest.mark.sim] + ([pytest.mark.slow] if bits == 4 else [])
            yield pytest.param(kind, io, rf, am, bits, marks=marks, id=f"{kind}-{io}-rf{rf}-{bits}b")


@pytest.mark.parametrize("kind,io,rf,argmax,bits", list(_params()))
def test_layer_rtl_equals_golden(kind, io, rf, argmax, bits, tmp_path):
    graph = to_hls(layer_model(kind, bits=bits, seed=bits), tmp_path / "prj", io_type=io)
    classes = [l.class_name for l in graph.get_layers()]
    if io == "io_stream" and kind.startswith("conv2d"):
        assert "ZeroPadding2D" in classes  # the case is about that layer
    design = generate_rtl(graph, tmp_path / "rtl", reuse_factor=rf, argmax=argmax, block_line_buffers=True)
    x = random_raw_inputs(graph, N, seed=bits)
    res = compare(design, graph, x, argmax=argmax, p_valid=75, p_ready=70, seed=bits)
    RESULTS.mkdir(parents=True, exist_ok=True)
    (RESULTS / f"layer_{kind}_{io}_{bits}b.json").write_text(json.dumps({**res, "layers": classes,
                                                                         "report": design.report}, indent=1))
    assert res["n"] == N and res["exact"] == N, res["first_bad"]
    pools = [l.notes["channels"] for l in design.layers if "pool_op" in l.notes]
    # how many channels at a time follows from the stream: all of them behind the input, one
    # shared divider where the window is longer than the channels, one at a time behind a slow conv
    want = {"avgpool2d_wide": "parallel", "avgpool2d": "serial divider", "maxpool2d": "parallel",
            "avgpool1d": "serial divider", "pw_avgpool2d_wide": "channel-serial", "pw_maxpool2d": "channel-serial"}
    assert pools == ([want[kind]] if "pool" in kind else []), (kind, pools)
    dividers = [l.notes["divider"] for l in design.layers if l.notes.get("pool_op") == "Average"]
    assert [d.startswith("bit-serial") for d in dividers] == ([rf == 64] if "avgpool" in kind else []), dividers
    # the block-RAM line buffer only where it costs no cycles: the layer before is slower, or (the first
    # layer, one word a pixel) the register form takes as long
    bram = [l.layer for l in design.layers if l.notes.get("line_buffer", "").startswith("block RAM")]
    assert bram == ([BRAM_LAYER[kind]] if kind in BRAM_LAYER else []), (kind, bram)
    # The harness stops at the last output beat; input rows no window uses (avgpool2d: row 7 of 7)
    # may still be unread then, so only the last frame may be short.
    assert res["tlast_ok"] and (N - 1) * design.in_frame_beats < res["in_beats"] <= N * design.in_frame_beats


def test_harness_comparison_catches_one_wrong_bit(tmp_path, monkeypatch):
    """The check must fail when the golden side differs by one LSB in one vector."""
    import sim.check as check

    graph = to_hls(layer_model("pointwise", bits=8, seed=8), tmp_path / "prj")
    design = generate_rtl(graph, tmp_path / "rtl", reuse_factor=4)
    x = random_raw_inputs(graph, 20, seed=8)
    real = check.expected_raw

    def off_by_one(g, xr, upto=None):
        y = real(g, xr, upto).copy()
        y[5, 3] += 1
        return y

    monkeypatch.setattr(check, "expected_raw", off_by_one)
    res = compare(design, graph, x)
    assert res["exact"] == 19 and res["first_bad"] == [5]


@pytest.mark.sim
def test_conv_cocotb_backpressure_reset_latency(tmp_path):
    """The generic cocotb bench on a line-buffered conv (DS-CNN-like first conv, 'same', stride 2):
    random bubbles/backpressure, reset in the middle of a frame, latency and II."""
    from sim.frames import frames_for
    from sim.reference import expected_raw
    from sim.runner import run_cocotb

    graph = to_hls(layer_model("conv2d_same_s2", bits=8, seed=3), tmp_path / "prj")
    design = generate_rtl(graph, tmp_path / "rtl", reuse_factor=5)
    x = random_raw_inputs(graph, 40, seed=3)
    cfg = {**frames_for(design, x, expected_raw(graph, x)), "p_valid": 0.6, "p_ready": 0.5, "seed": 3}
    result = run_cocotb(design.files, design.top, "sim.tb_stream", tb_config=cfg)
    rep = result.report
    RESULTS.mkdir(parents=True, exist_ok=True)
    (RESULTS / "cocotb_conv2d_same_s2.json").write_text(json.dumps(rep, indent=1))
    assert rep["stream_exact"]["frames_exact"] == 40, rep["stream_exact"]["errors"]
    assert result.failed == 0 and result.passed == 3, rep
    assert rep["reset_mid_stream"]["extra_valid_cycles"] == 0


@pytest.mark.sim
@pytest.mark.parametrize("kind,rf,drop", [("conv2d_same_s2", 5, 2), ("depthwise", 3, 1), ("dense_argmax", 4, 3)])
def test_narrow_accumulator_rtl_equals_golden(kind, rf, drop, tmp_path):
    """Products rounded one by one into a 12-bit wrapping accumulator (paper A's narrow
    accumulators): kws_dense's per-product requantizer must round like hls4ml / the golden model."""
    from hw.accumulators import narrow_accumulators

    base = to_hls(layer_model(kind, bits=8, seed=3), tmp_path / "base")
    graph = to_hls(layer_model(kind, bits=8, seed=3), tmp_path / "prj", overrides=narrow_accumulators(base, 12, drop))
    design = generate_rtl(graph, tmp_path / "rtl", reuse_factor=rf)
    res = compare(design, graph, random_raw_inputs(graph, N, seed=3), p_valid=80, p_ready=80, seed=3)
    assert res["n"] == N and res["exact"] == N, res["first_bad"]


@pytest.mark.sim
def test_harness_timing_matches_cocotb_and_layers_add_up(tmp_path):
    """Latency and II from the compiled harness equal the cocotb bench's on the same design (a
    zero-padding stage that emits padding before taking input, a line-buffered conv, a ReLU); the
    per-layer times, taken from the handshakes between stages, add up to the end-to-end latency."""
    from sim.check import timing
    from sim.frames import frames_for
    from sim.reference import expected_raw
    from sim.runner import run_cocotb

    graph = to_hls(layer_model("conv2d_same_s2", bits=8, seed=5), tmp_path / "prj", io_type="io_stream")
    design = generate_rtl(graph, tmp_path / "rtl", reuse_factor=2, fold_padding=False)  # keep the kws_zeropad stage
    x = random_raw_inputs(graph, 4, seed=5)
    tim = timing(design, x)
    cfg = {**frames_for(design, x, expected_raw(graph, x)), "p_valid": 1.0, "p_ready": 1.0, "seed": 5}
    rep = run_cocotb(design.files, design.top, "sim.tb_stream", tb_config=cfg, testcase="latency_and_ii").report
    assert tim["latency_cycles"] == rep["latency_and_ii"]["latency_cycles"]
    assert tim["ii_cycles"] == pytest.approx(rep["latency_and_ii"]["ii_cycles"], abs=1)
    layers = tim["layer_timing"]
    assert [t["layer"] for t in layers] == [l.layer for l in design.layers if l.module]
    assert layers[0]["layer"].startswith("zp2d") and layers[1]["first_in"] < layers[0]["first_in"]  # padding first
    first_in, last_in = layers[0]["first_in"], layers[0]["last_out"] - layers[0]["adds"]
    assert (last_in - first_in) + sum(t["adds"] for t in layers) == tim["latency_cycles"]


@pytest.mark.sim
def test_dense_timing_equals_its_documented_schedule(tmp_path):
    """Counted from the RTL's own schedule, not from the harness's numbers: a dense layer with the
    whole frame in one beat starts a frame every RF + 1 cycles (RF MAC cycles, one to hand the
    result to the output stage: the schedule's expected II), and the activation stage behind it
    is combinational (kws_act: handshake straight through), so it adds no cycle; folded into the
    dense layer's output requantizer (the default) it adds none either."""
    from sim.check import timing

    from sim.testmodels import small_mlp

    graph = to_hls(small_mlp(16, (8,), 4, seed=2), tmp_path / "prj")  # fc1 -> relu1 -> fc_out
    design = generate_rtl(graph, tmp_path / "rtl", reuse_factor=4, fuse=False)
    assert design.in_frame_beats == 1
    x = random_raw_inputs(graph, 6, seed=2)
    tim = timing(design, x, frames=6)
    assert [l.compute_cycles for l in design.layers if l.kind == "Dense"] == [4, 4]
    assert tim["ii_cycles"] == 4 + 1 == design.report["expected_ii_cycles"]
    acts = [t for t in tim["layer_timing"] if t["layer"].startswith("relu")]
    assert len(acts) == 1 and acts[0]["adds"] == 0 and acts[0]["latency"] == 0, tim["layer_timing"]
    fused = generate_rtl(graph, tmp_path / "fused", reuse_factor=4)
    assert fused.report["fused_activations"] == {"fc1": "relu1"}
    tim_fused = timing(fused, x, frames=6)
    assert (tim_fused["ii_cycles"], tim_fused["latency_cycles"]) == (tim["ii_cycles"], tim["latency_cycles"])



@pytest.mark.sim
def test_bit_serial_pool_divides_while_the_next_frame_is_summed(tmp_path):
    """The DS-CNN's head in small: a global average pool behind a slow 1x1 conv gets the bit-serial
    divider (C x (ACC_W + 3) cycles at a frame's end). Its sums live in two banks, so the next
    frame streams in while the last one is divided and the design keeps the conv's pace, the
    generator's expected II. With one bank the division stopped the conv's output for it: II 1,848
    cycles against 1,561 here (the demo DS-CNN: 8,573 against 8,126). Exact with bubbles too."""
    from sim.check import timing

    graph = to_hls(layer_model("pw_globalpool", bits=8, seed=8), tmp_path / "prj")
    design = generate_rtl(graph, tmp_path / "rtl", reuse_factor=64)
    pool = next(l for l in design.layers if "pool_op" in l.notes)
    assert pool.notes["divider"].startswith("bit-serial"), pool.notes
    x = random_raw_inputs(graph, 60, seed=3)
    res = compare(design, graph, x, p_valid=75, p_ready=70, seed=3)
    assert res["n"] == 60 and res["exact"] == 60, res["first_bad"]
    tim = timing(design, x, frames=4)
    assert tim["ii_cycles"] <= design.report["expected_ii_cycles"], (tim["ii_cycles"], design.report["expected_ii_cycles"])


@pytest.mark.sim
def test_bit_serial_pool_divides_by_one(tmp_path):
    """A 1-pixel average window behind a slow 1x1 conv gets the bit-serial divider too; its remainder
    register was zero bits wide for K = 1 (Verilator refused the module). Lint-clean and exact."""
    from hw.tools.verilator import verilator_lint

    graph = to_hls(layer_model("pw_pool_1px", bits=8, seed=2), tmp_path / "prj")
    design = generate_rtl(graph, tmp_path / "rtl", reuse_factor=512)
    pool = next(l for l in design.layers if "pool_op" in l.notes)
    assert pool.notes["window"] == "1x1/1x1" and pool.notes["divider"].startswith("bit-serial"), pool.notes
    assert verilator_lint(design.files, design.top) == ""
    res = compare(design, graph, random_raw_inputs(graph, 40, seed=2), p_valid=80, p_ready=70, seed=2)
    assert res["n"] == 40 and res["exact"] == 40, res["first_bad"]
