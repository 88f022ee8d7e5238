"""Streaming evaluation: a long stream of held-out clips over background noise, its features, and
the detection-error trade-off (DET) on it.

A stream lays clips (keywords, unknown words, silence) in random order with random gaps over the
background-noise recordings, in one or more passes over the clips (each pass: a new order, new
gaps, new clip gains and another stretch and level of noise). Features are computed once per
20 ms frame over the whole stream; a window of 49 frames equals the features of that second of
audio, so emission e of a network deciding every k frames reads frames [e*k, e*k + 49), i.e.
samples [320 e k, 320 e k + 15840), and its decision exists at the end of that span
(`emission_samples`): the time a detection is counted at.

Two users: paper B (QKeras models on windows every `hop_frames`, posteriors smoothed per keyword,
each run above a threshold one detection: `evaluate_model`) and the always-on IP (logits per
emission through the keyword detector of hw/detector.py). Both count detections the same way
(qat/det_count.py). qat/eval_stream.py builds the ≥ 1 hour stream of the Speech Commands testing
list with this module and caches it.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from qat.data.clips import PCM_SCALE
from qat.data.labels import CLASSES, CLIP_SAMPLES, KEYWORDS, SAMPLE_RATE
from qat.features import FRAME_LENGTH, FRAME_STEP, as_spec, frame_features, log_mel

WINDOW_FRAMES = 49
WINDOW_SAMPLES = (WINDOW_FRAMES - 1) * FRAME_STEP + FRAME_LENGTH  # 15,840: the audio 49 frames hear
KEYWORD_IDS = [CLASSES.index(k) for k in KEYWORDS]
SPEECH_LEVEL = 0.05  # MLPerf Tiny's wakeword windows: the clip trimmed to samples above 5 % of its peak
FEATURE_CHUNK_FRAMES = 30_000  # frames featurized at a time (10 minutes; ~60 MB of windowed audio)


class StreamError(ValueError):
    """A stream cannot be built or featurized from what was given; the message says what to do."""


@dataclass
class Stream:
    audio: np.ndarray  # float32 in [-1, 1], or int16 PCM (k stands for k / PCM_SCALE)
    events: list  # (start_sample, end_sample, class index) of each clip laid in the stream
    speech: list | None = None  # (start, end) of the spoken part of each event; None: the whole clip
    clips: list | None = None  # which source clip each event is

    @property
    def hours(self) -> float:
        return len(self.audio) / SAMPLE_RATE / 3600.0

    def speech_spans(self) -> list:
        return self.speech if self.speech is not None else [(s, e) for s, e, _ in self.events]


def speech_span(clip: np.ndarray) -> tuple[int, int]:
    """First and one past the last sample above SPEECH_LEVEL of the clip's peak (MLPerf Tiny's
    streaming wakeword trims its wakewords so, on the signed waveform); the whole clip if silent."""
    peak = float(np.max(clip)) if len(clip) else 0.0
    above = np.flatnonzero(clip > SPEECH_LEVEL * peak) if peak > 0 else []
    return (int(above[0]), int(above[-1]) + 1) if len(above) else (0, len(clip))


def build_stream(audio, labels: np.ndarray, noises: list, seed: int = 0, gap_s=(0.5, 2.0),
                 noise_volume: float = 0.05, min_seconds: float = 0.0, gain_db=(0.0, 0.0),
                 noise_db=(0.0, 0.0)) -> Stream:
    """Every clip in random order with random gaps, over looped background noise; deterministic
    per seed. Passes over the clips repeat (a new order, gaps and, where the ranges are not (0, 0),
    clip gains gain_db and noise levels noise_db around noise_volume, uniform in dB) until the
    stream lasts `min_seconds`; every pass is complete, so every clip is in the stream, once per
    pass. The defaults (one pass, no gains) draw exactly what the first version drew."""
    rng = np.random.default_rng(seed)
    n = len(audio)
    if n == 0:
        raise StreamError("build_stream: no clips to lay in the stream")
    passes, pos = [], 0  # per pass: order, gaps, gains and where it starts
    while not passes or pos < min_seconds * SAMPLE_RATE:
        order = rng.permutation(n)
        gaps = (rng.uniform(*gap_s, n) * SAMPLE_RATE).astype(int)
        gains = 10 ** (rng.uniform(*gain_db, n) / 20) if tuple(gain_db) != (0.0, 0.0) else np.ones(n)
        passes.append((order, gaps, gains, pos))
        pos += int(gaps.sum()) + n * CLIP_SAMPLES
    total = pos + SAMPLE_RATE
    stream = np.zeros(total, np.float32)
    if noises:
        bed = np.concatenate([x.astype(np.float32) for x in noises])
        for p, (*_, start) in enumerate(passes):  # each pass its own stretch and level of the bed
            end = passes[p + 1][3] if p + 1 < len(passes) else total
            offset = int(rng.integers(0, len(bed)))
            level = noise_volume * (10 ** (rng.uniform(*noise_db) / 20) if tuple(noise_db) != (0.0, 0.0) else 1.0)
            stream[start:end] += level * np.resize(np.roll(bed, -offset), end - start)
    events, speech, clips, pos = [], [], [], 0
    for order, gaps, gains, _ in passes:
        for i, gap, gain in zip(order, gaps, gains):
            pos += int(gap)
            clip = np.asarray(audio[i], np.float32)
            stream[pos:pos + CLIP_SAMPLES] += gain * clip
            s0, s1 = speech_span(clip)
            events.append((pos, pos + CLIP_SAMPLES, int(labels[i])))
            speech.append((pos + s0, pos + s1))
            clips.append(int(i))
            pos += CLIP_SAMPLES
    return Stream(np.clip(stream, -1, 1), events, speech, clips)


def emission_count(n_frames: int, hop_frames: int) -> int:
    """Emissions (windows of 49 frames, one every hop_frames) in n_frames frames."""
    return max(0, (n_frames - WINDOW_FRAMES) // hop_frames + 1)


def emission_samples(emissions, hop_frames: int) -> tuple[np.ndarray, np.ndarray]:
    """(start, end) sample of the audio each emission's window hears; `end` is when it decides."""
    start = np.asarray(emissions, np.int64) * hop_frames * FRAME_STEP
    return start, start + WINDOW_SAMPLES


