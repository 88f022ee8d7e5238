"""QKeras model -> hls4ml 1.3 ModelGraph whose fixed-point arithmetic equals QKeras bit for bit.

Three steps, all before any C++ is written:

1. ``check_supported``: every layer and quantizer is one the exact flow handles; otherwise one
   ``UnsupportedModelError`` lists every offending layer and what to use instead.
2. ``build_hls_config``: hls4ml's per-layer config (granularity='name') with the precisions that
   hls4ml gets wrong by default set explicitly (input, activations, dropped trailing quantizers and
   the hidden ``<layer>_linear`` activations, average-pooling accumulators).
3. ``convert``: ``hls4ml.converters.convert_from_keras_model`` with the chosen backend
   (Vitis/Vivado), io type, strategy and reuse factor.

Before 1 and 3, ``rewrite`` (rewrite.py) spells idioms the flow carries in the layers it has: fused
quantizer activations become a separate QActivation, binary/ternary weights their exact values on a
plain quantized_bits grid.

One module per job: quantizer_types.py (quantizer -> FixedType), checks.py (1), hls_config.py (2),
overrides.py (per-layer precision overrides, applied last), keras_graph.py (graph helpers); this
file holds the settings, run loading and ``convert`` itself.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from .checks import UnsupportedModelError, check_supported
from .hls_config import build_hls_config
from .overrides import merge_overrides, normalize_overrides, run_overrides
from .rewrite import rewrite

__all__ = ["HlsSettings", "UnsupportedModelError", "build_hls_config", "check_supported", "convert", "load_run",
           "merge_overrides", "normalize_overrides", "rewrite", "run_folder", "run_overrides"]

BACKENDS = ("Vitis", "Vivado")
IO_TYPES = ("io_parallel", "io_stream")
STRATEGIES = ("Latency", "Resource")


@dataclass(frozen=True)
class HlsSettings:
    """What the user chooses about the HLS implementation (not about numerics)."""

    backend: str = "Vitis"
    io_type: str = "io_parallel"
    strategy: str = "Latency"
    reuse_factor: int = 1
    part: str | None = None
    clock_period: float = 5.0

    def __post_init__(self):
        if self.backend not in BACKENDS:
            raise ValueError(f"backend {self.backend!r}: use one of {BACKENDS}")
        if self.io_type not in IO_TYPES:
            raise ValueError(f"io_type {self.io_type!r}: use one of {IO_TYPES}")
        if self.strategy not in STRATEGIES:
            raise ValueError(f"strategy {self.strategy!r}: use one of {STRATEGIES}")
        if int(self.reuse_factor) < 1:
            raise ValueError(f"reuse_factor must be >= 1, got {self.reuse_factor}")

    @classmethod
    def from_dict(cls, data: dict | None) -> "HlsSettings":
        data = dict(data or {})
        known = {f for f in cls.__dataclass_fields__}
        unknown = sorted(set(data) - known)
        if unknown:
            raise ValueError(f"unknown hls setting(s) {unknown}; known: {sorted(known)}")
        return cls(**data)


def run_folder(run_dir) -> Path:
    """``--run`` as a Path; a model file given instead gets the command that takes it."""
    run_dir = Path(run_dir)
    if run_dir.is_file():
        raise FileNotFoundError(f"{run_dir} is a file; --run takes a training run folder (model.h5, config.yaml); "
                                f"for a model of your own use: kwsflow hw {run_dir} --inputs X.npy")
    return run_dir


def load_run(run_dir) -> tuple[object, dict]:
    """(QKeras model, run config dict) from ``build/<run>/`` (model.h5 + config.yaml)."""
    import yaml

    run_dir = run_folder(run_dir)
    model_path = run_dir / "model.h5"
    if not model_path.exists():
        raise FileNotFoundError(f"{model_path} not found: train the run first (or, for a model of your own: "
                                "kwsflow hw MODEL.h5 --inputs X.npy)")
    config_path = run_dir / "config.yaml"
    config = yaml.safe_load(config_path.read_text()) if config_path.exists() else {}
    try:
        from qat.models import load_model
    except ImportError:  # training side not importable: fall back to QKeras's own custom objects
        from qkeras.utils import load_qmodel as load_model
    return load_model(model_path), (config or {})


def convert(
    model,
    output_dir,
    settings: HlsSettings | None = None,
    overrides: dict | None = None,
    project_name: str = "myproject",
    trace: bool = False,
):
    """QKeras ``keras.Model`` -> hls4ml ModelGraph whose C simulation is bit-exact to QKeras.

    Raises UnsupportedModelError (before anything is written) for layers/quantizers the exact flow
    cannot handle. The HLS project is written to ``output_dir`` by ``write()``/``compile()``.
    """
    import hls4ml

    settings = settings or HlsSettings()
    model = rewrite(model)  # fused activations split off, binary/ternary weights as exact values (rewrite.py)
    cfg = build_hls_config(model, settings.backend, settings.strategy, settings.reuse_factor, overrides, trace,
                           settings.io_type)
    kwargs = dict(
        hls_config=cfg,
        output_dir=str(output_dir),
        project_name=project_name,
        backend=settings.backend,
        io_type=settings.io_type,
        clock_period=settings.clock_period,
    )
    if settings.part:
        kwargs["part"] = settings.part
    return hls4ml.converters.convert_from_keras_model(model, **kwargs)
