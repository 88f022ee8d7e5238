"""Which layers of a windowed model can run on a stream of feature frames, and how.

The windowed model maps one window of `window_frames` feature frames (49 x 20 ms) to logits. The
streaming form gets one frame per hop and emits the logits of the window that ends at the newest
frame every `decision_frames` hops. Its emissions equal the windowed model's on those windows
exactly when every layer only ever combines *time steps of the same window*: then each time step
of each layer can be computed once, when its last input arrives, and reused by every later window
that contains it (the idea of google-research kws_streaming's stream wrappers; the ring buffers are
the sliding-window line buffers of the RTL).

Per tensor we keep its time axis: `rows` time steps in one window, `stride` frames between
consecutive time steps. Window w (frames [w*k, w*k + window_frames), k = decision_frames) sees rows
[w*k/stride, w*k/stride + rows) of the stream, so k must be a multiple of every stride. Layers are:

- ``row``: works on each time step alone (activations, channel adds, reshapes that keep rows,
  zero padding of the frequency axis, 1x1 convolutions);
- ``window``: reads `fh` consecutive time steps every `sh` (convolutions and poolings over time,
  never padded in time: zeros at a window edge would differ from window to window);
- ``crop``: drops the first `skip` time steps of each window, i.e. of the stream after a reset;
- ``collapse``: reads the `fh` time steps of one window and makes one output per decision (global
  pooling, a dense layer on the flattened window); its `sh` is then k / stride;
- ``emission``: works on the per-decision results after that (the classifier).

A model that pads or mixes time in any other way is refused with the layer named.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

from hw.errors import UnsupportedLayerError
from hw.layers import by_hls4ml, for_hls4ml_layer

WINDOW_FRAMES = 49  # 1 s of 20 ms hops (qat.features)
ROLES = ("row", "window", "crop", "collapse", "emission")


@dataclass(frozen=True)
class TimeAxis:
    rows: int  # time steps of the tensor in one window
    stride: int  # frames between consecutive time steps in the stream
    row_shape: tuple[int, ...]  # one time step (flat tensor: its elements; decided: the whole tensor)
    first: int = 0  # first frame of the window that time step 0 depends on
    span: int = 1  # frames time step 0 depends on (its receptive field)
    decided: bool = False  # collapsed: one value per decision from here on

    @property
    def row_elems(self) -> int:
        return math.prod(self.row_shape)


@dataclass(frozen=True)
class StreamLayer:
    name: str
    kind: str  # hls4ml class name
    role: str  # ROLES
    inputs: tuple[str, ...]  # names of the layers it reads
    time_in: TimeAxis | None  # of its (first) input; None for the input layer
    time_out: TimeAxis
    fh: int = 1  # time steps read per output time step
    sh: int = 1  # input time steps between output time steps (in the stream)
    skip: int = 0  # input time steps dropped at the start of the stream (crop)


@dataclass
class StreamPlan:
    window_frames: int
    decision_frames: int
    layers: list[StreamLayer] = field(default_factory=list)

    def __getitem__(self, name: str) -> StreamLayer:
        for layer in self.layers:
            if layer.name == name:
                return layer
        raise KeyError(name)

    @property
    def frame_elems(self) -> int:
        """Values in one feature frame (one input time step)."""
        return self.layers[0].time_out.row_elems

    @property
    def collapse(self) -> list[StreamLayer]:
        return [layer for layer in self.layers if layer.role == "collapse"]

    @property
    def receptive_frames(self) -> int:
        """Frames of its window a decision depends on (the rest of the window is never read)."""
        return max(s.time_out.first + s.time_out.span for s in self.collapse)

    def to_dict(self) -> dict:
        return {"window_frames": self.window_frames, "decision_frames": self.decision_frames,
                "frame_elems": self.frame_elems, "receptive_frames": self.receptive_frames,
                "layers": [{"name": s.name, "kind": s.kind, "role": s.role, "fh": s.fh, "sh": s.sh, "skip": s.skip,
                            "rows": s.time_out.rows, "stride_frames": s.time_out.stride,
                            "row_shape": list(s.time_out.row_shape)} for s in self.layers]}


def _int(layer, key: str) -> int:
    return int(layer.get_attr(key, 0) or 0)


def _time_geometry(layer, kind: str):
    """(in rows, out rows, fh, sh, time pads) of a sliding-window layer along its time axis: the
    height of a 2-D map, the width (length) of a 1-D sequence."""
    pool = kind.startswith("Pooling")
    if kind.endswith("2D"):
        keys = ("in_height", "out_height", "pool_height" if pool else "filt_height", "stride_height", "pad_top", "pad_bottom")
    else:
        keys = ("n_in" if pool else "in_width", "n_out" if pool else "out_width", "pool_width" if pool else "filt_width",
                "stride_width", "pad_left", "pad_right")
    t_in, t_out, fh, sh, pt, pb = (_int(layer, k) for k in keys)
    return t_in, t_out, max(fh, 1), max(sh, 1), (pt, pb)  # a 1x1 conv (hls4ml's Pointwise) may stride


def base_class(layer) -> str:
    """hls4ml's own class of a layer (backends subclass it, e.g. VitisConv2D -> Conv2D; io_stream's
    Repack lives in a backend module): the nearest class the layer table or hls4ml's layers know."""
    for cls in type(layer).__mro__:
        if by_hls4ml(cls.__name__) is not None or cls.__module__ == "hls4ml.model.layers":
            return cls.__name__
    return type(layer).__name__


