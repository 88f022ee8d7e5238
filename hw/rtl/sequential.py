"""The sequential engine (`RF=seq`): one multiplier computes every layer in turn, the activations
live in block RAM, for FPGAs too small for the layer-per-stage dataflow design.

Keyword spotting needs tens of inferences per second; the demo DS-CNN's 185k MACs at one per cycle
take 187k cycles, 64 inferences/s at 12 MHz. The dataflow design (hw.rtl.generate_rtl) gives every
layer its own multiplier, line buffer, frame store and output registers - 9k logic cells of an
iCE40 UP5K's 5,280 even at the largest reuse factors. Here there is one datapath:

    issue (loop counters -> addresses) -> read (activation memory, weight ROM, bias ROM)
    -> multiply, cast each product to the layer's accumulator, accumulate -> convert, write

and the layers differ only in constants, chosen by the layer index. Every layer's arithmetic is
kws_dense's / kws_pool_serial's (same library modules, same parameters: hw/rtl/emitters), in another
order: the accumulators wrap, so the order of the products does not change a bit. The accumulator
register is as wide as the widest layer's; a layer reads its low ACC_W bits (a sum modulo 2**ACC_W).

Memories: the input frame (written by the input stream, read by the first layer; free for the next
frame once that layer is done) and two ping-pong activation buffers (layer i writes buffer i mod 2).
Elements are stored sign- or zero-extended to one word width. The last layer's outputs then leave one
element per beat. The one weight ROM holds every layer's codes at the widest layer's width: a kernel
with per-channel power-of-two scales as its narrow trained codes, each product shifted back by its
output channel's k (a shift ROM read beside the bias; exact as in kws_dense, hw/rtl/channel_shift.py),
and when every kernel is +-1, one sign bit per weight (rebuilt as the 2-bit code {b, 1}).

Supported: Conv1D/2D (stride, padding), depthwise and pointwise convolutions, Dense, average and
max pooling without padding, zero padding and cropping, Flatten/Reshape/Repack, with relu/linear
activations fused into the MAC layers (hw/rtl/fuse_activation.py).
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from qat.fixed import FixedType

from .channel_shift import factor_channel_shifts, sign_bit_words
from .emitters.base import EmittedLayer, Edge, stream_module_head
from .emitters.border_emitter import border_geometry
from .emitters.dense_emitter import _arith_params, _bias_acc
from .emitters.pool_emitter import pool_arithmetic
from .emitters.window import window_of
from .errors import RtlGenerationError, UnsupportedLayerError, require_same_type
from .requant import requant_params, verilog_const

LIBRARY = ("kws_requant.v", "kws_requant_act.v", "kws_pool_combine.v")
MAC_KINDS = ("Conv1D", "Conv2D", "PointwiseConv1D", "PointwiseConv2D", "DepthwiseConv1D", "DepthwiseConv2D", "Dense")
POOL_KINDS = ("Pooling1D", "Pooling2D")
BORDER_KINDS = ("ZeroPadding1D", "ZeroPadding2D", "Cropping1D", "Cropping2D")
PASS_KINDS = ("Input", "Reshape", "Repack")  # memory order is flatten order: nothing to compute
ACTIVATIONS = ("linear", "relu")
PIPE_DRAIN = 3  # issue -> read -> accumulate -> write: cycles before a layer may read what the last wrote


@dataclass
class SeqLayer:
    """One layer as the engine walks it: for oh, ow, oc, fh, fw, ic (ic only for a full conv)."""

    name: str
    kind: str  # "mac" | "avg" | "max" | "act"
    h: int
    w: int
    c: int
    oh: int
    ow: int
    co: int
    fh: int = 1
    fw: int = 1
    sh: int = 1
    sw: int = 1
    pt: int = 0
    pl: int = 0
    depthwise: bool = False
    in_type: FixedType | None = None
    out_type: FixedType | None = None
    params: dict = field(default_factory=dict)  # kws_requant / kws_requant_act / kws_pool_combine parameters
    weights: np.ndarray | None = None  # raw codes in issue order (oc, fh, fw, ic)
    bias: np.ndarray | None = None  # accumulator codes per output channel
    shifts: tuple[int, ...] = ()  # per-output-channel power-of-two shifts of narrow codes (channel_shift.py)
    binary: bool = False  # every stored code is -1 or +1 (a sign bit holds it)
    acc_width: int = 0
    w_base: int = 0
    b_base: int = 0

    @property
    def ci_loop(self) -> int:
        return 1 if self.depthwise or self.kind != "mac" else self.c

    @property
    def taps(self) -> int:
        return self.fh * self.fw * self.ci_loop

    @property
    def outputs(self) -> int:
        return self.oh * self.ow * self.co

    @property
    def gap(self) -> int:
        """Idle issue cycles after each output: an average pool's bit-serial divider needs ACC_W + 2."""
        return self.acc_width + 2 if self.kind == "avg" else 0

    @property
    def drain(self) -> int:
        return PIPE_DRAIN + self.gap

    @property
    def cycles(self) -> int:
        """The cycle that loads its counters, an issue cycle per product (a gap after every output but
        the last), the drain and the cycle that ends it."""
        return 1 + self.outputs * (self.taps + self.gap) - self.gap + self.drain + 1


