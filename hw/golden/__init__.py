"""Bit-accurate numpy model of an hls4ml ModelGraph: one kernel module per layer type, registered
in a table keyed by hls4ml layer class (``registry.KERNELS``)."""

from hw.golden.model import GoldenModel
from hw.golden.registry import KERNELS, UnsupportedLayerError

__all__ = ["GoldenModel", "KERNELS", "UnsupportedLayerError"]
