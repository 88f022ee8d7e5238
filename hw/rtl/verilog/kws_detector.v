// Keyword detector behind the streaming network (bit-exact with hw/detector.py, which defines it).
// One input beat = one emission's C logit codes, element c at [c*W +: W]. Per emission it keeps
// the sums of the last N emissions (ring buffer + running sums, exact), finds the first maximum c*
// and its margin over the runner-up (a tournament tree, the left = lower index wins ties), and
// fires when N emissions were seen since reset, KW_MASK[c*] is set, margin >= THRESH and no fire
// happened in the REFRACTORY emissions before.
// One output beat per input beat, OUT_W = C*W + 1 + IDX_W bits:
//   [C*W-1:0]          the logits, unchanged
//   [C*W]              fire
//   [C*W+1 +: IDX_W]   id: c* when fire, else 0
// One beat per cycle, one cycle latency. rst_n (synchronous) restarts everything: the sums, the
// ring, the refractory count and the N-1 emissions of warm-up.
module kws_detector #(
    parameter C = 12,
    parameter W = 16,
    parameter IN_SIGNED = 1,
    parameter N = 3,
    parameter THRESH = 0,
    parameter REFRACTORY = 0,
    parameter [C-1:0] KW_MASK = {C{1'b1}},
    parameter IDX_W = 4
) (
    input  wire                   clk,
    input  wire                   rst_n,
    input  wire [C*W-1:0]         s_axis_tdata,
    input  wire                   s_axis_tvalid,
    output wire                   s_axis_tready,
    output wire [C*W+IDX_W:0]     m_axis_tdata,
    output wire                   m_axis_tvalid,
    input  wire                   m_axis_tready
);
    // Sums of N codes need W + clog2(N) bits; one more keeps the tree's padding value (MINV)
    // strictly below every real sum, and the margin gets one bit above that.
    localparam integer SW = W + 2 + $clog2(N);
    localparam integer MW = SW + 1;
    localparam integer PW = (N > 1) ? $clog2(N) : 1;  // ring pointer
    localparam integer NC = $clog2(N + 1);  // emissions seen, saturating at N
    localparam integer RW = (REFRACTORY > 0) ? $clog2(REFRACTORY + 1) : 1;
    localparam integer P = 1 << $clog2(C);  // leaves of the tournament tree
    localparam signed [SW-1:0] MINV = {1'b1, {(SW-1){1'b0}}};
    /* verilator lint_off WIDTHTRUNC */
    localparam signed [MW-1:0] THRESH_V = THRESH;  // fits: the emitter clamps THRESH below 2**(MW-1)
    localparam [RW-1:0] REFR_LOAD = REFRACTORY;
    localparam [NC-1:0] N_V = N;
    localparam [NC-1:0] WARM_AT = N - 1;  // the first emission that may decide
    localparam [PW-1:0] LAST_SLOT = N - 1;
    /* verilator lint_on WIDTHTRUNC */

    reg [C*W-1:0] ring [0:N-1];
    reg [PW-1:0] ptr;
    reg [NC-1:0] seen;
    reg [RW-1:0] quiet;
    reg signed [SW-1:0] sum [0:C-1];
    reg [C*W+IDX_W:0] obuf;
    reg ovalid;

    assign s_axis_tready = ~ovalid | m_axis_tready;
    assign m_axis_tvalid = ovalid;
    assign m_axis_tdata = obuf;
    wire in_hs = s_axis_tvalid & s_axis_tready;
    wire full = (seen == N_V);  // the ring holds N emissions: the oldest leaves the sums now
    wire [C*W-1:0] oldest = ring[ptr];

    // New sums: add this emission, drop the one N back (nothing yet while the ring fills).
    wire signed [SW-1:0] s_new [0:C-1];
    // Tournament tree in heap order: node k merges 2k (lower classes) and 2k+1; leaves P..2P-1.
    wire signed [SW-1:0] t_best [1:2*P-1];
    wire signed [SW-1:0] t_second [1:2*P-1];
    wire [IDX_W-1:0] t_idx [1:2*P-1];
    genvar c, k;
    generate
        for (c = 0; c < C; c = c + 1) begin : g_class
            wire [W-1:0] x = s_axis_tdata[c*W +: W];
            wire [W-1:0] o = oldest[c*W +: W];
            wire signed [SW-1:0] xv = {{(SW-W){(IN_SIGNED != 0) & x[W-1]}}, x};
            wire signed [SW-1:0] ov = full ? {{(SW-W){(IN_SIGNED != 0) & o[W-1]}}, o} : {SW{1'b0}};
            assign s_new[c] = sum[c] + xv - ov;
        end
        for (k = 0; k < P; k = k + 1) begin : g_leaf
            if (k < C) begin : g_real
                localparam [IDX_W-1:0] K_IDX = k;
                assign t_best[P+k] = s_new[k];
                assign t_idx[P+k] = K_IDX;
            end else begin : g_pad  // never wins: below every real sum; right of every real class
                assign t_best[P+k] = MINV;
                assign t_idx[P+k] = {IDX_W{1'b0}};
            end
            assign t_second[P+k] = MINV;
        end
        for (k = 1; k < P; k = k + 1) begin : g_node
            wire right = t_best[2*k+1] > t_best[2*k];  // strict: a tie keeps the lower class
            wire signed [SW-1:0] lose = right ? t_best[2*k] : t_best[2*k+1];
            wire signed [SW-1:0] sec = right ? t_second[2*k+1] : t_second[2*k];
            assign t_best[k] = right ? t_best[2*k+1] : t_best[2*k];
            assign t_idx[k] = right ? t_idx[2*k+1] : t_idx[2*k];
            assign t_second[k] = (sec > lose) ? sec : lose;
        end
    endgenerate

    wire [IDX_W-1:0] best = t_idx[1];
    wire signed [MW-1:0] margin = {t_best[1][SW-1], t_best[1]} - {t_second[1][SW-1], t_second[1]};
    wire warm;  // this is emission N-1 or later
    wire [C-1:0] kw_hit;  // one-hot: KW_MASK at the best class
    generate
        if (N == 1) begin : g_no_warmup
            assign warm = 1'b1;
        end else begin : g_warmup
            assign warm = (seen >= WARM_AT);
        end
        for (c = 0; c < C; c = c + 1) begin : g_kw
            localparam [IDX_W-1:0] C_IDX = c;
            assign kw_hit[c] = KW_MASK[c] & (best == C_IDX);
        end
    endgenerate
    wire fire = warm & (|kw_hit) & (margin >= THRESH_V) & (quiet == {RW{1'b0}});

    integer i;
    always @(posedge clk) begin
        if (!rst_n) begin
            ptr <= {PW{1'b0}};
            seen <= {NC{1'b0}};
            quiet <= {RW{1'b0}};
            ovalid <= 1'b0;
            for (i = 0; i < C; i = i + 1) sum[i] <= {SW{1'b0}};
        end else begin
            if (ovalid && m_axis_tready) ovalid <= 1'b0;
            if (in_hs) begin
                for (i = 0; i < C; i = i + 1) sum[i] <= s_new[i];
                ring[ptr] <= s_axis_tdata;
                ptr <= (ptr == LAST_SLOT) ? {PW{1'b0}} : ptr + 1'b1;
                if (!full) seen <= seen + 1'b1;
                if (fire) quiet <= REFR_LOAD;
                else if (quiet != {RW{1'b0}}) quiet <= quiet - 1'b1;
                obuf <= {fire ? best : {IDX_W{1'b0}}, fire, s_axis_tdata};
                ovalid <= 1'b1;
            end
        end
    end
endmodule
