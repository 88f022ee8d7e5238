"""Models build in float and quantized form; folding + power-of-two rescaling keeps the function."""

import numpy as np
import pytest
from tensorflow import keras

from qat.models import MODELS, UnknownModelError, build_model, feature_kind, load_model
from qat.models.fold import folded_weights, po2_rescale, set_weights
from qat.quant_config import QuantConfig
from qat import features

SMALL = {"dscnn": {"width": 8}, "streaming_ffn": {"width": 16}, "raw_cnn": {"channels": (4, 4, 8, 8)},
         "tc_resnet": {"width": 0.5}, "nas_mfcc": {}, "nas_raw": {}}  # NAS models: their default (small) architecture
# (model, its small arguments): every model, and the variants unpadded in time (tests/test_time_padding.py)
CASES = [(name, SMALL[name]) for name in sorted(MODELS)] + [
    ("dscnn", {**SMALL["dscnn"], "time_padding": "valid"}), ("tc_resnet", {**SMALL["tc_resnet"], "time_padding": "valid"}),
    ("streaming_ffn", {**SMALL["streaming_ffn"], "frame_units": 8, "frame_kernel": 2, "frame_stride": 2})]
CASE_IDS = [name + ("-valid" if kw.get("time_padding") == "valid" else "-frames" if "frame_units" in kw else "")
            for name, kw in CASES]


def shape_of(name):
    return features.input_shape(feature_kind(name))


def randomize_bn(model, rng):
    for layer in model.layers:
        if isinstance(layer, keras.layers.BatchNormalization):
            n = layer.gamma.shape[0]
            layer.set_weights([rng.uniform(0.5, 2, n), rng.normal(0, 0.3, n), rng.normal(0, 0.3, n), rng.uniform(0.2, 3, n)])


@pytest.mark.parametrize("name,kw", CASES, ids=CASE_IDS)
def test_float_and_quantized_build(name, kw):
    shape = shape_of(name)
    fm = build_model(name, shape, 12, None, **kw)
    qm = build_model(name, shape, 12, QuantConfig(weight_bits=4, act_bits=4), **kw)
    assert fm.output_shape == qm.output_shape == (None, 12)
    assert any(isinstance(l, keras.layers.BatchNormalization) for l in fm.layers)
    assert not any(isinstance(l, keras.layers.BatchNormalization) for l in qm.layers)
    assert qm.layers[1].name == "input_quant" and qm.layers[-1].name == "logits_quant"
    for layer in qm.layers:  # every quantizer is alpha=1 (plain fixed point)
        for attr in ("kernel_quantizer_internal", "depthwise_quantizer_internal", "bias_quantizer_internal"):
            q = getattr(layer, attr, None)
            if q is not None:
                assert q.get_config()["alpha"] == 1


@pytest.mark.parametrize("name,kw", CASES, ids=CASE_IDS)
def test_fold_and_rescale_preserve_the_float_function(name, kw):
    rng = np.random.default_rng(0)
    shape = shape_of(name)
    fm = build_model(name, shape, 12, None, **kw)
    randomize_bn(fm, rng)
    folded = folded_weights(fm)
    weights = po2_rescale(folded)
    peaks = [float(np.max(np.abs(k))) for k, _ in weights.values()]
    before = [float(np.max(np.abs(k))) for k, _ in folded.values()]
    # Every layer but the last (which keeps the logits' scale) lands within sqrt(2) of the
    # geometric mean of the folded peaks.
    target = float(np.exp(np.mean(np.log(before))))
    # (Layers feeding a residual Add share their scale with the other branch: not balanced alone.)
    shared = folded.graph.into_merge if folded.graph is not None else set()
    peaks = [p for n, p in zip(weights, peaks) if n not in shared]
    assert all(target / 2**0.5 - 1e-6 <= p <= target * 2**0.5 + 1e-6 for p in peaks[:-1]), (peaks, target)
    for (k0, _), (k1, _) in zip(folded.values(), weights.values()):  # power-of-two factors only
        ratio = np.log2(np.abs(k1[k0 != 0] / k0[k0 != 0]))
        assert np.allclose(ratio, np.round(ratio[0]), atol=1e-5)
    # The folded network in float: the quantized builder with very wide quantizers.
    # (24 bits: QKeras fake-quantizes in float32, whose mantissa holds 24.)
    wide = QuantConfig(weight_bits=24, bias_bits=24, act_bits=24, act_int=10, input_bits=24, input_int=6,
                       output_bits=24, output_int=10, pool_bits=24, pool_int=10).with_layer_ranges(weights)
    qm = build_model(name, shape, 12, wide, **kw)
    set_weights(qm, weights)
    x = rng.standard_normal((4, *shape)).astype(np.float32)
    np.testing.assert_allclose(qm.predict(x, verbose=0), fm.predict(x, verbose=0), rtol=1e-3, atol=1e-3)


