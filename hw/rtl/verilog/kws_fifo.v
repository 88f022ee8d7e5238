// Synchronous FIFO of DEPTH beats, first-word fall-through (m_axis_tdata is the oldest beat).
// Sits on the short branch of a residual block in front of the Add: the generator sizes it from
// the schedule (hw/rtl/schedule.py) so the short branch never stalls the fork while the long
// branch still needs input beats for the output the Add waits for.
module kws_fifo #(
    parameter W = 8,
    parameter DEPTH = 4
) (
    input  wire         clk,
    input  wire         rst_n,
    input  wire [W-1:0] s_axis_tdata,
    input  wire         s_axis_tvalid,
    output wire         s_axis_tready,
    output wire [W-1:0] m_axis_tdata,
    output wire         m_axis_tvalid,
    input  wire         m_axis_tready
);
    localparam AW = (DEPTH > 1) ? $clog2(DEPTH) : 1;
    localparam [31:0] LAST32 = DEPTH - 1;
    localparam [31:0] DEPTH32 = DEPTH;
    localparam [AW-1:0] LAST = LAST32[AW-1:0];
    localparam [AW:0] FULL = DEPTH32[AW:0];
    localparam [AW-1:0] ONE_A = {{(AW-1){1'b0}}, 1'b1};
    localparam [AW:0] ONE_C = {{AW{1'b0}}, 1'b1};

    reg [W-1:0] mem [0:DEPTH-1];
    reg [AW-1:0] rd, wr;
    reg [AW:0] count;
    assign s_axis_tready = (count != FULL);
    assign m_axis_tvalid = (count != {(AW+1){1'b0}});
    assign m_axis_tdata = mem[rd];
    wire push = s_axis_tvalid & s_axis_tready;
    wire pop = m_axis_tvalid & m_axis_tready;

    always @(posedge clk) begin
        if (push) mem[wr] <= s_axis_tdata;
    end
    always @(posedge clk) begin
        if (!rst_n) begin
            rd <= {AW{1'b0}}; wr <= {AW{1'b0}}; count <= {(AW+1){1'b0}};
        end else begin
            if (push) wr <= (wr == LAST) ? {AW{1'b0}} : wr + ONE_A;
            if (pop) rd <= (rd == LAST) ? {AW{1'b0}} : rd + ONE_A;
            if (push && !pop) count <= count + ONE_C;
            else if (pop && !push) count <= count - ONE_C;
        end
    end
endmodule
