// The input frame of kws_dense: the collect copy (the next frame streams in) and the compute copy
// (the frame being multiplied), so that a frame streams in while the previous one is computed.
// `x` gives each output lane o the IB inputs it multiplies this cycle; kws_dense's counters say
// where compute is: `start` (it takes the waiting frame; chunk (ic, og) = (0, 0) next cycle),
// `busy` (one chunk per cycle), `ic_last` (last input chunk of an output group: the next cycle
// starts output group og + 1), `og_last` (the last output group: the frame's last cycle).
//
// MEM = 0, registers: xbuf (beats shift in) and xreg (the compute copy). No register is indexed
// by a counter: xreg rotates so the chunk in use always sits at the bottom (a variable
// part-select would be a barrel shifter over the whole frame per multiplier input; a rotation is
// wiring). Two frame copies in flip-flops plus about a LUT per bit for the rotation.
//
// MEM = 1, one memory of two frames (ping-pong, bank b at words [b*NW, b*NW + NW)): a frame is
// written into one bank while the other is read. A word is what the multipliers read in a cycle:
// FC, IB consecutive inputs; depthwise (only with IB = 1), OB channels of one tap. Both addresses
// come from counters, the read is registered (Yosys maps it to block RAM on iCE40 and ECP5):
// the read address is the one of the next cycle's chunk, as with the weight ROM, so a frame
// costs no extra cycle. An input beat (IN_BEAT elements) is written one word per cycle through
// kws_unpack, which accepts the beat with its last word: the producer holds the beat meanwhile
// (the AXI-Stream rule; kws_unpack checks it in simulation), so no beat register is needed. The
// generator picks this form only where the NW-cycle write of a frame fits in the compute of the
// previous one (hw/rtl/frame_store.py).
module kws_frame_store #(
    parameter MEM = 0,
    parameter DW = 0,
    parameter N_IN = 4,
    parameter N_OUT = 2,
    parameter IN_BEAT = 4,
    parameter IN_W = 8,
    parameter IB = 4,
    parameter OB = 2
) (
    input  wire                    clk,
    input  wire                    rst_n,
    input  wire [IN_BEAT*IN_W-1:0] s_axis_tdata,
    input  wire                    s_axis_tvalid,
    output wire                    s_axis_tready,
    output wire                    full,  // a whole frame waits for `start` (read only while compute is idle)
    input  wire                    start,
    input  wire                    busy,
    input  wire                    ic_last,
    /* verilator lint_off UNUSEDSIGNAL */
    input  wire                    og_last,  // (the register form rotates without it)
    /* verilator lint_on UNUSEDSIGNAL */
    output wire [OB*IB*IN_W-1:0]   x
);
    localparam integer XW = N_IN * IN_W;          // frame bits
    localparam integer N_IC = (DW != 0) ? (N_IN / N_OUT) / IB : N_IN / IB;  // input chunks per output group
    localparam integer N_OG = N_OUT / OB;         // output groups
    genvar o, j;
    generate
        if (MEM == 0) begin : g_regs
            localparam integer BW = IN_BEAT * IN_W;     // beat bits
            localparam integer N_INB = N_IN / IN_BEAT;  // input beats per frame
            localparam IBW = (N_INB > 1) ? $clog2(N_INB) : 1;
            localparam [31:0] INB_LAST32 = N_INB - 1;
            localparam [IBW-1:0] INB_LAST = INB_LAST32[IBW-1:0];
            // ---------------- collect ----------------
            reg [XW-1:0] xbuf;
            reg [IBW-1:0] in_cnt;
            reg xfull;
            assign s_axis_tready = ~xfull;
            assign full = xfull;
            wire [XW-1:0] xbuf_in;  // beats shift in from the top: after the last one, beat 0 is at the bottom
            if (N_INB > 1) begin : g_shift_in
                assign xbuf_in = {s_axis_tdata, xbuf[XW-1:BW]};
            end else begin : g_one_beat
                assign xbuf_in = s_axis_tdata;
            end
            always @(posedge clk) begin
                if (!rst_n) begin
                    in_cnt <= {IBW{1'b0}};
                    xfull <= 1'b0;
                end else if (start) begin
                    xfull <= 1'b0;
                end else if (s_axis_tvalid && !xfull) begin
                    xbuf <= xbuf_in;
                    if (in_cnt == INB_LAST) begin
                        in_cnt <= {IBW{1'b0}};
                        xfull <= 1'b1;
                    end else begin
                        in_cnt <= in_cnt + 1'b1;
                    end
                end
            end
            // ---------------- compute copy ----------------
            // xreg holds the chunk (ic, og) at the bottom. FC: inputs ic*IB.. are the lowest IB elements.
            // DW: the frame is TAPS rows of N_OUT channels; taps ic*IB.. are the lowest IB rows, and in
            // every row channels og*OB.. the lowest OB. Each cycle the rows (FC: elements) rotate by one
            // chunk - N_IC steps make a full turn - and when ic wraps the channels rotate by OB as well.
            localparam integer ROW = (DW != 0) ? N_OUT * IN_W : IN_W;  // bits per tap row (FC: per input)
            localparam integer STEP = IB * ROW;
            localparam integer TAPS = (DW != 0) ? N_IN / N_OUT : 1;
            reg [XW-1:0] xreg;
            wire [XW-1:0] x_step, x_wrap;
            if (N_IC > 1) begin : g_rot_chunk
                assign x_step = {xreg[STEP-1:0], xreg[XW-1:STEP]};
            end else begin : g_one_chunk
                assign x_step = xreg;
            end
            if (DW != 0 && N_OG > 1) begin : g_rot_chan
                for (j = 0; j < TAPS; j = j + 1) begin : g_row
                    wire [ROW-1:0] r = x_step[j*ROW +: ROW];
                    assign x_wrap[j*ROW +: ROW] = {r[OB*IN_W-1:0], r[ROW-1:OB*IN_W]};
                end
            end else begin : g_same_chan
                assign x_wrap = x_step;
            end
            always @(posedge clk) begin
                if (start) xreg <= xbuf;
                else if (busy) xreg <= ic_last ? x_wrap : x_step;
`ifdef VERILATOR
                // A no-op (xreg holds anyway) for Verilator only: written on every path, xreg is
                // rotated in place, not through a shadow copy of the frame taken and written back
                // every cycle (the compiled harness runs the RF-64 DS-CNN ~1.3x faster). Not for
                // synthesis, where the explicit hold mapped to 6 more LUTs (synth_ice40, a DS-CNN
                // depthwise layer).
                else xreg <= xreg;
`endif
            end
            for (o = 0; o < OB; o = o + 1) begin : g_lane
                if (DW != 0) begin : g_dw
                    for (j = 0; j < IB; j = j + 1) begin : g_in
                        assign x[(o*IB + j)*IN_W +: IN_W] = xreg[(j*N_OUT + o)*IN_W +: IN_W];
                    end
                end else begin : g_fc
                    assign x[o*IB*IN_W +: IB*IN_W] = xreg[IB*IN_W-1:0];
                end
            end
        end else begin : g_mem
            localparam integer WE = (DW != 0) ? OB : IB;  // elements per word (DW: IB = 1)
            localparam integer WW = WE * IN_W;
            localparam integer NW = N_IN / WE;            // words per frame
            localparam MA = $clog2(2 * NW);
            localparam [31:0] NW32 = NW, LAST32 = 2 * NW - 1, A_STEP32 = (DW != 0) ? N_OG : 1;
            localparam [MA-1:0] BANK1 = NW32[MA-1:0];     // first word of bank 1
            localparam [MA-1:0] BANK0_LAST = BANK1 - 1'b1, BANK1_LAST = LAST32[MA-1:0];
            // next chunk: the next IB inputs (FC) / the same channels of the next tap (DW, words tap-major)
            localparam [MA-1:0] A_STEP = A_STEP32[MA-1:0];
            // next output group: the frame's first word again (FC) / the next OB channels of tap 0 (DW)
            localparam [MA-1:0] G_STEP = (DW != 0) ? {{(MA-1){1'b0}}, 1'b1} : {MA{1'b0}};
            (* ram_style = "block" *)
            reg [WW-1:0] mem [0:2*NW-1];
            // ---------------- write: one word per cycle ----------------
            wire [WW-1:0] wdata;
            wire wvalid;
            reg [MA-1:0] wa;
            reg wbank, full0, full1;
            wire wfree = wbank ? ~full1 : ~full0;
            wire wr = wvalid & wfree;
            kws_unpack #(.N(IN_BEAT), .BEAT(WE), .EW(IN_W)) u_words (
                .clk(clk), .rst_n(rst_n),
                .s_axis_tdata(s_axis_tdata), .s_axis_tvalid(s_axis_tvalid), .s_axis_tready(s_axis_tready),
                .m_axis_tdata(wdata), .m_axis_tvalid(wvalid), .m_axis_tready(wfree));
            always @(posedge clk) begin
                if (wr) mem[wa] <= wdata;
            end
            // ---------------- read: registered, the address of the next cycle's chunk ----------------
            reg rbank;
            reg [MA-1:0] ra, grp;  // word of the current chunk; first word of the current output group
            reg [WW-1:0] xq;
            wire [MA-1:0] base = rbank ? BANK1 : {MA{1'b0}};
            wire [MA-1:0] ra_next = start ? base : (busy ? (ic_last ? grp + G_STEP : ra + A_STEP) : ra);
            wire release_bank = busy & ic_last & og_last;  // the frame's last word is read
            assign full = rbank ? full1 : full0;
            always @(posedge clk) begin
                xq <= mem[ra_next];
                ra <= ra_next;
                if (start) grp <= base;
                else if (busy && ic_last) grp <= grp + G_STEP;
            end
            // A bank is set full by the writer (only while it is empty) and emptied by the reader
            // (only while it is full), so the two never touch the same flag in one cycle.
            always @(posedge clk) begin
                if (!rst_n) begin
                    wa <= {MA{1'b0}};
                    wbank <= 1'b0;
                    rbank <= 1'b0;
                    full0 <= 1'b0;
                    full1 <= 1'b0;
                end else begin
                    if (wr) begin
                        wa <= (wa == BANK1_LAST) ? {MA{1'b0}} : wa + 1'b1;
                        if (wa == BANK0_LAST) begin
                            full0 <= 1'b1;
                            wbank <= 1'b1;
                        end
                        if (wa == BANK1_LAST) begin
                            full1 <= 1'b1;
                            wbank <= 1'b0;
                        end
                    end
                    if (release_bank) begin
                        if (rbank) full1 <= 1'b0;
                        else full0 <= 1'b0;
                        rbank <= ~rbank;
                    end
                end
            end
            for (o = 0; o < OB * IB / WE; o = o + 1) begin : g_lane  // FC: every lane reads the word
                assign x[o*WW +: WW] = xq;
            end
        end
    endgenerate
endmodule
