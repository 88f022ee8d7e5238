"""Top-level module: connects the layer modules stream to stream and frames the output with tlast.

A chain is wired w0 -> layer 0 -> w1 -> ... A DAG (residual blocks) is wired the same way, each
stage reading the wires of the layers it names; a wire read by several stages goes through a
kws_fork (a beat leaves only when every reader took it) whose branches are `w<k>_b<j>`. The
harness times each stage from the handshakes on w0..w<n> (one per stage output).
"""

from __future__ import annotations

from .emitters.base import Edge, EmittedLayer


def _ports(srcs: list[str], dst: str) -> str:
    if len(srcs) == 1:
        ins = f".s_axis_tdata({srcs[0]}_tdata), .s_axis_tvalid({srcs[0]}_tvalid), .s_axis_tready({srcs[0]}_tready),\n"
    else:
        ins = "".join(f".s{j}_axis_tdata({s}_tdata), .s{j}_axis_tvalid({s}_tvalid), .s{j}_axis_tready({s}_tready),\n"
                      "        " for j, s in enumerate(srcs)).rstrip() + "\n"
    return ins + f"        .m_axis_tdata({dst}_tdata), .m_axis_tvalid({dst}_tvalid), .m_axis_tready({dst}_tready)"


def _instance(i: int, layer: EmittedLayer, srcs: list[str], dst: str) -> str:
    ports = _ports(srcs, dst)
    if layer.notes.get("combinational"):
        params = ", ".join(f".{k}({v})" for k, v in layer.notes["params"].items())
        return f"    // {layer.layer} ({layer.kind})\n    {layer.module} #({params}) u{i}_{layer.module} (\n        {ports}\n    );\n"
    if layer.notes.get("parameterized"):  # a library module instantiated with parameters
        params = ", ".join(f".{k}({v})" for k, v in layer.notes["params"].items())
        return (f"    // {layer.layer} ({layer.kind})\n    {layer.module} #({params}) u{i}_{layer.module} (\n"
                f"        .clk(clk), .rst_n(rst_n),\n        {ports}\n    );\n")
    return (f"    // {layer.layer} ({layer.kind})\n    {layer.module} u{i} (\n        .clk(clk), .rst_n(rst_n),\n        {ports}\n    );\n")


def _fork(wire: str, branches: list[str]) -> str:
    n = len(branches)
    valid = ", ".join(f"{b}_tvalid" for b in reversed(branches))
    ready = ", ".join(f"{b}_tready" for b in reversed(branches))
    lines = [f"    // fork: {wire} to {n} readers; a beat leaves when all took it"]
    lines += [f"    assign {b}_tdata = {wire}_tdata;" for b in branches]
    lines.append(f"    kws_fork #(.N({n})) u_fork_{wire} (\n        .clk(clk), .rst_n(rst_n),\n"
                 f"        .s_axis_tvalid({wire}_tvalid), .s_axis_tready({wire}_tready),\n"
                 f"        .m_axis_tvalid({{{valid}}}), .m_axis_tready({{{ready}}})\n    );\n")
    return "\n".join(lines)