def _stored(t: FixedType) -> int:
    """Bits of a signed word holding every code of `t`."""
    return t.width + (0 if t.signed else 1)


def seq_layers(specs) -> list[SeqLayer]:
    """The chain of layers the engine computes (Input/Reshape vanish: memory order is flatten order)."""
    layers: list[SeqLayer] = []
    prev = None
    for spec in specs:
        if len(spec.inputs) > 1:
            raise UnsupportedLayerError(spec.name, spec.kind, "the sequential engine computes a chain of layers; "
                                        "merges (Add, Concatenate) need the dataflow design (a numeric RF)")
        if spec.kind in PASS_KINDS:
            require_same_type(spec)
            if spec.kind == "Input":
                prev = spec.out_type
            continue
        in_type = prev if prev is not None else spec.in_type
        if spec.kind in MAC_KINDS:
            layers.append(_mac_layer(spec, in_type))
        elif spec.kind in POOL_KINDS:
            layers.append(_pool_layer(spec, in_type))
        elif spec.kind == "Activation":
            layers.append(_act_layer(spec, in_type))
        elif spec.kind in BORDER_KINDS:
            layers.append(_border_layer(spec, in_type))
        else:
            raise UnsupportedLayerError(spec.name, spec.kind, "not in the sequential engine (it has: "
                                        f"{', '.join(MAC_KINDS + POOL_KINDS + BORDER_KINDS + PASS_KINDS)}, relu/linear Activation); "
                                        "use the dataflow design (a numeric RF)")
        prev = layers[-1].out_type
    if not layers:
        raise RtlGenerationError("no layer with arithmetic: nothing for the sequential engine to compute")
    w_base = b_base = 0
    for l in layers:
        l.w_base, l.b_base = w_base, b_base
        w_base += 0 if l.weights is None else l.weights.size
        b_base += 0 if l.bias is None else l.bias.size
    return layers


def _mac_layer(spec, in_type: FixedType) -> SeqLayer:
    if spec.accum is None:
        raise UnsupportedLayerError(spec.name, spec.kind, "no accum_t in the graph")
    acc = spec.accum
    if acc.overflow != "WRAP" or not acc.signed:
        raise UnsupportedLayerError(spec.name, spec.kind, f"accumulator {acc}: only signed WRAP accumulators are "
                                    "order-independent")
    w_raw, w_type = spec.weights["weight"]
    b_raw, b_type = spec.weights.get("bias", (None, None))
    if spec.kind == "Dense":
        n_in, n_out = int(spec.attrs.get("n_in", w_raw.shape[0])), int(spec.attrs.get("n_out", w_raw.shape[1]))
        l = SeqLayer(spec.name, "mac", 1, 1, n_in, 1, 1, n_out)
        rows = w_raw.reshape(n_in, n_out)
    else:
        win = window_of(spec, spec.kind.endswith("2D"))
        dw = spec.kind.startswith("Depthwise")
        if dw and int(spec.attrs.get("depth_multiplier", 1) or 1) != 1:
            raise UnsupportedLayerError(spec.name, spec.kind, "depth_multiplier != 1 is not implemented")
        co = win.c if dw else int(spec.attrs.get("n_filt"))
        l = SeqLayer(spec.name, "mac", win.h, win.w, win.c, win.oh, win.ow, co, win.fh, win.fw, win.sh, win.sw,
                     win.pt, win.pl, depthwise=dw)
        rows = w_raw.reshape(win.taps, win.c) if dw else w_raw.reshape(-1, co)
        if rows.shape[0] != (win.taps if dw else win.taps * win.c):
            raise UnsupportedLayerError(spec.name, spec.kind, f"kernel has {rows.shape[0]} rows, window {win.taps}x{win.c}")
    # per-channel power-of-two scales / sign kernels: narrow codes in the ROM, each product shifted
    # back by its output channel's k (exact: products enter the wrapping accumulator unrounded)
    pc = factor_channel_shifts(rows, w_type, in_type.frac + w_type.frac - acc.frac)
    if pc is not None:
        rows, w_type, l.shifts, l.binary = pc.weights, pc.w_type, pc.shifts, pc.binary
    l.weights = np.ascontiguousarray(rows.T).reshape(-1)  # issue order: output channel, then its taps
    bias = b_raw.reshape(-1) if b_raw is not None else None
    if bias is not None and bias.size == 1 and l.co > 1:
        bias = bias.repeat(l.co)
    l.bias = _bias_acc(bias, b_type, acc, l.co)
    l.in_type, l.out_type, l.acc_width = in_type, spec.out_type, acc.width
    l.params = _arith_params(Edge(1, in_type), w_type, acc, spec.out_type, None, spec.activation)
    return l


