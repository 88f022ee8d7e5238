"""Geometry of a sliding-window layer read from hls4ml attributes, and the kws_window wrapper
that puts a line buffer in front of a per-window core (conv, depthwise, pooling).

A 1-D sequence is walked as a 2-D map of W rows x 1 column (H = W, FH = FW, ...): the window
order is the same, and the line buffer then holds FW samples instead of a whole row. Either way
time (or the first spatial axis) is the row axis.

A streaming layer (``spec.attrs["kws_stream"]``, set by hw/rtl/stream_generate.py) has the geometry
of one output time step (FH input rows, one output row) and runs behind kws_window_stream, which
keeps the last FH rows of an endless stream and emits a window row every SH input rows.
"""

from __future__ import annotations

from dataclasses import dataclass, replace

from ..errors import UnsupportedLayerError
from .base import EmittedLayer, Edge, stream_module_head


@dataclass(frozen=True)
class Window:
    h: int
    w: int
    c: int
    fh: int
    fw: int
    sh: int
    sw: int
    pt: int
    pb: int
    pl: int
    pr: int
    oh: int
    ow: int
    stream: bool = False  # an endless stream of rows (kws_window_stream), not one frame
    mem_words: int = 0    # block-RAM line buffer (kws_window MEM=1): memory words per pixel; 0: registers

    @property
    def taps(self) -> int:
        return self.fh * self.fw

    @property
    def positions(self) -> int:
        return self.oh * self.ow

    @property
    def trivial(self) -> bool:
        """1x1, stride 1, no padding: every input pixel is its own window (pointwise)."""
        return self.fh == self.fw == self.sh == self.sw == 1 and not (self.pt or self.pb or self.pl or self.pr)

    @property
    def global_(self) -> bool:
        """One window covering the whole unpadded map (global pooling): no line buffer needed.
        In a stream the map never ends: a pooling over all of a window's rows slides."""
        return (self.fh, self.fw, self.oh, self.ow) == (self.h, self.w, 1, 1) and not (self.pt or self.pl) \
            and not self.stream


def window_of(spec, kind2d: bool, pool: bool = False) -> Window:
    g = spec.attrs.get
    c = int(g("n_filt") if pool else g("n_chan"))
    fh_key, fw_key = ("pool_height", "pool_width") if pool else ("filt_height", "filt_width")
    if kind2d:
        win = Window(int(g("in_height")), int(g("in_width")), c, int(g(fh_key)), int(g(fw_key)),
                     int(g("stride_height")), int(g("stride_width")), int(g("pad_top", 0) or 0),
                     int(g("pad_bottom", 0) or 0), int(g("pad_left", 0) or 0), int(g("pad_right", 0) or 0),
                     int(g("out_height")), int(g("out_width")))
    else:
        w_in = int(g("n_in") if pool else g("in_width"))
        w_out = int(g("n_out") if pool else g("out_width"))
        win = Window(w_in, 1, c, int(g(fw_key)), 1, int(g("stride_width")), 1, int(g("pad_left", 0) or 0),
                     int(g("pad_right", 0) or 0), 0, 0, w_out, 1)
    if g("kws_stream"):
        if win.pt or win.pb:
            raise UnsupportedLayerError(spec.name, spec.kind, "a streaming layer cannot pad the time axis")
        win = replace(win, stream=True)
    # The output size must be what the window walk produces (hls4ml's own formula).
    want_oh = (win.h + win.pt + win.pb - win.fh) // win.sh + 1
    want_ow = (win.w + win.pl + win.pr - win.fw) // win.sw + 1
    if (win.oh, win.ow) != (want_oh, want_ow):
        raise UnsupportedLayerError(spec.name, spec.kind, f"output {win.oh}x{win.ow} does not follow from the window "
                                    f"geometry ({want_oh}x{want_ow})")
    return win


def check_pixel_beat(spec, edge_in: Edge, win: Window) -> None:
    if edge_in.beat != win.c:
        raise UnsupportedLayerError(spec.name, spec.kind, f"needs one pixel ({win.c} channels) per beat, the stream "
                                    f"carries {edge_in.beat} elements per beat")


