"""The streaming IP, generated from the same hls4ml graph as the windowed one.

The top level takes one feature frame per beat (valid/ready) and gives one logit vector per
decision (every `decision_frames` frames), the logits of the window that ends at the newest frame,
equal to the windowed design's on that window. The layers are the windowed design's modules with
the geometry of one time step (hw/stream/plan.py decides which layer is what):

- a layer sliding over time keeps its last FH input rows in kws_window_stream and computes each
  new output row once (convolutions, depthwise convolutions, poolings);
- the layer that collapses time (global pooling, a dense layer on the flattened window) slides
  over the window's rows with a stride of one decision, so it alone runs once per decision;
- a crop of the first time steps (a right-aligned residual shortcut) drops them once after a
  reset (kws_skip); per-time-step layers (activations, adds, 1x1 convolutions, padding of the
  frequency axis) are the windowed design's modules on one row.
"""

from __future__ import annotations

import json
import math
from dataclasses import replace
from pathlib import Path

from hw.stream.plan import StreamLayer, StreamPlan

from .emitters.base import EmittedLayer, Edge, verilog_ident
from .emitters.window import Window, behind_window, window_cycles
from .errors import RtlGenerationError, UnsupportedLayerError, require_same_type
from .generate import RtlDesign, emit_layer, generate_rtl
from .layer_spec import LayerSpec, read_graph
from .schedule import SLACK_BEATS

SLIDING = ("Conv1D", "Conv2D", "DepthwiseConv1D", "DepthwiseConv2D", "Pooling1D", "Pooling2D")


def _one_step_attrs(spec: LayerSpec, step: StreamLayer) -> dict:
    """hls4ml attributes of one output time step: `fh` input rows, one output row, no time pads."""
    pool = step.kind.startswith("Pooling")
    if step.kind.endswith("2D"):
        return {"in_height": step.fh, "out_height": 1, "pad_top": 0, "pad_bottom": 0, "stride_height": step.sh,
                "kws_stream": True}
    if pool:
        return {"n_in": step.fh, "n_out": 1, "pad_left": 0, "pad_right": 0, "stride_width": step.sh, "kws_stream": True}
    return {"in_width": step.fh, "out_width": 1, "pad_left": 0, "pad_right": 0, "stride_width": step.sh,
            "kws_stream": True}


def _step_shape(time, rows: int) -> tuple[int, ...]:
    return tuple(time.row_shape) if time.decided else (rows, *time.row_shape)


def stream_spec(spec: LayerSpec, step: StreamLayer) -> LayerSpec:
    """The spec of one time step of a layer (a copy: the windowed specs stay as they are)."""
    attrs = dict(spec.attrs)
    rows_in = step.fh if step.role in ("window", "collapse") else 1
    in_shape = _step_shape(step.time_in, rows_in) if step.time_in is not None else _step_shape(step.time_out, 1)
    if step.kind.endswith(SLIDING) and step.role in ("window", "collapse", "row"):
        attrs.update(_one_step_attrs(spec, step))
    elif step.kind.startswith("ZeroPadding") and not step.time_out.decided:
        attrs.update({"in_height": 1, "out_height": 1})
    elif step.kind == "Dense" and step.role == "collapse":
        in_shape = (step.fh * step.time_in.row_elems,)
    return replace(spec, attrs=attrs, in_shape=in_shape, out_shape=_step_shape(step.time_out, 1))


def _pixels(time) -> int:
    """Beats per time step of a stream of one pixel (all channels) per beat."""
    return math.prod(time.row_shape[:-1]) if len(time.row_shape) > 1 else 1


def pixel_beat(plan: StreamPlan) -> int:
    """Elements per beat inside the IP: one pixel (all channels) of the time steps as the first
    layer that computes sees them (after the reshapes in front of it, e.g. 49x10x1 MFCC read as 49
    frames of 10 channels): a frame of a 2-D map is a row of pixels, of a sequence one pixel."""
    row = plan.layers[0].time_out.row_shape
    for step in plan.layers[1:]:
        if step.role != "row" or len(step.inputs) != 1 or step.kind not in ("Reshape", "Repack"):
            break
        row = step.time_out.row_shape
    return row[-1]


