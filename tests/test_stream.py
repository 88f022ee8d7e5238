"""The streaming form of a windowed model: the plan (which layer streams how, and what is refused),
the streaming golden model against the windowed golden model on every window it emits, and the
streaming RTL against the streaming golden model under Verilator with bubbles and backpressure."""

from __future__ import annotations

import numpy as np
import pytest

from hw.errors import UnsupportedLayerError
from hw.golden.model import GoldenModel
from hw.stream.golden import StreamingGolden
from hw.stream.plan import build_plan
from sim.testmodels import kws_model, streaming_model, to_hls

KINDS = ("ffn", "cnn2d", "cnn1d")


@pytest.fixture(scope="module")
def graphs(tmp_path_factory):
    """hls4ml graphs of the streaming test models, io_parallel (by kind) and io_stream ((kind, 'io_stream'):
    Repack and Clone stages, no padding layers)."""
    root = tmp_path_factory.mktemp("stream_hls")
    out = {k: to_hls(streaming_model(k, seed=3), root / k) for k in KINDS}
    out.update({(k, "io_stream"): to_hls(streaming_model(k, seed=4), root / f"{k}_s", io_type="io_stream")
                for k in ("cnn1d", "cnn2d")})
    # the project's unpadded models, random weights: frequency-only padding layers (DS-CNN), right-aligned
    # crops of the shortcuts and residual Adds with strided 1x1 convolutions (TC-ResNet)
    out["dscnn"] = to_hls(kws_model("dscnn", bits=8, seed=5, width=4, time_padding="valid"), root / "dscnn")
    out["tcresnet"] = to_hls(kws_model("tc_resnet", bits=8, seed=5, width=0.25, time_padding="valid"), root / "tcr")
    # the FFN with a shared frame layer: a flat window re-cut into frames, a Conv1D over frame pairs
    out["ffn_frames"] = to_hls(kws_model("streaming_ffn", bits=8, seed=5, width=16, depth=2, frame_units=4,
                                         frame_kernel=2, frame_stride=2), root / "ffn_frames")
    return out


def random_frames(plan, golden, n, seed=1):
    rng = np.random.default_rng(seed)
    x = rng.normal(0, 2, (n, plan.frame_elems))
    x[::7] = np.round(x[::7] * 8) / 8 + 1 / 16  # ties of the input grid
    x[::11] *= 40  # saturation
    return golden.quantize_frames(x).reshape(n, -1)


def windowed(graph, frames_raw, k, window=49):
    golden = GoldenModel(graph)
    starts = range(0, len(frames_raw) - window + 1, k)
    wins = np.stack([frames_raw[s:s + window] for s in starts])
    return golden.run_raw(wins.reshape(len(wins), *golden.stages[0].kernel.shape)).reshape(len(wins), -1)


def test_plan_roles(graphs):
    roles = {k: {s.name: (s.role, s.fh, s.sh) for s in build_plan(graphs[k], 2).layers} for k in KINDS}
    assert roles["ffn"]["fc1"] == ("collapse", 49, 2)  # the dense reads the whole window once per decision
    assert roles["ffn"]["logits"][0] == "emission"
    assert roles["cnn2d"]["conv1"] == ("window", 5, 2)
    assert roles["cnn2d"]["dw1"] == ("window", 3, 1)
    assert roles["cnn2d"]["pw1"][0] == "row"
    # conv1 strides 2 frames: its 23 rows shrink to 21 after the depthwise; the pool reads them all every
    # decision of 2 frames, i.e. one row step
    assert roles["cnn2d"]["avg_pool"] == ("collapse", 21, 1)
    assert roles["cnn1d"]["avg_pool"] == ("collapse", 22, 1)
    frames = {s.name: (s.role, s.fh, s.sh) for s in build_plan(graphs["ffn_frames"], 2).layers}
    assert frames["frames"] == ("window", 2, 2)  # each frame pair once: one new group per decision of 2 hops
    assert frames["fc1"] == ("collapse", 24, 1)
    plan = build_plan(graphs["cnn2d"], 4)
    assert plan["avg_pool"].sh == 2 and plan.frame_elems == 6 and plan.receptive_frames == 5 + 2 * 2 + 20 * 2


