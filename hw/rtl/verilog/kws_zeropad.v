// Zero padding on a pixel stream (hls4ml's ZeroPadding1D/2D in io_stream): walks the padded
// map in raster order, forwards input pixels in the interior and emits zero pixels elsewhere.
// Combinational on data and handshake (no register on the path), counters only.
module kws_zeropad #(
    parameter H = 4,
    parameter W = 4,
    parameter CW = 8,
    parameter PT = 1,
    parameter PB = 1,
    parameter PL = 1,
    parameter PR = 1
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
    localparam integer OH = H + PT + PB;
    localparam integer OW = W + PL + PR;
    integer r, c;
    wire interior = (r >= PT) && (r < PT + H) && (c >= PL) && (c < PL + W);
    assign m_axis_tvalid = interior ? s_axis_tvalid : 1'b1;
    assign m_axis_tdata = interior ? s_axis_tdata : {CW{1'b0}};
    assign s_axis_tready = interior & m_axis_tready;
    always @(posedge clk) begin
        if (!rst_n) begin
            r <= 0;
            c <= 0;
        end else if (m_axis_tvalid && m_axis_tready) begin
            if (c == OW - 1) begin
                c <= 0;
                r <= (r == OH - 1) ? 0 : r + 1;
            end else begin
                c <= c + 1;
            end
        end
    end
endmodule
