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
from .base import EmittedLayer, Edge, verilog_ident
from .merge_emitter import two_input_module


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
    depths = tuple(spec.attrs.get("kws_fifo_depths", (0, 0)))
    out_edge = Edge(a.beat + b.beat, out)
    notes = {"inputs": 2, "fifo_depths": list(depths), "channels": list(channels),
             **({"fifo_schedule": spec.attrs["kws_fifo_schedule"]} if "kws_fifo_schedule" in spec.attrs else {})}
    if not any(depths):  # no FIFO: the library module itself, like kws_act (no clock, no wrapper)
        return EmittedLayer(layer=spec.name, kind=spec.kind, module="kws_concat", verilog="", out=out_edge,
                            library=("kws_requant.v", "kws_concat.v"),
                            notes={**notes, "fifo_bits": 0, "params": params, "combinational": True})
    name = f"{prefix}_{verilog_ident(spec.name)}"
    verilog = two_input_module(
        name, f"// Layer {spec.name} (Concatenate): {a.beat} {a.type} + {b.beat} {b.type} channels -> "
              f"{out_edge.beat} {out}; input FIFOs {depths[0]} / {depths[1]} beats (generated)",
        edges, depths, out_edge.tdata_width, "kws_concat", params)
    fifo_bits = sum(d * e.tdata_width for d, e in zip(depths, edges))
    library = ("kws_requant.v", "kws_concat.v") + (("kws_fifo.v",) if any(depths) else ())
    return EmittedLayer(layer=spec.name, kind=spec.kind, module=name, verilog=verilog, out=out_edge,
                        library=library,
                        notes={**notes, "fifo_bits": fifo_bits})
