// Average / max pooling core: K beats of C channels (one window, e.g. from kws_window) -> one
// beat of C results. Like hls4ml: each input is converted to accum_t, summed modulo 2**ACC_W
// (max: compared), the sum is divided by K with truncation toward zero, and the quotient is
// converted to the result type. The division by the constant K is an exact multiply-shift:
// q = (|s| * MAGIC) >> MSHIFT with MAGIC = ceil(2**MSHIFT / K), MSHIFT = ACC_W + ceil(log2 K),
// exact for every |s| < 2**ACC_W (generator-checked).
module kws_pool #(
    parameter C = 1,
    parameter K = 4,
    parameter MAXP = 0,
    parameter IN_W = 8,
    parameter IN_SIGNED = 1,
    parameter ACC_W = 16,
    parameter ACC_SIGNED = 1,
    parameter IN_SHIFT = 0,
    parameter ACC_RND = 0,
    parameter ACC_OVF = 0,
    parameter MW = 17,
    parameter [MW-1:0] MAGIC = 1,
    parameter MSHIFT = 0,
    parameter OUT_W = 8,
    parameter OUT_SIGNED = 1,
    parameter OUT_SHIFT = 0,
    parameter OUT_RND = 0,
    parameter OUT_OVF = 0
) (
    input  wire               clk,
    input  wire               rst_n,
    input  wire [C*IN_W-1:0]  s_axis_tdata,
    input  wire               s_axis_tvalid,
    output wire               s_axis_tready,
    output wire [C*OUT_W-1:0] m_axis_tdata,
    output wire               m_axis_tvalid,
    input  wire               m_axis_tready
);
    integer k;
    reg ovalid;
    reg [C*ACC_W-1:0] acc;
    reg [C*OUT_W-1:0] obuf;
    wire [C*ACC_W-1:0] acc_next;
    wire [C*OUT_W-1:0] res;
    assign s_axis_tready = ~ovalid | m_axis_tready;
    assign m_axis_tvalid = ovalid;
    assign m_axis_tdata = obuf;
    wire in_hs = s_axis_tvalid & s_axis_tready;

    genvar c;
    generate
        for (c = 0; c < C; c = c + 1) begin : g_ch
            wire [ACC_W-1:0] xa;
            kws_requant #(.IN_W(IN_W), .IN_SIGNED(IN_SIGNED), .SHIFT(IN_SHIFT), .OUT_W(ACC_W), .OUT_SIGNED(ACC_SIGNED),
                          .RND(ACC_RND), .OVF(ACC_OVF)) u_in (.din(s_axis_tdata[c*IN_W +: IN_W]), .dout(xa));
            wire [ACC_W-1:0] a = acc[c*ACC_W +: ACC_W];
            wire sa = (ACC_SIGNED != 0) & a[ACC_W-1];
            wire sx = (ACC_SIGNED != 0) & xa[ACC_W-1];
            wire signed [ACC_W:0] ae = {sa, a};
            wire signed [ACC_W:0] xe = {sx, xa};
            wire [ACC_W-1:0] comb = (MAXP != 0) ? ((xe > ae) ? xa : a) : a + xa;
            wire [ACC_W-1:0] nxt = (k == 0) ? xa : comb;
            assign acc_next[c*ACC_W +: ACC_W] = nxt;
            wire [ACC_W-1:0] q;
            if (MAXP != 0) begin : g_max
                assign q = nxt;
            end else begin : g_avg
                wire neg = (ACC_SIGNED != 0) & nxt[ACC_W-1];
                wire [ACC_W-1:0] mag = neg ? (~nxt + 1'b1) : nxt;  // |s| (the most negative code stays 2**(ACC_W-1))
                /* verilator lint_off UNUSEDSIGNAL */
                wire [ACC_W+MW-1:0] prod = {{MW{1'b0}}, mag} * {{ACC_W{1'b0}}, MAGIC};
                /* verilator lint_on UNUSEDSIGNAL */
                wire [ACC_W-1:0] qm = prod[MSHIFT +: ACC_W];
                assign q = neg ? (~qm + 1'b1) : qm;
            end
            kws_requant #(.IN_W(ACC_W), .IN_SIGNED(ACC_SIGNED), .SHIFT(OUT_SHIFT), .OUT_W(OUT_W), .OUT_SIGNED(OUT_SIGNED),
                          .RND(OUT_RND), .OVF(OUT_OVF)) u_out (.din(q), .dout(res[c*OUT_W +: OUT_W]));
        end
    endgenerate

    always @(posedge clk) begin
        if (!rst_n) begin
            k <= 0;
            ovalid <= 1'b0;
        end else begin
            if (ovalid && m_axis_tready) ovalid <= 1'b0;
            if (in_hs) begin
                acc <= acc_next;
                if (k == K - 1) begin
                    k <= 0;
                    obuf <= res;
                    ovalid <= 1'b1;
                end else begin
                    k <= k + 1;
                end
            end
        end
    end
endmodule
