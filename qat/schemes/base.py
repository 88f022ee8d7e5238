"""What a QAT scheme is handed and what it hands back (no import of the training loop: the
loop injects itself into QatContext, so schemes, run configs and train form no circle)."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

import numpy as np

from qat.models import build_model
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
    teacher: object = None  # qat.teacher.Teacher of the QAT phases (train.distill), or None
    # the training loop, injected by qat.train: (phase, model, epochs, lr, callbacks) -> state dict
    phase_runner: Callable | None = None
    evaluator: Callable | None = None  # model -> {split: {"accuracy": ...}}

    @property
    def args(self) -> dict:
        return self.cfg.scheme_args

    def build(self, quant: QuantConfig | None, **overrides):
        return build_model(self.cfg.model, self.input_shape, self.n_classes, quant, **{**self.cfg.model_args, **overrides})

    def calibration_features(self) -> np.ndarray:
        x = self.prep.features["train"][0]
        pick = np.random.default_rng(self.cfg.train.seed).permutation(len(x))[: self.cfg.train.calib_clips]
        return x[pick]

    def run_phase(self, phase: str, model, epochs: int, lr: float, callbacks=None) -> dict:
        return self.phase_runner(phase, model, epochs, lr, callbacks)

    def evaluate(self, model) -> dict:
        return self.evaluator(model)


@dataclass
class QatResult:
    model: object  # plain QKeras model for hls4ml
    quant: QuantConfig  # the resolved formats (per-layer integer bits etc.)
    results: dict  # phase name -> evaluate() output; must include "quantized"
    history: dict = field(default_factory=dict)  # phase name -> per-epoch history
    extra: dict = field(default_factory=dict)  # scheme-specific measurements for metrics.json
    hls_precisions: dict | None = None  # per-layer hls4ml precision overrides (e.g. transient formats)
