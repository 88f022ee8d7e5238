"""hls4ml Merge (op add) -> kws_add, with a kws_fifo on each input the schedule says needs one.

The sum is exact (inputs aligned to the finer fraction), then converted once to the result type,
as nnet::add does. The FIFO depths are graph-level knowledge (how far one branch of the residual
block runs ahead of the other): hw/rtl/schedule.py computes them and generate_rtl hands them in
as ``spec.attrs["kws_fifo_depths"]``.
"""

from __future__ import annotations

from ..errors import UnsupportedLayerError
from ..requant import requant_params
from .base import EmittedLayer, Edge, verilog_ident


def _sum_width(edges: tuple[Edge, Edge], frac: int) -> int:
    """Bits of the exact signed sum of the two inputs aligned to `frac` fraction bits."""
    return max(e.width + (frac - e.frac) + (not e.signed) for e in edges) + 1


def two_input_module(name: str, comment: str, edges, depths, out_width: int, core: str, params: dict) -> str:
    """Verilog of a merge layer (shared by the Add and the Concatenate): input j (ports s<j>_axis_*)
    through a kws_fifo of depths[j] beats (none if 0) onto wires q<j>_*, which the library module
    ``core`` (kws_add / kws_concat, with ``params``) joins into m_axis_*."""
    lines = [comment, f"module {name} (", "    input  wire clk,", "    input  wire rst_n,"]
    for j, e in enumerate(edges):
        lines += [f"    input  wire [{e.tdata_width-1}:0] s{j}_axis_tdata,", f"    input  wire s{j}_axis_tvalid,",
                  f"    output wire s{j}_axis_tready,"]
    lines += [f"    output wire [{out_width-1}:0] m_axis_tdata,", "    output wire m_axis_tvalid,",
              "    input  wire m_axis_tready", ");"]
    for j, (e, depth) in enumerate(zip(edges, depths)):
        lines += [f"    wire [{e.tdata_width-1}:0] q{j}_tdata;", f"    wire q{j}_tvalid, q{j}_tready;"]
        if depth:
            lines.append(f"    kws_fifo #(.W({e.tdata_width}), .DEPTH({depth})) u_fifo{j} (\n"
                         f"        .clk(clk), .rst_n(rst_n),\n"
                         f"        .s_axis_tdata(s{j}_axis_tdata), .s_axis_tvalid(s{j}_axis_tvalid), .s_axis_tready(s{j}_axis_tready),\n"
                         f"        .m_axis_tdata(q{j}_tdata), .m_axis_tvalid(q{j}_tvalid), .m_axis_tready(q{j}_tready)\n    );")
        else:
            lines += [f"    assign q{j}_tdata = s{j}_axis_tdata;", f"    assign q{j}_tvalid = s{j}_axis_tvalid;",
                      f"    assign s{j}_axis_tready = q{j}_tready;"]
    plist = ", ".join(f".{k}({v})" for k, v in params.items())
    lines += [f"    {core} #({plist}) u_{core.removeprefix('kws_')} (",
              "        .s0_axis_tdata(q0_tdata), .s0_axis_tvalid(q0_tvalid), .s0_axis_tready(q0_tready),",
              "        .s1_axis_tdata(q1_tdata), .s1_axis_tvalid(q1_tvalid), .s1_axis_tready(q1_tready),",
              "        .m_axis_tdata(m_axis_tdata), .m_axis_tvalid(m_axis_tvalid), .m_axis_tready(m_axis_tready)",
              "    );", "endmodule", ""]
    return "\n".join(lines)


def two_input_layer(spec, prefix: str, comment: str, edges, out: Edge, core: str, params: dict,
                    notes: dict) -> EmittedLayer:
    """The EmittedLayer of a merge (Add, Concatenate) whose input FIFO depths the schedule set in
    ``spec.attrs["kws_fifo_depths"]``: with FIFOs, the generated wrapper (two_input_module); without,
    the combinational library module ``core`` itself, like kws_act (no clock, no wrapper)."""
    depths = tuple(spec.attrs.get("kws_fifo_depths", (0, 0)))
    notes = {"inputs": 2, "fifo_depths": list(depths), **notes,
             **({"fifo_schedule": spec.attrs["kws_fifo_schedule"]} if "kws_fifo_schedule" in spec.attrs else {})}
    library = ("kws_requant.v", f"{core}.v")
    if not any(depths):
        return EmittedLayer(layer=spec.name, kind=spec.kind, module=core, verilog="", out=out, library=library,
                            notes={**notes, "fifo_bits": 0, "params": params, "combinational": True})
    name = f"{prefix}_{verilog_ident(spec.name)}"
    verilog = two_input_module(name, f"{comment}; input FIFOs {depths[0]} / {depths[1]} beats (generated)", edges,
                               depths, out.tdata_width, core, params)
    fifo_bits = sum(d * e.tdata_width for d, e in zip(depths, edges))
    return EmittedLayer(layer=spec.name, kind=spec.kind, module=name, verilog=verilog, out=out,
                        library=library + ("kws_fifo.v",), notes={**notes, "fifo_bits": fifo_bits})


def emit_merge(spec, edges, prefix: str, rf: int) -> EmittedLayer:
    op = str(spec.attrs.get("op", "")).lower()
    if spec.kind != "Merge" or op != "add":
        raise UnsupportedLayerError(spec.name, spec.kind, f"merge op {op!r} not implemented (only add)")
    if not isinstance(edges, tuple) or len(edges) != 2:
        raise UnsupportedLayerError(spec.name, spec.kind, "an add of exactly two streams is implemented")
    a, b = edges
    if a.beat != b.beat:
        raise UnsupportedLayerError(spec.name, spec.kind, f"inputs carry {a.beat} and {b.beat} elements per beat")
    out = spec.out_type
    frac = max(a.frac, b.frac)
    sum_w = _sum_width(edges, frac)
    q = requant_params(frac, out)
    params = {"E": a.beat, "A_W": a.width, "A_SIGNED": int(a.signed), "A_UP": frac - a.frac,
              "B_W": b.width, "B_SIGNED": int(b.signed), "B_UP": frac - b.frac, "SUM_W": sum_w,
              "SHIFT": q["SHIFT"], "OUT_W": out.width, "OUT_SIGNED": int(out.signed), "RND": q["RND"], "OVF": q["OVF"]}
    return two_input_layer(spec, prefix, f"// Layer {spec.name} (Merge add): exact {sum_w}-bit sum -> {out}", edges,
                           Edge(a.beat, out), "kws_add", params, {"sum_width": sum_w})
