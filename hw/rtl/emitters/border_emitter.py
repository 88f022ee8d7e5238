"""Zero padding and cropping of a streamed map, one pixel per beat, no buffering:

- ZeroPadding1D/2D (Keras's own, or inserted by hls4ml's io_stream flow before 'same'
  convolutions) -> kws_zeropad: zero pixels around the map;
- Cropping1D/2D (Keras) -> kws_crop: drops the cropped rows/columns (e.g. the right-aligned
  shortcut of an unpadded residual block).
"""

from __future__ import annotations

from ..errors import UnsupportedLayerError, require_same_type
from .base import EmittedLayer, Edge

SIDES = ("top", "bottom", "left", "right")


def border_geometry(spec, attr: str) -> tuple[int, int, tuple[int, int, int, int]]:
    """(rows, columns, amounts per side in SIDES order) of a padding (`attr` 'pad') or cropping
    ('crop') layer's input map, from hls4ml's attributes; a 1-D layer is one row of in_width pixels."""
    g = spec.attrs.get
    two_d = spec.kind.endswith("2D")
    amounts = tuple(int(g(f"{attr}_{side}", 0) or 0) if two_d or side in ("left", "right") else 0 for side in SIDES)
    return (int(g("in_height")) if two_d else 1), int(g("in_width")), amounts


def _border(spec, edge_in: Edge, module: str, attr: str, names: tuple[str, str, str, str]) -> EmittedLayer:
    """kws_zeropad / kws_crop with the layer's amounts per side as the parameters `names`."""
    require_same_type(spec)
    c = int(spec.attrs.get("n_chan"))
    if edge_in.beat != c:
        raise UnsupportedLayerError(spec.name, spec.kind, f"needs one pixel ({c} channels) per beat, got {edge_in.beat}")
    h, w, amounts = border_geometry(spec, attr)
    named = dict(zip(names, amounts))
    params = {"H": h, "W": w, "CW": edge_in.tdata_width, **named}
    return EmittedLayer(layer=spec.name, kind=spec.kind, module=module, verilog="", out=edge_in,
                        library=(f"{module}.v",), notes={"params": params, "parameterized": True, **named})


def emit_zeropad(spec, edge_in: Edge, prefix: str, rf: int) -> EmittedLayer:
    return _border(spec, edge_in, "kws_zeropad", "pad", ("PT", "PB", "PL", "PR"))


def emit_crop(spec, edge_in: Edge, prefix: str, rf: int) -> EmittedLayer:
    return _border(spec, edge_in, "kws_crop", "crop", ("CT", "CB", "CL", "CR"))
