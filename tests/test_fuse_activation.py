"""Activations folded into the MAC layer before them (hw/rtl/fuse_activation.py): which pairs the
pass fuses, and the fused designs bit for bit against hw.golden (which is not changed: a fused
stage must equal the Activation's traced output) under random bubbles and backpressure.

Each simulation is one small Verilator build (a few seconds)."""

import numpy as np
import pytest

from hw.rtl import generate_rtl
from hw.rtl.fuse_activation import fuse_activations, fused_names
from hw.rtl.layer_spec import read_graph
from sim.check import compare
from sim.reference import random_raw_inputs
from sim.testmodels import randomize, residual_model, small_mlp, to_hls

N = 300
# the MAC's result type rounds (RND, half up) and saturates before the activation rounds half to
# even into its own type; WRAP makes large sums change sign before the ReLU sees them
RELU_RESULTS = {"round_sat": "fixed<10,4,RND,SAT>", "round_wrap": "fixed<8,3,RND_CONV,WRAP>"}


def _mlp_graph(path, result: str):
    """q_in -> fc1 -> relu1 (ufixed<6,3,RND_CONV,SAT>) -> fc_out with fc1's result type given.
    hls4ml puts a hidden fc1_linear between fc1 and relu1 unless it has the same type."""
    return to_hls(small_mlp(16, (8,), 4, seed=2), path,
                  overrides={"fc1": {"result": result}, "fc1_linear": {"result": result}})


def _linear_graph(path):
    """q_in -> fc1 (result fixed<8,3,RND_CONV,WRAP>) -> fc1_linear (quantized_bits(6, 2): fixed<6,3,RND_CONV,SAT>) -> fc2."""
    import tensorflow as tf
    from qkeras import QActivation, QDense, quantized_bits

    inp = tf.keras.Input((16,), name="inp")
    x = QActivation(quantized_bits(8, 2, alpha=1), name="q_in")(inp)
    wq = dict(kernel_quantizer=quantized_bits(6, 0, alpha=1), bias_quantizer=quantized_bits(8, 2, alpha=1))
    x = QActivation(quantized_bits(6, 2, alpha=1), name="q1")(QDense(8, name="fc1", **wq)(x))
    model = randomize(tf.keras.Model(inp, QDense(4, name="fc2", **wq)(x)), np.random.default_rng(0))
    return to_hls(model, path, overrides={"fc1": {"result": "fixed<8,3,RND_CONV,WRAP>"}})


def _forked_mac_graph(path):
    """A residual block whose first conv's output feeds its ReLU and, unactivated, the Add:
    conv_a -> relu_a -> conv_b -> relu_b; add(relu_b, conv_a) -> add_relu. conv_a must not be fused."""
    import tensorflow as tf
    from qkeras import QActivation, QConv1D, quantized_bits, quantized_relu

    wq = dict(kernel_quantizer=quantized_bits(8, 0, alpha=1), bias_quantizer=quantized_bits(8, 2, alpha=1))
    inp = tf.keras.Input((12, 3), name="features")
    x = QActivation(quantized_bits(8, 2, alpha=1), name="q_in")(inp)
    a = QConv1D(4, 3, padding="same", name="conv_a", **wq)(x)
    b = QConv1D(4, 3, padding="same", name="conv_b", **wq)(QActivation(quantized_relu(8, 2), name="relu_a")(a))
    b = QActivation(quantized_relu(8, 2), name="relu_b")(b)
    z = QActivation(quantized_relu(8, 2), name="add_relu")(tf.keras.layers.Add(name="add")([b, a]))
    return to_hls(randomize(tf.keras.Model(inp, z), np.random.default_rng(3)), path)


@pytest.fixture(scope="module")
def residual_graph(tmp_path_factory):
    return to_hls(residual_model(bits=8, seed=4), tmp_path_factory.mktemp("res") / "prj")


