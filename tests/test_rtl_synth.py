"""Yosys (yowasp) synthesis of generated designs: LUT/FF counts from `stat`."""

import json

import pytest

from hw.rtl import generate_rtl
from hw.synth import synthesize_design
from hw.tools.yosys import synthesize
from sim.runner import DEFAULT_BUILD_ROOT
from sim.testmodels import small_mlp, to_hls

pytestmark = pytest.mark.synth

RESULTS = DEFAULT_BUILD_ROOT / "synth_results"  # a tmp dir under pytest (tests/conftest.py)


@pytest.fixture(scope="module")
def tiny_graph(tmp_path_factory):
    return to_hls(small_mlp(n_in=8, hidden=(4,), n_out=2), tmp_path_factory.mktemp("hls") / "prj")


def test_ice40_synthesis_of_tiny_mlp(tiny_graph, tmp_path):
    design = generate_rtl(tiny_graph, tmp_path / "rtl", reuse_factor=8)
    res = synthesize(design.files, design.top, tmp_path / "syn", "ice40")
    RESULTS.mkdir(parents=True, exist_ok=True)
    (RESULTS / "tiny_mlp_rf8_ice40.json").write_text(json.dumps(res, indent=1))
    s = res["summary"]
    assert s["lut"] > 0 and s["ff"] > 0
    # The three pipeline stages hold at least the input buffer, the compute copy and the output of fc1.
    assert s["ff"] >= 2 * 8 * 8


def test_unchanged_layer_is_not_synthesized_again(tiny_graph, tmp_path):
    """The cache key covers exactly what Yosys elaborates: touching another layer's file keeps the
    cached result, touching the layer's own source (or its ROM image) synthesizes it again."""
    design = generate_rtl(tiny_graph, tmp_path / "rtl", reuse_factor=8)
    fc1 = next(l for l in design.layers if l.layer == "fc1")
    first = synthesize(design.files, fc1.module, tmp_path / "syn", "ice40")
    assert not first.get("cached")
    other = next(f for f in design.files if "fc_out" in f.name and f.suffix == ".v")
    other.write_text(other.read_text() + "\n// edited\n")
    again = synthesize(design.files, fc1.module, tmp_path / "syn", "ice40")
    assert again.get("cached") and again["summary"] == first["summary"]
    rom = next(p for p in (tmp_path / "rtl").glob("*fc1*_rom.hex"))
    rom.write_text(rom.read_text().replace("0", "1", 1))
    assert not synthesize(design.files, fc1.module, tmp_path / "syn", "ice40").get("cached")


@pytest.mark.slow
@pytest.mark.parametrize("target", ["ice40", "xilinx"])
def test_per_layer_resources_shrink_with_reuse(tiny_graph, tmp_path, target):
    """RF 8 time-multiplexes fc1 over 8 cycles: 1/4 of RF 2's multipliers, so fewer LUTs. (Not RF 1:
    there the constant weights become a shift-add network, hw/rtl/shift_add.py, smaller on iCE40
    than RF 8's generic multipliers.)"""
    res = {}
    for rf in (2, 8):
        design = generate_rtl(tiny_graph, tmp_path / f"rtl{rf}", reuse_factor=rf)
        res[rf] = synthesize_design(design, tmp_path / f"syn{rf}", target)
        RESULTS.mkdir(parents=True, exist_ok=True)
        (RESULTS / f"tiny_mlp_rf{rf}_{target}.json").write_text(json.dumps(res[rf], indent=1))
        assert set(res[rf]["layers"]) == {"fc1", "fc_out"}  # the ReLU: folded into fc1's output requantizer
    lut = {rf: r["layers"]["fc1"]["summary"]["lut"] for rf, r in res.items()}
    assert 0 < lut[8] < lut[2], lut
    assert res[8]["total"]["summary"]["lut"] < res[2]["total"]["summary"]["lut"]


def test_ice40_synthesis_of_line_buffered_conv(tmp_path):
    """A windowed conv layer (line buffer + MAC core) synthesizes; per-layer numbers are recorded."""
    from sim.testmodels import layer_model

    graph = to_hls(layer_model("conv2d_same_s2", bits=4, seed=1), tmp_path / "prj")
    design = generate_rtl(graph, tmp_path / "rtl", reuse_factor=10)
    res = synthesize_design(design, tmp_path / "syn", "ice40")
    RESULTS.mkdir(parents=True, exist_ok=True)
    (RESULTS / "conv2d_same_s2_rf10_ice40.json").write_text(json.dumps(res, indent=1))
    assert "conv" in res["layers"] and "conv_relu" not in res["layers"]  # the ReLU: folded into the conv
    assert design.report["fused_activations"] == {"conv": "conv_relu"}
    conv = res["layers"]["conv"]["summary"]
    # The line buffer alone holds 5 rows x 6 pixels x 2 channels x 4 bits in flip-flops.
    assert conv["ff"] >= 5 * 6 * 2 * 4 and conv["lut"] > 0
    # The whole top level is optimized across module boundaries (measured: 1,091 LUT against 1,130 for
    # the conv alone, its ReLU folded in); only its flip-flops must include the layer's.
    assert res["total"]["summary"]["ff"] >= conv["ff"] and res["total"]["summary"]["lut"] >= 0.9 * conv["lut"]


