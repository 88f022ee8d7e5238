// Line buffer + window generator over a streamed feature map (one pixel of C channels per beat,
// raster order). For every output position (oh, ow) it emits the FH x FW window, one pixel per
// beat in (i, j) raster order - the Keras kernel order (fh, fw, C) - with zeros for positions in
// the padding. Conv / depthwise / pooling cores behind it see each window as one short frame.
//
// Storage: FH rows x W pixels, row r in slot r mod FH. Input row r is accepted only while the
// window rows still needed, [base, base + FH) with base = oh*SH - PT, leave its slot free
// (r < base + FH); a window is emitted once its last pixel has arrived. The next frame's input
// starts after the last window of the current frame left.
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
    parameter OW = 4
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

    reg [CW-1:0] mem [0:DEPTH-1];

    // The narrow signed counters below meet 32-bit integer parameters in every expression: Verilog
    // sign-extends them there, which is what is meant, so width warnings are off in this module.
    /* verilator lint_off WIDTHEXPAND */
    /* verilator lint_off WIDTHTRUNC */
    // Counters as narrow signed registers (not 32-bit integers: each costs its width in flip-flops
    // and comparators); NW bits hold every value they take, including -PT / -PL.
    localparam integer NW = $clog2(H + W + FH + FW + SH + SW + PT + PL + OH + OW + 2) + 2;
    localparam integer AWD = (DEPTH > 1) ? $clog2(DEPTH) : 1;
    // ---------------- input side ----------------
    reg signed [NW-1:0] in_r, in_c;
    reg in_all;
    // ---------------- output side ----------------
    reg signed [NW-1:0] base_r, base_c, wi, wj, ow, oh;
    reg out_fin;
    // Slots are kept as their first address (slot * W): stepping a slot is an add of W, where
    // slot * W on a counter became two DSP multipliers per line buffer in synth_ecp5.
    reg signed [AWD+1:0] slot_base_a, slot_i_a, in_slot_a;

    reg signed [NW-1:0] last_r, last_c, rd_r, rd_c;
    reg signed [AWD+1:0] next_sb_a;
    always @* begin
        last_r = (base_r + FH - 1 < H - 1) ? base_r + FH - 1 : H - 1;
        last_c = (base_c + FW - 1 < W - 1) ? base_c + FW - 1 : W - 1;
        rd_r = base_r + wi;
        rd_c = base_c + wj;
        next_sb_a = (slot_base_a + SHM * W >= DEPTH) ? slot_base_a + SHM * W - DEPTH : slot_base_a + SHM * W;
    end
    wire have = in_all || (in_r > last_r) || (in_r == last_r && in_c > last_c);
    wire inb = (rd_r >= 0) && (rd_r < H) && (rd_c >= 0) && (rd_c < W);
    wire [31:0] rd_addr = slot_i_a + rd_c;
    wire [31:0] wr_addr = in_slot_a + in_c;
    /* verilator lint_off UNUSEDSIGNAL */
    wire [31:0] rd_addr_u = rd_addr;
    wire [31:0] wr_addr_u = wr_addr;
    /* verilator lint_on UNUSEDSIGNAL */

    assign s_axis_tready = ~in_all & (out_fin | (in_r < base_r + FH));
    assign m_axis_tvalid = ~out_fin & have;
    assign m_axis_tdata = inb ? mem[rd_addr_u[AWD-1:0]] : {CW{1'b0}};

    wire in_hs = s_axis_tvalid & s_axis_tready;
    wire out_hs = m_axis_tvalid & m_axis_tready;

    always @(posedge clk) begin
        if (in_hs) mem[wr_addr_u[AWD-1:0]] <= s_axis_tdata;
    end

    always @(posedge clk) begin
        if (!rst_n) begin
            in_r <= 0; in_c <= 0; in_slot_a <= 0; in_all <= 1'b0;
            base_r <= -PT; base_c <= -PL; wi <= 0; wj <= 0; ow <= 0; oh <= 0;
            slot_base_a <= SB0 * W; slot_i_a <= SB0 * W; out_fin <= 1'b0;
        end else if (in_all && out_fin) begin
            // frame turnover: both sides are done with this frame
            in_r <= 0; in_c <= 0; in_slot_a <= 0; in_all <= 1'b0; out_fin <= 1'b0;
        end else begin
            if (in_hs) begin
                if (in_c == W - 1) begin
                    in_c <= 0;
                    in_slot_a <= (in_slot_a == DEPTH - W) ? 0 : in_slot_a + W;
                    if (in_r == H - 1) in_all <= 1'b1;
                    in_r <= in_r + 1;
                end else begin
                    in_c <= in_c + 1;
                end
            end
            if (out_hs) begin
                if (wj == FW - 1) begin
                    wj <= 0;
                    if (wi == FH - 1) begin
                        wi <= 0;
                        if (ow == OW - 1) begin
                            ow <= 0;
                            base_c <= -PL;
                            if (oh == OH - 1) begin
                                oh <= 0;
                                base_r <= -PT;
                                slot_base_a <= SB0 * W;
                                slot_i_a <= SB0 * W;
                                out_fin <= 1'b1;
                            end else begin
                                oh <= oh + 1;
                                base_r <= base_r + SH;
                                slot_base_a <= next_sb_a;
                                slot_i_a <= next_sb_a;
                            end
                        end else begin
                            ow <= ow + 1;
                            base_c <= base_c + SW;
                            slot_i_a <= slot_base_a;
                        end
                    end else begin
                        wi <= wi + 1;
                        slot_i_a <= (slot_i_a == DEPTH - W) ? 0 : slot_i_a + W;
                    end
                end else begin
                    wj <= wj + 1;
                end
            end
        end
    end
    /* verilator lint_on WIDTHTRUNC */
    /* verilator lint_on WIDTHEXPAND */
endmodule
