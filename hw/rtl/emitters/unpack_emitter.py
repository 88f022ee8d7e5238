"""Input stage of the streaming IP (not an hls4ml layer): one feature frame per beat in, the
first layer's beats (e.g. one MFCC coefficient per beat) out."""

from __future__ import annotations

from ..errors import RtlGenerationError
from .base import EmittedLayer, Edge


def emit_unpack(edge_in: Edge, beat: int) -> EmittedLayer:
    if edge_in.beat % beat:
        raise RtlGenerationError(f"a frame of {edge_in.beat} elements does not split into beats of {beat}")
    params = {"N": edge_in.beat, "BEAT": beat, "EW": edge_in.width}
    return EmittedLayer(layer="frame_unpack", kind="Unpack", module="kws_unpack", verilog="", out=Edge(beat, edge_in.type),
                        library=("kws_unpack.v",), notes={"params": params, "parameterized": True})