def test_save_load_round_trip(tmp_path):
    q = QuantConfig(weight_bits=4, act_bits=4)
    m = build_model("streaming_ffn", (1960,), 12, q, width=8)
    m.save(tmp_path / "m.h5")
    again = load_model(tmp_path / "m.h5")
    x = np.random.default_rng(0).standard_normal((3, 1960)).astype(np.float32)
    assert np.array_equal(m.predict(x, verbose=0), again.predict(x, verbose=0))


def test_unknown_model():
    with pytest.raises(UnknownModelError, match="choose one of"):
        build_model("transformer", (1,), 12)


def test_dscnn_full_size_matches_mlperf_reference():
    from qat.metrics import model_cost

    cost = model_cost(build_model("dscnn", (49, 10, 1), 12))
    # MLPerf Tiny DS-CNN: ~24.9k parameters (incl. BatchNorm), ~2.7M MACs.
    assert 23_000 < cost["params"] < 26_000
    assert 2_500_000 < cost["macs"] < 2_900_000


def test_activation_format_balances_clipping_and_rounding():
    from qat.models.fold import best_relu_integer_bits

    rng = np.random.default_rng(0)
    small = np.abs(rng.normal(0, 0.2, 10_000))
    small[0] = 6.0  # one outlier must not force a coarse grid at 4 bits
    assert best_relu_integer_bits(small, 4) == 0
    assert best_relu_integer_bits(small, 8) >= 2  # 8 bits can afford the outlier's range
    assert best_relu_integer_bits(np.full(100, 5.0), 8) == 3


def test_raw_cnn_average_head():
    """head="average": the mean over time feeds the classifier (12 x channels weights, not 12 x time x channels)."""
    shape = shape_of("raw_cnn")
    flat = build_model("raw_cnn", shape, 12, None, channels=(4, 4, 8, 8))
    avg = build_model("raw_cnn", shape, 12, None, channels=(4, 4, 8, 8), head="average")
    assert avg.get_layer("avg_pool").output_shape == (None, 1, 8)
    assert avg.get_layer("logits").kernel.shape == (8, 12)
    assert flat.get_layer("logits").kernel.shape == (29 * 8, 12)
    q = build_model("raw_cnn", shape, 12, QuantConfig(weight_bits=4, act_bits=4), channels=(4, 4, 8, 8), head="average")
    assert q.get_layer("avg_pool_quant") is not None
    with pytest.raises(ValueError, match="head='max'"):
        build_model("raw_cnn", shape, 12, None, head="max")


def test_streaming_ffn_frame_layer_shares_weights_over_time():
    """frame_units: one Conv1D over frame groups in front of the dense layers; a word two frames later
    (one stride) meets the same weights, one output position later."""
    kw = {"width": 16, "frame_units": 8, "frame_kernel": 2, "frame_stride": 2}
    model = build_model("streaming_ffn", (1960,), 12, None, **kw)
    assert model.get_layer("frames").kernel.shape == (2, 40, 8)
    assert model.get_layer("fc1").kernel.shape == (24 * 8, 16)  # (49 - 2) // 2 + 1 groups x 8 units
    x = np.random.default_rng(0).normal(size=(1, 49, 40)).astype("float32")
    later = np.zeros_like(x)
    later[:, 2:] = x[:, :-2]
    groups = keras.Model(model.input, model.get_layer("frames_relu").output)
    a, b = (groups.predict(v.reshape(1, -1), verbose=0) for v in (x, later))
    assert np.allclose(b[:, 1:], a[:, :-1], atol=1e-5)
    for bad in ({"frame_kernel": 50}, {"frame_stride": 0}):
        with pytest.raises(ValueError, match="do not fit 49 frames"):
            build_model("streaming_ffn", (1960,), 12, None, **{**kw, **bad})
    with pytest.raises(ValueError, match="needs 49 frames"):
        build_model("streaming_ffn", (1000,), 12, None, **kw)
