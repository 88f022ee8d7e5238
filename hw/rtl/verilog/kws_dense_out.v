// One output of a MAC layer, combinational (kws_dense: one per output lane; kws_dense_pipe: one per
// output): with per-channel power-of-two weight scales (SH_W > 0, hw/rtl/channel_shift.py) the sum
// of narrowed products is shifted back by k and the bias added once, total = (sum << k) + bias
// (modulo 2**ACC_W); without them the sum already holds the bias (total = sum). Then the layer's
// output conversion with its fused activation (kws_requant_act).
module kws_dense_out #(
    parameter ACC_W = 24,
    parameter SH_W = 0,
    parameter RES_W = 0,
    parameter RES_SIGNED = 1,
    parameter RES_SHIFT = 0,
    parameter RES_RND = 0,
    parameter RES_OVF = 0,
    parameter RELU = 0,
    parameter OUT_W = 8,
    parameter OUT_SIGNED = 1,
    parameter OUT_SHIFT = 0,
    parameter OUT_RND = 0,
    parameter OUT_OVF = 0
) (
    input  wire [ACC_W-1:0]                   sum,
    /* verilator lint_off UNUSEDSIGNAL */  // without SH_W the bias is in the sum already
    input  wire [((SH_W > 0) ? SH_W : 1)-1:0] k,
    input  wire [ACC_W-1:0]                   bias,
    /* verilator lint_on UNUSEDSIGNAL */
    output wire [OUT_W-1:0]                   dout
);
    wire [ACC_W-1:0] total = (SH_W > 0) ? (sum << k) + bias : sum;
    kws_requant_act #(.IN_W(ACC_W), .IN_SIGNED(1), .MID_W(RES_W), .MID_SIGNED(RES_SIGNED), .MID_SHIFT(RES_SHIFT),
                      .MID_RND(RES_RND), .MID_OVF(RES_OVF), .RELU(RELU), .SHIFT(OUT_SHIFT), .OUT_W(OUT_W),
                      .OUT_SIGNED(OUT_SIGNED), .RND(OUT_RND), .OVF(OUT_OVF)) u_out (.din(total), .dout(dout));
endmodule
