"""Offline default data: keywords spoken by espeak-ng, mixed with generated noise.

Needs no download and no shared files, so the first-run demo works anywhere Debian's
`espeak-ng` is installed. The result is written in the raw Speech Commands layout (word
folders, `_background_noise_/`, validation/testing lists), so exactly the same loader,
features and training code read it. A "speaker" is one (voice, variant, pitch, speed)
combination; splits are speaker-disjoint like the real archive's. Deterministic per seed.
"""

from __future__ import annotations

import hashlib
import shutil
import subprocess
import tempfile
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np

from qat.data.labels import BACKGROUND_NOISE_DIR, CLIP_SAMPLES, KEYWORDS, SAMPLE_RATE
from qat.data.wav import read_wav, write_wav

VOICES = ("en-us", "en-gb", "en-gb-scotland", "en-gb-x-rp", "en-gb-x-gbclan", "en-gb-x-gbcwmd", "en-029", "en-us-nyc")
VARIANTS = tuple(f"m{i}" for i in range(1, 8)) + tuple(f"f{i}" for i in range(1, 6))
UNKNOWN_WORDS = ("bed", "bird", "cat", "dog", "house", "tree", "wow", "marvin")
FORMAT_VERSION = 1  # bump when the recipe changes, so old caches are not reused


class SynthesisError(RuntimeError):
    pass


def espeak_binary() -> str:
    exe = shutil.which("espeak-ng")
    if exe is None:
        raise SynthesisError("espeak-ng is not installed: run `make setup` (it installs Debian's espeak-ng) "
                             "or `apt-get install espeak-ng`, or train on real data with --data DIR")
    return exe


def speakers(n: int, seed: int) -> list[dict]:
    rng = np.random.default_rng(seed)
    # More speakers than voice/variant pairs reuse a pair with another pitch and speed.
    combos = [(v, var) for v in VOICES for var in VARIANTS]
    order = rng.permutation(len(combos))
    out = []
    for i in range(n):
        voice, variant = combos[order[i % len(combos)]]
        spk = dict(voice=voice, variant=variant, pitch=int(rng.integers(20, 80)), speed=int(rng.integers(130, 200)))
        spk["id"] = hashlib.sha1(repr(sorted(spk.items())).encode()).hexdigest()[:8]
        out.append(spk)
    return out


def speak(word: str, spk: dict, workdir: Path) -> np.ndarray:
    out = workdir / f"{spk['id']}_{word}.wav"
    cmd = [espeak_binary(), "-v", f"{spk['voice']}+{spk['variant']}", "-p", str(spk["pitch"]),
           "-s", str(spk["speed"]), "-w", str(out), word]
    res = subprocess.run(cmd, capture_output=True, text=True)
    if res.returncode != 0 or not out.exists():
        raise SynthesisError(f"espeak-ng failed for {word!r} with {spk}: {res.stderr.strip()}")
    return read_wav(out)


def place(word_audio: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """Trim espeak's silence, put the word at a random place in one second, random loudness."""
    loud = np.flatnonzero(np.abs(word_audio) > 0.02 * np.abs(word_audio).max())
    core = word_audio[loud[0]:loud[-1] + 1][:CLIP_SAMPLES]
    clip = np.zeros(CLIP_SAMPLES, np.float32)
    start = int(rng.integers(0, CLIP_SAMPLES - len(core) + 1))
    clip[start:start + len(core)] = core / (np.abs(core).max() + 1e-9) * rng.uniform(0.3, 0.9)
    return clip


def noise(kind: str, n: int, rng: np.random.Generator) -> np.ndarray:
    """White, pink (1/f) or brown (1/f^2) noise, peak-normalised."""
    white = rng.standard_normal(n)
    if kind == "white":
        x = white
    else:
        spec = np.fft.rfft(white)
        f = np.fft.rfftfreq(n)
        f[0] = f[1]
        spec /= np.sqrt(f) if kind == "pink" else f
        x = np.fft.irfft(spec, n)
    return (x / np.abs(x).max()).astype(np.float32)


def split_of(speaker_id: str, validation_percent: float = 10, testing_percent: float = 10) -> str:
    """The archive's rule: a hash of the speaker decides, so a speaker stays in one split."""
    h = int(hashlib.sha1(speaker_id.encode()).hexdigest(), 16) % 10000 / 100
    return "validation" if h < validation_percent else "test" if h < validation_percent + testing_percent else "train"


def synthesize(out_dir: str | Path, n_speakers: int = 160, seed: int = 0, noise_level: float = 0.05,
               words: tuple[str, ...] = KEYWORDS + UNKNOWN_WORDS, progress: bool = True) -> Path:
    """Write the dataset (skipped if a complete one for the same recipe is already there)."""
    from tqdm import tqdm

    out_dir = Path(out_dir)
    stamp = out_dir / ".complete"
    recipe = f"v{FORMAT_VERSION} n={n_speakers} seed={seed} noise={noise_level} words={','.join(words)}"
    if stamp.exists() and stamp.read_text() == recipe:
        return out_dir
    if out_dir.exists():
        shutil.rmtree(out_dir)
    spks = speakers(n_speakers, seed)
    # Make sure every split has speakers even for small n (the hash alone may leave one empty).
    splits = {s["id"]: split_of(s["id"]) for s in spks}
    for i, want in enumerate(("validation", "test")):
        if want not in splits.values() and len(spks) > 2:
            splits[spks[i]["id"]] = want
    rng = np.random.default_rng(seed + 1)
    bg = {k: noise(k, SAMPLE_RATE * 30, rng) for k in ("white", "pink", "brown")}
    for kind, audio in bg.items():
        write_wav(out_dir / BACKGROUND_NOISE_DIR / f"{kind}_noise.wav", audio * 0.5)

    jobs = [(w, s) for s in spks for w in words]
    lists = {"validation": [], "test": []}
    with tempfile.TemporaryDirectory() as tmp, ThreadPoolExecutor(max_workers=4) as pool:
        spoken = pool.map(lambda job: speak(job[0], job[1], Path(tmp)), jobs)
        for (word, spk), audio in tqdm(zip(jobs, spoken), total=len(jobs), desc="synthesizing keywords",
                                       unit="clip", disable=not progress):
            clip_rng = np.random.default_rng([seed, int(spk["id"], 16), words.index(word)])
            clip = place(audio, clip_rng)
            kind = ("white", "pink", "brown")[clip_rng.integers(3)]
            start = int(clip_rng.integers(0, len(bg[kind]) - CLIP_SAMPLES))
            clip = clip + noise_level * clip_rng.uniform(0, 1) * bg[kind][start:start + CLIP_SAMPLES]
            name = f"{word}/{spk['id']}_nohash_0.wav"
            write_wav(out_dir / name, clip)
            if splits[spk["id"]] in lists:
                lists[splits[spk["id"]]].append(name)
    (out_dir / "validation_list.txt").write_text("".join(f"{n}\n" for n in sorted(lists["validation"])))
    (out_dir / "testing_list.txt").write_text("".join(f"{n}\n" for n in sorted(lists["test"])))
    (out_dir / "README.md").write_text(f"Synthetic keywords (espeak-ng) for kwsflow's offline demo.\nRecipe: {recipe}\n")
    stamp.write_text(recipe)
    return out_dir
