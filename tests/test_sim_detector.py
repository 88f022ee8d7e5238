"""kws_detector.v against hw.detector, beat for beat: random and adversarial logit streams (ties,
margins exactly at the threshold and one below, saturated codes, N = 1, R = 0), random valid gaps
and ready backpressure, a reset in the middle of a stream; lint-clean under Verilator -Wall; one
design under Icarus as well."""

from __future__ import annotations

import numpy as np
import pytest

from hw.detector import DetectorParams, detect
from hw.rtl.emitters.detector_emitter import output_beat, read_output_beat, write_standalone
from hw.rtl.requant import pack
from hw.tools.verilator import verilator_lint
from qat.fixed import FixedType

# name: logit type, smoothing N, threshold T (raw), refractory R, keyword classes
CASES = {
    "kws12": (FixedType(8, 3), 3, 40, 20, tuple(range(2, 12))),
    "n1_r0_unsigned_t0": (FixedType(5, 5, signed=False), 1, 0, 0, (1, 2)),  # T = 0: a tie at the top fires or not by c*
    "wide_saturated": (FixedType(16, 6), 4, 30000, 2, (0, 2, 4)),
}
N_CLASSES = {"kws12": 12, "n1_r0_unsigned_t0": 3, "wide_saturated": 5}
RESET_AT = 150  # emissions before the reset of the reset test


