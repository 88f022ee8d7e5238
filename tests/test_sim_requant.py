"""kws_requant.v equals qat.fixed requantize for every input code, rounding and overflow mode."""

import pytest

from qat.fixed import OVERFLOW_MODES, ROUNDING_MODES, FixedType
from hw.rtl.generate import LIBRARY_DIR
from hw.rtl.requant import requant_params
from sim.runner import run_cocotb

pytestmark = pytest.mark.sim

# (input width, signed, input frac, output width, output integer bits, output signed)
# Each case is one Verilator build (~30 s): two run by default, the rest under the slow marker.
CASES = [
    (8, True, 5, 6, 2, True),    # drop 3 bits, narrower
    pytest.param(8, True, 5, 4, 2, False, marks=pytest.mark.slow),  # signed -> unsigned (relu-style)
    pytest.param(8, False, 4, 5, 2, True, marks=pytest.mark.slow),  # unsigned -> signed
    pytest.param(8, True, 2, 8, 4, True, marks=pytest.mark.slow),   # gain 2 fraction bits (shift left)
    pytest.param(8, True, 9, 4, 0, True, marks=pytest.mark.slow),   # drop more bits than the input has
    (8, True, 3, 7, 5, True),    # drop 1 bit: ties on every odd code
]


@pytest.mark.parametrize("in_w,in_signed,in_frac,out_w,out_i,out_signed", CASES)
def test_requant_bank_exhaustive(in_w, in_signed, in_frac, out_w, out_i, out_signed, tmp_path):
    insts, lines, outs = [], [], []
    for rnd in ROUNDING_MODES:
        for ovf in OVERFLOW_MODES:
            t = FixedType(out_w, out_i, out_signed, rnd, ovf)
            p = requant_params(in_frac, t)
            name = f"q_{rnd}_{ovf}".lower()
            insts.append({"name": name, "from_frac": in_frac, "type": {"width": out_w, "integer": out_i,
                          "signed": out_signed, "rounding": rnd, "overflow": ovf}})
            lines.append(f"    wire [{out_w-1}:0] {name};\n    kws_requant #(.IN_W({in_w}), .IN_SIGNED({int(in_signed)}), "
                         f".SHIFT({p['SHIFT']}), .OUT_W({out_w}), .OUT_SIGNED({p['OUT_SIGNED']}), .RND({p['RND']}), "
                         f".OVF({p['OVF']})) u_{name} (.din(din), .dout({name}));")
            outs.append(name)
    total = out_w * len(outs)
    bank = tmp_path / "requant_bank.v"
    bank.write_text(f"module requant_bank (input wire [{in_w-1}:0] din, output wire [{total-1}:0] dout);\n"
                    + "\n".join(lines) + f"\n    assign dout = {{{', '.join(reversed(outs))}}};\nendmodule\n")
    cfg = {"in_w": in_w, "in_signed": in_signed, "instances": insts}
    result = run_cocotb([LIBRARY_DIR / "kws_requant.v", bank], "requant_bank", "sim.tb_requant", tb_config=cfg)
    assert result.failed == 0 and result.passed == 1, result.report.get("errors")
    assert result.report["checked"] == (1 << in_w) * 28
