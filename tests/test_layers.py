"""The one layer table (hw/layers.py): every reference resolves, the stages agree on what is
supported, and a layer type taken out of the table is refused by each stage with one clear error."""

from __future__ import annotations

import dataclasses

import pytest

from hw import layers


@pytest.mark.parametrize("entry", layers.LAYERS, ids=lambda e: e.name)
def test_every_reference_resolves(entry):
    if entry.golden:
        kernel = layers.resolve(entry.golden, "hw.golden")
        assert isinstance(kernel, type) and hasattr(kernel, "__init__")
    if entry.rtl:
        assert callable(layers.resolve(entry.rtl, "hw.rtl.emitters"))
    if entry.check == "weights":  # a MAC layer: the reuse factor needs its output count
        assert entry.weight_attr and entry.outputs_attr and entry.rtl and entry.golden


def test_every_hls4ml_class_exists_and_is_unique():
    import hls4ml.backends.fpga.fpga_layers as fl
    import hls4ml.model.layers as hl
    from hls4ml.backends.fpga.passes.clone import Clone
    from hls4ml.backends.fpga.passes.repack_stream import Repack

    known = {n for mod in (hl, fl) for n in dir(mod) if isinstance(getattr(mod, n), type)} | {Clone.__name__, Repack.__name__}
    names = [c for e in layers.LAYERS for c in e.hls4ml]
    assert len(names) == len(set(names))
    assert set(names) - known <= {"Flatten"}  # hls4ml's Keras reader names a Flatten's Reshape 'Flatten'


def test_what_the_rtl_emits_the_golden_model_checks():
    """RTL is verified against the golden model, so an emitter without a kernel could not be tested."""
    assert all(e.golden for e in layers.LAYERS if e.rtl)


def _without(monkeypatch, hls4ml_class, **changes):
    entry = layers.by_hls4ml(hls4ml_class)
    monkeypatch.setitem(layers._BY_HLS4ML, hls4ml_class, dataclasses.replace(entry, **changes))


def test_golden_refuses_a_layer_without_kernel(monkeypatch, tmp_path):
    from hw.golden import GoldenModel, UnsupportedLayerError
    from sim.testmodels import small_mlp, to_hls

    graph = to_hls(small_mlp(), tmp_path / "prj")
    _without(monkeypatch, "Dense", golden=None)
    with pytest.raises(UnsupportedLayerError, match="layer 'fc1' \\(\\w*Dense\\): no golden kernel"):
        GoldenModel(graph)


def test_converter_refuses_a_keras_class_the_table_lacks(monkeypatch):
    """The converter's allow-lists are the table's; without the Add entry an Add is refused."""
    from hw.convert import UnsupportedModelError, checks
    from sim.testmodels import residual_model

    assert checks.MERGE_LAYERS == set(layers.keras_names("merge")) == {"Add", "Concatenate"}
    assert checks.POOLING_LAYERS == set(layers.keras_names("pooling"))
    assert set(checks.WEIGHT_LAYERS) == set(layers.keras_names("weights"))
    model = residual_model(bits=8)
    checks.check_supported(model)
    monkeypatch.setattr(checks, "MERGE_LAYERS", set())
    with pytest.raises(UnsupportedModelError, match="add: Add is not supported"):
        checks.check_supported(model)
