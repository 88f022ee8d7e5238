"""Pieces the QAT schemes share: a quantizer source for the model builders, argument checks,
the folded/calibrated starting point, weight assignment, export and cost bookkeeping."""

from __future__ import annotations

import math

import numpy as np

from qat.quant_config import QuantConfig
from qat.schemes.base import QatContext, QatResult, SchemeError

_BASE = object()  # "use the QuantConfig's quantizer"


class SchemeQuant:
    """A QuantConfig look-alike for `qat.models.blocks`: per tensor class, either the base
    QuantConfig's quantizer, None (float), or a scheme's factory `f(layer_name) -> quantizer`.

    Keys: kernel, bias, activation, input, output, pool, kernel_regularizer, accum.
    """

    def __init__(self, base: QuantConfig, **overrides):
        unknown = set(overrides) - {"kernel", "bias", "activation", "input", "output", "pool",
                                    "kernel_regularizer", "accum"}
        if unknown:
            raise TypeError(f"SchemeQuant: unknown tensor class(es) {sorted(unknown)}")
        self.base, self.overrides = base, overrides

    def _pick(self, key, name, default):
        choice = self.overrides.get(key, _BASE)
        if choice is _BASE:
            return default()
        return None if choice is None else choice(name)

    def kernel_quantizer(self, name):
        return self._pick("kernel", name, lambda: self.base.kernel_quantizer(name))

    def bias_quantizer(self, name):
        return self._pick("bias", name, lambda: self.base.bias_quantizer(name))

    def activation(self, name=None):
        return self._pick("activation", name, lambda: self.base.activation(name))

    def input_quantizer(self):
        return self._pick("input", "input_quant", self.base.input_quantizer)

    def output_quantizer(self):
        return self._pick("output", "logits_quant", self.base.output_quantizer)

    def pool_quantizer(self):
        return self._pick("pool", "avg_pool_quant", self.base.pool_quantizer)

    def kernel_regularizer(self, name):
        return self._pick("kernel_regularizer", name, lambda: None)

    def accum_quantizer(self, name):
        return self._pick("accum", name, lambda: None)


# -- argument checks (run when the config is loaded) --------------------------------------
def check_args(scheme: str, args: dict, defaults: dict) -> dict:
    unknown = sorted(set(args) - set(defaults))
    if unknown:
        raise SchemeError(f"scheme {scheme!r}: unknown scheme_args {unknown}; known: {sorted(defaults)}")
    return {**defaults, **args}


def check_number(scheme: str, name: str, value, minimum: float = 0.0, maximum: float | None = None) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value) or value < minimum or \
            (maximum is not None and value > maximum):
        rng = f"from {minimum} to {maximum}" if maximum is not None else f">= {minimum}"
        raise SchemeError(f"scheme {scheme!r}: scheme_args.{name}={value!r} must be a number {rng}")
    return float(value)


def check_int(scheme: str, name: str, value, minimum: int, maximum: int | None = None) -> int:
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < minimum or \
            (maximum is not None and value > maximum):
        rng = f"from {minimum} to {maximum}" if maximum is not None else f">= {minimum}"
        raise SchemeError(f"scheme {scheme!r}: scheme_args.{name}={value!r} must be an integer {rng}")
    return int(value)


def need_quant(scheme: str, quant) -> None:
    if quant is None:
        raise SchemeError(f"scheme {scheme!r} needs a `quant:` section (bits per tensor class)")


# -- starting point -----------------------------------------------------------------------
def folded_start(ctx: QatContext, x_calib=None, squash_bits: int | None = None):
    """BN-folded, power-of-two-rescaled float weights and the linear baseline's calibrated formats.

    With squash_bits, the layers are rescaled for squashed kernels of that width instead
    (`squash_rescale`), and the per-layer gains come back as a third value."""
    from qat.models.fold import calibrate, folded_weights, po2_rescale

    weights = po2_rescale(folded_weights(ctx.float_model))
    gains = None
    if squash_bits is not None:
        weights, gains = squash_rescale(weights, squash_bits)
    x_calib = ctx.calibration_features() if x_calib is None else x_calib
    quant = calibrate(ctx.build, ctx.cfg.quant, weights, x_calib)
    return (weights, quant) if squash_bits is None else (weights, quant, gains)


def squash_error(w: np.ndarray, bits: int, shift: int) -> float:
    """Mean squared error of the squashed grid on w * 2**shift (clipped to +-1), in w's units."""
    x = np.clip(np.asarray(w, np.float64) * 2.0 ** shift, -1, 1)
    if bits == 1:
        q = np.where(x >= 0, 1.0, -1.0)
    else:
        n = 2 ** (bits - 1)
        q = np.clip(np.round(x * n), -(n - 1), n - 1) / n
    return float(np.mean((q * 2.0 ** -shift - w) ** 2))


