"""``build_hls_config``: hls4ml's per-layer config (granularity='name') with the precisions that
hls4ml gets wrong by default set explicitly (input, activations, dropped trailing quantizers and the
hidden ``<layer>_linear`` activations, average-pooling accumulators, concatenation results),
overrides applied last."""

from __future__ import annotations

import math

import numpy as np

from qat.fixed import FixedType

from .checks import BORDER_LAYERS, UnsupportedModelError, PASSTHROUGH_LAYERS, POOLING_LAYERS, TYPE_KEEPING, WEIGHT_LAYERS, check_supported
from .keras_graph import consumers, inbound_layers, is_linear_quantizer, producer
from .overrides import normalize_overrides
from .quantizer_types import activation_type
from .separable import SEPARABLE_LAYERS, input_type, separable_types


def _pow2_ceil_log2(n: int) -> int:
    return max(0, int(math.ceil(math.log2(n))))


def _pool_types(in_t: FixedType, window: int, out_t: FixedType | None) -> tuple[FixedType, FixedType]:
    """(accum, result) for an exact average pool.

    hls4ml sums into accum_t, then truncates sum/N toward zero at accum's fraction bits, then
    converts to the result type. The sum is exact with ceil(log2 N) more integer bits. The
    truncated quotient rounds like the exact mean as long as its error (< 1 LSB of accum) is
    below the exact mean's smallest possible distance to a rounding tie of the result,
    1 / (N * 2**max(F_in, F_out + 1)); so F_acc = max(F_in, F_out + 1) + ceil(log2 N) (+1 spare).
    """
    grow = _pow2_ceil_log2(window)
    if out_t is None:  # power-of-two window: the mean itself is exact with log2(N) more fraction bits
        out_t = FixedType(in_t.width + grow, in_t.integer, in_t.signed)
    frac = max(in_t.frac, out_t.frac + 1) + grow + 1
    integer = in_t.integer + grow
    return FixedType(integer + frac, integer, in_t.signed), out_t


def concat_type(a: FixedType, b: FixedType) -> FixedType:
    """The narrowest type holding every value of both inputs of a Concatenate: hls4ml converts
    each input element to the result type (nnet_merge.h ``res[i] = data1[i]``), exact only then.
    hls4ml 1.3's own inference (_infer_cat_precision) gives the same widths; setting it here keeps
    it exact whatever the model-wide precision settings. Equal inputs keep their type."""
    if a == b:
        return a
    signed = a.signed or b.signed
    integer = max(a.integer + (signed and not a.signed), b.integer + (signed and not b.signed))
    frac = max(a.frac, b.frac)
    rounding = a.rounding if a.rounding != "TRN" else b.rounding  # as hls4ml: no effect, nothing rounds
    overflow = a.overflow if a.overflow != "WRAP" else b.overflow
    return FixedType(integer + frac, integer, signed, rounding, overflow)


