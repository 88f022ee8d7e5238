// One channel of a pooling step: the input converted to accum_t, then combined with the running
// value a (average: a + x modulo 2**ACC_W; max: the larger), or taken alone on a window's first
// beat. Shared by kws_pool (C channels at once) and kws_pool_serial (one channel per cycle).
module kws_pool_combine #(
    parameter MAXP = 0,
    parameter IN_W = 8,
    parameter IN_SIGNED = 1,
    parameter ACC_W = 16,
    parameter ACC_SIGNED = 1,
    parameter IN_SHIFT = 0,
    parameter ACC_RND = 0,
    parameter ACC_OVF = 0
) (
    input  wire             first,
    input  wire [IN_W-1:0]  x,
    input  wire [ACC_W-1:0] a,
    output wire [ACC_W-1:0] y
);
    wire [ACC_W-1:0] xa;
    kws_requant #(.IN_W(IN_W), .IN_SIGNED(IN_SIGNED), .SHIFT(IN_SHIFT), .OUT_W(ACC_W), .OUT_SIGNED(ACC_SIGNED),
                  .RND(ACC_RND), .OVF(ACC_OVF)) u_in (.din(x), .dout(xa));
    wire sa = (ACC_SIGNED != 0) & a[ACC_W-1];
    wire sx = (ACC_SIGNED != 0) & xa[ACC_W-1];
    wire signed [ACC_W:0] ae = {sa, a};
    wire signed [ACC_W:0] xe = {sx, xa};
    wire [ACC_W-1:0] comb = (MAXP != 0) ? ((xe > ae) ? xa : a) : a + xa;
    assign y = first ? xa : comb;
endmodule
