"""Generic cocotb testbench for any generated streaming IP (one frame in -> one frame out).

The DUT convention (every generated layer and top level follows it):
    clk, rst_n (synchronous, active low),
    s_axis_tdata / s_axis_tvalid / s_axis_tready          input beats,
    m_axis_tdata / m_axis_tvalid / m_axis_tready / m_axis_tlast   output beats, tlast on a frame's last beat.

What differs between designs is data, handed over as JSON (path in KWS_TB_CONFIG, written by
sim.runner.run_cocotb): the input beats of each frame and the expected output beats from the
reference model, as unsigned integers (tdata bit patterns). Measurements go to KWS_TB_REPORT.

One coroutine per cycle does driver, monitor and scoreboard: cocotb costs tens of microseconds
per trigger, so separate coroutines per interface would double the time for no gain.
"""

from __future__ import annotations

import json
import os
import random
import time

import cocotb
from cocotb.clock import Clock
from cocotb.triggers import ReadOnly, RisingEdge


def _load_config() -> dict:
    with open(os.environ["KWS_TB_CONFIG"]) as f:
        return json.load(f)


def _write_report(key: str, data: dict) -> None:
    path = os.environ.get("KWS_TB_REPORT")
    if not path:
        return
    report = {}
    if os.path.exists(path):
        with open(path) as f:
            report = json.load(f)
    report[key] = data
    with open(path, "w") as f:
        json.dump(report, f, indent=1)


class StreamBench:
    """Driver (random valid gaps), sink (random ready), scoreboard, cycle counters."""

    def __init__(self, dut, frames_in, frames_out, *, p_valid=1.0, p_ready=1.0, seed=0):
        self.dut = dut
        self.frames_in = frames_in
        self.frames_out = frames_out
        self.p_valid = p_valid
        self.p_ready = p_ready
        self.rng = random.Random(seed)
        self.cycle = 0
        self.first_accept = {}  # frame -> cycle its first input beat was accepted
        self.last_output = {}  # frame -> cycle its last output beat was accepted
        self.received = []  # list of (frame, beat index, value, cycle it was accepted)
        self.errors = []

    async def reset(self, cycles=3):
        dut = self.dut
        await RisingEdge(dut.clk)  # leave a possible ReadOnly phase before writing
        dut.rst_n.value = 0
        dut.s_axis_tvalid.value = 0
        dut.m_axis_tready.value = 0
        for _ in range(cycles):
            await RisingEdge(dut.clk)
        dut.rst_n.value = 1

    async def run(self, *, stop_after_input_beats=None, max_cycles=10_000_000):
        """Stream all frames; returns when every expected output arrived (or on a stop request).

        stop_after_input_beats: return right after that many input beats were accepted
        (used to reset in the middle of a stream).
        """
        dut = self.dut
        beats = [(f, b, v) for f, frame in enumerate(self.frames_in) for b, v in enumerate(frame)]
        expected = [(f, b, v) for f, frame in enumerate(self.frames_out) for b, v in enumerate(frame)]
        n_in = n_out = 0
        driving = False
        while n_out < len(expected):
            await RisingEdge(dut.clk)
            self.cycle += 1
            if self.cycle > max_cycles:
                raise AssertionError(f"timeout after {max_cycles} cycles: {n_out}/{len(expected)} output beats")
            # Drive this cycle's inputs (the handshake sampled below is what the edge captures).
            if not driving:
                if n_in < len(beats) and self.rng.random() < self.p_valid:
                    dut.s_axis_tdata.value = beats[n_in][2]
                    dut.s_axis_tvalid.value = 1
                    driving = True
                else:
                    dut.s_axis_tvalid.value = 0
            dut.m_axis_tready.value = 1 if self.rng.random() < self.p_ready else 0
            await ReadOnly()
            if driving and int(dut.s_axis_tready.value):
                f, b, _ = beats[n_in]
                if b == 0:
                    self.first_accept[f] = self.cycle
                n_in += 1
                driving = False
            if int(dut.m_axis_tvalid.value) and int(dut.m_axis_tready.value):
                value = int(dut.m_axis_tdata.value)
                last = int(dut.m_axis_tlast.value)
                f, b, want = expected[n_out]
                if value != want:
                    self.errors.append(f"frame {f} beat {b}: got {value:#x}, want {want:#x}")
                if last != (b == len(self.frames_out[f]) - 1):
                    self.errors.append(f"frame {f} beat {b}: tlast={last} wrong")
                self.received.append((f, b, value, self.cycle))
                if b == len(self.frames_out[f]) - 1:
                    self.last_output[f] = self.cycle
                n_out += 1
            if stop_after_input_beats is not None and n_in >= stop_after_input_beats:
                break
        return n_in, n_out

    async def stop_input(self):
        """After run(stop_after_input_beats=...): the last beat counted was seen with tready high, so
        the next edge takes it. Valid falls after that edge, not before (AXI-Stream: a beat offered
        stays until it is taken; kws_unpack checks it), and before the one after (left high, the DUT
        would take the beat a second time)."""
        await RisingEdge(self.dut.clk)
        self.dut.s_axis_tvalid.value = 0

    def frames_exact(self):
        bad = {int(e.split()[1]) for e in self.errors}
        done = len(self.last_output)
        return sum(1 for f in self.last_output if f not in bad), done


