"""QKeras model -> hls4ml 1.3 ModelGraph whose fixed-point arithmetic equals QKeras bit for bit.

Three steps, all before any C++ is written:

1. ``check_supported``: every layer and quantizer is one the exact flow handles; otherwise one
   ``UnsupportedModelError`` lists every offending layer and what to use instead.
2. ``build_hls_config``: hls4ml's per-layer config (granularity='name') with the precisions that
   hls4ml gets wrong by default set explicitly (input, activations, dropped trailing quantizers and
   the hidden ``<layer>_linear`` activations, average-pooling accumulators).
3. ``convert``: ``hls4ml.converters.convert_from_keras_model`` with the chosen backend
   (Vitis/Vivado), io type, strategy and reuse factor.

Per-layer precision overrides (``run_overrides``): ``build/<run>/hls_precisions.json`` written by
QAT schemes (e.g. paper A's trained transient accumulator formats), then the run config's
``hls.precision_overrides``; they are applied last, on top of the carried precisions.

Quantizer -> type mapping (``weight_type``, ``activation_type``) also lives here: QKeras
quantizers with alpha=1 put values on a power-of-two grid with ``tf.round`` (half to even) and
clipping, i.e. ``ap_fixed`` with ``RND_CONV`` + ``SAT``.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from hw.fixed import FixedType

# ============================================================================ quantizers
class QuantizerProblem(ValueError):
    """A quantizer the flow cannot reproduce bit-exactly; ``str()`` says what to use instead."""


def _cfg(quantizer) -> tuple[str, dict]:
    """(class name, config dict) for a quantizer object, a serialized dict or a string."""
    if quantizer is None:
        return "None", {}
    if isinstance(quantizer, dict):
        return quantizer.get("class_name", "?"), dict(quantizer.get("config", {}))
    if isinstance(quantizer, str):
        from qkeras.quantizers import get_quantizer

        quantizer = get_quantizer(quantizer)
    if hasattr(quantizer, "get_config"):
        return type(quantizer).__name__, dict(quantizer.get_config())
    return getattr(quantizer, "__name__", type(quantizer).__name__), {}


def _common_checks(name: str, cfg: dict) -> None:
    alpha = cfg.get("alpha", None)
    if alpha is not None and not (isinstance(alpha, (int, float)) and float(alpha) == 1.0):
        raise QuantizerProblem(
            f"{name}(alpha={alpha!r}): scaled quantizers are not carried exactly; use alpha=1 and choose "
            "the grid with the integer-bit argument (a power-of-two scale is just different integer bits)"
        )
    if cfg.get("use_stochastic_rounding", False):
        raise QuantizerProblem(f"{name}(use_stochastic_rounding=True): use deterministic rounding")
    if float(cfg.get("qnoise_factor", 1.0)) != 1.0:
        raise QuantizerProblem(f"{name}(qnoise_factor={cfg['qnoise_factor']}): set qnoise_factor=1 for inference")


# kwsflow's QAT weight quantizers (by class name: hw/ imports nothing of qat/); their exporter turns
# each into a plain quantized_bits on the grid the trained values lie on (per-channel scales included)
TRAINING_QUANTIZERS = ("channel_po2_bits", "squashed_bits", "trained_bits")


def weight_type(quantizer) -> FixedType:
    """Type of a kernel/bias quantizer's values: quantized_bits(b, i) -> fixed<b, i+1>.

    The weights are constants, so rounding/overflow modes do not matter; they are TRN/WRAP as hls4ml
    writes them.
    """
    name, cfg = _cfg(quantizer)
    if name in TRAINING_QUANTIZERS:
        raise QuantizerProblem(
            f"{name} is a training-time quantizer; export the model to plain QKeras first "
            "(qat.quantizers.export_fixed_qkeras; a run's saved model.h5 already is)")
    if name != "quantized_bits":
        raise QuantizerProblem(
            f"{name} weights are not supported by the exact flow; use quantized_bits(bits, integer, alpha=1)"
        )
    _common_checks(name, cfg)
    bits, integer = int(cfg.get("bits", 8)), int(cfg.get("integer", 0))
    if not cfg.get("keep_negative", True):
        raise QuantizerProblem("quantized_bits(keep_negative=False) weights: hls4ml reads them as signed; use keep_negative=True")
    if bits < 2:
        raise QuantizerProblem("1-bit (binary) weights are read as 0/1 by hls4ml; use bits >= 2")
    if integer >= bits:
        raise QuantizerProblem(
            f"quantized_bits({bits},{integer}) weights: hls4ml maps integer == bits to int<{bits}>, which is a "
            "different grid; use integer < bits"
        )
    return FixedType(bits, integer + 1, True)


def activation_type(quantizer) -> FixedType:
    """Type of a QActivation's output.

    quantized_bits(b, i) -> fixed<b, i+1, RND_CONV, SAT> (SAT_SYM when symmetric),
    quantized_bits(b, i, keep_negative=False) -> ufixed<b, i, RND_CONV, SAT>,
    quantized_relu(b, i) -> ufixed<b, i, RND_CONV, SAT>.
    """
    name, cfg = _cfg(quantizer)
    if name == "quantized_bits":
        _common_checks(name, cfg)
        bits, integer = int(cfg.get("bits", 8)), int(cfg.get("integer", 0))
        if bits < 2:
            raise QuantizerProblem("1-bit quantized_bits activations are binary; use bits >= 2")
        if not cfg.get("keep_negative", True):
            return FixedType(bits, integer, False, "RND_CONV", "SAT")
        overflow = "SAT_SYM" if cfg.get("symmetric", False) else "SAT"
        return FixedType(bits, integer + 1, True, "RND_CONV", overflow)
    if name == "quantized_relu":
        _common_checks(name, cfg)
        if cfg.get("use_sigmoid", 0):
            raise QuantizerProblem("quantized_relu(use_sigmoid=1) is not a plain ReLU; use quantized_relu(bits, integer)")
        if float(cfg.get("negative_slope", 0.0) or 0.0) != 0.0:
            raise QuantizerProblem("quantized_relu(negative_slope != 0) (leaky) is not supported; use negative_slope=0")
        if cfg.get("relu_upper_bound", None) is not None:
            raise QuantizerProblem("quantized_relu(relu_upper_bound=...) adds a clip hls4ml does not know; remove it")
        return FixedType(int(cfg.get("bits", 8)), int(cfg.get("integer", 0)), False, "RND_CONV", "SAT")
    instead = {
        "quantized_relu_po2": "quantized_relu(bits, integer)",
        "quantized_po2": "quantized_bits(bits, integer, alpha=1)",
        "quantized_ulaw": "quantized_bits(bits, integer, alpha=1)",
        "quantized_tanh": "quantized_bits after a ReLU, or a plain quantized_relu",
        "quantized_sigmoid": "quantized_relu",
    }.get(name, "quantized_bits(bits, integer, alpha=1) or quantized_relu(bits, integer)")
    raise QuantizerProblem(f"activation quantizer {name} is not supported by the exact flow; use {instead}")


# ============================================================================ model checks
class UnsupportedModelError(ValueError):
    """Raised before any C++ is written; lists every offending layer and what to use instead."""

    def __init__(self, problems: list[tuple[str, str]]):
        self.problems = problems
        lines = [f"  - {layer}: {why}" for layer, why in problems]
        super().__init__("model cannot be converted bit-exactly:\n" + "\n".join(lines))


# Kernel attribute name of each supported weight layer (QKeras class -> quantizer attribute).
WEIGHT_LAYERS = {"QDense": "kernel", "QConv1D": "kernel", "QConv2D": "kernel", "QDepthwiseConv2D": "depthwise"}
PASSTHROUGH_LAYERS = {"InputLayer", "Flatten", "Reshape", "Dropout"}
POOLING_LAYERS = {"AveragePooling1D", "AveragePooling2D", "MaxPooling1D", "MaxPooling2D"}
# Keras merge layers hls4ml turns into its Merge layer; only Add is exact here (see _merge_problems).
MERGE_LAYERS = {"Add", "Subtract", "Multiply", "Average", "Maximum", "Minimum", "Concatenate", "Dot"}

# What to use instead of each unsupported Keras/QKeras layer class (full advice, starts with a verb).
_INSTEAD = {
    "Dense": "use QDense", "Conv1D": "use QConv1D", "Conv2D": "use QConv2D", "DepthwiseConv2D": "use QDepthwiseConv2D",
    "BatchNormalization": "fold BatchNorm into the preceding layer before QAT (qat.models.fold)",
    "QBatchNormalization": "fold BatchNorm into the preceding layer before QAT (qat.models.fold)",
    "QConv2DBatchnorm": "fold BatchNorm into a plain QConv2D before export",
    "QDepthwiseConv2DBatchnorm": "fold BatchNorm into a plain QDepthwiseConv2D before export",
    "QAveragePooling2D": "use AveragePooling2D followed by QActivation(quantized_bits(...))",
    "GlobalAveragePooling2D": "use AveragePooling2D over the whole map followed by QActivation(quantized_bits(...))",
    "GlobalAveragePooling1D": "use AveragePooling1D over the whole sequence followed by QActivation(quantized_bits(...))",
    "QGlobalAveragePooling2D": "use AveragePooling2D followed by QActivation(quantized_bits(...))",
    "Activation": "use QActivation(quantized_relu(bits, integer)) or QActivation(quantized_bits(...))",
    "ReLU": "use QActivation(quantized_relu(bits, integer))",
    "Softmax": "end the model with logits (trailing quantized_bits); take argmax outside the network",
    "QSeparableConv2D": "use QDepthwiseConv2D followed by a 1x1 QConv2D",
    "SeparableConv2D": "use QDepthwiseConv2D followed by a 1x1 QConv2D",
}
for _rnn in ("LSTM", "GRU", "SimpleRNN", "QLSTM", "QGRU", "QSimpleRNN", "Bidirectional", "TimeDistributed"):
    _INSTEAD[_rnn] = "recurrent layers have no exact hardware mapping here; use the streaming FFN (QDense stack) or DS-CNN"


def _quantizer_problem(fn, quantizer) -> str | None:
    try:
        fn(quantizer)
    except QuantizerProblem as err:
        return str(err)
    return None


def check_supported(model, strategy: str = "Latency") -> None:
    """Raise UnsupportedModelError listing every layer the exact flow cannot handle."""
    problems: list[tuple[str, str]] = []
    layers = model.layers
    for layer in layers:
        cls, cfg, name = type(layer).__name__, layer.get_config(), layer.name
        if cls in WEIGHT_LAYERS:
            kq = cfg.get(f"{WEIGHT_LAYERS[cls]}_quantizer")
            if kq is None:
                problems.append((name, f"{cls} without {WEIGHT_LAYERS[cls]}_quantizer; use quantized_bits(bits, integer, alpha=1)"))
            elif (why := _quantizer_problem(weight_type, kq)):
                problems.append((name, f"{WEIGHT_LAYERS[cls]}_quantizer: {why}"))
            if cfg.get("use_bias", True):
                bq = cfg.get("bias_quantizer")
                if bq is None:
                    problems.append((name, "unquantized bias gets hls4ml's default fixed<16,6>; add bias_quantizer=quantized_bits(...)"))
                elif (why := _quantizer_problem(weight_type, bq)):
                    problems.append((name, f"bias_quantizer: {why}"))
            elif "bias" in name.lower():
                problems.append((name, "bias-less layer whose name contains 'bias': hls4ml would load its kernel as the bias; rename it"))
            act = cfg.get("activation")
            if act not in (None, "linear") and not (isinstance(act, dict) and act.get("class_name") == "linear"):
                problems.append((name, f"fused activation {act!r}; use activation=None and a separate QActivation"))
            if cls == "QDepthwiseConv2D":
                if cfg.get("depth_multiplier", 1) != 1:
                    problems.append((name, "depth_multiplier != 1 aborts hls4ml's C simulation; use depth_multiplier=1 (+ a 1x1 QConv2D)"))
                if strategy.lower() == "resource":
                    problems.append((name, "Strategy 'Resource' with a depthwise conv aborts hls4ml's C simulation; use Strategy 'Latency'"))
            if cfg.get("dilation_rate", 1) not in (1, (1,), (1, 1), [1], [1, 1]):
                problems.append((name, "dilated convolutions are not supported; use dilation_rate=1"))
        elif cls == "QActivation":
            if (why := _quantizer_problem(activation_type, cfg.get("activation"))):
                problems.append((name, why))
        elif cls in POOLING_LAYERS:
            if cfg.get("padding", "valid") != "valid":
                problems.append((name, "pooling with padding='same' is not supported; use padding='valid'"))
            if cls.startswith("Average"):
                after = _consumers(model, layer)
                window = int(np.prod(cfg["pool_size"]))
                quantized_after = len(after) == 1 and _is_linear_quantizer(after[0])
                if not quantized_after and window & (window - 1):
                    problems.append((name, f"mean over {window} cells has no exact finite type; follow it with QActivation(quantized_bits(...))"))
                before = _producer(layer)
                while before is not None and type(before).__name__ in PASSTHROUGH_LAYERS - {"InputLayer"}:
                    before = _producer(before)  # Dropout/Flatten keep the type
                if before is None or type(before).__name__ != "QActivation":
                    problems.append((name, "average pooling needs a QActivation before it (its input type must be known)"))
        elif cls in MERGE_LAYERS:
            problems += _merge_problems(model, layer)
        elif cls in PASSTHROUGH_LAYERS:
            pass
        else:
            instead = _INSTEAD.get(cls, "use one of " + ", ".join(sorted(set(WEIGHT_LAYERS) | POOLING_LAYERS | {"QActivation", "Flatten", "Add"})))
            problems.append((name, f"{cls} is not supported; {instead}"))
    for layer in layers:
        if layer.name in RESERVED_NAMES:
            problems.append((layer.name, f"hls4ml reserves the layer name {layer.name!r}; rename the layer (e.g. 'features')"))
    inputs = [l for l in layers if type(l).__name__ == "InputLayer"]
    for inp in inputs:
        after = _consumers(model, inp)
        if not (len(after) == 1 and _is_linear_quantizer(after[0])):
            problems.append((inp.name, "the input must be followed by QActivation(quantized_bits(bits, integer, alpha=1))"))
    if problems:
        raise UnsupportedModelError(problems)


RESERVED_NAMES = ("input",)  # hls4ml's ModelGraph refuses these layer names


def _merge_problems(model, layer) -> list[tuple[str, str]]:
    """An Add of two tensors of one shape, followed by one QActivation.

    hls4ml's nnet::add sums exactly (ap_fixed + ap_fixed widens) and converts once to the Merge's
    result type, which its precision inference makes the exact sum type; QKeras adds in float32,
    exact for our widths. The QActivation after it gives the sum the fixed format the next layers
    (and the RTL) see; without it the exact sum's width would grow block after block."""
    cls, name = type(layer).__name__, layer.name
    if cls != "Add":
        return [(name, f"{cls} is not supported; of the merge layers only Add (residual sums) is")]
    inbound = _inbound(layer)
    if len(inbound) != 2:
        return [(name, f"Add of {len(inbound)} tensors; hls4ml's Merge takes exactly two (chain two-input Adds)")]
    shapes = {tuple(t.shape[1:]) for t in layer.input}
    if len(shapes) != 1:
        return [(name, f"Add of different shapes {sorted(shapes)} (broadcasting) is not supported")]
    after = _consumers(model, layer)
    if not (len(after) == 1 and type(after[0]).__name__ == "QActivation"):
        return [(name, "Add must be followed by one QActivation (quantized_relu or quantized_bits) giving the sum "
                       "its fixed format")]
    return []


