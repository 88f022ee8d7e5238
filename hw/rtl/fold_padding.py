"""Pass over the generator's LayerSpecs: fold a ZeroPadding layer into the windowed layer it feeds.

Why: a ZeroPadding stage (kws_zeropad) gates every bit of every beat between the input and a
zero pixel - 533 LUT4 for a 64-channel 8-bit pixel in synth_ecp5, five of them in the always-on
DS-CNN (its frequency padding) - while the line buffer behind it (kws_window / kws_window_stream)
already emits zeros wherever a window reaches past the map. Folded in, the conv or depthwise layer
reads the unpadded map with the padding as its own (hls4ml's pad_top/bottom/left/right), which is
what a 'same' convolution without the explicit layer is: the same windows, the same zeros.

Applies to a ZeroPadding1D/2D whose only reader is a Conv or DepthwiseConv without padding of its
own. Not to pooling (padded pooling is refused: hls4ml and the golden model do not pad pools), and
not when the padding is the last layer of the design (`generate_rtl(upto=<the padding>)`).
"""

from __future__ import annotations

from dataclasses import replace

from .layer_spec import LayerSpec

WINDOWED = ("Conv1D", "Conv2D", "DepthwiseConv1D", "DepthwiseConv2D")
PADS = ("pad_top", "pad_bottom", "pad_left", "pad_right")


class FoldZeroPadding:
    def match(self, specs: list[LayerSpec], spec: LayerSpec, readers: dict) -> LayerSpec | None:
        """The windowed layer to fold the padding `spec` into, or None."""
        if not spec.kind.startswith("ZeroPadding"):
            return None
        after = readers.get(spec.name, [])
        if len(after) != 1:
            return None
        conv = after[0]
        if conv.kind not in WINDOWED or len(conv.inputs) > 1 or conv.in_type != spec.out_type:
            return None
        if any(int(conv.attrs.get(p, 0) or 0) for p in PADS):
            return None
        if spec.in_type != spec.out_type or spec.kind[-2:] != conv.kind[-2:]:
            return None
        return conv

    def transform(self, specs: list[LayerSpec], spec: LayerSpec, conv: LayerSpec) -> list[LayerSpec]:
        """The list without `spec`; `conv` reads the padding's input with the padding as its own."""
        g = spec.attrs.get
        attrs = dict(conv.attrs)
        attrs["in_width"] = int(g("in_width"))
        attrs["pad_left"], attrs["pad_right"] = int(g("pad_left", 0) or 0), int(g("pad_right", 0) or 0)
        top, bottom = int(g("pad_top", 0) or 0), int(g("pad_bottom", 0) or 0)
        if spec.kind.endswith("2D") and (top or bottom):  # (a stream step never pads rows: its in_height stays)
            attrs["in_height"], attrs["pad_top"], attrs["pad_bottom"] = int(g("in_height")), top, bottom
        attrs["kws_folded_padding"] = spec.name
        folded = replace(conv, attrs=attrs, in_shape=spec.in_shape, inputs=spec.inputs)
        return [folded if s is conv else s for s in specs if s is not spec]