async def _start(dut):
    cocotb.start_soon(Clock(dut.clk, 10, unit="ns").start())


@cocotb.test()
async def stream_exact(dut):
    """All frames with random bubbles and backpressure; every output beat equals the reference."""
    cfg = _load_config()
    await _start(dut)
    bench = StreamBench(dut, cfg["frames_in"], cfg["frames_out"],
                        p_valid=cfg.get("p_valid", 0.7), p_ready=cfg.get("p_ready", 0.7), seed=cfg.get("seed", 1))
    await bench.reset()
    t0 = time.perf_counter()
    await bench.run(max_cycles=cfg.get("max_cycles", 10_000_000))
    wall = time.perf_counter() - t0
    exact, done = bench.frames_exact()
    _write_report("stream_exact", {
        "frames": len(cfg["frames_in"]), "frames_done": done, "frames_exact": exact,
        "errors": bench.errors[:20], "cycles": bench.cycle, "wall_s": wall,
        "beats": bench.received,  # [frame, beat, value, cycle]: two simulators must agree on every one
        "cycles_per_s": bench.cycle / wall, "inferences_per_s": done / wall,
    })
    assert not bench.errors, f"{len(bench.errors)} mismatching beats, first: {bench.errors[:5]}"
    assert done == len(cfg["frames_out"])


@cocotb.test()
async def latency_and_ii(dut):
    """No bubbles, no backpressure: latency of one frame in an empty pipeline, then the II."""
    cfg = _load_config()
    await _start(dut)
    n = min(len(cfg["frames_in"]), cfg.get("ii_frames", 4))
    bench = StreamBench(dut, cfg["frames_in"][:1], cfg["frames_out"][:1], p_valid=1.0, p_ready=1.0)
    await bench.reset()
    await bench.run()
    # cycle numbers count edges; latency = edges from first input accepted to last output accepted
    latency = bench.last_output[0] - bench.first_accept[0]
    bench2 = StreamBench(dut, cfg["frames_in"][:n], cfg["frames_out"][:n], p_valid=1.0, p_ready=1.0)
    await bench2.reset()
    await bench2.run()
    ii = (bench2.last_output[n - 1] - bench2.last_output[0]) / (n - 1) if n > 1 else None
    _write_report("latency_and_ii", {"latency_cycles": latency, "ii_cycles": ii, "frames": n,
                                      "errors": bench.errors + bench2.errors})
    assert not bench.errors and not bench2.errors


@cocotb.test()
async def reset_mid_stream(dut):
    """Reset while a frame is half-way in: outputs before it are a correct prefix, after it exact."""
    cfg = _load_config()
    await _start(dut)
    frames_in, frames_out = cfg["frames_in"], cfg["frames_out"]
    n = min(len(frames_in), cfg.get("reset_frames", 8))
    bench = StreamBench(dut, frames_in[:n], frames_out[:n], p_valid=0.8, p_ready=0.5, seed=7)
    await bench.reset()
    # Stop with n-1 frames in and the last one half-way in (for one-beat frames: all n in), so
    # some outputs are out, some in flight, when reset hits.
    stop = sum(len(f) for f in frames_in[:n - 1]) + max(1, len(frames_in[n - 1]) // 2)
    await bench.run(stop_after_input_beats=stop)
    await bench.stop_input()
    # Let a few cycles pass with outputs flowing, then reset.
    for _ in range(5):
        await RisingEdge(dut.clk)
    before = list(bench.received)
    errors_before = list(bench.errors)
    bench2 = StreamBench(dut, frames_in[:n], frames_out[:n], p_valid=0.8, p_ready=0.6, seed=8)
    await bench2.reset()
    await bench2.run()
    # Nothing may come out after the last expected beat: wait and watch.
    extra = 0
    for _ in range(cfg.get("drain_cycles", 200)):
        await RisingEdge(dut.clk)
        await ReadOnly()
        if int(dut.m_axis_tvalid.value):
            extra += 1
    _write_report("reset_mid_stream", {"beats_before_reset": len(before), "errors": errors_before + bench2.errors,
                                        "extra_valid_cycles": extra})
    assert not errors_before, errors_before[:5]
    assert not bench2.errors, bench2.errors[:5]
    assert extra == 0, f"{extra} stray output-valid cycles after the stream ended"

