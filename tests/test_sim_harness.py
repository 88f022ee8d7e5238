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


def _replay_handshakes(stats, total_in, p_valid, p_ready, seed):
    """The harness's handshake rules, replayed in Python from its probe record: the LCG, its seed
    mapping and the order of draws (valid only while idle with beats left, then ready, every
    cycle). Every accepted input beat must fall on a cycle with valid driven, every output beat on
    a cycle with ready drawn; returns the problems found."""
    mask = (1 << 64) - 1
    state = (seed * 2654435761 + 1) & mask

    def draw():
        nonlocal state
        state = (state * 6364136223846793005 + 1442695040888963407) & mask
        return (state >> 33) % 100

    ins, outs = set(stats["handshakes"][0]), set(stats["handshakes"][-1])
    problems, driving, n_in = [], False, 0
    for cycle in range(stats["cycles"]):
        if not driving and n_in < total_in and draw() < p_valid:
            driving = True
        ready = draw() < p_ready
        if cycle in ins:
            if not driving:
                problems.append(f"input beat accepted at cycle {cycle} without valid")
            n_in, driving = n_in + 1, False
        if cycle in outs and not ready:
            problems.append(f"output beat taken at cycle {cycle} without ready")
    if n_in != total_in:
        problems.append(f"{n_in} input beats replayed, {total_in} sent")
    return problems


def test_harness_probes_and_backpressure_seeds_keep_semantics(tmp_path):
    """The fast paths (probe loop compiled out, binary beat files, cached run-time objects) must not
    change what the harness does: with and without probes the same beats in the same cycles; two
    backpressure seeds give other cycle counts but the same, golden, outputs; the probe record
    obeys the handshake rules replayed independently in Python."""
    graph = to_hls(small_mlp(n_in=16, hidden=(8,), n_out=4, seed=3), tmp_path / "prj")
    in_t = read_graph(graph)[0].out_type
    x = np.random.default_rng(7).integers(in_t.min_raw, in_t.max_raw + 1, size=(300, 16))
    design = generate_rtl(graph, tmp_path / "rtl", reuse_factor=4)
    cfg = frames_for(design, x, expected_raw(graph, x))
    n_in = sum(len(f) for f in cfg["frames_in"])
    runs = {}
    for seed, probe in [(1, False), (1, True), (2, False), (2, True)]:
        runs[seed, probe] = run_harness(design, cfg["frames_in"], design.out_frame_beats, p_valid=70, p_ready=60,
                                        seed=seed, probe=probe)
    for (seed, probe), (got, stats) in runs.items():
        assert got == cfg["frames_out"], (seed, probe)
        assert stats["tlast_ok"] and stats["in_beats"] == n_in and stats["out_beats"] == len(x) * design.out_frame_beats
    for seed in (1, 2):
        plain, probed = runs[seed, False][1], runs[seed, True][1]
        assert plain["cycles"] == probed["cycles"]
        hs = probed["handshakes"]
        assert len(hs[0]) == n_in and len(hs[-1]) == len(x) * design.out_frame_beats
        assert all(len(e) == len(set(e)) and e == sorted(e) for e in hs)  # one beat per edge per cycle
        assert _replay_handshakes(probed, n_in, 70, 60, seed) == []
    assert runs[1, True][1]["handshakes"][0] != runs[2, True][1]["handshakes"][0]  # the seed matters
    # the replay can fail: another seed, or a lower ready probability, does not explain the record
    assert _replay_handshakes(runs[2, True][1], n_in, 70, 60, 1) != []
    assert _replay_handshakes(runs[1, True][1], n_in, 70, 30, 1) != []


def test_build_lock_excludes_a_second_builder_of_the_same_folder(tmp_path):
    """While one process builds a design's folder (pytest -n, two make targets), another open of
    the same lock cannot take it; a different design's lock is free, and the lock is released after."""
    import fcntl

    from sim.runner import build_lock

    def free(path):
        with open(path, "w") as f:
            try:
                fcntl.flock(f, fcntl.LOCK_EX | fcntl.LOCK_NB)
                return True
            except BlockingIOError:
                return False

    build = tmp_path / "root" / "harness_top_abc"
    with build_lock(build):
        assert not free(tmp_path / "root" / "harness_top_abc.lock")
        assert free(tmp_path / "root" / "harness_top_def.lock")
        assert not build.exists()  # the lock sits beside the folder, the builder makes the folder
    assert free(tmp_path / "root" / "harness_top_abc.lock")
