"""Where each linear layer's input scale comes from, for power-of-two rescaling of a graph with
merges (residual Adds).

`qat.models.fold.po2_rescale` multiplies a layer's output by a power of two and divides the next
layer's kernel by it. Along a chain "the next layer" is obvious; with a residual Add, both
branches entering the Add must carry one common scale (a sum of differently scaled tensors is
not a rescaled sum), and the layer after the Add reads that common scale. This module reads the
float Keras model once and says, per linear layer, which tensor scale it reads and whether its
output goes into a merge (its scale is then chosen together with the other branch).

Layers that commute with a positive scale (ReLU, pooling, dropout, reshapes, zero padding,
cropping, the BatchNorm that is folded into its linear layer) are looked through.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from tensorflow import keras

LINEAR = (keras.layers.Conv1D, keras.layers.Conv2D, keras.layers.DepthwiseConv2D, keras.layers.Dense)
MERGE = (keras.layers.Add,)
# positive scales pass through these unchanged (max/mean/ReLU of s*x is s times that of x)
TRANSPARENT = ("ReLU", "Dropout", "Reshape", "Flatten", "AveragePooling1D", "AveragePooling2D", "MaxPooling1D",
               "MaxPooling2D", "GlobalAveragePooling1D", "GlobalAveragePooling2D", "ZeroPadding1D", "ZeroPadding2D",
               "Cropping1D", "Cropping2D", "QActivation")


class ScaleGraphError(ValueError):
    """A graph whose scales cannot be balanced with power-of-two factors without changing its function."""


@dataclass
class ScaleGraph:
    order: list[str]  # linear layers and merges, topological order
    reads: dict[str, tuple[str | None, ...]]  # node -> scale source of each input (None: the model input)
    into_merge: set[str] = field(default_factory=set)  # linear layers whose output only feeds a merge
    to_output: set[str] = field(default_factory=set)  # linear layers writing the model output
    merges: set[str] = field(default_factory=set)


def inbound_layers(layer) -> list:
    """The layers feeding `layer` in a functional Keras graph (first call node)."""
    nodes = layer._inbound_nodes
    if not nodes:
        return []
    inbound = nodes[0].inbound_layers
    return list(inbound) if isinstance(inbound, (list, tuple)) else [inbound]


def _transparent(layer) -> bool:
    name = type(layer).__name__
    if isinstance(layer, keras.layers.BatchNormalization):
        return layer.name.endswith("_bn")  # folded into its linear layer (qat.models.fold)
    if name == "Activation":
        return layer.get_config().get("activation") in ("relu", "linear")
    return name in TRANSPARENT


def _source(layer) -> str | None:
    """Scale source of `layer`'s output: a linear layer, a merge, or None (the model input)."""
    while True:
        if isinstance(layer, keras.layers.InputLayer):
            return None
        if isinstance(layer, LINEAR + MERGE):
            return layer.name
        if not _transparent(layer):
            raise ScaleGraphError(f"layer {layer.name!r} ({type(layer).__name__}): power-of-two rescaling cannot "
                                  "look through it")
        inbound = inbound_layers(layer)
        if len(inbound) != 1:
            raise ScaleGraphError(f"layer {layer.name!r} has {len(inbound)} inputs but is not a merge")
        layer = inbound[0]


def _sink(model, layer) -> str:
    """'merge', 'output' or 'other': where `layer`'s output goes, looking through transparent layers."""
    while True:
        consumers = [l for l in model.layers if any(p is layer for p in inbound_layers(l))]
        if not consumers:
            return "output"
        if len(consumers) != 1:
            return "other"
        layer = consumers[0]
        if isinstance(layer, MERGE):
            return "merge"
        if not _transparent(layer):
            return "other"


def scale_graph(model) -> ScaleGraph | None:
    """The graph's scale dependencies, or None for a model without merges (a chain: rescaled as before)."""
    if not any(isinstance(l, MERGE) for l in model.layers):
        return None
    g = ScaleGraph(order=[], reads={})
    for layer in model.layers:
        if isinstance(layer, LINEAR + MERGE):
            g.order.append(layer.name)
            g.reads[layer.name] = tuple(_source(p) for p in inbound_layers(layer))
            if isinstance(layer, MERGE):
                g.merges.add(layer.name)
                continue
            sink = _sink(model, layer)
            if sink == "merge":
                g.into_merge.add(layer.name)
            elif sink == "output":
                g.to_output.add(layer.name)
    return g
