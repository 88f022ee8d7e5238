"""Scale check: the real data path on a generated archive of Speech Commands size, with peak
memory and wall time per stage.

    python -m qat.data.scale_check --clips 100000 --out /tmp/kws_scale [--code-dir DIR]

Writes OUT/archive/ in the raw-archive layout (word folders of `<speaker>_nohash_<n>.wav`,
16-bit 16 kHz, about 40 clips per speaker, `_background_noise_/`, validation/testing lists by
speaker, 80/10/10) with cheap signals — a tone or chirp per word plus noise: the point is scale,
not accuracy. Nine in ten clips are keywords, so the 12-class task loads about all of them
(~1.08 x --clips with 10 % unknown and 10 % silence; of the real archive's 105k clips it loads
~46k). Then each stage runs in a process of its own, measured by wait4 (peak RSS = the child's
ru_maxrss, wall time in the parent): scan, load (builds the clip cache in OUT/cache), load again
(cache hit), features (`prepare_data` + one epoch of augmented training features) and train
(`python -m qat.train`, DS-CNN, one float epoch). Prints one line; OUT/scale_check.json has it
all. `--code-dir` runs the stages with another checkout's `qat` (a `git worktree` of an older
commit): the stages use only what both share.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

import numpy as np

from qat.data.labels import BACKGROUND_NOISE_DIR, CLIP_SAMPLES, KEYWORDS, SAMPLE_RATE

UNKNOWN_WORDS = ("bed", "bird", "cat", "dog", "house")
CLIPS_PER_SPEAKER = 40  # the real archive: 105,829 clips of 2,618 speakers
GENERATOR_VERSION = 1
STAGES = ("scan", "load", "load_warm", "features", "train")
RUN_CONFIG = {"name": "scale_check", "model": "dscnn", "data": {"source": "gsc"}, "train": {"float_epochs": 1}}


class ScaleCheckError(ValueError):
    pass


def word_signals(word_index: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """One second per clip: a tone or chirp whose pitch the word sets (jittered per clip), under
    a random envelope, plus noise. float32 in [-1, 1]."""
    n = len(word_index)
    t = np.arange(CLIP_SAMPLES, dtype=np.float32) / SAMPLE_RATE
    f0 = (200.0 + 140.0 * word_index) * rng.uniform(0.9, 1.1, n)
    sweep = np.where(word_index % 2 == 0, 0.0, rng.uniform(-0.5, 0.5, n)) * f0  # odd words chirp
    phase = 2 * np.pi * (f0[:, None] * t + 0.5 * sweep[:, None] * t * t)
    start = rng.uniform(0.0, 0.4, n)[:, None]
    length = rng.uniform(0.3, 0.6, n)[:, None]
    envelope = np.clip(np.minimum(t - start, start + length - t) * 20, 0, 1)
    amp = rng.uniform(0.1, 0.5, n)[:, None]
    noise = rng.uniform(0.002, 0.02, n)[:, None] * rng.standard_normal((n, CLIP_SAMPLES))
    return np.clip(amp * envelope * np.sin(phase) + noise, -1, 1).astype(np.float32)


def generate(root: str | Path, clips: int, seed: int = 0, progress: bool = True) -> Path:
    """A raw-archive-layout folder of `clips` one-second clips (reused if already complete)."""
    from tqdm import tqdm

    from qat.data.wav import write_wav

    root = Path(root)
    stamp = root / ".generated.json"
    want = {"clips": clips, "seed": seed, "version": GENERATOR_VERSION}
    if stamp.exists() and json.loads(stamp.read_text()) == want:
        return root
    if clips < 100:
        raise ScaleCheckError(f"--clips {clips}: at least 100 (every split needs speakers and keywords)")
    shutil.rmtree(root, ignore_errors=True)
    rng = np.random.default_rng(seed)
    words = KEYWORDS + UNKNOWN_WORDS
    n_speakers = max(10, clips // CLIPS_PER_SPEAKER)
    speakers = [f"{v:08x}" for v in rng.choice(2**32, size=n_speakers, replace=False)]
    split_of = np.zeros(n_speakers, np.int64)  # 0 train, 1 validation, 2 test
    order = rng.permutation(n_speakers)
    n_hold = max(1, n_speakers // 10)
    split_of[order[:n_hold]], split_of[order[n_hold:2 * n_hold]] = 1, 2
    # nine in ten clips keywords, the rest unknown words; every speaker says each word 0+ times
    word_of = np.where(rng.random(clips) < 0.9, rng.integers(0, len(KEYWORDS), clips),
                       rng.integers(len(KEYWORDS), len(words), clips))
    speaker_of = np.arange(clips) % n_speakers  # every speaker (so every split) gets clips
    rng.shuffle(speaker_of)
    for w in words:
        (root / w).mkdir(parents=True)
    count: dict[tuple[int, int], int] = {}
    lists: dict[int, list[str]] = {1: [], 2: []}
    batch = 100  # small: a forked stage's ru_maxrss starts at this process's peak (see scale_check)
    with tqdm(total=clips, desc="writing clips", unit="clip", disable=not progress, leave=False) as bar:
        for start in range(0, clips, batch):
            idx = np.arange(start, min(start + batch, clips))
            waves = word_signals(word_of[idx], rng)
            short = rng.random(len(idx)) < 0.05  # a few short clips, as in the archive
            lengths = np.where(short, rng.integers(CLIP_SAMPLES // 2, CLIP_SAMPLES, len(idx)), CLIP_SAMPLES)
            for i, wave, n in zip(idx, waves, lengths):
                w, s = int(word_of[i]), int(speaker_of[i])
                k = count.get((w, s), 0)
                count[w, s] = k + 1
                rel = f"{words[w]}/{speakers[s]}_nohash_{k}.wav"
                write_wav(root / rel, wave[:n])
                if split_of[s]:
                    lists[int(split_of[s])].append(rel)
            bar.update(len(idx))
    noise_rng = np.random.default_rng([seed, 1])
    white = noise_rng.standard_normal(60 * SAMPLE_RATE)
    for name, noise in (("white_noise", white), ("brown_noise", np.cumsum(white)), ("hum", np.sin(np.arange(60 * SAMPLE_RATE) * 2 * np.pi * 50 / SAMPLE_RATE))):
        noise = noise - noise.mean()
        write_wav(root / BACKGROUND_NOISE_DIR / f"{name}.wav", 0.3 * noise / np.abs(noise).max())
    (root / "validation_list.txt").write_text("".join(f"{r}\n" for r in sorted(lists[1])))
    (root / "testing_list.txt").write_text("".join(f"{r}\n" for r in sorted(lists[2])))
    stamp.write_text(json.dumps(want))
    return root


def run_stage(stage: str, archive: Path) -> dict:
    """One stage in this process (called in a child by `measure`); returns what it did."""
    from qat.dataset import DataConfig, load_splits
    from qat.run_config import RunConfig

    started = time.time()
    if stage == "scan":
        from qat.data.speech_commands import scan_raw_archive

        refs, problems = scan_raw_archive(archive)
        out = {"clips": {s: len(r) for s, r in refs.items()}, "problems": len(problems)}
        done = sum(out["clips"].values())
    elif stage in ("load", "load_warm"):
        splits = load_splits(DataConfig(source="gsc", path=str(archive)), progress=False)
        out = {"clips": {s: len(c.labels) for s, c in splits.items()}}
        done = sum(out["clips"].values())
    elif stage == "features":
        from qat.train import epoch_features, prepare_data

        cfg = RunConfig.from_dict({**RUN_CONFIG, "data": {"source": "gsc", "path": str(archive)}})
        prep = prepare_data(cfg, progress=False)
        fixed = time.time() - started
        x, _ = epoch_features(prep, cfg, 0, "float")
        out = {"clips": {s: len(y) for s, (_, y) in prep.features.items()}, "epoch_features": list(x.shape),
               "fixed_features_seconds": round(fixed, 1), "epoch_features_seconds": round(time.time() - started - fixed, 1)}
        out["epoch_clips_per_second"] = round(len(x) / max(out["epoch_features_seconds"], 0.1))
        done = sum(out["clips"].values()) + len(x)
    else:
        raise ScaleCheckError(f"unknown stage {stage!r}")
    out["work_seconds"] = round(time.time() - started, 1)  # without the interpreter's start and imports
    out["clips_per_second"] = round(done / max(out["work_seconds"], 0.1))
    return out


def measure(cmd: list[str], cwd: Path, env: dict, log: Path) -> tuple[dict, float, float, int]:
    """Run a child; (last stdout line as JSON or {}, wall seconds, peak RSS MiB, exit status)."""
    started = time.time()
    with open(log, "w") as err, open(log.with_suffix(".out"), "w") as out:
        child = subprocess.Popen(cmd, cwd=cwd, env=env, stdout=out, stderr=err)
        _, status, usage = os.wait4(child.pid, 0)
        child.returncode = os.waitstatus_to_exitcode(status)
    wall = time.time() - started
    lines = log.with_suffix(".out").read_text().strip().splitlines()
    try:
        result = json.loads(lines[-1]) if lines else {}
    except json.JSONDecodeError:
        result = {}
    return result, wall, usage.ru_maxrss / 1024, child.returncode  # ru_maxrss is in KiB on Linux


def scale_check(clips: int, out: Path, code_dir: Path | None = None, progress: bool = True) -> dict:
    import resource

    out = Path(out).resolve()
    code_dir = Path(code_dir or Path(__file__).resolve().parents[2]).resolve()
    if not (code_dir / "qat" / "train.py").exists():
        raise ScaleCheckError(f"--code-dir {code_dir}: no qat/train.py there (a checkout of this project)")
    logs = out / "logs"
    logs.mkdir(parents=True, exist_ok=True)
    started = time.time()
    archive = generate(out / "archive", clips, progress=progress)
    # Linux starts a forked child's ru_maxrss at the parent's peak (exec keeps the old mm's
    # high-water mark), so no stage can report less than this
    floor = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    report = {"clips_generated": clips, "code_dir": str(code_dir), "archive": str(archive),
              "generate_seconds": round(time.time() - started, 1), "stage_rss_floor_mib": round(floor), "stages": {}}
    cache = out / "cache"
    shutil.rmtree(cache, ignore_errors=True)  # so `load` measures building the clip cache
    env = {**os.environ, "KWS_CACHE": str(cache), "PYTHONPATH": str(code_dir), "TF_CPP_MIN_LOG_LEVEL": "2"}
    config = out / "scale_check.yaml"
    import yaml

    config.write_text(yaml.safe_dump(RUN_CONFIG))
    stage_code = ("import json, runpy, sys; m = runpy.run_path(sys.argv[1]); "
                  "print(json.dumps(m['run_stage'](sys.argv[2], m['Path'](sys.argv[3]))))")
    for stage in STAGES:
        if stage == "train":
            cmd = [sys.executable, "-m", "qat.train", "--config", str(config), "--data", str(archive),
                   "--build-dir", str(out / "build"), "--fresh", "--no-progress"]
        else:  # this file's run_stage, importing `qat` from code_dir (the child's cwd)
            cmd = [sys.executable, "-c", stage_code, str(Path(__file__).resolve()), stage, str(archive)]
        result, wall, rss, code = measure(cmd, code_dir, env, logs / f"{stage}.log")
        if code != 0:
            raise ScaleCheckError(f"stage {stage} failed (exit {code}); see {logs / stage}.log")
        if stage == "train":
            metrics = json.loads((out / "build" / RUN_CONFIG["name"] / "metrics.json").read_text())
            epoch = metrics["epoch_seconds"]["float"]
            result = {"clips": metrics["clips"], "epoch_seconds": epoch, "train_wall_seconds": metrics["train_wall_seconds"],
                      "epoch_clips_per_second": round(metrics["clips"]["train"] / max(epoch, 0.1))}
        report["stages"][stage] = {"seconds": round(wall, 1), "peak_rss_mib": round(rss), **result}
    report["children_peak_rss_mib"] = round(resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024)
    report["self_peak_rss_mib"] = round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024)
    report["total_seconds"] = round(time.time() - started, 1)
    (out / "scale_check.json").write_text(json.dumps(report, indent=1))
    return report


def summary(report: dict) -> str:
    parts = [f"{name} {s['seconds']:.0f} s / {s['peak_rss_mib']} MiB" for name, s in report["stages"].items()]
    return f"scale check, {report['clips_generated']} clips: " + ", ".join(parts)


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(prog="python -m qat.data.scale_check", description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--clips", type=int, default=100_000)
    ap.add_argument("--out", required=True, help="folder for the archive, cache, logs and scale_check.json")
    ap.add_argument("--code-dir", help="checkout whose qat the stages run (default: this one)")
    ap.add_argument("--no-progress", action="store_true")
    args = ap.parse_args(argv)
    try:
        report = scale_check(args.clips, Path(args.out), Path(args.code_dir) if args.code_dir else None,
                             progress=not args.no_progress)
    except (ScaleCheckError, OSError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    print(summary(report))
    return 0


if __name__ == "__main__":
    sys.exit(main())
