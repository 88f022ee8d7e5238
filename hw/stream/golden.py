"""The streaming golden model: frames in, one logit vector per decision out, each time step of
each layer computed once.

Every tensor is held as its time steps (rows) in order; each layer keeps the rows of its inputs it
still needs (a ring buffer in hardware) and computes its new output rows when their inputs have
arrived, as the streaming RTL does. The arithmetic is the windowed golden model's own kernels
(hw.golden), given the geometry of one output time step (a window of `fh` input rows, no time
padding), so nothing is computed twice and the emissions can be checked against the windowed
model on every window they stand for (tests/test_stream_golden.py).

`push` takes any number of frames: one per call is the hardware's hop, thousands per call are
the same arithmetic batched (used for hour-long streams).
"""

from __future__ import annotations

import numpy as np

from hw.golden.model import GoldenModel
from hw.golden.registry import kernel_for

from .plan import StreamLayer, StreamPlan

# hls4ml classes whose kernel slides over time and is given the geometry of one output step
_SLIDING = ("Conv1D", "Conv2D", "PointwiseConv1D", "PointwiseConv2D", "DepthwiseConv1D", "DepthwiseConv2D",
            "Pooling1D", "Pooling2D")


def _one_step(layer, step: StreamLayer):
    """The layer as a kernel for one output time step: `fh` input rows, one output row, no time pads."""
    two_d = step.kind.endswith("2D")
    pool = step.kind.startswith("Pooling")
    if two_d:
        over = {"in_height": step.fh, "out_height": 1, "pad_top": 0, "pad_bottom": 0}
    elif pool:
        over = {"n_in": step.fh, "n_out": 1, "pad_left": 0, "pad_right": 0}
    else:
        over = {"in_width": step.fh, "out_width": 1, "pad_left": 0, "pad_right": 0}
    proxy = object.__new__(type(layer))
    proxy.__dict__.update(layer.__dict__)  # same weights and types; only get_attr answers differently
    proxy.get_attr = lambda key, default=None: over[key] if key in over else layer.get_attr(key, default)
    return proxy


def stream_kernel(layer, step: StreamLayer):
    """The golden kernel a layer runs with in the stream."""
    if step.role in ("window", "collapse", "row") and step.kind.endswith(_SLIDING):
        return kernel_for(_one_step(layer, step))
    return kernel_for(layer)


