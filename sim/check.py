"""Generated RTL vs hw.golden through the compiled Verilator harness: exactness, latency, II.

Used by the tests and by `python -m sim`. Exactness is decided here, in one place: a frame is
exact when every output beat equals the golden beat bit for bit.
"""

from __future__ import annotations

import numpy as np

from sim.frames import to_beats
from sim.reference import expected_class, expected_raw
from sim.verilator_harness import run_harness


def golden_frames(design, graph, x_raw, upto=None, argmax=False) -> list[list[int]]:
    y = expected_class(graph, x_raw) if argmax else expected_raw(graph, x_raw, upto)
    oe = design.out_edge
    return [to_beats(v, oe.beat, oe.width) for v in y]


def compare(design, graph, x_raw, *, upto=None, argmax=False, p_valid=100, p_ready=100, seed=1) -> dict:
    """Stream every vector through the design with the given valid/ready probabilities (percent)."""
    ie = design.in_edge
    frames_in = [to_beats(x, ie.beat, ie.width) for x in np.asarray(x_raw)]
    want = golden_frames(design, graph, x_raw, upto, argmax)
    got, stats = run_harness(design, frames_in, design.out_frame_beats, p_valid=p_valid, p_ready=p_ready, seed=seed)
    bad = [i for i, (g, w) in enumerate(zip(got, want)) if g != w]
    exact = len(want) - len(bad) if len(got) == len(want) else 0
    return {"exact": exact, "n": len(want), "first_bad": bad[:10], **stats}


def timing(design, x_raw, frames: int = 4) -> dict:
    """Latency (cycles from the first input beat accepted to the last output beat of one frame in an
    empty pipeline) and II (cycles between frames, back to back), no bubbles or backpressure.

    Per layer, from the handshakes between stages in the one-frame run: `first_in`/`last_out` (the
    cycles of its first input beat and last output beat), `latency` (last_out - first_in) and
    `adds` (its last output beat minus its predecessor's: what the layer adds to the end-to-end
    latency; they sum to it minus the input's own streaming time, first to last input beat)."""
    ie = design.in_edge
    beats = [to_beats(x, ie.beat, ie.width) for x in np.asarray(x_raw)[:frames]]
    _, one = run_harness(design, beats[:1], design.out_frame_beats, probe=True)
    _, many = run_harness(design, beats, design.out_frame_beats)
    hs = one["handshakes"]
    # From the first input beat accepted, not from reset: a zero-padding stage emits the top
    # padding rows before it takes any input (49 cycles in the demo DS-CNN).
    latency = hs[-1][-1] - hs[0][0]
    ii = (many["cycles"] - one["cycles"]) / (len(beats) - 1)
    layers = []
    for i, layer in enumerate(l for l in design.layers if l.module):
        ins = layer.notes.get("in_wires", [i])  # a DAG stage reads other wires than the one before it
        first_in, last_out = min(hs[w][0] for w in ins), hs[i + 1][-1]
        layers.append({"layer": layer.layer, "first_in": first_in, "last_out": last_out,
                       "latency": last_out - first_in, "adds": last_out - max(hs[w][-1] for w in ins)})
    return {"latency_cycles": latency, "ii_cycles": ii, "frames": len(beats), "layer_timing": layers}


def lower_bounds(design) -> dict:
    """Per frame: MACs, multipliers, and the II no schedule with these multipliers can beat
    (the busiest layer's MACs / its multipliers); input beats bound it too."""
    layers = [l for l in design.layers if l.multipliers]
    per_layer = {l.layer: l.notes.get("macs_per_frame", l.multipliers * l.compute_cycles) // l.multipliers for l in layers}
    macs = sum(l.notes.get("macs_per_frame", l.multipliers * l.compute_cycles) for l in layers)
    bound = max([design.in_frame_beats] + list(per_layer.values()))
    return {"macs": macs, "multipliers": sum(l.multipliers for l in layers), "ii_lower_bound": bound,
            "mac_cycles_per_layer": per_layer}
