"""hls4ml Conv1D / Conv2D / PointwiseConv1D / PointwiseConv2D -> line buffer + kws_dense per window.

im2col on the fly: kws_window streams each FH x FW window pixel by pixel (Keras kernel order
fh, fw, C_in), kws_dense treats it as one frame of FH*FW*C inputs and emits one output pixel of
n_filt channels. ReuseFactor as in hls4ml: multipliers = MACs per output pixel / RF.
A 1x1 stride-1 unpadded conv (pointwise) needs no line buffer: each pixel is its frame.
"""

from __future__ import annotations

from ..errors import UnsupportedLayerError
from .base import EmittedLayer, Edge, verilog_ident
from .dense_emitter import dense_core
from .window import behind_window, check_pixel_beat, window_cycles, window_of, with_line_buffer


def mac_layer(spec, edge_in: Edge, prefix: str, rf: int, win, weights, depthwise: bool) -> EmittedLayer:
    """Shared by conv and depthwise: optional window stage + dense/depthwise MAC core."""
    check_pixel_beat(spec, edge_in, win)
    if spec.accum is None:
        raise UnsupportedLayerError(spec.name, spec.kind, "no accum_t in the graph")
    b_raw, b_type = spec.weights.get("bias", (None, None))
    n_out = weights.shape[1]
    bias = b_raw.reshape(-1) if b_raw is not None else None
    if bias is not None and bias.size == 1 and n_out > 1:
        bias = bias.repeat(n_out)
    name = f"{prefix}_{verilog_ident(spec.name)}"
    core_name = name if win.trivial else f"{name}_mac"
    core = dense_core(name=core_name, kind=spec.kind, layer=spec.name, edge_in=edge_in, weights=weights,
                      w_type=spec.weights["weight"][1], bias=bias, b_type=b_type, acc=spec.accum, out=spec.out_type,
                      out_beat=n_out, rf=rf, depthwise=depthwise, activation=spec.activation,
                      frames=win.positions, budget=int(spec.attrs.get("kws_stage_budget", 0) or 0))
    macs = weights.shape[0] * n_out  # per output pixel (depthwise: taps x channels)
    core.notes.update({"window": f"{win.fh}x{win.fw}/{win.sh}x{win.sw}", "positions": win.positions,
                       "macs_per_frame": macs * win.positions, "mac_cycles": core.compute_cycles * win.positions})
    win = with_line_buffer(spec, win, edge_in, core.compute_cycles)
    core.compute_cycles = window_cycles(win, core.compute_cycles)
    return core if win.trivial else behind_window(core, name, spec, win, edge_in, core_name)


def emit_conv(spec, edge_in: Edge, prefix: str, rf: int) -> EmittedLayer:
    two_d = spec.kind.endswith("2D")
    win = window_of(spec, two_d)
    w_raw, _ = spec.weights["weight"]
    n_filt = int(spec.attrs.get("n_filt"))
    weights = w_raw.reshape(-1, n_filt)
    if weights.shape[0] != win.taps * win.c:
        raise UnsupportedLayerError(spec.name, spec.kind, f"kernel has {weights.shape[0]} rows, window {win.taps}x{win.c}")
    return mac_layer(spec, edge_in, prefix, rf, win, weights, depthwise=False)


def emit_depthwise(spec, edge_in: Edge, prefix: str, rf: int) -> EmittedLayer:
    if int(spec.attrs.get("depth_multiplier", 1) or 1) != 1:
        raise UnsupportedLayerError(spec.name, spec.kind, "depth_multiplier != 1 is not implemented")
    win = window_of(spec, spec.kind.endswith("2D"))
    w_raw, _ = spec.weights["weight"]
    weights = w_raw.reshape(win.taps, win.c)
    return mac_layer(spec, edge_in, prefix, rf, win, weights, depthwise=True)
