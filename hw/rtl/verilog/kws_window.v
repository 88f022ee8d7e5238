// Line buffer + window generator over a streamed feature map (one pixel of C channels per beat,
// raster order). For every output position (oh, ow) it emits the FH x FW window, one pixel per
// beat in (i, j) raster order - the Keras kernel order (fh, fw, C) - with zeros for positions in
// the padding. Conv / depthwise / pooling cores behind it see each window as one short frame.
//
// Storage: FH rows x W pixels, row r in slot r mod FH. Input row r is accepted only while the
// window rows still needed, [base, base + FH) with base = oh*SH - PT, leave its slot free
// (r < base + FH); a window is emitted once its last pixel has arrived. The next frame's input
// starts after the last window of the current frame left.
//
// MEM = 0: one CW-bit word per pixel, read asynchronously (LUT RAM on ECP5, flip-flops on iCE40,
// which has no distributed RAM). MEM = 1: NWD = CW / MW words of MW bits per pixel (pixel p word k
// at address p*NWD + k) behind one registered read port, the form Yosys maps to block RAM; a
// 128-bit wide memory would split over 8 block RAMs. An input pixel is written a word per cycle
// (accepted with its last word: NWD cycles), an emitted one read a word per cycle into a CW-bit
// output register (NWD + 2 cycles a pixel, 2 for a padding pixel): for streams slow enough.
module kws_window #(
    parameter H = 4,
    parameter W = 4,
    parameter CW = 8,      // bits per pixel beat (channels x element width)
    parameter FH = 3,
    parameter FW = 3,
    parameter SH = 1,
    parameter SW = 1,
    parameter PT = 1,
    parameter PL = 1,
    parameter OH = 4,
    parameter OW = 4,
    parameter MEM = 0,     // 0: registers / LUT RAM, 1: block RAM of MW-bit words
    parameter MW = CW      // memory word bits (MEM = 1), CW % MW == 0
) (
    input  wire          clk,
    input  wire          rst_n,
    input  wire [CW-1:0] s_axis_tdata,
    input  wire          s_axis_tvalid,
    output wire          s_axis_tready,
    output wire [CW-1:0] m_axis_tdata,
    output wire          m_axis_tvalid,
    input  wire          m_axis_tready
);
    localparam integer DEPTH = FH * W;
    localparam integer SB0 = ((FH - (PT % FH)) % FH);  // (-PT) mod FH
    localparam integer SHM = SH % FH;
    localparam integer NWD = CW / MW;
    // Columns and addresses count memory words: PW per pixel (1 with MEM = 0, so that form is the
    // pixel-counting one it always was).
    localparam integer PW = (MEM != 0) ? NWD : 1;
    localparam integer WP = W * PW;          // words per row slot
    localparam integer WORDS = DEPTH * PW;

    // The narrow signed counters below meet 32-bit integer parameters in every expression: Verilog
    // sign-extends them there, which is what is meant, so width warnings are off in this module.
    /* verilator lint_off WIDTHEXPAND */
    /* verilator lint_off WIDTHTRUNC */
    // Counters as narrow signed registers (not 32-bit integers: each costs its width in flip-flops
    // and comparators); NW bits hold every value they take, including -PT / -PL (columns x PW).
    localparam integer NW = $clog2(H + (W + FW + SW + PL) * PW + FH + SH + PT + OH + OW + 2) + 2;
    localparam integer AWD = (WORDS > 1) ? $clog2(WORDS) : 1;
    // ---------------- input side ----------------
    reg signed [NW-1:0] in_r, in_c;
    reg in_all;
    // ---------------- output side ----------------
    reg signed [NW-1:0] base_r, base_c, wi, wj, ow, oh;
    reg out_fin;
    // Slots are kept as their first address (slot * WP): stepping a slot is an add of WP, where
    // slot * W on a counter became two DSP multipliers per line buffer in synth_ecp5.
    reg signed [AWD+1:0] slot_base_a, slot_i_a, in_slot_a;

    reg signed [NW-1:0] last_r, last_c, rd_r, rd_c;
    reg signed [AWD+1:0] next_sb_a;
    always @* begin
        last_r = (base_r + FH - 1 < H - 1) ? base_r + FH - 1 : H - 1;
        last_c = (base_c + (FW - 1) * PW < (W - 1) * PW) ? base_c + (FW - 1) * PW : (W - 1) * PW;
        rd_r = base_r + wi;
        rd_c = base_c + wj;
        next_sb_a = (slot_base_a + SHM * WP >= WORDS) ? slot_base_a + SHM * WP - WORDS : slot_base_a + SHM * WP;
    end
    wire have = in_all || (in_r > last_r) || (in_r == last_r && in_c > last_c);
    wire inb = (rd_r >= 0) && (rd_r < H) && (rd_c >= 0) && (rd_c < WP);
    wire [31:0] rd_addr = slot_i_a + rd_c;
    wire [31:0] wr_addr = in_slot_a + in_c;
    /* verilator lint_off UNUSEDSIGNAL */
    wire [31:0] rd_addr_u = rd_addr;
    wire [31:0] wr_addr_u = wr_addr;
    /* verilator lint_on UNUSEDSIGNAL */

    wire in_room = ~in_all & (out_fin | (in_r < base_r + FH));
    wire in_step;  // the pixel at (in_r, in_c) is now in memory
    wire out_hs = m_axis_tvalid & m_axis_tready;

    generate
        if (MEM == 0) begin : g_reg
            reg [CW-1:0] mem [0:DEPTH-1];
            assign s_axis_tready = in_room;
            assign m_axis_tvalid = ~out_fin & have;
            assign m_axis_tdata = inb ? mem[rd_addr_u[AWD-1:0]] : {CW{1'b0}};
            assign in_step = s_axis_tvalid & s_axis_tready;
            always @(posedge clk) begin
                if (in_step) mem[wr_addr_u[AWD-1:0]] <= s_axis_tdata;
            end
        end else begin : g_bram
            localparam integer KW = (NWD > 1) ? $clog2(NWD) : 1;
            localparam integer KLASTI = NWD - 1;
            localparam [KW-1:0] KLAST = KLASTI[KW-1:0];
            reg [MW-1:0] mem [0:WORDS-1];
            // write side: word k of a beat in cycle k, the beat accepted (tready) with its last
            // word; the producer holds tdata until then (the AXI-Stream rule every stage of the
            // generator and the testbench drivers keep), so no CW-bit input register is needed.
            // The slot it goes to stays free meanwhile: in_room only widens until the beat is in.
            reg [KW-1:0] wk;
            reg [MW-1:0] wd;
            integer k;
            always @* begin  // a mux on wk, not s_axis_tdata[wk*MW +: MW]: no multiply in the index
                wd = s_axis_tdata[MW-1:0];
                for (k = 1; k < NWD; k = k + 1)
                    if (wk == k) wd = s_axis_tdata[k * MW +: MW];
            end
            wire we = s_axis_tvalid & in_room;
            wire [AWD-1:0] wa = wr_addr_u[AWD-1:0] + wk;
            assign s_axis_tready = in_room & (wk == KLAST);
            assign in_step = s_axis_tvalid & s_axis_tready;
            always @(posedge clk) begin
                if (we) mem[wa] <= wd;
            end
            always @(posedge clk) begin
                if (!rst_n || in_step) wk <= 0;
                else if (we) wk <= wk + 1'b1;
            end
            // read side: a pixel starts once the previous one left (its counters then point at
            // this one); words are issued over NWD cycles, each arrives a cycle later and shifts
            // into obuf from the top, so word 0 ends at the bottom. obuf changes only while
            // ovalid is low: the data hold while the consumer stalls.
            reg ovalid, rbusy, qv;
            reg [KW-1:0] rk;
            reg [AWD-1:0] raddr;
            reg [MW-1:0] q;
            reg [CW-1:0] obuf;
            wire go = ~out_fin & have & ~ovalid & ~rbusy & ~qv;
            wire rd_en = (go & inb) | rbusy;
            wire [AWD-1:0] ra = rbusy ? raddr : rd_addr_u[AWD-1:0];
            assign m_axis_tvalid = ovalid;
            assign m_axis_tdata = obuf;
            always @(posedge clk) begin
                if (rd_en) q <= mem[ra];
            end
            always @(posedge clk) begin
                if (!rst_n) begin
                    ovalid <= 1'b0; rbusy <= 1'b0; qv <= 1'b0; rk <= 0;
                end else begin
                    qv <= rd_en;
                    if (go & inb & (NWD > 1)) begin
                        rbusy <= 1'b1; rk <= 1;
                    end else if (rbusy) begin
                        if (rk == KLAST) rbusy <= 1'b0;
                        rk <= rk + 1'b1;
                    end
                    if (qv & ~rd_en) ovalid <= 1'b1;        // the last word arrived
                    else if (go & ~inb) ovalid <= 1'b1;     // padding: zeros, nothing to read
                    else if (out_hs) ovalid <= 1'b0;
                end
            end
            always @(posedge clk) begin
                if (go & inb) raddr <= rd_addr_u[AWD-1:0] + 1'b1;
                else if (rbusy) raddr <= raddr + 1'b1;
                if (go & ~inb) obuf <= {CW{1'b0}};
                else if (qv) obuf <= {q, obuf} >> MW;  // q in at the top (also for NWD = 1)
            end
        end
    endgenerate

    always @(posedge clk) begin
        if (!rst_n) begin
            in_r <= 0; in_c <= 0; in_slot_a <= 0; in_all <= 1'b0;
            base_r <= -PT; base_c <= -PL * PW; wi <= 0; wj <= 0; ow <= 0; oh <= 0;
            slot_base_a <= SB0 * WP; slot_i_a <= SB0 * WP; out_fin <= 1'b0;
        end else if (in_all && out_fin) begin
            // frame turnover: both sides are done with this frame
            in_r <= 0; in_c <= 0; in_slot_a <= 0; in_all <= 1'b0; out_fin <= 1'b0;
        end else begin
            if (in_step) begin
                if (in_c == (W - 1) * PW) begin
                    in_c <= 0;
                    in_slot_a <= (in_slot_a == WORDS - WP) ? 0 : in_slot_a + WP;
                    if (in_r == H - 1) in_all <= 1'b1;
                    in_r <= in_r + 1;
                end else begin
                    in_c <= in_c + PW;
                end
            end
            if (out_hs) begin
                if (wj == (FW - 1) * PW) begin
                    wj <= 0;
                    if (wi == FH - 1) begin
                        wi <= 0;
                        if (ow == OW - 1) begin
                            ow <= 0;
                            base_c <= -PL * PW;
                            if (oh == OH - 1) begin
                                oh <= 0;
                                base_r <= -PT;
                                slot_base_a <= SB0 * WP;
                                slot_i_a <= SB0 * WP;
                                out_fin <= 1'b1;
                            end else begin
                                oh <= oh + 1;
                                base_r <= base_r + SH;
                                slot_base_a <= next_sb_a;
                                slot_i_a <= next_sb_a;
                            end
                        end else begin
                            ow <= ow + 1;
                            base_c <= base_c + SW * PW;
                            slot_i_a <= slot_base_a;
                        end
                    end else begin
                        wi <= wi + 1;
                        slot_i_a <= (slot_i_a == WORDS - WP) ? 0 : slot_i_a + WP;
                    end
                end else begin
                    wj <= wj + PW;
                end
            end
        end
    end
    /* verilator lint_on WIDTHTRUNC */
    /* verilator lint_on WIDTHEXPAND */
endmodule
