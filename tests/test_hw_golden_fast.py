"""The fast golden model: its building blocks equal the one fixed-point definition (qat.fixed), and
it runs a DS-CNN at >= 1000 inferences/s on one core.

``Requant`` (planned, float32/float64/int64 representations, skipped when provably identity) is
checked against ``FixedType.requantize`` for every rounding and overflow mode, ties included;
``Mac`` against a plain int64 reference in all three representations. End-to-end exactness of the
kernels is proven by test_hw_golden.py / test_hw_csim.py / test_hw_real_models.py.
"""

import itertools
import os
import zlib

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

import numpy as np
import pytest

from hw.golden import loops
from qat.fixed import OVERFLOW_MODES, ROUNDING_MODES, FixedType
from hw.golden.arith import FLOAT32_LIMIT, FLOAT64_LIMIT, Mac, Range, Requant

# the compiled loops (numba) and the numpy form must both equal the reference
FORMS = [pytest.param(True, id="compiled"), pytest.param(False, id="numpy")] if loops.AVAILABLE else [
    pytest.param(False, id="numpy")]

# (width, from_frac - to_frac, magnitude of the input codes): float32, float64 and int64 regimes
REGIMES = [(8, 5, 2**12), (12, -3, 2**8), (16, 9, 2**30), (20, 0, 2**40), (40, 12, 2**60), (6, 2, 2**5)]


