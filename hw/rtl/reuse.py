"""Reuse factors per layer, as a user writes them on the command line.

    64                 every layer: the largest RF it can realise that is <= 64 (hls4ml's global RF)
    64,dw1=128,pw1=32  the same, with exact RFs for the named layers (hls4ml's per-layer config)
    64,sep1=8          a Keras layer hls4ml split in two (QSeparableConv sep1 -> sep1_depthwise +
                       sep1_pointwise): each half the largest RF it can realise that is <= 8
    64,balance         start from 64, then give every layer the largest RF that keeps it within
                       the slowest layer's cycles: same II, fewer multipliers
    seq                no dataflow: one sequential engine computes every layer in turn on one
                       multiplier (hw/rtl/sequential.py) - the smallest design, for small FPGAs

The text round-trips (str(plan) parses back), so reports can print the command that made them.
"""

from __future__ import annotations

import argparse
from dataclasses import dataclass

# Fully parallel (RF 1) real models have 10^4-10^5 multipliers: too big to simulate or synthesize here.
DEFAULT_RF = 64
REUSE_HELP = (f"N: every layer uses the largest valid RF <= N (default {DEFAULT_RF}); N,layer=R,...: exact RFs for "
              "named layers (a split QSeparableConv's Keras name: each half <= R); N,balance: then raise each layer's RF while it stays within the slowest layer's cycles; "
              "seq: one sequential engine, one multiplier for all layers")

@dataclass(frozen=True)
class ReusePlan:
    default: int | None = None      # None: the ReuseFactor in the hls4ml graph
    layers: tuple[tuple[str, int], ...] = ()
    balance: bool = False
    sequential: bool = False  # "seq": hw/rtl/sequential.py instead of a stage per layer

    def for_layer(self, name: str) -> int | None:
        return dict(self.layers).get(name)

    def __str__(self) -> str:
        parts = [] if self.default is None else [str(self.default)]
        parts += [f"{n}={r}" for n, r in self.layers]
        parts += ["balance"] if self.balance else []
        parts += ["seq"] if self.sequential else []
        return ",".join(parts) or "graph"

    @property
    def tag(self) -> str:
        """For directory names: rtl_rf<tag>."""
        return str(self).replace(",", "_").replace("=", "-")


def parse_reuse(text) -> ReusePlan:
    if isinstance(text, ReusePlan):
        return text
    if isinstance(text, int):
        return ReusePlan(default=text)
    default, layers, balance, sequential = None, [], False, False
    for part in str(text).replace(" ", "").split(","):
        if not part:
            continue
        if part == "seq":
            sequential = True
        elif part == "balance":
            balance = True
        elif "=" in part:
            name, _, rf = part.partition("=")
            layers.append((name, _positive(rf, part)))
        elif default is None:
            default = _positive(part, part)
        else:
            raise argparse.ArgumentTypeError(f"{text!r}: two global reuse factors ({default} and {part})")
    if balance and default is None and not layers:
        raise argparse.ArgumentTypeError(f"{text!r}: 'balance' needs a starting reuse factor, e.g. 64,balance")
    if sequential and (default is not None or layers or balance):
        raise argparse.ArgumentTypeError(f"{text!r}: 'seq' (one engine for all layers) takes no reuse factors")
    return ReusePlan(default, tuple(layers), balance, sequential)


def _positive(rf: str, part: str) -> int:
    if not rf.isdigit() or int(rf) < 1:
        raise argparse.ArgumentTypeError(f"{part!r}: a reuse factor is a positive integer "
                                         "(forms: 64 | 64,dw1=128 | 64,balance | seq)")
    return int(rf)
