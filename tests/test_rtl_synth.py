"""Yosys (yowasp) synthesis of generated designs: LUT/FF counts from `stat`."""

import json

import pytest

from hw.rtl import generate_rtl
from hw.synth import synthesize, synthesize_design
from sim.runner import REPO_ROOT
from sim.testmodels import small_mlp, to_hls

RESULTS = REPO_ROOT / "build" / "synth"


@pytest.fixture(scope="module")
def tiny_graph(tmp_path_factory):
    return to_hls(small_mlp(n_in=8, hidden=(4,), n_out=2), tmp_path_factory.mktemp("hls") / "prj")


def test_ice40_synthesis_of_tiny_mlp(tiny_graph, tmp_path):
    design = generate_rtl(tiny_graph, tmp_path / "rtl", reuse_factor=8)
    res = synthesize(design.files, design.top, tmp_path / "syn", "ice40")
    RESULTS.mkdir(parents=True, exist_ok=True)
    (RESULTS / "tiny_mlp_rf8_ice40.json").write_text(json.dumps(res, indent=1))
    s = res["summary"]
    assert s["lut"] > 0 and s["ff"] > 0
    # The three pipeline stages hold at least the input buffer, the compute copy and the output of fc1.
    assert s["ff"] >= 2 * 8 * 8


@pytest.mark.slow
@pytest.mark.parametrize("rf", [1, 8])
@pytest.mark.parametrize("target", ["ice40", "xilinx"])
def test_per_layer_resources_shrink_with_reuse(tiny_graph, tmp_path, rf, target):
    design = generate_rtl(tiny_graph, tmp_path / "rtl", reuse_factor=rf)
    res = synthesize_design(design, tmp_path / "syn", target)
    RESULTS.mkdir(parents=True, exist_ok=True)
    (RESULTS / f"tiny_mlp_rf{rf}_{target}.json").write_text(json.dumps(res, indent=1))
    assert set(res["layers"]) == {"fc1", "fc_out"}
    assert res["total"]["summary"]["lut"] > 0
