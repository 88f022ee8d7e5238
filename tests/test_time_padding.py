"""The models unpadded in time (`model_args.time_padding: valid`), the premise of the streaming IP:
no layer pads the time axis, so a window's outputs are the same whatever frames lie outside it.

DS-CNN: frequency-only ZeroPadding2D `<layer>_pad` + 'valid' layers (49 → 20 → 18, 16, 14, 12 rows);
TC-ResNet: 'valid' Conv1D, kernel 3, shortcuts right-aligned by a Cropping1D `<block>_crop`. Shapes,
what the unpadded models see of a window, the refusals, and every QAT scheme on the padded graph.
(Build and BN folding of both: tests/test_models.py; hardware: tests/test_border_layers.py.)
"""

from __future__ import annotations

from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pytest
import tensorflow as tf
from tensorflow import keras

from qat.models import build_model
from qat.models.tc_resnet import last_frames, shortcut_crop, valid_lengths
from qat.quant_config import QuantConfig

SHAPE = (49, 10, 1)
Q8 = QuantConfig(weight_bits=8, act_bits=8)


def _of(model, cls):
    return [l for l in model.layers if isinstance(l, cls)]


def _rows(model, name):
    return model.get_layer(name).output_shape[1]


@pytest.mark.parametrize("quant", [None, Q8], ids=["float", "quantized"])
def test_dscnn_valid_pads_frequency_only(quant):
    model = build_model("dscnn", SHAPE, 12, quant, width=8, time_padding="valid")
    pads = {l.name: l.padding for l in _of(model, keras.layers.ZeroPadding2D)}
    assert pads == {"conv1_pad": ((0, 0), (1, 1)), **{f"dw{i}_pad": ((0, 0), (1, 1)) for i in range(1, 5)}}
    convs = _of(model, (keras.layers.Conv2D, keras.layers.DepthwiseConv2D))  # the QKeras twins subclass them
    assert len(convs) == 9 and all(l.padding == "valid" for l in convs if l.kernel_size != (1, 1))
    assert [_rows(model, n) for n in ("conv1", "dw1", "dw2", "dw3", "dw4", "pw4")] == [20, 18, 16, 14, 12, 12]
    assert model.get_layer("pw4").output_shape[1:] == (12, 5, 8)
    assert model.get_layer("avg_pool").pool_size == (12, 5)


def test_dscnn_default_is_unchanged():
    model = build_model("dscnn", SHAPE, 12, Q8, width=8)
    assert not _of(model, keras.layers.ZeroPadding2D)
    assert all(l.padding == "same" for l in _of(model, (keras.layers.Conv2D, keras.layers.DepthwiseConv2D)))
    assert model.get_layer("dw4").output_shape[1:3] == (25, 5)


@pytest.mark.parametrize("quant", [None, Q8], ids=["float", "quantized"])
def test_tc_resnet_valid_crops_the_shortcuts(quant):
    model = build_model("tc_resnet", SHAPE, 12, quant, width=0.5, time_padding="valid")
    assert all(l.padding == "valid" for l in _of(model, keras.layers.Conv1D))
    assert {l.name: l.cropping for l in _of(model, keras.layers.Cropping1D)} == {
        f"block{i}_crop": (6, 0) for i in (1, 2, 3)}  # (k-1)(s+1) with kernel 3, stride 2
    lengths = [_rows(model, n) for n in ("conv1", "block1_conv1", "block1_add", "block2_conv1", "block2_add",
                                         "block3_conv1", "block3_add")]
    assert lengths == [47, 23, 21, 10, 8, 3, 1]
    assert valid_lengths(49, 3, 3, (2, 2, 2)) == [21, 8, 1]
    assert model.get_layer("block1_conv1").kernel_size == (3,)  # the valid variant's default kernel
    assert model.get_layer("block1_crop").output_shape[1] == 41 and model.get_layer("block1_skip").output_shape[1] == 21


def test_shortcut_sits_on_the_last_frame_of_each_receptive_field():
    """Main-path output j of a block (conv k stride s, conv k) ends at input frame offset + step*j; the
    crop is that offset and the 1x1 conv's stride that step."""
    for k, s in ((3, 2), (9, 2), (5, 1), (4, 3)):
        step, offset = last_frames([(k, s), (k, 1)])
        assert (step, offset) == (s, (k - 1) * (s + 1))
        x = np.arange(60, dtype=np.float32).reshape(1, 60, 1)  # frame numbers as values
        first = keras.layers.Conv1D(1, k, strides=s, use_bias=False, kernel_initializer="ones")
        main = keras.layers.Conv1D(1, k, use_bias=False, kernel_initializer="ones")(first(x))
        crop = shortcut_crop("b", [(k, s), (k, 1)], s, 60, main.shape[1])
        skip = keras.layers.Cropping1D((crop, 0))(x)[:, ::s]
        # the last frame each main output reads (frame numbers are nondecreasing: its largest input)
        last = np.array([s * (j + k - 1) + k - 1 for j in range(main.shape[1])])
        assert np.array_equal(skip.numpy().ravel(), last)


