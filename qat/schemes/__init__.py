"""QAT recipes: how a trained float model becomes a fixed-point QKeras model.

A scheme is a module with `validate(args, quant)` (raise on a bad setting, before any data
is loaded) and `quantize(ctx) -> QatResult`. Every scheme must hand back a plain fixed-bit
QKeras model (integer weights on a power-of-two grid, alpha=1): that is what hls4ml and the
hardware side read. Register a new scheme in `SCHEMES`.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from types import ModuleType

import numpy as np

from qat.quant_config import QuantConfig


class SchemeError(ValueError):
    pass


@dataclass
class QatContext:
    """What a scheme may use: the config, data, the trained float model and the training loop."""

    cfg: object  # RunConfig
    prep: object  # train.Prepared
    run_dir: Path
    float_model: object
    input_shape: tuple
    n_classes: int
    progress: bool = True
    teacher: object = None  # distillation teacher for the QAT phases (train.distill), or None

    @property
    def args(self) -> dict:
        return self.cfg.scheme_args

    def build(self, quant: QuantConfig | None, **overrides):
        from qat.models import build_model

        return build_model(self.cfg.model, self.input_shape, self.n_classes, quant, **{**self.cfg.model_args, **overrides})

    def calibration_features(self) -> np.ndarray:
        x = self.prep.features["train"][0]
        pick = np.random.default_rng(self.cfg.train.seed).permutation(len(x))[: self.cfg.train.calib_clips]
        return x[pick]

    def run_phase(self, phase: str, model, epochs: int, lr: float, callbacks=None) -> dict:
        from qat.train import run_phase

        return run_phase(phase, model, self.prep, self.cfg, self.run_dir, epochs, lr, self.progress, callbacks,
                         self.teacher)

    def evaluate(self, model) -> dict:
        from qat.train import evaluate_splits

        return evaluate_splits(model, self.prep)


@dataclass
class QatResult:
    model: object  # plain QKeras model for hls4ml
    quant: QuantConfig  # the resolved formats (per-layer integer bits etc.)
    results: dict  # phase name -> evaluate() output; must include "quantized"
    history: dict = field(default_factory=dict)  # phase name -> per-epoch history
    extra: dict = field(default_factory=dict)  # scheme-specific measurements for metrics.json
    hls_precisions: dict | None = None  # per-layer hls4ml precision overrides (e.g. transient formats)


def _registry() -> dict[str, ModuleType]:
    from qat.schemes import acos, fxp_qat, linear, trained_bits, two_stage

    return {"linear": linear, "acos": acos, "fxp_qat": fxp_qat, "two_stage": two_stage, "trained_bits": trained_bits}


def get(name: str) -> ModuleType:
    schemes = _registry()
    if name not in schemes:
        raise SchemeError(f"unknown scheme {name!r}; choose one of {sorted(schemes)}")
    return schemes[name]


def names() -> list[str]:
    return sorted(_registry())
