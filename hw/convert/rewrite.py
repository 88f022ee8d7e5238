"""Keras-level rewrites applied before the checks and before hls4ml: idioms QKeras users write that
the exact flow carries once they are spelled in the layers it already has.

In the style of hls4ml's optimizer passes: each rewrite is a small class with ``match(layer,
config)`` (on the live layer and its current, possibly already edited, serialized config) and
``transform(edit, layer)``, and a docstring saying when it applies and why the result computes
exactly what QKeras computes for the user's model. ``rewrite(model)`` runs the passes of
``REWRITES`` over every layer and rebuilds the model from the edited config (functional graphs with
forks and residual Adds, and Sequential models); layer names are kept, so overrides, traces and
error messages still speak the user's names. A model no pass matches is returned as the very same
object, so flows without these idioms are untouched.

Like ``qat.quantizers.export_fixed_qkeras`` (which does this for kwsflow's training quantizers) but
for QKeras's own quantizers, and written here because hw/ does not import qat/ training code.
"""

from __future__ import annotations

import copy
import json
import re
import weakref

import numpy as np

from .errors import UnsupportedModelError
from .quantizer_types import QuantizerProblem, activation_type, quantizer_config, quantizer_repr, \
    sign_quantizer_problem, SIGN_QUANTIZERS

__all__ = ["REWRITES", "ExactSignWeights", "SplitFusedActivation", "rewrite", "user_layer_name"]

# serialized quantizer key -> (live quantizer attribute, weight attribute, initializer key, constraint key)
WEIGHT_QUANTIZERS = {
    "kernel_quantizer": ("kernel_quantizer_internal", "kernel", "kernel_initializer", "kernel_constraint"),
    "bias_quantizer": ("bias_quantizer_internal", "bias", "bias_initializer", "bias_constraint"),
    "depthwise_quantizer": ("depthwise_quantizer_internal", "depthwise_kernel", "depthwise_initializer",
                            "depthwise_constraint"),
    "pointwise_quantizer": ("pointwise_quantizer_internal", "pointwise_kernel", "pointwise_initializer",
                            "pointwise_constraint"),
}
MAX_GRID_BITS = 16  # widest plain grid a binary/ternary weight tensor is put on (else: refused, see below)


def _is_linear(act) -> bool:
    return act in (None, "linear") or (isinstance(act, dict) and act.get("class_name") == "linear")


class _Edit:
    """The model's serialized config being edited, the new weight values and the inserted layers."""

    def __init__(self, model):
        model.use_legacy_config = True  # the format the h5 writer stores, which QKeras layers load from
        try:
            self.config = copy.deepcopy(model.get_config())
        finally:
            delattr(model, "use_legacy_config")
        self.model = model
        self.sequential = not any("inbound_nodes" in c for c in self.config["layers"])
        self.values: dict[str, dict[str, np.ndarray]] = {}  # layer -> {weight attribute: new value}
        self.inserted: dict[str, str] = {}  # new layer name -> the user's layer it was split from
        self.changed = False

    def layer_config(self, name: str) -> dict:
        return next(c for c in self.config["layers"] if c["config"]["name"] == name)["config"]

    def names(self) -> set[str]:
        return {c["config"]["name"] for c in self.config["layers"]}

    def derived_name(self, base: str, suffix: str) -> str:
        """A new, unused layer name from a user's one. Never containing 'bias': hls4ml's Keras reader
        takes variables of layers so named for biases (see checks.py)."""
        stem = re.sub("bias", "b", f"{base}_{suffix}", flags=re.IGNORECASE)
        name, i, taken = stem, 2, self.names()
        while name in taken:
            name, i = f"{stem}_{i}", i + 1
        return name

    def insert_after(self, name: str, new: dict) -> None:
        """Insert layer config `new` (class_name + config) so it reads `name`'s outputs and every reader
        of `name` (layers and model outputs) reads it instead; per call node of `name`, one of `new`."""
        layers = self.config["layers"]
        at = next(i for i, c in enumerate(layers) if c["config"]["name"] == name)
        new_name = new["config"]["name"]
        entry = {"class_name": new["class_name"], "config": new["config"]}
        if not self.sequential:
            entry["name"] = new_name
            n_nodes = max(1, len(layers[at].get("inbound_nodes", [])))
            for layer in layers:
                for node in layer.get("inbound_nodes", []):
                    for ref in node:
                        if ref[0] == name:
                            ref[0] = new_name
            for key in ("output_layers",):
                for ref in self.config.get(key, []):
                    if ref[0] == name:
                        ref[0] = new_name
            entry["inbound_nodes"] = [[[name, i, 0, {}]] for i in range(n_nodes)]
        layers.insert(at + 1, entry)
        self.changed = True

    def build(self):
        """The edited model: rebuilt through JSON as an h5 file stores it (QActivation keeps its
        quantizer as an object in get_config, which only Keras' legacy loader turns back into one),
        weights copied by layer name, rewritten ones replaced."""
        from keras.src.saving.legacy import model_config as legacy_model_config
        from keras.src.saving.legacy.saved_model import json_utils
        from keras.src.saving.legacy.saved_model.utils import keras_option_scope
        from qkeras.utils import _add_supported_quantized_objects

        custom: dict = {}
        _add_supported_quantized_objects(custom)
        text = json.dumps({"class_name": self.model.__class__.__name__, "config": self.config}, cls=json_utils.Encoder)
        with keras_option_scope(save_traces=False, in_tf_saved_model_scope=True):
            new = legacy_model_config.model_from_config(json_utils.decode(text), custom_objects=custom)
        old_layers = {layer.name: layer for layer in self.model.layers}
        for layer in new.layers:
            if layer.name not in old_layers:
                continue  # an inserted layer (no weights)
            values = {_short_name(w): w.numpy() for w in old_layers[layer.name].weights}
            values.update({f"{attr}:0": v for attr, v in self.values.get(layer.name, {}).items()})
            layer.set_weights([values[_short_name(w)] for w in layer.weights])
        return new


