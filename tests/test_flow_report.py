"""The one-page report shows what each stage measured and says which stages have not run."""

import json

from sim.studies.flow_report import main, render


def test_report_lists_only_measured_stages(tmp_path):
    run = tmp_path / "r"
    run.mkdir()
    assert "not trained here" in render(run)
    (run / "metrics.json").write_text(json.dumps({
        "model": "dscnn", "data": "synthetic", "accuracy": {"float": {"test": 0.5}, "quantized": {"test": 0.25}},
        "params": 10, "macs": 20, "weight_memory_bits": 80, "epoch_seconds": {"float": 1.0}}))
    text = render(run)
    assert "| quantized | 25.00% |" in text and text.count("Not run") == 5 and "not trained here" not in text
    (run / "rtl").mkdir()
    (run / "rtl" / "sim_report.json").write_text(json.dumps({
        "identical": 7, "total": 9, "vectors": "9 clips", "reuse_factor": 4, "latency_cycles": 100,
        "ii_cycles": 50, "ii_lower_bound": 40, "multipliers": 3, "macs": 120}))
    text = render(run)
    assert "**7 of 9 identical**" in text and "latency 100 cycles" in text
    (run / "synth" / "rf4_ice40").mkdir(parents=True)
    summary = {"lut": 900, "ff": 80, "carry": 7, "bram": 1}
    (run / "synth" / "rf4_ice40" / "resources.json").write_text(json.dumps({
        "layers": {"fc1": {"summary": summary}, "fc2": {"summary": None, "error": "timeout"}},
        "total": {"summary": summary, "missing": ["fc2"]}}))
    text = render(run)
    assert "| rf4_ice40 | 900 | 80 | 7 | 1 | 1 of 2 (failed: fc2) |" in text and text.count("Not run") == 3
    assert "Not run (`make pnr RUN=r PART=...`)" in text
    (run / "pnr").mkdir()
    util = {"logic_cells": {"used": 794, "available": 5280}, "ff": {"used": 503, "available": 5280},
            "bram": {"used": 3, "available": 30}, "dsp": {"used": 5, "available": 8}, "io": {"used": 9, "available": 39}}
    (run / "pnr" / "pnr_report_ice40-up5k-sg48_rf4_12mhz.json").write_text(json.dumps({
        "part": "ice40-up5k-sg48", "reuse_factor": "4", "clock_mhz": 12.0, "verdict": "timing met",
        "fmax_mhz": {"clk": 39.61, "clk2": 80.0}, "utilization": util}))
    text = render(run)
    assert "| ice40-up5k-sg48 | 4 | 12 | timing met | 39.6 | 794 / 5280 | 503 / 5280 | 3 / 30 | 5 / 8 | 9 / 39 |" in text
    assert text.count("Not run") == 2 and "Not run (`make stream RUN=r`)" in text
    (run / "stream").mkdir()
    curve = {"det": {"false_reject_rate": 0.5, "false_alarms_per_hour": 3.0},
             "mlperf": {"true_positives": 9, "false_negatives": 4, "false_positives": 2}}
    (run / "stream" / "stream_report.json").write_text(json.dumps({
        "identical": 1000, "decisions": 1000, "stream": {"hours": 1.07}, "plan": {"decision_frames": 2}, "reuse_factor": "8",
        "timing": {"back_to_back_cycles_per_frame": 55.5}, "speedup_vs_windowed": 21.0, "windowed": {"ii_cycles": 2331},
        "real_time_margin": 800.0, "clock_mhz": 12.0, "curves": {"r (RTL)": curve}}))
    text = render(run)
    assert "**1000 of 1000 decisions identical**" in text and "55.5 cycles per hop, 21.0x fewer" in text
    assert "| r (RTL) | 50.0% | 3.0 | 9 / 4 / 2 |" in text and text.count("Not run") == 1
    assert main(["--run", str(run)]) == 0 and (run / "flow_report.md").read_text() == text
    assert main(["--run", str(tmp_path / "missing")]) == 2
