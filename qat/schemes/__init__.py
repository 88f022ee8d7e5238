"""QAT recipes: how a trained float model becomes a fixed-point QKeras model.

A scheme is a module with `validate(args, quant)` (raise on a bad setting, before any data
is loaded) and `quantize(ctx) -> QatResult`. Every scheme must hand back a plain fixed-bit
QKeras model (integer weights on a power-of-two grid, alpha=1): that is what hls4ml and the
hardware side read. Register a new scheme in `SCHEMES`; the context and result types live in `base.py`.
"""

from __future__ import annotations

from types import ModuleType

from qat.schemes import acos, fxp_qat, linear, trained_bits, two_stage
from qat.schemes.base import QatContext, QatResult, SchemeError

__all__ = ["QatContext", "QatResult", "SchemeError", "SCHEMES", "get", "names"]


SCHEMES: dict[str, ModuleType] = {"linear": linear, "acos": acos, "fxp_qat": fxp_qat, "two_stage": two_stage,
                                  "trained_bits": trained_bits}


def get(name: str) -> ModuleType:
    if name not in SCHEMES:
        raise SchemeError(f"unknown scheme {name!r}; choose one of {sorted(SCHEMES)}")
    return SCHEMES[name]


def names() -> list[str]:
    return sorted(SCHEMES)
