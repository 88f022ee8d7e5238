"""Errors the RTL generator raises; each names the layer it could not handle."""

from hw.errors import UnsupportedLayerError

__all__ = ["RtlGenerationError", "UnsupportedLayerError"]


class RtlGenerationError(RuntimeError):
    """The graph cannot be turned into RTL; nothing is left in the output directory."""
