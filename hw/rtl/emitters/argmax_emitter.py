"""Output stage (not an hls4ml layer): the class index of the first maximum of the last layer's
frame, as np.argmax / GoldenModel.argmax decide it. Added by generate_rtl(..., argmax=True)."""

from __future__ import annotations

from qat.fixed import FixedType

from .base import EmittedLayer, Edge


def emit_argmax(n_classes: int, edge_in: Edge) -> EmittedLayer:
    idx_w = max(1, (n_classes - 1).bit_length())
    params = {"N": n_classes, "IN_BEAT": edge_in.beat, "IN_W": edge_in.width, "IN_SIGNED": int(edge_in.signed),
              "IDX_W": idx_w}
    return EmittedLayer(layer="argmax", kind="ArgMax", module="kws_argmax", verilog="", out=Edge(1, FixedType(idx_w, idx_w, signed=False)),
                        library=("kws_argmax.v",), notes={"params": params, "parameterized": True})
