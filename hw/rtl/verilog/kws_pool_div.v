// Sum -> average in the result type: truncating division by the window size as an exact
// multiply-shift, q = sign(s) * ((|s| * MAGIC) >> MSHIFT), then the conversion to the result type.
module kws_pool_div #(
    parameter ACC_W = 16,
    parameter ACC_SIGNED = 1,
    parameter MW = 17,
    parameter [MW-1:0] MAGIC = 1,
    parameter MSHIFT = 0,
    parameter OUT_W = 8,
    parameter OUT_SIGNED = 1,
    parameter OUT_SHIFT = 0,
    parameter OUT_RND = 0,
    parameter OUT_OVF = 0
) (
    input  wire [ACC_W-1:0] s,
    output wire [OUT_W-1:0] q
);
    wire neg = (ACC_SIGNED != 0) & s[ACC_W-1];
    wire [ACC_W-1:0] mag = neg ? (~s + 1'b1) : s;  // |s| (the most negative code stays 2**(ACC_W-1))
    // public_flat_rd (no logic, Yosys ignores it): Verilator computes the product once per cycle
    // into this variable; otherwise it pushes each bit-select of qm into the wide (> 64-bit)
    // multiply and computes it once per select (4 times in the demo DS-CNN's pool).
    /* verilator lint_off UNUSEDSIGNAL */
    wire [ACC_W+MW-1:0] prod /* verilator public_flat_rd */ = {{MW{1'b0}}, mag} * {{ACC_W{1'b0}}, MAGIC};
    /* verilator lint_on UNUSEDSIGNAL */
    wire [ACC_W-1:0] qm = prod[MSHIFT +: ACC_W];
    wire [ACC_W-1:0] qs = neg ? (~qm + 1'b1) : qm;
    kws_requant #(.IN_W(ACC_W), .IN_SIGNED(ACC_SIGNED), .SHIFT(OUT_SHIFT), .OUT_W(OUT_W), .OUT_SIGNED(OUT_SIGNED),
                  .RND(OUT_RND), .OVF(OUT_OVF)) u_out (.din(qs), .dout(q));
endmodule
