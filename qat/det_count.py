"""Counting keyword detections on a stream (qat/det.py): the DET rule, and MLPerf Tiny's.

A detection is (time, class): the sample at which the decision exists (the end of the audio its
window heard, qat.det.emission_samples) and the keyword it names.

DET rule (`count_detections`, every DET curve of the project):
- a keyword clip [start, end) is heard by a decision at time t when start <= t <= end + tolerance;
  tolerance 1.0 s by default: the window (0.99 s) of a decision up to ~1 s after the clip still
  holds part of it (and MLPerf Tiny waits the same 1.0 s after a wakeword, below);
- a detection of the clip's own class while it is heard is a hit; each clip has at most one hit
  (the earliest clip of that class which hears the detection and has none yet takes it);
- every other detection is a false alarm: a second detection of a clip already hit (the device
  answered twice), a detection of another keyword during a keyword clip (it named the wrong word;
  the clip still needs its own), and any detection during unknown words, silence or noise;
- false-reject rate = keyword clips without a hit / keyword clips; false alarms per hour of stream.

MLPerf Tiny streaming wakeword rule (`mlperf_counts`), as its scorer counts a run: mlcommons/tiny,
benchmark/runner/streaming_ww_utils.py, `calc_detection_stats(measured_timestamps_ms,
true_det_windows, false_pos_suppresion_delay_sec=1.0, debounce_time_sec=1.0)`, with the windows
built by benchmark/training/streaming_wakeword/build_long_wav.py (each wakeword trimmed to its
samples above 5 % of its peak: qat.det.speech_span) and the same rule in the training side's
str_ww_util.get_true_and_false_detections:
- for each wakeword window (t_start, t_stop) in turn: if any remaining detection falls in
  [t_start, t_stop + 1.0 s], it is one true positive and *all* those detections are removed;
  otherwise one false negative;
- the remaining detections are debounced: walking them in time order, each one removes the later
  ones within the next 1.0 s; what is left are the false positives.
The benchmark has one wakeword; with ten keywords each one is scored as its own wakeword task
(its clips are its windows, its detections the only ones that count for it) and the counts are
summed. The quality target of MLPerf Tiny v1.3 (mlcommons.org, Inference: Tiny results) is at
most 8 false positives and 8 false negatives on its test stream (20 minutes with ~50 wakewords).
The runner's first detection only marks the start of playback on the hardware; ours are exact.
"""

from __future__ import annotations

import numpy as np

from qat.data.labels import SAMPLE_RATE


def _keyword_events(stream, keywords, spans):
    keywords = set(keywords)
    return [(s0, s1, c) for (s0, s1), (_, _, c) in zip(spans, stream.events) if c in keywords]


def count_detections(times, ids, stream, keywords, tolerance_s: float = 1.0) -> dict:
    """Hits, false alarms and false rejects of detections (times in samples, ids) by the DET rule."""
    times, ids = np.asarray(times, np.int64), np.asarray(ids, np.int64)
    targets = _keyword_events(stream, keywords, [(s, e) for s, e, _ in stream.events])
    tol = int(round(tolerance_s * SAMPLE_RATE))
    by_class: dict[int, list[int]] = {}
    for i, (_, _, c) in enumerate(targets):
        by_class.setdefault(c, []).append(i)
    starts = np.array([s for s, _, _ in targets], np.int64)
    ends = np.array([e for _, e, _ in targets], np.int64) + tol
    classes = np.array([c for _, _, c in targets], np.int64)
    hit = np.zeros(len(targets), bool)
    false_alarms = wrong_keyword = 0
    order = np.argsort(times, kind="stable")
    for t, c in zip(times[order], ids[order]):
        hearing = [i for i in by_class.get(int(c), []) if starts[i] <= t <= ends[i] and not hit[i]]
        if hearing:
            hit[hearing[0]] = True
            continue
        false_alarms += 1
        wrong_keyword += bool(np.any((starts <= t) & (t <= ends) & (classes != c)))
    n = len(targets)
    return {"keyword_clips": n, "hits": int(hit.sum()), "false_rejects": int(n - hit.sum()),
            "false_alarms": false_alarms, "wrong_keyword": wrong_keyword,  # of them: another keyword heard
            "false_reject_rate": float(1 - hit.sum() / n) if n else 0.0,
            "false_alarms_per_hour": false_alarms / stream.hours}


def det_curve(detections, stream, keywords, tolerance_s: float = 1.0) -> list:
    """[(threshold, false-reject rate, false alarms per hour)] of [(threshold, times, ids)]."""
    out = []
    for thr, times, ids in detections:
        c = count_detections(times, ids, stream, keywords, tolerance_s)
        out.append((float(thr), c["false_reject_rate"], c["false_alarms_per_hour"]))
    return out


def mlperf_counts(times, ids, stream, keywords, hit_after_s: float = 1.0, debounce_s: float = 1.0) -> dict:
    """True positives, false negatives and false positives by MLPerf Tiny's streaming wakeword
    scorer (module docstring), each keyword its own wakeword, on the clips' speech spans."""
    times, ids = np.asarray(times, np.int64), np.asarray(ids, np.int64)
    after, debounce = hit_after_s * SAMPLE_RATE, debounce_s * SAMPLE_RATE
    windows = _keyword_events(stream, keywords, stream.speech_spans())
    tp = fn = fp = 0
    for c in keywords:
        left = np.sort(times[ids == c])
        for t_start, t_stop, cls in windows:
            if cls != c:
                continue
            inside = (left >= t_start) & (left <= t_stop + after)
            if inside.any():
                tp += 1
                left = left[~inside]
            else:
                fn += 1
        i = 0
        while i < len(left):  # each counted false positive silences the later ones within debounce_s
            later = (left > left[i]) & (left <= left[i] + debounce)
            left = left[~later]
            i += 1
        fp += len(left)
    return {"true_positives": tp, "false_negatives": fn, "false_positives": fp,
            "false_negative_rate": fn / (tp + fn) if tp + fn else 0.0,
            "false_positives_per_hour": fp / stream.hours, "hours": stream.hours}
