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

from qat.fixed import OVERFLOW_MODES, ROUNDING_MODES, FixedType
from hw.golden.arith import FLOAT32_LIMIT, FLOAT64_LIMIT, Mac, Range, Requant

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
def test_requant_equals_fixed_requantize(rounding, overflow, signed, relu):
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
