// One wide beat of N elements in, N/BEAT beats of BEAT elements out, element 0 first (the order
// our streams pack elements: element i at bits [i*EW +: EW]). The streaming IP takes one feature
// frame per beat; its first layer may want one pixel per beat; kws_frame_store writes a beat into
// its memory word by word.
//
// No beat register: the input beat is accepted with its last slice and read from s_axis_tdata
// until then. That relies on the AXI-Stream rule that a producer holds tdata (and tvalid) while
// tvalid is high and tready low; every producer in hw/rtl/verilog and both test drivers do, and
// in simulation a producer that breaks it stops the run here.
module kws_unpack #(
    parameter N = 10,      // elements per input beat
    parameter BEAT = 1,    // elements per output beat (divides N)
    parameter EW = 8       // bits per element
) (
    input  wire              clk,
    input  wire              rst_n,
    input  wire [N*EW-1:0]   s_axis_tdata,
    input  wire              s_axis_tvalid,
    output wire              s_axis_tready,
    output wire [BEAT*EW-1:0] m_axis_tdata,
    output wire              m_axis_tvalid,
    input  wire              m_axis_tready
);
    localparam integer PARTS = N / BEAT;
    localparam integer PW = (PARTS > 1) ? $clog2(PARTS) : 1;
    reg [PW-1:0] part;  // which slice of the input beat goes out now
    wire last = (part == PARTS[PW-1:0] - 1'b1) || (PARTS == 1);
    assign m_axis_tvalid = s_axis_tvalid;
    assign m_axis_tdata = s_axis_tdata[part * BEAT * EW +: BEAT * EW];
    assign s_axis_tready = m_axis_tready & last;  // the input beat leaves with its last slice
    always @(posedge clk) begin
        if (!rst_n) part <= {PW{1'b0}};
        else if (m_axis_tvalid && m_axis_tready) part <= last ? {PW{1'b0}} : part + 1'b1;
    end
`ifndef SYNTHESIS
    reg waiting;  // last cycle a beat was offered and not taken (out of reset)
    reg [N*EW-1:0] offered;
    always @(posedge clk) begin
        waiting <= rst_n & s_axis_tvalid & ~s_axis_tready;
        offered <= s_axis_tdata;
        if (rst_n && waiting && (!s_axis_tvalid || s_axis_tdata != offered))
            $fatal(1, "%m: the input beat changed or was withdrawn before it was taken (AXI-Stream: hold tdata and tvalid until tready)");
    end
`endif
endmodule
