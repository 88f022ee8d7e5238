// A layer's output conversion with an optional activation folded in (combinational):
//
//   dout = requant_out( act( requant_mid(din) ) )      act = max(., 0) if RELU, else identity
//
// exactly what hls4ml computes for a MAC layer followed by its relu / linear Activation layer: the
// accumulator is assigned to the layer's result type (MID_*), the activation zeroes negatives, and
// its result is assigned to the activation's type (OUT_*). MID_W = 0: no intermediate type, the
// activation reads din itself (kws_act: an Activation stage on its own). Each conversion is a
// kws_requant, so rounding and overflow are defined once (hw/rtl/requant.py codes).
// SHIFT = fraction bits of what the second conversion reads (MID_W > 0: the result type's,
// else din's) - OUT fraction bits; MID_SHIFT = din's - the result type's.
module kws_requant_act #(
    parameter IN_W = 16,
    parameter IN_SIGNED = 1,
    parameter MID_W = 0,
    parameter MID_SIGNED = 1,
    parameter MID_SHIFT = 0,
    parameter MID_RND = 0,
    parameter MID_OVF = 0,
    parameter RELU = 0,
    parameter SHIFT = 0,
    parameter OUT_W = 8,
    parameter OUT_SIGNED = 1,
    parameter RND = 0,
    parameter OVF = 0
) (
    input  wire [IN_W-1:0]  din,
    output wire [OUT_W-1:0] dout
);
    localparam A_W = (MID_W > 0) ? MID_W : IN_W;  // width of what the activation reads
    localparam A_SIGNED = (MID_W > 0) ? MID_SIGNED : IN_SIGNED;
    wire [A_W-1:0] a;
    generate
        if (MID_W > 0) begin : g_mid
            kws_requant #(.IN_W(IN_W), .IN_SIGNED(IN_SIGNED), .SHIFT(MID_SHIFT), .OUT_W(MID_W), .OUT_SIGNED(MID_SIGNED),
                          .RND(MID_RND), .OVF(MID_OVF)) u_mid (.din(din), .dout(a));
        end else begin : g_direct
            assign a = din;
        end
    endgenerate
    wire negative = (A_SIGNED != 0) & a[A_W-1];
    wire [A_W-1:0] ar = (RELU != 0 && negative) ? {A_W{1'b0}} : a;
    kws_requant #(.IN_W(A_W), .IN_SIGNED(A_SIGNED), .SHIFT(SHIFT), .OUT_W(OUT_W), .OUT_SIGNED(OUT_SIGNED),
                  .RND(RND), .OVF(OVF)) u_out (.din(ar), .dout(dout));
endmodule
