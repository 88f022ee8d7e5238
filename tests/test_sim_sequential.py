"""The sequential engine (RF=seq, hw/rtl/sequential.py) against hw.golden, bit for bit, and its
cycles against the count the generator derives from the layer geometry alone.

One small model per layer type the engine walks (padding, strides, 1-D and 2-D, depthwise,
pointwise, dense, average and max pooling, a stand-alone activation, Keras ZeroPadding and Cropping
on every side), a random DS-CNN with its
global average pool, a 4-bit raw-waveform CNN (strided 1-D convs, average head), a DS-CNN with
per-channel power-of-two weights, an MLP and
the frame-memory model (conv -> depthwise -> dense: three layers of different widths sharing the
multiplier); random bubbles and backpressure.
"""

import numpy as np
import pytest

from hw.rtl import generate_rtl
from hw.rtl.errors import UnsupportedLayerError
from hw.rtl.reuse import parse_reuse
from sim.check import compare, timing
from sim.reference import random_raw_inputs
from sim.testmodels import (BORDER_KINDS, border_model, frame_memory_model, kws_model, layer_model, per_channel_model,
                            residual_model, small_mlp, to_hls)
from tests.rtl_checks import assert_rtl_exact

N = 40
LAYER_KINDS = ["conv2d_same_s2", "conv1d", "depthwise", "pointwise", "avgpool2d", "maxpool2d", "avgpool1d",
               "pw_avgpool2d_wide", "pw_conv2d_same_s2", "conv2d_2ch"]


def _engine(design):
    (stage,) = [l for l in design.layers if l.module]
    return stage


@pytest.mark.sim
@pytest.mark.parametrize("kind", LAYER_KINDS)
def test_sequential_layer_rtl_equals_golden(kind, tmp_path):
    graph = to_hls(layer_model(kind, bits=8, seed=3), tmp_path / "prj")
    design = generate_rtl(graph, tmp_path / "rtl", reuse_factor="seq")
    assert _engine(design).multipliers == 1 and design.in_edge.beat == 1 and design.out_edge.beat == 1
    assert_rtl_exact(design, graph, random_raw_inputs(graph, N, seed=3), [(75, 70)])


@pytest.mark.sim
@pytest.mark.parametrize("name", ["frame_memory", "mlp", "dscnn", "raw_cnn", "dscnn_per_channel"])
def test_sequential_network_rtl_equals_golden_and_cycles(name, tmp_path):
    """Several layers on one multiplier: exact under bubbles and backpressure; back to back, a frame
    every `expected_ii_cycles` - the layers' loop counts, drains and the output beats, nothing else
    (the next input streams in while the later layers compute)."""
    model = {"frame_memory": lambda: frame_memory_model(seed=2),
             "mlp": lambda: small_mlp(64, (32, 16), 8, seed=2),
             "dscnn": lambda: kws_model("dscnn", bits=8, seed=2, width=8),
             "raw_cnn": lambda: kws_model("raw_cnn", bits=4, seed=2, channels=(4, 8, 8, 8), head="average"),
             # 4-bit per-channel power-of-two weights: wide weight codes, one shared multiplier
             "dscnn_per_channel": lambda: per_channel_model("dscnn", bits=4, seed=1)[0]}[name]()
    graph = to_hls(model, tmp_path / "prj")
    design = generate_rtl(graph, tmp_path / "rtl", reuse_factor="seq")
    x = random_raw_inputs(graph, N if name in ("frame_memory", "mlp") else 8, seed=4)
    assert_rtl_exact(design, graph, x, [(60, 50), (100, 100)])
    engine = _engine(design)
    assert len(engine.notes["layers"]) >= 3
    tim = timing(design, x[:3], frames=3)
    assert tim["ii_cycles"] == design.report["expected_ii_cycles"] == engine.compute_cycles
    # one multiplier: at least one cycle per MAC, and the overhead is the drains and the pool's divider
    assert engine.notes["macs_per_frame"] <= tim["ii_cycles"]
    if name == "dscnn_per_channel":  # the ROM holds the trained 4-bit codes; the scales are shifts
        assert engine.notes["stored_weight_bits"] == 4 and engine.notes["channel_shifts"]
        assert engine.rom_bits == 4 * sum(l.weights["weight"].data.size for l in graph.get_layers() if "weight" in l.weights)


@pytest.mark.sim
@pytest.mark.parametrize("kind", BORDER_KINDS)
def test_sequential_zero_padding_and_cropping(kind, tmp_path):
    """Keras ZeroPadding and Cropping layers (1-D and 2-D, every side, before and after convs and a
    pool) as copy layers, a cropping being a negative padding of the engine's window walk."""
    graph = to_hls(border_model(kind, seed=5), tmp_path / "prj")
    design = generate_rtl(graph, tmp_path / "rtl", reuse_factor="seq", fold_padding=False)  # every border its own layer
    walked = set(_engine(design).notes["layers"])
    assert {l.name for l in graph.get_layers() if l.class_name.startswith(("ZeroPadding", "Cropping"))} <= walked
    x = random_raw_inputs(graph, N, seed=5)
    assert_rtl_exact(design, graph, x, [(70, 60)])
    assert timing(design, x[:3], frames=3)["ii_cycles"] == design.report["expected_ii_cycles"]


@pytest.mark.sim
def test_sequential_deep_cropping_keeps_its_coordinates(tmp_path):
    """A cropping that keeps 2 of 21 rows: the window starts 10 rows inside the map, and the signed
    row/column coordinates must still reach the map's own 21 rows (they once were sized from the
    negative padding)."""
    import tensorflow as tf
    from qkeras import QActivation, QDense, quantized_bits

    from sim.testmodels import randomize

    inp = tf.keras.Input((21, 21, 1))
    x = QActivation(quantized_bits(8, 2, alpha=1), name="q_in")(inp)
    x = tf.keras.layers.Cropping2D(((10, 9), (9, 10)), name="crop")(x)
    x = QDense(3, kernel_quantizer=quantized_bits(8, 0, alpha=1), bias_quantizer=quantized_bits(8, 2, alpha=1),
               name="fc")(tf.keras.layers.Flatten(name="flat")(x))
    model = randomize(tf.keras.Model(inp, QActivation(quantized_bits(12, 4, alpha=1), name="out_q")(x)),
                       np.random.default_rng(1))
    graph = to_hls(model, tmp_path / "prj")
    design = generate_rtl(graph, tmp_path / "rtl", reuse_factor="seq")
    assert_rtl_exact(design, graph, random_raw_inputs(graph, N, seed=6), [(80, 80)])


def test_sequential_refuses_merges_and_reuse_factors(tmp_path):
    graph = to_hls(residual_model(), tmp_path / "prj")
    with pytest.raises(UnsupportedLayerError, match="chain of layers"):
        generate_rtl(graph, tmp_path / "rtl", reuse_factor="seq")
    assert not (tmp_path / "rtl").exists()  # nothing half-written
    import argparse

    with pytest.raises(argparse.ArgumentTypeError, match="takes no reuse factors"):
        parse_reuse("64,seq")
    assert str(parse_reuse("seq")) == "seq" and parse_reuse("seq").tag == "seq"