def build_hls_config(
    model,
    backend: str = "Vitis",
    strategy: str = "Latency",
    reuse_factor: int = 1,
    overrides: dict | None = None,
    trace: bool = False,
    io_type: str = "io_parallel",
) -> dict:
    """hls4ml config (granularity='name') with every precision that matters set explicitly.

    - Input layer: the input quantizer's type (so no double rounding of float inputs).
    - QActivation: the quantizer's exact type (RND_CONV + SAT), see ``activation_type``.
    - Weight layers followed by a linear quantizer: that type is carried onto the layer's result
      *and* onto hls4ml's hidden ``<layer>_linear`` activation, because hls4ml merges/drops the
      quantizer and would otherwise keep a wide or default (fixed<16,6>) type.
    - QSeparableConv1D/2D: the depthwise half's result (hls4ml's intermediate) is its exact sum
      type, both halves' accumulators exact (hw/convert/separable.py).
    - Average pooling: exact accumulator and the following quantizer's type as result.
    - ``overrides``: {layer: {"accum": "fixed<..>", ...}} applied last (e.g. transient formats).
    - ``trace``: every layer traced, so ``ModelGraph.trace`` can localize mismatches.
    """
    import hls4ml

    check_supported(model, strategy, io_type, reuse_factor)
    cfg = hls4ml.utils.config_from_keras_model(model, granularity="name", backend=backend, default_reuse_factor=reuse_factor)
    cfg["Model"]["Strategy"] = strategy
    cfg["Model"]["ReuseFactor"] = reuse_factor
    names = cfg["LayerName"]
    types: dict[str, FixedType] = {}  # exact output type of each Keras layer we set

    for layer in model.layers:
        cls, kcfg, name = type(layer).__name__, layer.get_config(), layer.name
        lcfg = names.setdefault(name, {})
        prec = lcfg.setdefault("Precision", {})
        if cls in WEIGHT_LAYERS or cls in POOLING_LAYERS or cls == "QActivation":
            lcfg["ReuseFactor"] = reuse_factor
            if cls in WEIGHT_LAYERS:
                lcfg["Strategy"] = strategy
        if cls in SEPARABLE_LAYERS:
            # hls4ml splits it into <name>_depthwise + <name>_pointwise; without this the intermediate
            # would get this layer's 'result' (e.g. the next quantizer's type): see separable.py
            dw_t, pw_t = separable_types(layer, input_type(layer, TYPE_KEEPING))
            prec["depthwise_accum"] = prec["depthwise_result"] = dw_t.to_hls()
            prec["pointwise_accum"] = pw_t.to_hls()
        if cls == "QActivation":
            t = activation_type(kcfg["activation"])
            prec["result"] = t.to_hls()
            types[name] = t
            before = producer(layer)
            if before is None:
                continue
            bcls = type(before).__name__
            if bcls == "InputLayer":
                names.setdefault(before.name, {}).setdefault("Precision", {})["result"] = t.to_hls()
            elif is_linear_quantizer(layer) and bcls in WEIGHT_LAYERS:
                names[before.name]["Precision"]["result"] = t.to_hls()
                names.setdefault(f"{before.name}_linear", {}).setdefault("Precision", {})["result"] = t.to_hls()
        elif cls in POOLING_LAYERS:
            before = producer(layer)
            in_t = types.get(before.name) if before is not None else None
            if cls.startswith("Average"):
                after = consumers(model, layer)
                out_t = activation_type(after[0].get_config()["activation"]) if len(after) == 1 and is_linear_quantizer(after[0]) else None
                acc_t, out_t = _pool_types(in_t, int(np.prod(kcfg["pool_size"])), out_t)
            else:
                acc_t = out_t = in_t
            if acc_t is not None:
                prec["accum"] = acc_t.to_hls()
                prec["result"] = out_t.to_hls()
                types[name] = out_t
        elif cls == "Concatenate":
            ins = [types.get(p.name) for p in inbound_layers(layer)]
            if None not in ins:  # otherwise hls4ml infers the same common type from the graph's types
                t = concat_type(*ins)
                prec["result"] = t.to_hls()
                types[name] = t
        elif cls in TYPE_KEEPING:
            before = producer(layer)
            if before is not None and before.name in types:
                types[name] = types[before.name]

    if trace:
        for lcfg in names.values():
            lcfg["Trace"] = True
    for name, fields in normalize_overrides(overrides).items():
        if name not in names:
            base = name[: -len("_linear")] if name.endswith("_linear") else None
            if base is None or type(_layer_named(model, base)).__name__ not in WEIGHT_LAYERS:
                raise KeyError(f"precision override for unknown layer {name!r}; layers: {sorted(names)}")
            names[name] = {}  # hls4ml's hidden linear activation after a weight layer
        if type(_layer_named(model, name)).__name__ in BORDER_LAYERS:
            # hls4ml 1.3 gives padding/cropping its input's precision and silently ignores the override
            raise UnsupportedModelError([(name, f"precision override {fields} on a {type(_layer_named(model, name)).__name__}: "
                                                "padding and cropping keep their input's type; override the layer "
                                                "before it or add a QActivation after it")])
        for field, text in fields.items():
            names[name].setdefault("Precision", {})[field] = text
    return cfg


def _layer_named(model, name):
    return next((layer for layer in model.layers if layer.name == name), None)
