"""`python -m hw.stream_eval`: a run's keyword detector on the evaluation stream (qat/eval_stream.py):
its DET curve and its operating point by the DET rule and by MLPerf Tiny's (qat/det_count.py).

    python -m hw.stream_eval --run build/<run> --data DIR [--seconds 3600] [--seed 0] [--set stream.threshold=3.5]

The logits are the run's QKeras model's (floats; a quantized model's outputs are on its grid).
The golden model's and the RTL's codes go through hw.detector.evaluate in the same way, with the
logits' FixedType. Writes <run>/stream_det.json and stream_det.png; prints one line.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

import numpy as np

THRESHOLDS = np.round(np.arange(0.0, 10.01, 0.25), 2)  # mean logit margins of the DET sweep


def stream_det(run_dir, data, seconds: float = 3600.0, seed: int = 0, overrides: dict | None = None) -> dict:
    from hw.convert import load_run
    from hw.detector import evaluate
    from qat import det
    from qat.eval_stream import evaluation_stream
    from qat.features import Normalizer
    from qat.run_config import RunConfig

    run_dir = Path(run_dir)
    cfg = RunConfig.load(run_dir / "config.yaml", overrides)  # bad settings fail before the stream is built
    model, _ = load_run(run_dir)
    es = evaluation_stream(data, seconds, seed)
    frames = es.frames(cfg.feature_spec(), Normalizer.load(run_dir / "normalizer.npz"))
    logits = det.stream_logits(model, frames, cfg.feature_spec(), cfg.stream.decision_frames)
    out = {"run": str(run_dir), "stream": es.info, "settings": cfg.stream.to_dict(),
           **evaluate(logits, es.stream, cfg.stream, THRESHOLDS)}
    (run_dir / "stream_det.json").write_text(json.dumps(out, indent=1))
    det.plot_det({cfg.name: out}, run_dir / "stream_det.png", f"{cfg.name}: {es.info['hours']:.2f} h testing-list stream",
                 marks={cfg.name: (out["det"]["false_alarms_per_hour"], out["det"]["false_reject_rate"])})
    return out


def main(argv=None) -> int:
    import argparse

    from hw.cli import InputError
    from qat.data.speech_commands import DatasetLayoutError
    from qat.det import StreamError
    from qat.run_config import RunConfigError, parse_override

    ap = argparse.ArgumentParser(prog="python -m hw.stream_eval", description=__doc__.split("\n\n")[0])
    ap.add_argument("--run", required=True, help="training run folder (model.h5, config.yaml, normalizer.npz)")
    ap.add_argument("--data", required=True, help="Speech Commands folder with testing_list.txt and _background_noise_/")
    ap.add_argument("--seconds", type=float, default=3600.0, help="least length of the stream (whole passes)")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--set", action="append", default=[], metavar="stream.KEY=VALUE", help="override a setting")
    args = ap.parse_args(argv)
    try:
        out = stream_det(args.run, args.data, args.seconds, args.seed, dict(parse_override(s) for s in args.set))
    except (RunConfigError, StreamError, DatasetLayoutError) as exc:  # settings, the data, features without frames
        raise InputError(str(exc)) from None
    d, m = out["det"], out["mlperf"]
    print(f"{args.run}: {out['hours']:.2f} h, {d['keyword_clips']} keyword clips; threshold {out['threshold']}: "
          f"{d['false_reject_rate']:.1%} false rejects, {d['false_alarms_per_hour']:.1f} false alarms/h; "
          f"MLPerf Tiny: {m['true_positives']} TP, {m['false_negatives']} FN, {m['false_positives']} FP")
    return 0


if __name__ == "__main__":
    from hw.cli import run_main

    sys.exit(run_main(main, prog="python -m hw.stream_eval"))
