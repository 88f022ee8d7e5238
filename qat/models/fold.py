"""From a trained float model to the starting point of fixed-point QAT.

1. Fold every BatchNorm into the layer before it (W·γ/σ, (b−μ)·γ/σ+β), so the quantized
   network has no BatchNorm at all — hardware then needs no scale/shift stage.
2. Rescale layer by layer with powers of two so each layer's largest |weight| lies in
   (0.5, 1]: the weights then use the whole alpha=1 grid instead of rounding to zero (a
   4-bit grid has steps of 1/8). ReLU, pooling and flatten commute with positive scales, and
   the next layer divides its weights by the same factor, so the float function is unchanged
   up to a power-of-two factor on the logits (argmax is unchanged; QAT fine-tunes the rest).
   With residual Adds (qat.models.scale_graph) the branches entering an Add share one scale.
3. Calibrate each activation's integer bits (and the logits') on training data.
"""

from __future__ import annotations

import math

import numpy as np
from tensorflow import keras

from qat.models.scale_graph import ScaleGraph, ScaleGraphError, scale_graph
from qat.quant_config import QuantConfig, integer_bits_for

LINEAR_TYPES = (keras.layers.Conv1D, keras.layers.Conv2D, keras.layers.DepthwiseConv2D, keras.layers.Dense)


class FoldedWeights(dict):
    """{layer: (kernel, bias)} in network order, plus the model's scale graph (None for a chain),
    so `po2_rescale(folded_weights(model))` balances a residual model correctly too."""

    graph: ScaleGraph | None = None


def folded_weights(model: keras.Model) -> FoldedWeights:
    """(kernel, bias) of every linear layer, BatchNorm folded in, in network order."""
    out = FoldedWeights()
    out.graph = scale_graph(model)
    for layer in model.layers:
        if not isinstance(layer, LINEAR_TYPES):
            continue
        weights = layer.get_weights()
        kernel = weights[0]
        bias = weights[1] if layer.use_bias else np.zeros(kernel.shape[-2] if _is_depthwise(layer) else kernel.shape[-1], np.float32)
        bn = _bn_after(model, layer)
        if bn is not None:
            gamma, beta, mean, var = bn.get_weights()
            scale = gamma / np.sqrt(var + bn.epsilon)
            if _is_depthwise(layer):  # kernel (kh, kw, C, 1): channels on axis -2
                kernel = kernel * scale[None, None, :, None]
            else:
                kernel = kernel * scale
            bias = (bias - mean) * scale + beta
        out[layer.name] = (kernel.astype(np.float32), bias.astype(np.float32))
    return out


def _is_depthwise(layer) -> bool:
    return isinstance(layer, keras.layers.DepthwiseConv2D)


def _bn_after(model, layer):
    try:
        bn = model.get_layer(f"{layer.name}_bn")
    except ValueError:
        return None
    return bn if isinstance(bn, keras.layers.BatchNormalization) else None


def po2_rescale(weights: dict[str, tuple[np.ndarray, np.ndarray]], graph: ScaleGraph | None = None) -> dict[str, tuple[np.ndarray, np.ndarray]]:
    """Balance the layers' weight ranges with power-of-two factors; layers in network order of a chain.

    Layer l is multiplied by s_l / s_(l-1) (s_0 = s_L = 1, so the logits are unchanged) with s_l
    chosen so every layer's largest |weight| is close to the same value: the geometric mean of
    the folded layers' peaks. Without this, one layer with large weights (e.g. after BatchNorm
    folding) would push the next one's weights below the grid step: every layer shares one fixed
    number of weight bits, so they should share the range too.

    A graph with merges (`graph`, by default the one `folded_weights` attached) is rescaled by
    `_po2_rescale_graph`: the branches entering an Add share one scale.
    """
    graph = graph if graph is not None else getattr(weights, "graph", None)
    names = list(weights)
    peaks = [float(np.max(np.abs(weights[n][0]))) for n in names]
    if min(peaks) <= 0:
        return dict(weights)
    target = float(np.exp(np.mean(np.log(peaks))))
    if graph is not None:
        return _po2_rescale_graph(weights, graph, target)
    out, scale_in = {}, 1.0
    for name, peak in zip(names, peaks):
        kernel, bias = weights[name]
        if name == names[-1]:
            scale_out = 1.0
        else:
            scale_out = scale_in * 2.0 ** round(math.log2(target * scale_in / peak) - math.log2(scale_in))
        out[name] = (kernel * scale_out / scale_in, bias * scale_out)
        scale_in = scale_out
    return out


