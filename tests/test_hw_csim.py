"""Exactness matrix, C side: hls4ml C simulation (g++, bundled ap_types) == GoldenModel == QKeras.

Each case compiles one HLS project (~5-20 s), so the default suite runs a representative set that
still covers both backends, both io types, both strategies and every layer kind; the full
model x bits x io matrix is marked slow.
"""

import itertools
import shutil

import numpy as np
import pytest

from sim.testmodels import EXACTNESS_CASES as MODELS
from sim.testmodels import exactness_case as build
from sim.testmodels import inputs_with_ties, qkeras_output

from hw.convert import HlsSettings, convert
from hw.golden import GoldenModel

pytestmark = [pytest.mark.hls, pytest.mark.skipif(shutil.which("g++") is None, reason="hls4ml C simulation needs g++")]

REPRESENTATIVE = [
    ("dense_trailing_quant", 8, HlsSettings("Vitis", "io_parallel")),
    ("conv2d_same_stride", 4, HlsSettings("Vivado", "io_stream")),
    ("depthwise_same", 8, HlsSettings("Vitis", "io_stream")),
    ("avgpool2d_non_pow2", 8, HlsSettings("Vitis", "io_parallel")),
    ("conv1d_stride_relu", 4, HlsSettings("Vivado", "io_parallel", "Resource", 2)),
    ("symmetric_and_unsigned_quantizers", 4, HlsSettings("Vitis", "io_parallel")),
]

FULL = [
    (name, bits, HlsSettings("Vitis", io))
    for name, bits, io in itertools.product(sorted(MODELS), (8, 4), ("io_parallel", "io_stream"))
]


def _check_three_way(name, bits, settings, tmp_path, n=400):
    model = build(name, bits)
    graph = convert(model, tmp_path / "prj", settings)
    graph.compile()
    x = inputs_with_ties(model, n, bits)
    want = qkeras_output(model, x)
    golden = GoldenModel(graph).predict(x).reshape(n, -1)
    csim = np.asarray(graph.predict(np.ascontiguousarray(x, dtype=np.float64))).reshape(n, -1)
    report = (
        f"{name}@{bits}b {settings}: golden==qkeras {np.all(golden == want, axis=1).sum()}/{n}, "
        f"csim==golden {np.all(csim == golden, axis=1).sum()}/{n}"
    )
    assert np.array_equal(golden, want), report
    assert np.array_equal(csim, golden), report
    assert len(np.unique(want)) > 3


@pytest.mark.parametrize("name,bits,settings", REPRESENTATIVE, ids=lambda v: getattr(v, "io_type", v))
def test_csim_equals_golden_equals_qkeras(name, bits, settings, tmp_path):
    _check_three_way(name, bits, settings, tmp_path)


@pytest.mark.slow
@pytest.mark.parametrize("name,bits,settings", FULL, ids=lambda v: getattr(v, "io_type", v))
def test_csim_full_matrix(name, bits, settings, tmp_path):
    _check_three_way(name, bits, settings, tmp_path)


# Paper A's narrow accumulators: each product loses `drop` fraction bits (rounded half to even,
# one by one, as hls4ml casts every product to accum_t) and the sum wraps. QKeras has no such
# rounding; the golden model must still equal hls4ml's C simulation bit for bit.
NARROW = [
    ("dense_trailing_quant", 8, HlsSettings("Vitis", "io_parallel"), 3),
    ("conv2d_same_stride", 8, HlsSettings("Vitis", "io_stream"), 2),
    ("depthwise_same", 4, HlsSettings("Vitis", "io_stream"), 1),
]


@pytest.mark.parametrize("name,bits,settings,drop", NARROW, ids=lambda v: getattr(v, "io_type", v))
def test_narrow_accumulators_csim_equals_golden(name, bits, settings, drop, tmp_path):
    from hw.accumulators import narrow_accumulators

    model = build(name, bits)
    base = convert(model, tmp_path / "base", settings)
    graph = convert(model, tmp_path / "prj", settings, overrides=narrow_accumulators(base, 12, drop))
    graph.compile()
    n = 300
    x = inputs_with_ties(model, n, bits)
    golden = GoldenModel(graph).predict(x).reshape(n, -1)
    csim = np.asarray(graph.predict(np.ascontiguousarray(x, dtype=np.float64))).reshape(n, -1)
    exact = GoldenModel(base).predict(x).reshape(n, -1)
    assert np.array_equal(csim, golden), f"csim==golden {np.all(csim == golden, axis=1).sum()}/{n}"
    assert not np.array_equal(golden, exact)  # the per-product rounding really acted
