"""What the emitters need from one hls4ml layer, read once from the ModelGraph.

Emitters never look at Keras: shapes, precisions (as qat.fixed.FixedType) and weights (as raw
integer codes) all come from the hls4ml graph, the single description of the hardware.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from qat.fixed import FixedType
from hw.golden.registry import weight_raw as golden_weight_raw

from .errors import RtlGenerationError, UnsupportedLayerError


@dataclass(frozen=True)
class FusedActivation:
    """A relu / linear Activation layer folded into the MAC layer that feeds it
    (hw/rtl/fuse_activation.py): the MAC's output lanes compute result cast -> activation -> cast."""

    name: str  # the hls4ml Activation layer (its golden trace is the fused stage's output)
    function: str  # "relu" or "linear"
    result_type: FixedType  # the MAC layer's own result type (the activation's input type)


@dataclass
class LayerSpec:
    name: str
    kind: str  # hls4ml layer class, e.g. "Dense", "Activation", "Conv2D"
    in_type: FixedType | None
    out_type: FixedType
    in_shape: tuple[int, ...]
    out_shape: tuple[int, ...]
    attrs: dict = field(default_factory=dict)
    weights: dict = field(default_factory=dict)  # name -> (raw int64 array, FixedType)
    accum: FixedType | None = None
    reuse_factor: int = 1
    inputs: tuple[str, ...] = ()  # names of the layers it reads (two for a merge)
    in_types: tuple[FixedType, ...] = ()  # type of each input
    keras_layer: str = ""  # the Keras layer it comes from when hls4ml split one (QSeparableConv: two halves)
    activation: FusedActivation | None = None  # folded in: out_type/out_shape are then the activation's

    def __post_init__(self):
        self.keras_layer = self.keras_layer or self.name

    @property
    def result_type(self) -> FixedType:
        """The layer's own result type (before a fused activation; else its out_type)."""
        return self.activation.result_type if self.activation is not None else self.out_type


def _fixed(layer, precision, what: str) -> FixedType:
    try:
        return FixedType.from_hls4ml(precision)
    except ValueError as err:
        raise UnsupportedLayerError(layer.name, layer.class_name, f"{what}: {err}") from err


def raw_weights(layer, key: str) -> tuple[np.ndarray, FixedType]:
    """Weights as raw codes of their hls4ml type, converted exactly as hw.golden (the reference)
    converts them: the same function, so RTL ROMs and the golden model cannot drift apart."""
    try:
        return golden_weight_raw(layer, key)
    except ValueError as err:
        raise UnsupportedLayerError(layer.name, layer.class_name, f"{key}: {err}") from err


SPLIT_SUFFIXES = ("_depthwise", "_pointwise")  # hls4ml's seperable_to_dw_conv names the halves so


def split_source(name: str, kind: str, configured: set, layers: set) -> str:
    """The Keras layer an hls4ml layer is half of (hls4ml split a QSeparableConv into
    <name>_depthwise + <name>_pointwise), or its own name: the base must be a layer of the config
    that is no longer in the graph."""
    for suffix in SPLIT_SUFFIXES:
        base = name[: -len(suffix)]
        if name.endswith(suffix) and ("Depthwise" in kind or "Pointwise" in kind) and base in configured \
                and base not in layers:
            return base
    return name


def read_graph(model_graph) -> list[LayerSpec]:
    """LayerSpecs in graph (topological) order, each naming the layers it reads: a chain, or a
    DAG with forks and two-input merges (residual blocks)."""
    specs: list[LayerSpec] = []
    config = getattr(getattr(model_graph, "config", None), "config", None) or {}
    configured = set(config.get("HLSConfig", {}).get("LayerName", {}))
    graph_layers = {layer.name for layer in model_graph.get_layers()}
    writer: dict[str, str] = {}  # hls4ml tensor name -> layer that writes it
    for layer in model_graph.get_layers():
        kind = layer.class_name
        if kind == "Clone" and layer.inputs and layer.inputs[0] in writer:
            for out in layer.outputs:  # io_stream's explicit fork: readers read the original stream
                writer[out] = writer[layer.inputs[0]]
            continue
        out_var = layer.get_output_variable()
        out_type = _fixed(layer, out_var.type.precision, "result type")
        inputs = [i for i in layer.inputs if i]
        if kind != "Input":
            unknown = [i for i in inputs if i not in writer]
            if not inputs or unknown:
                raise UnsupportedLayerError(layer.name, kind, f"reads {unknown or inputs}, which no earlier layer writes")
            in_vars = [layer.get_input_variable(i) for i in inputs]
            in_types = tuple(_fixed(layer, v.type.precision, "input type") for v in in_vars)
            in_type, in_shape = in_types[0], tuple(int(d) for d in in_vars[0].shape)
            sources = tuple(writer[i] for i in inputs)
        else:
            in_type, in_shape = out_type, tuple(int(d) for d in out_var.shape)
            in_types, sources = (), ()
        accum = layer.get_attr("accum_t")
        spec = LayerSpec(
            name=layer.name,
            kind=kind,
            in_type=in_type,
            out_type=out_type,
            in_shape=in_shape,
            out_shape=tuple(int(d) for d in out_var.shape),
            attrs=dict(layer.attributes.items()) if hasattr(layer.attributes, "items") else {},
            accum=_fixed(layer, accum.precision, "accumulator type") if accum is not None else None,
            reuse_factor=int(layer.get_attr("reuse_factor", 1) or 1),
            inputs=sources,
            in_types=in_types,
            keras_layer=split_source(layer.name, kind, configured, graph_layers),
        )
        for key in ("weight", "bias", "depthwise", "pointwise"):
            if key in layer.weights:
                spec.weights[key] = raw_weights(layer, key)
        specs.append(spec)
        writer[layer.outputs[0]] = layer.name
    if not specs:
        raise RtlGenerationError("empty ModelGraph")
    return specs