def _pool_layer(spec, in_type: FixedType) -> SeqLayer:
    op, win, params = pool_arithmetic(spec, in_type)
    l = SeqLayer(spec.name, "avg" if op == "Average" else "max", win.h, win.w, win.c, win.oh, win.ow, win.c,
                 win.fh, win.fw, win.sh, win.sw, depthwise=True)
    l.in_type, l.out_type, l.acc_width, l.params = in_type, spec.out_type, spec.accum.width, params
    return l


def _act_layer(spec, in_type: FixedType) -> SeqLayer:
    """An Activation not folded into a MAC layer: each element converted (kws_act's arithmetic),
    walked as a 1 x 1 map of all elements."""
    func = str(spec.attrs.get("activation", "linear")).lower()
    if func not in ACTIVATIONS:
        raise UnsupportedLayerError(spec.name, spec.kind, f"activation '{func}' not implemented (have {ACTIVATIONS})")
    n = int(np.prod(spec.out_shape))
    q = requant_params(in_type.frac, spec.out_type)
    l = SeqLayer(spec.name, "act", 1, 1, n, 1, 1, n, depthwise=True)
    l.in_type, l.out_type, l.acc_width = in_type, spec.out_type, in_type.width
    l.params = {"IN_W": in_type.width, "IN_SIGNED": int(in_type.signed), "RELU": int(func == "relu"), **q}
    return l


def _border_layer(spec, in_type: FixedType) -> SeqLayer:
    """A zero padding or cropping: every output element copied from its input element, or zero where
    it falls outside the map. Walked as a 1 x 1 depthwise window whose padding is the layer's own, and
    negative for a cropping (the window starts inside the map): the conv address generator does both."""
    require_same_type(spec)
    sign = 1 if spec.kind.startswith("ZeroPadding") else -1
    h, w, (top, bottom, left, right) = border_geometry(spec, "pad" if sign > 0 else "crop")
    c = int(spec.attrs.get("n_chan"))
    l = SeqLayer(spec.name, "act", h, w, c, h + sign * (top + bottom), w + sign * (left + right), c,
                 pt=sign * top, pl=sign * left, depthwise=True)
    l.in_type, l.out_type, l.acc_width = in_type, spec.out_type, in_type.width
    l.params = {"IN_W": in_type.width, "IN_SIGNED": int(in_type.signed), "RELU": 0,
                **requant_params(in_type.frac, spec.out_type)}
    return l


def _bits(n: int) -> int:
    """Bits of an unsigned counter that holds 0 .. n."""
    return max(1, int(n).bit_length())


def _plist(params: dict) -> str:
    return ", ".join(f".{k}({v})" for k, v in params.items())


def weight_rom_format(layers: list[SeqLayer]) -> tuple[bool, int, int]:
    """(sign bits?, stored weight word, largest per-channel shift) of the one weight ROM: a word as
    wide as the widest layer's narrow codes, or one sign bit when every kernel is +-1."""
    macs = [l for l in layers if l.kind == "mac"]
    signs = bool(macs) and all(l.binary for l in macs)
    ww = 1 if signs else max([l.params["W_W"] for l in macs] + [2])
    return signs, ww, max([max(l.shifts, default=0) for l in macs] + [0])


