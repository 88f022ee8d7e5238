"""RTL generator without simulation: reuse-factor arithmetic, lint, clear errors, no half-written output."""

import numpy as np
import pytest

from hw.rtl import UnsupportedLayerError, generate_rtl
from hw.rtl.emitters.dense_emitter import schedule, valid_reuse_factors
from hw.rtl.layer_spec import read_graph
from hw.tools.verilator import verilator_lint
from sim.testmodels import small_mlp, to_hls


@pytest.fixture(scope="module")
def mlp_graph(tmp_path_factory):
    return to_hls(small_mlp(n_in=16, hidden=(8,), n_out=4), tmp_path_factory.mktemp("hls") / "prj")


@pytest.mark.parametrize("n_in,n_out", [(16, 8), (1960, 128), (12, 10)])
def test_schedule_multipliers_times_cycles_is_all_macs(n_in, n_out):
    for rf in valid_reuse_factors(n_in, n_out):
        ib, ob = schedule(n_in, n_out, rf, "fc", "Dense")
        assert n_in % ib == 0 and n_out % ob == 0
        assert ib * ob * rf == n_in * n_out  # hls4ml: multipliers = MACs / RF


def test_invalid_reuse_factor_names_the_layer():
    with pytest.raises(UnsupportedLayerError, match="layer 'fc9'.*reuse factor 7"):
        schedule(16, 8, 7, "fc9", "Dense")


