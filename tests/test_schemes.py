"""QAT scheme wiring (papers A, B, C) on a toy problem: each test fails if a scheme is wired wrong."""

from __future__ import annotations

from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pytest
import tensorflow as tf

from qat.run_config import RunConfig
from qat.schemes import QatContext

N_CLASSES, DIM = 12, 24


def toy_data(n, seed):
    rng = np.random.default_rng(seed)
    y = rng.integers(0, N_CLASSES, n)
    x = rng.normal(0, 0.5, (n, DIM)).astype(np.float32)
    x[np.arange(n), y] += 2.0  # class = the feature that sticks out
    return x, y


class ToyContext(QatContext):
    """QatContext with in-memory toy features and a plain fit loop (no audio, no checkpoints)."""

    phases: list

    def run_phase(self, phase, model, epochs, lr, callbacks=None):
        from qat.train import compile_model

        self.phases.append((phase, model))
        compile_model(model, lr)
        x, y = self.prep.features["train"]
        fit = model.fit(x, y, batch_size=64, epochs=epochs, verbose=0, callbacks=callbacks or None)
        return {"history": {k: [float(v) for v in vals] for k, vals in fit.history.items()}}


@pytest.fixture(scope="module")
def float_model():
    from qat.models import build_model
    from qat.train import compile_model

    tf.keras.utils.set_random_seed(0)
    model = build_model("streaming_ffn", (DIM,), N_CLASSES, None, width=16, depth=2, dropout=0.0)
    compile_model(model, 3e-3)
    model.fit(*toy_data(1200, 0), batch_size=64, epochs=6, verbose=0)
    return model


def make_ctx(float_model, tmp_path, scheme, args, quant=None, qat_epochs=1):
    cfg = RunConfig.from_dict({
        "name": "toy", "model": "streaming_ffn", "model_args": {"width": 16, "depth": 2, "dropout": 0.0},
        "quant": quant or {"weight_bits": 4, "act_bits": 8, "input_bits": 8}, "scheme": scheme, "scheme_args": args,
        "train": {"qat_epochs": qat_epochs, "calib_clips": 256, "qat_lr": 1e-3}})
    prep = SimpleNamespace(features={"train": toy_data(600, 1), "validation": toy_data(200, 2), "test": toy_data(200, 3)})
    from qat.train import evaluate_splits

    ctx = ToyContext(cfg, prep, Path(tmp_path), float_model, (DIM,), N_CLASSES, progress=False,
                     evaluator=lambda model: evaluate_splits(model, prep))
    ctx.phases = []
    return ctx


def qkeras_layers(model):
    return [l for l in model.layers if hasattr(l, "kernel_quantizer_internal")]


