"""Per-layer precision overrides: build/<run>/hls_precisions.json (written by QAT schemes with
trained transient formats, hls4ml 'LayerName' layout) and config.yaml hls.precision_overrides are
applied by hw.convert, reach the hls4ml graph, and the golden model follows them."""

import json

import numpy as np
import pytest

from sim.testmodels import exactness_case as build
from sim.testmodels import inputs_with_ties, qkeras_output

from hw.convert import HlsSettings, convert, normalize_overrides, run_overrides
from qat.fixed import FixedType
from hw.golden import GoldenModel, UnsupportedLayerError


def _types(graph, name):
    layer = next(l for l in graph.get_layers() if l.name == name)
    return (FixedType.from_hls4ml(layer.types["accum_t"].precision), FixedType.from_hls4ml(layer.get_output_variable().type.precision))


def test_hls_precisions_json_is_applied(tmp_path):
    # hand-written, in the layout qat.quantizers.hls4ml_precisions writes (paper A: RND_CONV, SAT)
    (tmp_path / "hls_precisions.json").write_text(json.dumps(
        {"LayerName": {"fc": {"Precision": {"accum": "fixed<40,16,RND_CONV,SAT>"}}}}))
    overrides = run_overrides(tmp_path, {"hls": {"precision_overrides": {"fc_linear": {"result": "fixed<24,12>"}}}})
    assert overrides == {"fc": {"accum": "fixed<40,16,RND_CONV,SAT>"}, "fc_linear": {"result": "fixed<24,12>"}}
    model = build("dense_relu", 8)
    graph = convert(model, tmp_path / "prj", HlsSettings(), overrides)
    acc_t, _ = _types(graph, "fc")
    assert acc_t == FixedType(40, 16, True, "RND_CONV", "SAT")
    # the saturating accumulator provably never saturates here, so the golden model accepts it
    golden = GoldenModel(graph)
    x = inputs_with_ties(model, 300, 8)
    assert np.array_equal(golden.predict(x).reshape(len(x), -1), qkeras_output(model, x))


def test_narrow_result_override_changes_the_numbers(tmp_path):
    """An override really reaches the arithmetic: a 4-bit accumulator-result wraps, QKeras differs."""
    model = build("dense_trailing_quant", 8)
    graph = convert(model, tmp_path / "prj", HlsSettings(), {"fc": {"result": "fixed<6,2>"}, "fc_linear": {"result": "fixed<6,2>"}})
    x = inputs_with_ties(model, 300, 8)
    assert not np.array_equal(GoldenModel(graph).predict(x).reshape(len(x), -1), qkeras_output(model, x))


def test_saturating_accumulator_that_may_saturate_is_rejected(tmp_path):
    model = build("dense_relu", 8)
    graph = convert(model, tmp_path / "prj", HlsSettings(), {"fc": {"accum": "fixed<18,3,RND_CONV,SAT>"}})
    with pytest.raises(UnsupportedLayerError, match="order-dependent"):
        GoldenModel(graph)


def test_override_spellings_and_errors(tmp_path):
    want = {"fc": {"accum": "fixed<32,12>"}}
    assert normalize_overrides({"LayerName": {"fc": {"Precision": {"accum": "ap_fixed<32,12>"}}}}) == want
    assert normalize_overrides({"fc": {"Precision": {"accum": "fixed<32, 12>"}}}) == want
    assert normalize_overrides({"fc": {"accum": "fixed<32,12,TRN,WRAP>"}}) == want
    with pytest.raises(ValueError, match="cannot parse"):
        normalize_overrides({"fc": {"accum": "fixed<32"}})
    with pytest.raises(KeyError, match="unknown layer 'nope'"):
        convert(build("dense_relu", 8), tmp_path / "prj", HlsSettings(), {"nope": {"result": "fixed<8,3>"}})
    assert run_overrides(tmp_path) == {}