def _po2_rescale_graph(weights, graph: ScaleGraph, target: float) -> dict[str, tuple[np.ndarray, np.ndarray]]:
    """po2_rescale over a DAG. Each tensor scale is a power of two; a layer whose output goes
    straight into an Add waits for the Add, which then picks one scale for all its branches: the
    scale of an input already fixed (an identity shortcut carries the block input's scale), else
    the power of two closest to the branches' own choices (mean of their log2 factors). A layer
    writing the model output keeps scale 1 (logits unchanged). A single-branch layer gets the
    same factor as in the chain version."""
    scale: dict[str | None, float] = {None: 1.0}
    pending: dict[str, float] = {}  # layer into a merge -> its input scale
    out = {}

    def finish(name, s_in, s_out):
        kernel, bias = weights[name]
        out[name] = (kernel * s_out / s_in, bias * s_out)
        scale[name] = s_out

    def own_choice(name, s_in):  # log2 of the chain rule's output scale for this layer
        peak = float(np.max(np.abs(weights[name][0])))
        return math.log2(s_in) + round(math.log2(target * s_in / peak) - math.log2(s_in))

    for node in graph.order:
        sources = graph.reads[node]
        if node in graph.merges:
            fixed = {scale[s] for s in sources if s not in pending}
            if len(fixed) > 1:
                raise ScaleGraphError(f"{node}: inputs with different fixed scales {sorted(fixed)}; a power-of-two "
                                      "rescale cannot make them equal without changing the function")
            waiting = [s for s in sources if s in pending]
            s_out = fixed.pop() if fixed else 2.0 ** round(np.mean([own_choice(w, pending[w]) for w in waiting]))
            for w in waiting:
                finish(w, pending.pop(w), s_out)
            scale[node] = s_out
            continue
        if node not in weights:
            raise ScaleGraphError(f"{node}: linear layer missing from the folded weights")
        s_in = scale[sources[0]]
        if node in graph.into_merge:
            pending[node] = s_in
        elif node in graph.to_output:
            finish(node, s_in, 1.0)
        else:
            finish(node, s_in, 2.0 ** own_choice(node, s_in))
    if pending:
        raise ScaleGraphError(f"layers {sorted(pending)} feed a merge that was never reached")
    result = FoldedWeights((name, out[name]) for name in weights)
    result.graph = graph  # later chain-only steps (squash_rescale) can tell and refuse
    return result


def calibrate(quant_model_builder, quant: QuantConfig, weights, x_calib: np.ndarray, percentile: float = 99.99) -> QuantConfig:
    """Integer bits per activation and for the logits, from a float run of the folded network.

    `quant_model_builder(quant)` builds the quantized model; we run it with all activations
    generously wide (so nothing saturates) and read each ReLU output's values. Each activation
    gets the integer-bit count whose unsigned grid reproduces those values with the least squared
    error: at 8 bits that covers the whole range, at 4 bits it clips rare outliers rather than
    rounding most activations to zero.
    """
    wide = QuantConfig(**{**quant.to_dict(), "act_bits": 24, "act_int": 12, "output_bits": 24, "output_int": 12,
                          "input_bits": quant.input_bits, "weight_bits": 24, "bias_bits": 24,
                          "weight_int": {}, "bias_int": {}, "layer_act_int": {}})
    wide = wide.with_layer_ranges(weights)
    model = quant_model_builder(wide)
    set_weights(model, weights)
    probes = [l for l in model.layers if l.name.endswith("_relu")] + [model.get_layer("logits")]
    probe_model = keras.Model(model.inputs, [l.output for l in probes])
    outs = probe_model.predict(x_calib, batch_size=256, verbose=0)
    act_int, output_int = {}, quant.output_int
    for layer, value in zip(probes, outs):
        peak = float(np.percentile(np.abs(value), percentile))
        bits = max(0, integer_bits_for(peak))
        if layer.name == "logits":
            output_int = max(bits + 1, 1)  # one bit of headroom: logits grow during fine-tuning
        else:
            act_int[layer.name[: -len("_relu")]] = best_relu_integer_bits(value, quant.act_bits)
    data = quant.to_dict()
    data.update(layer_act_int=act_int, output_int=output_int)
    if "avg_pool_quant" in [l.name for l in model.layers]:
        last = [n for n in act_int][-1]
        data["pool_int"] = act_int[last]
    return QuantConfig(**data).with_layer_ranges(weights)


def best_relu_integer_bits(values: np.ndarray, bits: int, max_samples: int = 200_000) -> int:
    """Integer bits i in [0, bits] minimising the error of quantized_relu(bits, i) on `values`."""
    v = np.asarray(values, dtype=np.float64).ravel()
    if v.size > max_samples:
        v = np.random.default_rng(0).choice(v, max_samples, replace=False)
    v = np.maximum(v, 0.0)

    def error(i: int) -> float:
        step = 2.0 ** (i - bits)
        q = np.clip(np.round(v / step) * step, 0.0, 2.0 ** i - step)
        return float(np.mean((q - v) ** 2))

    return min(range(bits + 1), key=error)


def set_weights(model: keras.Model, weights: dict[str, tuple[np.ndarray, np.ndarray]]) -> None:
    for name, (kernel, bias) in weights.items():
        model.get_layer(name).set_weights([kernel, bias])
