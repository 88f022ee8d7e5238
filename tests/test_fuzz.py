"""The random-model fuzzer (sim/fuzz.py, sim/fuzz_models.py): QKeras == golden == C sim == RTL.

Default suite: 20 seeded random models (ids show the seed) and the first 6 later seeds whose RTL is
the sequential engine (RF=seq), every one through QKeras == golden and
golden == RTL (compiled Verilator harness, the spec's bubbles and backpressure), the first 8 also
through golden == hls4ml C simulation (a g++ build costs more than a tiny design's Verilator
build); the replay of every saved regression spec; tests that the checker and the shrinker can
fail. `slow`: 1,000 more seeds through all three pairs.

Reproduce a model: ``python -m sim.fuzz --models 1 --seed S [--shrink]``.
"""

import json
from pathlib import Path

import numpy as np
import pytest

from sim import fuzz
from sim.fuzz_models import generate, make_inputs, walk
from sim.fuzz_shrink import size

DEFAULT_SEEDS = range(20)
SEQ_SEEDS = [s for s in range(20, 400) if generate(s)["rtl"]["reuse_factor"] == "seq"][:6]
CSIM_SEEDS = set(range(8))  # the stated C-simulation subset of the default suite
SLOW_SEEDS = range(1000, 2000)
REGRESSION_FILES = sorted(fuzz.REGRESSIONS.glob("*.json"))


def _assert_exact(spec, stages):
    res = fuzz.check(spec, stages)
    assert res["exact"], (f"{res['pair']} at vector {res['vector']}: {res['detail']}\n"
                          f"reproduce: python -m sim.fuzz --models 1 --seed {spec['seed']} --shrink\n{json.dumps(spec)}")
    return res


@pytest.mark.sim
@pytest.mark.parametrize("seed", [*DEFAULT_SEEDS, *SEQ_SEEDS], ids=lambda s: f"seed{s}")
def test_random_model_exact(seed):
    stages = fuzz.STAGES if seed in CSIM_SEEDS else ("golden", "rtl")
    res = _assert_exact(generate(seed), stages)
    assert all(p in res["counts"] for p in (fuzz.PAIRS[s] for s in stages))  # every asked pair ran or says why not


@pytest.mark.slow
@pytest.mark.sim
@pytest.mark.parametrize("seed", SLOW_SEEDS, ids=lambda s: f"seed{s}")
def test_random_model_exact_slow(seed):
    _assert_exact(generate(seed), fuzz.STAGES)


@pytest.mark.sim
@pytest.mark.parametrize("path", REGRESSION_FILES, ids=lambda p: p.stem)
def test_regression_spec_replays(path):
    """A saved (shrunk) spec: exact now, or, for an open bug outside this flow, still failing with
    the recorded pair (so a fix upstream shows up here and the record is flipped)."""
    record = json.loads(path.read_text())
    expect = record.get("expect", "exact")
    # an open bug is replayed with its known-gap skip off, so that it is really run
    res = fuzz.check(record["spec"], record.get("stages", fuzz.STAGES), known_gaps=expect == "exact")
    if expect == "exact":
        assert res["exact"], (res["pair"], res["detail"])
    else:
        assert res["pair"] == expect["pair"], (res["pair"], res["detail"], record.get("why"))


def test_there_is_a_regression_to_replay():
    assert REGRESSION_FILES, f"no spec under {fuzz.REGRESSIONS}: the replay path would run nothing"


# ---------------------------------------------------------------------------- the generator
def test_generator_is_seeded_and_json_round_trips():
    for seed in (0, 7, 123):
        spec = generate(seed)
        assert json.loads(json.dumps(spec)) == spec == generate(seed)
    assert generate(1) != generate(2)


