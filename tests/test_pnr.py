"""nextpnr place and route (hw/tools/nextpnr.py, `make pnr` = hw/pnr.py): a verdict with numbers
for each outcome - fits and meets the clock, misses it, does not fit - on designs small enough to
take seconds: a hand-written counter and an 8-4-2 QKeras MLP run folder."""

import dataclasses
import json
from pathlib import Path

import numpy as np
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


def test_unknown_part_fails_before_any_tool_runs(counter, tmp_path, monkeypatch, capsys):
    import hw.rtl.run
    import hw.tools.nextpnr
    import hw.tools.yosys
    from hw.pnr import main

    def no_tool(*a, **k):
        raise AssertionError("a tool ran before the part was checked")

    monkeypatch.setattr(hw.tools.yosys.subprocess, "run", no_tool)
    monkeypatch.setattr(hw.tools.nextpnr.subprocess, "run", no_tool)
    monkeypatch.setattr(hw.rtl.run, "generate_for_run", no_tool)
    with pytest.raises(UnknownPartError) as err:
        place_and_route(counter[0], "counter", "ice40-up5k-sg49", tmp_path / "work")
    assert "'ice40-up5k-sg49'" in str(err.value) and all(name in str(err.value) for name in PARTS)
    assert not (tmp_path / "work").exists()
    assert main(["--run", str(tmp_path), "--part", "xc7a35t"]) == 2
    out = capsys.readouterr()
    assert out.out == "" and out.err.startswith("error: unknown part 'xc7a35t'") and UP5K in out.err


def test_more_pins_than_the_package_does_not_fit(counter):
    """50 ports on the 39 pins of the SG48 package: nextpnr stops placing; the verdict has its numbers."""
    files, work = counter
    wide = [files[0].parent / "wide_counter.v"]
    r = place_and_route(wide, "wide_counter", UP5K, work)
    assert r.verdict == DOES_NOT_FIT and r.met is None and r.fmax_mhz == {}
    assert r.utilization["io"] == {"used": 50, "available": 39, "bel": "SB_IO"}
    assert "50 I/O pins > 39" in r.reason and "ERROR" in r.reason


def test_design_larger_than_a_made_up_part_does_not_fit(counter):
    """A part entry smaller than its device: caught after synthesis (not placed; the packer's cell
    count is reported), or after placement when only nextpnr's count (11 logic cells for 8 LUTs +
    carries) is too large."""
    files, work = counter
    up5k = PARTS[UP5K]
    r = place_and_route(files, "counter", dataclasses.replace(up5k, name="tiny4", logic_cells=4, ff=4), work)
    assert r.verdict == DOES_NOT_FIT and "after synthesis" in r.reason and "not placed" in r.reason
    assert r.utilization["ff"] == {"used": 8, "available": 4, "bel": None} and "nextpnr" not in r.seconds
    assert not any(work.glob("nextpnr_counter_tiny4_*"))  # no placement was tried
    # the packer's count: every LUT4 and carry of the counter in a cell of its own or with its FF
    assert r.utilization["logic_cells"]["bel"] == "ICESTORM_LC" and r.utilization["logic_cells"]["used"] >= 8
    assert f"packer needs {r.utilization['logic_cells']['used']} logic cells" in r.reason
    r = place_and_route(files, "counter", dataclasses.replace(up5k, name="tiny10", logic_cells=10), work)
    assert r.verdict == DOES_NOT_FIT and r.reason.startswith("placed: ")
    assert r.utilization["logic_cells"]["used"] > 10 == r.utilization["logic_cells"]["available"]


@pytest.fixture(scope="module")
def tiny_run(tmp_path_factory):
    from sim.testmodels import small_mlp

    run = tmp_path_factory.mktemp("build") / "tiny_mlp"
    run.mkdir()
    small_mlp(8, (4,), 2, seed=0).save(run / "model.h5", include_optimizer=False)
    np.savez(run / "test_vectors.npz", x=np.zeros((2, 8), np.float32), y=np.zeros(2, np.int64))
    return run


def test_make_pnr_on_a_tiny_run(tiny_run, capsys):
    """`make pnr` generates the run's RTL, wraps it in the I/O shell (64 + 30 stream bits would
    not fit the 39 pins), maps its 5 multipliers on SB_MAC16s, and keeps one report per clock."""
    from hw.pnr import main
    from sim.studies.flow_report import pnr_section

    assert main(["--run", str(tiny_run), "--part", UP5K, "--reuse-factor", "8"]) == 0
    line = capsys.readouterr().out.strip()
    rep = json.loads((tiny_run / "pnr" / "pnr_report_ice40-up5k-sg48_rf8_12mhz.json").read_text())
    assert rep["verdict"] == TIMING_MET and rep["met"] is True and rep["top"] == "kws_top_pnr_shell"
    u = rep["utilization"]
    assert u["dsp"]["used"] == rep["design"]["multipliers"] == 5
    assert u["io"]["used"] == 9 and u["ff"]["used"] >= 64 + 1  # the shell's shift register and parity bit
    assert 0 < u["logic_cells"]["used"] <= 5280
    assert "\n" not in line and f"LC {u['logic_cells']['used']}/5280" in line and rep["markdown"] in line
    md = Path(rep["markdown"]).read_text()
    assert "**timing met**" in md and f"| {u['logic_cells']['used']} | 5280 |" in md

    assert main(["--run", str(tiny_run), "--part", UP5K, "--reuse-factor", "8", "--clock-mhz", "2000"]) == 0
    fast = json.loads((tiny_run / "pnr" / "pnr_report_ice40-up5k-sg48_rf8_2000mhz.json").read_text())
    assert fast["verdict"] == TIMING_MISSED and fast["synth_cached"]
    assert (tiny_run / "pnr" / "pnr_report_ice40-up5k-sg48_rf8_12mhz.md").exists()  # the first report is kept
    text = "\n".join(pnr_section(tiny_run))
    assert "| ice40-up5k-sg48 | 8 | 12 | timing met |" in text and "| ice40-up5k-sg48 | 8 | 2000 | timing missed |" in text


def test_sequential_engine_places_with_one_dsp_and_block_ram(tiny_run, capsys):
    """RF=seq on the UP5K: one SB_MAC16 for both layers, timing met, fewer logic cells than the
    dataflow design at RF 8 (this MLP's memories are a few words: Yosys keeps them in logic;
    tests/test_rtl_synth.py checks that larger ones become block RAM)."""
    from hw.pnr import main

    assert main(["--run", str(tiny_run), "--part", UP5K, "--reuse-factor", "seq"]) == 0
    capsys.readouterr()
    rep = json.loads((tiny_run / "pnr" / "pnr_report_ice40-up5k-sg48_rfseq_12mhz.json").read_text())
    assert rep["verdict"] == TIMING_MET and rep["design"]["multipliers"] == 1
    u = rep["utilization"]
    assert u["dsp"]["used"] == 1
    dataflow = tiny_run / "pnr" / "pnr_report_ice40-up5k-sg48_rf8_12mhz.json"
    if dataflow.exists():  # test_make_pnr_on_a_tiny_run ran first
        assert u["logic_cells"]["used"] < json.loads(dataflow.read_text())["utilization"]["logic_cells"]["used"]
