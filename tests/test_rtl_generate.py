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


@pytest.mark.parametrize("case,want", [
    # DS-CNN at one multiplier a layer: depthwise 3x3x64 (a word = 1 channel of a tap), pointwise
    # 64 -> 64, conv1 (10x4x1 window, 1-element beats), logits (64 x 16-bit inputs)
    (dict(depthwise=True, n_in=576, n_out=64, in_beat=64, in_width=8, ib=1, ob=1, rf=576), (1, 576, 8)),
    (dict(depthwise=False, n_in=64, n_out=64, in_beat=64, in_width=8, ib=1, ob=1, rf=4096), (1, 64, 8)),
    (dict(depthwise=False, n_in=40, n_out=64, in_beat=1, in_width=8, ib=1, ob=1, rf=2560), (1, 40, 8)),
    (dict(depthwise=False, n_in=64, n_out=12, in_beat=64, in_width=16, ib=1, ob=1, rf=768), (1, 64, 16)),
    # depthwise with 3 taps a cycle: a word would not be contiguous in the frame
    (dict(depthwise=True, n_in=576, n_out=64, in_beat=64, in_width=8, ib=3, ob=1, rf=192), None),
    # 64 x 8-bit frame: 4 inputs a word = 32 x 32 bits in two 4-kbit blocks (1,024 register bits
    # replaced: 512 a block, just enough); 8 a word = 16 x 64 bits in four blocks (not enough)
    (dict(depthwise=False, n_in=64, n_out=8, in_beat=64, in_width=8, ib=4, ob=1, rf=128), (4, 16, 32)),
    (dict(depthwise=False, n_in=64, n_out=8, in_beat=64, in_width=8, ib=8, ob=1, rf=64), None),
    (dict(depthwise=False, n_in=16, n_out=8, in_beat=16, in_width=8, ib=1, ob=1, rf=128), None),  # 256 bits
    (dict(depthwise=False, n_in=40, n_out=64, in_beat=1, in_width=8, ib=2, ob=1, rf=1280), None),  # beat < word
    (dict(depthwise=False, n_in=64, n_out=64, in_beat=64, in_width=8, ib=1, ob=1, rf=63), None),  # write > RF
])
def test_frame_memory_rule(case, want):
    """hw/rtl/frame_store.py: where kws_dense's frame goes into a ping-pong memory, and its words."""
    from hw.rtl.frame_store import frame_memory

    mem = frame_memory(**case)
    assert (mem and (mem.word_elems, mem.words, mem.word_bits)) == want
    if mem:
        assert mem.words <= case["rf"] and mem.bits == 2 * case["n_in"] * case["in_width"]


def test_frame_memory_is_chosen_per_layer_and_keeps_the_cycles(tmp_path):
    """Generated with and without the memory (conv, depthwise, dense at RFs around the choice): the
    memory layers carry XMEM, the others' text has no trace of it; the cycles per frame are the same
    formula either way; both designs are lint clean."""
    from sim.testmodels import frame_memory_model

    graph = to_hls(frame_memory_model(seed=1), tmp_path / "prj")
    for plan, store in (("conv=288,dw=18,fc=480", "memory"), ("conv=144,dw=9,fc=60", "registers")):
        design = generate_rtl(graph, tmp_path / plan.replace(",", "_"), reuse_factor=plan, block_line_buffers=True)
        macs = [l for l in design.layers if l.multipliers]
        assert [l.notes["frame_store"] for l in macs] == [store] * 3
        for l in macs:
            core = l.extra_files.get(f"{l.module}_mac.v", l.verilog)
            assert (".XMEM(1)" in core) == (store == "memory")
            rf = l.notes["n_in"] * l.notes["n_out"] // (l.notes["IB"] * l.notes["OB"])
            if "positions" in l.notes and l.notes["line_buffer"] == "registers":  # 3x3 window: RF + 1 cycles a window
                assert l.compute_cycles == l.notes["positions"] * max(9, rf + 1)
            elif "positions" in l.notes:  # the 16-channel dw behind the slower conv: 8 words a pixel
                assert l.layer == "dw" and l.notes["line_buffer"] == "block RAM, 16-bit words"
                assert l.compute_cycles == 6 * 5 * 8 + l.notes["positions"] * max(9 * (8 + 2), rf + 1)
            else:
                assert l.compute_cycles == rf
        assert verilator_lint(design.files, design.top) == ""


def test_block_line_buffers_only_when_asked(tmp_path):
    """The block-RAM line buffer is for targets without LUT-RAM: generate_rtl keeps registers unless
    block_line_buffers (make synth/pnr/sim pass it for iCE40 only), and even then only where the
    layer stays within the stage budget (the 1x1 conv at RF 64 before the depthwise)."""
    from hw.tools.yosys import block_line_buffers
    from sim.testmodels import layer_model

    graph = to_hls(layer_model("pw_depthwise", bits=8, seed=1), tmp_path / "prj")
    kinds = {}
    for ask in (False, True):
        design = generate_rtl(graph, tmp_path / f"rtl{ask}", reuse_factor="64,dw=9", block_line_buffers=ask)
        kinds[ask] = {l.layer: l.notes["line_buffer"] for l in design.layers if "line_buffer" in l.notes}
    assert kinds[False] == {"dw": "registers"}
    assert kinds[True] == {"dw": "block RAM, 16-bit words"}
    # report.md says where each layer keeps its data
    report = (tmp_path / "rtlTrue" / "report.md").read_text()
    dw_row = next(line for line in report.splitlines() if line.startswith("| dw |"))
    assert dw_row.rstrip(" |").endswith("line buffer: block RAM, 16-bit words; frame: registers"), dw_row
    assert [t for t in ("ice40", "ecp5", "xilinx", "generic") if block_line_buffers(t)] == ["ice40"]