# ---------------------------------------------------------------- paper A: transient formats
def test_fxp_qat_hls_precisions_are_the_calibrated_formats(float_model, tmp_path):
    from qat.fixed import FixedType
    from qat.schemes import fxp_qat

    ctx = make_ctx(float_model, tmp_path, "fxp_qat", {"accum_width": 16, "margin_bits": 0})
    result = fxp_qat.quantize(ctx)
    assert result.results["quantized"]["test"]["accuracy"] > 0.5
    trained = ctx.phases[0][1]
    # Properties of the chosen accumulator formats, not the scheme's own rule re-applied: 16 bits,
    # RND_CONV/SAT, the calibrated range inside, one integer bit fewer would not hold it (or the
    # logits quantizer's integer bits force it), and hls4ml gets exactly that format.
    chosen = result.extra["fxp_qat"]["formats"]
    precisions = result.hls_precisions["LayerName"]
    for name in ("fc1", "fc2", "logits"):
        lo, hi = result.extra["fxp_qat"]["calibrated_accum_ranges"][name]
        fmt = FixedType.parse(precisions[name]["Precision"]["accum"])
        assert (fmt.width, fmt.signed, fmt.rounding, fmt.overflow) == (16, True, "RND_CONV", "SAT")
        assert chosen[name]["accum"] == {"width": 16, "integer": fmt.integer, "signed": True}
        assert fmt.min <= lo and hi <= fmt.max, (name, fmt, lo, hi)
        one_less = fmt.with_(integer=fmt.integer - 1)
        tight = not (one_less.min <= lo and hi <= one_less.max)
        if name == "logits":  # at least the logits quantizer's integer bits (sign included)
            out_q = result.model.get_layer("logits_quant").quantizer
            assert fmt.integer >= out_q.integer + 1
            assert tight or fmt.integer == out_q.integer + 1
        else:
            assert tight, f"{name}: {fmt} is not the narrowest integer part for [{lo}, {hi}]"
    for name in ("fc1", "fc2"):
        fmt = chosen[name]["accum"]
        acc = result.model.get_layer(f"{name}_accum").quantizer  # plain QKeras after export
        assert (acc.bits, acc.integer) == (16, fmt["integer"] - 1)
        assert precisions[f"{name}_accum"]["Precision"]["result"] == precisions[name]["Precision"]["accum"]
        relu = result.model.get_layer(f"{name}_relu").quantizer
        assert precisions[f"{name}_relu"]["Precision"]["result"] == f"ufixed<{relu.bits},{relu.integer},RND_CONV,SAT>"
    # the accumulator quantizer is in the trained graph (fake-quantized during QAT)
    assert type(trained.get_layer("fc1_accum").quantizer).__name__ == "fixed_point"


def test_fxp_qat_precisions_are_accepted_by_the_hls4ml_converter(float_model, tmp_path):
    from hw.convert import build_hls_config
    from qat.schemes import fxp_qat

    result = fxp_qat.quantize(make_ctx(float_model, tmp_path, "fxp_qat", {"accum_width": 16}, qat_epochs=0))
    flat = {name: entry["Precision"] for name, entry in result.hls_precisions["LayerName"].items()}
    cfg = build_hls_config(result.model, overrides=flat)
    for name, kinds in flat.items():
        for kind, text in kinds.items():
            assert cfg["LayerName"][name]["Precision"][kind] == text


def test_fxp_qat_accumulator_width_changes_formats(float_model, tmp_path):
    from qat.schemes import fxp_qat

    wide = fxp_qat.quantize(make_ctx(float_model, tmp_path / "a", "fxp_qat", {"accum_width": 32}, qat_epochs=0))
    narrow = fxp_qat.quantize(make_ctx(float_model, tmp_path / "b", "fxp_qat", {"accum_width": 16}, qat_epochs=0))
    w, n = wide.extra["fxp_qat"]["formats"]["fc1"]["accum"], narrow.extra["fxp_qat"]["formats"]["fc1"]["accum"]
    assert (w["width"], n["width"]) == (32, 16) and w["integer"] == n["integer"]


def test_fxp_qat_pinned_format_too_narrow_fails_before_qat(float_model, tmp_path):
    from qat.quantizers import FormatError
    from qat.schemes import fxp_qat

    ctx = make_ctx(float_model, tmp_path, "fxp_qat", {"formats": {"fc1": {"accum": "fixed<16,1>"}}})
    with pytest.raises(FormatError, match="fc1 accumulator"):
        fxp_qat.quantize(ctx)
    assert ctx.phases == []  # no training started


# ---------------------------------------------------------------- paper A: squashed + ACosR
def test_acos_ramp_clusters_weights_and_reports_entropy(float_model, tmp_path):
    from qat.schemes import acos

    args = {"lam": 3e-2, "warmup_epochs": 1, "ramp_epochs": 1, "soft_epochs": 4}
    result = acos.quantize(make_ctx(float_model, tmp_path, "acos", args))
    info = result.extra["acos"]
    assert info["mean_grid_offset_after"] < 0.5 * info["mean_grid_offset_before"]
    assert (tmp_path / "acos_grid_offsets.png").stat().st_size > 1000
    assert 0 < info["mean_entropy_ratio"] <= 1
    assert set(result.results) >= {"soft", "rounded", "quantized"}


