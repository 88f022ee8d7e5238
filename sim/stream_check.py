"""The always-on IP (hw/rtl/stream_generate.py) against the streaming golden model through the
compiled Verilator harness: every decision bit for bit, and the cycles each hop costs.

Exactness is decided as in sim/check.py: a decision is identical when every output beat equals
the golden beat. Timing has two sides:
- `hop_timing`: frames offered one per `hop_cycles` (a real-time source, the pipeline drains in
  between), the handshakes of every stage recorded; per layer, the cycles from its first input to
  its last output within a hop (mean over hops and on the busiest hop), and in all, from the hop's
  frame to the last beat anywhere: what a hop costs, and so the real-time margin at a clock;
- the back-to-back rate (frames offered as fast as they are taken): the shortest hop period the
  IP sustains.
"""

from __future__ import annotations

import numpy as np

from sim.frames import to_beats
from sim.verilator_harness import run_harness


def decision_beats(design, decisions_raw: np.ndarray) -> list[list[int]]:
    oe = design.out_edge
    return [to_beats(y, oe.beat, oe.width) for y in decisions_raw]


def frame_beats(design, frames_raw: np.ndarray) -> list[list[int]]:
    ie = design.in_edge
    return [to_beats(f, ie.beat, ie.width) for f in np.asarray(frames_raw)]


def stream_compare(design, want_beats: list[list[int]], frames_raw, *, p_valid=100, p_ready=100, seed=1) -> dict:
    """Stream every frame; `want_beats`: the expected output beats of each decision."""
    got, stats = run_harness(design, frame_beats(design, frames_raw), design.out_frame_beats, out_frames=len(want_beats),
                             p_valid=p_valid, p_ready=p_ready, seed=seed)
    bad = [i for i, (g, w) in enumerate(zip(got, want_beats)) if g != w]
    exact = len(want_beats) - len(bad) if len(got) == len(want_beats) else 0
    return {"identical": exact, "decisions": len(want_beats), "first_differing": bad[:10], "got": got, **stats}


def hop_timing(design, frames_raw, n_decisions: int, warmup_frames: int, hop_cycles: int | None = None) -> dict:
    """Cycles per hop, per layer and in all, with frames `hop_cycles` apart (default: 8 times the
    back-to-back cycles per frame, at least 1,000, so that every hop's work ends within its hop);
    hops before `warmup_frames` (buffers still filling) are left out."""
    frames = frame_beats(design, frames_raw)
    _, fast = run_harness(design, frames, design.out_frame_beats, out_frames=n_decisions)
    if hop_cycles is None:
        hop_cycles = max(1000, 8 * int(np.ceil(fast["cycles"] / len(frames))))
    _, one = run_harness(design, frames, design.out_frame_beats, out_frames=n_decisions, probe=True,
                         hop_cycles=hop_cycles)
    hs = [np.asarray(h, dtype=np.int64) for h in one["handshakes"]]
    n_hops = len(frames)
    hops = np.arange(warmup_frames, n_hops)
    if not len(hops):
        raise ValueError(f"{n_hops} frames: none after the {warmup_frames} warm-up frames")
    late = [int(h.max() % hop_cycles) for h in hs if len(h)]
    if max(late, default=0) >= hop_cycles - 1 and hop_cycles:
        raise ValueError(f"a hop's work ran into the next hop ({hop_cycles} cycles): time it with a longer hop")
    busy_all = np.zeros(n_hops, np.int64)  # hop start -> last beat anywhere in that hop
    for h in hs:
        np.maximum.at(busy_all, h // hop_cycles, h % hop_cycles + 1)
    layers = []
    stages = [l for l in design.layers if l.module]
    for i, layer in enumerate(stages):
        ins = layer.notes.get("in_wires", [i])
        first_in = np.full(n_hops, hop_cycles, np.int64)  # earliest input beat of each hop
        last_out = np.full(n_hops, -1, np.int64)  # latest output beat of each hop
        cin = np.concatenate([hs[w] for w in ins])
        np.minimum.at(first_in, cin // hop_cycles, cin % hop_cycles)
        np.maximum.at(last_out, hs[i + 1] // hop_cycles, hs[i + 1] % hop_cycles)
        first_in[first_in == hop_cycles] = -1
        last_in = np.full(n_hops, -1, np.int64)
        np.maximum.at(last_in, cin // hop_cycles, cin % hop_cycles)
        seen = (first_in[hops] >= 0) & (last_out[hops] >= 0)
        active = np.where(seen, last_out[hops] - first_in[hops] + 1, 0)
        adds = np.where(seen, last_out[hops] - last_in[hops], 0)  # beyond its input's last beat
        layers.append({"layer": layer.layer, "mean_cycles": float(active.mean()), "max_cycles": int(active.max()),
                       "mean_adds": float(adds.mean()), "max_adds": int(adds.max()),
                       "out_beats_per_hop": float(len(hs[i + 1]) / n_hops)})
    busy = busy_all[hops]
    return {"hop_cycles": hop_cycles, "hops": int(len(hops)), "mean_cycles_per_hop": float(busy.mean()),
            "max_cycles_per_hop": int(busy.max()), "layers": layers,
            "back_to_back_cycles_per_frame": fast["cycles"] / len(frames), "decisions": n_decisions}


def steady_cycles_per_frame(design, frames_raw, n_decisions: int, warmup_frames: int) -> float:
    """Cycles per frame with frames offered back to back, once the buffers are full: the spacing of
    the frames the IP accepts after `warmup_frames` (before that it only fills its buffers and
    takes frames faster, so a whole-stream average flatters a short stream)."""
    _, run = run_harness(design, frame_beats(design, frames_raw), design.out_frame_beats, out_frames=n_decisions,
                         probe=True)
    taken = np.asarray(run["handshakes"][0], dtype=np.int64)  # the cycle each frame (one beat) was accepted
    if len(taken) - 1 <= warmup_frames:
        raise ValueError(f"{len(taken)} frames: none after the {warmup_frames} warm-up frames")
    return float(taken[-1] - taken[warmup_frames]) / (len(taken) - 1 - warmup_frames)


def windowed_ii(graph, reuse_factor, x_raw, out_dir) -> dict:
    """The same graph as the windowed IP at the same reuse factor (the same multipliers): cycles per
    inference, back to back. Recomputing the whole window for every decision costs that much."""
    from hw.rtl import generate_rtl
    from sim.check import timing

    design = generate_rtl(graph, out_dir, reuse_factor=reuse_factor)
    t = timing(design, x_raw, frames=3)
    return {"ii_cycles": t["ii_cycles"], "latency_cycles": t["latency_cycles"],
            "multipliers": sum(l.multipliers for l in design.layers)}
