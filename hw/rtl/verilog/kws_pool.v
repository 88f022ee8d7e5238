// Average / max pooling core: K beats of C channels (one window, e.g. from kws_window) -> one
// beat of C results. Like hls4ml: each input is converted to accum_t, summed modulo 2**ACC_W
// (max: compared), the sum is divided by K with truncation toward zero, and the quotient is
// converted to the result type. The division by the constant K is an exact multiply-shift:
// q = (|s| * MAGIC) >> MSHIFT with MAGIC = ceil(2**MSHIFT / K), MSHIFT = ACC_W + ceil(log2 K),
// exact for every |s| < 2**ACC_W (generator-checked).
//
// SERIAL_DIV=1 (average only): the last beat stores the sums, then one shared divider converts
// one channel per cycle (C cycles, input stalled) instead of C dividers at once. A global pool
// over 64 channels needs 64 multiply-shifts of ACC_W x MW bits in parallel otherwise - most of
// a small FPGA - to save C cycles per frame.
module kws_pool #(
    parameter C = 1,
    parameter K = 4,
    parameter MAXP = 0,
    parameter SERIAL_DIV = 0,
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
    // k counts the beats of a window: $clog2 wide, a 32-bit integer here costs adders in synthesis
    localparam KW = (K > 1) ? $clog2(K) : 1;
    localparam integer KLASTI = K - 1;
    localparam [KW-1:0] KLAST = KLASTI[KW-1:0];
    reg [KW-1:0] k;
    reg ovalid;
    reg [C*ACC_W-1:0] acc;
    reg [C*OUT_W-1:0] obuf;
    wire [C*ACC_W-1:0] acc_next;
    assign m_axis_tvalid = ovalid;
    assign m_axis_tdata = obuf;
    wire in_hs = s_axis_tvalid & s_axis_tready;
    wire last = (k == KLAST);
    always @(posedge clk) begin  // one window counter for both branches below (serial / parallel division)
        if (!rst_n) k <= {KW{1'b0}};
        else if (in_hs) k <= last ? {KW{1'b0}} : k + 1'b1;
    end

    genvar c;
    generate
        for (c = 0; c < C; c = c + 1) begin : g_ch
            kws_pool_combine #(.MAXP(MAXP), .IN_W(IN_W), .IN_SIGNED(IN_SIGNED), .ACC_W(ACC_W), .ACC_SIGNED(ACC_SIGNED),
                               .IN_SHIFT(IN_SHIFT), .ACC_RND(ACC_RND), .ACC_OVF(ACC_OVF))
                u_comb (.first(k == 0), .x(s_axis_tdata[c*IN_W +: IN_W]), .a(acc[c*ACC_W +: ACC_W]),
                        .y(acc_next[c*ACC_W +: ACC_W]));
        end
    endgenerate

    generate
        if (SERIAL_DIV != 0 && MAXP == 0) begin : g_serial
            // divide phase: acc shifts down one channel per cycle, results shift into obuf from the top
            localparam CW = (C > 1) ? $clog2(C) : 1;
            localparam integer CLASTI = C - 1;
            localparam [CW-1:0] CLAST = CLASTI[CW-1:0];
            reg [CW-1:0] ch;
            reg busy;
            wire [OUT_W-1:0] r0;
            kws_pool_div #(.ACC_W(ACC_W), .ACC_SIGNED(ACC_SIGNED), .MW(MW), .MAGIC(MAGIC), .MSHIFT(MSHIFT),
                           .OUT_W(OUT_W), .OUT_SIGNED(OUT_SIGNED), .OUT_SHIFT(OUT_SHIFT), .OUT_RND(OUT_RND),
                           .OUT_OVF(OUT_OVF)) u_div (.s(acc[ACC_W-1:0]), .q(r0));
            wire step = busy & ~ovalid;
            wire [C*OUT_W-1:0] obuf_next;
            if (C > 1) begin : g_shift
                assign obuf_next = {r0, obuf[C*OUT_W-1:OUT_W]};
            end else begin : g_one
                assign obuf_next = r0;
            end
            assign s_axis_tready = ~busy;
            always @(posedge clk) begin
                if (!rst_n) begin
                    ovalid <= 1'b0; busy <= 1'b0; ch <= 0;
                end else begin
                    if (ovalid && m_axis_tready) ovalid <= 1'b0;
                    if (in_hs) begin
                        acc <= acc_next;
                        if (last) busy <= 1'b1;
                    end
                    if (step) begin
                        acc <= acc >> ACC_W;
                        obuf <= obuf_next;
                        if (ch == CLAST) begin
                            ch <= 0;
                            busy <= 1'b0;
                            ovalid <= 1'b1;
                        end else begin
                            ch <= ch + 1'b1;
                        end
                    end
                end
            end
        end else begin : g_parallel
            wire [C*OUT_W-1:0] res;
            for (c = 0; c < C; c = c + 1) begin : g_div
                if (MAXP != 0) begin : g_max
                    kws_requant #(.IN_W(ACC_W), .IN_SIGNED(ACC_SIGNED), .SHIFT(OUT_SHIFT), .OUT_W(OUT_W),
                                  .OUT_SIGNED(OUT_SIGNED), .RND(OUT_RND), .OVF(OUT_OVF))
                        u_out (.din(acc_next[c*ACC_W +: ACC_W]), .dout(res[c*OUT_W +: OUT_W]));
                end else begin : g_avg
                    kws_pool_div #(.ACC_W(ACC_W), .ACC_SIGNED(ACC_SIGNED), .MW(MW), .MAGIC(MAGIC), .MSHIFT(MSHIFT),
                                   .OUT_W(OUT_W), .OUT_SIGNED(OUT_SIGNED), .OUT_SHIFT(OUT_SHIFT), .OUT_RND(OUT_RND),
                                   .OUT_OVF(OUT_OVF)) u_div (.s(acc_next[c*ACC_W +: ACC_W]), .q(res[c*OUT_W +: OUT_W]));
                end
            end
            assign s_axis_tready = ~ovalid | m_axis_tready;
            always @(posedge clk) begin
                if (!rst_n) begin
                    ovalid <= 1'b0;
                end else begin
                    if (ovalid && m_axis_tready) ovalid <= 1'b0;
                    if (in_hs) begin
                        acc <= acc_next;
                        if (last) begin
                            obuf <= res;
                            ovalid <= 1'b1;
                        end
                    end
                end
            end
        end
    endgenerate
endmodule
