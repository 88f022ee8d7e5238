// Drops the first N beats after a reset, then passes every beat on: a crop of the first time
// steps of a window becomes, in an endless stream, dropping them once (the streaming IP's
// right-aligned residual shortcuts). Combinational path, a counter only.
module kws_skip #(
    parameter N = 1,
    parameter CW = 8
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
    localparam integer NW = $clog2(N + 1);
    localparam [31:0] N32 = N;
    localparam [NW-1:0] LAST = N32[NW-1:0];
    reg [NW-1:0] dropped;
    wire skipping = (dropped != LAST);
    assign m_axis_tdata = s_axis_tdata;
    assign m_axis_tvalid = s_axis_tvalid & ~skipping;
    assign s_axis_tready = skipping | m_axis_tready;
    always @(posedge clk) begin
        if (!rst_n) dropped <= {NW{1'b0}};
        else if (skipping && s_axis_tvalid) dropped <= dropped + 1'b1;
    end
endmodule