def window_params(win: Window, elem_width: int) -> dict:
    if win.stream:  # endless rows: no height, no top padding, no frame end
        return {"W": win.w, "CW": win.c * elem_width, "FH": win.fh, "FW": win.fw, "SH": win.sh, "SW": win.sw,
                "PL": win.pl, "OW": win.ow}
    cw = win.c * elem_width
    return {"H": win.h, "W": win.w, "CW": cw, "FH": win.fh, "FW": win.fw, "SH": win.sh,
            "SW": win.sw, "PT": win.pt, "PL": win.pl, "OH": win.oh, "OW": win.ow,
            **({"MEM": 1, "MW": cw // win.mem_words} if win.mem_words else {})}


# Word widths of the block-RAM line buffer, first that divides the pixel: iCE40's EBR as 256 x 16 or
# 512 x 8 (ECP5's DP16KD has 18- and 9-bit ports). A whole pixel per word (128 bits for 16 channels
# of 8 bits) would take 8 block RAMs per window.
BRAM_WORD_BITS = (16, 8)


def with_line_buffer(spec, win: Window, edge_in: Edge, core_cycles: int) -> Window:
    """`win` with the block-RAM line buffer where the stream is slow enough for it, else as it is.
    Only when asked (generate_rtl(block_line_buffers=True): a target without LUT-RAM).

    In registers the line buffer is FH x W x CW flip-flops on an iCE40 (no distributed RAM): the
    DS-CNN's 16-channel depthwise windows, ~1,900 LUT4 + 2,000 FF each (synth_ice40 of kws_window,
    tests/test_rtl_synth.py::test_block_ram_line_buffer_maps_to_block_ram). In block RAM it reads a
    pixel as CW / 16 (or CW / 8) words, a few times slower; like the pool's serial modes it is chosen only
    while the layer stays within kws_stage_budget (the slowest stage before it, set by
    generate_rtl), or, for the first layer or the slowest one, within its own cycles in registers,
    so it costs no II. Not for kws_window_stream, nor a pixel that is not whole 16- or 8-bit words.
    Conv / depthwise cores only (window_cycles is their model): a pool's
    serial modes hold each beat for several cycles, which the word-serial read would add to."""
    cw = edge_in.tdata_width
    budget = int(spec.attrs.get("kws_stage_budget", 0) or 0)
    word = next((w for w in BRAM_WORD_BITS if cw % w == 0), None)
    if not spec.attrs.get("kws_block_line_buffers") or win.stream or win.trivial or word is None:
        return win
    bram = replace(win, mem_words=cw // word)
    cycles = window_cycles(bram, core_cycles)
    return bram if cycles + 1 <= budget or cycles <= window_cycles(win, core_cycles) else win


def window_module(win: Window) -> str:
    return "kws_window_stream" if win.stream else "kws_window"


def windowed_wrapper(name: str, layer: str, kind: str, win: Window, edge_in: Edge, core_module: str,
                     out_tdata_width: int) -> str:
    """Module `name`: kws_window (line buffer, windows pixel by pixel) -> `core_module`."""
    cw = edge_in.tdata_width
    plist = ", ".join(f".{k}({v})" for k, v in window_params(win, edge_in.width).items())
    buffer = "ring of" if win.stream else "block-RAM line buffer of" if win.mem_words else "line buffer of"
    return f"""// Layer {layer} ({kind}): {buffer} {win.fh} rows x {win.w} pixels, {win.fh}x{win.fw} windows stride {win.sh}x{win.sw} -> {core_module} (generated)
{stream_module_head(name, cw, out_tdata_width)}    wire [{cw-1}:0] win_tdata;
    wire win_tvalid, win_tready;
    {window_module(win)} #({plist}) u_win (
        .clk(clk), .rst_n(rst_n),
        .s_axis_tdata(s_axis_tdata), .s_axis_tvalid(s_axis_tvalid), .s_axis_tready(s_axis_tready),
        .m_axis_tdata(win_tdata), .m_axis_tvalid(win_tvalid), .m_axis_tready(win_tready)
    );
    {core_module} u_core (
        .clk(clk), .rst_n(rst_n),
        .s_axis_tdata(win_tdata), .s_axis_tvalid(win_tvalid), .s_axis_tready(win_tready),
        .m_axis_tdata(m_axis_tdata), .m_axis_tvalid(m_axis_tvalid), .m_axis_tready(m_axis_tready)
    );
endmodule
"""


def window_cycles(win: Window, core_cycles: int) -> int:
    """Cycles per frame of a MAC core behind a window: the window streams one pixel per beat, so a
    window takes at least its taps, and the core its own cycles plus one to take the next window.

    Block-RAM form (win.mem_words = NWD): a window pixel takes NWD + 2 cycles (NWD word reads, one
    for the registered read, one to hand it on; a padding pixel takes 2, counted as NWD + 2), an
    input pixel NWD writes. With NWD > 1 the input writes are counted in full on top: the next
    frame's input waits for the current frame's last window, so most of them do not overlap (an
    upper bound: the first window needs only its rows' pixels, and padding pixels are quicker).
    With NWD = 1 the input side is the register form's (a beat written and taken in one cycle)."""
    if not win.mem_words:
        return win.positions * max(win.taps if not win.trivial else 1, core_cycles + 1)
    writes = win.h * win.w * win.mem_words if win.mem_words > 1 else 0
    return writes + win.positions * max(win.taps * (win.mem_words + 2), core_cycles + 1)


def behind_window(layer: EmittedLayer, name: str, spec, win: Window, edge_in: Edge, core_module: str) -> EmittedLayer:
    """Put `layer` (whose verilog is the module `core_module`, one window per input beat) behind a
    kws_window line buffer: the result is module `name`, the core becomes an extra file."""
    layer.extra_files[f"{core_module}.v"] = layer.verilog
    layer.verilog = windowed_wrapper(name, spec.name, spec.kind, win, edge_in, core_module, layer.out.tdata_width)
    layer.module = name
    layer.library = (f"{window_module(win)}.v",) + tuple(layer.library)
    layer.notes["line_buffer_bits"] = win.fh * win.w * edge_in.tdata_width
    layer.notes["line_buffer"] = (f"block RAM, {edge_in.tdata_width // win.mem_words}-bit words" if win.mem_words
                                  else "registers")
    return layer
