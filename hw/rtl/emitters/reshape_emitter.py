"""Layers that only reinterpret the stream (Input, Flatten, Reshape): no hardware.

hls4ml flattens channel-last tensors pixel by pixel, channels innermost - the order beats already
arrive in - so a flatten changes nothing on the wires.
"""

from __future__ import annotations

from ..errors import require_same_type
from .base import EmittedLayer, Edge


def emit_passthrough(spec, edge_in: Edge, prefix: str, rf: int) -> EmittedLayer:
    require_same_type(spec)
    return EmittedLayer(layer=spec.name, kind=spec.kind, module=None, verilog="", out=edge_in)