@pytest.mark.parametrize("kind,k", [(kind, k) for kind in (*KINDS, ("cnn1d", "io_stream"), ("cnn2d", "io_stream"), "dscnn", "ffn_frames")
                                    for k in (2, 4)] + [("tcresnet", 8), ("tcresnet", 16)])
def test_streaming_golden_equals_windowed(graphs, kind, k):
    graph = graphs[kind]
    plan = build_plan(graph, k)
    stream = StreamingGolden(graph, plan)
    frames = random_frames(plan, stream, 200)
    want = windowed(graph, frames, k)
    assert len(want) == (200 - 49) // k + 1
    got = stream.run(frames, chunk=37)
    # a decision comes once the frames it reads are in (a model may never read its window's last frames)
    assert len(got) == (200 - plan.receptive_frames) // k + 1
    np.testing.assert_array_equal(got[:len(want)], want)
    stream.reset()  # one frame per hop, as the hardware gets them
    hop_by_hop = np.concatenate([stream.push(f[None]) for f in frames])
    np.testing.assert_array_equal(hop_by_hop, got)


def test_reset_forgets_the_past(graphs):
    graph = graphs["cnn2d"]
    plan = build_plan(graph, 2)
    stream = StreamingGolden(graph, plan)
    frames = random_frames(plan, stream, 120)
    stream.push(frames[:70])
    stream.reset()
    after = np.concatenate([stream.push(frames[70 + i:71 + i]) for i in range(50)])
    np.testing.assert_array_equal(after, windowed(graph, frames[70:], 2))  # the first window starts at the reset


def test_refusals(tmp_path):
    import tensorflow as tf
    from qkeras import QActivation, QConv2D, QDense, quantized_bits

    def conv_model(padding, frames=49):
        inp = tf.keras.Input((frames, 6, 1))
        x = QActivation(quantized_bits(8, 2, alpha=1), name="q_in")(inp)
        x = QConv2D(2, (3, 3), strides=(2, 1), padding=padding, name="conv_t", kernel_quantizer=quantized_bits(6, 0, alpha=1),
                    bias_quantizer=quantized_bits(6, 2, alpha=1))(x)
        x = tf.keras.layers.Flatten()(x)
        x = QDense(3, kernel_quantizer=quantized_bits(6, 0, alpha=1), bias_quantizer=quantized_bits(6, 2, alpha=1), name="out")(x)
        return tf.keras.Model(inp, QActivation(quantized_bits(12, 5, alpha=1), name="out_q")(x))

    same = to_hls(conv_model("same"), tmp_path / "same")
    with pytest.raises(UnsupportedLayerError, match="conv_t.*pads the time axis"):
        build_plan(same, 2)
    valid = to_hls(conv_model("valid"), tmp_path / "valid")
    assert build_plan(valid, 2).collapse[0].name == "out"
    with pytest.raises(UnsupportedLayerError, match="conv_t.*every 3 frames.*time stride of 2.*multiple of 2"):
        build_plan(valid, 3)
    short = to_hls(conv_model("valid", frames=30), tmp_path / "short")
    with pytest.raises(UnsupportedLayerError, match="30 steps, a window has 49 frames"):
        build_plan(short, 2)
    with pytest.raises(ValueError, match="decision_frames"):
        build_plan(valid, 0)


def test_output_with_time_axis_refused(tmp_path):
    import tensorflow as tf
    from qkeras import QActivation, QConv1D, quantized_bits

    inp = tf.keras.Input((49, 4))
    x = QActivation(quantized_bits(8, 2, alpha=1), name="q_in")(inp)
    x = QConv1D(2, 3, name="conv", kernel_quantizer=quantized_bits(6, 0, alpha=1), bias_quantizer=quantized_bits(6, 2, alpha=1))(x)
    graph = to_hls(tf.keras.Model(inp, QActivation(quantized_bits(12, 5, alpha=1), name="out_q")(x)), tmp_path / "m")
    with pytest.raises(UnsupportedLayerError, match="keeps 47 time steps"):
        build_plan(graph, 1)


