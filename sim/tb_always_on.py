"""cocotb bench of the always-on (streaming) IP: one feature frame per input beat, one output
frame per decision (hw/rtl/stream_generate.py). Same conventions and StreamBench as
sim/tb_stream.py, which checks frame-in/frame-out designs."""

from __future__ import annotations

import cocotb
from cocotb.triggers import RisingEdge

from sim.tb_stream import StreamBench, _load_config, _start, _write_report


@cocotb.test()
async def stream_reset(dut):
    """A streaming IP (one feature frame per input beat, one output frame per decision): part of a
    stream with bubbles and backpressure, a reset while frames and decisions are in flight, then a
    new stream. Before the reset the outputs are a correct prefix of the first stream's; after it
    they are exactly the new stream's alone (no decision refers to a frame from before the reset),
    and the first of them waits until `refill_frames` new frames have been taken."""
    cfg = _load_config()
    await _start(dut)
    bench = StreamBench(dut, cfg["frames_before"], cfg["out_before"], p_valid=0.8, p_ready=0.5, seed=cfg.get("seed", 3))
    await bench.reset()
    await bench.run(stop_after_input_beats=len(cfg["frames_before"]))
    await bench.stop_input()  # the last frame is taken, and offered no more
    for _ in range(cfg.get("cycles_before_reset", 7)):  # decisions still in flight
        await RisingEdge(dut.clk)
    before = list(bench.received)
    after = StreamBench(dut, cfg["frames_after"], cfg["out_after"], p_valid=cfg.get("p_valid", 0.7),
                        p_ready=cfg.get("p_ready", 0.6), seed=cfg.get("seed", 3) + 1)
    await after.reset()
    await after.run(max_cycles=cfg.get("max_cycles", 10_000_000))
    refill = cfg["refill_frames"]
    first_out = after.received[0][3] if after.received else None
    waited = first_out is not None and first_out > after.first_accept[refill - 1]
    _write_report("stream_reset", {"beats_before_reset": len(before), "errors": bench.errors + after.errors,
                                   "first_output_cycle": first_out, "refill_frame_cycle": after.first_accept.get(refill - 1),
                                   "cycles": after.cycle})
    assert not bench.errors, bench.errors[:5]
    assert not after.errors, after.errors[:5]
    assert waited, f"first output at cycle {first_out}, before frame {refill - 1} was taken"
