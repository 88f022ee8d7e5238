// Channel concatenation of two streams, as hls4ml's concatenate (last axis): each beat of input 0
// carries one pixel's A_E channels, each beat of input 1 the same pixel's B_E channels; the output
// beat is input 0's channels (low elements) then input 1's, every element converted to the result
// type by kws_requant (A_SHIFT / B_SHIFT = input fraction bits - result fraction bits; with the
// common type the converter sets, only zero bits are appended and nothing rounds or saturates).
// Join handshake as kws_add: a pair of beats leaves when both inputs are valid and the output is
// ready; combinational (valid depends only on valids). Branch latencies are balanced in front of
// it by the FIFOs the schedule sizes (hw/rtl/schedule.py), as for a residual Add.
module kws_concat #(
    parameter A_E = 1,
    parameter A_W = 8,
    parameter A_SIGNED = 1,
    parameter A_SHIFT = 0,
    parameter B_E = 1,
    parameter B_W = 8,
    parameter B_SIGNED = 1,
    parameter B_SHIFT = 0,
    parameter OUT_W = 8,
    parameter OUT_SIGNED = 1,
    parameter RND = 0,
    parameter OVF = 0
) (
    input  wire [A_E*A_W-1:0]         s0_axis_tdata,
    input  wire                       s0_axis_tvalid,
    output wire                       s0_axis_tready,
    input  wire [B_E*B_W-1:0]         s1_axis_tdata,
    input  wire                       s1_axis_tvalid,
    output wire                       s1_axis_tready,
    output wire [(A_E+B_E)*OUT_W-1:0] m_axis_tdata,
    output wire                       m_axis_tvalid,
    input  wire                       m_axis_tready
);
    assign m_axis_tvalid = s0_axis_tvalid & s1_axis_tvalid;
    assign s0_axis_tready = m_axis_tready & s1_axis_tvalid;
    assign s1_axis_tready = m_axis_tready & s0_axis_tvalid;
    genvar i;
    generate
        for (i = 0; i < A_E; i = i + 1) begin : g_a
            kws_requant #(.IN_W(A_W), .IN_SIGNED(A_SIGNED), .SHIFT(A_SHIFT), .OUT_W(OUT_W), .OUT_SIGNED(OUT_SIGNED),
                          .RND(RND), .OVF(OVF)) u_q (.din(s0_axis_tdata[i*A_W +: A_W]),
                                                     .dout(m_axis_tdata[i*OUT_W +: OUT_W]));
        end
        for (i = 0; i < B_E; i = i + 1) begin : g_b
            kws_requant #(.IN_W(B_W), .IN_SIGNED(B_SIGNED), .SHIFT(B_SHIFT), .OUT_W(OUT_W), .OUT_SIGNED(OUT_SIGNED),
                          .RND(RND), .OVF(OVF)) u_q (.din(s1_axis_tdata[i*B_W +: B_W]),
                                                     .dout(m_axis_tdata[(A_E+i)*OUT_W +: OUT_W]));
        end
    endgenerate
endmodule
