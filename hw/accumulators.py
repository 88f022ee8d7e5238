"""Accumulator types for the hardware side, as hls4ml precision overrides (hw.convert).

Time-multiplexed RTL adds products in whatever order its schedule gives, so only a wrapping
(modulo 2**W) accumulator is order-independent: hls4ml's SAT accumulator saturates per addition.
These helpers derive accumulator overrides from a converted graph:

- `wrapping_accumulators`: keep each trained format (paper A's Qm.n accumulators), wrap on overflow.
  Equal to the trained SAT format whenever the final sum fits, which calibration + margin aim for.
- `narrow_accumulators`: `width` bits aligned to the products' LSB (minus `drop_bits`), the
  narrow-vs-wide comparison on one network.
"""

from __future__ import annotations

from dataclasses import replace

from qat.fixed import FixedType


def _mac_layers(graph):
    from hw.rtl.layer_spec import read_graph

    for spec in read_graph(graph):
        if "weight" in spec.weights and spec.accum is not None:
            yield spec, spec.in_type.frac + spec.weights["weight"][1].frac


def wrapping_accumulators(graph) -> dict:
    """{layer: {"accum": ...}}: every accumulator's width, binary point and rounding, overflow WRAP."""
    return {spec.name: {"accum": replace(spec.accum, overflow="WRAP").to_hls()} for spec, _ in _mac_layers(graph)}


class AccumulatorRangeError(ValueError):
    """An accumulator whose every bit lies below the binary point (integer bits < 0)."""


def narrow_accumulators(graph, width: int, drop_bits: int = 0) -> dict:
    """{layer: {"accum": ...}}: `width`-bit wrapping accumulators whose LSB is the products' LSB
    times 2**drop_bits (drop_bits > 0: each product rounded half to even into the accumulator).

    Refused (AccumulatorRangeError) when a layer's products have more fraction bits than `width`
    + `drop_bits`: the accumulator would have negative integer bits, on which hls4ml 1.3's C
    simulation aborts its process (ap_private::get_bit, "read bit beyond MSB"; found by sim/fuzz.py);
    and when `drop_bits` exceeds the products' fraction bits: rounding into an accumulator with
    negative fraction bits (fixed<W, I> with I > W) aborts it the same way (found by sim/fuzz.py
    --byo: binary kernels times integer activations give integer products)."""
    out = {}
    for spec, prod_frac in _mac_layers(graph):
        frac = prod_frac - drop_bits
        if frac > width:
            raise AccumulatorRangeError(
                f"layer {spec.name!r}: a {width}-bit accumulator with LSB 2^-{frac} has {width - frac} integer bits; "
                f"use width >= {frac} or drop_bits >= {prod_frac - width}")
        if frac < 0 and drop_bits:
            raise AccumulatorRangeError(
                f"layer {spec.name!r}: its products have {prod_frac} fraction bits, so dropping {drop_bits} rounds "
                f"to 2^{-frac}, which hls4ml 1.3 cannot round into; use drop_bits <= {prod_frac}")
        out[spec.name] = {"accum": FixedType(width, width - frac, True, "RND_CONV" if drop_bits else "TRN", "WRAP").to_hls()}
    return out