def _shape(layer) -> tuple[int, ...]:
    return tuple(int(d) for d in layer.get_output_variable().shape)


def _refuse(layer, reason: str):
    raise UnsupportedLayerError(layer.name, base_class(layer), f"cannot stream: {reason}")


def _axis_from_shape(layer, shape: tuple[int, ...], t: TimeAxis) -> TimeAxis:
    """The time axis of a shape-only or element-wise layer's output: the same time steps, each
    possibly re-cut (a flatten keeps them in order: row-major)."""
    if t.decided:
        return TimeAxis(1, t.stride, shape, t.first, t.span, True)
    elems = math.prod(shape)
    if len(shape) == 1 and elems == t.rows * t.row_elems and t.rows > 1:
        return TimeAxis(t.rows, t.stride, (t.row_elems,), t.first, t.span)
    if len(shape) < 2 or shape[0] != t.rows or math.prod(shape[1:]) != t.row_elems:
        _refuse(layer, f"reshape to {shape} mixes the {t.rows} time steps of {t.row_elems} values each")
    return TimeAxis(t.rows, t.stride, shape[1:], t.first, t.span)


def build_plan(model_graph, decision_frames: int, window_frames: int = WINDOW_FRAMES) -> StreamPlan:
    """The streaming form of an hls4ml ModelGraph of a windowed KWS model, or one clear error."""
    if isinstance(decision_frames, bool) or not isinstance(decision_frames, int) or decision_frames < 1:
        raise ValueError(f"decision_frames={decision_frames!r}: a whole number of 20 ms frames >= 1")
    plan = StreamPlan(window_frames, decision_frames)
    axis: dict[str, TimeAxis] = {}  # hls4ml tensor name -> its time axis
    writer: dict[str, str] = {}  # tensor -> layer name
    for layer in model_graph.get_layers():
        kind = base_class(layer)
        inputs = [i for i in layer.inputs if i]
        if not plan.layers:  # the input layer: time is its first axis, or hidden in a flat vector
            step = StreamLayer(layer.name, kind, "row", (), None, _input_axis(layer, window_frames))
        else:
            missing = [i for i in inputs if i not in axis]
            if missing:
                _refuse(layer, f"reads {missing}, which no earlier layer writes")
            times = [axis[i] for i in inputs]
            if len({(t.rows, t.stride, t.decided) for t in times}) > 1:
                _refuse(layer, f"its inputs step through time differently: {[(t.rows, t.stride) for t in times]}")
            entry = for_hls4ml_layer(layer)
            step = _plan_layer(layer, kind, entry.role if entry else None, times[0], tuple(writer[i] for i in inputs),
                               decision_frames)
        plan.layers.append(step)
        for out in layer.outputs:
            axis[out] = step.time_out
            writer[out] = layer.name
    last = plan.layers[-1]
    if not last.time_out.decided:
        raise UnsupportedLayerError(last.name, last.kind, f"cannot stream: the output keeps {last.time_out.rows} time "
                                    "steps per window; the model must end in a global pooling or a dense layer over time")
    return plan


