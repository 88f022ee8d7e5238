"""`kwsflow`: the console script, `kwsflow hw` on a model the test saves itself (exit 0 / 1 / 2), and
the error policy of every entry point: one ``error:`` line, no traceback, nothing printed by
TensorFlow or hls4ml unless -v.

A small MLP (sim.testmodels.small_mlp) saved as .h5 with 200 inputs on its input grid; the RTL runs
under the compiled Verilator harness (cached in $KWS_SIM_BUILD, so the second run is quick).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from sim.cli import SUBCOMMANDS, main as kwsflow
from sim.testmodels import small_mlp

REPO = Path(__file__).resolve().parents[1]
N = 200


@pytest.fixture(scope="module")
def saved(tmp_path_factory):
    """(folder, model) with mlp.h5, x.npy (200 inputs on the grid of quantized_bits(8,2)), y.npz (QKeras's outputs)."""
    d = tmp_path_factory.mktemp("byo")
    model = small_mlp(n_in=16, hidden=(8,), n_out=4, seed=3)
    model.save(d / "mlp.h5")
    codes = np.random.default_rng(0).integers(-128, 128, size=(N, 16))
    x = codes / 32.0  # fixed<8,3>: steps of 1/32 in [-4, 4)
    np.save(d / "x.npy", x)
    np.savez(d / "y.npz", y=model.predict(x, verbose=0))
    return d, model


def _run(capsys, *argv):
    code = kwsflow([str(a) for a in argv])
    out, err = capsys.readouterr()
    return code, out, err


def test_hw_exact_with_expected_and_csim_exit_0(saved, tmp_path, capsys):
    d, _ = saved
    js = tmp_path / "s.json"
    code, out, err = _run(capsys, "hw", d / "mlp.h5", "--inputs", d / "x.npy", "--expect", d / "y.npz", "--csim",
                          "--reuse-factor", "4", "--p-valid", "70", "--p-ready", "60", "--out", tmp_path / "o",
                          "--json", js)
    assert code == 0, err
    for pair in ("golden vs QKeras", "golden vs expected", "C sim vs golden", "RTL vs golden"):
        assert f"{pair}: {N} of {N} identical" in out
    summary = json.loads(js.read_text())
    assert summary["exact"] and summary["vectors"] == N and summary["ii_cycles"] > 0
    assert {p["identical"] for p in summary["pairs"].values()} == {N}
    assert (tmp_path / "o" / "rtl" / "kws_top.v").exists()


def test_hw_differing_expected_exit_1(saved, tmp_path, capsys):
    d, model = saved
    y = model.predict(np.load(d / "x.npy"), verbose=0)
    y[7, 2] += 2.0 ** -6  # one output of one vector off by one LSB of the logits
    np.save(tmp_path / "y_bad.npy", y.reshape(N, -1))
    code, out, _ = _run(capsys, "hw", d / "mlp.h5", "--inputs", d / "x.npy", "--expect", tmp_path / "y_bad.npy",
                        "--out", tmp_path / "o")
    assert code == 1
    assert f"golden vs expected: {N - 1} of {N} identical (first differing input 7)" in out
    assert f"RTL vs golden: {N} of {N} identical" in out


def test_hw_refused_model_exit_2_names_the_layer(tmp_path, capsys):
    import tensorflow as tf
    from qkeras import QActivation, QDense, quantized_bits

    inp = tf.keras.Input((8,), name="inp")
    x = QActivation(quantized_bits(8, 2, alpha=1), name="q_in")(inp)
    x = tf.keras.layers.LSTM(4, name="rnn")(tf.keras.layers.Reshape((2, 4))(x))
    x = QDense(2, kernel_quantizer=quantized_bits(4, 0, alpha=1), bias_quantizer=quantized_bits(4, 0, alpha=1))(x)
    tf.keras.Model(inp, x).save(tmp_path / "rnn.h5")
    np.save(tmp_path / "x.npy", np.zeros((3, 8)))
    code, out, err = _run(capsys, "hw", tmp_path / "rnn.h5", "--inputs", tmp_path / "x.npy", "--out", tmp_path / "o")
    assert code == 2 and out == ""
    assert err.startswith("error: layer 'rnn': LSTM is not supported")
    assert "Traceback" not in err and not (tmp_path / "o").exists()  # refused before any work


@pytest.mark.parametrize("case,message", [
    ("missing", "not found"),
    ("npz_without_x", "holds ['y'] but no 'x'"),
    ("shape", "inputs of shape (200, 15), the model takes (N, 16)"),
    ("dtype", "input of dtype bool"),
    ("nan", "1 input values are NaN or inf (first at index (5, 3))"),
    ("off_grid", "2 of 3200 input values are not values of the input quantizer quantized_bits(8, 2)"),
    ("expect_size", "799 values for 200 inputs of output shape (4,)"),
    ("not_a_model", "not a Keras model file"),
    ("rf", "a reuse factor is a positive integer"),
])
def test_hw_bad_input_one_error_line_exit_2(saved, tmp_path, capsys, case, message):
    d, _ = saved
    x = np.load(d / "x.npy")
    model, inputs, extra = d / "mlp.h5", tmp_path / "x.npy", []
    if case == "missing":
        inputs = tmp_path / "nope.npy"
    elif case == "npz_without_x":
        inputs = d / "y.npz"
    elif case == "shape":
        np.save(inputs, x[:, :15])
    elif case == "dtype":
        np.save(inputs, x > 0)
    elif case == "nan":
        x = x.copy()
        x[5, 3] = np.nan
        np.save(inputs, x)
    elif case == "off_grid":
        x = x.copy()
        x[9, 1] += 1e-3
        x[12, 0] = 7.0  # beyond the type's range
        np.save(inputs, x)
    elif case == "expect_size":
        np.save(inputs, x)
        np.save(tmp_path / "y.npy", np.zeros(N * 4 - 1))
        extra = ["--expect", tmp_path / "y.npy"]
    elif case == "not_a_model":
        np.save(inputs, x)
        model = inputs
    elif case == "rf":
        np.save(inputs, x)
        extra = ["--reuse-factor", "0"]
    code, out, err = _run(capsys, "hw", model, "--inputs", inputs, "--out", tmp_path / "o", *extra)
    assert code == 2, err
    assert out == "" and err.count("\n") == 1 and err.startswith("error: ") and message in err, err
    assert not (tmp_path / "o" / "rtl").exists()  # checked before the long work


def test_hw_quantize_inputs_rounds_instead_of_refusing(saved, tmp_path, capsys):
    d, _ = saved
    x = np.load(d / "x.npy") + 1e-3
    np.save(tmp_path / "x.npy", x)
    code, out, err = _run(capsys, "hw", d / "mlp.h5", "--inputs", tmp_path / "x.npy", "--quantize-inputs",
                          "--out", tmp_path / "o")
    assert code == 0, err
    assert f"golden vs QKeras: {N} of {N} identical" in out


def test_console_script_is_quiet_and_lists_subcommands(saved, tmp_path):
    """A fresh process, as a user runs it: only our lines on stdout, nothing at all on stderr."""
    d, _ = saved
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    env.pop("TF_CPP_MIN_LOG_LEVEL", None)  # the CLI itself must silence TensorFlow
    help_ = subprocess.run([sys.executable, "-m", "sim.cli"], capture_output=True, text=True, env=env)
    assert help_.returncode == 0 and all(name in help_.stdout for name in SUBCOMMANDS)
    r = subprocess.run([sys.executable, "-m", "sim.cli", "hw", str(d / "mlp.h5"), "--inputs", str(d / "x.npy"),
                        "--out", str(tmp_path / "o")], capture_output=True, text=True, env=env, cwd=tmp_path)
    assert r.returncode == 0, r.stderr
    assert r.stderr == ""
    assert [l.split(":")[0] for l in r.stdout.splitlines()] == ["golden vs QKeras", "RTL vs golden",
                                                                 r.stdout.splitlines()[2].split(":")[0], "summary"]
    assert r.stdout.splitlines()[2].startswith("latency ")


def test_every_subcommand_resolves():
    from sim.cli import resolve

    for name in SUBCOMMANDS:
        assert callable(resolve(name)), name


def test_unknown_subcommand_and_debug(capsys, saved):
    d, _ = saved
    assert kwsflow(["nope"]) == 2
    assert "unknown subcommand 'nope'" in capsys.readouterr().err
    with pytest.raises(FileNotFoundError):  # --debug: the traceback instead of the error: line
        kwsflow(["--debug", "rtl", "--run", str(d / "missing_run")])


@pytest.mark.parametrize("argv,message", [
    (["sim", "--run", "{d}/mlp.h5"], "is a file; --run takes a training run folder"),
    (["hls", "--run", "{d}/mlp.h5"], "is a file; --run takes a training run folder"),
    (["rtl", "--run", "{d}"], "model.h5 not found: train the run first"),
    (["sim", "--run", "{d}/fake_run", "-n", "2"], "holds ['x'], not ['y']"),
])
def test_run_commands_refuse_without_traceback(saved, capsys, argv, message):
    d, _ = saved
    fake = d / "fake_run"
    if not fake.exists():
        fake.mkdir()
        (fake / "model.h5").write_bytes((d / "mlp.h5").read_bytes())
        np.savez(fake / "test_vectors.npz", x=np.load(d / "x.npy"))  # no labels
    code, _, err = _run(capsys, *[a.format(d=d) for a in argv])
    assert code == 2 and err.startswith("error: ") and message in err and "Traceback" not in err, err


def test_flow_report_of_a_model_of_your_own(saved, tmp_path, capsys):
    """No metrics.json: the report shows the stages that have results instead of 'Not trained yet'."""
    d, _ = saved
    out = tmp_path / "o"
    assert _run(capsys, "hw", d / "mlp.h5", "--inputs", d / "x.npy", "--out", out)[0] == 0
    assert _run(capsys, "report", "--run", out)[0] == 0
    text = (out / "flow_report.md").read_text()
    assert "not trained here" in text and f"| RTL vs golden | {N} of {N} |" in text
