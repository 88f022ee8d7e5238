"""Small helpers over a Keras functional graph: who feeds a layer, who reads it."""

from __future__ import annotations

from qat.models.scale_graph import inbound_layers

from .quantizer_types import quantizer_config

__all__ = ["consumers", "inbound_layers", "is_linear_quantizer", "producer"]


def producer(layer):
    inbound = inbound_layers(layer)
    return inbound[0] if len(inbound) == 1 else None


def consumers(model, layer) -> list:
    """Layers reading `layer`'s output (a merge reads several producers)."""
    return [l for l in model.layers if any(p is layer for p in inbound_layers(l))]


def is_linear_quantizer(layer) -> bool:
    if type(layer).__name__ != "QActivation":
        return False
    name, _ = quantizer_config(layer.get_config().get("activation"))
    return name == "quantized_bits"
