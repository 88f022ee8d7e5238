// Time-multiplexed fully connected layer (also the core of every convolution: im2col + dense).
//
// y[o] = requant_out( cast_acc(bias[o]) + sum_i cast_acc(x[i] * w[i][o]) )  (accumulator wraps)
//
// DW = 1 (depthwise): the frame is K taps x N_OUT channels and output o only sums its own
// channel, y[o] = ... sum_k x[k*N_OUT + o] * w[k][o]; IB then counts taps per cycle.
//
// Schedule: IB inputs x OB outputs per cycle = IB*OB multipliers; RF = (N_IN/IB)*(N_OUT/OB) cycles
// per frame, as hls4ml's ReuseFactor. Three decoupled stages so a new frame can stream in while
// the previous one is computed and the one before is streamed out:
//   collect + compute copy (kws_frame_store) -> compute (acc, yreg) -> emit (obuf, OUT_BEAT per beat)
// The frame store keeps both copies in registers (XMEM = 0) or in one ping-pong memory that
// Yosys maps to block RAM (XMEM = 1, chosen by the generator at high reuse factors).
// OBUF = 0 (chosen by the generator where the stage has cycles to spare): no obuf, beats leave
// from yreg, and compute holds before its first write of yreg until the previous frame left -
// N_OUT x OUT_W flip-flops fewer, the same cycles while emission ends within a frame's first
// output group (hw/rtl/emitters/dense_emitter.py, single_output_buffer).
// No register is indexed by a counter: the frame store rotates its compute copy or reads its
// memory at a counted address, results shift into yreg. A variable part-select would become a
// barrel shifter over the whole frame per multiplier input in synthesis (9 GB and an hour of
// Yosys for one raw-CNN layer); a rotation is wiring.
// Weights come from a ROM outside this module with a registered read: rom_addr is the address
// `addr` takes at the next edge, so rom_data always holds the word at `addr`. Biases are
// constants already converted to the accumulator format by the generator.
//
// SH_W > 0 (per-channel power-of-two weight scales, hw/rtl/channel_shift.py): the ROM holds
// w'[i][o] = w[i][o] >> k[o], the sum starts at 0 and is shifted once per output before the bias:
// y[o] = requant_out( (sum_i cast_acc(x[i] * w'[i][o])) << k[o] + cast_acc(bias[o]) ), equal to
// the above modulo 2**ACC_W. k[o] = SHIFTS[o*SH_W +: SH_W] (a constant, like the biases).
module kws_dense #(
    parameter DW = 0,
    parameter XMEM = 0,
    parameter OBUF = 1,
    parameter N_IN = 4,
    parameter N_OUT = 2,
    parameter IN_BEAT = 4,
    parameter OUT_BEAT = 2,
    parameter IN_W = 8,
    parameter IN_SIGNED = 1,
    parameter W_W = 8,
    parameter W_SIGN = 0,  // 1: the ROM holds sign bits of a +-1 kernel, W_W = 1 (kws_mac_chain)
    parameter ACC_W = 24,
    parameter IB = 4,
    parameter OB = 2,
    parameter AW = 1,
    parameter PROD_SHIFT = 0,
    parameter ACC_RND = 0,
    parameter ACC_OVF = 0,
    parameter OUT_W = 8,
    parameter OUT_SIGNED = 1,
    parameter OUT_SHIFT = 0,
    parameter OUT_RND = 0,
    parameter OUT_OVF = 0,
    // RES_W > 0: a relu / linear activation fused into the layer (hw/rtl/fuse_activation.py). The
    // sum converts to the layer's result type (RES_*), RELU zeroes negatives, and OUT_* converts
    // that to the activation's type (OUT_SHIFT = result fraction bits - OUT's): kws_requant_act.
    parameter RES_W = 0,
    parameter RES_SIGNED = 1,
    parameter RES_SHIFT = 0,
    parameter RES_RND = 0,
    parameter RES_OVF = 0,
    parameter RELU = 0,
    parameter SH_W = 0,
    parameter SHIFTS = 0
) (
    input  wire                      clk,
    input  wire                      rst_n,
    input  wire [IN_BEAT*IN_W-1:0]   s_axis_tdata,
    input  wire                      s_axis_tvalid,
    output wire                      s_axis_tready,
    output wire [OUT_BEAT*OUT_W-1:0] m_axis_tdata,
    output wire                      m_axis_tvalid,
    input  wire                      m_axis_tready,
    output wire [AW-1:0]             rom_addr,
    input  wire [OB*IB*W_W-1:0]      rom_data,
    input  wire [N_OUT*ACC_W-1:0]    bias
);
    localparam integer N_IC = (DW != 0) ? (N_IN / N_OUT) / IB : N_IN / IB;  // input chunks per output group
    localparam integer N_OG = N_OUT / OB;         // output groups
    localparam integer N_OUTB = N_OUT / OUT_BEAT; // output beats per frame
    // Counters only as wide as their range: a register index into a wide vector becomes a
    // shifter over every bit of that index, so 32-bit counters made synthesis blow up.
    localparam ICW = (N_IC > 1) ? $clog2(N_IC) : 1;
    localparam OGW = (N_OG > 1) ? $clog2(N_OG) : 1;
    localparam OBW = (N_OUTB > 1) ? $clog2(N_OUTB) : 1;
    localparam [31:0] IC_LAST32 = N_IC - 1, OG_LAST32 = N_OG - 1, OUTB_LAST32 = N_OUTB - 1;
    localparam [ICW-1:0] IC_LAST = IC_LAST32[ICW-1:0];
    localparam [OGW-1:0] OG_LAST = OG_LAST32[OGW-1:0];
    localparam [OBW-1:0] OUTB_LAST = OUTB_LAST32[OBW-1:0];

    // ---------------- compute ----------------
    reg busy, ydone, ovalid;
    reg [OBW-1:0] out_cnt;
    wire emit_last = ovalid & m_axis_tready & (out_cnt == OUTB_LAST);
    // OBUF = 0: yreg is the output buffer; a write of it waits until its frame has left
    wire hold = (OBUF == 0) & ovalid & ~emit_last & (ic == IC_LAST);
    wire run = busy & ~hold;  // compute advances this cycle
    reg [ICW-1:0] ic;
    reg [OGW-1:0] og;
    wire [OGW-1:0] og_next = og + 1'b1;  // used only while og < OG_LAST
    reg [AW-1:0] addr;
    reg [OB*ACC_W-1:0] acc;
    reg [N_OUT*OUT_W-1:0] yreg;
    // the input frame, collect and compute copies: registers or one ping-pong block RAM (XMEM)
    wire xfull, start;
    wire [OB*IB*IN_W-1:0] xlanes;  // per output o: the IB inputs it multiplies this cycle
    kws_frame_store #(.MEM(XMEM), .DW(DW), .N_IN(N_IN), .N_OUT(N_OUT), .IN_BEAT(IN_BEAT), .IN_W(IN_W), .IB(IB), .OB(OB))
        u_x (.clk(clk), .rst_n(rst_n), .s_axis_tdata(s_axis_tdata), .s_axis_tvalid(s_axis_tvalid),
             .s_axis_tready(s_axis_tready), .full(xfull), .start(start), .busy(run), .ic_last(ic == IC_LAST),
             .og_last(og == OG_LAST), .x(xlanes));
    // A new frame may start in the cycle the emit stage takes yreg (ydone & ~ovalid): yreg is
    // rewritten at the earliest one cycle later, so nothing is lost and no cycle is spent idle.
    // OBUF = 0: at once, compute holds at its first write of yreg instead (hold).
    assign start = xfull & ~busy & ((OBUF == 0) | ~ydone | ~ovalid);
    assign rom_addr = start ? {AW{1'b0}} : (run ? addr + 1'b1 : addr);  // next value of addr

    wire [OB*ACC_W-1:0] sums;
    wire [OB*OUT_W-1:0] yres;
    wire [N_OUT*OUT_W-1:0] y_in;  // output groups shift in from the top: group 0 ends at the bottom
    generate
        if (N_OG > 1) begin : g_shift_out
            assign y_in = {yres, yreg[N_OUT*OUT_W-1:OB*OUT_W]};
        end else begin : g_one_group
            assign y_in = yres;
        end
    endgenerate
    genvar o;
    generate
        for (o = 0; o < OB; o = o + 1) begin : g_out
            wire [IB*IN_W-1:0] xo = xlanes[o*IB*IN_W +: IB*IN_W];  // the IB inputs output o multiplies this cycle
            kws_mac_chain #(.N(IB), .IN_W(IN_W), .IN_SIGNED(IN_SIGNED), .W_W(W_W), .W_SIGN(W_SIGN), .ACC_W(ACC_W),
                            .PROD_SHIFT(PROD_SHIFT), .ACC_RND(ACC_RND), .ACC_OVF(ACC_OVF))
                u_mac (.acc_in(acc[o*ACC_W +: ACC_W]), .x(xo), .w(rom_data[o*IB*W_W +: IB*W_W]),
                       .sum(sums[o*ACC_W +: ACC_W]));
            wire [((SH_W > 0) ? SH_W : 1)-1:0] k;  // this output group's shift (SH_W > 0)
            if (SH_W > 0) begin : g_shift
                localparam [N_OUT*SH_W-1:0] K_ALL = SHIFTS;
                assign k = K_ALL[(og*OB + o)*SH_W +: SH_W];
            end else begin : g_plain
                assign k = 1'b0;
            end
            kws_dense_out #(.ACC_W(ACC_W), .SH_W(SH_W), .RES_W(RES_W), .RES_SIGNED(RES_SIGNED), .RES_SHIFT(RES_SHIFT),
                            .RES_RND(RES_RND), .RES_OVF(RES_OVF), .RELU(RELU), .OUT_W(OUT_W), .OUT_SIGNED(OUT_SIGNED),
                            .OUT_SHIFT(OUT_SHIFT), .OUT_RND(OUT_RND), .OUT_OVF(OUT_OVF))
                u_out (.sum(sums[o*ACC_W +: ACC_W]), .k(k), .bias(bias[(og*OB + o)*ACC_W +: ACC_W]),
                       .dout(yres[o*OUT_W +: OUT_W]));
        end
    endgenerate

    always @(posedge clk) begin
        if (!rst_n) begin
            busy <= 1'b0;
            ydone <= 1'b0;
            ic <= {ICW{1'b0}};
            og <= {OGW{1'b0}};
            addr <= {AW{1'b0}};
        end else begin
            if (start) begin
                busy <= 1'b1;
                ic <= {ICW{1'b0}};
                og <= {OGW{1'b0}};
                addr <= {AW{1'b0}};
                acc <= (SH_W > 0) ? {OB*ACC_W{1'b0}} : bias[0 +: OB*ACC_W];
            end else if (run) begin
                addr <= addr + 1'b1;
                if (ic == IC_LAST) begin
                    yreg <= y_in;
                    ic <= {ICW{1'b0}};
                    if (og == OG_LAST) begin
                        busy <= 1'b0;
                        ydone <= (OBUF != 0);
                    end else begin
                        og <= og_next;
                        acc <= (SH_W > 0) ? {OB*ACC_W{1'b0}} : bias[og_next*OB*ACC_W +: OB*ACC_W];
                    end
                end else begin
                    ic <= ic + 1'b1;
                    acc <= sums;
                end
            end
            if (ydone && !ovalid) ydone <= 1'b0;  // emit stage takes yreg this cycle
        end
    end

    // ---------------- emit ----------------
    // OBUF = 1: obuf takes yreg when the frame is done and the previous one has left;
    // OBUF = 0: yreg's beats leave once compute wrote the frame's last output group.
    wire [N_OUT*OUT_W-1:0] out_frame;
    assign m_axis_tvalid = ovalid;
    assign m_axis_tdata = out_frame[out_cnt*OUT_BEAT*OUT_W +: OUT_BEAT*OUT_W];
    always @(posedge clk) begin
        if (!rst_n) begin
            out_cnt <= {OBW{1'b0}};
        end else if (ovalid && m_axis_tready) begin
            out_cnt <= (out_cnt == OUTB_LAST) ? {OBW{1'b0}} : out_cnt + 1'b1;
        end
    end
    generate
        if (OBUF != 0) begin : g_obuf
            reg [N_OUT*OUT_W-1:0] obuf;
            assign out_frame = obuf;
            always @(posedge clk) begin
                if (!rst_n) ovalid <= 1'b0;
                else if (ovalid) begin
                    if (emit_last) ovalid <= 1'b0;
                end else if (ydone) begin
                    obuf <= yreg;
                    ovalid <= 1'b1;
                end
            end
        end else begin : g_single
            wire frame_done = run & (ic == IC_LAST) & (og == OG_LAST);
            assign out_frame = yreg;
            always @(posedge clk) begin
                if (!rst_n) ovalid <= 1'b0;
                else if (frame_done) ovalid <= 1'b1;
                else if (emit_last) ovalid <= 1'b0;
            end
        end
    endgenerate
endmodule