@pytest.mark.parametrize("rf", [1, 4, 128])
def test_generated_mlp_is_verilator_lint_clean(mlp_graph, tmp_path, rf):
    design = generate_rtl(mlp_graph, tmp_path / "rtl", reuse_factor=rf)
    assert verilator_lint(design.files, design.top) == ""
    names = {p.name for p in (tmp_path / "rtl").iterdir()}
    assert {"files.f", "kws_top.core", "report.json", "report.md", "kws_top.v"} <= names
    listed = (tmp_path / "rtl" / "files.f").read_text().split()
    assert listed[-1] == "kws_top.v" and all((tmp_path / "rtl" / f).exists() for f in listed)
    rep = design.report
    assert rep["multipliers"] == sum(n_in * n_out // min(rf, n_in * n_out) for n_in, n_out in [(16, 8), (8, 4)])


def test_unsupported_layer_clear_error_and_no_stale_rtl(mlp_graph, tmp_path, monkeypatch):
    """A layer class without an RTL emitter in the layer table (here: Activation's taken away)."""
    import dataclasses

    from hw import layers

    entry = layers.by_hls4ml("Activation")
    monkeypatch.setitem(layers._BY_HLS4ML, "Activation", dataclasses.replace(entry, rtl=None))
    out = tmp_path / "rtl"
    out.mkdir()
    (out / "kws_top.v").write_text("module kws_top; endmodule\n")  # an older design that must not survive
    with pytest.raises(UnsupportedLayerError, match="layer 'relu1' \\(Activation\\): no RTL emitter"):
        generate_rtl(mlp_graph, out)
    assert not out.exists() and not (tmp_path / "rtl.partial").exists()
    assert "relu1" in (tmp_path / "rtl.FAILED.txt").read_text()


def test_accumulator_over_width_limit_names_the_layer(mlp_graph, tmp_path):
    from qat.fixed import FixedType

    specs = read_graph(mlp_graph)
    fc1 = next(s for s in specs if s.name == "fc1")
    fc1.accum = FixedType(80, 40)
    with pytest.raises(UnsupportedLayerError, match="layer 'fc1'.*width 80 exceeds"):
        generate_rtl(specs, tmp_path / "rtl")
    assert not (tmp_path / "rtl").exists()


@pytest.mark.parametrize("k", [1, 2, 3, 5, 9, 25, 125, 127])
@pytest.mark.parametrize("n_bits", [8, 16, 31])
def test_pool_division_magic_is_exact(k, n_bits):
    """kws_pool divides by the window size with a multiply-shift; it must equal floor division for
    every magnitude the accumulator can hold (checked at the ends and on a random sample)."""
    import numpy as np

    from hw.rtl.emitters.pool_emitter import division_magic

    m, s = division_magic(k, n_bits)
    top = (1 << n_bits) - 1
    sample = set(range(0, min(top, 5000) + 1)) | set(range(max(0, top - 5000), top + 1))
    sample |= {int(v) for v in np.random.default_rng(k).integers(0, top + 1, 20000)}
    sample |= {q * k + r for q in (top // k - 1, top // k) for r in (0, k - 1) if q * k + r <= top and q >= 0}
    assert all((a * m) >> s == a // k for a in sample)


def test_depthwise_multiplier_refused_with_layer_name(tmp_path):
    from hw.rtl.emitters.base import Edge
    from hw.rtl.emitters.conv_emitter import emit_depthwise
    from hw.rtl.layer_spec import LayerSpec
    from qat.fixed import FixedType

    spec = LayerSpec("dw7", "DepthwiseConv2D", FixedType(8, 2), FixedType(8, 2), (5, 5, 2), (5, 5, 4),
                     attrs={"depth_multiplier": 2})
    with pytest.raises(UnsupportedLayerError, match="layer 'dw7'.*depth_multiplier"):
        emit_depthwise(spec, Edge(2, FixedType(8, 2)), "kws_top", 1)


@pytest.mark.parametrize("text,expected", [("64", "64"), ("64,dw1=128", "64,dw1=128"), ("64, balance", "64,balance"),
                                           ("fc1=4", "fc1=4")])
def test_reuse_plan_round_trips(text, expected):
    from hw.rtl.reuse import parse_reuse

    assert str(parse_reuse(text)) == expected and str(parse_reuse(str(parse_reuse(text)))) == expected


@pytest.mark.parametrize("text,message", [("x", "positive integer"), ("64,32", "two global"), ("balance", "starting"),
                                          ("fc1=0", "positive integer")])
def test_reuse_plan_errors_say_what_to_write(text, message):
    import argparse

    from hw.rtl.reuse import parse_reuse

    with pytest.raises(argparse.ArgumentTypeError, match=message):
        parse_reuse(text)


def test_per_layer_reuse_factor_overrides_the_global_one(mlp_graph, tmp_path):
    design = generate_rtl(mlp_graph, tmp_path / "rtl", reuse_factor="4,fc1=16")
    rf = {r["layer"]: r.get("reuse_factor") for r in design.report["layers"]}
    assert rf["fc1"] == 16 and rf["fc_out"] == 4
    assert "| fc1 | Dense | 16 |" in (tmp_path / "rtl" / "report.md").read_text()


def test_balance_keeps_the_ii_with_fewer_multipliers(tmp_path):
    """Raw CNN: strided convs shrink the sequence, so at one global RF the later layers idle.
    Balancing raises their RF up to the slowest layer's cycles: same expected II, fewer multipliers."""
    from sim.testmodels import kws_model

    graph = to_hls(kws_model("raw_cnn", bits=4, seed=1, channels=(4, 8, 8, 8)), tmp_path / "prj")
    plain = generate_rtl(graph, tmp_path / "plain", reuse_factor=16).report
    bal = generate_rtl(graph, tmp_path / "bal", reuse_factor="16,balance").report
    assert bal["expected_ii_cycles"] == plain["expected_ii_cycles"]
    assert bal["multipliers"] < plain["multipliers"] / 2
    slowest = max(l["compute_cycles"] for l in plain["layers"])
    assert all(l["compute_cycles"] <= slowest for l in bal["layers"])
    fixed = generate_rtl(graph, tmp_path / "fixed", reuse_factor="16,conv4=16,balance").report
    assert {l["layer"]: l.get("reuse_factor") for l in fixed["layers"]}["conv4"] == 16  # named layers stay put


def test_requant_codes_agree_by_value_with_kws_requant_v():
    """The mode codes of hw/rtl/requant.py are the ones kws_requant.v documents and decodes (its
    header table and the `RND == k` / `OVF == k` branches); a swapped pair fails here, the exhaustive
    per-mode simulation (tests/test_sim_requant.py) shows what the swap would do."""
    import re

    from hw.rtl.generate import LIBRARY_DIR
    from hw.rtl.requant import OVF_CODE, RND_CODE

    text = (LIBRARY_DIR / "kws_requant.v").read_text()
    header = " ".join(line.lstrip("/ ") for line in text.splitlines()[:8])
    rnd_doc = dict((name, int(code)) for code, name in re.findall(r"(\d) (RND\w*|TRN\w*)", header.split("OVF")[0]))
    ovf_doc = dict((name, int(code)) for code, name in re.findall(r"(\d) (WRAP|SAT\w*)", header.split("OVF")[1]))
    assert rnd_doc == RND_CODE and ovf_doc == OVF_CODE
    # the rounding decoder tests codes 0-5 one by one; the last, default branch is RND_CONV's
    assert {int(c) for c in re.findall(r"\(RND == (\d)\)", text)} == set(RND_CODE.values()) - {RND_CODE["RND_CONV"]}
    assert RND_CODE["RND_CONV"] == max(RND_CODE.values())


def test_regenerating_keeps_the_simulation_reports_of_the_replaced_design(mlp_graph, tmp_path):
    out = tmp_path / "rtl"
    generate_rtl(mlp_graph, out, reuse_factor=1)
    (out / "sim_report.json").write_text('{"identical": 5}')
    (out / "sim_report.md").write_text("# report")
    generate_rtl(mlp_graph, out, reuse_factor=4)
    assert not (out / "sim_report.json").exists()  # it described the old design
    assert (tmp_path / "rtl.previous" / "sim_report.json").read_text() == '{"identical": 5}'
    assert (tmp_path / "rtl.previous" / "sim_report.md").exists()