def best_shift(w: np.ndarray, bits: int, span: int = 10) -> int:
    """Power-of-two scale 2**s that puts w's clip point where the grid's rounding+clipping error is least."""
    peak = float(np.max(np.abs(w)))
    if not np.isfinite(peak) or peak <= 0:
        return 0
    base = -int(np.ceil(np.log2(peak)))  # peak -> (0.5, 1]
    return min(range(base, base + span), key=lambda s: squash_error(w, bits, s))


def squash_rescale(weights: dict, bits: int) -> tuple[dict, dict]:
    """Per-layer power-of-two rescaling for squashed kernels: each hidden layer is scaled so the
    MSE-best clip point of a `bits` grid lands at 1 (tanh squashes the few larger weights), the
    next layer divides by the same factor (ReLU/pooling commute). Narrow grids on wide layers
    (e.g. 4 bits on a 1960-input dense) otherwise round almost every weight to 0. The last layer
    keeps its scale and gets a power-of-two gain 2**g instead (g < 0 is exported as a wider
    QKeras format holding the same 2**bits levels). Returns (weights, {layer: gain_log2}).
    (1-bit kernels are not rescaled: `sign_kernels` gives each output channel its gain instead.)"""
    if getattr(weights, "graph", None) is not None:
        raise SchemeError("squash_rescale moves scales along a chain; this model has residual merges "
                          "(use the 'linear' scheme, whose po2_rescale handles them)")
    out, gains, scale_in = {}, {}, 1.0
    names = list(weights)
    for name, (kernel, bias) in weights.items():
        kernel = kernel / scale_in
        s = best_shift(kernel, bits)
        if name == names[-1]:
            out[name], gains[name] = (kernel, bias), -s
            continue
        out[name], gains[name] = (kernel * 2.0 ** s, bias * 2.0 ** s), 0
        scale_in = 2.0 ** s
    return out, gains


def sign_kernels(model, weights: dict) -> dict:
    """1-bit kernels: {layer: sign_po2_bits} with one power-of-two gain 2**g_c per output channel,
    the one whose +-2**g_c is nearest the float channel in mean squared error (`best_shift` at 1
    bit: g_c = floor(log2 m) or one more, the switch at m = 1.5 * 2**floor(log2 m), m = mean|w_c|).
    The weights are not rescaled: the gains keep every channel's output near its float range (a
    kernel moved to mean|w| = 1 would blow the activations beyond an 8-bit format). Channel spread
    capped at MAX_SPAN octaves below the largest gain, as for the 4-bit per-channel grids."""
    from qat.quantizers import channel_shifts, sign_po2_bits

    def shift(row, bits):  # None: an all-zero channel (channel_shifts gives it the layer's coarsest)
        return best_shift(row, bits) if np.any(row) else None

    return per_channel_quantizers(model, weights, lambda kernel, axis: sign_po2_bits(
        [-s for s in channel_shifts(kernel, 1, axis, best_shift=shift)], axis))


def per_channel_quantizers(model, weights: dict, make) -> dict:
    """{layer: make(folded kernel, output-channel axis)}: axis -1, or -2 for a depthwise kernel (kh, kw, C, 1)."""
    return {name: make(kernel, -2 if kernel_attr(model.get_layer(name)) == "depthwise_kernel" else -1)
            for name, (kernel, _) in weights.items()}


def kernel_attr(layer) -> str:
    return "depthwise_kernel" if hasattr(layer, "depthwise_kernel") else "kernel"


def assign_weights(model, weights: dict, kernel_fn=None) -> None:
    """Assign (kernel, bias) per layer by attribute, so quantizer-owned variables (trained_bits)
    are left alone; kernel_fn(name, kernel) maps a float kernel to the stored latent (e.g. theta)."""
    for name, (kernel, bias) in weights.items():
        layer = model.get_layer(name)
        getattr(layer, kernel_attr(layer)).assign(kernel if kernel_fn is None else kernel_fn(name, kernel))
        if bias is not None and getattr(layer, "bias", None) is not None:
            layer.bias.assign(bias)


def copy_linear_weights(src, dst, names) -> None:
    """Copy kernel (latent) and bias of the named layers from one twin model to another."""
    for name in names:
        a, b = src.get_layer(name), dst.get_layer(name)
        getattr(b, kernel_attr(b)).assign(getattr(a, kernel_attr(a)))
        b.bias.assign(a.bias)


