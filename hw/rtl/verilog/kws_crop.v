// Cropping on a pixel stream (Keras Cropping1D/2D): walks the input map in raster order, forwards
// the pixels of the kept window and takes the cropped ones (first/last rows, first/last columns of
// each row) without emitting them. Combinational on data and handshake (no register on the path),
// counters only; a cropped pixel is accepted whether or not the output is ready.
module kws_crop #(
    parameter H = 4,
    parameter W = 4,
    parameter CW = 8,
    parameter CT = 1,
    parameter CB = 1,
    parameter CL = 1,
    parameter CR = 1
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
    integer r, c;
    wire kept = (r >= CT) && (r < H - CB) && (c >= CL) && (c < W - CR);
    assign m_axis_tvalid = kept & s_axis_tvalid;
    assign m_axis_tdata = s_axis_tdata;
    assign s_axis_tready = kept ? m_axis_tready : 1'b1;
    always @(posedge clk) begin
        if (!rst_n) begin
            r <= 0;
            c <= 0;
        end else if (s_axis_tvalid && s_axis_tready) begin
            if (c == W - 1) begin
                c <= 0;
                r <= (r == H - 1) ? 0 : r + 1;
            end else begin
                c <= c + 1;
            end
        end
    end
endmodule