class StreamingGolden:
    """Bit-accurate streaming model of an hls4ml ModelGraph, following a StreamPlan."""

    def __init__(self, hls_model, plan: StreamPlan):
        self.plan = plan
        self.golden = GoldenModel(hls_model, make_kernel=lambda layer: stream_kernel(layer, plan[layer.name]))
        self.stages = self.golden.stages
        self.steps = [plan[s.name] for s in self.stages]
        self.input_t = self.golden.input_t
        self.output_t = self.golden.output_t
        self.frame_shape = plan.layers[0].time_out.row_shape
        # readers of each tensor, for trimming rows nobody needs any more
        self.readers = {}
        for stage, step in zip(self.stages, self.steps):
            for t in stage.inputs:
                self.readers.setdefault(t, []).append((stage, step))
        self.reset()

    def reset(self) -> None:
        """Forget every frame: the state after a hardware reset."""
        self.rows: dict[str, np.ndarray] = {}  # tensor -> rows held, oldest first
        self.first: dict[str, int] = {}  # tensor -> global index of rows[tensor][0]
        self.count: dict[str, int] = {}  # tensor -> rows produced since reset
        self.frames = 0
        self.decisions = 0

    def quantize_frames(self, frames) -> np.ndarray:
        """Float feature frames (F, frame values) -> raw input codes."""
        return self.golden.quantize_input(frames)

    def push(self, frames_raw) -> np.ndarray:
        """Raw codes of the next frames (F, frame values) -> the raw logits of every decision they
        complete, (n, outputs) int64."""
        x = np.asarray(frames_raw)
        if x.dtype.kind not in "iu":
            raise TypeError(f"push needs integer raw codes, got dtype {x.dtype}; use quantize_frames")
        x = x.reshape(len(x), *self.frame_shape)
        if not self.input_t.fits(x):
            raise ValueError(f"frame codes outside {self.input_t}")
        self.frames += len(x)
        out = None
        for stage, step in zip(self.stages, self.steps):
            if not stage.inputs:  # the input layer
                new = stage.kernel.requant(x.astype(self.golden.input_dtype), inplace=False)
            else:
                new = self._advance(stage, step)
            if new is None:
                continue
            for name in (stage.output, *stage.more_outputs):
                self._append(name, new)
            out = (stage.output, new)
        self._trim()
        last = self.stages[-1].output
        got = self.rows.pop(last, None)
        if got is None:
            return np.zeros((0, int(np.prod(self.golden.output_shape))), np.int64)
        self.first.pop(last, None)
        self.decisions += len(got)
        return np.asarray(got).reshape(len(got), -1).astype(np.int64)

    def run(self, frames_raw, chunk: int = 2048) -> np.ndarray:
        """Every decision of a whole stream of raw frames, from a fresh state."""
        self.reset()
        outs = [self.push(frames_raw[i:i + chunk]) for i in range(0, len(frames_raw), chunk)]
        return np.concatenate(outs) if outs else self.push(frames_raw[:0])

    # -- one layer ---------------------------------------------------------------------------
    def _available(self, step: StreamLayer, n_in: int) -> int:
        """Output rows computable from the first n_in input rows."""
        if step.role == "crop":
            return max(0, n_in - step.skip)
        if step.role in ("window", "collapse") and (step.fh > 1 or step.sh > 1):
            return 0 if n_in < step.fh else (n_in - step.fh) // step.sh + 1
        return n_in

    def _first_needed(self, step: StreamLayer, done: int) -> int:
        """The oldest input row the next output row reads."""
        if step.role == "crop":
            return done + step.skip
        if step.role in ("window", "collapse"):
            return done * step.sh
        return done

    def _advance(self, stage, step: StreamLayer):
        done = self.count.get(stage.output, 0)
        n_avail = min(self._available(step, self.count.get(t, 0)) for t in stage.inputs)
        if n_avail <= done:
            return None
        args = [self._gather(t, step, done, n_avail) for t in stage.inputs]
        y = stage.kernel(*args) if not _shape_only(stage) else _shape_only(stage)(*args)
        return np.asarray(y).reshape(n_avail - done, *step.time_out.row_shape)

    def _gather(self, tensor: str, step: StreamLayer, t0: int, t1: int) -> np.ndarray:
        rows, first = self.rows[tensor], self.first[tensor]
        if step.role == "crop":
            return rows[t0 + step.skip - first:t1 + step.skip - first]
        if step.role in ("window", "collapse") and (step.fh > 1 or step.sh > 1):
            lo = t0 * step.sh - first
            hi = (t1 - 1) * step.sh + step.fh - first
            win = np.lib.stride_tricks.sliding_window_view(rows[lo:hi], step.fh, axis=0)[::step.sh]
            return np.ascontiguousarray(np.moveaxis(win, -1, 1))  # (n, fh, *row)
        return rows[t0 - first:t1 - first]

    def _append(self, tensor: str, new: np.ndarray) -> None:
        if tensor in self.rows and len(self.rows[tensor]):
            self.rows[tensor] = np.concatenate([self.rows[tensor], new])
        else:
            self.first[tensor] = self.count.get(tensor, 0)
            self.rows[tensor] = new
        self.count[tensor] = self.count.get(tensor, 0) + len(new)

    def _trim(self) -> None:
        for tensor, readers in self.readers.items():
            if tensor not in self.rows:
                continue
            keep = min(self._first_needed(step, self.count.get(stage.output, 0)) for stage, step in readers)
            drop = keep - self.first[tensor]
            if drop > 0:
                self.rows[tensor] = self.rows[tensor][drop:]
                self.first[tensor] = keep


def _shape_only(stage):
    """Shape-only layers work on rows directly: only their type conversion is the kernel's."""
    kernel = stage.kernel
    name = type(kernel).__name__
    if name in ("InputKernel", "ReshapeKernel"):
        return lambda x: kernel.requant(np.array(x))
    if name == "ZeroPaddingKernel":
        return lambda x: kernel.requant(_pad_row(np.array(x), kernel.pads))
    if name == "CroppingKernel":
        return lambda x: kernel.requant(_crop_row(np.array(x), kernel))
    if name == "ConcatKernel":
        return lambda a, b: np.concatenate([q(np.asarray(v), inplace=False).astype(kernel.dtype, copy=False)
                                            for v, q in zip((a, b), kernel.requants)], axis=-1)
    return None


def _pad_row(x: np.ndarray, pads) -> np.ndarray:
    """Zero padding of one time step: only the non-time axes (the plan refused time padding)."""
    row_pads = pads[1:]  # pads = (time, [frequency,] channels)
    return np.pad(x, ((0, 0), *row_pads))


def _crop_row(x: np.ndarray, kernel) -> np.ndarray:
    """The non-time part of a crop (the time steps were chosen by the plan's skip): a 2-D map's
    columns; a 1-D sequence has only time to crop."""
    if len(kernel.window) == 3:  # (time, columns, channels) slices of the windowed kernel
        return x[:, kernel.window[1]]
    return x
