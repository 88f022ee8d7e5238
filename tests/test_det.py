"""The evaluation stream (deterministic, long enough, every clip in it, emissions mapped to samples)
and the two ways of counting detections on it (the DET rule and MLPerf Tiny's), on hand-built
streams with known hits, false alarms and false rejects."""

from __future__ import annotations

import numpy as np
import pytest

from qat import det
from qat.data.labels import CLASSES, CLIP_SAMPLES, SAMPLE_RATE
from qat.det_count import count_detections, det_curve, mlperf_counts
from qat.features import Normalizer, compute

YES, NO, UP, UNKNOWN = (CLASSES.index(c) for c in ("yes", "no", "up", "_unknown_"))
S = SAMPLE_RATE


def clips(n=5, seed=0):
    rng = np.random.default_rng(seed)
    audio = np.zeros((n, CLIP_SAMPLES), np.float32)
    for i in range(n):  # a burst of "speech" somewhere in each clip
        a = int(rng.integers(0, CLIP_SAMPLES // 2))
        audio[i, a:a + 4000] = rng.normal(0, 0.2, 4000)
    return audio, np.array([YES, NO, UP, UNKNOWN, YES])[:n]


def test_stream_is_deterministic_long_enough_and_holds_every_clip():
    audio, labels = clips()
    noise = [np.random.default_rng(1).normal(0, 0.3, 3 * S).astype(np.float32)]
    kw = dict(min_seconds=40.0, gain_db=(-6.0, 3.0), noise_db=(-6.0, 6.0))
    a = det.build_stream(audio, labels, noise, seed=3, **kw)
    b = det.build_stream(audio, labels, noise, seed=3, **kw)
    c = det.build_stream(audio, labels, noise, seed=4, **kw)
    assert np.array_equal(a.audio, b.audio) and a.events == b.events and a.speech == b.speech
    assert not np.array_equal(a.audio[:len(c.audio)], c.audio[:len(a.audio)])
    assert len(a.audio) >= 40 * S
    passes = len(a.events) // len(audio)
    assert passes >= 2 and len(a.events) == passes * len(audio)
    for p in range(passes):  # each pass lays every clip once
        assert sorted(a.clips[p * len(audio):(p + 1) * len(audio)]) == list(range(len(audio)))
    for (s0, s1, cls), (p0, p1), i in zip(a.events, a.speech, a.clips):
        assert cls == labels[i] and s1 - s0 == CLIP_SAMPLES and s0 <= p0 < p1 <= s1
    starts = [s for s, _, _ in a.events]
    assert all(e + int(0.5 * S) <= s for (_, e, _), s in zip(a.events, starts[1:]))  # gaps of >= 0.5 s


def test_default_stream_is_the_first_versions_stream():
    """One pass and no gains draw exactly what build_stream always drew (paper B's numbers stay)."""
    audio, labels = clips(3)
    noise = [np.random.default_rng(1).normal(0, 0.3, 2 * S).astype(np.float32)]
    got = det.build_stream(audio, labels, noise, seed=0)
    rng = np.random.default_rng(0)
    order = rng.permutation(3)
    gaps = (rng.uniform(0.5, 2.0, 3) * S).astype(int)
    total = int(gaps.sum() + 3 * CLIP_SAMPLES + S)
    want = 0.05 * np.resize(np.roll(noise[0], -int(rng.integers(0, len(noise[0])))), total).astype(np.float32)
    pos = 0
    for i, g in zip(order, gaps):
        pos += g
        want[pos:pos + CLIP_SAMPLES] += audio[i]
        pos += CLIP_SAMPLES
    np.testing.assert_array_equal(got.audio, np.clip(want, -1, 1))


def test_speech_span_trims_below_five_percent_of_the_peak():
    clip = np.zeros(CLIP_SAMPLES, np.float32)
    clip[3000], clip[5000], clip[9000] = 0.04, 1.0, 0.06
    assert det.speech_span(clip) == (5000, 9001)
    assert det.speech_span(np.zeros(100, np.float32)) == (0, 100)


@pytest.mark.parametrize("kind", ["mfcc", "logmel"])
def test_emission_windows_are_the_features_of_their_samples(kind):
    rng = np.random.default_rng(0)
    audio = rng.normal(0, 0.1, 5 * S).astype(np.float32)
    frames = det.stream_frames(audio, kind)
    k = 3
    n = det.emission_count(len(frames), k)
    assert n == (len(frames) - 49) // k + 1 and len(frames) == 1 + (len(audio) - 480) // 320
    x = det.windows(frames, kind, k)
    assert len(x) == n
    for e in (0, 7, n - 1):
        start, end = det.emission_samples(e, k)
        assert start == 320 * k * e and end == start + 15840 and end <= len(audio)
        np.testing.assert_allclose(x[e], compute(kind, audio[None, start:start + CLIP_SAMPLES])[0], rtol=1e-4, atol=1e-4)
    norm = Normalizer(rng.normal(0, 1, frames.shape[1]).astype(np.float32), rng.uniform(0.5, 2, frames.shape[1]).astype(np.float32))
    np.testing.assert_allclose(det.windows(det.normalize_frames(frames, norm), kind, k), norm(kind, x), rtol=1e-6, atol=1e-6)
    pcm = det.stream_frames(np.round(audio * 32768).astype(np.int16), kind)  # int16 PCM reads as k / 32768
    np.testing.assert_allclose(pcm, frames, rtol=1e-3, atol=1e-3)


def hand_stream():
    """One hour of silence with five clips: yes at 10 s, no at 20 s, yes at 30 s, unknown at 40 s,
    up at 50 s; the spoken part of each is [start + 0.3 s, start + 0.6 s)."""
    at = [(10, YES), (20, NO), (30, YES), (40, UNKNOWN), (50, UP)]
    events = [(t * S, t * S + CLIP_SAMPLES, c) for t, c in at]
    speech = [(s + int(0.3 * S), s + int(0.6 * S)) for s, _, _ in events]
    return det.Stream(np.zeros(3600 * S, np.int16), events, speech)


def sec(*ts):
    return np.array([int(t * S) for t in ts], np.int64)


def test_det_rule_counts_hits_duplicates_wrong_words_and_misses():
    stream = hand_stream()
    kw = [YES, NO, UP]
    times = sec(10.9, 11.5, 20.8, 31.95, 40.9, 48.0, 52.5)
    ids = np.array([YES, YES, UP, YES, YES, NO, UP])
    c = count_detections(times, ids, stream, kw)
    # hits: yes@10 (10.9), yes@30 (31.95 <= 31 + 1.0 tolerance); up@50 missed (52.5 > 52.0), no@20 missed
    # false alarms: 11.5 (second detection of the first yes), 20.8 (up during "no": the wrong keyword),
    # 40.9 (a keyword during an unknown word), 48.0 (nothing heard), 52.5 (after up's tolerance)
    assert (c["hits"], c["false_rejects"], c["false_alarms"], c["wrong_keyword"]) == (2, 2, 5, 1)
    assert c["keyword_clips"] == 4 and c["false_reject_rate"] == 0.5 and c["false_alarms_per_hour"] == 5.0
    assert count_detections(times, ids, stream, kw, tolerance_s=1.5)["hits"] == 3  # 52.5 now hears up
    # two clips of one class hearing one detection: the earlier one without a hit takes it
    both = det.Stream(stream.audio, [(0, S, YES), (S + S // 2, 2 * S + S // 2, YES)])
    assert count_detections(sec(1.7, 1.8), [YES, YES], both, kw)["hits"] == 2


def test_mlperf_rule_absorbs_detections_in_the_window_and_debounces_the_rest():
    stream = hand_stream()
    kw = [YES, NO, UP]
    # yes@10: speech ends 10.6, window to 11.6: 10.4, 10.9 and 11.5 are one true positive
    # no@20: 21.65 is past 20.6 + 1.0: a false negative, and a false positive of "no"
    # yes@30: no detection: a false negative
    # up@50: 51.6 (= 50.6 + 1.0, the edge) is a true positive
    # yes false positives at 45.0, 45.5 (debounced), 46.01 (more than 1 s after 45.0: counted), 46.9 (debounced)
    times = sec(10.4, 10.9, 11.5, 21.65, 45.0, 45.5, 46.01, 46.9, 51.6)
    ids = np.array([YES, YES, YES, NO, YES, YES, YES, YES, UP])
    m = mlperf_counts(times, ids, stream, kw)
    assert (m["true_positives"], m["false_negatives"], m["false_positives"]) == (2, 2, 3)
    assert m["false_negative_rate"] == 0.5 and m["false_positives_per_hour"] == 3.0
    # the same detections by the DET rule: clip spans and one hit per clip
    c = count_detections(times, ids, stream, kw)
    assert (c["hits"], c["false_alarms"]) == (3, 6)


def test_det_curve_is_monotonic_without_refractory():
    """Without a refractory time a higher threshold only removes detections: fewer false alarms,
    no more hits. (With one it need not be: a false alarm that goes away frees a later hit.)"""
    from hw.detector import evaluate
    from qat.stream_config import StreamConfig

    rng = np.random.default_rng(0)
    stream = det.Stream(np.zeros(600 * S, np.int16), [(t * S, t * S + S, YES if t % 2 else NO) for t in range(5, 590, 3)])
    logits = rng.normal(0, 1, (det.emission_count(30_000, 2), len(CLASSES)))
    for e0, e1, c in stream.events:  # the clip's own class is likelier while it is heard
        logits[e0 // 640:e1 // 640, c] += 1.5
    cfg = StreamConfig(refractory_s=0.0, threshold=2.0)
    out = evaluate(logits, stream, cfg, np.linspace(0, 6, 25))
    frr = [p[1] for p in out["points"]]
    fah = [p[2] for p in out["points"]]
    assert frr == sorted(frr) and fah == sorted(fah, reverse=True) and frr[0] < 0.5 and fah[-1] < fah[0]
    at = [p for p in out["points"] if p[0] == 2.0][0]
    assert (out["det"]["false_reject_rate"], out["det"]["false_alarms_per_hour"]) == at[1:]
    # on codes: the same detections as the floats they stand for
    from qat.fixed import FixedType

    t = FixedType(16, 8)
    codes = np.round(logits / t.lsb).astype(np.int64)
    assert evaluate(codes, stream, cfg, [0.5, 2.0], t)["points"] == evaluate(codes * t.lsb, stream, cfg, [0.5, 2.0])["points"]


def test_det_plot_draws_several_curves(tmp_path):
    curves = {"float": {"points": [(0.1, 0.5, 10.0), (0.5, 0.7, 0.0)]}, "8-bit RTL": {"points": [(1, 0.6, 3.0)]}}
    det.plot_det(curves, tmp_path / "det.png", "DET", marks={"float": (10.0, 0.5)})
    assert (tmp_path / "det.png").stat().st_size > 1000


def test_evaluation_stream_of_the_testing_list(gsc_root):
    from qat.data.speech_commands import listed_refs
    from qat.eval_stream import evaluation_stream

    a = evaluation_stream(gsc_root, seconds=600, seed=1)
    b = evaluation_stream(gsc_root, seconds=600, seed=1)
    n = len(listed_refs(gsc_root))
    assert np.array_equal(a.stream.audio, b.stream.audio) and a.stream.events == b.stream.events
    assert a.stream.audio.dtype == np.int16 and len(a.stream.audio) >= 600 * S
    assert sorted(set(a.stream.clips)) == list(range(n)) and a.info["list_clips"] == n
    assert a.info["keyword_clips"] + a.info["unknown_clips"] == len(a.stream.events)
    frames = a.frames("mfcc")
    assert frames.shape == (1 + (len(a.stream.audio) - 480) // 320, 10) and np.isfinite(frames).all()


def test_pooled_det_adds_the_counts_of_every_stream():
    """Two folds' streams: 2 and 1 false rejects of 4 and 6 keywords, 5 and 3 false alarms in 0.5 h
    and 1.5 h at threshold 0.5 -> 3 of 10 and 8 in 2 h; not the mean of the two rates (0.33, 6)."""
    a = {"points": [(0.5, 0.5, 10.0), (0.9, 0.75, 2.0)], "hours": 0.5, "keyword_clips": 4, "windows": 10}
    b = {"points": [(0.5, 1 / 6, 2.0), (0.9, 0.5, 0.0)], "hours": 1.5, "keyword_clips": 6, "windows": 30}
    pooled = det.pool_det([a, b])
    assert [tuple(round(v, 12) for v in p) for p in pooled["points"]] == [(0.5, 0.3, 4.0), (0.9, 0.6, 0.5)]
    assert (pooled["hours"], pooled["keyword_clips"], pooled["streams"], pooled["windows"]) == (2.0, 10, 2, 40)
    assert pooled["frr_at_1_fa_per_hour"] == pytest.approx(0.6) and pooled["frr_at_5_fa_per_hour"] == pytest.approx(0.3)
    assert det.pool_det([a])["points"] == a["points"]
    with pytest.raises(det.StreamError, match="different thresholds"):
        det.pool_det([a, {**b, "points": [(0.4, 0.1, 1.0), (0.9, 0.5, 0.0)]}])
    with pytest.raises(det.StreamError, match="no DET"):
        det.pool_det([])
