"""hls4ml ZeroPadding1D / ZeroPadding2D (inserted by hls4ml's io_stream flow before 'same'
convolutions) -> kws_zeropad: zero pixels around the streamed map, no buffering."""

from __future__ import annotations

from ..errors import UnsupportedLayerError
from .base import EmittedLayer, Edge


def emit_zeropad(spec, edge_in: Edge, prefix: str, rf: int) -> EmittedLayer:
    g = spec.attrs.get
    if spec.in_type != spec.out_type:
        raise UnsupportedLayerError(spec.name, spec.kind, f"changes type {spec.in_type} -> {spec.out_type}")
    two_d = spec.kind.endswith("2D")
    h = int(g("in_height")) if two_d else 1
    w = int(g("in_width"))
    c = int(g("n_chan"))
    if edge_in.beat != c:
        raise UnsupportedLayerError(spec.name, spec.kind, f"needs one pixel ({c} channels) per beat, got {edge_in.beat}")
    pads = {"PT": int(g("pad_top", 0) or 0) if two_d else 0, "PB": int(g("pad_bottom", 0) or 0) if two_d else 0,
            "PL": int(g("pad_left", 0) or 0), "PR": int(g("pad_right", 0) or 0)}
    params = {"H": h, "W": w, "CW": edge_in.tdata_width, **pads}
    return EmittedLayer(layer=spec.name, kind=spec.kind, module="kws_zeropad", verilog="", out=edge_in,
                        library=("kws_zeropad.v",), notes={"params": params, "parameterized": True, **pads})
