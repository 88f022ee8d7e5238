// Element-wise activation on a stream beat: y = requant(relu ? max(x, 0) : x).
// Combinational on tdata, handshake passes straight through: costs no cycle and no register.
// Behind a MAC layer the generator folds it into that layer's output requantizer instead
// (hw/rtl/fuse_activation.py): one per output lane there, not one per element of a beat.
module kws_act #(
    parameter E = 1,
    parameter IN_W = 8,
    parameter IN_SIGNED = 1,
    parameter RELU = 0,
    parameter SHIFT = 0,
    parameter OUT_W = 8,
    parameter OUT_SIGNED = 1,
    parameter RND = 0,
    parameter OVF = 0
) (
    input  wire [E*IN_W-1:0]  s_axis_tdata,
    input  wire               s_axis_tvalid,
    output wire               s_axis_tready,
    output wire [E*OUT_W-1:0] m_axis_tdata,
    output wire               m_axis_tvalid,
    input  wire               m_axis_tready
);
    assign m_axis_tvalid = s_axis_tvalid;
    assign s_axis_tready = m_axis_tready;
    genvar i;
    generate
        for (i = 0; i < E; i = i + 1) begin : g_elem
            kws_requant_act #(.IN_W(IN_W), .IN_SIGNED(IN_SIGNED), .RELU(RELU), .SHIFT(SHIFT), .OUT_W(OUT_W),
                              .OUT_SIGNED(OUT_SIGNED), .RND(RND), .OVF(OVF))
                u_q (.din(s_axis_tdata[i*IN_W +: IN_W]), .dout(m_axis_tdata[i*OUT_W +: OUT_W]));
        end
    endgenerate
endmodule