def _inbound(layer) -> list:
    nodes = layer._inbound_nodes
    if not nodes:
        return []
    inbound = nodes[0].inbound_layers
    return list(inbound) if isinstance(inbound, (list, tuple)) else [inbound]


def _producer(layer):
    inbound = _inbound(layer)
    return inbound[0] if len(inbound) == 1 else None


def _consumers(model, layer) -> list:
    """Layers reading `layer`'s output (a merge reads several producers)."""
    return [l for l in model.layers if any(p is layer for p in _inbound(l))]


def _is_linear_quantizer(layer) -> bool:
    if type(layer).__name__ != "QActivation":
        return False
    name, _ = _cfg(layer.get_config().get("activation"))
    return name == "quantized_bits"


# ============================================================================ hls4ml config
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


def build_hls_config(
    model,
    backend: str = "Vitis",
    strategy: str = "Latency",
    reuse_factor: int = 1,
    overrides: dict | None = None,
    trace: bool = False,
) -> dict:
    """hls4ml config (granularity='name') with every precision that matters set explicitly.

    - Input layer: the input quantizer's type (so no double rounding of float inputs).
    - QActivation: the quantizer's exact type (RND_CONV + SAT), see ``activation_type``.
    - Weight layers followed by a linear quantizer: that type is carried onto the layer's result
      *and* onto hls4ml's hidden ``<layer>_linear`` activation, because hls4ml merges/drops the
      quantizer and would otherwise keep a wide or default (fixed<16,6>) type.
    - Average pooling: exact accumulator and the following quantizer's type as result.
    - ``overrides``: {layer: {"accum": "fixed<..>", ...}} applied last (e.g. transient formats).
    - ``trace``: every layer traced, so ``ModelGraph.trace`` can localize mismatches.
    """
    import hls4ml

    check_supported(model, strategy)
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
        if cls == "QActivation":
            t = activation_type(kcfg["activation"])
            prec["result"] = t.to_hls()
            types[name] = t
            before = _producer(layer)
            if before is None:
                continue
            bcls = type(before).__name__
            if bcls == "InputLayer":
                names.setdefault(before.name, {}).setdefault("Precision", {})["result"] = t.to_hls()
            elif _is_linear_quantizer(layer) and bcls in WEIGHT_LAYERS:
                names[before.name]["Precision"]["result"] = t.to_hls()
                names.setdefault(f"{before.name}_linear", {}).setdefault("Precision", {})["result"] = t.to_hls()
        elif cls in POOLING_LAYERS:
            before = _producer(layer)
            in_t = types.get(before.name) if before is not None else None
            if cls.startswith("Average"):
                after = _consumers(model, layer)
                out_t = activation_type(after[0].get_config()["activation"]) if len(after) == 1 and _is_linear_quantizer(after[0]) else None
                acc_t, out_t = _pool_types(in_t, int(np.prod(kcfg["pool_size"])), out_t)
            else:
                acc_t = out_t = in_t
            if acc_t is not None:
                prec["accum"] = acc_t.to_hls()
                prec["result"] = out_t.to_hls()
                types[name] = out_t
        elif cls in PASSTHROUGH_LAYERS and cls != "InputLayer":
            before = _producer(layer)
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
        for field, text in fields.items():
            names[name].setdefault("Precision", {})[field] = text
    return cfg


