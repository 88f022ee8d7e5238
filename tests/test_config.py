"""Bad settings fail before anything is loaded or trained, with a message that says what to do."""

import pytest

from qat.dataset import DataConfig, DataConfigError
from qat.quant_config import QuantConfig, QuantConfigError, integer_bits_for
from qat.run_config import RunConfig, RunConfigError, parse_override


def test_defaults_round_trip(tmp_path):
    cfg = RunConfig.from_dict({"name": "x", "quant": {"weight_bits": 4}})
    cfg.save(tmp_path / "c.yaml")
    again = RunConfig.load(tmp_path / "c.yaml")
    assert again.to_dict() == cfg.to_dict() and again.quant.weight_bits == 4


@pytest.mark.parametrize("model, feats, match", [
    ("dscnn", {"coefficients": 41}, "coefficients=41: between 1 and mel_bands"),
    ("dscnn", {"mel_bands": 20, "coefficients": 30}, "coefficients=30"),
    ("dscnn", {"mel_bands": 200}, "mel_bands=200: between 2 and 80"),
    ("dscnn", {"mel_bands": "many"}, "an integer"),
    ("dscnn", {"bands": 20}, "unknown setting"),
    ("streaming_ffn", {"coefficients": 20}, "do.*not apply to 'logmel'"),
    ("raw_cnn", {"mel_bands": 20}, "not apply to 'raw'"),
])
def test_bad_feature_settings(model, feats, match):
    with pytest.raises(RunConfigError, match=match):
        RunConfig.from_dict({"name": "x", "model": model, "data": {"features": feats}})


def test_feature_settings_reach_the_spec():
    spec = RunConfig.from_dict({"name": "x", "model": "tc_resnet", "data": {"features": {"coefficients": 40}}}).feature_spec()
    assert (spec.kind, spec.mel_bands, spec.coefficients) == ("mfcc", 40, 40)
    assert RunConfig.from_dict({"name": "x", "model": "streaming_ffn"}).feature_spec().mel_bands == 40


@pytest.mark.parametrize("data, match", [
    ({"name": "x", "model": "lstm"}, "choose one of"),
    ({"model": "dscnn"}, "needs a `name`"),
    ({"name": "x", "colour": 1}, "unknown setting"),
    ({"name": "x", "train": {"epochs": 3}}, "unknown train setting"),
    ({"name": "x", "train": {"batch_size": 0}}, "batch_size"),
    ({"name": "x", "train": {"lr": -1}}, "learning rates"),
    ({"name": "x", "scheme": "magic", "quant": {}}, "unknown scheme"),
    ({"name": "x", "scheme": "linear", "scheme_args": {"lam": 1}, "quant": {}}, "takes no scheme_args"),
])
def test_bad_run_config(data, match):
    with pytest.raises(RunConfigError, match=match):
        RunConfig.from_dict(data)


@pytest.mark.parametrize("quant, match", [
    ({"weight_bits": 0}, "weight_bits=0"),
    ({"act_bits": 1}, "act_bits=1"),
    ({"input_bits": 40}, "input_bits=40"),
    ({"act_bits": 4, "act_int": 6}, "act_int=6"),
    ({"weight_bit": 4}, "unknown quant setting"),
])
def test_bad_quant_config(quant, match):
    with pytest.raises(QuantConfigError, match=match):
        QuantConfig.from_dict(quant)


def test_bad_data_config():
    with pytest.raises(DataConfigError, match="data.source"):
        DataConfig(source="youtube")
    with pytest.raises(DataConfigError, match="unknown data setting"):
        DataConfig.from_dict({"pth": "x"})


def test_overrides(tmp_path):
    (tmp_path / "c.yaml").write_text("name: a\nmodel: dscnn\n")
    cfg = RunConfig.load(tmp_path / "c.yaml", dict([parse_override("train.qat_epochs=3"),
                                                     parse_override("quant.weight_bits=4")]))
    assert cfg.train.qat_epochs == 3 and cfg.quant.weight_bits == 4
    with pytest.raises(RunConfigError, match="no such config"):
        RunConfig.load(tmp_path / "nope.yaml")


def test_integer_bits_for():
    assert [integer_bits_for(v) for v in (0.3, 0.5, 0.51, 1.0, 1.5, 7.9, 8.0, 8.1)] == [-1, -1, 0, 0, 1, 3, 3, 4]
    with pytest.raises(QuantConfigError, match="diverged"):
        integer_bits_for(float("nan"))


def test_every_committed_config_is_valid_and_matches_its_float_run():
    """Every run config under configs/ (not the sweep files) loads, and a quantized one starts from
    the float run it names (train.init_from), which must be the same model, model_args and data
    settings: a recipe change made in one config only would be refused at training time
    (qat.train.load_float_run), after the float folds had trained."""
    from qat.cv import CONFIG_DIR, find_config

    paths = sorted(p for p in CONFIG_DIR.rglob("*.yaml") if "sweeps" not in p.relative_to(CONFIG_DIR).parts)
    assert len(paths) > 30
    names = [RunConfig.load(p).name for p in paths]
    assert len(names) == len(set(names)), "two configs share a name: find_config would pick one"
    for path in paths:
        cfg = RunConfig.load(path)
        if cfg.train.init_from:
            parent = RunConfig.load(find_config(cfg.train.init_from))
            assert parent.quant is None and cfg.can_start_from(parent), path


def test_can_start_from_ignores_only_the_data_path():
    base = {"name": "f", "model": "dscnn", "data": {"source": "gsc", "path": "/a"}}
    parent = RunConfig.from_dict(base)
    assert RunConfig.from_dict({**base, "name": "q", "data": {"source": "gsc", "path": "/b"}}).can_start_from(parent)
    moved = {"source": "gsc", "augment": {"speed": 0.15}}
    assert not RunConfig.from_dict({**base, "name": "q", "data": moved}).can_start_from(parent)