# ---------------------------------------------------------------- paper B: two stages
@pytest.mark.parametrize("bits", [1, 4])
def test_two_stage_stage1_quantizes_only_kernels(float_model, tmp_path, bits):
    from qat.quantizers import sign_po2_bits, squashed_bits
    from qat.schemes import two_stage

    ctx = make_ctx(float_model, tmp_path, "two_stage", {"weight_bits": bits})
    result = two_stage.quantize(ctx)
    (p1, stage1), (p2, stage2) = ctx.phases
    assert (p1, p2) == ("stage1", "stage2")
    assert not [l for l in stage1.layers if type(l).__name__ == "QActivation"]
    for layer in qkeras_layers(stage1):
        assert isinstance(layer.kernel_quantizer_internal, sign_po2_bits if bits == 1 else squashed_bits)
        assert layer.kernel_quantizer_internal.bits == bits
        assert layer.bias_quantizer_internal is None
    acts = {l.name for l in stage2.layers if type(l).__name__ == "QActivation"}
    assert acts == {"input_quant", "fc1_relu", "fc2_relu", "logits_quant"}
    assert all(l.bias_quantizer_internal is not None for l in qkeras_layers(stage2))
    # exported kernels hold at most 2**bits levels per output channel (1 bit: +-gain of the channel)
    for layer in qkeras_layers(result.model):
        kernel = layer.get_weights()[0]
        assert max(len(np.unique(kernel[:, c])) for c in range(kernel.shape[-1])) <= 2 ** bits
    n_kernel = sum(l.get_weights()[0].size for l in qkeras_layers(result.model))
    n_bias = sum(l.get_weights()[1].size for l in qkeras_layers(result.model))
    assert result.extra["weight_memory_bits"] == n_kernel * bits + n_bias * 16
    assert {"stage1", "stage2_start", "quantized"} <= set(result.results)


def skewed(float_model, factor=16.0):
    """The toy float model computing the same function with fc1's output channel 0 made `factor`
    times smaller (its BN gamma and beta divided, fc2's input row 0 multiplied: ReLU commutes), so a
    per-layer gain would fit channel 0 badly."""
    model = tf.keras.models.clone_model(float_model)
    model.set_weights(float_model.get_weights())
    bn = model.get_layer("fc1_bn")
    gamma, beta, mean, var = bn.get_weights()
    gamma[0], beta[0] = gamma[0] / factor, beta[0] / factor
    bn.set_weights([gamma, beta, mean, var])
    fc2 = model.get_layer("fc2")
    kernel, *rest = fc2.get_weights()
    kernel[0] *= factor
    fc2.set_weights([kernel, *rest])
    return model


@pytest.fixture(scope="module")
def one_bit(float_model, tmp_path_factory):
    """(ctx, result) of a 1-bit two-stage run on the skewed toy model."""
    from qat.schemes import two_stage

    ctx = make_ctx(skewed(float_model), tmp_path_factory.mktemp("one_bit"), "two_stage",
                   {"weight_bits": 1, "stage1_lr": 1e-2, "stage2_lr": 1e-3}, qat_epochs=2)
    return ctx, two_stage.quantize(ctx)


def test_two_stage_one_bit_gain_is_the_mse_best_power_of_two_per_channel(float_model, one_bit):
    from qat.models.fold import folded_weights, po2_rescale
    from qat.schemes.common import sign_kernels

    ctx, result = one_bit
    gains = result.extra["two_stage"]["gain_log2"]
    x = toy_data(50, 5)[0]
    np.testing.assert_allclose(ctx.float_model.predict(x, verbose=0), float_model.predict(x, verbose=0),
                               rtol=1e-4, atol=1e-4)  # the skew kept the function
    for name, (kernel, _) in po2_rescale(folded_weights(ctx.float_model)).items():
        k = kernel.astype(np.float64)
        assert len(gains[name]) == k.shape[-1]
        for c in range(k.shape[-1]):  # brute force over every power of two a float32 weight could take
            mse = {e: np.mean((2.0 ** e * np.where(k[:, c] >= 0, 1, -1) - k[:, c]) ** 2) for e in range(-60, 20)}
            assert gains[name][c] == min(mse, key=mse.get), (name, c)
    # the skewed channel's gain moved 4 octaves (16x) against the other channels': per-layer gains cannot
    plain = sign_kernels(float_model, po2_rescale(folded_weights(float_model)))["fc1"].gains_log2
    moved = np.subtract(gains["fc1"], plain)
    assert moved[0] - moved[1] == -4 and len(set(moved[1:])) == 1