def test_generator_covers_the_supported_set():
    """Over 400 specs every layer type, setting and corner the generator claims shows up."""
    seen = set()
    for seed in range(400):
        spec = generate(seed)
        seen |= {f"io:{spec['hls']['io_type']}", f"strategy:{spec['hls']['strategy']}",
                 f"backend:{spec['hls']['backend']}", f"accum:{spec['accum'] is not None}",
                 f"argmax:{spec['rtl']['argmax']}", f"balance:{'balance' in str(spec['rtl']['reuse_factor'])}",
                 f"seq:{spec['rtl']['reuse_factor'] == 'seq'}",
                 f"unsigned_in:{not spec['input']['keep_negative']}", f"rank:{len(spec['input']['shape'])}"}
        for layer in fuzz_layers(spec):
            seen.add(layer["op"])
            if layer["op"] == "conv":
                seen |= {f"conv{layer['dims']}d", f"pad:{layer['padding']}",
                         "pointwise" if set(layer["kernel"]) == {1} else "kxk",
                         "strided" if max(layer["strides"]) > 1 else "stride1"}
            if layer["op"] == "pool":
                seen.add(f"{layer['kind']}pool{layer['dims']}d")
            if layer["op"] in ("dense", "conv", "depthwise"):
                seen |= {f"spread:{layer['spread']}", f"bias:{layer['b'] is not None}"}
            if layer["op"] == "qbits":
                seen |= {f"qbits_signed:{layer['keep_negative']}", f"symmetric:{layer['symmetric']}"}
            if layer["op"] in ("pad", "crop"):
                seen.add(f"{layer['op']}{layer['dims']}d")
            if layer["op"] == "residual":
                seen.add("identity" if not any(l["op"] == "conv" for l in layer["shortcut"]) else "projection")
                seen.add(layer.get("merge", "add"))
                if any(l["op"] == "crop" for l in layer["shortcut"]):
                    seen.add("right-aligned shortcut")
    want = {"dense", "conv", "depthwise", "relu", "qbits", "pool", "flatten", "to_seq", "residual",
            "conv1d", "conv2d", "pad:same", "pad:valid", "pointwise", "kxk", "strided",
            "avgpool1d", "avgpool2d", "maxpool1d", "maxpool2d", "spread:grid", "spread:coarse", "spread:uniform",
            "bias:False", "qbits_signed:False", "symmetric:True", "identity", "projection", "add", "concat",
            "io:io_parallel", "io:io_stream", "strategy:Resource", "backend:Vivado", "accum:True", "argmax:True",
            "balance:True", "seq:True", "unsigned_in:True", "rank:1", "rank:2", "rank:3",
            "pad1d", "pad2d", "crop1d", "crop2d", "right-aligned shortcut"}
    assert want <= seen, sorted(want - seen)


def fuzz_layers(spec):
    return walk(spec["layers"])


def test_inputs_hit_ties_and_saturation():
    spec = generate(3)
    x = make_inputs(spec)
    q = spec["input"]
    lsb = 2.0 ** -(q["bits"] - q["integer"] - (1 if q["keep_negative"] else 0))
    codes = x / lsb
    assert np.mean(np.abs(codes - np.floor(codes) - 0.5) < 1e-9) > 0.2  # exact ties of the input quantizer
    hi = (2 ** (q["bits"] - (1 if q["keep_negative"] else 0)) - 1) * lsb
    assert (x > hi).any() and np.all(x[len(x) - 8] == hi)  # beyond the range; the all-max edge vector


# ---------------------------------------------------------------------------- the checker can fail
TINY = {"seed": 5, "input": {"shape": [6], "bits": 6, "integer": 2, "keep_negative": True},
        "layers": [{"op": "dense", "name": "fc", "units": 3, "w": [5, 1], "b": [6, 2], "spread": "grid"},
                   {"op": "qbits", "name": "out", "bits": 9, "integer": 4, "keep_negative": True, "symmetric": False}],
        "hls": {"backend": "Vitis", "io_type": "io_parallel", "strategy": "Latency", "reuse_factor": 1},
        "accum": None, "rtl": {"reuse_factor": 2, "argmax": False, "p_valid": 100, "p_ready": 100},
        "inputs": {"random": 10}}
LSB = 2.0 ** -(9 - 1 - 4)  # of the output quantizer