def stream_frames(audio: np.ndarray, kind) -> np.ndarray:
    """(F, 10) MFCC or (F, 40) log-mel (by default; a run's data.features otherwise) of every 20 ms
    frame of the stream, unnormalized: the rows of features.compute for any one-second window
    (computed a chunk of frames at a time). `kind`: a feature kind or a qat.features.FeatureSpec."""
    spec = as_spec(kind)
    if spec.kind not in ("mfcc", "logmel"):
        raise StreamError(f"stream features of kind {spec.kind!r}: per-frame features exist for 'mfcc' and 'logmel' "
                          "(a raw-waveform model reads samples, not frames)")
    pcm = np.issubdtype(np.asarray(audio[:0]).dtype, np.integer)
    n_frames = max(0, 1 + (len(audio) - FRAME_LENGTH) // FRAME_STEP)
    out = np.empty((n_frames, spec.coefficients if spec.kind == "mfcc" else spec.mel_bands), np.float32)
    for j0 in range(0, n_frames, FEATURE_CHUNK_FRAMES):
        j1 = min(n_frames, j0 + FEATURE_CHUNK_FRAMES)
        x = np.asarray(audio[j0 * FRAME_STEP:(j1 - 1) * FRAME_STEP + FRAME_LENGTH], np.float32)
        out[j0:j1] = frame_features(spec, log_mel((x / PCM_SCALE if pcm else x)[None], spec.mel_bands)[0])
    return out


def normalize_frames(frames: np.ndarray, normalizer) -> np.ndarray:
    """Per-frame features scaled as the run's Normalizer scales its windows (its statistics are per
    MFCC coefficient / mel band, shared over time; tests/test_det.py checks the two agree)."""
    return ((frames - normalizer.mean) / normalizer.std).astype(np.float32)


def windows(frames: np.ndarray, kind, hop_frames: int, first: int = 0, count: int | None = None) -> np.ndarray:
    """The model inputs of emissions first .. first+count-1: (n, 49, 10, 1) MFCC or (n, 1960) log-mel
    (by default; `kind` may be a FeatureSpec)."""
    total = emission_count(len(frames), hop_frames)
    count = total - first if count is None else min(count, total - first)
    idx = (first + np.arange(max(count, 0)))[:, None] * hop_frames + np.arange(WINDOW_FRAMES)[None, :]
    x = frames[idx]
    return x[..., None] if as_spec(kind).kind == "mfcc" else x.reshape(len(x), -1)


def window_features(stream: Stream, kind: str, normalizer, hop_frames: int):
    """Features of every window (every hop_frames) and each window's end sample."""
    frames = stream_frames(stream.audio, kind)
    x = windows(frames, kind, hop_frames)
    return normalizer(kind, x), emission_samples(np.arange(len(x)), hop_frames)[1]


def stream_logits(model, frames: np.ndarray, kind: str, hop_frames: int, batch: int = 2048) -> np.ndarray:
    """(E, C) float logits of a Keras model on every emission of normalized stream frames."""
    total = emission_count(len(frames), hop_frames)
    parts = [np.asarray(model.predict(windows(frames, kind, hop_frames, i, batch), batch_size=batch, verbose=0))
             for i in range(0, total, batch)]
    return np.concatenate(parts) if parts else np.zeros((0, model.output_shape[-1]), np.float32)


def posteriors(model, x: np.ndarray, smooth: int = 3) -> np.ndarray:
    logits = np.asarray(model.predict(x, batch_size=1024, verbose=0), np.float64)
    p = np.exp(logits - logits.max(1, keepdims=True))
    p /= p.sum(1, keepdims=True)
    if smooth > 1:
        kernel = np.ones(smooth) / smooth
        p = np.stack([np.convolve(p[:, c], kernel, mode="same") for c in range(p.shape[1])], 1)
    return p


def posterior_detections(p: np.ndarray, end_samples: np.ndarray, threshold: float) -> tuple[np.ndarray, np.ndarray]:
    """Paper B's detections: every run of windows above the threshold is one detection of that
    keyword, at the end sample of its peak window. Returns (times, ids) in time order."""
    times, ids = [], []
    for c in KEYWORD_IDS:
        above = p[:, c] > threshold
        edges = np.flatnonzero(np.diff(np.r_[0, above.astype(int), 0]))
        for a, b in zip(edges[::2], edges[1::2]):
            times.append(end_samples[a + int(np.argmax(p[a:b, c]))])
            ids.append(c)
    order = np.argsort(times, kind="stable")
    return np.asarray(times, np.int64)[order], np.asarray(ids, np.int64)[order]


def det_points(p: np.ndarray, end_samples: np.ndarray, stream: Stream, thresholds=None, tolerance_s: float = 1.0):
    """[(threshold, false-reject rate, false alarms per hour)] of paper B's posterior detections,
    counted by qat.det_count.count_detections."""
    from qat.det_count import count_detections

    thresholds = np.linspace(0.05, 0.99, 48) if thresholds is None else thresholds
    out = []
    for thr in thresholds:
        c = count_detections(*posterior_detections(p, end_samples, thr), stream, KEYWORD_IDS, tolerance_s)
        out.append((float(thr), c["false_reject_rate"], c["false_alarms_per_hour"]))
    return out


def frr_at_budgets(points) -> dict:
    """The false-reject rate at a false-alarm budget of 1, 5 and 20 per hour (the best threshold within it)."""
    frr_at = {}
    for fa in (1.0, 5.0, 20.0):
        ok = [frr for _, frr, fah in points if fah <= fa]
        frr_at[f"frr_at_{fa:g}_fa_per_hour"] = min(ok) if ok else 1.0
    return frr_at


def evaluate_model(model, kind, normalizer, stream: Stream, hop_frames: int = 5) -> dict:
    x, ends = window_features(stream, kind, normalizer, hop_frames)
    points = det_points(posteriors(model, x), ends, stream)
    return {"points": points, "hours": stream.hours, "keyword_clips": sum(c in KEYWORD_IDS for *_, c in stream.events),
            "windows": int(len(x)), **frr_at_budgets(points)}


def pool_det(dets: list[dict]) -> dict:
    """One DET of several streams, each scored by its own model (the folds of a cross-validation,
    every fold's model on a stream of its held-out speakers): at each threshold the false rejects
    and the false alarms add up, so each stream counts by its keyword clips and its hours."""
    if not dets:
        raise StreamError("pool_det: no DET to pool")
    thresholds = [float(p[0]) for p in dets[0]["points"]]
    for d in dets[1:]:
        if [float(p[0]) for p in d["points"]] != thresholds:
            raise StreamError("pool_det: the DETs were swept over different thresholds; score them again with one sweep")
    keywords, hours = sum(d["keyword_clips"] for d in dets), sum(d["hours"] for d in dets)
    points = [(thr, sum(d["points"][i][1] * d["keyword_clips"] for d in dets) / max(keywords, 1),
               sum(d["points"][i][2] * d["hours"] for d in dets) / hours) for i, thr in enumerate(thresholds)]
    return {"points": points, "hours": hours, "keyword_clips": keywords, "streams": len(dets),
            "windows": sum(d.get("windows", 0) for d in dets), **frr_at_budgets(points)}


def run_det(run_dir, cfg, stream_cache: dict) -> dict:
    """DET of a saved run on a stream built from its own test split (one per data setting, so a
    CV fold's model hears only its held-out speakers); kept in the run's det.json, so a finished
    run is scored once (again after it is retrained)."""
    import json
    from pathlib import Path

    import tensorflow as tf

    from qat.dataset import background_noises, load_splits
    from qat.features import Normalizer
    from qat.quantizers import custom_objects

    run_dir = Path(run_dir)
    cached = run_dir / "det.json"
    if cached.exists() and cached.stat().st_mtime >= (run_dir / "metrics.json").stat().st_mtime:
        return json.loads(cached.read_text())
    key = json.dumps(cfg.data.to_dict(), sort_keys=True)
    if key not in stream_cache:
        test = load_splits(cfg.data, progress=False, splits=("test",))["test"]
        stream_cache[key] = build_stream(test.audio, test.labels, background_noises(cfg.data), seed=0)
    model = tf.keras.models.load_model(run_dir / "model.h5", custom_objects=custom_objects(), compile=False)
    out = evaluate_model(model, cfg.feature_spec(), Normalizer.load(run_dir / "normalizer.npz"), stream_cache[key])
    cached.write_text(json.dumps(out, indent=1))
    return out


def plot_det(curves: dict, path, title: str, marks: dict | None = None) -> None:
    """DET curves (false-reject rate over false alarms per hour, log x) of several systems:
    curves[label] = {"points": [(threshold, frr, fa_per_hour), ...]}; marks[label] = (fa_per_hour,
    frr) draws that system's operating point."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(6, 4.5))
    for label, det in curves.items():
        pts = [(fah, frr) for _, frr, fah in sorted(det["points"])]  # in threshold order: the path of the operating point
        line, = ax.plot([max(f, 0.1) for f, _ in pts], [r for _, r in pts], marker=".", label=label)
        if marks and label in marks:
            fah, frr = marks[label]
            ax.plot([max(fah, 0.1)], [frr], marker="o", markersize=9, fillstyle="none", color=line.get_color())
    ax.set_xscale("log")
    ax.set_xlabel("false alarms per hour (0 drawn at 0.1)")
    ax.set_ylabel("false-reject rate")
    ax.set_title(title)
    ax.grid(True, which="both", alpha=0.3)
    ax.legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)
