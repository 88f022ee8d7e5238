"""TC-ResNet (residual temporal convolutions): the model, BN folding + power-of-two rescaling of a
residual graph, and QKeras == golden == hls4ml C simulation bit for bit (real MFCC clips)."""

import shutil

import numpy as np
import pytest
from tensorflow import keras

from qat.metrics import model_cost
from qat.models import build_model
from qat.models.fold import folded_weights, po2_rescale, set_weights
from qat.quant_config import QuantConfig
from tests.real_clips import real_features

SHAPE = (49, 10, 1)
DSCNN_MACS = 2_656_768
IDENTITY = {"channels": (16, 16, 24, 24), "strides": (1, 2, 1), "width": 0.5}  # blocks 1 and 3: identity shortcuts


def _linear_names(model):
    return [l.name for l in model.layers if type(l).__name__.lstrip("Q") in ("Conv1D", "Dense")]


def test_twins_share_names_and_cost_less_than_dscnn():
    fm = build_model("tc_resnet", SHAPE, 12, None)
    qm = build_model("tc_resnet", SHAPE, 12, QuantConfig(weight_bits=4, act_bits=4))
    assert _linear_names(fm) == _linear_names(qm) and len(_linear_names(fm)) == 11  # conv1, 3 x (2 convs + skip), logits
    bns = {l.name for l in fm.layers if isinstance(l, keras.layers.BatchNormalization)}
    assert bns == {f"{n}_bn" for n in _linear_names(fm) if n != "logits"}  # every BN folds into its conv by name
    acts = lambda m: [l.name for l in m.layers if l.name.endswith("_relu")]  # noqa: E731
    assert acts(fm) == acts(qm) and "block1_relu" in acts(qm)  # the post-Add activations
    adds = [l for l in qm.layers if isinstance(l, keras.layers.Add)]
    assert len(adds) == 3 and all(type(a.outbound_nodes[0].layer).__name__ == "QActivation" for a in adds)
    cost, dscnn = model_cost(fm), model_cost(build_model("dscnn", SHAPE, 12))
    assert dscnn["macs"] == DSCNN_MACS
    assert cost["macs"] == 722_016 and cost["macs"] < DSCNN_MACS  # printed numbers are in the report
    assert 60_000 < cost["params"] < 70_000
    print(f"tc_resnet: {cost['params']} params, {cost['macs']} MACs (DS-CNN {dscnn['macs']})")


def _spread_bn(model, rng):
    """BatchNorm statistics with scales spread over ~2**-3..2**3, so that folding gives very different
    per-layer peaks and po2_rescale has to move real factors through the Adds."""
    for layer in model.layers:
        if isinstance(layer, keras.layers.BatchNormalization):
            n = layer.gamma.shape[0]
            gamma = rng.uniform(0.5, 2, n) * 2.0 ** rng.integers(-3, 4)
            layer.set_weights([gamma, rng.normal(0, 0.3, n), rng.normal(0, 0.3, n), rng.uniform(0.2, 3, n)])


def _wide_twin(weights, **kw):
    wide = QuantConfig(weight_bits=24, bias_bits=24, act_bits=24, act_int=10, input_bits=24, input_int=6,
                       output_bits=24, output_int=10, pool_bits=24, pool_int=10).with_layer_ranges(weights)
    qm = build_model("tc_resnet", SHAPE, 12, wide, **kw)
    set_weights(qm, weights)
    return qm


@pytest.mark.parametrize("kw", [{"width": 0.5}, IDENTITY], ids=["projection", "identity"])
def test_fold_and_rescale_keep_the_residual_function(kw):
    rng = np.random.default_rng(3)
    fm = build_model("tc_resnet", SHAPE, 12, None, **kw)
    _spread_bn(fm, rng)
    folded = folded_weights(fm)
    weights = po2_rescale(folded)
    factors = {n: float(np.max(np.abs(weights[n][0])) / np.max(np.abs(folded[n][0]))) for n in folded}
    assert any(f != 1.0 for f in factors.values()), factors  # the rescale actually moved scales
    assert all(np.log2(f) == round(np.log2(f)) for f in factors.values())  # powers of two only
    x = rng.standard_normal((8, *SHAPE)).astype(np.float32)
    want = fm.predict(x, verbose=0)
    np.testing.assert_allclose(_wide_twin(weights, **kw).predict(x, verbose=0), want, rtol=1e-3, atol=1e-3 * np.abs(want).max())
    # The chain rule (each layer rescaled against the one listed before it) breaks the residual sums:
    chain = po2_rescale(dict(folded))
    assert any(not np.array_equal(chain[n][0], weights[n][0]) for n in weights)
    got = _wide_twin(chain, **kw).predict(x, verbose=0)
    assert np.max(np.abs(got - want)) > 1e-2 * np.abs(want).max()


def test_rescaled_branches_into_an_add_share_one_scale():
    """Bias scale = output scale of a layer: the two branches of each Add carry the same factor."""
    rng = np.random.default_rng(5)
    fm = build_model("tc_resnet", SHAPE, 12, None, width=0.5)
    _spread_bn(fm, rng)
    folded = folded_weights(fm)
    weights = po2_rescale(folded)
    for block in ("block1", "block2", "block3"):
        scales = [float(np.median(weights[n][1][folded[n][1] != 0] / folded[n][1][folded[n][1] != 0]))
                  for n in (f"{block}_conv2", f"{block}_skip")]
        assert scales[0] == scales[1], (block, scales)


