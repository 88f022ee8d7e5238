"""Streaming detection-error trade-off (paper B): false rejects vs false alarms per hour.

A long stream is built from held-out clips (keywords, unknown words, silence) laid over
background noise with random gaps. The model runs on the last second every `hop_frames`
feature frames (state-free streaming: frames are computed once over the whole stream and each
window is 49 consecutive frames, identical to the features of that second of audio).
Per keyword, the posterior is smoothed over a few windows; every run of windows above a
threshold is one detection. A detection near a clip of that keyword is a hit (one per clip);
any other is a false alarm. Sweeping the threshold gives the DET curve.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from qat.data.labels import CLASSES, CLIP_SAMPLES, KEYWORDS, SAMPLE_RATE
from qat.features import FRAME_STEP, as_spec, frame_features, log_mel

WINDOW_FRAMES = 49
KEYWORD_IDS = [CLASSES.index(k) for k in KEYWORDS]


@dataclass
class Stream:
    audio: np.ndarray
    events: list  # (start_sample, end_sample, class index)

    @property
    def hours(self) -> float:
        return len(self.audio) / SAMPLE_RATE / 3600.0


def build_stream(audio: np.ndarray, labels: np.ndarray, noises: list, seed: int = 0, gap_s=(0.5, 2.0),
                 noise_volume: float = 0.05) -> Stream:
    """Clips in random order with random gaps, over looped background noise."""
    rng = np.random.default_rng(seed)
    order = rng.permutation(len(audio))
    gaps = (rng.uniform(*gap_s, len(order)) * SAMPLE_RATE).astype(int)
    total = int(gaps.sum() + len(order) * CLIP_SAMPLES + SAMPLE_RATE)
    stream = np.zeros(total, np.float32)
    if noises:
        bed = np.concatenate([n.astype(np.float32) for n in noises])
        start = int(rng.integers(0, len(bed)))
        stream += noise_volume * np.resize(np.roll(bed, -start), total)
    events, pos = [], 0
    for i, gap in zip(order, gaps):
        pos += int(gap)
        stream[pos:pos + CLIP_SAMPLES] += audio[i]
        events.append((pos, pos + CLIP_SAMPLES, int(labels[i])))
        pos += CLIP_SAMPLES
    return Stream(np.clip(stream, -1, 1), events)


def window_features(stream: Stream, kind, normalizer, hop_frames: int):
    """Features of every window (ending at frame j, every hop_frames) and each window's end sample.
    `kind`: a feature kind or a qat.features.FeatureSpec (a run's data.features)."""
    spec = as_spec(kind)
    mel = frame_features(spec, log_mel(stream.audio[None], spec.mel_bands)[0])  # (F, 40) or (F, 10): as features.compute
    ends = np.arange(WINDOW_FRAMES - 1, len(mel), hop_frames)
    idx = ends[:, None] - np.arange(WINDOW_FRAMES - 1, -1, -1)[None, :]
    x = mel[idx]  # (W, 49, C)
    x = x[..., None] if spec.kind == "mfcc" else x.reshape(len(x), WINDOW_FRAMES * spec.mel_bands)
    end_samples = ends * FRAME_STEP + 480
    return normalizer(kind, x.astype(np.float32)), end_samples


def posteriors(model, x: np.ndarray, smooth: int = 3) -> np.ndarray:
    logits = np.asarray(model.predict(x, batch_size=1024, verbose=0), np.float64)
    p = np.exp(logits - logits.max(1, keepdims=True))
    p /= p.sum(1, keepdims=True)
    if smooth > 1:
        kernel = np.ones(smooth) / smooth
        p = np.stack([np.convolve(p[:, c], kernel, mode="same") for c in range(p.shape[1])], 1)
    return p


def det_points(p: np.ndarray, end_samples: np.ndarray, stream: Stream, thresholds=None, tolerance_s: float = 0.5):
    """[(threshold, false-reject rate, false alarms per hour)] over keyword classes."""
    thresholds = np.linspace(0.05, 0.99, 48) if thresholds is None else thresholds
    tol = int(tolerance_s * SAMPLE_RATE)
    targets = [(s, e, c) for s, e, c in stream.events if c in KEYWORD_IDS]
    centers = end_samples - CLIP_SAMPLES // 2
    out = []
    for thr in thresholds:
        hits, false_alarms = set(), 0
        for c in KEYWORD_IDS:
            above = p[:, c] > thr
            if not above.any():
                continue
            edges = np.flatnonzero(np.diff(np.r_[0, above.astype(int), 0]))
            for a, b in zip(edges[::2], edges[1::2]):
                peak = a + int(np.argmax(p[a:b, c]))
                t = centers[peak]
                match = [i for i, (s, e, cls) in enumerate(targets) if cls == c and s - tol <= t <= e + tol]
                if match:
                    hits.add(match[0])
                else:
                    false_alarms += 1
        out.append((float(thr), 1.0 - len(hits) / max(len(targets), 1), false_alarms / stream.hours))
    return out


def evaluate_model(model, kind, normalizer, stream: Stream, hop_frames: int = 5) -> dict:
    x, ends = window_features(stream, kind, normalizer, hop_frames)
    points = det_points(posteriors(model, x), ends, stream)
    frr_at = {}
    for fa in (1.0, 5.0, 20.0):  # false-reject rate at a false-alarm budget per hour
        ok = [frr for _, frr, fah in points if fah <= fa]
        frr_at[f"frr_at_{fa:g}_fa_per_hour"] = min(ok) if ok else 1.0
    return {"points": points, "hours": stream.hours, "keyword_clips": sum(c in KEYWORD_IDS for *_, c in stream.events),
            "windows": int(len(x)), **frr_at}


def plot_det(curves: dict, path, title: str) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(6, 4.5))
    for label, det in curves.items():
        pts = sorted((fah, frr) for _, frr, fah in det["points"])
        ax.plot([max(f, 0.1) for f, _ in pts], [r for _, r in pts], marker=".", label=label)
    ax.set_xscale("log")
    ax.set_xlabel("false alarms per hour (0 drawn at 0.1)")
    ax.set_ylabel("false-reject rate")
    ax.set_title(title)
    ax.grid(True, which="both", alpha=0.3)
    ax.legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)
