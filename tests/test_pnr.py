"""nextpnr place and route (hw/tools/nextpnr.py): a verdict with numbers for each outcome - fits
and meets the clock, misses it, does not fit - on a hand-written counter (seconds per run)."""

import dataclasses
import json
from pathlib import Path

import pytest

from hw.tools.nextpnr import (BELS, DOES_NOT_FIT, PARTS, TIMING_MET, TIMING_MISSED, UnknownPartError,
                              place_and_route, read_report)

pytestmark = [pytest.mark.synth, pytest.mark.pnr]

COUNTER = """module counter #(parameter W = 8) (input clk, input rst, output [W-1:0] q);
    reg [W-1:0] c;
    always @(posedge clk) if (rst) c <= 0; else c <= c + 1'b1;
    assign q = c;
endmodule
"""
UP5K = "ice40-up5k-sg48"


@pytest.fixture(scope="module")
def counter(tmp_path_factory):
    """(files, work dir): one work dir for the module, so the clocks share one Yosys netlist."""
    d = tmp_path_factory.mktemp("counter")
    (d / "counter.v").write_text(COUNTER)
    (d / "wide_counter.v").write_text(COUNTER.replace("module counter #(parameter W = 8)",
                                                      "module wide_counter #(parameter W = 48)"))
    return [d / "counter.v"], d / "work"


@pytest.mark.parametrize("name", list(PARTS))
def test_counter_fits_every_part_and_meets_its_clock(counter, name):
    """Utilisation and fmax come out of the log; the part table's capacities are what nextpnr says
    the device has, and the log's fmax is the one in nextpnr's own JSON report."""
    files, work = counter
    part = PARTS[name]
    r = place_and_route(files, "counter", name, work)
    assert r.verdict == TIMING_MET and r.met is True, r.reason
    lc = r.utilization["logic_cells"]
    assert 8 <= lc["used"] <= lc["available"] == part.logic_cells  # 8 counter bits need at least 8 LUTs
    assert r.utilization["io"]["used"] == 8 + 2  # q, clk, rst
    for key, bel in BELS[part.family].items():  # a bel type the device lacks (HX8K: DSP) is not listed
        assert r.nextpnr_utilization.get(bel, {"available": 0})["available"] == part.capacity()[key], bel
    own = read_report(Path(r.log).parent / "report.json")
    assert len(r.fmax_mhz) == 1 and r.fmax_mhz.keys() == own["fmax"].keys()
    clock, fmax = next(iter(r.fmax_mhz.items()))
    assert fmax == pytest.approx(own["fmax"][clock]["achieved"], abs=0.01) and fmax > part.clock_mhz
    assert r.clock_mhz == part.clock_mhz and r.seconds["nextpnr"] > 0


def test_impossible_clock_is_reported_as_missed(counter):
    files, work = counter
    r = place_and_route(files, "counter", UP5K, work, clock_mhz=2000)
    assert r.verdict == TIMING_MISSED and r.met is False
    fmax = next(iter(r.fmax_mhz.values()))
    assert 0 < fmax < 2000 and "< 2000 MHz" in r.reason
    assert r.synth_cached and r.seconds["yosys"] == 0.0  # the netlist of the first test, not synthesized again
    assert r.utilization["logic_cells"]["used"] > 0  # routed: the numbers are there


def test_unknown_part_fails_before_any_tool_runs(counter, tmp_path, monkeypatch):
    import hw.tools.nextpnr
    import hw.tools.yosys

    def no_tool(*a, **k):
        raise AssertionError("a tool ran before the part was checked")

    monkeypatch.setattr(hw.tools.yosys.subprocess, "run", no_tool)
    monkeypatch.setattr(hw.tools.nextpnr.subprocess, "run", no_tool)
    with pytest.raises(UnknownPartError) as err:
        place_and_route(counter[0], "counter", "ice40-up5k-sg49", tmp_path / "work")
    assert "'ice40-up5k-sg49'" in str(err.value) and all(name in str(err.value) for name in PARTS)
    assert not (tmp_path / "work").exists()


def test_more_pins_than_the_package_does_not_fit(counter):
    """50 ports on the 39 pins of the SG48 package: nextpnr stops placing; the verdict has its numbers."""
    files, work = counter
    wide = [files[0].parent / "wide_counter.v"]
    r = place_and_route(wide, "wide_counter", UP5K, work)
    assert r.verdict == DOES_NOT_FIT and r.met is None and r.fmax_mhz == {}
    assert r.utilization["io"] == {"used": 50, "available": 39, "bel": "SB_IO"}
    assert "50 I/O pins > 39" in r.reason and "ERROR" in r.reason


def test_design_larger_than_a_made_up_part_does_not_fit(counter):
    """A part entry smaller than its device: caught after synthesis (nextpnr not run), or after
    placement when only nextpnr's count (11 logic cells for 8 LUTs + carries) is too large."""
    files, work = counter
    up5k = PARTS[UP5K]
    r = place_and_route(files, "counter", dataclasses.replace(up5k, name="tiny4", logic_cells=4, ff=4), work)
    assert r.verdict == DOES_NOT_FIT and "after synthesis" in r.reason and "nextpnr not run" in r.reason
    assert r.utilization["ff"] == {"used": 8, "available": 4, "bel": None} and "nextpnr" not in r.seconds
    assert not any(work.glob("nextpnr_counter_tiny4_*"))
    r = place_and_route(files, "counter", dataclasses.replace(up5k, name="tiny10", logic_cells=10), work)
    assert r.verdict == DOES_NOT_FIT and r.reason.startswith("placed: ")
    assert r.utilization["logic_cells"]["used"] > 10 == r.utilization["logic_cells"]["available"]