def engine_verilog(name: str, layers: list[SeqLayer], in_type: FixedType, in_elems: int) -> tuple[str, dict]:
    """(Verilog of module `name`, {hex file name: text}) for the chain `layers`."""
    nl = len(layers)
    last = layers[-1]
    xw = max([_stored(in_type)] + [_stored(l.out_type) for l in layers])
    signs, ww, smax = weight_rom_format(layers)
    accw = max(l.acc_width for l in layers)
    n_w = sum(0 if l.weights is None else l.weights.size for l in layers)
    n_b = sum(0 if l.bias is None else l.bias.size for l in layers)
    depth = max(l.outputs for l in layers)
    aw_in, aw_m = _bits(in_elems - 1), _bits(depth - 1)
    aw_w, aw_b = _bits(max(n_w, 1) - 1), _bits(max(n_b, 1) - 1)
    lw = _bits(nl - 1)
    # counters and signed coordinates
    cw = {k: _bits(max(getattr(l, k) for l in layers)) for k in ("oh", "ow", "co", "fh", "fw")}
    cw["ic"] = _bits(max(l.ci_loop for l in layers))
    # (a cropping's negative padding starts the window inside the map: it widens nothing)
    span = max(max(l.h, l.w) + max(l.pt, l.pl, 0) + max(l.oh * l.sh, l.ow * l.sw) + max(l.fh, l.fw) for l in layers)
    nb = _bits(span) + 1  # signed row / column coordinates
    ab = _bits(max(max(l.h * l.w * l.c, l.outputs) for l in layers) + max(
        max(l.pt, 0) * l.w * l.c + max(l.pl, 0) * l.c + l.sh * l.w * l.c for l in layers)) + 2  # signed addresses
    dw_ = _bits(max(l.drain for l in layers))
    gw = _bits(max(max(l.gap for l in layers), 1))
    oute = _bits(last.outputs - 1)
    chw = max(cw["co"], cw["ic"])

    def src(i):  # 0: input memory, 1: buffer A, 2: buffer B
        return 0 if i == 0 else (1 if (i - 1) % 2 == 0 else 2)

    def dst(i):
        return 1 if i % 2 == 0 else 2

    # per-layer constants (a case on the layer index: LUT logic)
    const_rows = []
    for i, l in enumerate(layers):
        wc = l.w * l.c
        vals = {
            "K_OH": (l.oh - 1, cw["oh"]), "K_OW": (l.ow - 1, cw["ow"]), "K_CO": (l.co - 1, cw["co"]),
            "K_FH": (l.fh - 1, cw["fh"]), "K_FW": (l.fw - 1, cw["fw"]), "K_IC": (l.ci_loop - 1, cw["ic"]),
            "K_H": (l.h, nb), "K_W": (l.w, nb), "K_SH": (l.sh, nb), "K_SW": (l.sw, nb),
            "K_PT": (-l.pt, nb), "K_PL": (-l.pl, nb),
            "K_C": (l.c, ab), "K_WC": (wc, ab), "K_SWC": (l.sw * l.c, ab), "K_SHWC": (l.sh * wc, ab),
            "K_R0": (-l.pt * wc, ab), "K_Q0": (-l.pl * l.c, ab),
            "K_DW": (int(l.depthwise), 1), "K_WB": (l.w_base, aw_w), "K_BB": (l.b_base, aw_b),
            "K_GAP": (l.gap, gw), "K_DRAIN": (l.drain, dw_), "K_SRC": (src(i), 2), "K_DST": (dst(i), 2),
        }
        const_rows.append(vals)
    names = list(const_rows[0])
    widths = {k: const_rows[0][k][1] for k in names}
    decl = "".join(f"    reg {'signed ' if k in SIGNED_CONSTS else ''}[{widths[k]-1}:0] {k};\n" for k in names)
    cases = ""
    for i, vals in enumerate(const_rows):
        body = " ".join(f"{k} = {_lit(v, w)};" for k, (v, w) in vals.items())
        cases += f"            {lw}'d{i}: begin {body} end\n"
    # per-layer arithmetic: product cast (MAC) / combine (pool), and the output conversion
    arith = ""
    acc_case = ""
    res_case = ""
    for i, l in enumerate(layers):
        p = l.params
        aw_l = l.acc_width
        ow_l = l.out_type.width
        ext = (f"{{{{{xw - ow_l}{{res{i}[{ow_l-1}]}}}}, res{i}}}" if l.out_type.signed else f"{{{xw - ow_l}'d0, res{i}}}") \
            if xw > ow_l else f"res{i}"
        if l.kind == "mac":
            arith += (f"    wire [{aw_l-1}:0] pc{i};\n"
                      f"    kws_requant #(.IN_W({'PSW' if smax else 'PW'}), .IN_SIGNED(1), .SHIFT({p['PROD_SHIFT']}), .OUT_W({aw_l}), .OUT_SIGNED(1), "
                      f".RND({p['ACC_RND']}), .OVF({p['ACC_OVF']})) u_pc{i} (.din({'prod_s' if smax else 'prod'}), .dout(pc{i}));\n")
            act = {"IN_W": aw_l, "IN_SIGNED": 1, "MID_W": p.get("RES_W", 0), "MID_SIGNED": p.get("RES_SIGNED", 1),
                   "MID_SHIFT": p.get("RES_SHIFT", 0), "MID_RND": p.get("RES_RND", 0), "MID_OVF": p.get("RES_OVF", 0),
                   "RELU": p.get("RELU", 0), "SHIFT": p["OUT_SHIFT"], "OUT_W": ow_l, "OUT_SIGNED": p["OUT_SIGNED"],
                   "RND": p["OUT_RND"], "OVF": p["OUT_OVF"]}
            arith += (f"    wire [{ow_l-1}:0] res{i};\n"
                      f"    kws_requant_act #({_plist(act)}) u_res{i} (.din(acc[{aw_l-1}:0]), .dout(res{i}));\n")
            sx = f"{{{{{accw - aw_l}{{pc{i}[{aw_l-1}]}}}}, pc{i}}}" if accw > aw_l else f"pc{i}"
            acc_case += f"            {lw}'d{i}: acc <= (first1 ? bq : acc) + {sx};\n"
        elif l.kind == "act":
            act = {"IN_W": aw_l, "IN_SIGNED": p["IN_SIGNED"], "RELU": p["RELU"], "SHIFT": p["SHIFT"], "OUT_W": ow_l,
                   "OUT_SIGNED": p["OUT_SIGNED"], "RND": p["RND"], "OVF": p["OVF"]}
            arith += (f"    wire [{ow_l-1}:0] res{i};\n"
                      f"    kws_requant_act #({_plist(act)}) u_res{i} (.din(acc[{aw_l-1}:0]), .dout(res{i}));\n")
            acc_case += f"            {lw}'d{i}: acc <= {_zext(f'xs[{aw_l-1}:0]', aw_l, accw)};\n"
        else:
            comb = {k: p[k] for k in ("MAXP", "IN_W", "IN_SIGNED", "ACC_W", "ACC_SIGNED", "IN_SHIFT", "ACC_RND", "ACC_OVF")}
            zx = f"{{{accw - aw_l}'d0, y{i}}}" if accw > aw_l else f"y{i}"
            arith += (f"    wire [{aw_l-1}:0] y{i};\n"
                      f"    kws_pool_combine #({_plist(comb)}) u_comb{i} (.first(first1), .x(xs[{p['IN_W']-1}:0]), "
                      f".a(acc[{aw_l-1}:0]), .y(y{i}));\n")
            acc_case += f"            {lw}'d{i}: acc <= {zx};\n"
            rq = {"IN_W": aw_l, "IN_SIGNED": p["ACC_SIGNED"], "SHIFT": p["OUT_SHIFT"], "OUT_W": ow_l,
                  "OUT_SIGNED": p["OUT_SIGNED"], "RND": p["OUT_RND"], "OVF": p["OUT_OVF"]}
            if l.kind == "max":
                arith += (f"    wire [{ow_l-1}:0] res{i};\n"
                          f"    kws_requant #({_plist(rq)}) u_res{i} (.din(acc[{aw_l-1}:0]), .dout(res{i}));\n")
            else:
                arith += _divider(i, l, rq, lw)
        res_case += f"            {lw}'d{i}: wdata = {ext};\n"
    div_layers = [i for i, l in enumerate(layers) if l.kind == "avg"]
    div_done = " | ".join(f"dv_done{i}" for i in div_layers) or "1'b0"
    # the write: a MAC / max result the cycle after its last product, an average when its division ends
    wr_now = ("(v2 & ~(" + " | ".join(f"(layer == {lw}'d{i})" for i in div_layers) + "))") if div_layers else "v2"
    hexes = {}
    w_words = np.concatenate([l.weights for l in layers if l.weights is not None]) if n_w else np.zeros(1, np.int64)
    b_words = np.concatenate([l.bias for l in layers if l.bias is not None]) if n_b else np.zeros(1, np.int64)
    if signs:
        w_words = sign_bit_words(w_words)
    hexes[f"{name}_w.hex"] = "".join(f"{int(v) & ((1 << ww) - 1):0{(ww + 3) // 4}x}\n" for v in w_words)
    sw = max(1, smax.bit_length())
    if smax:  # a shift per output channel, beside its bias (zeros for layers without scales)
        s_words = np.concatenate([np.asarray(l.shifts or (0,) * l.bias.size, np.int64) for l in layers
                                  if l.bias is not None])
        hexes[f"{name}_s.hex"] = "".join(f"{int(v):0{(sw + 3) // 4}x}\n" for v in s_words)
    hexes[f"{name}_b.hex"] = "".join(f"{int(v) & ((1 << accw) - 1):0{(accw + 3) // 4}x}\n" for v in b_words)
    in_w, out_w = in_type.width, last.out_type.width
    in_ext = (f"{{{{{xw - in_w}{{s_axis_tdata[{in_w-1}]}}}}, s_axis_tdata}}" if in_type.signed else
              f"{{{xw - in_w}'d0, s_axis_tdata}}") if xw > in_w else "s_axis_tdata"
    last_buf = "mem_a" if dst(nl - 1) == 1 else "mem_b"
    verilog = f"""// Sequential engine (generated by hw/rtl/sequential.py): {nl} layers on one multiplier,
// activations in block RAM ({", ".join(l.name for l in layers)}). Input: one {in_type} element per beat,
// {in_elems} per frame; output: one {last.out_type} element per beat, {last.outputs} per frame.
{stream_module_head(name, in_w, out_w)}    localparam XW = {xw};          // stored element: signed, every layer's type fits
    localparam WW = {ww};          // weight word ({"sign bits of +-1 kernels" if signs else "codes sign-extended"})
    localparam PW = XW + {"2" if signs else "WW"};{"        " if signs else "       "}// exact product
{f"    localparam PSW = PW + {smax};     // the product shifted by its channel's power of two (at most {smax})" + chr(10) if smax else ""}    localparam ACCW = {accw};      // widest accumulator; a layer uses its low ACC_W bits

    // ---------------- memories (registered reads: block RAM) ----------------
    reg [XW-1:0] mem_in [0:{in_elems - 1}];
    reg [XW-1:0] mem_a [0:{depth - 1}];
    reg [XW-1:0] mem_b [0:{depth - 1}];
    reg [WW-1:0] rom_w [0:{max(n_w, 1) - 1}];
    reg [ACCW-1:0] rom_b [0:{max(n_b, 1) - 1}];
    initial $readmemh("{name}_w.hex", rom_w);
    initial $readmemh("{name}_b.hex", rom_b);
{f'    reg [{sw-1}:0] rom_s [0:{max(n_b, 1) - 1}];' + chr(10) + f'    initial $readmemh("{name}_s.hex", rom_s);' + chr(10) if smax else ""}
    // ---------------- per-layer constants ----------------
    reg [{lw-1}:0] layer;
{decl}    always @* begin
        case (layer)
{cases}            default: begin {" ".join(f"{k} = {_lit(v, w)};" for k, (v, w) in const_rows[0].items())} end
        endcase
    end

    // ---------------- input frame ----------------
    reg [{aw_in-1}:0] in_cnt;
    reg in_full;
    assign s_axis_tready = ~in_full;
    always @(posedge clk) begin
        if (s_axis_tvalid && !in_full) mem_in[in_cnt] <= {in_ext};
    end

    // ---------------- control ----------------
    localparam [2:0] S_IDLE = 0, S_INIT = 1, S_ISSUE = 2, S_DRAIN = 3, S_EMIT = 4;
    reg [2:0] state;
    reg [{cw['oh']-1}:0] oh;
    reg [{cw['ow']-1}:0] ow;
    reg [{cw['co']-1}:0] oc;
    reg [{cw['fh']-1}:0] fh;
    reg [{cw['fw']-1}:0] fw;
    reg [{cw['ic']-1}:0] ic;
    reg signed [{nb-1}:0] ihb, iwb;          // top-left input row / column of the window
    reg signed [{ab-1}:0] rbase, cbase;      // their address offsets: ihb * W * C, iwb * C
    reg [{ab-1}:0] trow, toff;               // fh * W * C, and + fw * C
    reg [{aw_w-1}:0] wa;
    reg [{aw_m-1}:0] oa;                     // output address (raster order, channel last)
    reg [{gw-1}:0] gap;
    reg [{dw_-1}:0] drain;
    reg [{oute-1}:0] ecnt;
    reg [1:0] ephase;

    wire issuing = (state == S_ISSUE) & (gap == 0);
    wire ic_end = ic == K_IC, fw_end = fw == K_FW, fh_end = fh == K_FH;
    wire out_end = ic_end & fw_end & fh_end;                 // the last product of an output
    wire pos_end = out_end & (oc == K_CO);                   // ... of an output position
    wire layer_end = pos_end & (ow == K_OW) & (oh == K_OH);
    wire signed [{nb-1}:0] ih = ihb + $signed({_zext('fh', cw['fh'], nb)});
    wire signed [{nb-1}:0] iw = iwb + $signed({_zext('fw', cw['fw'], nb)});
    wire pad = (ih < 0) | (ih >= K_H) | (iw < 0) | (iw >= K_W);
    wire [{chw-1}:0] ch = K_DW ? {_zext('oc', cw['co'], chw)} : {_zext('ic', cw['ic'], chw)};  // input channel
    /* verilator lint_off UNUSEDSIGNAL */
    wire signed [{ab-1}:0] xa_full = rbase + cbase + $signed(toff) + $signed({_zext('ch', chw, ab)});
    /* verilator lint_on UNUSEDSIGNAL */
    wire emitting = (state == S_EMIT);
    wire [{aw_m-1}:0] rd_a = emitting ? {_zext('ecnt', oute, aw_m)} : xa_full[{aw_m-1}:0];

    /* verilator lint_off WIDTHTRUNC */
    wire [{aw_b-1}:0] ba = K_BB + {_zext('oc', cw['co'], aw_b)};  // bias of output channel oc
    /* verilator lint_on WIDTHTRUNC */
    // reads: every memory at the issued address; the tags follow the data one cycle later
    reg [XW-1:0] q_in, q_a, q_b;
    /* verilator lint_off UNUSEDSIGNAL */
    reg [WW-1:0] wq;
    reg [ACCW-1:0] bq;
    /* verilator lint_on UNUSEDSIGNAL */
{f'    reg [{sw-1}:0] sq;' + chr(10) if smax else ""}    always @(posedge clk) begin
        q_in <= mem_in[xa_full[{aw_in-1}:0]];
        q_a <= mem_a[rd_a];
        q_b <= mem_b[rd_a];
        wq <= rom_w[wa];
        bq <= rom_b[ba];
{'        sq <= rom_s[ba];' + chr(10) if smax else ""}    end
    reg v1, first1, last1, pad1;
    reg [1:0] src1;
    reg [{aw_m-1}:0] oa1, oa2;
    reg v2;
    wire [XW-1:0] xq = (src1 == 2'd0) ? q_in : ((src1 == 2'd1) ? q_a : q_b);
    wire [XW-1:0] xs = pad1 ? {{XW{{1'b0}}}} : xq;
    /* verilator lint_off UNUSEDSIGNAL */
    wire signed [PW-1:0] prod = $signed(xs) * $signed({"{wq, 1'b1}" if signs else "wq"});
{f"    wire signed [PSW-1:0] prod_w = {{{{{smax}{{prod[PW-1]}}}}, prod}};" + chr(10) + "    wire signed [PSW-1:0] prod_s = prod_w <<< sq;" + chr(10) if smax else ""}    /* verilator lint_on UNUSEDSIGNAL */
    reg [ACCW-1:0] acc;

{arith}
    // the result of the finished output (one layer at a time: a case on the layer index)
    reg [XW-1:0] wdata;
    always @* begin
        case (layer)
{res_case}            default: wdata = {{XW{{1'b0}}}};
        endcase
    end
    wire dv_any = {div_done};
    reg [{aw_m-1}:0] dv_oa;  // where the average being divided goes
    always @(posedge clk) if (v2) dv_oa <= oa2;
    wire wr = {wr_now} | dv_any;
    wire [{aw_m-1}:0] wr_a = dv_any ? dv_oa : oa2;
    always @(posedge clk) begin
        if (wr && K_DST == 2'd1) mem_a[wr_a] <= wdata;
        if (wr && K_DST == 2'd2) mem_b[wr_a] <= wdata;
    end

    always @(posedge clk) begin
        v1 <= issuing;
        first1 <= (fh == 0) & (fw == 0) & (ic == 0);
        last1 <= out_end;
        pad1 <= pad;
        src1 <= K_SRC;
        oa1 <= oa;
        v2 <= v1 & last1;
        oa2 <= oa1;
        if (v1) begin
            case (layer)
{acc_case}                default: acc <= acc;
            endcase
        end
    end

    // ---------------- output: the last layer's results, one per beat ----------------
    reg ovalid;
    reg [{out_w-1}:0] odata;
    assign m_axis_tvalid = ovalid;
    assign m_axis_tdata = odata;
    /* verilator lint_off UNUSEDSIGNAL */
    wire [XW-1:0] q_last = {"q_a" if last_buf == "mem_a" else "q_b"};  // the code is its low bits
    /* verilator lint_on UNUSEDSIGNAL */

    always @(posedge clk) begin
        if (!rst_n) begin
            state <= S_IDLE;
            layer <= {lw}'d0;
            in_cnt <= {aw_in}'d0;
            in_full <= 1'b0;
            ovalid <= 1'b0;
            gap <= {gw}'d0;
        end else begin
            if (s_axis_tvalid && !in_full) begin
                in_cnt <= (in_cnt == {aw_in}'d{in_elems - 1}) ? {aw_in}'d0 : in_cnt + 1'b1;
                if (in_cnt == {aw_in}'d{in_elems - 1}) in_full <= 1'b1;
            end
            case (state)
                S_IDLE: if (in_full) begin
                    layer <= {lw}'d0;
                    state <= S_INIT;
                end
                S_INIT: begin  // the layer's constants are valid: load its counters
                    oh <= 0; ow <= 0; oc <= 0; fh <= 0; fw <= 0; ic <= 0;
                    ihb <= K_PT; iwb <= K_PL; rbase <= K_R0; cbase <= K_Q0; trow <= 0; toff <= 0;
                    wa <= K_WB; oa <= 0; gap <= 0;
                    state <= S_ISSUE;
                end
                S_ISSUE: if (gap != 0) begin
                    gap <= gap - 1'b1;
                end else begin
                    wa <= pos_end ? K_WB : wa + 1'b1;
                    if (out_end) begin
                        oa <= oa + 1'b1;
                        gap <= K_GAP;
                    end
                    if (!ic_end) begin
                        ic <= ic + 1'b1;
                    end else begin
                        ic <= 0;
                        if (!fw_end) begin
                            fw <= fw + 1'b1; toff <= toff + K_C;
                        end else begin
                            fw <= 0;
                            if (!fh_end) begin
                                fh <= fh + 1'b1; trow <= trow + K_WC; toff <= trow + K_WC;
                            end else begin
                                fh <= 0; trow <= 0; toff <= 0;
                                if (oc != K_CO) begin
                                    oc <= oc + 1'b1;
                                end else begin
                                    oc <= 0;
                                    if (ow != K_OW) begin
                                        ow <= ow + 1'b1; iwb <= iwb + K_SW; cbase <= cbase + K_SWC;
                                    end else begin
                                        ow <= 0; iwb <= K_PL; cbase <= K_Q0;
                                        oh <= oh + 1'b1; ihb <= ihb + K_SH; rbase <= rbase + K_SHWC;
                                    end
                                end
                            end
                        end
                    end
                    if (layer_end) begin
                        state <= S_DRAIN;
                        drain <= K_DRAIN;
                        gap <= 0;
                    end
                end
                S_DRAIN: if (drain != 0) begin
                    drain <= drain - 1'b1;
                end else begin
                    if (layer == {lw}'d0) in_full <= 1'b0;  // the first layer read its last input
                    if (layer == {lw}'d{nl - 1}) begin
                        state <= S_EMIT; ecnt <= 0; ephase <= 0;
                    end else begin
                        layer <= layer + 1'b1;
                        state <= S_INIT;
                    end
                end
                S_EMIT: begin  // ecnt is read this cycle (ephase 0), taken the next (1), held until sent (2)
                    case (ephase)
                        2'd0: ephase <= 2'd1;
                        2'd1: begin odata <= q_last[{out_w-1}:0]; ovalid <= 1'b1; ephase <= 2'd2; end
                        default: if (m_axis_tready) begin
                            ovalid <= 1'b0;
                            ephase <= 2'd0;
                            if (ecnt == {oute}'d{last.outputs - 1}) state <= S_IDLE;
                            else ecnt <= ecnt + 1'b1;
                        end
                    endcase
                end
                default: state <= S_IDLE;
            endcase
        end
    end
endmodule
"""
    return verilog, hexes