def _short_name(variable) -> str:
    return variable.name.split("/")[-1]


class SplitFusedActivation:
    """A weight layer with a fused quantizer activation, ``QDense(..., activation=quantized_relu(8,4))``
    (any layer with an ``activation`` and a weight quantizer: QDense, QConv1D/2D, QDepthwiseConv2D,
    QSeparableConv*), becomes the layer with ``activation=None`` followed by
    ``QActivation(<the same quantizer>)``.

    Exact: QKeras's layers compute ``self.activation(<linear output>)`` and QActivation computes
    ``self.quantizer(x)`` with the very same quantizer object type and config, in float32 on the same
    values. Only quantizers ``activation_type`` accepts (quantized_relu / quantized_bits as carried) are
    split; anything else stays fused and is refused by the checks with the reason.
    """

    def match(self, layer, config: dict) -> bool:
        act = config.get("activation")
        if _is_linear(act) or type(layer).__name__ == "QActivation":
            return False
        if not any(config.get(key) is not None for key in WEIGHT_QUANTIZERS):
            return False
        if isinstance(act, str) and "(" not in act:
            return False  # a plain Keras activation ('relu'): float, refused by the checks
        try:
            activation_type(act)
        except QuantizerProblem:
            return False
        return True

    def transform(self, edit: _Edit, layer) -> None:
        config = edit.layer_config(layer.name)
        act = config["activation"]
        if isinstance(act, str):  # 'quantized_relu(8,4)' as a string: its serialized object
            from qkeras.quantizers import get_quantizer
            from tensorflow import keras

            act = keras.utils.serialize_keras_object(get_quantizer(act))
        name, act_config = quantizer_config(act)
        # QActivation's config holds its quantizer the way the legacy (h5) config does
        act = {"class_name": name, "config": act_config, "__passive_serialization__": True}
        config["activation"] = "linear"
        new = edit.derived_name(layer.name, name.replace("quantized_", "q"))
        edit.insert_after(layer.name, {"class_name": "QActivation", "config": {
            "name": new, "trainable": config.get("trainable", True), "dtype": config.get("dtype", "float32"),
            "activation": act}})
        edit.inserted[new] = layer.name


