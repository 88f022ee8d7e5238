"""cocotb test of kws_requant.v: a bank of instances (all rounding x overflow modes) driven with
every input code, compared with qat.fixed.FixedType.requantize (the project's one definition)."""

from __future__ import annotations

import json
import os

import cocotb
import numpy as np
from cocotb.triggers import Timer

from qat.fixed import FixedType


@cocotb.test()
async def requant_bank_exhaustive(dut):
    cfg = json.load(open(os.environ["KWS_TB_CONFIG"]))
    in_w, in_signed = cfg["in_w"], cfg["in_signed"]
    codes = np.arange(-(1 << (in_w - 1)), 1 << (in_w - 1)) if in_signed else np.arange(0, 1 << in_w)
    expected = [FixedType(**inst["type"]).requantize(codes, inst["from_frac"]) for inst in cfg["instances"]]
    errors = []
    for n, code in enumerate(codes):
        dut.din.value = int(code) & ((1 << in_w) - 1)
        await Timer(1, unit="ns")
        word = int(dut.dout.value)
        offset = 0
        for k, inst in enumerate(cfg["instances"]):
            w = inst["type"]["width"]
            got = (word >> offset) & ((1 << w) - 1)
            if inst["type"]["signed"] and got >> (w - 1):
                got -= 1 << w
            offset += w
            if got != expected[k][n]:
                errors.append(f"{inst['name']}: in {code} got {got} want {expected[k][n]}")
    with open(os.environ["KWS_TB_REPORT"], "w") as f:
        json.dump({"checked": len(codes) * len(cfg["instances"]), "errors": errors[:20]}, f)
    assert not errors, errors[:5]