@pytest.mark.sim
@pytest.mark.parametrize("stage", fuzz.STAGES)
def test_checker_reports_a_one_lsb_error_in_any_stage(stage, monkeypatch):
    """One stage off by one LSB in one element of vector 3: exactly that pair and vector reported."""
    import sim.check

    assert fuzz.check(TINY, (stage,))["exact"]
    if stage == "golden":
        real = fuzz._qkeras_outputs
        monkeypatch.setattr(fuzz, "_qkeras_outputs", lambda m, x: _bump(real(m, x), LSB))
    elif stage == "csim":
        real = fuzz._csim_outputs
        monkeypatch.setattr(fuzz, "_csim_outputs", lambda g, x: _bump(real(g, x), LSB))
    else:  # flip the lowest bit of one output beat the harness read back
        real = sim.check.run_harness

        def harness(design, frames, beats, **kw):
            got, stats = real(design, frames, beats, **kw)
            got[3][0] ^= 1
            return got, stats

        monkeypatch.setattr(sim.check, "run_harness", harness)
    res = fuzz.check(TINY, (stage,))
    assert not res["exact"] and res["pair"] == fuzz.PAIRS[stage] and res["vector"] == 3, res
    if stage != "rtl":
        assert np.abs(np.subtract(res["a"], res["b"])).max() == LSB


def _bump(y, lsb):
    y = np.array(y, dtype=np.float64)
    y[3, 1] += lsb
    return y


@pytest.mark.parametrize("layer_class, skipped", [("Merge", True), ("Concatenate", True), ("Dense", False)])
def test_sequential_engine_refusals_are_gaps_only_for_merges(layer_class, skipped, monkeypatch):
    """RF=seq: a merge the engine refuses by design skips the RTL pair and names it; a refusal of
    any other layer is a finding (rtl:error), as in the dataflow design."""
    from hw.errors import UnsupportedLayerError

    def refuse(*args):
        raise UnsupportedLayerError("fc", layer_class, "not in the sequential engine")

    monkeypatch.setattr(fuzz, "_rtl_check", refuse)
    res = fuzz.check({**TINY, "rtl": {**TINY["rtl"], "reuse_factor": "seq"}}, ("golden", "rtl"))
    if skipped:
        assert res["exact"] and res["counts"]["golden~rtl"] == f"skipped: known RTL gap: the sequential engine has no {layer_class} (layer 'fc')"
    else:
        assert res["pair"] == "rtl:error" and layer_class in res["detail"]
    res = fuzz.check({**TINY, "rtl": {**TINY["rtl"], "reuse_factor": 2}}, ("golden", "rtl"))
    assert res["pair"] == "rtl:error"  # the dataflow design has no such gap


# ---------------------------------------------------------------------------- the shrinker
def _has_pool(graph):
    return any(l.class_name.startswith("Pooling") for l in graph.get_layers())


def test_shrinker_keeps_only_what_the_failure_needs(monkeypatch, tmp_path):
    """An injected golden error that appears only when the graph has a pooling layer: the shrunk
    spec keeps one pooling layer (with the quantizers check_supported demands around it) and
    nothing else, on a smaller input, and replays from its JSON file."""
    real = fuzz._golden_outputs
    monkeypatch.setattr(fuzz, "_golden_outputs",
                        lambda g, x: _bump(real(g, x), 1.0) if _has_pool(g) else real(g, x))
    spec = next(s for s in map(generate, range(200))
                if len(fuzz_layers(s)) >= 6 and any(l["op"] == "pool" for l in s["layers"])
                and not any(l["op"] == "residual" for l in s["layers"]))
    first = fuzz.check(spec, ("golden",))
    assert first["pair"] == "qkeras~golden"
    small, checks = fuzz.shrink(spec, fuzz.same_failure("qkeras~golden", ("golden",)), max_checks=150)
    ops = [l["op"] for l in fuzz_layers(small)]
    assert ops.count("pool") == 1 and set(ops) <= {"pool", "relu", "qbits"} and len(ops) <= 3, (ops, small)
    assert size(small) < size(spec) and np.prod(small["input"]["shape"]) < np.prod(spec["input"]["shape"])
    assert small["hls"]["io_type"] == "io_parallel" and small["accum"] is None
    path = fuzz.save_regression(small, fuzz.check(small, ("golden",)), folder=tmp_path)
    replay = json.loads(Path(path).read_text())["spec"]
    assert fuzz.check(replay, ("golden",))["pair"] == "qkeras~golden"
    monkeypatch.setattr(fuzz, "_golden_outputs", real)
    assert fuzz.check(replay, ("golden",))["exact"]  # the failure was the injection, not the model
