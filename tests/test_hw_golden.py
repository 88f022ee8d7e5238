"""Exactness matrix, numpy side: QKeras output == GoldenModel(hls4ml graph) on single-layer models.

Every supported layer/quantizer at 8 and 4 bits. Inputs sit on a grid one bit finer than the input
quantizer, so many of them are exact rounding ties (half-to-even must be right). No C++ here;
tests/test_hw_csim.py adds the C simulation for the same models.
"""

import os

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

import numpy as np
import pytest

pytest.importorskip("qkeras")
pytest.importorskip("hls4ml")

from hw.convert import HlsSettings, convert  # noqa: E402
from hw.golden import GoldenModel  # noqa: E402
from sim.testmodels import EXACTNESS_CASES, inputs_with_ties, qkeras_output  # noqa: E402
from sim.testmodels import exactness_case as build  # noqa: E402


@pytest.mark.parametrize("bits", [8, 4])
@pytest.mark.parametrize("name", sorted(EXACTNESS_CASES))
def test_golden_equals_qkeras(name, bits, tmp_path):
    model = build(name, bits)
    graph = convert(model, tmp_path / "prj", HlsSettings(io_type="io_parallel"))
    golden = GoldenModel(graph)
    x = inputs_with_ties(model, 500, bits)
    want = qkeras_output(model, x)
    got = golden.predict(x).reshape(len(x), -1)
    same = np.all(got == want, axis=1)
    assert np.array_equal(got, want), f"{name}@{bits}b: {same.sum()} of {len(x)} vectors identical"
    # the test must be able to fail: outputs must not be trivially constant
    assert len(np.unique(want)) > 3


def test_golden_io_stream_graph_equals_qkeras(tmp_path):
    """io_stream inserts ZeroPadding layers and changes pooling code; the golden model follows the graph."""
    model = build("conv2d_same_stride", 8)
    golden = GoldenModel(convert(model, tmp_path / "prj", HlsSettings(io_type="io_stream")))
    assert any(s.layer_class.endswith("ZeroPadding2D") for s in golden.stages)
    x = inputs_with_ties(model, 300, 8)
    assert np.array_equal(golden.predict(x).reshape(len(x), -1), qkeras_output(model, x))


def test_golden_detects_a_dropped_quantizer(tmp_path):
    """Without hw.convert's precision carrying, hls4ml drops the trailing quantizer: the golden model
    (which follows the graph) must then disagree with QKeras - proves the comparison has teeth."""
    import hls4ml

    model = build("dense_trailing_quant", 8)
    cfg = hls4ml.utils.config_from_keras_model(model, granularity="name", backend="Vitis")
    graph = hls4ml.converters.convert_from_keras_model(model, hls_config=cfg, output_dir=str(tmp_path / "raw"), backend="Vitis")
    x = inputs_with_ties(model, 300, 8)
    got = GoldenModel(graph).predict(x).reshape(len(x), -1)
    assert not np.array_equal(got, qkeras_output(model, x))
