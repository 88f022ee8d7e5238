"""Turn raw fixed-point arrays into tdata beats of a generated design and back."""

from __future__ import annotations

import numpy as np

from hw.rtl.requant import pack, unpack


def to_beats(raw_frame: np.ndarray, beat: int, width: int) -> list[int]:
    """One frame (any shape, C order = hls4ml stream order) -> list of packed beats."""
    flat = np.asarray(raw_frame).reshape(-1)
    if flat.size % beat:
        raise ValueError(f"{flat.size} elements do not split into beats of {beat}")
    return [pack(flat[i:i + beat], width) for i in range(0, flat.size, beat)]


def frames_for(design, raw_inputs: np.ndarray, raw_outputs: np.ndarray) -> dict:
    """tb_stream config entries for a batch: frames_in / frames_out as lists of beat integers."""
    ie, oe = design.in_edge, design.out_edge
    return {
        "frames_in": [to_beats(x, ie.beat, ie.width) for x in raw_inputs],
        "frames_out": [to_beats(y, oe.beat, oe.width) for y in raw_outputs],
    }


def from_beats(beats: list[int], beat: int, width: int, signed: bool) -> np.ndarray:
    return np.array([v for b in beats for v in unpack(b, width, beat, signed)], dtype=np.int64)
