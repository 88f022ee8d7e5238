"""The keyword detector behind the streaming network: a logit vector in per emission, keyword
detections out. The golden model of hw/rtl/verilog/kws_detector.v (bit-exact on integer codes);
the same function on float logits is the float QKeras model's detector.

Emissions e = 0, 1, ... since reset, each C logits l[e][c]:
    S[e][c] = sum of l[i][c] over i = e-N+1 .. e      (only for e >= N-1: no decision before)
    c*[e]   = the smallest c with the largest S[e][c]
    M[e]    = S[e][c*] - max over c != c* of S[e][c]   (0 when two classes tie for the top)
    fire[e] <=> e >= N-1 and c* is a keyword and M[e] >= T and no fire at emissions e-R .. e-1
    id[e]   = c* if fire[e] else 0

Why this form: a sum of N codes is exact in hardware without a divider, so the threshold is
scaled by N instead of the logits (T = ceil(threshold * N * 2**F), qat/stream_config.py); the
lead of the top logit over the runner-up needs no exponential (a lead m of one logit vector puts
the top class's softmax share at >= 1 / (1 + (C-1) e^-m)). The refractory count restarts at each
fire, as MLPerf Tiny's streaming wakeword scorer silences 1 s after each false positive it counts
(qat/det_count.py).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from qat.fixed import FixedType
from qat.stream_config import StreamConfig, threshold_code


@dataclass(frozen=True)
class DetectorParams:
    """What the detector needs; `threshold` is T in the units of the summed logits (an int for
    codes, a float for float logits)."""

    n_classes: int
    smooth: int
    threshold: int | float
    refractory: int
    keywords: tuple[int, ...]

    def __post_init__(self):
        if self.n_classes < 2:
            raise ValueError(f"n_classes={self.n_classes}: the margin needs a runner-up, so at least 2 classes")
        if self.smooth < 1 or self.refractory < 0 or self.threshold < 0:
            raise ValueError(f"smooth={self.smooth} (>= 1), refractory={self.refractory} (>= 0), "
                             f"threshold={self.threshold} (>= 0)")
        if not self.keywords or not all(0 <= k < self.n_classes for k in self.keywords):
            raise ValueError(f"keywords={self.keywords}: class indices in 0 .. {self.n_classes - 1}")

    @property
    def keyword_mask(self) -> np.ndarray:
        mask = np.zeros(self.n_classes, bool)
        mask[list(self.keywords)] = True
        return mask


def raw_threshold(threshold: float, smooth: int, logit_type: FixedType | None = None) -> int | float:
    """T of a mean margin `threshold`: integer code units for a fixed-point type, else threshold * N."""
    return threshold * smooth if logit_type is None else threshold_code(threshold, smooth, logit_type.frac)


def params_for(stream: StreamConfig, n_classes: int, logit_type: FixedType | None = None) -> DetectorParams:
    """The detector of a run's `stream:` settings, on codes of `logit_type` (None: float logits)."""
    return DetectorParams(n_classes, stream.smooth, raw_threshold(stream.threshold, stream.smooth, logit_type),
                          stream.refractory, stream.keyword_ids)


@dataclass
class Fires:
    """The emissions that fired and the class each one named."""

    emissions: np.ndarray  # (D,) int, increasing
    ids: np.ndarray  # (D,) int


def _summed(logits, smooth: int) -> np.ndarray:
    """S[e] for e >= smooth-1: exact int64 on integer codes, float64 on floats."""
    x = np.asarray(logits)
    if x.ndim != 2 or x.shape[1] < 2:
        raise ValueError(f"logits of shape {x.shape}: expected (emissions, classes >= 2)")
    if np.issubdtype(x.dtype, np.integer):
        x = x.astype(np.int64)
        if x.size and np.abs(x).max() >= (1 << 62) // smooth:
            raise ValueError("logit codes too large for exact int64 sums")
    elif np.issubdtype(x.dtype, np.floating):
        x = x.astype(np.float64)
    else:
        raise ValueError(f"logits of dtype {x.dtype}: integer codes or floats")
    n = len(x) - smooth + 1
    if n <= 0:
        return x[:0]
    return sum(x[i:i + n] for i in range(smooth))  # N slices: exact for codes, no cumsum drift for floats


def margins(logits, smooth: int) -> tuple[np.ndarray, np.ndarray]:
    """(c*[e], M[e]) for e = smooth-1 .. E-1."""
    s = _summed(logits, smooth)
    best = s.argmax(axis=1)  # the first maximum: the smallest class index wins a tie
    rows = np.arange(len(s))
    top = s[rows, best]
    rest = s.copy()
    rest[rows, best] = np.iinfo(np.int64).min if np.issubdtype(s.dtype, np.integer) else -np.inf
    return best, top - rest.max(axis=1)


def _refractory(candidates: np.ndarray, refractory: int) -> np.ndarray:
    """The candidates that fire: each fire silences the next `refractory` emissions. Sequential, but
    the walk jumps from fire to fire (never more steps than fires)."""
    if refractory == 0 or len(candidates) < 2:
        return candidates
    after = np.searchsorted(candidates, candidates + refractory + 1)  # first candidate past the quiet time
    keep, i = [], 0
    while i < len(candidates):
        keep.append(i)
        i = after[i]
    return candidates[keep]


def _fires(best, margin, params: DetectorParams, threshold) -> Fires:
    first = params.smooth - 1
    candidates = np.flatnonzero(params.keyword_mask[best] & (margin >= threshold))
    fired = _refractory(candidates, params.refractory)
    return Fires(fired + first, best[fired])


def fires(logits, params: DetectorParams) -> Fires:
    return _fires(*margins(logits, params.smooth), params, params.threshold)


def sweep(logits, params: DetectorParams, thresholds) -> list[Fires]:
    """`fires` for each threshold (raw units, like params.threshold), the margins computed once."""
    best, margin = margins(logits, params.smooth)
    return [_fires(best, margin, params, t) for t in thresholds]


def detect(logits, params: DetectorParams) -> tuple[np.ndarray, np.ndarray]:
    """What the RTL emits per emission besides the logits: fire (E,) bool and id (E,) int."""
    got = fires(logits, params)
    fire = np.zeros(len(logits), bool)
    ids = np.zeros(len(logits), np.int64)
    fire[got.emissions] = True
    ids[got.emissions] = got.ids
    return fire, ids


def evaluate(logits, stream, cfg: StreamConfig, thresholds, logit_type: FixedType | None = None) -> dict:
    """The detector of `cfg` on a stream's emissions (logits (E, C): float, or codes of logit_type):
    DET points [(threshold, false-reject rate, false alarms per hour)] over `thresholds` (mean
    margins, user units), and at cfg.threshold the DET rule's counts and MLPerf Tiny's."""
    from qat.det import emission_samples
    from qat.det_count import count_detections, det_curve, mlperf_counts

    params = params_for(cfg, np.shape(logits)[1], logit_type)
    raw = [raw_threshold(t, cfg.smooth, logit_type) for t in thresholds]
    found = sweep(logits, params, raw)
    times = [emission_samples(f.emissions, cfg.decision_frames)[1] for f in found]
    points = det_curve([(t, x, f.ids) for t, x, f in zip(thresholds, times, found)], stream, params.keywords)
    at = fires(logits, params)
    at_times = emission_samples(at.emissions, cfg.decision_frames)[1]
    return {"points": points, "threshold": cfg.threshold, "hours": stream.hours,
            "det": count_detections(at_times, at.ids, stream, params.keywords),
            "mlperf": mlperf_counts(at_times, at.ids, stream, params.keywords)}