def _zext(sig: str, width: int, to: int) -> str:
    return sig if width >= to else f"{{{to - width}'d0, {sig}}}"


SIGNED_CONSTS = ("K_H", "K_W", "K_SH", "K_SW", "K_PT", "K_PL", "K_C", "K_WC", "K_SWC", "K_SHWC", "K_R0", "K_Q0")


def _lit(v: int, w: int) -> str:
    return verilog_const(int(v), w) if v >= 0 else f"-{w}'sd{-int(v)}"


def _divider(i: int, l: SeqLayer, rq: dict, lw: int) -> str:
    """An average pool's bit-serial restoring division of |sum| by the window size (as
    kws_pool_serial SDIV): loads when the sum is complete (v2), ACC_W steps, then the write."""
    aw_l, k = l.acc_width, l.fh * l.fw
    rw = k.bit_length() + 1
    signed = l.params["ACC_SIGNED"]
    return f"""    // layer {l.name}: average over {k} - |sum| / {k} bit by bit, then the sign and the output conversion
    reg [{_bits(aw_l)}:0] dv_n{i};
    reg dv_busy{i}, dv_neg{i};
    reg [{aw_l-1}:0] dv_q{i};
    reg [{rw-2}:0] dv_r{i};
    wire [{rw-1}:0] dv_p{i} = {{dv_r{i}, dv_q{i}[{aw_l-1}]}};
    wire dv_ge{i} = dv_p{i} >= {rw}'d{k};
    /* verilator lint_off UNUSEDSIGNAL */
    wire [{rw-1}:0] dv_left{i} = dv_ge{i} ? dv_p{i} - {rw}'d{k} : dv_p{i};
    /* verilator lint_on UNUSEDSIGNAL */
    wire dv_sneg{i} = {"acc[" + str(aw_l - 1) + "]" if signed else "1'b0"};
    wire [{aw_l-1}:0] dv_s{i} = dv_neg{i} ? (~dv_q{i} + 1'b1) : dv_q{i};
    wire dv_done{i} = dv_busy{i} & (dv_n{i} == 0);
    wire [{l.out_type.width-1}:0] res{i};
    kws_requant #({_plist(rq)}) u_res{i} (.din(dv_s{i}), .dout(res{i}));
    always @(posedge clk) begin
        if (!rst_n) begin
            dv_busy{i} <= 1'b0;
        end else if (v2 && layer == {lw}'d{i}) begin
            dv_busy{i} <= 1'b1;
            dv_n{i} <= {_bits(aw_l) + 1}'d{aw_l};
            dv_neg{i} <= dv_sneg{i};
            dv_q{i} <= dv_sneg{i} ? (~acc[{aw_l-1}:0] + 1'b1) : acc[{aw_l-1}:0];
            dv_r{i} <= 0;
        end else if (dv_busy{i}) begin
            if (dv_n{i} == 0) dv_busy{i} <= 1'b0;
            else begin
                dv_n{i} <= dv_n{i} - 1'b1;
                dv_r{i} <= dv_left{i}[{rw-2}:0];
                dv_q{i} <= {{dv_q{i}[{aw_l-2}:0], dv_ge{i}}};
            end
        end
    end
"""


