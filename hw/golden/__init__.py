"""Bit-accurate numpy model of an hls4ml ModelGraph: one kernel module per layer type, found
through the one layer table (hw/layers.py)."""

from hw.errors import UnsupportedLayerError
from hw.golden.model import GoldenModel

__all__ = ["GoldenModel", "UnsupportedLayerError"]
