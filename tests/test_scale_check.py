"""The scale check's generated archive: raw-archive layout the real loader reads, reused when
complete; the stage measurement and the CLI's error line (the 100k-clip run itself is manual)."""

import json
import sys

import numpy as np
import soundfile as sf

from qat.data import scale_check
from qat.data.labels import KEYWORDS


def test_tiny_generated_archive_loads(tmp_path):
    from qat.data.speech_commands import scan_raw_archive
    from qat.dataset import DataConfig, load_splits

    root = scale_check.generate(tmp_path / "a", 300, seed=2, progress=False)
    wavs = sorted(root.glob("*/*.wav"))
    clips = [w for w in wavs if w.parent.name != "_background_noise_"]
    assert len(clips) == 300 and {w.parent.name for w in clips} <= set(KEYWORDS + scale_check.UNKNOWN_WORDS)
    assert all("_nohash_" in w.name for w in clips)
    info = sf.info(str(clips[0]))
    assert (info.samplerate, info.channels, info.subtype) == (16000, 1, "PCM_16") and info.frames <= 16000
    listed = {s: (root / f).read_text().split() for s, f in (("validation", "validation_list.txt"), ("test", "testing_list.txt"))}
    assert listed["validation"] and listed["test"] and not set(listed["validation"]) & set(listed["test"])
    refs, problems = scan_raw_archive(root)
    assert problems == []
    speakers = {s: {r.speaker for r in refs[s] if r.speaker != "silence"} for s in refs}
    assert not speakers["train"] & speakers["test"] and not speakers["validation"] & speakers["test"]
    splits = load_splits(DataConfig(source="gsc", path=str(root)), progress=False)
    assert {s: len(c.labels) for s, c in splits.items()} == {s: len(r) for s, r in refs.items()}
    x = splits["train"].audio[:10]
    assert x.dtype == np.float32 and np.abs(x).max() > 0.05
    stamp = (root / ".generated.json").stat().st_mtime_ns
    assert scale_check.generate(root, 300, seed=2, progress=False) == root  # complete: reused
    assert (root / ".generated.json").stat().st_mtime_ns == stamp
    assert scale_check.run_stage("load_warm", root)["clips"]["train"] == len(splits["train"].labels)


def test_measure_reports_a_childs_result_and_peak_rss(tmp_path):
    code = "import json, numpy as np; a = np.ones(40 * 2**20 // 8); print(json.dumps({'sum': float(a.sum())}))"
    result, wall, rss, status = scale_check.measure([sys.executable, "-c", code], tmp_path, None, tmp_path / "c.log")
    assert status == 0 and result == {"sum": 40 * 2**20 // 8} and wall > 0
    assert rss > 40  # MiB: the child's own peak, not this process's


def test_cli_refuses_too_few_clips(tmp_path, capsys):
    assert scale_check.main(["--clips", "10", "--out", str(tmp_path / "o"), "--no-progress"]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith("error: --clips 10")
