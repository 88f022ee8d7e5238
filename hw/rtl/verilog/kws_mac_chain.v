// Multiply-accumulate of one output over N inputs, combinational (kws_dense: one reuse step,
// N = IB; kws_dense_pipe: the whole frame, N = N_IN):
//
// sum = acc_in + sum_j cast_acc(x[j] * w[j])  (modulo 2**ACC_W, like a wrapping ap_fixed)
//
// Each product is cast to the accumulator on its own, as hls4ml does, so the sum of a frame does
// not depend on how many steps it is split into.
//
// W_SIGN = 1 (a binary kernel, every code -1 or +1: hw/rtl/channel_shift.py): W_W = 1 and each
// weight is its sign bit, 0 = +1 and 1 = -1, so the ROM stores one bit per weight. The code is
// rebuilt as the 2-bit signed {b, 1} (01 = +1, 11 = -1): the same raw value and product as the
// 2-bit word it replaces, and the multiplier a conditional negation.
module kws_mac_chain #(
    parameter N = 4,
    parameter IN_W = 8,
    parameter IN_SIGNED = 1,
    parameter W_W = 8,
    parameter W_SIGN = 0,
    parameter ACC_W = 24,
    parameter PROD_SHIFT = 0,
    parameter ACC_RND = 0,
    parameter ACC_OVF = 0
) (
    input  wire [ACC_W-1:0]  acc_in,
    input  wire [N*IN_W-1:0] x,
    input  wire [N*W_W-1:0]  w,
    output wire [ACC_W-1:0]  sum
);
    localparam WV_W = (W_SIGN != 0) ? 2 : W_W;  // width of the weight value multiplied
    localparam PW = IN_W + 1 + WV_W;  // exact product width (input made signed)

    wire [(N+1)*ACC_W-1:0] chain /* verilator split_var */;  // running sum after j products
    assign chain[ACC_W-1:0] = acc_in;
    genvar j;
    generate
        for (j = 0; j < N; j = j + 1) begin : g_in
            wire [IN_W-1:0] xe = x[j*IN_W +: IN_W];
            wire in_sign = (IN_SIGNED != 0) ? xe[IN_W-1] : 1'b0;
            wire signed [IN_W:0] xa = {in_sign, xe};
            wire signed [WV_W-1:0] wv;
            if (W_SIGN != 0) begin : g_sign
                assign wv = {w[j*W_W], 1'b1};
            end else begin : g_word
                assign wv = w[j*W_W +: W_W];
            end
            wire signed [PW-1:0] prod = xa * wv;
            wire [ACC_W-1:0] pcast;
            kws_requant #(.IN_W(PW), .IN_SIGNED(1), .SHIFT(PROD_SHIFT), .OUT_W(ACC_W), .OUT_SIGNED(1),
                          .RND(ACC_RND), .OVF(ACC_OVF)) u_cast (.din(prod), .dout(pcast));
            assign chain[(j+1)*ACC_W +: ACC_W] = chain[j*ACC_W +: ACC_W] + pcast;
        end
    endgenerate
    assign sum = chain[N*ACC_W +: ACC_W];
endmodule
