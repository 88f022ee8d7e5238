"""hls4ml Dense -> kws_dense engine + a weight ROM module (also used by the conv emitters)."""

from __future__ import annotations

import numpy as np

from qat.fixed import FixedType

from ..channel_shift import ChannelShifts, factor_channel_shifts
from qat.fixed import MAX_WIDTH  # widest accumulator / element: what the golden model computes exactly

from ..errors import UnsupportedLayerError
from ..frame_store import frame_memory
from ..layer_spec import FusedActivation
from ..shift_add import constant_mac
from .shift_add_emitter import shift_add_module
from ..requant import OVF_CODE, RND_CODE, pack, requant_params, verilog_const
from .base import EmittedLayer, Edge, stream_module_head, verilog_ident



def valid_reuse_factors(n_in: int, n_out: int) -> list[int]:
    """RFs the IB x OB schedule can realise: (n_in/IB) * (n_out/OB) for divisors IB, OB."""
    div = lambda n: [d for d in range(1, n + 1) if n % d == 0]  # noqa: E731
    return sorted({(n_in // ib) * (n_out // ob) for ib in div(n_in) for ob in div(n_out)})


def schedule(n_in: int, n_out: int, rf: int, layer: str, kind: str) -> tuple[int, int]:
    """(IB, OB): inputs and outputs per cycle, IB*OB multipliers, rf cycles per frame.

    Among factorisations, the one with the most inputs per cycle: fewer chunks to select
    between and fewer accumulator registers.
    """
    options = []
    for ib in range(n_in, 0, -1):
        n_ic = n_in // ib
        if n_in % ib == 0 and rf % n_ic == 0 and n_out % (rf // n_ic) == 0:
            options.append((ib, n_out // (rf // n_ic)))
    if not options:
        near = [r for r in valid_reuse_factors(n_in, n_out) if abs(r - rf) <= max(rf, 8)]
        raise UnsupportedLayerError(layer, kind, f"reuse factor {rf} impossible for {n_in}x{n_out}; valid near it: {near}")
    return options[0]


def rom_module(name: str, weights: np.ndarray, ib: int, ob: int, w_width: int) -> tuple[str, str, int, int]:
    """Weight ROM read synchronously from `<name>_rom.hex` ($readmemh): word a holds
    W[ic*IB+j][og*OB+o] at slot o*IB+j, a = og*N_IC + ic.

    A registered read of an initialised array is what Yosys maps to block RAM and what Verilator
    loads at run time; a `case` table of the same bits becomes LUT logic and C++ source that took
    an hour to compile for the 2.3 Mbit FFN. Returns (verilog, hex text, address width, total bits).
    """
    n_in, n_out = weights.shape
    n_ic, n_og = n_in // ib, n_out // ob
    depth = n_ic * n_og
    aw = max(1, (depth - 1).bit_length())
    word_w = ib * ob * w_width
    mask = (1 << w_width) - 1
    digits = (word_w + 3) // 4
    words = []
    for og in range(n_og):
        block = weights[:, og * ob:(og + 1) * ob]
        for ic in range(n_ic):
            word = 0
            sub = block[ic * ib:(ic + 1) * ib, :]
            for o in range(ob):
                for j in range(ib):
                    word |= (int(sub[j, o]) & mask) << ((o * ib + j) * w_width)
            words.append(f"{word:0{digits}x}\n")
    verilog = f"""// Weight ROM of layer {name}: {depth} words x {word_w} bits from {name}_rom.hex (generated).
// Registered read: data is the word at the address presented one clock earlier.
module {name}_rom (
    input  wire clk,
    input  wire [{aw-1}:0] addr,
    output reg  [{word_w-1}:0] data
);
    (* rom_style = "block", ram_style = "block" *)  // weights in block RAM, not LUT logic
    reg [{word_w-1}:0] mem [0:{depth-1}];
    initial $readmemh("{name}_rom.hex", mem);
    always @(posedge clk) data <= mem[addr];
endmodule
"""
    return verilog, "".join(words), aw, depth * word_w


def single_output_buffer(cycles: int, n_out: int, frames: int, budget: int) -> bool:
    """kws_dense OBUF = 0 (its results leave from yreg, no second copy): where even a stage that
    computes a frame and only then emits it, one element per cycle, stays within the budget - then
    that serialization costs no II. Not for the slowest stage (budget 0 before the first one)."""
    return budget > 0 and frames * (cycles + 1 + n_out) <= budget


def dense_core(*, name: str, kind: str, layer: str, edge_in: Edge, weights: np.ndarray, w_type: FixedType,
               bias: np.ndarray, b_type: FixedType | None, acc: FixedType, out: FixedType, out_beat: int,
               rf: int, depthwise: bool = False, activation: FusedActivation | None = None,
               frames: int = 1, budget: int = 0) -> EmittedLayer:
    """Generate `name` (stream ports) = ROM + kws_dense for y = x @ weights + bias.

    depthwise: `weights` is (taps, channels) and the frame holds taps x channels inputs; output
    channel o sums only its own channel (see kws_dense.v, DW).
    out: the type of the output lanes; with a fused `activation` the sum is first cast to the
    layer's result type (activation.result_type), then the activation gives `out`.
    frames, budget: frames per inference (a conv's output positions) and the stage budget (cycles
    per inference of the slowest stage before it): see single_output_buffer.
    """
    n_in, n_out = weights.shape
    frame = n_in * n_out if depthwise else n_in
    if frame % edge_in.beat:
        raise UnsupportedLayerError(layer, kind, f"{frame} inputs do not split into beats of {edge_in.beat}")
    if acc.overflow != "WRAP" or not acc.signed:
        raise UnsupportedLayerError(layer, kind, f"accumulator {acc}: only signed WRAP accumulators are "
                                    "order-independent under time multiplexing")
    result = activation.result_type if activation is not None else out
    for what, t in (("accumulator", acc), ("result", result), ("output", out), ("input", FixedType(edge_in.width, 0)),
                    ("weight", w_type)):
        if t.width > MAX_WIDTH:
            raise UnsupportedLayerError(layer, kind, f"{what} width {t.width} exceeds the generator limit {MAX_WIDTH}")
    ib, ob = schedule(n_in, n_out, rf, layer, kind)
    # per-channel power-of-two scales (wide graph weights with trailing zeros): narrow ROM + shifts
    pc = factor_channel_shifts(weights, w_type, edge_in.frac + w_type.frac - acc.frac)
    if pc is not None:
        weights, w_type = pc.weights, pc.w_type
    if ib == n_in and ob == n_out and not depthwise and edge_in.beat == n_in and out_beat == n_out:
        return _pipelined(name=name, kind=kind, layer=layer, edge_in=edge_in, weights=weights, w_type=w_type,
                          bias_acc=_bias_acc(bias, b_type, acc, n_out), acc=acc, out=out, pc=pc,
                          activation=activation)
    arith = _arith_params(edge_in, w_type, acc, out, pc, activation)
    rom_words, rom_width = weights, w_type.width
    if pc is not None and pc.binary:  # one sign bit per weight (kws_mac_chain W_SIGN)
        rom_words, rom_width = pc.sign_bits(), 1
        arith = {**arith, "W_W": 1, "W_SIGN": 1}
    rom_text, rom_hex, aw, rom_bits = rom_module(name, rom_words, ib, ob, rom_width)
    bias_word = _bias_word(bias, b_type, acc, n_out)
    cycles = (n_in // ib) * (n_out // ob)
    mem = frame_memory(depthwise=depthwise, n_in=frame, n_out=n_out, in_beat=edge_in.beat, in_width=edge_in.width,
                       ib=ib, ob=ob, rf=cycles)
    single = single_output_buffer(cycles, n_out, frames, budget)
    head = ("IN_W", "IN_SIGNED", "W_W", "ACC_W")  # parameter order as before: generated text (and its hash) unchanged
    params = {"DW": int(depthwise), **({"XMEM": 1} if mem else {}), **({"OBUF": 0} if single else {}),
              "N_IN": frame, "N_OUT": n_out,
              "IN_BEAT": edge_in.beat, "OUT_BEAT": out_beat,
              **{k: arith[k] for k in head}, "IB": ib, "OB": ob, "AW": aw,
              **{k: v for k, v in arith.items() if k not in head}}
    plist = ",\n        ".join(f".{k}({v})" for k, v in params.items())
    text = _stream_wrapper(
        f"// Layer {layer} ({kind}): {n_in}x{n_out}{' depthwise' if depthwise else ''}, reuse {rf} -> {ib*ob} multipliers; "
        f"acc {acc}, {_out_text(out, activation)} (generated)", name, edge_in.tdata_width, out_beat * out.width,
        "kws_dense", plist,
        prelude=(f"    wire [{aw-1}:0] rom_addr;\n    wire [{ib*ob*rom_width-1}:0] rom_data;\n"
                 f"    {name}_rom u_rom (.clk(clk), .addr(rom_addr), .data(rom_data));\n"),
        ports=(f"        .rom_addr(rom_addr), .rom_data(rom_data),\n"
               f"        .bias({verilog_const(bias_word, n_out * acc.width)})"))
    return EmittedLayer(
        layer=layer, kind=kind, module=name, verilog=text, extra_files={f"{name}_rom.v": rom_text, f"{name}_rom.hex": rom_hex},
        out=Edge(out_beat, out),
        library=("kws_requant.v", "kws_requant_act.v", "kws_dense_out.v", "kws_mac_chain.v", "kws_unpack.v", "kws_frame_store.v",
                 "kws_dense.v"),
        multipliers=ib * ob, rom_bits=rom_bits, compute_cycles=cycles,
        notes={"IB": ib, "OB": ob, "reuse_factor": rf, "accumulator": str(acc), "n_in": n_in, "n_out": n_out,
               "output_register_bits": (1 if single else 2) * n_out * out.width,
               "output_buffer": "single" if single else "double", "frame_store": "memory" if mem else "registers",
               **({"frame_memory": f"{mem.depth} x {mem.word_bits}"} if mem else {}), **_shift_notes(pc, rom_width)},
    )


def _out_text(out: FixedType, activation: FusedActivation | None) -> str:
    if activation is None:
        return f"out {out}"
    return f"result {activation.result_type}, fused {activation.function} {activation.name} -> out {out}"


def _shift_notes(pc: ChannelShifts | None, stored_bits: int) -> dict:
    """Per-channel shifts and the width of the stored weight words."""
    return {} if pc is None else {"channel_shifts": list(pc.shifts), "stored_weight_bits": stored_bits}


def _stream_wrapper(comment: str, name: str, in_w: int, out_w: int, core: str, plist: str, *, ports: str,
                    prelude: str = "") -> str:
    """The layer module: stream ports, optional `prelude` (ROM), the core with its parameters and extra `ports`."""
    return f"""{comment}
{stream_module_head(name, in_w, out_w)}{prelude}    {core} #(
        {plist}
    ) u_core (
        .clk(clk), .rst_n(rst_n),
        .s_axis_tdata(s_axis_tdata), .s_axis_tvalid(s_axis_tvalid), .s_axis_tready(s_axis_tready),
        .m_axis_tdata(m_axis_tdata), .m_axis_tvalid(m_axis_tvalid), .m_axis_tready(m_axis_tready),
{ports}
    );
endmodule
"""


def _bias_acc(bias, b_type, acc: FixedType, n_out: int) -> np.ndarray:
    """Biases enter the accumulator the way hls4ml does it: acc = (accum_t) bias."""
    return acc.requantize(bias, b_type.frac) if b_type is not None else np.zeros(n_out, np.int64)


def _bias_word(bias, b_type, acc: FixedType, n_out: int) -> int:
    """The accumulator biases (_bias_acc) packed, output 0 lowest."""
    bias_acc = _bias_acc(bias, b_type, acc, n_out)
    word = 0
    for o, v in enumerate(bias_acc):
        word |= (int(v) & ((1 << acc.width) - 1)) << (o * acc.width)
    return word


def _arith_params(edge_in: Edge, w_type: FixedType, acc: FixedType, out: FixedType,
                  pc: ChannelShifts | None = None, activation: FusedActivation | None = None) -> dict:
    """Widths, product-to-accumulator cast and result cast shared by kws_dense and kws_dense_pipe
    (+ SH_W/SHIFTS for per-channel shifts, + RES_*/RELU for a fused activation: result cast, then
    OUT_* from the result type; absent otherwise, so other layers' text is unchanged)."""
    outp = requant_params(acc.frac if activation is None else activation.result_type.frac, out)
    params = {"IN_W": edge_in.width, "IN_SIGNED": int(edge_in.signed), "W_W": w_type.width, "ACC_W": acc.width,
              "PROD_SHIFT": edge_in.frac + w_type.frac - acc.frac, "ACC_RND": RND_CODE[acc.rounding],
              "ACC_OVF": OVF_CODE[acc.overflow], "OUT_W": out.width, "OUT_SIGNED": int(out.signed),
              "OUT_SHIFT": outp["SHIFT"], "OUT_RND": outp["RND"], "OUT_OVF": outp["OVF"]}
    if activation is not None:
        res = requant_params(acc.frac, activation.result_type)
        params.update({"RES_W": res["OUT_W"], "RES_SIGNED": res["OUT_SIGNED"], "RES_SHIFT": res["SHIFT"],
                       "RES_RND": res["RND"], "RES_OVF": res["OVF"], "RELU": int(activation.function == "relu")})
    if pc is not None and any(pc.shifts):  # (a sign kernel narrowed without shifts has none)
        params["SH_W"] = pc.shift_width
        params["SHIFTS"] = verilog_const(pack(pc.shifts, pc.shift_width), len(pc.shifts) * pc.shift_width)
    return params


def _pipelined(*, name, kind, layer, edge_in: Edge, weights: np.ndarray, w_type: FixedType, bias_acc: np.ndarray,
               acc: FixedType, out: FixedType, pc: ChannelShifts | None = None,
               activation: FusedActivation | None = None) -> EmittedLayer:
    """Reuse factor 1 with the frame in one beat: kws_dense_pipe, a frame per cycle. The weights are
    constants, so the products and sums are generated as a shift-add network (hw/rtl/shift_add.py,
    module <name>_sa) that computes what kws_dense_pipe's kws_mac_chain instances would, bit for bit."""
    n_in, n_out = weights.shape
    arith = _arith_params(edge_in, w_type, acc, out, pc, activation)
    shifted = "SH_W" in arith  # per-channel shifts: kws_dense_pipe adds the bias after the shift
    graph = constant_mac(weights, FixedType(edge_in.width, edge_in.width, edge_in.signed), acc, arith["PROD_SHIFT"],
                         None if shifted else bias_acc)
    sa_name = f"{name}_sa"
    sa_text = shift_add_module(sa_name, graph, n_in, edge_in.width, edge_in.width + 1 + w_type.width)
    params = {"N_IN": n_in, "N_OUT": n_out, **arith, "MAC_EXT": 1}
    plist = ",\n        ".join(f".{k}({v})" for k, v in params.items())
    st = graph.stats()
    text = _stream_wrapper(
        f"// Layer {layer} ({kind}): {n_in}x{n_out}, reuse 1 -> {n_in*n_out} constant multiplications as {st['adders']} "
        f"shift-add adders ({sa_name}), a frame per cycle; acc {acc}, {_out_text(out, activation)} (generated)",
        name, edge_in.tdata_width, n_out * out.width, "kws_dense_pipe", plist,
        prelude=(f"    wire [{n_in * edge_in.width - 1}:0] x_q;\n    wire [{n_out * acc.width - 1}:0] sums;\n"
                 f"    {sa_name} u_sa (.x(x_q), .sum(sums));\n"),
        ports=(f"        .weights({verilog_const(0, n_in * n_out * w_type.width)}),\n"
               f"        .bias({verilog_const(pack(bias_acc, acc.width), n_out * acc.width)}),\n"
               f"        .x_q(x_q), .sums(sums)"))
    return EmittedLayer(
        layer=layer, kind=kind, module=name, verilog=text, out=Edge(n_out, out), extra_files={f"{sa_name}.v": sa_text},
        library=("kws_requant.v", "kws_requant_act.v", "kws_dense_out.v", "kws_mac_chain.v", "kws_dense_pipe.v"),
        multipliers=n_in * n_out,
        rom_bits=0, compute_cycles=1,
        notes={"IB": n_in, "OB": n_out, "reuse_factor": 1, "accumulator": str(acc), "n_in": n_in, "n_out": n_out,
               "pipelined": True, "constant_weight_bits": n_in * n_out * w_type.width, "shift_add": st,
               "output_register_bits": n_out * out.width, **_shift_notes(pc, w_type.width)},
    )


def emit_dense(spec, edge_in: Edge, prefix: str, rf: int) -> EmittedLayer:
    w_raw, w_type = spec.weights["weight"]
    b_raw, b_type = spec.weights.get("bias", (None, None))
    if spec.accum is None:
        raise UnsupportedLayerError(spec.name, spec.kind, "no accum_t in the graph")
    n_in, n_out = int(spec.attrs.get("n_in", w_raw.shape[0])), int(spec.attrs.get("n_out", w_raw.shape[1]))
    weights = w_raw.reshape(n_in, n_out)
    bias = b_raw.reshape(n_out) if b_raw is not None else None
    return dense_core(name=f"{prefix}_{verilog_ident(spec.name)}", kind=spec.kind, layer=spec.name, edge_in=edge_in,
                      weights=weights, w_type=w_type, bias=bias, b_type=b_type, acc=spec.accum, out=spec.out_type,
                      out_beat=n_out, rf=rf, activation=spec.activation,
                      budget=int(spec.attrs.get("kws_stage_budget", 0) or 0))
