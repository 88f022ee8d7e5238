"""Turn a model trained with our quantizers into a plain fixed-bit QKeras model for hls4ml.

For every weight quantized by `squashed_bits`, `trained_bits`, `channel_po2_bits` or `sign_po2_bits`
(per-channel power-of-two scales: all channels' grids lie on the finest one), the quantized values are
computed once, stored as the new kernel, and given the smallest
`quantized_bits(bits, integer>=0, alpha=1)` that holds them exactly (so QKeras, hls4ml and the
hardware see the very same numbers). Activation quantizers (`trained_bits`, `fixed_point`) in
QActivation layers, or as fused activations, become quantized_bits / quantized_relu of the
same format. Our regularizers are dropped (they only matter for training). The result loads
with QKeras's custom objects alone; anything of ours left over is an error.
"""

from __future__ import annotations

import json

import numpy as np
import tensorflow as tf

from .channel_po2 import channel_po2_bits
from .fixed_grid import fit_signed_grid
from .squashed_weights import sign_po2_bits, squashed_bits
from .trained_bitwidth import trained_bits
from .transient_formats import FormatError, fixed_point, qkeras_quantizer

WEIGHT_QUANTIZERS = {  # config key -> (live attribute, weight attribute)
    "kernel_quantizer": ("kernel_quantizer_internal", "kernel"),
    "bias_quantizer": ("bias_quantizer_internal", "bias"),
    "depthwise_quantizer": ("depthwise_quantizer_internal", "depthwise_kernel"),
    "pointwise_quantizer": ("pointwise_quantizer_internal", "pointwise_kernel"),
}
INITIALIZER_OF = {"kernel": "kernel_initializer", "bias": "bias_initializer",
                  "depthwise_kernel": "depthwise_initializer", "pointwise_kernel": "pointwise_initializer"}
CONSTRAINT_OF = {"kernel": "kernel_constraint", "bias": "bias_constraint",
                 "depthwise_kernel": "depthwise_constraint", "pointwise_kernel": "pointwise_constraint"}
OUR_CLASS_NAMES = ("squashed_bits", "sign_po2_bits", "trained_bits", "channel_po2_bits", "fixed_point", "AbsCosineRegularizer")
EXPORTED_WEIGHT_QUANTIZERS = (squashed_bits, sign_po2_bits, trained_bits, channel_po2_bits)  # values refitted to one plain grid


def activation_to_qkeras(quantizer):
    """Plain QKeras quantizer with exactly the format of one of our activation quantizers."""
    from qkeras import quantized_bits, quantized_relu
    if isinstance(quantizer, fixed_point):
        return qkeras_quantizer(quantizer.format)
    if isinstance(quantizer, trained_bits):
        fmt = quantizer.fixed_format()
        if fmt["integer"] < 0:
            raise FormatError(
                f"{quantizer.name}: learned range 2**{fmt['integer']} < 1 cannot be expressed by "
                "QKeras (negative integer); train activations with min_range_log2=0")
        if fmt["signed"]:
            return quantized_bits(fmt["bits"], fmt["integer"], alpha=1)
        return quantized_relu(fmt["bits"], fmt["integer"])
    return None


def _short_name(variable) -> str:
    return variable.name.split("/")[-1]


def export_fixed_qkeras(model, qkeras_custom_objects: dict | None = None):
    """Return (plain QKeras model, report). report[layer][weight] = bits, integer, frac, range."""
    from qkeras.utils import _add_supported_quantized_objects

    # The config the h5 writer stores (legacy inbound-node format), so that Keras' legacy
    # loader, the one QKeras layers work with, can rebuild it.
    model.use_legacy_config = True
    try:
        config = model.get_config()
    finally:
        delattr(model, "use_legacy_config")
    layer_configs = {c["config"]["name"]: c for c in config["layers"]}
    new_values, report = {}, {}
    for layer in model.layers:
        cfg = layer_configs[layer.name]["config"]
        values = {}
        for key, (internal, weight_attr) in WEIGHT_QUANTIZERS.items():
            quantizer = getattr(layer, internal, None)
            if not isinstance(quantizer, EXPORTED_WEIGHT_QUANTIZERS):
                continue
            q = np.asarray(quantizer(getattr(layer, weight_attr)), dtype=np.float32)
            fit = fit_signed_grid(q)
            exported = fit.quantizer()
            if not np.array_equal(np.asarray(exported(q)), q):  # the grid fit must be exact
                raise AssertionError(f"{layer.name}.{weight_attr}: {fit} does not reproduce the weights")
            cfg[key] = exported
            cfg[INITIALIZER_OF[weight_attr]] = {"class_name": "Zeros", "config": {}}
            cfg[CONSTRAINT_OF[weight_attr]] = None  # QKeras re-derives Clip from the new quantizer
            values[weight_attr] = q
            report.setdefault(layer.name, {})[weight_attr] = {
                **fit.qkeras_config(), "frac": fit.frac, "min": float(q.min()), "max": float(q.max()),
                "trained_as": str(quantizer) if not isinstance(quantizer, trained_bits)
                else f"trained_bits({quantizer.bits} bits)"}
        # QActivation keeps its quantizer in .quantizer, other layers a fused one in .activation
        live_activation = getattr(layer, "quantizer", None) or getattr(layer, "activation", None)
        exported_act = activation_to_qkeras(live_activation) if "activation" in cfg else None
        if exported_act is not None:
            cfg["activation"] = exported_act
            report.setdefault(layer.name, {})["activation"] = {"qkeras": str(exported_act)}
        for key in list(cfg):
            if key.endswith("_regularizer") and OUR_CLASS_NAMES[-1] in json.dumps(cfg[key], default=str):
                cfg[key] = None
        new_values[layer.name] = values

    leftovers = [name for name, c in layer_configs.items()
                 if any(cls in json.dumps(c, default=_class_name) for cls in OUR_CLASS_NAMES)]
    if leftovers:
        raise ValueError(f"export: layers {leftovers} still use kwsflow quantizers/regularizers the "
                         "exporter does not know how to convert; hls4ml would not read them")

    custom = dict(qkeras_custom_objects or {})
    _add_supported_quantized_objects(custom)
    # Through JSON, the way h5 files store models: QActivation keeps its quantizer as an object
    # in get_config, which only Keras' legacy (h5/JSON) deserialization turns back into one.
    # (keras.src internals: the same calls tf.keras.models.load_model makes for an h5 file)
    from keras.src.saving.legacy import model_config as legacy_model_config
    from keras.src.saving.legacy.saved_model import json_utils
    from keras.src.saving.legacy.saved_model.utils import keras_option_scope
    text = json.dumps({"class_name": model.__class__.__name__, "config": config}, cls=json_utils.Encoder)
    with keras_option_scope(save_traces=False, in_tf_saved_model_scope=True):
        plain = legacy_model_config.model_from_config(json_utils.decode(text), custom_objects=custom)
    for layer in model.layers:
        new_layer = plain.get_layer(layer.name)
        old = {_short_name(w): w.numpy() for w in layer.weights}
        old.update({f"{attr}:0": v for attr, v in new_values[layer.name].items()})
        new_layer.set_weights([old[_short_name(w)] for w in new_layer.weights])
    return plain, report


def _class_name(obj):
    return type(obj).__name__ + " " + str(getattr(obj, "get_config", lambda: {})())