def quantized_kernel(layer) -> np.ndarray:
    """The kernel as the layer uses it (through its quantizer, if any)."""
    attr = kernel_attr(layer)
    q = getattr(layer, f"{'depthwise' if attr == 'depthwise_kernel' else 'kernel'}_quantizer_internal", None)
    k = getattr(layer, attr)
    return np.asarray(q(k) if q is not None else k)


def value_entropy(values: np.ndarray, bits: int) -> dict:
    """Entropy (bits) of the histogram of distinct quantized values, and its ratio to `bits`
    (a `bits`-bit code used uniformly). Works for any grid (linear, squashed, trained)."""
    _, counts = np.unique(np.asarray(values).ravel(), return_counts=True)
    p = counts / counts.sum()
    h = float(-(p * np.log2(p)).sum())
    return {"entropy_bits": h, "max_bits": int(bits), "ratio": h / bits if bits else float("nan"),
            "levels_used": int(len(counts))}


# -- the end of every scheme --------------------------------------------------------------
def weight_memory(plain_model, kernel_bits: dict | None = None) -> dict:
    """Bits of stored weights of an exported model, read from its quantizers (32 for float).

    kernel_bits overrides a layer's kernel bits (e.g. a 1-bit sign kernel that QKeras stores on
    a 2-bit grid is 1 bit in memory)."""
    total, per_layer = 0, {}
    for layer in plain_model.layers:
        if not hasattr(layer, "kernel_quantizer_internal") and not hasattr(layer, "depthwise_quantizer_internal"):
            continue
        attr = kernel_attr(layer)
        kq = getattr(layer, "depthwise_quantizer_internal" if attr == "depthwise_kernel" else "kernel_quantizer_internal")
        kb = (kernel_bits or {}).get(layer.name, getattr(kq, "bits", 32) if kq is not None else 32)
        bits = int(np.prod(getattr(layer, attr).shape)) * int(kb)
        if getattr(layer, "bias", None) is not None:
            bq = layer.bias_quantizer_internal
            bits += int(np.prod(layer.bias.shape)) * int(getattr(bq, "bits", 32) if bq is not None else 32)
        per_layer[layer.name] = {"kernel_bits": int(kb), "bits": bits}
        total += bits
    return {"weight_memory_bits": int(total), "weight_memory_layers": per_layer}


def record_quant(quant: QuantConfig, report: dict) -> QuantConfig:
    """The QuantConfig written to config.yaml, with the exported kernel grids filled in."""
    data = quant.to_dict()
    wint = dict(data["weight_int"])
    bits = []
    for layer, entry in report.items():
        for attr in ("kernel", "depthwise_kernel"):
            if attr in entry:
                wint[layer] = entry[attr]["integer"]
                bits.append(entry[attr]["bits"])
    if bits:
        data["weight_bits"] = max(2, max(bits))
    data["weight_int"] = wint
    return QuantConfig(**data)


def finish(ctx: QatContext, model, quant: QuantConfig, results: dict, history: dict, extra: dict,
           kernel_bits: dict | None = None, hls_precisions: dict | None = None) -> QatResult:
    """Export to plain fixed-bit QKeras (alpha=1), check it computes what was trained, evaluate it."""
    from qat.quantizers import export_fixed_qkeras

    plain, report = export_fixed_qkeras(model)
    x = ctx.calibration_features()[:64]
    diff = float(np.max(np.abs(np.asarray(model(x, training=False)) - np.asarray(plain(x, training=False)))))
    if diff > 1e-4:
        raise RuntimeError(f"export changed the model's outputs (max |diff| {diff}); not saving a wrong model")
    results["quantized"] = ctx.evaluate(plain)
    extra = {**extra, **weight_memory(plain, kernel_bits), "export_max_abs_diff": diff,
             # as the exported QKeras formats store them (a negative gain needs a wider format)
             "weight_memory_bits_exported": weight_memory(plain)["weight_memory_bits"]}
    if kernel_bits:
        extra["kernel_bits"] = kernel_bits
    return QatResult(plain, record_quant(quant, report), results, history, extra, hls_precisions)


def squashed_kernels(gains: dict, bits: int, cls=None) -> dict:
    from qat.quantizers import squashed_bits

    return {n: (cls or squashed_bits)(bits, g, normalize=False) for n, g in gains.items()}


def to_theta(kq: dict):
    """kernel_fn for assign_weights: float kernel -> latent theta of that layer's squashed quantizer."""
    from qat.quantizers import theta_from_weights

    return lambda name, kernel: theta_from_weights(kernel, kq[name].gain_log2)
