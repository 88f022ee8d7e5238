// Residual Add of two streams, element-wise on each beat, as hls4ml's nnet::add: the exact sum
// (both inputs aligned to the finer fraction: A_UP / B_UP zero bits appended) converted once to
// the result type by kws_requant (SHIFT = sum fraction bits - result fraction bits).
// Join handshake: a pair of beats leaves when both inputs are valid and the output is ready;
// combinational like kws_act (valid depends only on valids).
module kws_add #(
    parameter E = 1,
    parameter A_W = 8,
    parameter A_SIGNED = 1,
    parameter A_UP = 0,
    parameter B_W = 8,
    parameter B_SIGNED = 1,
    parameter B_UP = 0,
    parameter SUM_W = 10,
    parameter SHIFT = 0,
    parameter OUT_W = 8,
    parameter OUT_SIGNED = 1,
    parameter RND = 0,
    parameter OVF = 0
) (
    input  wire [E*A_W-1:0]   s0_axis_tdata,
    input  wire               s0_axis_tvalid,
    output wire               s0_axis_tready,
    input  wire [E*B_W-1:0]   s1_axis_tdata,
    input  wire               s1_axis_tvalid,
    output wire               s1_axis_tready,
    output wire [E*OUT_W-1:0] m_axis_tdata,
    output wire               m_axis_tvalid,
    input  wire               m_axis_tready
);
    assign m_axis_tvalid = s0_axis_tvalid & s1_axis_tvalid;
    assign s0_axis_tready = m_axis_tready & s1_axis_tvalid;
    assign s1_axis_tready = m_axis_tready & s0_axis_tvalid;
    genvar i;
    generate
        for (i = 0; i < E; i = i + 1) begin : g_elem
            wire [A_W-1:0] a = s0_axis_tdata[i*A_W +: A_W];
            wire [B_W-1:0] b = s1_axis_tdata[i*B_W +: B_W];
            wire a_neg = (A_SIGNED != 0) & a[A_W-1];
            wire b_neg = (B_SIGNED != 0) & b[B_W-1];
            wire signed [SUM_W-1:0] ax = $signed({{(SUM_W-A_W){a_neg}}, a}) <<< A_UP;
            wire signed [SUM_W-1:0] bx = $signed({{(SUM_W-B_W){b_neg}}, b}) <<< B_UP;
            wire [SUM_W-1:0] sum = ax + bx;
            kws_requant #(.IN_W(SUM_W), .IN_SIGNED(1), .SHIFT(SHIFT), .OUT_W(OUT_W), .OUT_SIGNED(OUT_SIGNED),
                          .RND(RND), .OVF(OVF)) u_q (.din(sum), .dout(m_axis_tdata[i*OUT_W +: OUT_W]));
        end
    endgenerate
endmodule
