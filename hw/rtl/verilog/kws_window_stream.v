// Sliding window over an endless stream of rows (time steps) of W pixels, one pixel (all channels)
// per beat in raster order: the streaming twin of kws_window. For every window row t = 0, 1, ...
// (input rows [t*SH, t*SH + FH)) and every output column ow, it emits the FH x FW window pixel by
// pixel in (i, j) order - the Keras kernel order - with zeros where a column falls in the left/right
// padding. There is no padding in time, no frame end and nothing recomputed: each input row is
// stored once in a ring of FH rows and read by every window that contains it.
//
// Counters are relative to the current window's first row, so they stay bounded however long the
// stream runs: in_r is the next input row (negative while rows between windows are skipped, when
// SH > FH), and the window's rows sit in slots slot_base, slot_base + 1, ... (mod FH). A row may be
// written once the window no longer needs its slot (in_r < FH); a window is emitted once its last
// pixel has arrived; after the last window of a row the base moves SH rows on.
module kws_window_stream #(
    parameter W = 4,
    parameter CW = 8,      // bits per pixel beat (channels x element width)
    parameter FH = 3,
    parameter FW = 3,
    parameter SH = 1,
    parameter SW = 1,
    parameter PL = 1,
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
    localparam integer AWD = (DEPTH > 1) ? $clog2(DEPTH) : 1;
    localparam integer SHM = SH % FH;

    reg [CW-1:0] mem [0:DEPTH-1];

    // The narrow signed counters below meet 32-bit integer parameters in every expression: Verilog
    // sign-extends them there, which is what is meant, so width warnings are off in this module.
    /* verilator lint_off WIDTHEXPAND */
    /* verilator lint_off WIDTHTRUNC */
    // Counters as narrow signed registers (not 32-bit integers: each costs its width in flip-flops
    // and comparators); NW bits hold every value they take, including -PL and the skipped rows.
    localparam integer NW = $clog2(W + FH + FW + SH + PL + OW + 2) + 2;
    reg signed [NW-1:0] in_r, in_c;     // next input pixel: row (relative to the window), column
    reg signed [NW-1:0] base_c, wi, wj, ow;
    // Slots as first addresses (slot * W), stepped by adds of W: a multiply by W on a counter
    // became DSP multipliers in synth_ecp5. The input row's slot is the absolute row mod FH (an
    // advance moves the base SH rows on and in_r back by SH, which leaves base + in_r mod FH), so
    // it only steps with each input row; the read slot is the window's base slot + wi.
    reg signed [AWD+1:0] slot_base_a, in_slot_a, rd_slot_a;

    reg signed [NW-1:0] last_c, rd_c;
    reg signed [AWD+1:0] next_base_a;
    always @* begin
        last_c = (base_c + FW - 1 < W - 1) ? base_c + FW - 1 : W - 1;
        rd_c = base_c + wj;
        next_base_a = (slot_base_a + SHM * W >= DEPTH) ? slot_base_a + SHM * W - DEPTH : slot_base_a + SHM * W;
    end
    wire have = (in_r > FH - 1) || (in_r == FH - 1 && in_c > last_c);
    wire inb = (rd_c >= 0) && (rd_c < W);
    wire [31:0] rd_addr = rd_slot_a + rd_c;  // (only read where inb)
    wire [31:0] wr_addr = in_slot_a + in_c;
    /* verilator lint_off UNUSEDSIGNAL */
    wire [31:0] rd_addr_u = rd_addr;
    wire [31:0] wr_addr_u = wr_addr;
    /* verilator lint_on UNUSEDSIGNAL */

    assign s_axis_tready = (in_r < FH);
    assign m_axis_tvalid = have;
    assign m_axis_tdata = inb ? mem[rd_addr_u[AWD-1:0]] : {CW{1'b0}};

    wire in_hs = s_axis_tvalid & s_axis_tready;
    wire out_hs = m_axis_tvalid & m_axis_tready;
    wire row_in = in_hs && (in_c == W - 1);  // the last pixel of an input row arrives
    wire advance = out_hs && (wj == FW - 1) && (wi == FH - 1) && (ow == OW - 1);  // the window row is done

    always @(posedge clk) begin
        if (in_hs && in_r >= 0) mem[wr_addr_u[AWD-1:0]] <= s_axis_tdata;  // rows between windows are dropped
    end

    always @(posedge clk) begin
        if (!rst_n) begin
            in_r <= 0; in_c <= 0;
            base_c <= -PL; wi <= 0; wj <= 0; ow <= 0; slot_base_a <= 0; in_slot_a <= 0; rd_slot_a <= 0;
        end else begin
            if (in_hs) in_c <= (in_c == W - 1) ? 0 : in_c + 1;
            in_r <= in_r + (row_in ? 1 : 0) - (advance ? SH : 0);
            if (row_in) in_slot_a <= (in_slot_a == DEPTH - W) ? 0 : in_slot_a + W;
            if (advance) slot_base_a <= next_base_a;
            if (out_hs) begin
                if (wj == FW - 1) begin
                    wj <= 0;
                    if (wi == FH - 1) begin
                        wi <= 0;
                        rd_slot_a <= advance ? next_base_a : slot_base_a;
                        if (ow == OW - 1) begin
                            ow <= 0;
                            base_c <= -PL;
                        end else begin
                            ow <= ow + 1;
                            base_c <= base_c + SW;
                        end
                    end else begin
                        wi <= wi + 1;
                        rd_slot_a <= (rd_slot_a == DEPTH - W) ? 0 : rd_slot_a + W;
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