def _input_axis(layer, window_frames: int) -> TimeAxis:
    shape = _shape(layer)
    if len(shape) == 1:
        if shape[0] % window_frames:
            _refuse(layer, f"a flat input of {shape[0]} values is not {window_frames} frames of equal size")
        return TimeAxis(window_frames, 1, (shape[0] // window_frames,))
    if shape[0] != window_frames:
        _refuse(layer, f"its first axis has {shape[0]} steps, a window has {window_frames} frames")
    return TimeAxis(window_frames, 1, shape[1:])


def _plan_layer(layer, kind: str, role: str | None, t: TimeAxis, sources, k: int) -> StreamLayer:
    shape = _shape(layer)
    if role == "window":
        rows_in, rows_out, fh, sh, pads = _time_geometry(layer, kind)
        if any(pads):
            _refuse(layer, f"pads the time axis ({pads[0]} before, {pads[1]} after): the zeros would sit at a "
                    "different place in every window; train it with padding only along frequency (e.g. "
                    "model_args.time_padding=valid)")
        if t.decided:
            if rows_in != 1 or fh != 1:
                _refuse(layer, f"slides over {rows_in} steps after the time axis was collapsed")
            return StreamLayer(layer.name, kind, "emission", sources, t, _axis_from_shape(layer, shape, t))
        if rows_in != t.rows:
            _refuse(layer, f"reads {rows_in} time steps, its input has {t.rows}")
        span = t.span + (fh - 1) * t.stride
        if rows_out == 1:  # one output per window: one per decision in the stream
            return _collapse(layer, kind, sources, t, fh, shape, k, span)
        _check_stride(layer, t.stride * sh, k)
        out = TimeAxis(rows_out, t.stride * sh, shape[1:], t.first, span)
        return StreamLayer(layer.name, kind, "window" if fh > 1 or sh > 1 else "row", sources, t, out, fh=fh, sh=sh)
    if role == "dense":
        if t.decided:
            return StreamLayer(layer.name, kind, "emission", sources, t, TimeAxis(1, k, shape, t.first, t.span, True))
        return _collapse(layer, kind, sources, t, t.rows, shape, k, t.span + (t.rows - 1) * t.stride)
    if kind.startswith("Cropping"):
        two_d = kind.endswith("2D")
        c0, c1 = (_int(layer, "crop_top"), _int(layer, "crop_bottom")) if two_d else \
            (_int(layer, "crop_left"), _int(layer, "crop_right"))
        if t.decided:
            _refuse(layer, "crops after the time axis was collapsed")
        rows = t.rows - c0 - c1
        if rows < 1:
            _refuse(layer, f"crops all {t.rows} time steps")
        out = TimeAxis(rows, t.stride, shape[1:], t.first + c0 * t.stride, t.span)
        return StreamLayer(layer.name, kind, "crop" if c0 else "row", sources, t, out, skip=c0)
    if role == "zeropad":
        time_pads = ("pad_left", "pad_right") if kind.endswith("1D") else ("pad_top", "pad_bottom")
        if any(_int(layer, p) for p in time_pads):
            _refuse(layer, "pads the time axis: the zeros would sit at a different place in every window")
        if not t.decided:  # padding along frequency: the same time steps, each wider
            return StreamLayer(layer.name, kind, "row", sources, t, TimeAxis(t.rows, t.stride, shape[1:], t.first, t.span))
    elif role not in ("elementwise", "shape") and kind != "Clone":
        _refuse(layer, f"no streaming form for {kind}")
    return StreamLayer(layer.name, kind, "emission" if t.decided else "row", sources, t, _axis_from_shape(layer, shape, t))


def _collapse(layer, kind, sources, t: TimeAxis, fh: int, shape, k: int, span: int) -> StreamLayer:
    _check_stride(layer, t.stride, k)
    out = TimeAxis(1, k, shape, t.first, span, True)
    return StreamLayer(layer.name, kind, "collapse", sources, t, out, fh=fh, sh=k // t.stride)


def _check_stride(layer, stride: int, k: int) -> None:
    if k % stride:
        multiples = ", ".join(str(stride * m) for m in (1, 2, 3))
        raise UnsupportedLayerError(
            layer.name, base_class(layer),
            f"cannot stream: a decision every {k} frames does not divide by its time stride of {stride} frames "
            f"(windows would start between its time steps): choose decision_frames as a multiple of {stride} "
            f"({multiples}, ...)")