@pytest.mark.parametrize("kind,rf,p_valid,p_ready", [("ffn", 4, 70, 60), ("cnn2d", 1, 100, 100), ("cnn2d", 4, 60, 70),
                                                     ("cnn1d", 2, 80, 50), (("cnn1d", "io_stream"), 3, 90, 70),
                                                     (("cnn2d", "io_stream"), 2, 70, 80), ("dscnn", 8, 80, 70),
                                                     ("tcresnet", 4, 75, 65), ("ffn_frames", 4, 70, 80)])
def test_streaming_rtl_equals_streaming_golden(graphs, tmp_path, kind, rf, p_valid, p_ready):
    from hw.rtl.stream_generate import generate_stream_rtl
    from sim.frames import to_beats
    from sim.verilator_harness import run_harness

    graph = graphs[kind]
    plan = build_plan(graph, 8 if kind == "tcresnet" else 2)
    stream = StreamingGolden(graph, plan)
    frames = random_frames(plan, stream, 160)
    want_raw = stream.run(frames)
    design = generate_stream_rtl(graph, plan, tmp_path / "rtl", reuse_factor=rf)
    assert design.in_frame_beats == 1 and design.in_edge.beat == plan.frame_elems  # one frame per beat
    ie, oe = design.in_edge, design.out_edge
    want = [to_beats(y, oe.beat, oe.width) for y in want_raw]
    got, stats = run_harness(design, [to_beats(f, ie.beat, ie.width) for f in frames], design.out_frame_beats,
                             out_frames=len(want), p_valid=p_valid, p_ready=p_ready, seed=5)
    assert got == want and stats["tlast_ok"]


# ffn (~80 s) with `-m slow`: the reset logic is the same generated control, cnn2d keeps it in the default suite
@pytest.mark.parametrize("kind", ["cnn2d", pytest.param("ffn", marks=pytest.mark.slow)])
def test_cocotb_reset_mid_stream(graphs, tmp_path, kind):
    """cocotb: bubbles, backpressure, a reset with decisions in flight; after it only the new frames count
    and the first decision waits for the buffers to fill again."""
    from hw.detector import DetectorParams, detect
    from hw.rtl.emitters.detector_emitter import emit_detector, output_beat
    from hw.rtl.stream_generate import generate_stream_rtl
    from sim.frames import to_beats
    from sim.runner import run_cocotb

    graph = graphs[kind]
    plan = build_plan(graph, 2)
    stream = StreamingGolden(graph, plan)
    first, second = random_frames(plan, stream, 75, seed=2), random_frames(plan, stream, 70, seed=3)
    # with the keyword detector behind the logits, firing often (every class a keyword, margin >= 0, refractory 2): its sums,
    # warm-up and refractory state must restart at the reset too
    params = DetectorParams(n_classes=5, smooth=3, threshold=0, refractory=2, keywords=tuple(range(5)))
    design = generate_stream_rtl(graph, plan, tmp_path / "rtl", reuse_factor=2,
                                 tail=(lambda edge, n: emit_detector(edge, params),))
    ie = design.in_edge

    def outputs(frames):
        logits = stream.run(frames)
        fire, ids = detect(logits, params)
        return [[output_beat(c, f, i, stream.output_t.width)] for c, f, i in zip(logits, fire, ids)], int(fire.sum())

    (out_before, _), (out_after, fired) = outputs(first), outputs(second)
    assert fired > 2  # the check sees detections
    cfg = {"frames_before": [to_beats(r, ie.beat, ie.width) for r in first], "out_before": out_before,
           "frames_after": [to_beats(r, ie.beat, ie.width) for r in second], "out_after": out_after,
           "refill_frames": plan.receptive_frames, "p_valid": 0.7, "p_ready": 0.6}
    result = run_cocotb(design.files, design.top, "sim.tb_always_on", tb_config=cfg)
    rep = result.report["stream_reset"]
    assert result.failed == 0 and result.passed == 1, rep
    assert rep["beats_before_reset"] > 0 and rep["first_output_cycle"] > rep["refill_frame_cycle"]