def merge_fifo_depths(spec: LayerSpec, plan: StreamPlan) -> tuple[tuple[int, int], dict]:
    """FIFO depths in front of a merge in the stream. Each input's time step t is complete once
    frame first + span - 1 + t*stride has arrived; the branch that completes its steps earlier
    runs that many steps ahead of the other and must be able to park them (plus the row in
    progress: pixels within a row may complete in either order)."""
    times = [plan[name].time_out for name in spec.inputs]
    if times[0].decided:  # per decision: one whole output frame on each side
        frame = _pixels(times[0])
        return (frame + SLACK_BEATS,) * 2, {"model": "stream: one decision's frame"}
    ready = [t.first + t.span for t in times]
    lead = [math.ceil(max(0, ready[1 - j] - ready[j]) / times[j].stride) for j in (0, 1)]
    depths = tuple((lead[j] + 1) * _pixels(times[j]) + SLACK_BEATS if lead[j] or ready[0] == ready[1] else 0
                   for j in (0, 1))
    return depths, {"model": "stream", "ready_frame": ready, "lead_steps": lead}


def _emit_stream(plan: StreamPlan):
    """emit(spec, edge, top, rf) for generate_rtl: the layers whose streaming hardware differs."""

    def emit(spec: LayerSpec, edge, top: str, rf: int) -> EmittedLayer:
        step = plan[spec.name]
        if step.role == "crop":
            return _emit_skip(spec, step, edge, top)
        if step.kind.startswith("Cropping"):
            raise UnsupportedLayerError(spec.name, step.kind, "cropping along frequency is not implemented in the stream")
        if step.kind == "Dense" and step.role == "collapse":  # the dense core gets its own module name
            return _behind_time_window(emit_layer(spec, edge, f"{top}_core", rf), spec, step, edge, top)
        return emit_layer(spec, edge, top, rf)

    return emit


def _behind_time_window(layer: EmittedLayer, spec: LayerSpec, step: StreamLayer, edge: Edge, top: str) -> EmittedLayer:
    """A dense layer reading a whole window of time steps: a ring of `fh` rows in front of it
    emits those rows, in order, once per decision."""
    if step.time_in.row_elems % edge.beat:
        raise UnsupportedLayerError(spec.name, step.kind, f"a time step of {step.time_in.row_elems} values does not "
                                    f"split into beats of {edge.beat}")
    pixels = step.time_in.row_elems // edge.beat
    win = Window(h=step.fh, w=pixels, c=edge.beat, fh=step.fh, fw=pixels, sh=step.sh, sw=1, pt=0, pb=0, pl=0, pr=0,
                 oh=1, ow=1, stream=True)
    wrapped = behind_window(layer, f"{top}_{verilog_ident(spec.name)}", spec, win, edge, layer.module)
    # the ring emits the window's rows one beat each: a decision costs at least those beats
    wrapped.compute_cycles = window_cycles(win, layer.compute_cycles)
    return wrapped


def _emit_skip(spec: LayerSpec, step: StreamLayer, edge: Edge, top: str) -> EmittedLayer:
    require_same_type(spec)
    if step.time_in.row_shape != step.time_out.row_shape:
        raise UnsupportedLayerError(spec.name, spec.kind, "cropping along frequency is not implemented in the stream")
    beats = step.skip * _pixels(step.time_in)
    params = {"N": beats, "CW": edge.tdata_width}
    return EmittedLayer(layer=spec.name, kind=spec.kind, module="kws_skip", verilog="", out=edge, library=("kws_skip.v",),
                        notes={"params": params, "parameterized": True, "skip_steps": step.skip})


def generate_stream_rtl(model_graph, plan: StreamPlan, out_dir, *, top: str = "kws_stream", reuse_factor=None,
                        tail=(), wrap_emit=None) -> RtlDesign:
    """Verilog of the streaming form of `model_graph` in `out_dir` (files.f, .core, report as for
    the windowed design), plus stream_plan.json: which layer streams how. `wrap_emit(emit)` may
    wrap the per-layer emitter (hw/planner.py records what each layer was given)."""
    specs = read_graph(model_graph)
    missing = [s.name for s in specs if s.name not in {layer.name for layer in plan.layers}]
    if missing:
        raise RtlGenerationError(f"the stream plan has no entry for layer(s) {missing}")
    streamed = [stream_spec(spec, plan[spec.name]) for spec in specs]
    for spec in streamed:
        if len(spec.inputs) > 1:
            spec.attrs["kws_fifo_depths"], spec.attrs["kws_fifo_schedule"] = merge_fifo_depths(spec, plan)
    design = generate_rtl(streamed, out_dir, top=top, reuse_factor=reuse_factor, input_beat=pixel_beat(plan),
                          frame_beat=plan.frame_elems, emit=(wrap_emit or (lambda e: e))(_emit_stream(plan)), tail=tail)
    design.report["stream"] = plan.to_dict()
    (Path(out_dir) / "stream_plan.json").write_text(json.dumps(plan.to_dict(), indent=1))
    return design
