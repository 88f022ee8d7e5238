"""The always-on IP on real audio: a small streaming DS-CNN trained here on the shared subset (real
weights, folded batch norm, calibration), the evaluation stream of its testing list (>= 10 minutes),
the streaming golden model against the windowed one on every window, and `kwsflow stream` end to
end: every decision of the RTL with its keyword detector identical to the streaming golden model's,
cycles per hop, DET. An hour of audio under `slow`."""

from __future__ import annotations

import json

import numpy as np
import pytest

_RUN: dict = {}


def _tiny_stream_run(gsc_root, tmp_path_factory):
    """A width-8 DS-CNN unpadded in time, 3 float + 1 QAT epochs at 8 bits (once per session)."""
    if "dir" not in _RUN:
        from qat.run_config import RunConfig
        from qat.train import train

        cfg = RunConfig.from_dict({"name": "tiny_dscnn_stream", "model": "dscnn",
                                   "model_args": {"width": 8, "time_padding": "valid"},
                                   "quant": {"weight_bits": 8, "act_bits": 8, "input_bits": 8},
                                   "data": {"source": "gsc", "path": str(gsc_root)},
                                   "train": {"float_epochs": 3, "qat_epochs": 1, "batch_size": 64}})
        build = tmp_path_factory.mktemp("stream_runs")
        train(cfg, build, progress=False)
        _RUN["dir"] = build / "tiny_dscnn_stream"
    return _RUN["dir"]


def test_streaming_golden_equals_windowed_on_real_audio(gsc_root, tmp_path_factory):
    from hw.golden.model import GoldenModel
    from hw.rtl.run import graph_for_run
    from hw.stream.golden import StreamingGolden
    from hw.stream.plan import build_plan
    from qat import det
    from qat.eval_stream import evaluation_stream
    from qat.features import Normalizer

    run = _tiny_stream_run(gsc_root, tmp_path_factory)
    graph, _ = graph_for_run(run)
    plan = build_plan(graph, 2)
    stream = StreamingGolden(graph, plan)
    es = evaluation_stream(gsc_root, 600, seed=1)
    frames = es.frames("mfcc", Normalizer.load(run / "normalizer.npz"))
    raw = stream.quantize_frames(frames).reshape(len(frames), -1)
    got = stream.run(raw)
    wins = det.windows(frames, "mfcc", 2)
    want = GoldenModel(graph).run_raw(stream.golden.quantize_input(wins)).reshape(len(wins), -1)
    assert len(want) == det.emission_count(len(frames), 2) > 14_000  # >= 10 minutes of decisions
    # a decision comes as soon as the frames it reads are in: this DS-CNN never reads its window's
    # 49th frame, so a finite stream can end with one decision whose window is not complete
    assert len(got) == (len(frames) - plan.receptive_frames) // 2 + 1 and plan.receptive_frames == 48
    np.testing.assert_array_equal(got[:len(want)], want)


def _study(run, gsc_root, seconds, out_dir, **kw):
    from sim.studies.stream_study import stream_study

    return stream_study(run, gsc_root, reuse_factor=8, seconds=seconds, seed=2, timing_frames=300, out_dir=out_dir, **kw)


def test_stream_study_rtl_identical_on_real_stream(gsc_root, tmp_path_factory, tmp_path):
    run = _tiny_stream_run(gsc_root, tmp_path_factory)
    # a low threshold: a model of 4 epochs is rarely confident, and the detector must fire to be checked
    r = _study(run, gsc_root, 600, tmp_path / "stream", overrides={"stream.threshold": 0.5})
    assert r["stream"]["hours"] * 60 >= 10 and r["decisions"] > 14_000
    assert r["identical"] == r["decisions"], r["first_differing"]
    assert r["rtl_detections"] == r["golden_detections"] > 0  # the detector fired, identically
    assert r["timing"]["back_to_back_cycles_per_frame"] * 2 < r["windowed"]["ii_cycles"]
    assert r["real_time_margin"] > 1
    report = json.loads((tmp_path / "stream" / "stream_report.json").read_text())
    assert report["curves"] and (tmp_path / "stream" / "stream_det.png").stat().st_size > 0
    assert "decisions identical" in (tmp_path / "stream" / "stream_report.md").read_text()


def test_stream_cli_refuses_misaligned_decisions_before_work(gsc_root, tmp_path_factory, capsys):
    from sim.cli import main

    run = _tiny_stream_run(gsc_root, tmp_path_factory)
    code = main(["stream", "--run", str(run), "--data", str(gsc_root), "--set", "stream.decision_frames=3"])
    err = capsys.readouterr().err
    assert code == 2 and err.startswith("error:") and "conv1" in err and "multiple of 2" in err
    assert not (run / "stream").exists()  # refused before anything was built


@pytest.mark.slow
def test_stream_study_hour_of_audio(gsc_root, tmp_path_factory, tmp_path):
    run = _tiny_stream_run(gsc_root, tmp_path_factory)
    r = _study(run, gsc_root, 3600, tmp_path / "stream")
    assert r["stream"]["hours"] >= 1 and r["identical"] == r["decisions"]


class _Captured(Exception):
    pass


def test_synth_and_pnr_take_the_always_on_ip(gsc_root, tmp_path_factory, monkeypatch):
    """`make synth/pnr STREAM=1` hand the tools the same streaming RTL + detector as `make stream`
    (the tools themselves are tested in test_rtl_synth.py / test_pnr.py; Yosys on this IP is slow)."""
    import hw.pnr
    import hw.synth

    run = _tiny_stream_run(gsc_root, tmp_path_factory)

    def capture(*args, **kw):
        raise _Captured(args)

    monkeypatch.setattr(hw.synth, "synthesize_design", capture)
    with pytest.raises(_Captured) as got:
        hw.synth.synth_run(run, reuse_factor=8, stream=True, progress=False)
    design = got.value.args[0][0]
    assert design.top == "kws_stream" and design.layers[-1].module == "kws_detector"
    assert got.value.args[0][1] == run / "synth" / "stream_rf8_ice40" / "yosys"

    monkeypatch.setattr(hw.pnr, "place_and_route", capture)
    with pytest.raises(_Captured) as got:
        hw.pnr.pnr_run(run, "ecp5-25k-cabga381", reuse_factor=8, stream=True)
    files, top = got.value.args[0][:2]
    assert top == "kws_stream_pnr_shell" and {"kws_window_stream.v", "kws_detector.v"} <= {f.name for f in files}


@pytest.mark.slow
def test_synth_of_the_always_on_ip(gsc_root, tmp_path_factory):
    from hw.synth import main

    run = _tiny_stream_run(gsc_root, tmp_path_factory)
    assert main(["--run", str(run), "--stream", "--reuse-factor", "8"]) == 0
    text = (run / "synth" / "report_stream_rf8_ice40.md").read_text()
    assert "(always-on IP)" in text and "| detector |" in text and "| dw1 |" in text