def test_two_stage_one_bit_export_grid_is_sign_times_channel_gain(one_bit):
    """The exported kernels are exactly +-2**g_c in column c (g_c the trained gain), on a plain
    quantized_bits grid of >= 2 bits (no 1-bit / XNOR type), and compute what was trained."""
    from qkeras import quantized_bits

    ctx, result = one_bit
    gains = result.extra["two_stage"]["gain_log2"]
    trained = ctx.phases[-1][1]
    for name in ("fc1", "fc2", "logits"):
        layer = result.model.get_layer(name)
        q = layer.kernel_quantizer_internal
        assert isinstance(q, quantized_bits) and q.alpha == 1 and q.bits >= 2 and q.keep_negative
        kernel = layer.kernel.numpy().astype(np.float64)
        gain = np.exp2(np.asarray(gains[name], np.float64))
        np.testing.assert_array_equal(np.abs(kernel), np.broadcast_to(gain, kernel.shape))
        theta = trained.get_layer(name).kernel.numpy()
        np.testing.assert_array_equal(np.sign(kernel), np.where(np.tanh(theta) >= 0, 1.0, -1.0))  # 0 -> +1
        np.testing.assert_array_equal(q(kernel.astype(np.float32)).numpy(), kernel)  # QKeras keeps it
        assert result.extra["weight_memory_layers"][name]["kernel_bits"] == 1
    x = np.concatenate([ctx.prep.features[s][0] for s in ("train", "test")])
    assert np.array_equal(trained(x, training=False).numpy(), result.model(x, training=False).numpy())
    assert np.array_equal(trained.predict(x, verbose=0), result.model.predict(x, verbose=0))
    assert result.extra["export_max_abs_diff"] == 0.0
    info = result.extra["two_stage"]
    assert set(info["train_accuracy"]) == {"float", "stage1", "stage2"} and info["stage_lr"] == [1e-2, 1e-3]
    assert result.results["quantized"]["test"]["accuracy"] > 3 / N_CLASSES  # well above chance (1-bit, 16 wide)


# ---------------------------------------------------------------- paper C: trained bit-widths
def test_trained_bits_reports_bits_and_penalty_lowers_them(float_model, tmp_path):
    from qat.schemes import trained_bits

    quant = {"weight_bits": 8, "act_bits": 8, "input_bits": 8}
    free = trained_bits.quantize(make_ctx(float_model, tmp_path / "a", "trained_bits",
                                          {"weight_lambda": 0.0, "act_lambda": 0.0}, quant, qat_epochs=3))
    pushed = trained_bits.quantize(make_ctx(float_model, tmp_path / "b", "trained_bits",
                                            {"weight_lambda": 2.0, "act_lambda": 2.0, "warmup_epochs": 0,
                                             "ramp_epochs": 1}, quant, qat_epochs=3))
    for r in (free, pushed):
        assert r.extra["avg_weight_bits"] is not None and r.extra["avg_activation_bits"] is not None
        assert len(r.extra["trained_bits"]["quantizers"]) == 3 + 2  # 3 kernels, 2 ReLUs
    assert pushed.extra["avg_weight_bits"] < free.extra["avg_weight_bits"]
    assert pushed.extra["avg_activation_bits"] < free.extra["avg_activation_bits"]


