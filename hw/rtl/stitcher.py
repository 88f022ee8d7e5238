"""Top-level module: chains the layer modules stream to stream and frames the output with tlast."""

from __future__ import annotations

from .emitters.base import Edge, EmittedLayer


def _instance(i: int, layer: EmittedLayer, src: str, dst: str) -> str:
    ports = (f".s_axis_tdata({src}_tdata), .s_axis_tvalid({src}_tvalid), .s_axis_tready({src}_tready),\n"
             f"        .m_axis_tdata({dst}_tdata), .m_axis_tvalid({dst}_tvalid), .m_axis_tready({dst}_tready)")
    if layer.notes.get("combinational"):
        params = ", ".join(f".{k}({v})" for k, v in layer.notes["params"].items())
        return f"    // {layer.layer} ({layer.kind})\n    {layer.module} #({params}) u{i}_{layer.module} (\n        {ports}\n    );\n"
    if layer.notes.get("parameterized"):  # a library module instantiated with parameters
        params = ", ".join(f".{k}({v})" for k, v in layer.notes["params"].items())
        return (f"    // {layer.layer} ({layer.kind})\n    {layer.module} #({params}) u{i}_{layer.module} (\n"
                f"        .clk(clk), .rst_n(rst_n),\n        {ports}\n    );\n")
    return (f"    // {layer.layer} ({layer.kind})\n    {layer.module} u{i} (\n        .clk(clk), .rst_n(rst_n),\n        {ports}\n    );\n")


def stitch(top: str, in_edge: Edge, layers: list[EmittedLayer], out_frame_beats: int) -> str:
    """Verilog of `top`; layers with module None are skipped (they only rename the stream)."""
    hw_layers = [l for l in layers if l.module is not None]
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
    lines += ["    assign w0_tdata = s_axis_tdata;", "    assign w0_tvalid = s_axis_tvalid;", "    assign s_axis_tready = w0_tready;"]
    for i, layer in enumerate(hw_layers):
        lines.append(_instance(i, layer, f"w{i}", f"w{i+1}"))
    n = len(hw_layers)
    cw = max(1, (out_frame_beats - 1).bit_length())
    lines += [f"    assign m_axis_tdata = w{n}_tdata;", f"    assign m_axis_tvalid = w{n}_tvalid;",
              f"    assign w{n}_tready = m_axis_tready;",
              "    // tlast from a beat counter: the frame length is fixed by the graph.",
              f"    reg [{cw-1}:0] out_beat;",
              f"    assign m_axis_tlast = (out_beat == {cw}'d{out_frame_beats - 1});",
              "    always @(posedge clk) begin",
              f"        if (!rst_n) out_beat <= {cw}'d0;",
              f"        else if (m_axis_tvalid && m_axis_tready) out_beat <= m_axis_tlast ? {cw}'d0 : out_beat + {cw}'d1;",
              "    end", "endmodule", ""]
    return "\n".join(lines)
