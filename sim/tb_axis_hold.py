"""cocotb bench (Icarus or Verilator) of the AXI-Stream hold rule that kws_unpack (and so kws_frame_store's memory form)
relies on: a producer keeps tdata and tvalid while tvalid is high and tready low. One test holds
its beats (every slice comes out in order), one changes a beat before it is taken: kws_unpack's
simulation check must stop that run."""

from __future__ import annotations

import cocotb
from cocotb.clock import Clock
from cocotb.triggers import ReadOnly, RisingEdge

N, BEAT, EW = 4, 1, 8  # the parameters tests/test_sim_frame_memory.py builds kws_unpack with
BEATS = [0x44332211, 0x88776655, 0xCCBBAA99]


async def _reset(dut):
    cocotb.start_soon(Clock(dut.clk, 10, unit="ns").start())
    dut.rst_n.value = 0
    dut.s_axis_tvalid.value = 0
    dut.m_axis_tready.value = 1
    for _ in range(3):
        await RisingEdge(dut.clk)
    dut.rst_n.value = 1


async def _stream(dut, change_after: int | None) -> list[int]:
    """Offer BEATS; with `change_after` = k, the first beat is replaced by the next one k cycles
    after it was offered, before it was taken (a producer that breaks the rule)."""
    out, n, offered = [], 0, 0
    dut.s_axis_tdata.value = BEATS[0]
    dut.s_axis_tvalid.value = 1
    while n < len(BEATS):
        await ReadOnly()
        if int(dut.m_axis_tvalid.value) and int(dut.m_axis_tready.value):
            out.append(int(dut.m_axis_tdata.value))
        taken = int(dut.s_axis_tready.value)
        await RisingEdge(dut.clk)
        offered += 1
        if taken:
            n += 1
            offered = 0
            if n < len(BEATS):
                dut.s_axis_tdata.value = BEATS[n]
            else:
                dut.s_axis_tvalid.value = 0
        elif change_after is not None and n == 0 and offered == change_after:
            dut.s_axis_tdata.value = BEATS[1]
    return out


@cocotb.test()
async def producer_holds(dut):
    await _reset(dut)
    out = await _stream(dut, None)
    want = [(b >> (8 * i)) & 0xFF for b in BEATS for i in range(N)]
    assert out == want, (out, want)


@cocotb.test()
async def producer_breaks_rule(dut):
    await _reset(dut)
    await _stream(dut, 2)
    for _ in range(3):
        await RisingEdge(dut.clk)