def _layer_named(model, name):
    return next((layer for layer in model.layers if layer.name == name), None)


# ============================================================================ precision overrides
PRECISIONS_FILE = "hls_precisions.json"  # written by QAT schemes with trained transient formats


def normalize_overrides(data: dict | None, source: str = "precision overrides") -> dict[str, dict[str, str]]:
    """{layer: {field: "fixed<W,I,Q,O>"}} from any of the accepted spellings:

    - hls4ml's own config part ``{"LayerName": {layer: {"Precision": {field: type}}}}`` (what
      ``qat.quantizers.hls4ml_precisions`` and thus ``hls_precisions.json`` contain),
    - ``{layer: {"Precision": {field: type}}}``,
    - ``{layer: {field: type}}`` (config.yaml ``hls.precision_overrides``).

    Every type is parsed (so a typo fails here, not in C++) and written in canonical form.
    """
    data = dict(data or {})
    if "LayerName" in data:
        extra = sorted(set(data) - {"LayerName"})
        if extra:
            raise ValueError(f"{source}: only 'LayerName' is supported, found also {extra}")
        data = dict(data["LayerName"] or {})
    out: dict[str, dict[str, str]] = {}
    for layer, fields in data.items():
        if not isinstance(fields, dict):
            raise ValueError(f"{source}: layer {layer!r} needs a mapping of precision fields, got {fields!r}")
        if "Precision" in fields:
            if set(fields) - {"Precision"}:
                raise ValueError(f"{source}: layer {layer!r}: only 'Precision' is supported, got {sorted(fields)}")
            fields = fields["Precision"]
        out[layer] = {}
        for field, text in dict(fields).items():
            try:
                out[layer][str(field)] = FixedType.parse(str(text)).to_hls()
            except ValueError as exc:
                raise ValueError(f"{source}: layer {layer!r} {field}: {exc}") from exc
    return out