def test_trained_bits_reaches_the_budget_and_settles_there(float_model, tmp_path):
    from qat.schemes import trained_bits

    quant = {"weight_bits": 8, "act_bits": 8, "input_bits": 8}
    ctx = make_ctx(float_model, tmp_path, "trained_bits",
                   {"weight_target_bits": 4.0, "act_target_bits": 4.0, "warmup_epochs": 0, "ramp_epochs": 2,
                    "settle_epochs": 3}, quant, qat_epochs=6)
    r = trained_bits.quantize(ctx)
    tb = r.extra["trained_bits"]
    assert tb["args"]["exp_lr_scale"] == 1024  # auto: 600 clips / 100 = 6 steps per epoch at lr 1e-3
    assert tb["settled_at"] is not None and tb["settled_at"]["epoch"] >= 3  # not before epoch 6 - 3
    assert r.extra["avg_weight_bits"] <= 4.0 and r.extra["avg_activation_bits"] <= 4.0
    # frozen: the bits after the settling step are the final ones, every later epoch
    history = r.history["qat"]
    after = range(tb["settled_at"]["epoch"] + 1, 6)
    assert {history["avg_weight_bits"][e] for e in after} <= {r.extra["avg_weight_bits"]}
    assert {history["avg_activation_bits"][e] for e in after} <= {r.extra["avg_activation_bits"]}


@pytest.mark.parametrize("fill", [False, True])
def test_trained_bits_retrain_keeps_the_searched_formats(float_model, tmp_path, fill):
    """retrain_epochs: a second phase from the float weights on the searched formats, frozen
    (fill_budget: the searched formats with the rest of the budget spent, as `fill_budget` says)."""
    from qat.quantizers import bits_report
    from qat.schemes import trained_bits

    quant = {"weight_bits": 8, "act_bits": 8, "input_bits": 8}
    targets = {"weight": 4.0, "activation": 4.0}
    ctx = make_ctx(float_model, tmp_path, "trained_bits",
                   {"weight_target_bits": 4.0, "act_target_bits": 4.0, "warmup_epochs": 0, "ramp_epochs": 2,
                    "settle_epochs": 2, "retrain_epochs": 2, "fill_budget": fill}, quant, qat_epochs=4)
    r = trained_bits.quantize(ctx)
    (_, searched), (phase, retrained) = ctx.phases
    assert phase == "retrain" and len(r.history["retrain"]["loss"]) == 2
    assert "searched" in r.results
    final = {row["quantizer"]: row["bits"] for row in r.extra["trained_bits"]["quantizers"]}
    found = bits_report(searched)["quantizers"]
    want, raised = trained_bits.fill_budget(found, targets, {"weight": 8, "activation": 8}) if fill else (
        {row["quantizer"]: row for row in found}, None)
    assert final == {name: fmt["bits"] for name, fmt in want.items()}
    assert (r.extra["trained_bits"]["filled"] or {}).get("raised") == raised
    assert raised or not fill  # the toy search ends under its budget, so something is raised
    assert r.extra["avg_weight_bits"] <= 4.0 and r.extra["avg_activation_bits"] <= 4.0
    assert not any("log2" in v.name for v in retrained.trainable_weights)  # formats frozen
    name = qkeras_layers(searched)[0].name
    k1, k2 = (m.get_layer(name).kernel.numpy() for m in (searched, retrained))
    assert not np.array_equal(k1, k2)  # the weights were trained again


def fill_row(name, kind, n, bits, integer=0):
    frac = bits - integer - (1 if kind == "weight" else 0)
    return {"quantizer": name, "kind": kind, "num_values": n, "bits": bits, "integer": integer, "frac": frac,
            "step": 2.0 ** -frac, "signed": kind == "weight"}