# ---------------------------------------------------------------- which pairs are fused
def test_residual_block_fuses_chains_and_keeps_merge_inputs(residual_graph):
    """stem's ReLU forks (to conv1 and the shortcut): stem has one reader, so it is fused and its
    output forks instead; conv2 and the shortcut feed the Add directly: nothing to fuse; add_relu
    follows a Merge, not a MAC layer: it stays a kws_act stage."""
    specs = read_graph(residual_graph)
    fused = fuse_activations(specs)
    assert fused_names(fused) == {"stem": "stem_relu", "conv1": "conv1_relu"}
    by_name = {s.name: s for s in fused}
    assert "stem_relu" not in by_name and "conv1_relu" not in by_name and "add_relu" in by_name
    assert by_name["conv1"].inputs == ("stem",) and by_name["skip"].inputs == ("stem",)
    assert by_name["conv2"].inputs == ("conv1",)
    relu = next(s for s in specs if s.name == "stem_relu")
    stem = by_name["stem"]
    assert stem.out_type == relu.out_type and stem.result_type == relu.in_type and stem.activation.function == "relu"
    assert len(read_graph(residual_graph)) == len(specs)  # the graph's specs are not changed


def test_mac_output_also_read_by_the_add_is_not_fused(tmp_path):
    graph = _forked_mac_graph(tmp_path / "prj")
    specs = fuse_activations(read_graph(graph))
    assert fused_names(specs) == {"conv_b": "relu_b"}
    add = next(s for s in specs if s.name == "add")
    assert add.inputs == ("conv_b", "conv_a") and any(s.name == "relu_a" for s in specs)


def test_hand_made_chain_and_unsupported_functions():
    """A chain without input names reads the spec before it; an activation the RTL does not have
    (tanh) or a type mismatch between the MAC's result and the activation's input is left alone."""
    from hw.rtl.layer_spec import LayerSpec
    from qat.fixed import FixedType

    t8, t16, u6 = FixedType(8, 3), FixedType(16, 6), FixedType(6, 3, False, "RND_CONV", "SAT")
    w = {"weight": (np.zeros((4, 2), np.int64), t8)}

    def chain(func, act_in=t16):
        return [LayerSpec("fc", "Dense", t8, t16, (4,), (2,), {"n_out": 2}, dict(w)),
                LayerSpec("act", "Activation", act_in, u6, (2,), (2,), {"activation": func}),
                LayerSpec("fc2", "Dense", u6, t16, (2,), (2,), {"n_out": 2}, dict(w))]

    fused = fuse_activations(chain("relu"))
    assert [s.name for s in fused] == ["fc", "fc2"] and fused_names(fused) == {"fc": "act"}
    assert fused[0].out_type == u6 and fused[0].result_type == t16 and fused[1].inputs == ()
    assert fused_names(fuse_activations(chain("linear"))) == {"fc": "act"}
    assert fused_names(fuse_activations(chain("tanh"))) == {}
    assert fused_names(fuse_activations(chain("relu", act_in=FixedType(18, 8)))) == {}


def test_upto_the_mac_layer_keeps_it_unfused(residual_graph, tmp_path):
    plain = generate_rtl(residual_graph, tmp_path / "mac", upto="conv1")
    assert plain.layers[-1].layer == "conv1" and "fused_activation" not in plain.layers[-1].notes
    relu = generate_rtl(residual_graph, tmp_path / "act", upto="conv1_relu")
    last = relu.layers[-1]
    assert last.layer == "conv1" and last.notes["fused_activation"] == "conv1_relu"
    assert relu.out_edge.width == 8 and plain.out_edge.width > 16
    assert "conv1_relu into conv1" in (tmp_path / "act" / "report.md").read_text()
    assert not any(l.module == "kws_act" for l in relu.layers)


def test_dense_at_rf1_keeps_its_activation_stage(tmp_path):
    """At RF 1 (kws_dense_pipe, a vector every cycle) the relu keeps its own register stage unless
    fuse_pipelined; at RF 4 it is fused. Only the Dense at RF 1 is kept: fc_out has no activation."""
    graph = _mlp_graph(tmp_path / "prj", RELU_RESULTS["round_sat"])
    kept = generate_rtl(graph, tmp_path / "rf1", reuse_factor=1)
    assert [l.layer for l in kept.layers if l.module == "kws_act"] == ["relu1"]
    assert kept.report["fused_activations"] == {}
    forced = generate_rtl(graph, tmp_path / "rf1f", reuse_factor=1, fuse_pipelined=True)
    assert not any(l.module == "kws_act" for l in forced.layers)
    mixed = generate_rtl(graph, tmp_path / "mixed", reuse_factor="fc1=4,fc_out=1")
    assert next(l for l in mixed.layers if l.layer == "fc1").notes["fused_activation"] == "relu1"


