"""hls4ml Concatenate (channel axis) -> kws_concat, with a kws_fifo on each input the schedule says
needs one.

On our streams every beat is one pixel's channels, so a last-axis concatenation is a join of the
two streams beat by beat: the output beat is input 0's channels then input 1's, each converted to
the result type as hls4ml's concatenate does (the converter makes that the common type, so only
zero bits are appended). Like the residual Add it waits for both branches; the FIFO depths come
from hw/rtl/schedule.py (``spec.attrs["kws_fifo_depths"]``), so branches of different latency
cannot deadlock the fork in front of them.
"""

from __future__ import annotations

import math

from ..errors import UnsupportedLayerError
from ..requant import requant_params
from .base import EmittedLayer, Edge
from .merge_emitter import two_input_layer


def emit_concat(spec, edges, prefix: str, rf: int) -> EmittedLayer:
    if not isinstance(edges, tuple) or len(edges) != 2:
        raise UnsupportedLayerError(spec.name, spec.kind, "a concatenation of exactly two streams is implemented")
    rank = len(spec.in_shape)
    axis = int(spec.attrs.get("axis", -1))
    if (axis + rank + 1 if axis < 0 else axis) != rank:
        raise UnsupportedLayerError(spec.name, spec.kind, f"concatenation along axis {axis} of {spec.in_shape}: "
                                    "only the channel (last) axis is implemented")
    channels = (spec.in_shape[-1], spec.out_shape[-1] - spec.in_shape[-1])
    pixels = math.prod(spec.in_shape[:-1])
    for j, (e, c) in enumerate(zip(edges, channels)):
        if e.beat != c:
            raise UnsupportedLayerError(spec.name, spec.kind, f"input {j} streams {e.beat} elements per beat, not its "
                                        f"{c} channels of one pixel (the concatenation joins pixel by pixel)")
    if math.prod(spec.out_shape) != pixels * sum(channels):
        raise UnsupportedLayerError(spec.name, spec.kind, f"shapes {spec.in_shape} -> {spec.out_shape} are not a "
                                    "channel concatenation")
    a, b = edges
    out = spec.out_type
    qa, qb = requant_params(a.frac, out), requant_params(b.frac, out)
    params = {"A_E": a.beat, "A_W": a.width, "A_SIGNED": int(a.signed), "A_SHIFT": qa["SHIFT"],
              "B_E": b.beat, "B_W": b.width, "B_SIGNED": int(b.signed), "B_SHIFT": qb["SHIFT"],
              "OUT_W": out.width, "OUT_SIGNED": int(out.signed), "RND": qa["RND"], "OVF": qa["OVF"]}
    out_edge = Edge(a.beat + b.beat, out)
    return two_input_layer(spec, prefix, f"// Layer {spec.name} (Concatenate): {a.beat} {a.type} + {b.beat} {b.type} "
                                         f"channels -> {out_edge.beat} {out}", edges, out_edge, "kws_concat", params,
                           {"channels": list(channels)})