def test_fill_budget_spends_the_rest_on_the_narrowest_quantizers():
    """2.76 of 3.0 bits per weight (a DS-CNN fold's search): the 2-bit pointwise layer with the
    most values gets its bit first, then what still fits; never past the target or the start width."""
    from qat.schemes.trained_bits import fill_budget

    rows = [fill_row("pw1", "weight", 4096, 2), fill_row("pw4", "weight", 4096, 2), fill_row("conv1", "weight", 2560, 3),
            fill_row("dw4", "weight", 576, 3), fill_row("logits", "weight", 768, 3), fill_row("dw1", "weight", 576, 5),
            fill_row("a1", "activation", 8000, 3, integer=3), fill_row("a2", "activation", 8000, 4, integer=3)]
    weights = rows[:6]
    total = sum(r["num_values"] for r in weights)
    target = (sum(r["bits"] * r["num_values"] for r in weights) + 4096 + 576 + 100) / total  # room for pw + dw4
    formats, raised = fill_budget(rows, {"weight": target, "activation": 3.5}, {"weight": 5, "activation": 8})
    assert raised == ["pw1", "dw4"]  # pw4 no longer fits after pw1; dw4 is then the narrowest that fits
    assert formats["pw1"] == {"bits": 3, "integer": 0, "frac": 2, "step": 0.25, "signed": True}  # half the step
    assert formats["dw4"]["bits"] == 4 and formats["pw4"]["bits"] == 2 and formats["dw1"]["bits"] == 5
    spent = sum(formats[r["quantizer"]]["bits"] * r["num_values"] for r in weights) / total
    assert spent <= target
    # activations: average 3.5 already, no room; target 0 = no budget to fill; start width is a cap
    assert formats["a1"]["bits"] == 3 and formats["a2"]["bits"] == 4
    _, raised = fill_budget(rows, {"weight": 0, "activation": 8.0}, {"weight": 5, "activation": 4})
    assert raised == ["a1"]


def test_trained_bits_per_channel_scales_export_and_convert_exactly(float_model, tmp_path):
    """per_channel: each channel's shift puts its peak in (0.5, 1]; bits stay per tensor; the
    exported plain QKeras model is what was trained, and hls4ml's graph (golden) computes it."""
    from hw.convert import HlsSettings, convert
    from hw.golden import GoldenModel
    from qat.models.fold import folded_weights, po2_rescale
    from qat.schemes import trained_bits

    quant = {"weight_bits": 8, "act_bits": 8, "input_bits": 8}
    ctx = make_ctx(float_model, tmp_path, "trained_bits",
                   {"per_channel": True, "weight_target_bits": 3.0, "act_target_bits": 4.0, "warmup_epochs": 0,
                    "ramp_epochs": 2, "settle_epochs": 2}, quant, qat_epochs=4)
    r = trained_bits.quantize(ctx)
    shifts = r.extra["trained_bits"]["channel_shifts"]
    weights = po2_rescale(folded_weights(float_model))
    assert sorted(shifts) == sorted(weights)
    for name, (kernel, _) in weights.items():
        peaks = np.max(np.abs(kernel.reshape(-1, kernel.shape[-1])), axis=0) * 2.0 ** np.asarray(shifts[name])
        assert np.all((peaks > 0.5) & (peaks <= 1.0)), name
    assert r.extra["avg_weight_bits"] <= 3.0
    assert r.extra["export_max_abs_diff"] == 0.0
    for row in r.extra["trained_bits"]["quantizers"]:  # every channel's step <= 1 (hardware path)
        if row["kind"] == "weight":
            assert row["step"] * 2.0 ** -min(shifts[row["layer"]]) <= 1.0
    x = ctx.prep.features["test"][0][:200]
    want = r.model.predict(x, verbose=0)
    graph = convert(r.model, tmp_path / "prj", HlsSettings(io_type="io_parallel"))
    assert np.array_equal(GoldenModel(graph).predict(x).reshape(want.shape), want)


# ---------------------------------------------------------------- bad configs fail at load time
def load(scheme, args, quant=None):
    return RunConfig.from_dict({"name": "x", "model": "streaming_ffn", "scheme": scheme, "scheme_args": args,
                                "quant": quant or {"weight_bits": 4}})


