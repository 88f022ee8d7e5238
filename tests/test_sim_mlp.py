"""cocotb + Verilator regression of a generated MLP against hw.golden, bit for bit.

hw.golden (the bit-accurate numpy model of the hls4ml graph, equal to hls4ml's C simulation) is
the reference, through sim/reference.py.
"""

import json

import numpy as np
import pytest

from hw.rtl import generate_rtl
from hw.rtl.layer_spec import read_graph
from sim.frames import frames_for
from sim.runner import DEFAULT_BUILD_ROOT, run_cocotb
from sim.reference import expected_raw
from sim.testmodels import small_mlp, to_hls

pytestmark = pytest.mark.sim

N_VECTORS = 200
RESULTS = DEFAULT_BUILD_ROOT / "results"  # a tmp dir under pytest (tests/conftest.py)


@pytest.fixture(scope="module")
def mlp(tmp_path_factory):
    model = small_mlp(n_in=16, hidden=(8,), n_out=4)
    hls_model = to_hls(model, tmp_path_factory.mktemp("hls") / "prj")
    specs = read_graph(hls_model)
    in_t = specs[0].out_type
    rng = np.random.default_rng(2024)
    x = rng.integers(in_t.min_raw, in_t.max_raw + 1, size=(N_VECTORS, 16))
    y = expected_raw(hls_model, x)
    return hls_model, x, y


def _record(name, data):
    RESULTS.mkdir(parents=True, exist_ok=True)
    (RESULTS / f"{name}.json").write_text(json.dumps(data, indent=1))


@pytest.mark.parametrize("rf", [1, 4, 32])
def test_mlp_stream_exact_backpressure_reset(mlp, rf, tmp_path):
    hls_model, x, y = mlp
    design = generate_rtl(hls_model, tmp_path / "rtl", reuse_factor=rf)
    fc1 = next(l for l in design.layers if l.layer == "fc1")
    assert fc1.multipliers == 16 * 8 // min(rf, 16 * 8)
    cfg = {**frames_for(design, x, y), "p_valid": 0.6, "p_ready": 0.6, "seed": rf}
    result = run_cocotb(design.files, design.top, "sim.tb_stream", tb_config=cfg)
    rep = result.report
    _record(f"mlp_rf{rf}", {"rf": rf, "multipliers": design.report["multipliers"], **rep})
    assert rep["stream_exact"]["frames_exact"] == N_VECTORS, rep["stream_exact"]["errors"]
    assert result.failed == 0 and result.passed == 3, rep
    assert rep["reset_mid_stream"]["extra_valid_cycles"] == 0
    # Latency grows with the reuse factor: each Dense needs RF compute cycles.
    assert rep["latency_and_ii"]["latency_cycles"] >= rf
    if rf == 1:  # fully parallel: kws_dense_pipe takes a vector every cycle, two registers per Dense
        assert rep["latency_and_ii"]["ii_cycles"] == 1 and rep["latency_and_ii"]["latency_cycles"] == 2 * 2


def test_scoreboard_catches_a_wrong_output(mlp, tmp_path):
    """The bench must fail when one expected bit differs (guards against a test that cannot fail)."""
    hls_model, x, y = mlp
    design = generate_rtl(hls_model, tmp_path / "rtl", reuse_factor=4)
    cfg = frames_for(design, x[:20], y[:20])
    cfg["frames_out"][7][0] ^= 1 << 3
    result = run_cocotb(design.files, design.top, "sim.tb_stream", tb_config=cfg, testcase="stream_exact")
    assert result.failed == 1
    assert result.report["stream_exact"]["frames_exact"] == 19
    assert "frame 7" in result.report["stream_exact"]["errors"][0]