def merge_overrides(*sources: dict | None) -> dict[str, dict[str, str]]:
    """Later sources win per (layer, field)."""
    out: dict[str, dict[str, str]] = {}
    for src in sources:
        for layer, fields in normalize_overrides(src).items():
            out.setdefault(layer, {}).update(fields)
    return out


def run_overrides(run_dir, config: dict | None = None) -> dict[str, dict[str, str]]:
    """Precision overrides of a run: ``hls_precisions.json`` (trained transient formats), then the
    config's ``hls.precision_overrides`` (hand-written, wins)."""
    import json

    path = Path(run_dir) / PRECISIONS_FILE
    trained = normalize_overrides(json.loads(path.read_text()), str(path)) if path.exists() else None
    by_hand = ((config or {}).get("hls") or {}).get("precision_overrides")
    return merge_overrides(trained, by_hand)


# ============================================================================ conversion
BACKENDS = ("Vitis", "Vivado")
IO_TYPES = ("io_parallel", "io_stream")
STRATEGIES = ("Latency", "Resource")


@dataclass(frozen=True)
class HlsSettings:
    """What the user chooses about the HLS implementation (not about numerics)."""

    backend: str = "Vitis"
    io_type: str = "io_parallel"
    strategy: str = "Latency"
    reuse_factor: int = 1
    part: str | None = None
    clock_period: float = 5.0

    def __post_init__(self):
        if self.backend not in BACKENDS:
            raise ValueError(f"backend {self.backend!r}: use one of {BACKENDS}")
        if self.io_type not in IO_TYPES:
            raise ValueError(f"io_type {self.io_type!r}: use one of {IO_TYPES}")
        if self.strategy not in STRATEGIES:
            raise ValueError(f"strategy {self.strategy!r}: use one of {STRATEGIES}")
        if int(self.reuse_factor) < 1:
            raise ValueError(f"reuse_factor must be >= 1, got {self.reuse_factor}")

    @classmethod
    def from_dict(cls, data: dict | None) -> "HlsSettings":
        data = dict(data or {})
        known = {f for f in cls.__dataclass_fields__}
        unknown = sorted(set(data) - known)
        if unknown:
            raise ValueError(f"unknown hls setting(s) {unknown}; known: {sorted(known)}")
        return cls(**data)


