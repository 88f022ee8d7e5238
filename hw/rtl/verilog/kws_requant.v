// Fixed-point format conversion with ap_fixed semantics (mirrors hw/fixed.py FixedType.requantize).
// Combinational. SHIFT = input fraction bits - output fraction bits (> 0 drops LSBs with RND mode,
// < 0 appends zero LSBs). Codes match hw/rtl/requant.py: RND 0 TRN, 1 TRN_ZERO, 2 RND, 3 RND_ZERO,
// 4 RND_INF, 5 RND_MIN_INF, 6 RND_CONV; OVF 0 WRAP, 1 SAT, 2 SAT_ZERO, 3 SAT_SYM.
module kws_requant #(
    parameter IN_W = 16,
    parameter IN_SIGNED = 1,
    parameter SHIFT = 0,
    parameter OUT_W = 8,
    parameter OUT_SIGNED = 1,
    parameter RND = 0,
    parameter OVF = 0
) (
    input  wire [IN_W-1:0]  din,
    output wire [OUT_W-1:0] dout
);
    // Only the low OUT_W bits of the working values are used: the rest feed range checks.
    /* verilator lint_off UNUSEDSIGNAL */
    localparam DROP = (SHIFT > 0) ? SHIFT : 0;
    localparam LSH = (SHIFT < 0) ? -SHIFT : 0;
    localparam BASE = ((IN_W > DROP) ? IN_W : DROP) + LSH + 3;  // headroom for sign, +1 and shifts
    localparam EW = (BASE > OUT_W + 2) ? BASE : OUT_W + 2;
    localparam [EW-1:0] ONE = {{(EW-1){1'b0}}, 1'b1};

    // Sign- or zero-extend the input to the working width. The same wires as a replicated sign bit,
    // but Verilator compiles $signed into one sign extension where the replication costs a shift,
    // mask and OR per use: every product of every MAC goes through here (the compiled harness
    // simulates the RF-64 DS-CNN ~1.3x faster).
    wire in_neg = (IN_SIGNED != 0) ? din[IN_W-1] : 1'b0;
    wire signed [EW-1:0] x;
    generate
        if (IN_SIGNED != 0) begin : g_sext
            /* verilator lint_off WIDTHEXPAND */
            assign x = $signed(din);  // widening a signed value: the sign extension meant here
            /* verilator lint_on WIDTHEXPAND */
        end else begin : g_zext
            assign x = {{(EW-IN_W){1'b0}}, din};
        end
    endgenerate

    wire signed [EW-1:0] floor_v = x >>> DROP;  // arithmetic shift = floor(x / 2**DROP)
    wire up;
    generate
        if (DROP == 0) begin : g_exact
            assign up = 1'b0;
        end else begin : g_round
            wire [DROP:0] rem = {1'b0, x[DROP-1:0]};
            wire [DROP:0] half = {{DROP{1'b0}}, 1'b1} << (DROP - 1);
            wire above = rem > half;
            wire tie = rem == half;
            wire inexact = rem != 0;
            wire neg = in_neg;
            wire odd = floor_v[0];
            assign up = (RND == 0) ? 1'b0 :
                        (RND == 1) ? (neg & inexact) :
                        (RND == 2) ? (above | tie) :
                        (RND == 3) ? (above | (tie & neg)) :
                        (RND == 4) ? (above | (tie & ~neg)) :
                        (RND == 5) ? above :
                                     (above | (tie & odd));
        end
    endgenerate

    wire signed [EW-1:0] rounded = (floor_v + (up ? ONE : {EW{1'b0}})) <<< LSH;

    // Output range as EW-bit signed constants.
    wire signed [EW-1:0] max_v = (ONE <<< (OUT_W - OUT_SIGNED)) - ONE;
    wire signed [EW-1:0] min_full = (OUT_SIGNED != 0) ? -(ONE <<< (OUT_W - 1)) : {EW{1'b0}};
    wire signed [EW-1:0] min_v = (OVF == 3 && OUT_SIGNED != 0) ? min_full + ONE : min_full;
    wire too_big = rounded > max_v;
    wire too_small = rounded < min_v;
    wire [EW-1:0] clamped = too_big ? max_v : (too_small ? min_v : rounded);

    assign dout = (OVF == 0) ? rounded[OUT_W-1:0] :
                  (OVF == 2) ? ((too_big | too_small) ? {OUT_W{1'b0}} : rounded[OUT_W-1:0]) :
                               clamped[OUT_W-1:0];
    /* verilator lint_on UNUSEDSIGNAL */
endmodule
