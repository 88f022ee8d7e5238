// Broadcast one stream to N readers (the fork in front of a residual block). The data wires are
// shared (the stitcher connects every reader to the same tdata); this module only does the
// handshake. A beat leaves the input only when every reader has taken it; a reader that took it
// early is marked done and sees valid low until the beat is gone. No reader's valid depends on
// any ready, so a slow branch only holds the beat: no reader sees a beat twice or misses one.
module kws_fork #(
    parameter N = 2
) (
    input  wire         clk,
    input  wire         rst_n,
    input  wire         s_axis_tvalid,
    output wire         s_axis_tready,
    output wire [N-1:0] m_axis_tvalid,
    input  wire [N-1:0] m_axis_tready
);
    reg [N-1:0] done;
    assign m_axis_tvalid = {N{s_axis_tvalid}} & ~done;
    assign s_axis_tready = &(done | m_axis_tready);
    always @(posedge clk) begin
        if (!rst_n) done <= {N{1'b0}};
        else if (s_axis_tvalid && s_axis_tready) done <= {N{1'b0}};
        else done <= done | (m_axis_tvalid & m_axis_tready);
    end
endmodule
