"""hls4ml Pooling1D / Pooling2D (Average, Max; valid padding) -> line buffer + kws_pool.

Same arithmetic as hw.golden: inputs converted to accum_t, summed (wrapping), divided by the
window size with truncation toward zero, converted to the result type. The constant division is
an exact multiply-shift (magic number checked here for every sum the accumulator can hold), one
channel per cycle through a shared divider when the window has at least as many beats as channels
or when the stream is slow enough (see emit_pool).
A global pool (one window = the whole map) feeds kws_pool straight from the stream.
"""

from __future__ import annotations

from qat.fixed import MAX_WIDTH

from ..errors import UnsupportedLayerError
from ..requant import OVF_CODE, RND_CODE, requant_params
from .base import EmittedLayer, Edge, stream_module_head, verilog_ident
from .window import behind_window, check_pixel_beat, window_of

# widest pooling accumulator: one bit below the fixed-point type's limit
MAX_ACC = MAX_WIDTH - 1


def division_magic(k: int, n_bits: int) -> tuple[int, int]:
    """(M, s) with floor(a / k) == (a * M) >> s for every 0 <= a < 2**n_bits (Granlund-Montgomery)."""
    s = n_bits + max(0, (k - 1).bit_length())
    m = -(-(1 << s) // k)
    # exactness condition: the rounding error of M, times the largest a, stays below one step
    assert m * k - (1 << s) <= (1 << (s - n_bits)), (k, n_bits)
    return m, s


def pool_arithmetic(spec, src) -> tuple[str, "Window", dict]:
    """(op, window, the kws_pool_combine / output-conversion parameters) of a pooling layer reading
    elements of type `src` (an Edge or a FixedType), after the checks every pooling form shares."""
    op = str(spec.attrs.get("pool_op", "Average"))
    if op not in ("Average", "Max"):
        raise UnsupportedLayerError(spec.name, spec.kind, f"pool_op {op!r} not implemented")
    win = window_of(spec, spec.kind.endswith("2D"), pool=True)
    if win.pt or win.pb or win.pl or win.pr:
        raise UnsupportedLayerError(spec.name, spec.kind, "padded pooling is not implemented (nor modelled by hw.golden)")
    acc, out = spec.accum, spec.out_type
    if acc is None:
        raise UnsupportedLayerError(spec.name, spec.kind, "no accum_t in the graph")
    if op == "Average" and acc.overflow != "WRAP":
        raise UnsupportedLayerError(spec.name, spec.kind, f"saturating accumulator {acc} is order-dependent")
    if acc.frac < src.frac:
        raise UnsupportedLayerError(spec.name, spec.kind, f"accumulator {acc} drops input fraction bits")
    if acc.width > MAX_ACC:
        raise UnsupportedLayerError(spec.name, spec.kind, f"accumulator width {acc.width} exceeds {MAX_ACC}")
    to_acc, outp = requant_params(src.frac, acc), requant_params(acc.frac, out)
    return op, win, {"MAXP": int(op == "Max"), "IN_W": src.width, "IN_SIGNED": int(src.signed),
                     "ACC_W": acc.width, "ACC_SIGNED": int(acc.signed), "IN_SHIFT": to_acc["SHIFT"],
                     "ACC_RND": RND_CODE[acc.rounding], "ACC_OVF": OVF_CODE[acc.overflow],
                     "OUT_W": out.width, "OUT_SIGNED": int(out.signed), "OUT_SHIFT": outp["SHIFT"],
                     "OUT_RND": outp["RND"], "OUT_OVF": outp["OVF"]}


def emit_pool(spec, edge_in: Edge, prefix: str, rf: int) -> EmittedLayer:
    op, win, arith = pool_arithmetic(spec, edge_in)
    check_pixel_beat(spec, edge_in, win)
    acc, out = spec.accum, spec.out_type
    k = win.taps
    magic, mshift = division_magic(k, acc.width)
    # How many channels at once, by what the stream allows (kws_stage_budget: cycles per frame of
    # the slowest stage before this one, set by generate_rtl; within it a stage costs no II):
    # - channel-serial (kws_pool_serial): one converter/adder/divider, sums in a memory, K x C
    #   cycles per window - the DS-CNN's pool behind layers at reuse factors in the thousands;
    # - one shared divider (kws_pool SERIAL_DIV), K + C cycles: when that at most doubles the
    #   window's cycles (a global pool: 125 beats vs 64 channels) or fits the budget;
    # - C dividers at once otherwise (2x2 pools at low reuse factors). 64 parallel dividers of
    #   the DS-CNN's 60-beat stream pool were 256 of an ECP5's DSP blocks.
    # - channel-serial with a bit-serial divider (SDIV): no multiplier at all; a window's C x
    #   (ACC_W + 3) cycles of division overlap the next window's K x C cycles of sums (two banks,
    #   the input waits one cycle per channel), its last beat waits for them. Chosen only where
    #   even sums and division one after the other fit the budget: the division adds its C x
    #   (ACC_W + 3) cycles to the latency, small there (the global pool of the demo DS-CNN: 4 of a
    #   UP5K's 8 DSP blocks were its 29 x 36 multiply-shift; the 64-channel DS-CNN keeps the
    #   multiply-shift, which would cost it +2,100 cycles of latency).
    budget = int(spec.attrs.get("kws_stage_budget", 0) or 0)
    sdiv_serial = win.positions * (k * win.c + 1 + win.c * (acc.width + 3)) + 1
    sdiv_cycles = win.positions * max(k * win.c + win.c, win.c * (acc.width + 4) + 2) + 1
    sdiv = op == "Average" and win.c > 1 and sdiv_serial + 1 <= budget
    if sdiv:
        mode, cycles = "channel-serial", sdiv_cycles
    elif win.c > 1 and win.positions * k * win.c + 2 <= budget:
        mode, cycles = "channel-serial", win.positions * k * win.c + 1
    elif op == "Average" and win.c > 1 and (win.c <= k or win.positions * (k + win.c) + 1 <= budget):
        mode, cycles = "serial divider", win.positions * (k + win.c)
    else:
        mode, cycles = "parallel", win.positions * k
    serial = mode == "serial divider"
    ins = ("IN_W", "IN_SIGNED", "ACC_W", "ACC_SIGNED", "IN_SHIFT", "ACC_RND", "ACC_OVF")
    outs = ("OUT_W", "OUT_SIGNED", "OUT_SHIFT", "OUT_RND", "OUT_OVF")
    params = {"C": win.c, "K": k, "MAXP": arith["MAXP"], **({"SDIV": 1} if sdiv else {}),
              **({} if mode == "channel-serial" else {"SERIAL_DIV": int(serial)}),
              **{n: arith[n] for n in ins}, "MW": mshift + 1, "MAGIC": f"{mshift + 1}'d{magic}", "MSHIFT": mshift,
              **{n: arith[n] for n in outs}}
    name = f"{prefix}_{verilog_ident(spec.name)}"
    core_name = name if win.global_ else f"{name}_pool"
    out_w = win.c * out.width
    plist = ",\n        ".join(f".{k_}({v})" for k_, v in params.items())
    core = f"""// Layer {spec.name} ({spec.kind}, {op}): {k}-pixel windows of {win.c} channels; acc {acc}, out {out} (generated)
{stream_module_head(core_name, edge_in.tdata_width, out_w)}    {"kws_pool_serial" if mode == "channel-serial" else "kws_pool"} #(
        {plist}
    ) u_pool (
        .clk(clk), .rst_n(rst_n),
        .s_axis_tdata(s_axis_tdata), .s_axis_tvalid(s_axis_tvalid), .s_axis_tready(s_axis_tready),
        .m_axis_tdata(m_axis_tdata), .m_axis_tvalid(m_axis_tvalid), .m_axis_tready(m_axis_tready)
    );
endmodule
"""
    layer = EmittedLayer(layer=spec.name, kind=spec.kind, module=name, verilog=core,
                         out=Edge(win.c, out), library=("kws_requant.v", "kws_pool_div.v", "kws_pool_combine.v",
                                  "kws_pool_serial.v" if mode == "channel-serial" else "kws_pool.v"),
                         compute_cycles=cycles,
                         notes={"pool_op": op, "window": f"{win.fh}x{win.fw}/{win.sh}x{win.sw}", "accumulator": str(acc),
                                "channels": mode, **({"divider": f"bit-serial, {acc.width + 3} cycles a channel"} if sdiv else
                                                     {"divider": f"x{magic} >> {mshift}" + (", one channel per cycle" if mode != "parallel" else "")}
                                                     if op == "Average" else {})})
    return layer if win.global_ else behind_window(layer, name, spec, win, edge_in, core_name)