def stitch(top: str, in_edge: Edge, layers: list[EmittedLayer], out_frame_beats: int,
           sources: list[list[int]] | None = None) -> str:
    """Verilog of `top`; layers with module None are skipped (they only rename the stream).
    `sources[i]`: indices of the layers layer i reads (-1: the top input); default: a chain."""
    if sources is None:
        sources = [[i - 1] for i in range(len(layers))]
    hw_index, wire_of = {}, {-1: "w0"}
    for i, layer in enumerate(layers):  # each stage output is one wire; a renaming layer shares its input's
        if layer.module is None:
            wire_of[i] = wire_of[sources[i][0]] if sources[i] else "w0"
        else:
            hw_index[i] = len(hw_index)
            wire_of[i] = f"w{hw_index[i] + 1}"
    hw_layers = [l for l in layers if l.module is not None]
    readers: dict[str, list[int]] = {}
    for i in hw_index:
        for src in sources[i]:
            readers.setdefault(wire_of[src], []).append(i)
    out_wire = wire_of[len(layers) - 1]
    # the wire each reader connects to: the stage's own wire, or its branch of a fork
    port_of: dict[tuple[str, int], str] = {}
    forks: dict[str, list[str]] = {}
    for wire, rs in readers.items():
        if len(rs) == 1 and wire != out_wire:
            port_of[(wire, rs[0])] = wire
            continue
        if wire == out_wire:
            raise ValueError(f"the output stream {wire} is also read inside the design")
        forks[wire] = [f"{wire}_b{j}" for j in range(len(rs))]
        for j, r in enumerate(rs):
            port_of[(wire, r)] = forks[wire][j]
    out_edge = layers[-1].out
    lines = [f"// Top level {top} (generated): {len(hw_layers)} stream stages, {out_frame_beats} output beat(s) per frame",
             f"module {top} (",
             "    input  wire clk,",
             "    input  wire rst_n,",
             f"    input  wire [{in_edge.tdata_width-1}:0] s_axis_tdata,",
             "    input  wire s_axis_tvalid,",
             "    output wire s_axis_tready,",
             f"    output wire [{out_edge.tdata_width-1}:0] m_axis_tdata,",
             "    output wire m_axis_tvalid,",
             "    input  wire m_axis_tready,",
             "    output wire m_axis_tlast",
             ");"]
    edges = [in_edge] + [l.out for l in hw_layers]
    for i, e in enumerate(edges):
        # public: the compiled harness reads every stage's handshake to time each layer
        lines += [f"    wire [{e.tdata_width-1}:0] w{i}_tdata;",
                  f"    wire w{i}_tvalid /* verilator public_flat_rd */;", f"    wire w{i}_tready /* verilator public_flat_rd */;"]
    for wire, branches in forks.items():
        width = edges[int(wire[1:])].tdata_width
        for b in branches:
            lines += [f"    wire [{width-1}:0] {b}_tdata;", f"    wire {b}_tvalid, {b}_tready;"]
    lines += ["    assign w0_tdata = s_axis_tdata;", "    assign w0_tvalid = s_axis_tvalid;", "    assign s_axis_tready = w0_tready;"]
    if "w0" in forks:
        lines.append(_fork("w0", forks["w0"]))
    for i, k in hw_index.items():
        srcs = [port_of[(wire_of[s], i)] for s in sources[i]]
        layers[i].notes["in_wires"] = [int(wire_of[s][1:]) for s in sources[i]]  # for per-stage timing (sim.check)
        lines.append(_instance(k, layers[i], srcs, f"w{k+1}"))
        if f"w{k+1}" in forks:
            lines.append(_fork(f"w{k+1}", forks[f"w{k+1}"]))
    n = len(hw_layers)
    unread = [f"w{k+1}" for k in hw_index.values() if f"w{k+1}" not in readers and f"w{k+1}" != out_wire]
    if unread:
        raise ValueError(f"stage outputs {unread} are read by nothing")
    lines += [f"    assign m_axis_tdata = {out_wire}_tdata;", f"    assign m_axis_tvalid = {out_wire}_tvalid;",
              f"    assign {out_wire}_tready = m_axis_tready;",
              "    // tlast from a beat counter: the frame length is fixed by the graph.",
              f"    reg [{max(1, (out_frame_beats - 1).bit_length())-1}:0] out_beat;"]
    cw = max(1, (out_frame_beats - 1).bit_length())
    lines += [f"    assign m_axis_tlast = (out_beat == {cw}'d{out_frame_beats - 1});",
              "    always @(posedge clk) begin",
              f"        if (!rst_n) out_beat <= {cw}'d0;",
              f"        else if (m_axis_tvalid && m_axis_tready) out_beat <= m_axis_tlast ? {cw}'d0 : out_beat + {cw}'d1;",
              "    end", "endmodule", ""]
    assert n == len(edges) - 1
    return "\n".join(lines)
