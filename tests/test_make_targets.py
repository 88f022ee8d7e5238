"""The code behind `make hls`, `make rtl`, `make sim`, `make synth` and `make acc-compare`, run
end to end on a tiny run folder (a 16-8-4 QKeras MLP with model.h5 + test_vectors.npz, as training
leaves them) in a tmp path: each command's exit code, its one line or report, and the files it
writes, checked against what the command says it measured.
"""

from __future__ import annotations

import json

import numpy as np
import pytest

N = 40


@pytest.fixture(scope="module")
def tiny_run(tmp_path_factory):
    from sim.testmodels import small_mlp

    run = tmp_path_factory.mktemp("build") / "tiny_mlp"
    run.mkdir()
    model = small_mlp(16, (8,), 4, seed=3)
    model.save(run / "model.h5", include_optimizer=False)
    x = np.random.default_rng(3).uniform(-4, 4, (N, 16)).astype(np.float32)
    np.savez(run / "test_vectors.npz", x=x, y=np.zeros(N, np.int64))
    return run


@pytest.mark.hls
def test_make_hls_checks_qkeras_golden_csim(tiny_run, capsys):
    from hw.hls import main

    assert main(["--run", str(tiny_run), "--split", "test"]) == 0
    out = capsys.readouterr().out
    report = json.loads((tiny_run / "hls" / "exactness.json").read_text())
    assert report["exact"] and report["n_vectors"] == N and len(report["pairs"]) == 3  # QKeras, golden, C sim
    assert {(p["identical"], p["total"]) for p in report["pairs"].values()} == {(N, N)}
    assert f"{N} of {N}" in out and (tiny_run / "hls" / "report.md").read_text().strip() == out.strip()


@pytest.mark.sim
def test_make_rtl_then_make_sim(tiny_run, capsys):
    from hw.rtl.__main__ import main as rtl_main
    from sim.__main__ import main as sim_main

    assert rtl_main(["--run", str(tiny_run), "--reuse-factor", "4", "--lint"]) == 0
    assert "lint: clean" in capsys.readouterr().out
    assert (tiny_run / "rtl" / "files.f").exists()
    assert sim_main(["--run", str(tiny_run), "--reuse-factor", "4", "--p-valid", "70", "--p-ready", "60"]) == 0
    rep = json.loads((tiny_run / "rtl" / "sim_report.json").read_text())
    assert rep["identical"] == rep["total"] == N and rep["split"] == "test"
    assert rep["ii_cycles"] == 5  # two dense layers at RF 4: RF + 1 cycles per frame
    assert f"**{N} of {N} identical**" in capsys.readouterr().out


@pytest.mark.sim
def test_make_synth_reports_luts_per_layer(tiny_run, capsys):
    from hw.synth import main

    assert main(["--run", str(tiny_run), "--reuse-factor", "4"]) == 0
    text = capsys.readouterr().out
    res = json.loads((tiny_run / "synth" / "rf4_ice40" / "resources.json").read_text())
    layers = {k: v["summary"]["lut"] for k, v in res["layers"].items() if v.get("summary")}
    assert {"fc1", "fc_out"} <= set(layers) and all(n > 0 for n in layers.values())
    assert res["total"]["summary"]["lut"] == sum(v["summary"]["lut"] for v in res["layers"].values() if v.get("summary"))
    assert "fc1" in text and str(res["total"]["summary"]["lut"]) in text


@pytest.mark.sim
def test_make_acc_compare_side_by_side(tiny_run, tmp_path):
    from qat.fixed import FixedType
    from sim.studies.acc_compare import main

    out = tmp_path / "acc"
    assert main(["--runs", str(tiny_run), "--reuse-factor", "4", "--no-synth", "--out", str(out)]) == 0
    rows = json.loads((out / "acc_compare.json").read_text())
    assert len(rows) == 1 and rows[0]["run"] == str(tiny_run) and rows[0]["clips"] == N
    assert rows[0]["golden_vs_rtl"] == {"identical": N, "total": N}
    assert set(rows[0]["accumulators"]) == {"fc1", "fc_out"}
    assert {FixedType.parse(v["accum"]).overflow for v in rows[0]["accumulators"].values()} == {"WRAP"}
    md = (out / "acc_compare.md").read_text()
    assert "python -m sim.studies.acc_compare" in md and tiny_run.name in md
