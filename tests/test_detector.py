"""The keyword detector's golden model on hand-built logit streams with known answers, and the
`stream:` settings that parameterize it."""

from __future__ import annotations

import numpy as np
import pytest

from hw.detector import DetectorParams, detect, fires, margins, params_for, raw_threshold, sweep
from qat.fixed import FixedType
from qat.run_config import RunConfig, RunConfigError
from qat.stream_config import StreamConfig, refractory_emissions, threshold_code


def params(n=1, t=0, r=0, keywords=(1, 2), c=3):
    return DetectorParams(c, n, t, r, keywords)


def test_tie_goes_to_the_lower_class_with_margin_zero():
    codes = np.array([[5, 5, 1], [1, 4, 4], [0, 0, 0]])
    best, margin = margins(codes, 1)
    assert best.tolist() == [0, 1, 0] and margin.tolist() == [0, 0, 0]
    # T = 0: a tie fires if the lower tied class is a keyword (class 1), not if it is class 0
    fire, ids = detect(codes, params(t=0))
    assert fire.tolist() == [False, True, False] and ids.tolist() == [0, 1, 0]


def test_margin_exactly_at_the_threshold_fires():
    codes = np.array([[0, 7, 3], [0, 6, 3], [0, 3, 3]])  # margins 4, 3, 0
    assert detect(codes, params(t=3))[0].tolist() == [True, True, False]
    assert detect(codes, params(t=4))[0].tolist() == [True, False, False]


def test_refractory_silences_r_emissions_after_each_fire():
    codes = np.tile([0, 9, 0], (10, 1))  # every emission would fire
    fire, ids = detect(codes, params(r=3))
    assert np.flatnonzero(fire).tolist() == [0, 4, 8] and set(ids[fire]) == {1}
    assert detect(codes, params(r=0))[0].all()


def test_no_decision_during_warm_up_and_sums_over_n():
    codes = np.array([[0, 9, 0], [0, 9, 0], [0, 0, 5], [0, 0, 5], [0, 0, 5]])
    # N = 3: emissions 0 and 1 never decide; S[2] = (0, 18, 5): margin 13; S[3] = (0, 9, 10): 1; S[4] = (0, 0, 15)
    best, margin = margins(codes, 3)
    assert best.tolist() == [1, 2, 2] and margin.tolist() == [13, 1, 15]
    fire, ids = detect(codes, params(n=3, t=2))
    assert fire.tolist() == [False, False, True, False, True] and ids.tolist() == [0, 0, 1, 0, 2]
    # a reset is a new stream: the warm-up starts again, nothing from before counts
    assert detect(codes[3:], params(n=3, t=2))[0].tolist() == [False, False]


def test_only_keywords_fire():
    codes = np.array([[9, 0, 0], [0, 9, 0]])
    assert detect(codes, params(keywords=(1,)))[0].tolist() == [False, True]


def test_float_detector_equals_the_integer_one_on_the_same_values():
    rng = np.random.default_rng(0)
    t = FixedType(8, 3)
    codes = rng.integers(-128, 128, (500, 12))
    stream = StreamConfig(smooth=3, threshold=1.25, refractory_s=0.2)
    on_codes = detect(codes, params_for(stream, 12, t))
    on_floats = detect(codes * t.lsb, params_for(stream, 12))
    assert (on_codes[0] == on_floats[0]).all() and (on_codes[1] == on_floats[1]).all() and on_codes[0].any()


def test_sweep_equals_one_run_per_threshold():
    rng = np.random.default_rng(1)
    codes = rng.integers(-20, 21, (2000, 5))
    p = DetectorParams(5, 2, 0, 7, (1, 3, 4))
    for thr, got in zip([0, 5, 17, 80], sweep(codes, p, [0, 5, 17, 80])):
        want = fires(codes, DetectorParams(5, 2, thr, 7, (1, 3, 4)))
        assert (got.emissions == want.emissions).all() and (got.ids == want.ids).all()


def test_threshold_and_refractory_conversion_is_exact():
    assert threshold_code(0.5, 3, 2) == 6  # 0.5 * 3 * 4, exactly: not 7
    assert threshold_code(0.1, 3, 4) == 5  # 4.8 rounds up: a margin must reach the threshold
    assert threshold_code(0.0, 5, 7) == 0 and threshold_code(2, 1, -2) == 1  # ceil(0.5)
    assert raw_threshold(0.5, 3, FixedType(8, 6)) == 6 and raw_threshold(0.5, 3) == 1.5
    assert refractory_emissions(0.96, 2) == 24  # 0.96 / 0.04 exactly, not 25 from float noise
    assert refractory_emissions(1.0, 2) == 25 and refractory_emissions(0.05, 2) == 2 and refractory_emissions(0, 3) == 0
    s = StreamConfig(decision_frames=4, smooth=2, threshold=1.5, refractory_s=0.5, keywords=["yes", "no"])
    assert s.refractory == 7 and s.threshold_code(3) == 24 and s.keyword_ids == (2, 3) and s.hop_seconds == 0.08
    assert StreamConfig().keyword_ids == tuple(range(2, 12))


@pytest.mark.parametrize("stream, match", [
    ({"smooth": 0}, r"stream.smooth=0: an integer >= 1"),
    ({"decision_frames": 1.5}, r"stream.decision_frames=1.5"),
    ({"threshold": -1}, r"stream.threshold=-1: a number >= 0"),
    ({"threshold": float("nan")}, r"stream.threshold=nan"),
    ({"refractory_s": "1s"}, r"stream.refractory_s='1s'"),
    ({"keywords": ["yes", "maybe"]}, r"\['maybe'\] not among the classes"),
    ({"keywords": []}, r"non-empty list"),
    ({"keywords": ["yes", "yes"]}, r"named twice"),
    ({"hop": 2}, r"unknown stream setting\(s\) \['hop'\]"),
])
def test_bad_stream_settings_are_refused_by_the_run_config(stream, match):
    with pytest.raises(RunConfigError, match=match):
        RunConfig.from_dict({"name": "x", "stream": stream})


def test_stream_settings_round_trip_and_old_configs_load(tmp_path):
    cfg = RunConfig.from_dict({"name": "x", "stream": {"smooth": 5, "keywords": ["go"]}})
    cfg.save(tmp_path / "c.yaml")
    again = RunConfig.load(tmp_path / "c.yaml")
    assert again.stream == cfg.stream and again.stream.smooth == 5
    assert RunConfig.from_dict({"name": "old"}).stream == StreamConfig()  # no stream: section = defaults
