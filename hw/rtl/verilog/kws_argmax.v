// Output stage: index of the first maximum of an N-element frame (IN_BEAT elements per beat),
// the class decision (np.argmax order: the lowest index wins ties). One beat out per frame.
module kws_argmax #(
    parameter N = 12,
    parameter IN_BEAT = 12,
    parameter IN_W = 16,
    parameter IN_SIGNED = 1,
    parameter IDX_W = 4
) (
    input  wire                    clk,
    input  wire                    rst_n,
    input  wire [IN_BEAT*IN_W-1:0] s_axis_tdata,
    input  wire                    s_axis_tvalid,
    output wire                    s_axis_tready,
    output wire [IDX_W-1:0]        m_axis_tdata,
    output wire                    m_axis_tvalid,
    input  wire                    m_axis_tready
);
    localparam integer NB = N / IN_BEAT;
    integer beat;
    reg ovalid;
    reg [IDX_W-1:0] best_i, obuf;
    reg signed [IN_W:0] best_v;
    assign s_axis_tready = ~ovalid | m_axis_tready;
    assign m_axis_tvalid = ovalid;
    assign m_axis_tdata = obuf;
    wire in_hs = s_axis_tvalid & s_axis_tready;

    // Scan this beat's elements after the running best (strict > keeps the first maximum).
    wire signed [IN_W:0] cv [0:IN_BEAT];
    wire [IDX_W-1:0] ci [0:IN_BEAT];
    assign cv[0] = best_v;
    assign ci[0] = best_i;
    genvar e;
    generate
        for (e = 0; e < IN_BEAT; e = e + 1) begin : g_e
            wire [IN_W-1:0] x = s_axis_tdata[e*IN_W +: IN_W];
            wire signed [IN_W:0] xv = {(IN_SIGNED != 0) & x[IN_W-1], x};
            /* verilator lint_off WIDTHTRUNC */
            wire [IDX_W-1:0] idx = beat * IN_BEAT + e;
            /* verilator lint_on WIDTHTRUNC */
            wire take = (beat == 0 && e == 0) || (xv > cv[e]);
            assign cv[e+1] = take ? xv : cv[e];
            assign ci[e+1] = take ? idx : ci[e];
        end
    endgenerate

    always @(posedge clk) begin
        if (!rst_n) begin
            beat <= 0;
            ovalid <= 1'b0;
        end else begin
            if (ovalid && m_axis_tready) ovalid <= 1'b0;
            if (in_hs) begin
                best_v <= cv[IN_BEAT];
                best_i <= ci[IN_BEAT];
                if (beat == NB - 1) begin
                    beat <= 0;
                    obuf <= ci[IN_BEAT];
                    ovalid <= 1'b1;
                end else begin
                    beat <= beat + 1;
                end
            end
        end
    end
endmodule
