"""Errors the RTL generator raises; each names the layer it could not handle."""

from hw.errors import UnsupportedLayerError

__all__ = ["RtlGenerationError", "UnsupportedLayerError", "require_same_type"]


class RtlGenerationError(RuntimeError):
    """The graph cannot be turned into RTL; nothing is left in the output directory."""


def require_same_type(spec) -> None:
    """A layer that only moves values (reshape, padding, cropping, a stream's skip) gets no
    requantizer: if hls4ml gave its output another fixed-point type than its input, refuse it."""
    if spec.kind != "Input" and spec.in_type is not None and spec.in_type != spec.out_type:
        raise UnsupportedLayerError(spec.name, spec.kind, f"changes type {spec.in_type} -> {spec.out_type}")
