"""Beat-level dependency model of the generated stream stages, used to size the FIFO on the short
branch of a residual block so the design cannot deadlock.

The fork in front of a residual block hands every beat to both branches at once (a beat leaves
only when both took it). The Add takes one beat from each branch at a time. The long branch
(conv 9 taps -> ReLU -> conv 9 taps) needs many more input beats before its first output than the
short one (1x1 conv), and meanwhile the short branch produces beats the Add cannot take yet. If
they have nowhere to go, the short branch stops taking beats, the fork stops, and the long branch
never gets the beats it waits for.

For each stage we know, per output beat t, the last input beat it depends on (``needs``; window
layers: the last pixel of the window, padding included; zero padding: the input pixel before it;
cropping: its own input pixel; dense and unknown layers: the whole frame).
Composed along a branch this gives outs(n), the output beats a branch can produce once the fork
has passed n beats. The short branch's FIFO must hold the largest lead max_n outs_short(n) -
outs_long(n): then, whenever it is full, the long branch already has every input beat its next
output needs, and the Add drains the FIFO. This bound is timing-free (bubbles, backpressure and
reuse factors only stretch the time axis); two beats are added so the branches also overlap
in time instead of alternating.
"""

from __future__ import annotations

import math

from hw.layers import hls4ml_names

from .emitters.border_emitter import border_geometry
from .emitters.window import window_of
from .errors import UnsupportedLayerError

SLACK_BEATS = 2
WINDOW_KINDS = hls4ml_names("window")  # the one layer table's roles (hw/layers.py)
ELEMENTWISE_KINDS = hls4ml_names("elementwise")
ZEROPAD_KINDS, CROP_KINDS = hls4ml_names("zeropad"), hls4ml_names("crop")


def _beats(shape, beat: int) -> int:
    return max(1, math.prod(shape) // max(beat, 1))


def needs(spec, edge_in, edge_out) -> list[int]:
    """For each output beat of one frame: the index of the last input beat it depends on (-1: none)."""
    edge_in = edge_in[0] if isinstance(edge_in, tuple) else edge_in
    n_in, n_out = _beats(spec.in_shape, edge_in.beat), _beats(spec.out_shape, edge_out.beat)
    whole = [n_in - 1] * n_out
    if spec.kind in ELEMENTWISE_KINDS and edge_in.beat == edge_out.beat and n_in == n_out:
        return list(range(n_out))
    if spec.kind in WINDOW_KINDS:
        pool = spec.kind.startswith("Pooling")
        try:
            win = window_of(spec, spec.kind.endswith("2D"), pool=pool)
        except UnsupportedLayerError:
            return whole
        if edge_in.beat != win.c or n_out != win.positions:
            return whole  # not one pixel per beat: be conservative
        out = []
        for oh in range(win.oh):
            for ow in range(win.ow):
                r = min(oh * win.sh - win.pt + win.fh - 1, win.h - 1)
                c = min(ow * win.sw - win.pl + win.fw - 1, win.w - 1)
                out.append(r * win.w + c if r >= 0 and c >= 0 else -1)
        return out
    if spec.kind in ZEROPAD_KINDS or spec.kind in CROP_KINDS:
        out = _border_needs(spec)
        return out if len(out) == n_out and edge_in.beat == edge_out.beat else whole
    return whole


def _border_needs(spec) -> list[int]:
    """Zero padding: each output pixel waits for the input pixels before it in raster order (the
    padding is emitted in that order too). Cropping: each kept pixel is its own input pixel; the
    cropped ones are needed by no output."""
    pad = spec.kind in ZEROPAD_KINDS
    h, w, (top, bottom, left, right) = border_geometry(spec, "pad" if pad else "crop")
    if not pad:
        return [r * w + c for r in range(top, h - bottom) for c in range(left, w - right)]
    out, seen = [], -1
    for r in range(h + top + bottom):
        for c in range(w + left + right):
            if top <= r < top + h and left <= c < left + w:
                seen = (r - top) * w + (c - left)
            out.append(seen)
    return out


def _outs(need: list[int], n: int) -> int:
    """Output beats producible once n input beats arrived (needs are nondecreasing in stream order)."""
    return sum(1 for t in need if t <= n - 1)


def _compose(outer: list[int], inner: list[int]) -> list[int]:
    """needs of (inner then outer): outer's beat t needs inner's beat outer[t], which needs inner[...]."""
    return [inner[t] if t >= 0 else -1 for t in outer]


def branch_needs(merge_input: str, specs: dict, edges_in: dict, edges_out: dict, consumers: dict):
    """(fork layer, needs of the branch from the fork's output to `merge_input`'s output), or None
    when the branch is not a chain of single-input stages ending at a forking layer."""
    chain, name = [], merge_input
    while consumers.get(name, 0) < 2:
        spec = specs[name]
        if len(spec.inputs) != 1:
            return None
        chain.append(name)
        name = spec.inputs[0]
    need = None
    for layer in chain:  # from the merge input back towards the fork
        own = needs(specs[layer], edges_in[layer], edges_out[layer])
        need = own if need is None else _compose(need, own)
    return name, need


def fifo_depths(merge, specs: dict, edges_in: dict, edges_out: dict, consumers: dict) -> tuple[tuple[int, int], dict]:
    """Depth of the FIFO in front of each input of `merge` (0: none), and the numbers behind it."""
    frame = _beats(merge.in_shape, edges_out[merge.inputs[0]].beat)  # beats per input (a Concatenate widens them)
    branches = [branch_needs(i, specs, edges_in, edges_out, consumers) for i in merge.inputs]
    if any(b is None for b in branches) or branches[0][0] != branches[1][0]:
        # not a fork -> two chains -> add: hold a whole frame on both sides (safe, not minimal)
        return (frame + SLACK_BEATS,) * 2, {"model": "whole frame (branches are not two chains from one fork)"}
    fork = branches[0][0]
    n_fork = _beats(specs[fork].out_shape, edges_out[fork].beat)
    need = [b[1] if b[1] is not None else list(range(frame)) for b in branches]  # None: the fork itself
    leads = [max(_outs(need[j], n) - _outs(need[1 - j], n) for n in range(n_fork + 1)) for j in (0, 1)]
    depths = tuple(lead + SLACK_BEATS if lead > 0 else 0 for lead in leads)
    first = [next((t for t in nd if t >= 0), -1) + 1 for nd in need]  # fork beats before each branch's first output
    return depths, {"fork": fork, "lead_beats": leads, "fork_beats_before_first_output": first}