def _inputs(rng, mag, shift, n=4000):
    x = rng.integers(-mag, mag, size=n, dtype=np.int64)
    if shift > 0:  # force many exact ties and near-ties
        half = 1 << (shift - 1)
        base = rng.integers(-(mag >> shift), (mag >> shift) + 1, size=n // 2, dtype=np.int64) << shift
        x[: n // 2] = base + rng.choice([half, -half, half - 1, half + 1], size=n // 2)
    x[:4] = [-mag, mag - 1, 0, -1]
    return x


@pytest.mark.parametrize("rounding,overflow", list(itertools.product(ROUNDING_MODES, OVERFLOW_MODES)))
@pytest.mark.parametrize("signed", [True, False])
@pytest.mark.parametrize("relu", [False, True])
@pytest.mark.parametrize("compiled", FORMS)
def test_requant_equals_fixed_requantize(rounding, overflow, signed, relu, compiled, monkeypatch):
    monkeypatch.setattr(loops, "AVAILABLE", compiled)
    # crc32, not hash(): str hashes change with PYTHONHASHSEED, so the inputs would differ per run
    rng = np.random.default_rng(zlib.crc32(repr((rounding, overflow, signed, relu)).encode()))
    for width, shift, mag in REGIMES:
        t = FixedType(width, width // 2, signed, rounding, overflow)
        from_frac = t.frac + shift
        x = _inputs(rng, mag, shift)
        want = t.requantize(np.maximum(x, 0) if relu else x, from_frac)
        plan = Requant(t, from_frac, Range(int(x.min()), int(x.max())), relu=relu)
        for dtype in (np.int64, np.float64, np.float32):
            if dtype is not np.int64 and mag >= (FLOAT32_LIMIT if dtype is np.float32 else FLOAT64_LIMIT):
                continue  # such codes never reach the kernels in this representation
            got = plan(x.astype(dtype), inplace=True)
            assert np.array_equal(np.asarray(got).astype(np.int64), want), (t, shift, mag, dtype, plan.dtype)
        r = plan.out_range
        assert r.lo <= want.min() and want.max() <= r.hi, (t, r, want.min(), want.max())


def test_requant_representation_follows_the_bound():
    t = FixedType(8, 3, False, "RND_CONV", "SAT")
    assert Requant(t, 12, Range(-2**20, 2**20)).dtype is np.float32
    assert Requant(t, 12, Range(-2**40, 2**40)).dtype is np.float64
    assert Requant(t, 12, Range(-2**60, 2**60)).dtype is np.int64
    # provably nothing to do: same fraction bits, range inside the type
    assert Requant(t, t.frac, Range(0, 255)).identity
    assert not Requant(t, t.frac, Range(0, 256)).identity


@pytest.mark.parametrize("w_bits,x_bits,n_terms", [(8, 8, 64), (16, 16, 300), (24, 24, 4000)])
def test_mac_equals_int64_reference(w_bits, x_bits, n_terms):
    """Float32, float64 and int64 contraction paths (chosen from the bound) are all exact."""
    rng = np.random.default_rng(w_bits)
    x_t = FixedType(x_bits, 3)
    w_t = FixedType(w_bits, 1)
    b_t = FixedType(w_bits + 4, 4)
    acc_t = FixedType(min(62, x_bits + w_bits + 12), 14)
    out_t = FixedType(12, 5, True, "RND_CONV", "SAT")
    w = rng.integers(w_t.min_raw, w_t.max_raw + 1, size=(n_terms, 5))
    b = rng.integers(b_t.min_raw, b_t.max_raw + 1, size=5)
    x = rng.integers(x_t.min_raw, x_t.max_raw + 1, size=(50, n_terms))
    mac = Mac(x_t, Range.of_type(x_t), w, w_t, b, b_t, acc_t, out_t, "fc")
    got = np.asarray(mac(x.astype(np.float64), np.matmul)).astype(np.int64)
    prods = (x[:, :, None] * w[None]).sum(axis=1)  # int64, exact for these sizes
    acc = acc_t.requantize((prods << (acc_t.frac - x_t.frac - w_t.frac)) + acc_t.requantize(b, b_t.frac), acc_t.frac)
    want = out_t.requantize(acc, acc_t.frac)
    assert np.array_equal(got, want)
    assert mac.dtype is {8: np.float32, 16: np.float64, 24: np.int64}[w_bits]


def _depthwise_reference(x, w, fh, fw, sh, sw, pads, oh, ow):
    """Plain int64 depthwise sums over the explicitly zero-padded map."""
    pt, pb, pl, pr = pads
    xp = np.pad(x, ((0, 0), (pt, pb), (pl, pr), (0, 0)))
    return sum(xp[:, i : i + (oh - 1) * sh + 1 : sh, j : j + (ow - 1) * sw + 1 : sw] * w[i * fw + j]
               for i in range(fh) for j in range(fw))


@pytest.mark.skipif(not loops.AVAILABLE, reason="numba not installed: the numpy form is all there is")
@pytest.mark.parametrize("dtype,limit", [(np.float32, FLOAT32_LIMIT), (np.float64, FLOAT64_LIMIT), (np.int64, 2**62)])
def test_depthwise_loop_equals_int64_reference(dtype, limit):
    """Compiled depthwise sums on the unpadded map (padding, strides and tap groups inside the loop)
    on random geometries, codes sized so that sum |w| * max |x| sits just under the representation's
    exactness bound (the bound Mac uses to pick the dtype); the requantizing form equals requant_rows
    of the sums."""
    rng = np.random.default_rng(zlib.crc32(np.dtype(dtype).name.encode()))
    for fh, fw, sh, sw, c, pads in [(3, 3, 1, 1, 64, (1, 1, 1, 1)), (5, 3, 2, 1, 3, (2, 2, 1, 1)), (1, 4, 1, 2, 1, (0, 0, 2, 1)),
                                    (2, 2, 2, 2, 5, (0, 1, 0, 1)), (3, 5, 1, 3, 2, (0, 0, 0, 0)), (1, 3, 1, 1, 8, (0, 0, 1, 1))]:
        h, w_in = 7, 6
        oh, ow = (h + pads[0] + pads[1] - fh) // sh + 1, (w_in + pads[2] + pads[3] - fw) // sw + 1
        w_max = 2**12 - 1
        x_max = (limit - 1) // (fh * fw * w_max)  # every partial sum stays below the limit
        x = rng.integers(-x_max, x_max + 1, size=(3, h, w_in, c))
        x[0] = x_max  # extremes: the largest sums that are allowed
        w = rng.integers(-w_max, w_max + 1, size=(fh * fw, c))
        w[:, 0] = w_max
        want = _depthwise_reference(x, w, fh, fw, sh, sw, pads, oh, ow)
        geom = (c, fh, sh, sw, pads[0], pads[2])
        w_rows = loops.tap_rows(w.astype(dtype), fh, fw, ow)
        xs = x.reshape(3, h, w_in * c).astype(dtype)
        got = loops.depthwise_sums(xs, w_rows, *geom, np.empty((3, oh, ow * c), dtype))
        assert np.array_equal(got.reshape(want.shape).astype(np.int64), want), (fh, fw, sh, sw, c, pads, dtype)
        assert np.abs(want).max() > limit // 4  # the bound was approached, not avoided
        if dtype is not np.int64:
            t = FixedType(16, 4, True, "RND", "SAT")
            q = Requant(t, t.frac + 7, Range(1 - limit, limit - 1), relu=True)
            assert q.dtype is dtype and q.relu
            b = np.zeros(ow * c, dtype)
            out = loops.depthwise_requant(xs, w_rows, *geom, np.empty((3, oh, ow * c), dtype), b, *q.loop_args)
            assert np.array_equal(out, q.rows(got.reshape(-1, ow * c), b, np.empty((3 * oh, ow * c), dtype)).reshape(out.shape))


@pytest.mark.parametrize("w_bits,x_bits,n_terms,dtype", [(8, 8, 64, np.float32), (8, 8, 500, np.float32),
                                                          (16, 16, 300, np.float64)])
@pytest.mark.parametrize("compiled", FORMS)
def test_mac_fused_activation_equals_int64_reference(w_bits, x_bits, n_terms, dtype, compiled, monkeypatch):
    """Mac with the next layer's ReLU requantization fused into its output pass == int64
    reference; 500 terms of 8 x 8 bits put the largest sum within 2x of float32's bound."""
    monkeypatch.setattr(loops, "AVAILABLE", compiled)
    rng = np.random.default_rng(w_bits * 1000 + n_terms)
    x_t, w_t, b_t = FixedType(x_bits, 3), FixedType(w_bits, 1), FixedType(w_bits + 4, 4)
    acc_w = min(62, x_bits + w_bits + 12)
    acc_t = FixedType(acc_w, acc_w - x_t.frac - w_t.frac)  # product fraction bits, cannot wrap: identity result
    out_t = acc_t
    relu_t = FixedType(8, 3, False, "RND_CONV", "SAT")
    w = rng.integers(w_t.min_raw, w_t.max_raw + 1, size=(n_terms, 7))
    b = rng.integers(b_t.min_raw, b_t.max_raw + 1, size=7)
    x = rng.integers(x_t.min_raw, x_t.max_raw + 1, size=(40, n_terms))
    x[0] = np.where(w[:, 0] > 0, x_t.max_raw, x_t.min_raw)  # the largest sum of column 0
    mac = Mac(x_t, Range.of_type(x_t), w, w_t, b, b_t, acc_t, out_t, "fc")
    relu = Requant(relu_t, out_t.frac, mac.out_range, relu=True)
    assert mac.acc_dtype is dtype and mac.fuse(relu) == compiled
    mac.fused = True
    got = np.asarray(relu(mac(x.astype(mac.dtype), np.matmul)) if not compiled else mac(x.astype(mac.dtype), np.matmul))
    acc = acc_t.requantize((x @ w) + acc_t.requantize(b, b_t.frac), acc_t.frac)
    want = relu_t.requantize(np.maximum(out_t.requantize(acc, acc_t.frac), 0), out_t.frac)
    assert np.array_equal(got.astype(np.int64), want)
    assert len(np.unique(want)) > 20


@pytest.mark.skipif(not loops.AVAILABLE, reason="numba not installed: the numpy form is all there is")
@pytest.mark.parametrize("which", ["dscnn8", "dscnn4", "residual", "tc_resnet"])
def test_compiled_fused_model_equals_numpy_form(which, tmp_path, monkeypatch):
    """Whole models: compiled loops + fused activations == the numpy-only form (fusion off), bit for
    bit, on inputs over the whole input range (saturating) and on traces."""
    from hw.convert import HlsSettings, convert
    from hw.golden import GoldenModel
    from sim.testmodels import kws_model, residual_model

    model = {"dscnn8": lambda: dscnn_random(8), "dscnn4": lambda: dscnn_random(4), "residual": residual_model,
             "tc_resnet": lambda: kws_model("tc_resnet", bits=8)}[which]()
    graph = convert(model, tmp_path / "prj", HlsSettings())
    fast = GoldenModel(graph)
    monkeypatch.setattr(loops, "AVAILABLE", False)
    plain = GoldenModel(graph)
    assert fast._fused_stages and not plain._fused_stages  # the fast path is really taken
    rng = np.random.default_rng(5)
    shape = tuple(int(d) for d in graph.get_input_variables()[0].shape)
    raw = rng.integers(fast.input_t.min_raw, fast.input_t.max_raw + 1, size=(150, *shape))
    raw = np.concatenate([raw, fast.quantize_input(rng.normal(0, 1.2, size=(150, *shape))).reshape(150, *shape)])
    want, want_trace = plain.run_raw(raw, trace=True)
    monkeypatch.setattr(loops, "AVAILABLE", True)
    assert np.array_equal(fast.run_raw(raw), want)
    _, got_trace = fast.run_raw(raw, trace=True)
    for name, (codes, _) in want_trace.items():
        assert np.array_equal(got_trace[name][0], codes), name
    assert len(np.unique(want)) > 20


# ---------------------------------------------------------------- DS-CNN: correctness + speed
def dscnn_random(bits=8, seed=0):
    """The project's DS-CNN (qat.models) with random weights inside the quantizer ranges."""
    from qat.models import build_model
    from qat.quant_config import QuantConfig

    quant = QuantConfig(weight_bits=bits, act_bits=bits, input_bits=8, bias_bits=16, default_bias_int=3)
    model = build_model("dscnn", (49, 10, 1), 12, quant=quant)
    rng = np.random.default_rng(seed)
    for layer in model.layers:
        weights = layer.get_weights()
        if weights:
            layer.set_weights([rng.uniform(-0.5, 0.5, w.shape) * (1.0 if i == 0 else 0.5) for i, w in enumerate(weights)])
    return model


def _dscnn_golden(tmp_path, bits=8):
    from hw.convert import HlsSettings, convert
    from hw.golden import GoldenModel

    model = dscnn_random(bits)
    return model, GoldenModel(convert(model, tmp_path / "prj", HlsSettings()))


def test_dscnn_fast_golden_equals_qkeras_and_chunking(tmp_path):
    model, golden = _dscnn_golden(tmp_path)
    x = np.random.default_rng(1).normal(0, 1.2, size=(200, 49, 10, 1)).astype(np.float32)
    want = model.predict(x, verbose=0, batch_size=256).reshape(len(x), -1)
    got = golden.predict(x).reshape(len(x), -1)
    assert np.array_equal(got, want), f"{np.all(got == want, axis=1).sum()} of {len(x)} identical"
    assert len(np.unique(want)) > 20
    raw = golden.quantize_input(x)
    golden.chunk = 7  # chunking must not change anything, nor must the trace
    y7, rec = golden.run_raw(raw, trace=True)
    golden.chunk = 500
    assert np.array_equal(y7, golden.run_raw(raw))
    assert np.array_equal(rec[golden.stages[-1].name][0], y7)
    # the planned bounds hold on real data (they decide the representation and skipped steps)
    for stage in golden.stages:
        codes = rec[stage.name][0]
        assert stage.out_range.lo <= codes.min() and codes.max() <= stage.out_range.hi, stage.name


@pytest.mark.slow
@pytest.mark.parametrize("bits", [8, 4])
def test_dscnn_golden_speed_one_core(bits, tmp_path):
    """Issue requirement: >= 1000 DS-CNN inferences/s on one core (BLAS limited to 1 thread),
    measured in CPU time. Still timing-sensitive (cache sharing), hence slow; printed for the record."""
    _, golden = _dscnn_golden(tmp_path, bits)
    x = np.random.default_rng(2).normal(0, 1.2, size=(2000, 49, 10, 1)).astype(np.float32)
    rate = golden.throughput(x, repeats=3, threads=1)
    print(f"DS-CNN {bits}-bit golden: {rate}")
    # CPU time of this process with one BLAS thread = one core, whatever else runs on the machine
    assert rate.per_cpu_second >= 1000, str(rate)


@pytest.mark.parametrize("compiled", FORMS)
def test_run_raw_refuses_codes_outside_the_input_type(compiled, tmp_path, monkeypatch):
    """The whole input's range is checked before the first chunk runs: a bad code in the last
    chunk is refused, on either bound, and no kernel has run."""
    from hw.golden import GoldenModel
    from sim.testmodels import layer_model, to_hls

    monkeypatch.setattr(loops, "AVAILABLE", compiled)
    golden = GoldenModel(to_hls(layer_model("pointwise"), tmp_path / "prj"))
    golden.chunk = 4
    raw = np.zeros((10, 6, 4, 5), np.int64)
    assert golden.run_raw(raw).shape[0] == 10
    calls = []
    first = golden.stages[0]
    kernel = first.kernel
    monkeypatch.setattr(first, "kernel", lambda *a: calls.append(1) or kernel(*a))
    for bad in (golden.input_t.max_raw + 1, golden.input_t.min_raw - 1):
        raw[9, 5, 3, 4] = bad
        with pytest.raises(ValueError, match="outside"):
            golden.run_raw(raw)
    assert not calls, "a kernel ran before the input check"
    raw[9, 5, 3, 4] = 0
    assert golden.run_raw(raw).shape[0] == 10 and calls  # the spy sees work when there is some