@pytest.mark.parametrize("scheme, args, quant, message", [
    ("nope", {}, None, "unknown scheme"),
    ("two_stage", {"weight_bits": 0}, None, "weight_bits=0"),
    ("two_stage", {"weight_bits": 9}, None, "weight_bits=9"),
    ("two_stage", {"stage1_lr": 0}, None, "stage1_lr=0"),
    ("two_stage", {"stage2_lr": "fast"}, None, "stage2_lr='fast'"),
    ("linear", {}, {"weight_bits": 0}, "weight_bits=0"),
    ("acos", {"lam": -1e-3}, None, "lam=-0.001"),
    ("trained_bits", {"weight_lambda": -1}, None, "weight_lambda=-1"),
    ("trained_bits", {"act_lambda": 1e3}, None, "act_lambda=1000.0 must be a number from 0.0 to 100.0"),
    ("trained_bits", {"weight_target_bits": 1.5}, None, "below the 2-bit minimum"),
    ("trained_bits", {"weight_target_bits": 5}, None, "weight_target_bits=5 must be a number from 0.0 to 4"),
    ("trained_bits", {"act_target_bits": 0.5}, None, "below the 1-bit minimum"),
    ("trained_bits", {"exp_lr_scale": 12}, None, "exp_lr_scale=12 must be a power of two"),
    ("trained_bits", {"exp_lr_scale": 2048}, None, "exp_lr_scale=2048 must be an integer from 1 to 1024"),
    ("trained_bits", {"exp_lr_scale": 0.5}, None, "exp_lr_scale=0.5"),
    ("trained_bits", {"exp_lr_scale": "fast"}, None, "exp_lr_scale='fast'"),
    ("trained_bits", {"ramp_epochs": 0}, None, "ramp_epochs=0"),
    ("trained_bits", {"settle_epochs": -1}, None, "settle_epochs=-1"),
    ("trained_bits", {"per_channel": "yes"}, None, "per_channel='yes' must be true or false"),
    ("trained_bits", {"retrain_epochs": -2}, None, "retrain_epochs=-2"),
    ("trained_bits", {"fill_budget": 1, "retrain_epochs": 5}, None, "fill_budget=1 must be true or false"),
    ("trained_bits", {"fill_budget": True}, None, "set retrain_epochs > 0"),
    ("fxp_qat", {"accum_width": 8}, None, "accum_width=8"),
    ("fxp_qat", {"formats": {"fc1": {"accum": "fixed16"}}}, None, "fixed16"),
    ("fxp_qat", {"acum_width": 16}, None, "unknown scheme_args"),
])
def test_bad_config_is_refused_on_load(scheme, args, quant, message):
    with pytest.raises(ValueError, match=message):  # RunConfigError or QuantConfigError
        load(scheme, args, quant)


def test_auto_exp_lr_scale():
    from qat.schemes.trained_bits import auto_exp_lr_scale

    # GSC subset: 2603 clips / batch 100 = 27 steps; 8 -> 3 bits over 8 epochs at 3e-4:
    # 2 * 5 / (3e-4 * 27 * 8) = 154 -> 256; full GSC (~850 steps) -> 8; nothing to shed -> 1
    assert auto_exp_lr_scale(5.0, 3e-4, 27, 8) == 256
    assert auto_exp_lr_scale(5.0, 3e-4, 850, 8) == 8
    assert auto_exp_lr_scale(0.0, 3e-4, 27, 8) == 1
    assert auto_exp_lr_scale(5.0, 1e-7, 1, 1) == 1024


def test_good_configs_load():
    for scheme, args in [("fxp_qat", {"accum_width": 16}), ("two_stage", {"weight_bits": 1}), ("acos", {"lam": 0}),
                         ("trained_bits", {})]:
        assert load(scheme, args).scheme == scheme


