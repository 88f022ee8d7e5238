"""The RF-1 dense layer's shift-add network (hw/rtl/shift_add.py and its Verilog writer).

Reference everywhere: hw.golden's Mac (hls4ml's multiply-accumulate: every product cast to the
accumulator on its own, bias cast, wrapping sum), never the graph's own evaluator. Levels: the CSD
digits (exhaustive over 8-bit weights), the graph's numpy model on random layers, its Verilog
under Icarus on the same kinds of layers (a second, four-state simulator, ~1 s per layer), and a
4-bit MLP with rounding and wrapping accumulators through the whole flow under Verilator with
random valid/ready.
"""

from __future__ import annotations

import numpy as np
import pytest

from hw.golden.arith import Mac, Range
from hw.rtl.emitters.shift_add_emitter import shift_add_module
from hw.rtl.shift_add import constant_mac, csd, evaluate
from qat.fixed import FixedType


# ----- canonical signed digits ------------------------------------------------------------------
def _min_digits(v: int) -> int:
    """Fewest non-zero signed digits of v, by dynamic programming over its bits (independent of csd)."""
    from functools import lru_cache

    @lru_cache(None)
    def best(n: int) -> int:
        if n <= 1:
            return n
        if n % 2 == 0:
            return best(n // 2)
        return 1 + min(best((n - 1) // 2), best((n + 1) // 2))

    return best(abs(v))


def test_csd_exhaustive_over_8_bit_weights():
    for v in range(-256, 256):  # every signed and unsigned 8-bit code
        digits = csd(v)
        assert sum(d << k for k, d in digits) == v
        shifts = [k for k, _ in digits]
        assert shifts == sorted(set(shifts)) and all(d in (-1, 1) for _, d in digits)
        assert all(b - a >= 2 for a, b in zip(shifts, shifts[1:])), (v, digits)  # no adjacent digits
        assert len(digits) == _min_digits(v), v
    assert csd(0) == [] and csd(64) == [(6, 1)] and csd(-128) == [(7, -1)] and csd(7) == [(0, -1), (3, 1)]


# ----- the graph: golden equality and what is shared --------------------------------------------
def _golden(w, in_t, acc, prod_shift, bias_acc, x):
    """hw.golden's Mac (out type = the accumulator: the sums kws_mac_chain hands on)."""
    x_t = FixedType(in_t.width, in_t.width - prod_shift, in_t.signed)  # fraction bits prod_shift ...
    w_t = FixedType(8, 8)  # ... + 0: x_t.frac + w_t.frac - acc.frac == prod_shift with acc.frac == 0
    acc0 = acc.with_(integer=acc.width)  # frac 0
    b_t = acc0 if bias_acc is not None else None
    mac = Mac(x_t, Range(in_t.min_raw, in_t.max_raw), w, w_t, bias_acc, b_t, acc0, acc0)
    return mac(np.asarray(x, np.int64), lambda xx, ww: xx @ ww)


def _layer(rng, n_in, n_out, w_bits):
    """Random weights with the corner cases in: zeros, +-powers of two, the most negative and the
    largest code, a repeated column and a repeated row (shared products)."""
    lo, hi = -(1 << (w_bits - 1)), (1 << (w_bits - 1)) - 1
    w = rng.integers(lo, hi + 1, (n_in, n_out))
    w[rng.random(w.shape) < 0.2] = 0
    flat = w.reshape(-1)
    picks = rng.choice(flat.size, min(flat.size, 6), replace=False)
    flat[picks] = [lo, hi, 1 << (w_bits - 2), -(1 << (w_bits - 3)), 1, -1][:len(picks)]
    if n_out > 2:
        w[:, -1] = w[:, 0]
    if n_in > 2:
        w[-1] = w[0]
    return w


def _inputs(rng, in_t, n_in, n=200):
    x = rng.integers(in_t.min_raw, in_t.max_raw + 1, (n, n_in))
    x[0], x[1], x[2] = in_t.min_raw, in_t.max_raw, 0
    return x


# (input type, weight bits, accumulator, prod_shift): exact casts, products shifted up, narrow
# accumulators that wrap, and products rounded one by one with several rounding modes
CASES = [
    (FixedType(8, 3), 8, FixedType(24, 10), 0),
    (FixedType(8, 3), 8, FixedType(11, 5), 0),                  # wraps
    (FixedType(4, 4, False), 4, FixedType(10, 4), -2),         # unsigned input, products << 2, wraps
    (FixedType(4, 2), 4, FixedType(12, 6, True, "RND_CONV"), 2),
    (FixedType(8, 3), 8, FixedType(12, 6, True, "TRN"), 5),     # rounded products that also wrap
    (FixedType(6, 3, False), 6, FixedType(14, 6, True, "RND_ZERO"), 3),
    (FixedType(8, 3), 8, FixedType(16, 8, True, "RND"), 1),
]


@pytest.mark.parametrize("case", range(len(CASES)))
def test_graph_equals_golden_mac(case):
    in_t, w_bits, acc, prod_shift = CASES[case]
    rng = np.random.default_rng(case)
    for n_in, n_out in ((1, 1), (3, 5), (16, 8), (9, 3)):
        w = _layer(rng, n_in, n_out, w_bits)
        bias = acc.requantize(rng.integers(-(1 << 12), 1 << 12, n_out), 4)
        x = _inputs(rng, in_t, n_in)
        for b in (bias, None):
            g = constant_mac(w, in_t, acc, prod_shift, b)
            np.testing.assert_array_equal(evaluate(g, x), _golden(w, in_t, acc, prod_shift, b, x))


def test_zero_weights_vanish_and_powers_of_two_are_wires():
    t, acc = FixedType(8, 3), FixedType(20, 8)
    g = constant_mac(np.zeros((4, 3), int), t, acc, 0, None)
    assert g.outputs == [None] * 3 and g.stats()["adders"] == 0
    w = np.array([[0, 16, 0], [-4, 0, 0], [0, 0, 0]])  # one power of two per output
    g = constant_mac(w, t, acc, 0, None)
    assert g.stats()["adders"] == 0 and g.outputs[2] is None
    assert g.outputs[0].sign == -1 and g.outputs[0].shift == 2 and g.outputs[1].shift == 4


def test_shared_products_and_terms_are_built_once():
    t, acc = FixedType(8, 3), FixedType(20, 8)
    single = constant_mac(np.array([[7], [5]]), t, acc, 0, None).stats()
    assert single["adders"] == 3 and single["subtractors"] == 1  # 8x0 + (x1 + 4x1), then - x0
    # the same column twice, and once shifted: no new adder, only wires
    g = constant_mac(np.array([[7, 7, 14], [5, 5, 10]]), t, acc, 0, None)
    assert g.stats()["adders"] == single["adders"]
    assert g.outputs[0] == g.outputs[1] and g.outputs[2] == g.outputs[0]._replace(shift=1)
    # a two-input pattern (x0 + 2 x1) in four outputs is one adder, used four times
    w = np.array([[1, 1, 4, -2, 0], [2, 2, 8, -4, 0], [0, 3, 0, 0, 1]])
    g = constant_mac(w, t, acc, 0, None)
    assert g.stats()["adders"] == 1 + 2  # x0 + 2x1; output 1: + 4x2, - x2 (3x2 in CSD digits)
    assert g.stats()["negated_outputs"] == 1  # output 3: -(x0 + 2x1) << 1
    x = _inputs(np.random.default_rng(0), t, 3)
    np.testing.assert_array_equal(evaluate(g, x), _golden(w, t, acc, 0, None, x))
    # a pattern with a subtraction is extracted from 3 occurrences on (it costs about two adders)
    # (3x0 = 4x0 - x0 next to a different x1 term in each output)
    assert constant_mac(np.array([[3, 3], [1, 16]]), t, acc, 0, None).stats()["adders"] == 2 + 2
    assert constant_mac(np.array([[3, 3, 3], [1, 16, 64]]), t, acc, 0, None).stats()["adders"] == 1 + 3
    # rounded products: equal weights of one input share their product and its cast
    g = constant_mac(np.array([[3, 3, 5]]), t, FixedType(12, 4, True, "RND_CONV"), 2, None)
    assert g.stats()["casts"] == 2 and g.stats()["adders"] == 2 and g.outputs[0] == g.outputs[1]


def test_widths_follow_the_value_range_not_the_accumulator():
    """x*3 of an 8-bit input needs 10 bits, whatever the 32-bit accumulator; a digit shifted past
    the accumulator is dropped; a narrow accumulator caps every wire."""
    t = FixedType(8, 3)
    g = constant_mac(np.array([[3]]), t, FixedType(32, 10), 0, None)
    (n,) = [g.nodes[i] for i in g.adders()]
    assert n.width == 10
    g = constant_mac(np.array([[3 + 64]]), t, FixedType(6, 3), 0, None)  # 64x is 0 modulo 2**6
    assert g.stats()["adders"] == 1 and max(g.nodes[i].width for i in g.live()) <= 6


# ----- the Verilog under Icarus ---------------------------------------------------------------------
_TB = """module sa_tb;
  reg  [{xw}-1:0] xs [0:{n}-1];
  reg  [{xw}-1:0] x;
  wire [{sw}-1:0] sum;
  integer i;
  dut_sa dut (.x(x), .sum(sum));
  initial begin
    $readmemh("x.hex", xs);
    for (i = 0; i < {n}; i = i + 1) begin
      x = xs[i];
      #1 $display("%h", sum);
    end
    $finish;
  end
endmodule
"""


def _simulate(g, n_in, in_t, w_bits, x, work):
    from hw.rtl.generate import LIBRARY_DIR
    from hw.rtl.requant import pack, unpack
    from hw.tools.icarus import run_testbench

    work.mkdir(parents=True, exist_ok=True)
    (work / "dut_sa.v").write_text(shift_add_module("dut_sa", g, n_in, in_t.width, in_t.width + 1 + w_bits))
    (work / "x.hex").write_text("".join(f"{pack(v, in_t.width):x}\n" for v in x))
    (work / "sa_tb.v").write_text(_TB.format(xw=n_in * in_t.width, sw=len(g.outputs) * g.acc_w, n=len(x)))
    out = run_testbench([work / "sa_tb.v", work / "dut_sa.v", LIBRARY_DIR / "kws_requant.v"], "sa_tb", work)
    return np.array([unpack(int(l, 16), g.acc_w, len(g.outputs), True) for l in out.split()], dtype=np.int64)


@pytest.mark.sim
def test_verilog_equals_golden_mac_under_icarus(tmp_path):
    pytest.importorskip("shutil").which("iverilog") or pytest.skip("iverilog not installed")
    rng = np.random.default_rng(7)
    for case, (in_t, w_bits, acc, prod_shift) in enumerate(CASES):
        n_in, n_out = (16, 8) if case % 2 == 0 else (7, 5)
        w = _layer(rng, n_in, n_out, w_bits)
        bias = acc.requantize(rng.integers(-(1 << 12), 1 << 12, n_out), 4) if case != 1 else None
        x = _inputs(rng, in_t, n_in, 300)
        g = constant_mac(w, in_t, acc, prod_shift, bias)
        got = _simulate(g, n_in, in_t, w_bits, x, tmp_path / f"case{case}")
        np.testing.assert_array_equal(got, _golden(w, in_t, acc, prod_shift, bias, x), err_msg=f"case {case}")
    # outputs the writer special-cases: only negative digits (negated), all zero, one wire
    in_t, acc = FixedType(8, 3), FixedType(14, 6)
    w = np.array([[-4, 0, 1, -3], [-8, 0, 0, 0], [-2, 0, 0, 5]])
    g = constant_mac(w, in_t, acc, 0, None)
    assert g.stats()["negated_outputs"] == 1 and g.outputs[1] is None
    x = _inputs(rng, in_t, 3)
    np.testing.assert_array_equal(_simulate(g, 3, in_t, 4, x, tmp_path / "special"), _golden(w, in_t, acc, 0, None, x))


@pytest.mark.sim
def test_generated_module_is_lint_clean(tmp_path):
    from hw.rtl.generate import LIBRARY_DIR
    from hw.tools.verilator import verilator_lint

    in_t, w_bits, acc, prod_shift = CASES[5]  # unsigned input, rounded products
    w = _layer(np.random.default_rng(3), 6, 4, w_bits)
    (tmp_path / "dut_sa.v").write_text(shift_add_module("dut_sa", constant_mac(w, in_t, acc, prod_shift, np.arange(4)),
                                                        6, in_t.width, in_t.width + 1 + w_bits))
    assert verilator_lint([tmp_path / "dut_sa.v", LIBRARY_DIR / "kws_requant.v"], "dut_sa") == ""


# ----- the whole flow: QKeras -> hls4ml graph -> RTL (Verilator, valid/ready) == golden ----------
@pytest.mark.sim
def test_mlp_rf1_rounding_and_wrapping_accumulators_stream_exact(tmp_path):
    """4-bit MLP at reuse factor 1: fc1's accumulator has 3 fraction bits fewer than its products
    (each product rounded half to even on its own); fc_out's is 7 bits wide and wraps on
    many frames. Corner weights forced in: the most negative code, the largest, +-powers of two,
    zeros, and an all-zero output column (its sum is the bias alone)."""
    pytest.importorskip("hls4ml")
    from hw.rtl import generate_rtl
    from hw.rtl.layer_spec import read_graph
    from sim.check import compare
    from sim.reference import expected_raw, random_raw_inputs
    from sim.testmodels import small_mlp, to_hls

    model = small_mlp(n_in=12, hidden=(6,), n_out=4, seed=3, w_bits=4, a_bits=4)
    fc1, fc_out = model.get_layer("fc1"), model.get_layer("fc_out")
    k, b = fc1.get_weights()
    k[0, 0], k[1, 0], k[2, 1], k[3, 1], k[4, 2], k[5, :] = -1.0, 0.875, 0.5, -0.25, 0.125, 0.0
    fc1.set_weights([k, b])
    k, b = fc_out.get_weights()
    k[:, 3] = 0.0
    fc_out.set_weights([k, b])
    graph = to_hls(model, tmp_path / "prj", overrides={"fc1": {"accum": "fixed<11,6,RND_CONV>"},
                                                        "fc_out": {"accum": "fixed<7,3>"}})
    specs = {s.name: s for s in read_graph(graph)}
    w1 = specs["fc1"].weights["weight"][0]
    assert {-8, 7, 4, -2, 1, 0} <= set(w1.ravel().tolist())
    design = generate_rtl(graph, tmp_path / "rtl", reuse_factor=1)
    notes = {l.layer: l.notes for l in design.layers}
    assert notes["fc1"]["shift_add"]["casts"] > 0 and notes["fc_out"]["shift_add"]["casts"] == 0
    x = random_raw_inputs(graph, 300, seed=5)
    out = specs["fc_out"]  # its exact sums leave the 7-bit accumulator on many frames
    (w2, _), (b2, b2_t) = out.weights["weight"], out.weights["bias"]
    exact = expected_raw(graph, x, upto="relu1") @ w2.reshape(6, 4) + out.accum.requantize(b2, b2_t.frac)
    assert out.accum.frac == specs["relu1"].out_type.frac + 3  # products enter it unshifted
    assert np.mean((exact < out.accum.min_raw) | (exact > out.accum.max_raw)) > 0.05
    res = compare(design, graph, x, p_valid=70, p_ready=65, seed=5)
    assert res["n"] == 300 and res["exact"] == 300, res["first_bad"]