def sequential_stage(specs, top: str) -> tuple[EmittedLayer, Edge]:
    """(the engine as one stream stage `<top>_seq`, the input edge: one element per beat)."""
    first = specs[0]
    in_type = first.out_type if first.kind == "Input" else first.in_type
    in_shape = first.out_shape if first.kind == "Input" else first.in_shape
    in_elems = int(np.prod(in_shape))
    layers = seq_layers(specs)
    if layers[0].in_type is None:
        layers[0].in_type = in_type
    name = f"{top}_seq"
    verilog, hexes = engine_verilog(name, layers, in_type, in_elems)
    last = layers[-1]
    macs = sum(l.outputs * l.taps for l in layers if l.kind == "mac")
    n_w, ww = sum(l.weights.size for l in layers if l.kind == "mac"), weight_rom_format(layers)[1]
    # a frame: every layer's cycles, then its outputs leave (3 cycles each: read, take, send), then
    # a cycle idle; the next input frame streams in meanwhile (from the first layer's end)
    cycles = sum(l.cycles for l in layers) + 3 * last.outputs + 1
    stage = EmittedLayer(
        layer="engine", kind="Sequential", module=name, verilog=verilog, out=Edge(1, last.out_type),
        extra_files=hexes, library=LIBRARY, multipliers=1,
        rom_bits=n_w * ww, compute_cycles=cycles,  # the declared ROM: every layer at the widest word
        notes={"form": "sequential", "layers": [l.name for l in layers], "macs_per_frame": macs,
               "stored_weight_bits": ww, "channel_shifts": {l.name: list(l.shifts) for l in layers if l.shifts},
               "out_elems": last.outputs, "layer_cycles": {l.name: l.cycles for l in layers}})
    return stage, Edge(1, in_type)