def load_run(run_dir) -> tuple[object, dict]:
    """(QKeras model, run config dict) from ``build/<run>/`` (model.h5 + config.yaml)."""
    import yaml

    run_dir = Path(run_dir)
    model_path = run_dir / "model.h5"
    if not model_path.exists():
        raise FileNotFoundError(f"{model_path} not found: train the run first")
    config_path = run_dir / "config.yaml"
    config = yaml.safe_load(config_path.read_text()) if config_path.exists() else {}
    try:
        from qat.models import load_model
    except ImportError:  # training side not importable: fall back to QKeras's own custom objects
        from qkeras.utils import load_qmodel as load_model
    return load_model(model_path), (config or {})


def convert(
    model,
    output_dir,
    settings: HlsSettings | None = None,
    overrides: dict | None = None,
    project_name: str = "myproject",
    trace: bool = False,
):
    """QKeras ``keras.Model`` -> hls4ml ModelGraph whose C simulation is bit-exact to QKeras.

    Raises UnsupportedModelError (before anything is written) for layers/quantizers the exact flow
    cannot handle. The HLS project is written to ``output_dir`` by ``write()``/``compile()``.
    """
    import hls4ml

    settings = settings or HlsSettings()
    cfg = build_hls_config(model, settings.backend, settings.strategy, settings.reuse_factor, overrides, trace)
    kwargs = dict(
        hls_config=cfg,
        output_dir=str(output_dir),
        project_name=project_name,
        backend=settings.backend,
        io_type=settings.io_type,
        clock_period=settings.clock_period,
    )
    if settings.part:
        kwargs["part"] = settings.part
    return hls4ml.converters.convert_from_keras_model(model, **kwargs)