# ---------------------------------------------------------------- squashed-kernel rescaling
def test_squash_rescale_keeps_the_function_and_beats_peak_scaling(float_model):
    from qat.models.fold import folded_weights, po2_rescale
    from qat.schemes.common import squash_error, squash_rescale

    peak = po2_rescale(folded_weights(float_model))
    scaled, gains = squash_rescale(peak, 4)
    x = toy_data(50, 5)[0]

    def forward(weights):
        h = x
        for i, (k, b) in enumerate(weights.values()):
            h = h @ k + b
            h = np.maximum(h, 0) if i < len(weights) - 1 else h
        return h

    np.testing.assert_allclose(forward(scaled), forward(peak), rtol=1e-4, atol=1e-4)  # logits unchanged
    assert all(g == 0 for n, g in gains.items() if n != "logits")
    k = peak["fc1"][0]  # first layer (nothing divided in): its shift is at least as good as peak -> (0.5, 1]
    shift = int(round(np.log2(np.max(np.abs(scaled["fc1"][0])) / np.max(np.abs(k)))))
    peak_shift = -int(np.ceil(np.log2(np.max(np.abs(k)))))
    assert squash_error(k, 4, shift) <= squash_error(k, 4, peak_shift)
    assert squash_error(k, 4, shift) <= min(squash_error(k, 4, s) for s in range(peak_shift, peak_shift + 10))


def test_fxp_qat_pool_format_keeps_logits_products_exact():
    """Narrow logits accumulator: pooled features lose fraction bits so every product still fits
    (hls4ml would round each product into accum_t, which QKeras does not model)."""
    from qkeras import quantized_bits

    from qat.quantizers import FormatError, transient_format
    from qat.quantizers.squashed_weights import squashed_bits
    from qat.quant_config import QuantConfig
    from qat.schemes.fxp_qat import kernel_frac, pool_for_logits

    q = QuantConfig(weight_bits=4, pool_bits=16, pool_int=3)  # pooled features: 12 fraction bits
    assert kernel_frac(quantized_bits(8, 0, alpha=1)) == 7
    assert kernel_frac(squashed_bits(4, -2, normalize=False)) == 5
    wide = pool_for_logits(q, {"logits": transient_format(32, 6)}, {"logits": quantized_bits(8, 0, alpha=1)})
    assert wide.pool_bits == 16
    narrow = pool_for_logits(q, {"logits": transient_format(16, 6)}, {"logits": quantized_bits(8, 0, alpha=1)})
    assert (narrow.pool_bits, narrow.pool_int) == (1 + 3 + (10 - 7), 3)
    with pytest.raises(FormatError, match="widen accum_width"):
        pool_for_logits(q, {"logits": transient_format(8, 6)}, {"logits": quantized_bits(8, 0, alpha=1)})


@pytest.mark.parametrize("width", [14, 16])  # 14: logits accumulator coarser than its bias and output
def test_fxp_qat_narrow_accumulators_are_bit_exact_in_hardware(float_model, tmp_path, width):
    """Narrow accumulators: QKeras ≡ the golden model of the hls4ml graph with the trained
    formats (wrapping accumulators), every output bit, ties of the bias included."""
    from hw.accumulators import wrapping_accumulators
    from hw.convert import HlsSettings, convert, merge_overrides
    from hw.golden import GoldenModel
    from qat.schemes import fxp_qat

    result = fxp_qat.quantize(make_ctx(float_model, tmp_path, "fxp_qat", {"accum_width": width}, qat_epochs=0))
    flat = {name: entry["Precision"] for name, entry in result.hls_precisions["LayerName"].items()}
    base = convert(result.model, tmp_path / "a", HlsSettings(), overrides=flat)
    graph = convert(result.model, tmp_path / "b", HlsSettings(), overrides=merge_overrides(flat, wrapping_accumulators(base)))
    x = np.random.default_rng(0).normal(size=(300, *result.model.input_shape[1:])).astype(np.float32)
    want = result.model.predict(x, verbose=0).reshape(len(x), -1)
    got = GoldenModel(graph).predict(x).reshape(len(x), -1)
    assert np.array_equal(got, want), f"{np.all(got == want, axis=1).sum()} of {len(x)} identical"


def test_fxp_qat_refuses_accumulators_that_would_round_every_product(float_model, tmp_path):
    from qat.quantizers import FormatError
    from qat.schemes import fxp_qat

    with pytest.raises(FormatError, match="fc2 accumulator.*Widen accum_width by 2"):
        fxp_qat.quantize(make_ctx(float_model, tmp_path, "fxp_qat", {"accum_width": 12}, qat_epochs=0))
