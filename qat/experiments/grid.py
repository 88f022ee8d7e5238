"""The runs of the comparison grid: names, models, schemes, seeds, epochs (and NAS retraining specs)."""

from __future__ import annotations

import json
import logging
from pathlib import Path

log = logging.getLogger("qat.experiments")

W4 = {"weight_bits": 4, "act_bits": 8, "input_bits": 8}
W8 = {"weight_bits": 8, "act_bits": 8, "input_bits": 8}
ACOS_LAMBDA = 1e-4


def grid(full: bool, epochs: tuple | None = None) -> list[dict]:
    """Run specs: name, model, seed, scheme, scheme_args, quant, label, bits (x axis), init_from."""
    seeds_a = [0, 1, 2] if full else [0]
    seeds_b = [0, 1, 2] if full else [0, 1]
    f_ep, q_ep = epochs[:2] if epochs else ((40, 20) if full else (20, 6))
    s_ep = epochs[2] if epochs and len(epochs) > 2 else None
    runs = []
    for seed in seeds_a:
        fl = f"dscnn_float_s{seed}"
        runs.append(dict(name=fl, model="dscnn", seed=seed, label="float", bits=32, float_epochs=f_ep))
        common = dict(model="dscnn", seed=seed, init_from=fl, qat_epochs=q_ep)
        runs += [
            dict(name=f"dscnn_linear_w8_s{seed}", scheme="linear", quant=W8, label="linear", bits=8, **common),
            dict(name=f"dscnn_linear_w4_s{seed}", scheme="linear", quant=W4, label="linear", bits=4, **common),
            dict(name=f"dscnn_acos0_w4_s{seed}", scheme="acos", quant=W4, label="squashed (lambda=0)", bits=4,
                 scheme_args={"lam": 0.0, "soft_epochs": q_ep // 2 + 1}, **common),
            dict(name=f"dscnn_acos_w4_s{seed}", scheme="acos", quant=W4, label="squashed+ACosR", bits=4,
                 scheme_args={"lam": ACOS_LAMBDA, "soft_epochs": q_ep // 2 + 1, "warmup_epochs": 1,
                              "ramp_epochs": 1}, **common),
            dict(name=f"dscnn_fxp_acc32_w4_s{seed}", scheme="fxp_qat", quant=W4, label="fxp_qat acc32", bits=4,
                 scheme_args={"accum_width": 32}, **common),
            dict(name=f"dscnn_fxp_acc16_w4_s{seed}", scheme="fxp_qat", quant=W4, label="fxp_qat acc16", bits=4,
                 scheme_args={"accum_width": 16}, **common),
            dict(name=f"dscnn_trained_bits_s{seed}", scheme="trained_bits", quant=W8, label="trained_bits", bits=None,
                 scheme_args={"weight_lambda": 0.05, "act_lambda": 0.02}, **common),
        ]
        if full:
            runs.append(dict(name=f"dscnn_fxp_acc32_w8_s{seed}", scheme="fxp_qat", quant=W8, label="fxp_qat acc32",
                             bits=8, scheme_args={"accum_width": 32}, **common))
    for seed in seeds_b:
        fl = f"ffn_float_s{seed}"
        runs.append(dict(name=fl, model="streaming_ffn", seed=seed, label="float", bits=32, float_epochs=f_ep, det=True))
        for bits in ([1, 4, 5, 8] if (full or seed == 0) else [4]):
            runs.append(dict(name=f"ffn_two_stage_w{bits}_s{seed}", model="streaming_ffn", seed=seed, scheme="two_stage",
                             quant=W8, label="two_stage", bits=bits, init_from=fl, qat_epochs=q_ep, det=True,
                             scheme_args={"weight_bits": bits, "stage1_epochs": q_ep, "stage2_epochs": q_ep}))
    # paper C: searched architectures, fixed vs trained bit-widths (last: the most expensive per result)
    for features in ("mfcc", "raw"):
        runs.append(dict(name=f"nas_{features}_search", nas=features, seed=0,
                         float_epochs=f_ep if full else f_ep // 2, qat_epochs=q_ep if full else q_ep // 2,
                         search_epochs=s_ep or (12 if full else (8 if features == "mfcc" else 5))))
    # Most important results first, so a cut-short run still has them; floats precede their QAT runs.
    priority = {None: 0, "linear": 1, "fxp_qat": 1, "two_stage": 1, "acos": 2, "trained_bits": 3}
    return sorted(runs, key=lambda r: (5 if r.get("nas") else r["seed"] > 0, priority[r.get("scheme")]))


def run_config(spec: dict, data: dict):
    from qat.run_config import RunConfig

    train = {"seed": spec["seed"], "float_epochs": spec.get("float_epochs", 0), "qat_epochs": spec.get("qat_epochs", 0)}
    if spec.get("init_from"):
        train["init_from"] = spec["init_from"]
    return RunConfig.from_dict({"name": spec["name"], "model": spec["model"], "data": data,
                                "quant": spec.get("quant"), "scheme": spec.get("scheme", "linear"),
                                "scheme_args": spec.get("scheme_args", {}), "train": train})


def nas_specs(spec: dict, data: dict, runs_dir: Path, fresh: bool) -> list:
    """Search (or reuse the search of) one feature kind, then the runs retraining what it found."""
    from qat.nas.pipeline import retrain_configs, run_search
    from qat.nas.search import SearchSettings
    from qat.run_config import RunConfig

    out = runs_dir / spec["name"]
    if fresh or not (out / "arch.json").exists():
        log.info("NAS search on %s features", spec["nas"])
        settings = SearchSettings(epochs=spec["search_epochs"], warmup_epochs=min(1, spec["search_epochs"] - 1),
                                  seed=spec["seed"])
        run_search(spec["nas"], data, settings, False, out,
                   log=log.info)
    found = json.loads((out / "arch.json").read_text())
    name = f"nas_{spec['nas']}"
    cfgs = retrain_configs(name, found["model"], found, data, (spec["float_epochs"], spec["qat_epochs"]), spec["seed"])
    arch = ",".join("skip" if op["op"] == "skip" else f"k{op['kernel']}c{op['channels']}" for op in found["arch"])
    labels = {"float": ("float", 32), "linear8": ("nas fixed 8-bit", 8), "trained_bits": ("nas trained_bits", None)}
    out_specs = []
    for key, c in cfgs.items():
        label, bits = labels[key]
        s = dict(name=c["name"], model=found["model"], seed=spec["seed"], label=label, bits=bits, arch=arch,
                 scheme=c.get("scheme"), quant=c.get("quant"), search_seconds=found["search_seconds"])
        out_specs.append((s, RunConfig.from_dict(c)))
    return out_specs