def adversarial_stream(t: FixedType, params: DetectorParams, n: int, seed: int) -> np.ndarray:
    """Random codes, interleaved with runs that tie the top two classes, hit the margin exactly at
    T and at T-1 (the last emission of a run completes the sum to the exact margin), and saturate."""
    rng = np.random.default_rng(seed)
    c, lo, hi = params.n_classes, t.min_raw, t.max_raw
    rows = []
    while len(rows) < n:
        kind = rng.integers(6)
        a = int(rng.choice(params.keywords)) if rng.random() < 0.8 else int(rng.integers(c))
        if kind == 0:  # random, biased toward one class
            block = rng.integers(lo, hi + 1, (int(rng.integers(1, 8)), c))
            block[:, a] = np.maximum(block[:, a], rng.integers(lo, hi + 1, len(block)))
        elif kind == 1:  # a tie at the top: a and b equal, the rest lower
            b = int(rng.integers(c))
            v = int(rng.integers((lo + hi) // 2, hi + 1))
            block = rng.integers(lo, v, (params.smooth, c)) if v > lo else np.full((params.smooth, c), lo)
            block[:, [a, b]] = v
        elif kind == 2:  # saturated: one class at max, the others at min; or all equal at a rail
            block = np.full((int(rng.integers(1, 4)), c), lo if rng.random() < 0.5 else hi)
            if rng.random() < 0.7:
                block[:, :] = lo
                block[:, a] = hi
        else:  # the summed margin lands exactly on T (or T-1)
            block = rng.integers(lo, hi + 1, (params.smooth, c))
            block[:, a] = hi
            rows_before = np.array(rows[len(rows) - (params.smooth - 1):] if params.smooth > 1 else [], np.int64)
            prev = rows_before.reshape(-1, c).sum(0) if len(rows_before) == params.smooth - 1 else None
            if prev is not None:
                last = block[-1]
                others = prev + last
                others[a] = np.iinfo(np.int64).min
                want = int(others.max()) + params.threshold - (kind == 3) - int(prev[a])
                if lo <= want <= hi:
                    block = block[-1:].copy()
                    block[0, a] = want
        rows.extend(block.tolist())
    return np.array(rows[:n], np.int64)


def around_reset(t: FixedType, params: DetectorParams, codes: np.ndarray) -> np.ndarray:
    """Make a reset that forgets nothing show: the stream opens with a keyword strong enough to fire
    at the first decision (emission N-1), and the last N emissions before the reset fire after a
    quiet stretch, so the refractory count is running when the reset comes."""
    codes = codes.copy()
    strong = np.full(params.n_classes, t.min_raw)
    strong[params.keywords[-1]] = t.max_raw
    flat = np.full(params.n_classes, (t.min_raw + t.max_raw) // 2)  # margin 0, c* = class 0: no fire
    n, r = params.smooth, params.refractory
    codes[:n] = strong
    codes[RESET_AT - n - r - n:RESET_AT - n] = flat
    codes[RESET_AT - n:RESET_AT] = strong
    return codes


def bench_frames(t: FixedType, params: DetectorParams, codes: np.ndarray) -> dict:
    fire, ids = detect(codes, params)
    return {"frames_in": [[pack(row, t.width)] for row in codes],
            "frames_out": [[output_beat(row, f, i, t.width)] for row, f, i in zip(codes, fire, ids)]}


def _case(name):
    t, n, thr, r, kw = CASES[name]
    return t, DetectorParams(N_CLASSES[name], n, thr, r, kw)


def test_adversarial_streams_exercise_the_edges():
    """The streams the simulations use do hit what they are meant to: fires, refractory blocks,
    warm-up, ties and margins exactly at T."""
    from hw.detector import margins

    for name in CASES:
        t, params = _case(name)
        codes = adversarial_stream(t, params, 400, seed=1)
        best, margin = margins(codes, params.smooth)
        fire, _ = detect(codes, params)
        assert codes.min() >= t.min_raw and codes.max() <= t.max_raw
        assert fire.sum() >= 5 and (margin == params.threshold).sum() >= 3, name
        assert (margin == 0).sum() >= 3 and (codes == t.max_raw).any() and (codes == t.min_raw).any()
        if params.refractory:  # some emissions pass the threshold but stay quiet
            loose = DetectorParams(params.n_classes, params.smooth, params.threshold, 0, params.keywords)
            assert detect(codes, loose)[0].sum() > fire.sum()


def test_output_beat_layout():
    t = FixedType(6, 2)
    word = output_beat([-3, 5, 0], True, 2, t.width)
    assert read_output_beat(word, 3, t) == ([-3, 5, 0], True, 2)
    assert word >> 18 == 0b101  # fire at bit C*W, id above it


@pytest.mark.parametrize("name", sorted(CASES))
def test_detector_lint_clean(name, tmp_path):
    files, top = write_standalone(tmp_path, *_case(name))
    assert verilator_lint(files, top) == ""


@pytest.mark.sim
@pytest.mark.parametrize("name", sorted(CASES))
def test_detector_rtl_equals_golden(name, tmp_path):
    from sim.runner import run_cocotb

    t, params = _case(name)
    files, top = write_standalone(tmp_path, t, params)
    codes = around_reset(t, params, adversarial_stream(t, params, 400, seed=2))
    fire, _ = detect(codes, params)
    assert fire[params.smooth - 1] and fire[RESET_AT - params.smooth:RESET_AT].any()
    cfg = {**bench_frames(t, params, codes), "p_valid": 0.7, "p_ready": 0.6, "seed": 3, "reset_frames": RESET_AT}
    res = run_cocotb(files, top, "sim.tb_stream", tb_config=cfg, testcase="stream_exact")
    rep = res.report["stream_exact"]
    assert res.failed == 0 and rep["frames_exact"] == len(codes), rep["errors"]
    # reset after RESET_AT emissions (fires, refractory and sums live), then the stream again from the start
    res = run_cocotb(files, top, "sim.tb_stream", tb_config=cfg, testcase="reset_mid_stream")
    rep = res.report["reset_mid_stream"]
    assert res.failed == 0 and not rep["errors"] and rep["extra_valid_cycles"] == 0, rep


@pytest.mark.sim
def test_detector_icarus_agrees_with_verilator(tmp_path):
    from sim.runner import run_cocotb

    t, params = _case("kws12")
    files, top = write_standalone(tmp_path, t, params)
    codes = adversarial_stream(t, params, 200, seed=4)
    cfg = {**bench_frames(t, params, codes), "p_valid": 0.7, "p_ready": 0.6, "seed": 5}
    beats = {}
    for simulator in ("verilator", "icarus"):
        res = run_cocotb(files, top, "sim.tb_stream", tb_config=cfg, testcase="stream_exact", simulator=simulator)
        rep = res.report["stream_exact"]
        assert res.failed == 0 and rep["frames_exact"] == len(codes), (simulator, rep["errors"])
        beats[simulator] = rep["beats"]
    assert beats["icarus"] == beats["verilator"]
