"""Differentiable NAS on toys: the MAC penalty decides, the found architecture builds as a model."""

import numpy as np
import pytest

from qat.nas.search import SearchSettings, search
from qat.nas.supernet import SearchSpace, build_supernet, candidate_macs

TOY = dict(dims=2, n_blocks=2, kernels=(1, 3), channels=(4, 8), stem_channels=8, stem_kernel=(3, 3),
           stem_stride=(1, 1))


def toy_data(n=256, seed=0):
    rng = np.random.default_rng(seed)
    y = rng.integers(0, 3, n)
    x = rng.normal(0, 1, (n, 6, 6, 1)).astype(np.float32)
    x[:, :3, :3, 0] += y[:, None, None]  # learnable
    return x, y


def test_candidate_macs_are_exact():
    space = SearchSpace(**TOY)
    macs = candidate_macs(space, positions=36, in_channels=8)
    # (k=1,c=4) (k=1,c=8) (k=3,c=4) (k=3,c=8) skip
    assert macs.tolist() == [36 * 8 * 4, 36 * 8 * 8, 36 * 9 * 8 * 4, 36 * 9 * 8 * 8, 0]
    net = build_supernet(space, (6, 6, 1), 3)
    assert net.max_macs() == 36 * 9 * 1 * 8 + 2 * 36 * 9 * 8 * 8 + 8 * 3
    assert float(net.expected_macs()) == pytest.approx(36 * 9 * 8 + 2 * macs.mean() + 24, rel=1e-5)


def test_dominant_mac_penalty_picks_the_cheapest_op():
    x, y = toy_data()
    heavy = search(SearchSpace(**TOY), x, y, 3, SearchSettings(epochs=3, warmup_epochs=0, batch_size=32, mac_penalty=50.0,
                                                              alpha_lr=3e-2), log=lambda *_: None)
    assert [op["op"] for op in heavy["arch"]] == ["skip", "skip"]
    assert all(type(op) is dict for op in heavy["arch"])  # plain, YAML-serializable
    no_skip = SearchSpace(**{**TOY, "skip": False})
    heavy = search(no_skip, x, y, 3, SearchSettings(epochs=3, warmup_epochs=0, batch_size=32, mac_penalty=50.0, alpha_lr=3e-2),
                   log=lambda *_: None)
    assert heavy["arch"] == [{"op": "conv", "kernel": 1, "channels": 4}] * 2
    assert heavy["expected_macs"] < heavy["max_macs"] / 2


def test_without_penalty_the_search_keeps_convolutions():
    x, y = toy_data()
    free = search(SearchSpace(**TOY), x, y, 3, SearchSettings(epochs=3, warmup_epochs=0, batch_size=32, mac_penalty=0.0,
                                                             alpha_lr=3e-2), log=lambda *_: None)
    assert any(op["op"] == "conv" for op in free["arch"])


def test_found_architecture_builds_float_and_quantized():
    from qat.models import build_model
    from qat.quant_config import QuantConfig

    arch = [{"op": "conv", "kernel": 3, "channels": 4}, {"op": "skip"}]
    args = {"arch": arch, "space": SearchSpace(**TOY).to_dict()}
    fl = build_model("nas_mfcc", (6, 6, 1), 12, None, **args)
    q = build_model("nas_mfcc", (6, 6, 1), 12, QuantConfig(weight_bits=4), **args)
    assert [l.name for l in fl.layers if l.name.startswith("block")] == ["block1", "block1_bn", "block1_relu"]
    assert type(q.get_layer("block1")).__name__ == "QConv2D"
    assert fl.output_shape == q.output_shape == (None, 12)


def test_bad_search_settings():
    with pytest.raises(ValueError, match="mac_penalty"):
        SearchSettings(mac_penalty=-1)
    with pytest.raises(ValueError, match="warmup_epochs"):
        SearchSettings(epochs=2, warmup_epochs=2)
    with pytest.raises(ValueError, match="dims"):
        SearchSpace(dims=3)


def test_retrain_configs_are_valid_run_configs():
    import yaml

    from qat.nas.pipeline import retrain_configs
    from qat.run_config import RunConfig

    found = {"arch": [{"op": "conv", "kernel": 3, "channels": 4}, {"op": "skip"}], "space": SearchSpace(**TOY).to_dict()}
    cfgs = retrain_configs("nas_toy", "nas_mfcc", found, {"source": "synthetic"}, (2, 1))
    for cfg in cfgs.values():
        loaded = RunConfig.from_dict(yaml.safe_load(yaml.safe_dump(cfg)))
        assert loaded.model_args["arch"] == found["arch"]
    assert cfgs["trained_bits"]["train"]["init_from"] == cfgs["float"]["name"]


def test_committed_configs_load_and_chain_float_to_qat(tmp_path):
    """What `python -m qat.nas --configs DIR` writes: a float config with the recipe's defaults and
    its 8-bit QAT starting from it, both valid run configs with the found architecture."""
    import yaml

    from qat.nas.pipeline import committed_configs
    from qat.run_config import RunConfig

    found = {"arch": [{"op": "conv", "kernel": 3, "channels": 4}, {"op": "skip"}], "space": SearchSpace(**TOY).to_dict(),
             "model": "nas_mfcc", "expected_macs": 1234.0}
    cfgs = committed_configs("mfcc", 0.3, found, "python -m qat.nas ...")
    for key, (head, cfg) in cfgs.items():
        path = tmp_path / f"{key}.yaml"
        path.write_text(head + yaml.safe_dump(cfg, sort_keys=False))
        loaded = RunConfig.load(path)
        assert loaded.model_args["arch"] == found["arch"] and head.startswith("#") and "penalty 0.3" in head
    assert cfgs["float"][1]["name"] == "gsc_nas_mfcc_p0.3_float" and "quant" not in cfgs["float"][1]
    assert cfgs["linear8"][1]["train"]["init_from"] == "gsc_nas_mfcc_p0.3_float"


def test_nas_command_refuses_bad_penalties_and_configs_without_data_before_searching(capsys):
    from qat.nas.__main__ import main

    assert main(["--features", "mfcc", "--mac-penalty", "1", "-2", "--reduced"]) == 2
    assert "mac_penalty=-2" in capsys.readouterr().err
    assert main(["--features", "mfcc", "--mac-penalty", "1", "--configs", "x", "--reduced"]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "--configs writes Speech Commands configs" in err[0]