def test_fuse_false_keeps_the_activation_stages(residual_graph, tmp_path):
    design = generate_rtl(residual_graph, tmp_path / "rtl", fuse=False)
    assert [l.layer for l in design.layers if l.module == "kws_act"] == ["stem_relu", "conv1_relu", "add_relu"]
    assert design.report["fused_activations"] == {}


# ---------------------------------------------------------------- bit for bit
@pytest.mark.sim
@pytest.mark.parametrize("result", sorted(RELU_RESULTS))
@pytest.mark.parametrize("rf", [4, 1], ids=["rf4-kws_dense", "rf1-kws_dense_pipe"])
def test_fused_relu_equals_golden(tmp_path, result, rf):
    graph = _mlp_graph(tmp_path / "prj", RELU_RESULTS[result])
    design = generate_rtl(graph, tmp_path / "rtl", reuse_factor=rf, fuse_pipelined=True)
    fc1 = next(l for l in design.layers if l.layer == "fc1")
    assert fc1.notes["fused_activation"] == "relu1" and fc1.out.width == 6
    assert fc1.notes.get("pipelined", False) == (rf == 1)
    assert not any(l.module == "kws_act" for l in design.layers)
    res = compare(design, graph, random_raw_inputs(graph, N, seed=1), p_valid=70, p_ready=60, seed=rf)
    assert res["exact"] == res["n"] == N, res["first_bad"]


@pytest.mark.sim
def test_fused_linear_equals_golden_per_layer(tmp_path):
    """The fused stage alone (upto = the activation) equals the activation's trace."""
    graph = _linear_graph(tmp_path / "prj")
    x = random_raw_inputs(graph, N, seed=2)
    design = generate_rtl(graph, tmp_path / "fc1", reuse_factor=8, upto="fc1_linear")
    assert design.layers[-1].notes["activation"] == "linear" and design.out_edge.width == 6
    res = compare(design, graph, x, upto="fc1_linear", p_valid=60, p_ready=70, seed=2)
    assert res["exact"] == res["n"] == N, res["first_bad"]
    whole = generate_rtl(graph, tmp_path / "all", reuse_factor=8)
    res = compare(whole, graph, x, p_valid=80, p_ready=50, seed=3)
    assert res["exact"] == res["n"] == N, res["first_bad"]


@pytest.mark.sim
def test_one_cast_instead_of_two_is_caught(tmp_path, monkeypatch):
    """The check can fail: converting the sum straight to the activation type (skipping the
    result type's rounding and wrap-around) differs from hls4ml's composite."""
    import hw.rtl.emitters.dense_emitter as de

    real = de._arith_params

    def one_cast(edge_in, w_type, acc, out, pc=None, activation=None):
        params = real(edge_in, w_type, acc, out, pc)
        if activation is not None:
            params["RELU"] = int(activation.function == "relu")
        return params

    monkeypatch.setattr(de, "_arith_params", one_cast)
    graph = _mlp_graph(tmp_path / "prj", RELU_RESULTS["round_wrap"])
    design = generate_rtl(graph, tmp_path / "rtl", reuse_factor=4, upto="relu1")
    res = compare(design, graph, random_raw_inputs(graph, N, seed=1), upto="relu1")
    assert res["n"] == N and res["exact"] < N * 0.9


@pytest.mark.sim
def test_forked_residual_block_equals_golden(tmp_path):
    """conv_a (read by its ReLU and by the Add) stays a separate kws_act stage; the whole block
    with its skip FIFO is exact under bubbles and backpressure, and so is conv_b's stage alone."""
    graph = _forked_mac_graph(tmp_path / "prj")
    design = generate_rtl(graph, tmp_path / "rtl", reuse_factor=3)
    assert [l.layer for l in design.layers if l.module == "kws_act"] == ["relu_a", "add_relu"]
    x = random_raw_inputs(graph, N, seed=5)
    res = compare(design, graph, x, p_valid=60, p_ready=50, seed=5)
    assert res["exact"] == res["n"] == N, res["first_bad"]
