"""Compiled Verilator harness (no per-cycle Python): thousands of vectors, exact against hw.golden."""

import json

import numpy as np
import pytest

from hw.rtl import generate_rtl
from hw.rtl.layer_spec import read_graph
from sim.frames import frames_for
from sim.runner import DEFAULT_BUILD_ROOT
from sim.reference import expected_raw
from sim.testmodels import small_mlp, to_hls
from sim.verilator_harness import run_harness

pytestmark = pytest.mark.sim

RESULTS = DEFAULT_BUILD_ROOT / "results"  # a tmp dir under pytest (tests/conftest.py)


def _sweep(tmp_path, n_vectors, rf, p_valid, p_ready):
    graph = to_hls(small_mlp(n_in=16, hidden=(8,), n_out=4, seed=3), tmp_path / "prj")
    specs = read_graph(graph)
    in_t = specs[0].out_type
    x = np.random.default_rng(rf).integers(in_t.min_raw, in_t.max_raw + 1, size=(n_vectors, 16))
    y = expected_raw(graph, x)
    design = generate_rtl(graph, tmp_path / "rtl", reuse_factor=rf)
    cfg = frames_for(design, x, y)
    got, stats = run_harness(design, cfg["frames_in"], design.out_frame_beats, p_valid=p_valid, p_ready=p_ready, seed=rf)
    exact = sum(g == e for g, e in zip(got, cfg["frames_out"]))
    RESULTS.mkdir(parents=True, exist_ok=True)
    (RESULTS / f"harness_mlp_rf{rf}_n{n_vectors}.json").write_text(json.dumps({"exact": exact, "n": n_vectors, **stats}, indent=1))
    return exact, len(got), stats


def test_harness_mlp_2000_vectors_exact_with_backpressure(tmp_path):
    exact, n, stats = _sweep(tmp_path, 2000, rf=4, p_valid=70, p_ready=70)
    assert n == 2000 and exact == 2000
    assert stats["tlast_ok"] and stats["in_beats"] == 2000


@pytest.mark.slow
@pytest.mark.parametrize("rf", [1, 16, 128])
def test_harness_mlp_20000_vectors_exact(tmp_path, rf):
    exact, n, stats = _sweep(tmp_path, 20000, rf=rf, p_valid=90, p_ready=80)
    assert n == 20000 and exact == 20000 and stats["tlast_ok"]
