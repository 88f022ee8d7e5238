"""The RTL emitter of an hls4ml layer class, from the one layer table (hw/layers.py): a function
(spec, edge_in, prefix, reuse_factor) -> EmittedLayer (edge_in: a tuple of Edges for a layer with
several inputs). A class without an emitter is refused with one clear error naming the layer."""

from __future__ import annotations

from hw.layers import LAYERS, by_hls4ml, resolve

from .errors import UnsupportedLayerError


def emitter_for(spec):
    entry = by_hls4ml(spec.kind)
    if entry is None or entry.rtl is None:
        have = sorted(c for e in LAYERS if e.rtl for c in e.hls4ml)
        raise UnsupportedLayerError(spec.name, spec.kind, f"no RTL emitter for layer class '{spec.kind}' (have {have})")
    return resolve(entry.rtl, "hw.rtl.emitters")
