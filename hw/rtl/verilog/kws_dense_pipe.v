// Fully parallel fully connected layer (reuse factor 1, whole frame in one beat, out in one beat):
// a two-register pipeline that takes a frame every cycle, where kws_dense's collect / compute /
// emit stages would need three.
//
// y[o] = requant_out( cast_acc(bias[o]) + sum_i cast_acc(x[i] * w[i][o]) )  (accumulator wraps)
//
// Same arithmetic as kws_dense with IB = N_IN, OB = N_OUT: one kws_mac_chain per output (SH_W > 0:
// per-channel shifts, see there). The weights arrive as a constant port rather than from a ROM:
// Yosys then folds every multiplier into a constant multiplication (shifts and adds), as a fully
// unrolled hls4ml / da4ml design does.
//
// MAC_EXT = 1 (what hw/rtl/emitters/dense_emitter.py emits): the sums come from outside instead
// (port sums, the same value as the kws_mac_chain instances: bias + cast products, or without the
// bias when SH_W > 0), computed from x_q, the registered frame, by the generator's shift-add
// network (hw/rtl/shift_add.py, <layer>_sa.v). weights is unused.
module kws_dense_pipe #(
    parameter N_IN = 4,
    parameter N_OUT = 2,
    parameter IN_W = 8,
    parameter IN_SIGNED = 1,
    parameter W_W = 8,
    parameter ACC_W = 24,
    parameter PROD_SHIFT = 0,
    parameter ACC_RND = 0,
    parameter ACC_OVF = 0,
    parameter MAC_EXT = 0,
    parameter OUT_W = 8,
    parameter OUT_SIGNED = 1,
    parameter OUT_SHIFT = 0,
    parameter OUT_RND = 0,
    parameter OUT_OVF = 0,
    // RES_W > 0: a relu / linear activation fused into the layer (hw/rtl/fuse_activation.py). The
    // sum converts to the layer's result type (RES_*), RELU zeroes negatives, and OUT_* converts
    // that to the activation's type (OUT_SHIFT = result fraction bits - OUT's): kws_requant_act.
    parameter RES_W = 0,
    parameter RES_SIGNED = 1,
    parameter RES_SHIFT = 0,
    parameter RES_RND = 0,
    parameter RES_OVF = 0,
    parameter RELU = 0,
    parameter SH_W = 0,
    parameter SHIFTS = 0
) (
    input  wire                      clk,
    input  wire                      rst_n,
    input  wire [N_IN*IN_W-1:0]      s_axis_tdata,
    input  wire                      s_axis_tvalid,
    output wire                      s_axis_tready,
    output wire [N_OUT*OUT_W-1:0]    m_axis_tdata,
    output wire                      m_axis_tvalid,
    input  wire                      m_axis_tready,
    /* verilator lint_off UNUSEDSIGNAL */  // MAC_EXT reads sums and not weights (nor bias without SH_W)
    input  wire [N_OUT*N_IN*W_W-1:0] weights,   // w[i][o] at slot o*N_IN + i
    input  wire [N_OUT*ACC_W-1:0]    bias,
    output wire [N_IN*IN_W-1:0]      x_q,       // MAC_EXT: the registered frame, to the sums' network
    input  wire [N_OUT*ACC_W-1:0]    sums       // MAC_EXT: sum per output, output 0 lowest
    /* verilator lint_on UNUSEDSIGNAL */
);
    reg xvalid, ovalid;
    reg [N_IN*IN_W-1:0] xr;
    reg [N_OUT*OUT_W-1:0] obuf;
    wire o_free = ~ovalid | m_axis_tready;  // the output register can take a result this cycle
    assign s_axis_tready = ~xvalid | o_free;
    assign m_axis_tvalid = ovalid;
    assign m_axis_tdata = obuf;
    wire in_hs = s_axis_tvalid & s_axis_tready;
    assign x_q = xr;

    wire [N_OUT*OUT_W-1:0] yres;
    genvar o;
    generate
        for (o = 0; o < N_OUT; o = o + 1) begin : g_out
            wire [ACC_W-1:0] sum;
            if (MAC_EXT != 0) begin : g_ext
                assign sum = sums[o*ACC_W +: ACC_W];
            end else begin : g_mac
                kws_mac_chain #(.N(N_IN), .IN_W(IN_W), .IN_SIGNED(IN_SIGNED), .W_W(W_W), .ACC_W(ACC_W),
                                .PROD_SHIFT(PROD_SHIFT), .ACC_RND(ACC_RND), .ACC_OVF(ACC_OVF))
                    u_mac (.acc_in((SH_W > 0) ? {ACC_W{1'b0}} : bias[o*ACC_W +: ACC_W]), .x(xr),
                           .w(weights[o*N_IN*W_W +: N_IN*W_W]), .sum(sum));
            end
            wire [((SH_W > 0) ? SH_W : 1)-1:0] k;  // this output's shift (SH_W > 0): a constant
            if (SH_W > 0) begin : g_shift
                localparam [N_OUT*SH_W-1:0] K_ALL = SHIFTS;
                assign k = K_ALL[o*SH_W +: SH_W];
            end else begin : g_plain
                assign k = 1'b0;
            end
            kws_dense_out #(.ACC_W(ACC_W), .SH_W(SH_W), .RES_W(RES_W), .RES_SIGNED(RES_SIGNED), .RES_SHIFT(RES_SHIFT),
                            .RES_RND(RES_RND), .RES_OVF(RES_OVF), .RELU(RELU), .OUT_W(OUT_W), .OUT_SIGNED(OUT_SIGNED),
                            .OUT_SHIFT(OUT_SHIFT), .OUT_RND(OUT_RND), .OUT_OVF(OUT_OVF))
                u_out (.sum(sum), .k(k), .bias(bias[o*ACC_W +: ACC_W]), .dout(yres[o*OUT_W +: OUT_W]));
        end
    endgenerate

    always @(posedge clk) begin
        if (!rst_n) begin
            xvalid <= 1'b0;
            ovalid <= 1'b0;
        end else begin
            if (xvalid && o_free) begin
                obuf <= yres;
                ovalid <= 1'b1;
            end else if (m_axis_tready) begin
                ovalid <= 1'b0;
            end
            if (in_hs) begin
                xr <= s_axis_tdata;
                xvalid <= 1'b1;
            end else if (o_free) begin
                xvalid <= 1'b0;
            end
        end
    end
endmodule
