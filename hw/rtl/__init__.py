"""Verilog generator: hls4ml ModelGraph -> streaming valid/ready IP, one module per layer."""

from .errors import RtlGenerationError, UnsupportedLayerError  # noqa: F401
from .generate import RtlDesign, generate_rtl  # noqa: F401