class ExactSignWeights:
    """A binary/ternary weight quantizer (``binary(alpha=1)``, ``ternary(alpha=1)``, alpha None, a
    power-of-two alpha, or ``alpha='auto_po2'`` with its per-output-channel power-of-two gains) is
    replaced by its values and a plain ``quantized_bits(bits, integer, alpha=1)`` whose grid holds
    every one of them: +-1 -> quantized_bits(2,1); +-2**k_c and 0 -> the smallest grid with all.

    Exact: at inference QKeras multiplies by ``quantizer(stored weight)``; those values are computed
    here with the layer's own quantizer object on its stored weight (what QKeras's call computes),
    and quantized_bits on a grid that contains a value returns it unchanged (checked), so QKeras
    computes the same on the rewritten model. hls4ml then reads plain fixed-point weights (no XNOR 0/1
    encoding, no ApplyAlpha layer); the RTL stores +-2**k_c columns as a narrow ROM + one shift per
    output channel (hw/rtl/channel_shift.py).
    Refused (by the checks, sign_quantizer_problem): use_01, alpha='auto' or a non-power-of-two alpha,
    stochastic rounding / stochastic_* classes; here: values on a grid wider than MAX_GRID_BITS.
    """

    def match(self, layer, config: dict) -> bool:
        return any(self._carried(config.get(key)) for key in WEIGHT_QUANTIZERS)

    @staticmethod
    def _carried(quantizer) -> bool:
        return quantizer is not None and quantizer_config(quantizer)[0] in SIGN_QUANTIZERS \
            and sign_quantizer_problem(quantizer) is None

    def transform(self, edit: _Edit, layer) -> None:
        from qkeras import quantized_bits
        from tensorflow import keras

        config = edit.layer_config(layer.name)
        for key, (live, attr, init_key, constraint_key) in WEIGHT_QUANTIZERS.items():
            if not self._carried(config.get(key)):
                continue
            quantizer = getattr(layer, live)
            shown = quantizer_repr(config[key])
            values = np.asarray(quantizer(getattr(layer, attr)), dtype=np.float32)
            bits, integer = _exact_grid(values)
            if bits > MAX_GRID_BITS:
                scales = np.unique(np.abs(values[values != 0]))
                raise UnsupportedModelError([(layer.name, (
                    f"{key}: {shown} gives {attr} values {_scales_text(scales)}, which need a {bits}-bit grid "
                    f"(more than {MAX_GRID_BITS}); an all-zero output channel gets QKeras's scale 2**-23. "
                    "Use alpha=1 or prune the channel"))])
            exported = quantized_bits(bits, integer, alpha=1)
            if not np.array_equal(np.asarray(exported(values)), values):  # the grid must hold every value
                raise AssertionError(f"{layer.name}.{attr}: quantized_bits({bits},{integer}) does not hold {shown}'s values")
            config[key] = keras.utils.serialize_keras_object(exported)
            config[init_key] = {"class_name": "Zeros", "config": {}}  # QInitializer would carry the old quantizer
            if constraint_key in config:
                config[constraint_key] = None  # QKeras re-derives its Clip from the new quantizer
            edit.values.setdefault(layer.name, {})[attr] = values
            edit.changed = True


def _exact_grid(values: np.ndarray) -> tuple[int, int]:
    """(bits, integer >= 0) of the smallest signed quantized_bits grid holding every value exactly."""
    v = np.asarray(values, dtype=np.float64)
    frac = 0
    while frac < 64 and not np.all(np.mod(v * 2.0 ** frac, 1.0) == 0):
        frac += 1
    ints = np.round(v * 2.0 ** frac) if v.size else np.zeros(1)
    # two's complement with `frac` fraction bits: -2**n <= k <= 2**n - 1; integer = n - frac
    need = max(int(-ints.min()) if ints.min() < 0 else 0, int(ints.max()) + 1 if ints.max() >= 0 else 0, 1)
    n = (need - 1).bit_length()
    integer = max(0, n - frac)
    bits = integer + frac + 1
    if bits < 2:  # quantized_bits with 1 bit is a sign function, not a grid
        frac, bits = frac + 2 - bits, 2
    return bits, integer


def _scales_text(scales: np.ndarray) -> str:
    logs = sorted({int(np.log2(s)) for s in scales if s > 0 and np.log2(s) == np.round(np.log2(s))})
    if logs and len(logs) == len(scales):
        return f"+-2**k with k in {logs[0]}..{logs[-1]}"
    return f"{len(scales)} distinct magnitudes from {scales.min():g} to {scales.max():g}"


REWRITES = (ExactSignWeights(), SplitFusedActivation())

_INSERTED: "weakref.WeakKeyDictionary" = weakref.WeakKeyDictionary()  # rewritten model -> {new layer: user layer}


def rewrite(model):
    """The model with every REWRITES pass applied (a new model), or `model` itself if none matches."""
    edit = None
    for layer in model.layers:
        for rewrite_pass in REWRITES:
            config = edit.layer_config(layer.name) if edit is not None else layer.get_config()
            if rewrite_pass.match(layer, config):
                if edit is None:
                    edit = _Edit(model)
                rewrite_pass.transform(edit, layer)
    if edit is None or not edit.changed:
        return model
    new = edit.build()
    _INSERTED[new] = dict(edit.inserted)
    return new


def user_layer_name(model, name: str) -> str:
    """The user's layer a (possibly inserted) layer of a rewritten model stands for."""
    return _INSERTED.get(model, {}).get(name, name)