def _acc_table(rows: dict) -> str:
    names = list(next(iter(rows.values()))["layers"])
    lines = ["| layer | " + " | ".join(f"acc {w}-bit LUT / FF" for w in rows) + " |", "|---|" + "---|" * len(rows)]
    for name in names + ["TOTAL"]:
        cells = []
        for res in rows.values():
            s = res["total"]["summary"] if name == "TOTAL" else res["layers"][name]["summary"]
            cells.append(f"{s['lut']} / {s['ff']}")
        lines.append(f"| {name} | " + " | ".join(cells) + " |")
    return "\n".join(lines) + "\n"


@pytest.mark.synth
@pytest.mark.slow
def test_dscnn_narrow_vs_wide_accumulators(tmp_path):
    """Paper A: 16-bit vs 32-bit accumulators (same LSB) on the same DS-CNN (width 64, random
    weights, 8 bits), reuse factor 64, ice40, LUT/FF per layer and total. Each product is rounded
    3 bits coarser (drop_bits): the logits' products have 19 fraction bits, more than 16."""
    from hw.accumulators import narrow_accumulators
    from sim.testmodels import kws_model

    model = kws_model("dscnn", bits=8, seed=0, width=64)
    base = to_hls(model, tmp_path / "prj")
    rows = {}
    for width in (16, 32):
        graph = to_hls(model, tmp_path / f"prj{width}", overrides=narrow_accumulators(base, width, drop_bits=3))
        design = generate_rtl(graph, tmp_path / f"rtl{width}", reuse_factor=64)
        rows[width] = synthesize_design(design, tmp_path / f"syn{width}", "ice40", whole=False)
    RESULTS.mkdir(parents=True, exist_ok=True)
    (RESULTS / "dscnn64_rf64_acc16_vs_acc32_ice40.json").write_text(json.dumps(rows, indent=1))
    (RESULTS / "dscnn64_rf64_acc16_vs_acc32_ice40.md").write_text(_acc_table(rows))
    assert rows[16]["total"]["summary"]["lut"] < rows[32]["total"]["summary"]["lut"]
    assert rows[16]["total"]["summary"]["ff"] < rows[32]["total"]["summary"]["ff"]


def test_library_layer_with_a_verilog_literal_parameter(tmp_path):
    """Per-layer synthesis hands a library module its parameters through chparam: the keyword
    detector's mask is a sized literal (12'b...), which an int() conversion used to reject."""
    from hw.detector import DetectorParams
    from hw.rtl.emitters.base import Edge
    from hw.rtl.emitters.detector_emitter import emit_detector
    from hw.rtl.generate import LIBRARY_DIR
    from qat.fixed import FixedType

    layer = emit_detector(Edge(12, FixedType(8, 4)), DetectorParams(12, 3, 40, 5, tuple(range(2, 12))))
    params = layer.notes["params"]
    assert isinstance(params["KW_MASK"], str) and params["KW_MASK"].startswith("12'b")
    res = synthesize([LIBRARY_DIR / f for f in layer.library], layer.module, tmp_path / "syn", "ice40", params=params)
    # C = 12 logits of 8 bits over N = 3 emissions: its ring and running sums hold more than 2 x 12 x 8 bits
    assert res["summary"]["ff"] >= 2 * 12 * 8 and res["summary"]["lut"] > 0


def test_block_ram_line_buffer_maps_to_block_ram(tmp_path):
    """kws_window alone at the DS-CNN's 16-channel depthwise geometry (25 x 5 map of 128-bit pixels,
    3x3 'same'), with the generator's parameters: iCE40 has no distributed RAM, so the register form
    keeps its FH x W pixels in flip-flops; the block-RAM form (16-bit words) puts them in an
    SB_RAM40_4K and keeps far fewer."""
    from dataclasses import replace

    from hw.rtl.emitters.window import Window, window_params
    from hw.rtl.generate import LIBRARY_DIR

    win = Window(h=25, w=5, c=16, fh=3, fw=3, sh=1, sw=1, pt=1, pb=1, pl=1, pr=1, oh=25, ow=5)
    pixels_bits = win.fh * win.w * 16 * 8
    res = {}
    for words in (0, 8):
        params = window_params(replace(win, mem_words=words), 8)
        assert ("MEM" in params) == bool(words)
        res[words] = synthesize([LIBRARY_DIR / "kws_window.v"], "kws_window", tmp_path / f"syn{words}", "ice40",
                                params=params)["summary"]
    assert res[0]["bram"] == 0 and res[0]["ff"] >= pixels_bits, res
    assert res[8]["bram"] >= 1 and res[8]["ff"] < pixels_bits / 4 and res[8]["lut"] < res[0]["lut"] / 2, res


def test_sequential_engine_memories_map_to_block_ram(tmp_path):
    """RF=seq on the frame-memory model (conv 6x5x8 -> 16, depthwise, dense: 480-element maps,
    3,216 weights): the input frame, both activation buffers and the weight ROM are block RAM,
    one SB_MAC16 multiplies for all three layers, and the flip-flops are counters and pipeline
    registers, far fewer than one map's bits."""
    from hw.rtl import generate_rtl
    from sim.testmodels import frame_memory_model, to_hls

    graph = to_hls(frame_memory_model(seed=1), tmp_path / "prj")
    design = generate_rtl(graph, tmp_path / "rtl", reuse_factor="seq")
    (engine,) = [l for l in design.layers if l.module]
    from hw.tools.yosys import synthesize_netlist

    res = synthesize_netlist(design.files, engine.module, tmp_path / "syn", "ice40", options="-dsp")["summary"]
    assert res["dsp"] == 1 and res["bram"] >= 4, res
    assert res["ff"] < 480 * 8, res