def _shifted_equal(name, kw, layer, frames, stride, check_same_fails=False):
    """The unpadded model on a longer input, read at the rows of a window shifted by `stride` frames,
    equals the model on that window: no row depends on where the window starts."""
    rng = np.random.default_rng(1)
    big = build_model(name, (frames, *SHAPE[1:]), 12, None, **kw)
    small = build_model(name, SHAPE, 12, None, **kw)
    small.set_weights(big.get_weights())
    probe = lambda m: keras.Model(m.inputs, m.get_layer(layer).output)  # noqa: E731
    x = rng.standard_normal((2, frames, *SHAPE[1:])).astype(np.float32)
    long_rows = probe(big).predict(x, verbose=0)
    n = _rows(small, layer)
    for shift in range(0, frames - SHAPE[0] + 1, stride):
        window = probe(small).predict(x[:, shift:shift + SHAPE[0]], verbose=0)
        got = long_rows[:, shift // stride: shift // stride + n]
        if check_same_fails:
            return np.allclose(window, got, atol=1e-4)
        np.testing.assert_allclose(window, got, atol=1e-4)
    return True


def test_unpadded_rows_do_not_depend_on_the_window_position():
    assert _shifted_equal("dscnn", {"width": 4, "time_padding": "valid"}, "pw4", 57, 2)
    assert _shifted_equal("tc_resnet", {"width": 0.5, "time_padding": "valid"}, "block3_relu", 65, 8)
    # the 'same' padded model: the window's edge rows see zeros instead of the neighbouring frames
    assert not _shifted_equal("dscnn", {"width": 4}, "pw4", 51, 2, check_same_fails=True)


@pytest.mark.parametrize("name,kw,unseen,seen", [
    ("dscnn", {"width": 4}, [48], 47),  # 12 rows x stride 2 + 26-frame field: frames 0-47
    ("tc_resnet", {"width": 0.5}, [45, 46, 47, 48], 44),  # receptive field 45 frames, one output position
])
def test_which_frames_the_window_sees(name, kw, unseen, seen):
    keras.utils.set_random_seed(0)  # an untrained net: its init decides how much the edge frame moves
    model = build_model(name, SHAPE, 12, None, time_padding="valid", **kw)
    x = np.random.default_rng(0).standard_normal((1, *SHAPE)).astype(np.float32)
    y = model.predict(x, verbose=0)
    other = x.copy()
    other[:, unseen] += 5.0
    np.testing.assert_array_equal(model.predict(other, verbose=0), y)
    other[:, seen] += 5.0
    # the edge frame reaches the logits through one tap of one row: a change below allclose's
    # rtol on some inits (a flaky failure), so any change counts; the unseen frames change none
    assert not np.array_equal(model.predict(other, verbose=0), y)


# ---------------------------------------------------------------- refusals
def test_tc_resnet_kernel_that_does_not_fit_is_refused_naming_the_block():
    with pytest.raises(ValueError, match=r"block2 gets 12 frames, too few for two unpadded 9-tap convolutions with "
                                         r"stride 2 \(needs 25\); .*kernels up to 3 fit in 49 frames, no strides of 1 "
                                         r"and 2 fit kernel 9"):
        build_model("tc_resnet", SHAPE, 12, None, time_padding="valid", kernel=9)
    with pytest.raises(ValueError, match=r"block3 gets 3 frames.*with kernel 5, strides \(1, 1, 1\)"):
        build_model("tc_resnet", SHAPE, 12, None, time_padding="valid", kernel=5)
    build_model("tc_resnet", SHAPE, 12, None, time_padding="valid", kernel=5, strides=(2, 1, 1))  # fits


def test_misaligned_shortcut_is_refused_naming_the_block():
    with pytest.raises(ValueError, match=r"tc_resnet block2: the main path's outputs are 4 frames apart, a 1x1 "
                                         r"shortcut of stride 2 cannot sample"):
        shortcut_crop("block2", [(3, 2), (3, 2)], 2, 40, 4)


@pytest.mark.parametrize("name", ["dscnn", "tc_resnet"])
def test_unknown_time_padding_is_refused(name):
    with pytest.raises(ValueError, match=rf"{name}: time_padding='causal'; choose one of \('same', 'valid'\)"):
        build_model(name, SHAPE, 12, None, time_padding="causal")


def test_dscnn_with_too_many_blocks_for_the_frames_is_refused():
    with pytest.raises(ValueError, match=r"49 frames leave 0 rows after 10 depthwise blocks; use at most 9 blocks"):
        build_model("dscnn", SHAPE, 12, None, time_padding="valid", blocks_count=10)


# ---------------------------------------------------------------- every QAT scheme on the padded graph
SCHEMES = [("linear", {}), ("linear", {"per_channel": True}), ("fxp_qat", {"accum_width": 32}),
           ("acos", {"warmup_epochs": 0, "ramp_epochs": 1, "soft_epochs": 0}), ("two_stage", {"weight_bits": 4}),
           ("trained_bits", {})]


@pytest.fixture(scope="module")
def tiny_valid_dscnn():
    from qat.train import compile_model

    tf.keras.utils.set_random_seed(0)
    rng = np.random.default_rng(0)
    y = rng.integers(0, 12, 240)
    x = rng.normal(0, 0.5, (240, *SHAPE)).astype(np.float32)
    x[np.arange(240), 4 * (y % 10), y % 10, 0] += 3.0  # a class = one spot of the map
    model = build_model("dscnn", SHAPE, 12, None, width=4, blocks_count=1, time_padding="valid")
    compile_model(model, 3e-3)
    model.fit(x, y, batch_size=32, epochs=2, verbose=0)
    return model, (x, y)


@pytest.mark.parametrize("scheme,args", SCHEMES, ids=[s + ("_pc" if a.get("per_channel") else "") for s, a in SCHEMES])
def test_every_scheme_keeps_the_padding_and_converts(tiny_valid_dscnn, scheme, args, tmp_path):
    """The frequency pads are looked through by BN folding, power-of-two rescaling, calibration and
    each scheme's quantizers; the exported model has them and the converter accepts it."""
    from hw.convert import HlsSettings, check_supported, convert
    from hw.golden import GoldenModel
    from qat.run_config import RunConfig
    from qat.schemes import get
    from qat.train import evaluate_splits
    from tests.test_schemes import ToyContext

    float_model, (x, y) = tiny_valid_dscnn
    cfg = RunConfig.from_dict({
        "name": "tiny", "model": "dscnn", "model_args": {"width": 4, "blocks_count": 1, "time_padding": "valid"},
        "quant": {"weight_bits": 4, "act_bits": 8, "input_bits": 8}, "scheme": scheme, "scheme_args": args,
        "train": {"qat_epochs": 1, "calib_clips": 64, "qat_lr": 1e-3}})
    prep = SimpleNamespace(features={"train": (x, y), "test": (x[:60], y[:60])})
    ctx = ToyContext(cfg, prep, Path(tmp_path), float_model, SHAPE, 12, progress=False,
                     evaluator=lambda m: evaluate_splits(m, prep))
    ctx.phases = []
    result = get(scheme).quantize(ctx)
    model = result.model
    assert [l.name for l in _of(model, keras.layers.ZeroPadding2D)] == ["conv1_pad", "dw1_pad"]
    check_supported(model)
    if scheme == "linear":  # the exported model is bit-exact in the golden model
        graph = convert(model, tmp_path / "prj", HlsSettings(io_type="io_stream"),
                        overrides={n: e["Precision"] for n, e in (result.hls_precisions or {}).get("LayerName", {}).items()})
        xs = np.random.default_rng(1).normal(0, 1.5, (50, *SHAPE)).astype(np.float32)
        want = model.predict(xs, verbose=0).reshape(50, -1)
        assert np.array_equal(GoldenModel(graph).predict(xs).reshape(50, -1), want)


# ---------------------------------------------------------------- the run configs
CONFIGS = Path(__file__).resolve().parents[1] / "configs"


@pytest.mark.parametrize("model", ["dscnn", "tcresnet"])
def test_stream_configs_are_unpadded_and_start_from_their_float_run(model):
    from qat.run_config import RunConfig

    runs = {v: RunConfig.load(CONFIGS / "gsc" / f"{model}_stream_{v}.yaml") for v in ("float", "linear8", "linear4")}
    assert all(c.model_args == {"time_padding": "valid"} for c in runs.values())
    assert runs["float"].quant is None and runs["float"].name == f"gsc_{model}_stream_float"
    for v in ("linear8", "linear4"):  # train.init_from checks model and model_args against the float run
        assert runs[v].train.init_from == runs["float"].name and runs[v].model == runs["float"].model
    assert runs["linear4"].scheme_args == {"per_channel": True} and runs["linear4"].quant.weight_bits == 4
    demo = RunConfig.load(CONFIGS / "demo_stream.yaml")
    assert demo.model_args == {"width": 16, "time_padding": "valid"} and demo.data.source == "synthetic"
