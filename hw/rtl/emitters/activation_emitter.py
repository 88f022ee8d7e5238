"""hls4ml Activation (linear, relu) -> kws_act: element-wise requantization on each beat."""

from __future__ import annotations

from ..errors import UnsupportedLayerError
from ..requant import requant_params
from .base import EmittedLayer, Edge

SUPPORTED = ("linear", "relu")


def emit_activation(spec, edge_in: Edge, prefix: str, rf: int) -> EmittedLayer:
    func = str(spec.attrs.get("activation", "linear")).lower()
    if func not in SUPPORTED:
        raise UnsupportedLayerError(spec.name, spec.kind, f"activation '{func}' not implemented (have {SUPPORTED})")
    out = spec.out_type
    q = requant_params(edge_in.frac, out)
    params = {"E": edge_in.beat, "IN_W": edge_in.width, "IN_SIGNED": int(edge_in.signed), "RELU": int(func == "relu"),
              **q}
    return EmittedLayer(layer=spec.name, kind=spec.kind, module="kws_act", verilog="",
                        out=Edge(edge_in.beat, out), library=("kws_requant.v", "kws_requant_act.v", "kws_act.v"),
                        notes={"params": params, "combinational": True, "activation": func})
