"""`make compare` (sim/studies/compare_da4ml.py): our RTL vs da4ml on one MLP, and its translation to da4ml."""

import json

import numpy as np
import pytest

from sim.studies.compare_da4ml import da4ml_plan
from qat.fixed import FixedType
from hw.rtl.layer_spec import LayerSpec


def _specs():
    inp_t = FixedType(8, 3, True, "RND_CONV", "SAT")
    acc_t = FixedType(19, 9)
    w_t, b_t = FixedType(6, 1), FixedType(8, 3)
    w = np.array([[-32, 31, 0], [1, -1, 16]])  # raw codes, (n_in, n_out)
    b = np.array([-64, 48, 3])
    return [
        LayerSpec("inp", "Input", inp_t, inp_t, (2,), (2,)),
        LayerSpec("fc1", "Dense", inp_t, acc_t, (2,), (3,), {"n_out": 3}, {"weight": (w.ravel(), w_t), "bias": (b, b_t)}),
        LayerSpec("relu1", "Activation", acc_t, FixedType(6, 3, False, "RND_CONV", "SAT"), (3,), (3,), {"activation": "relu"}),
    ]


def test_plan_carries_exact_weights_and_formats():
    plan = da4ml_plan(_specs())
    assert FixedType(8, 3).kif() == (1, 2, 5) and FixedType(6, 3, False).kif() == (0, 3, 3)
    assert plan["input"] == (1, 2, 5) and plan["n_in"] == 2
    dense, relu = plan["steps"]
    # Raw codes times their LSB: exact in binary, so da4ml sees the same integers.
    np.testing.assert_array_equal(dense["weight"] * 32, [[-32, 31, 0], [1, -1, 16]])
    np.testing.assert_array_equal(dense["bias"] * 32, [-64, 48, 3])
    assert dense["out"] == {"kif": (1, 8, 10), "round": "TRN", "overflow": "WRAP", "exact": True, "hls_round": "TRN"}
    assert relu["op"] == "relu" and relu["out"]["kif"] == (0, 3, 3) and relu["out"]["overflow"] == "SAT"
    # da4ml has no half-to-even: the nearest (half up) is used and the approximation is reported.
    assert relu["out"]["round"] == "RND" and not relu["out"]["exact"]
    assert plan["approximations"] == ["relu1: RND for RND_CONV"]


def test_plan_refuses_what_it_cannot_translate():
    specs = _specs()
    specs[2].attrs["activation"] = "sigmoid"
    with pytest.raises(ValueError, match="relu1"):
        da4ml_plan(specs)
    specs = _specs()
    specs[2].out_type = FixedType(6, 3, False, "RND_ZERO", "SAT")
    with pytest.raises(ValueError, match="RND_ZERO"):
        da4ml_plan(specs)


@pytest.mark.slow
@pytest.mark.synth
def test_compare_tiny_mlp(tmp_path):
    from sim.studies.compare_da4ml import run

    r = run(tmp_path, n_in=8, hidden=(4,), n_out=2, n_vectors=60, targets=("ice40",))
    ours, da = r["flows"]
    for flow in (ours, da):
        s = flow["synth"]["ice40"]
        assert s["lut"] > 0 and s["ff"] > 0, flow["flow"]
        assert flow["latency_cycles"] > 0 and flow["ii_cycles"] > 0
    assert ours["identical"] == ours["total"] == 60
    # da4ml's Verilog equals its own emulator on every vector, and its measured latency is what
    # its generator builds: one register per pipeline stage plus the output register, II 1.
    assert da["verilog_equals_emulator"] == 60
    assert da["latency_cycles"] == da["pipeline_stages"] + 1 and da["ii_cycles"] == 1
    # It may differ from golden only where half-up and half-to-even rounding disagree (a tie).
    assert da["identical"] + da["differing"] == 60 and da["differing_at_tie"] == da["differing"]
    saved = json.loads((tmp_path / "compare.json").read_text())
    assert saved["flows"][0]["identical"] == 60
    md = (tmp_path / "compare.md").read_text()
    assert f"| {ours['identical']} of 60 |" in md and "python -m sim.studies.compare_da4ml" in md