def _narrow_random(bits, seed=0, **kw):
    from sim.testmodels import randomize

    model = build_model("tc_resnet", SHAPE, 12, QuantConfig(weight_bits=bits, act_bits=bits), **kw)
    return randomize(model, np.random.default_rng(seed), spread=0.5)


@pytest.mark.gsc
@pytest.mark.hls
@pytest.mark.skipif(shutil.which("g++") is None, reason="hls4ml C simulation needs g++")
@pytest.mark.parametrize("bits", [8, 4])
def test_qkeras_golden_csim_identical_on_real_clips(bits, tmp_path):
    from hw.convert import HlsSettings, convert
    from hw.golden import GoldenModel

    model = _narrow_random(bits, seed=bits, width=0.5)
    graph = convert(model, tmp_path / "prj", HlsSettings(io_type="io_parallel"))
    assert [l.class_name for l in graph.get_layers()].count("Merge") == 3
    x = real_features("mfcc", 200)
    want = model.predict(x, verbose=0, batch_size=256).reshape(len(x), -1)
    golden = GoldenModel(graph).predict(x).reshape(len(x), -1)
    graph.compile()
    csim = np.asarray(graph.predict(np.ascontiguousarray(x, dtype=np.float64))).reshape(len(x), -1)
    report = (f"{bits}b: golden==qkeras {np.all(golden == want, axis=1).sum()}/200, "
              f"csim==golden {np.all(csim == golden, axis=1).sum()}/200")
    assert np.array_equal(golden, want), report
    assert np.array_equal(csim, golden), report
    assert len(np.unique(want, axis=0)) > 100  # varied outputs, not one saturated code


def test_io_stream_graph_golden_equals_qkeras(tmp_path):
    """io_stream re-cuts the MFCC-to-sequence Reshape into a Repack stage: the golden model follows it."""
    from hw.convert import HlsSettings, convert
    from hw.golden import GoldenModel

    model = _narrow_random(8, seed=3, width=0.5)
    golden = GoldenModel(convert(model, tmp_path / "prj", HlsSettings(io_type="io_stream")))
    assert any(s.layer_class.endswith("Repack") for s in golden.stages)
    x = np.random.default_rng(3).normal(0, 1.5, (200, *SHAPE)).astype(np.float32)
    want = model.predict(x, verbose=0).reshape(len(x), -1)
    got = golden.predict(x).reshape(len(x), -1)
    assert np.array_equal(got, want), f"{np.all(got == want, axis=1).sum()} of 200 identical"
    assert len(np.unique(want, axis=0)) > 100


def test_identity_shortcut_golden_equals_qkeras(tmp_path):
    """Identity shortcut: the Add mixes an unsigned ReLU output with a signed conv sum."""
    from hw.convert import HlsSettings, convert
    from hw.golden import GoldenModel

    model = _narrow_random(8, seed=2, **IDENTITY)
    golden = GoldenModel(convert(model, tmp_path / "prj", HlsSettings()))
    x = np.random.default_rng(2).normal(0, 1.5, (200, *SHAPE)).astype(np.float32)
    want = model.predict(x, verbose=0).reshape(len(x), -1)
    got = golden.predict(x).reshape(len(x), -1)
    assert np.array_equal(got, want), f"{np.all(got == want, axis=1).sum()} of 200 identical"
    assert len(np.unique(want, axis=0)) > 100


def _merge_model(merge, after_relu=True, n_inputs=2):
    from qkeras import QActivation, QDense, quantized_bits, quantized_relu

    inp = keras.Input((8,), name="features")
    x = QActivation(quantized_bits(8, 2, alpha=1), name="q_in")(inp)
    branches = [QDense(4, kernel_quantizer=quantized_bits(8, 0, alpha=1), bias_quantizer=quantized_bits(8, 2, alpha=1),
                       name=f"fc{i}")(x) for i in range(n_inputs)]
    y = merge(name="join")(branches)
    if after_relu:
        y = QActivation(quantized_relu(8, 3), name="join_relu")(y)
    return keras.Model(inp, y)


@pytest.mark.parametrize("merge,after,n,words", [
    (keras.layers.Subtract, True, 2, ["Subtract is not supported", "only Add"]),
    (keras.layers.Concatenate, True, 3, ["Concatenate of 3 tensors", "exactly two"]),  # two: tests/test_byo_concat.py
    (keras.layers.Add, False, 2, ["followed by one QActivation"]),
    (keras.layers.Add, True, 3, ["Add of 3 tensors", "exactly two"]),
])
def test_unsupported_merges_name_the_layer(merge, after, n, words):
    from hw.convert import UnsupportedModelError, check_supported

    with pytest.raises(UnsupportedModelError) as err:
        check_supported(_merge_model(merge, after, n))
    problems = dict(err.value.problems)
    assert "join" in problems and all(w in problems["join"] for w in words), problems
