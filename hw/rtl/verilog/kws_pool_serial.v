// Channel-serial average / max pooling core: the arithmetic of kws_pool (same parameters, same
// results) one channel per cycle, for streams slow enough to spend K x C cycles on a window.
// Where kws_pool needs C input converters, C adders and C x ACC_W flip-flops, this keeps the
// running sums in a C-word memory (registered read: block or LUT RAM) and has one of each.
//
// A beat is worked on while s_axis_tvalid is high, channel ch in cycle ch, and accepted (tready)
// in the cycle of its last channel: the producer holds tdata until then (the AXI-Stream rule every
// stage of the generator keeps, as do the testbench drivers). Pipeline: cycle t reads channel ch's
// running value, cycle t + 1 combines it with the input (kws_pool_combine) and writes it back; on
// the window's last beat the result is divided (kws_pool_div; max: converted) and shifts into obuf
// from the top, so channel 0 ends at the bottom. The last beat of a window waits until the
// previous window's result has left.
// SDIV = 1 (average): no multiplier. On the window's last beat the sums are written back like any
// other; then each channel is read and divided by K bit by bit (restoring division, ACC_W steps
// on a remainder narrower than K's double) - ACC_W + 3 cycles a channel, for streams slow enough
// (hw/rtl/emitters/pool_emitter.py). The quotient is the same floor(|s| / K) as kws_pool_div's
// multiply-shift. The sums live in two banks, one per window in turn, so the next window
// accumulates while the last one is divided: input waits one cycle per channel (the divider's
// read of the shared port) instead of the whole division. Without the second bank the division
// stopped the stream behind the pool for C x (ACC_W + 3) cycles a window, which the stage before
// could not hide (the demo DS-CNN: II 8,263 -> 8,573 cycles against an estimate of 8,126).
module kws_pool_serial #(
    parameter C = 2,
    parameter K = 4,
    parameter MAXP = 0,
    parameter SDIV = 0,
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
    localparam KW = (K > 1) ? $clog2(K) : 1;
    localparam CW = $clog2(C);  // C >= 2 (the generator's rule)
    localparam integer KLASTI = K - 1, CLASTI = C - 1;
    localparam [KW-1:0] KLAST = KLASTI[KW-1:0];
    localparam [CW-1:0] CLAST = CLASTI[CW-1:0];

    reg [KW-1:0] k;                     // beat of the window
    reg [CW-1:0] ch;                    // channel read this cycle
    // SDIV: the sums of a window at {bank, channel}, the banks in turn (the memory of the others is
    // C words, the bank bit stays 0)
    localparam DIVIDE = (SDIV != 0) && (MAXP == 0);
    localparam integer DEPTH = DIVIDE ? (1 << CW) + C : C;
    reg [ACC_W-1:0] accm [0:DEPTH-1];   // running value per (bank,) channel
    reg [ACC_W-1:0] rd;                 // accm[{b1, ch1}], or the divider's sum
    reg rb;                             // bank of the window being read (SDIV)
    reg v1, first1, last1;              // the channel in the combine stage
    /* verilator lint_off UNUSEDSIGNAL */
    reg b1;                             // its bank (read with SDIV only)
    /* verilator lint_on UNUSEDSIGNAL */
    reg [CW-1:0] ch1;
    reg [IN_W-1:0] x1;
    reg ovalid;
    reg [C*OUT_W-1:0] obuf;
    assign m_axis_tvalid = ovalid;
    assign m_axis_tdata = obuf;

    // SDIV: the sums are complete after the last channel of the last beat; divide them one by one
    wire last_beat = (k == KLAST);
    wire sums_done = v1 & last1 & (ch1 == CLAST);
    wire dividing;     // SDIV: the division of the last window's sums runs
    wire div_read;     // SDIV: the divider reads a sum this cycle (the port is its)
    wire div_out;      // SDIV: a channel's quotient is ready (r), this cycle
    wire [CW-1:0] div_ch;
    /* verilator lint_off UNUSEDSIGNAL */
    wire div_bank;     // SDIV: the bank being divided (read with SDIV only)
    /* verilator lint_on UNUSEDSIGNAL */
    // a window's last beat waits until the previous result has left (and, SDIV, was computed)
    wire result_pending = ovalid | sums_done | dividing;
    wire go = s_axis_tvalid & ~(last_beat & result_pending) & ~div_read;
    assign s_axis_tready = go & (ch == CLAST);

    wire [ACC_W-1:0] y;
    kws_pool_combine #(.MAXP(MAXP), .IN_W(IN_W), .IN_SIGNED(IN_SIGNED), .ACC_W(ACC_W), .ACC_SIGNED(ACC_SIGNED),
                       .IN_SHIFT(IN_SHIFT), .ACC_RND(ACC_RND), .ACC_OVF(ACC_OVF))
        u_comb (.first(first1), .x(x1), .a(rd), .y(y));
    wire [OUT_W-1:0] r;
    generate
        if (MAXP != 0) begin : g_max
            kws_requant #(.IN_W(ACC_W), .IN_SIGNED(ACC_SIGNED), .SHIFT(OUT_SHIFT), .OUT_W(OUT_W),
                          .OUT_SIGNED(OUT_SIGNED), .RND(OUT_RND), .OVF(OUT_OVF)) u_out (.din(y), .dout(r));
        end else if (SDIV == 0) begin : g_avg
            kws_pool_div #(.ACC_W(ACC_W), .ACC_SIGNED(ACC_SIGNED), .MW(MW), .MAGIC(MAGIC), .MSHIFT(MSHIFT),
                           .OUT_W(OUT_W), .OUT_SIGNED(OUT_SIGNED), .OUT_SHIFT(OUT_SHIFT), .OUT_RND(OUT_RND),
                           .OUT_OVF(OUT_OVF)) u_div (.s(y), .q(r));
        end else begin : g_sdiv
            // dcnt 0: read channel pch; 1: load |sum|; 2 .. ACC_W + 1: a quotient bit each;
            // ACC_W + 2: the signed quotient, converted (r), shifts into obuf
            // remainder < K; one step's partial < 2K (at least 2 bits: a 1-pixel window divides by 1)
            localparam integer RW = (K > 1) ? $clog2(K) + 1 : 2;
            localparam integer DCW = $clog2(ACC_W + 3);
            localparam integer KI = K;
            localparam [RW-1:0] KR = KI[RW-1:0];
            localparam integer D_OUTI = ACC_W + 2;
            localparam [DCW-1:0] D_LOAD = 1, D_OUT = D_OUTI[DCW-1:0];
            reg busy_d;
            reg [DCW-1:0] dcnt;
            reg [CW-1:0] pch;
            reg pbank;  // the bank being divided
            reg [ACC_W-1:0] dq;  // dividend bits leave at the top, quotient bits enter at the bottom
            reg [RW-2:0] rem;
            reg neg;
            wire [RW-1:0] part = {rem, dq[ACC_W-1]};
            wire ge = part >= KR;
            /* verilator lint_off UNUSEDSIGNAL */
            wire [RW-1:0] left = ge ? part - KR : part;  // < K: the top bit is always 0
            /* verilator lint_on UNUSEDSIGNAL */
            wire sneg = (ACC_SIGNED != 0) & rd[ACC_W-1];
            wire [ACC_W-1:0] qs = neg ? (~dq + 1'b1) : dq;
            kws_requant #(.IN_W(ACC_W), .IN_SIGNED(ACC_SIGNED), .SHIFT(OUT_SHIFT), .OUT_W(OUT_W),
                          .OUT_SIGNED(OUT_SIGNED), .RND(OUT_RND), .OVF(OUT_OVF)) u_out (.din(qs), .dout(r));
            assign dividing = busy_d;
            assign div_read = busy_d & (dcnt == 0);
            assign div_out = busy_d & (dcnt == D_OUT);
            assign div_ch = pch;
            assign div_bank = pbank;
            always @(posedge clk) begin
                if (!rst_n) begin
                    busy_d <= 1'b0;
                    dcnt <= {DCW{1'b0}};
                    pch <= {CW{1'b0}};
                end else if (sums_done) begin
                    busy_d <= 1'b1;
                    dcnt <= {DCW{1'b0}};
                    pch <= {CW{1'b0}};
                    pbank <= b1;
                end else if (busy_d) begin
                    if (dcnt == D_LOAD) begin
                        neg <= sneg;
                        dq <= sneg ? (~rd + 1'b1) : rd;
                        rem <= {(RW-1){1'b0}};
                    end else if (dcnt != 0 && dcnt != D_OUT) begin
                        rem <= left[RW-2:0];
                        dq <= {dq[ACC_W-2:0], ge};
                    end
                    if (dcnt == D_OUT) begin
                        dcnt <= {DCW{1'b0}};
                        pch <= pch + 1'b1;
                        if (pch == CLAST) busy_d <= 1'b0;
                    end else begin
                        dcnt <= dcnt + 1'b1;
                    end
                end
            end
        end
        if (!DIVIDE) begin : g_inline
            assign dividing = 1'b0;
            assign div_read = 1'b0;
            assign div_out = 1'b0;
            assign div_ch = {CW{1'b0}};
            assign div_bank = 1'b0;
        end
    endgenerate

    localparam integer MAW = DIVIDE ? CW + 1 : CW;
    wire [MAW-1:0] rd_addr, wr_addr;
    generate
        if (DIVIDE) begin : g_banks
            assign rd_addr = div_read ? {div_bank, div_ch} : {rb, ch};
            assign wr_addr = {b1, ch1};
        end else begin : g_one_bank
            assign rd_addr = ch;
            assign wr_addr = ch1;
        end
    endgenerate
    always @(posedge clk) rd <= accm[rd_addr];
    always @(posedge clk) if (v1) accm[wr_addr] <= y;

    // a channel's result shifts into obuf from the top (channel 0 ends at the bottom): on its last
    // beat (inline division, max) or when its serial division ends (SDIV)
    wire out_step = DIVIDE ? div_out : (v1 & last1);
    wire out_last = DIVIDE ? (div_ch == CLAST) : (ch1 == CLAST);
    always @(posedge clk) begin
        if (!rst_n) begin
            k <= {KW{1'b0}};
            ch <= {CW{1'b0}};
            v1 <= 1'b0;
            ovalid <= 1'b0;
            rb <= 1'b0;
        end else begin
            if (ovalid && m_axis_tready) ovalid <= 1'b0;
            v1 <= go;
            if (go) begin
                ch1 <= ch;
                b1 <= rb;
                x1 <= s_axis_tdata[ch*IN_W +: IN_W];
                first1 <= (k == 0);
                last1 <= last_beat;
                if (ch == CLAST) begin
                    ch <= {CW{1'b0}};
                    k <= last_beat ? {KW{1'b0}} : k + 1'b1;
                    if (DIVIDE && last_beat) rb <= ~rb;  // the next window sums in the other bank
                end else begin
                    ch <= ch + 1'b1;
                end
            end
            if (out_step) begin
                obuf <= {r, obuf[C*OUT_W-1:OUT_W]};
                if (out_last) ovalid <= 1'b1;
            end
        end
    end
endmodule
