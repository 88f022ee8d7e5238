"""Pass over the generator's LayerSpecs: fold a relu / linear Activation into the MAC layer feeding it.

Why: a MAC layer (Dense, Conv, DepthwiseConv, Pointwise: kws_dense / kws_dense_pipe) already
requantizes its OB output lanes each cycle, while an Activation stage (kws_act) requantizes every
element of every beat in parallel: 64 requantizers per stage for a 64-channel pixel, even when the
MAC layer produces one value per cycle. Folded in, the MAC's lane requantizer computes result cast
-> relu -> activation cast (kws_requant_act.v), the composite hls4ml computes in that order with
those rounding and overflow modes, and the MAC's output registers hold activation-width values.

The fused spec keeps the MAC layer's name (reuse factors, the planner and the stream plan name
MAC layers) and carries the activation (`LayerSpec.activation`: its name for reports, function
and the MAC's own result type); its out_type is the activation's. Layers that read the activation
read the fused spec instead. The golden model is untouched: the fused stage's output is the
activation's traced output.
"""

from __future__ import annotations

from dataclasses import replace

from hw.layers import by_hls4ml

from .emitters.activation_emitter import SUPPORTED
from .layer_spec import FusedActivation, LayerSpec
from .passes import apply_passes


def is_mac(spec: LayerSpec) -> bool:
    """A layer the dense core computes (the layer table gives it weights and an output count)."""
    entry = by_hls4ml(spec.kind)
    return entry is not None and entry.outputs_attr is not None and "weight" in spec.weights


class FuseActivation:
    """Applies to a MAC layer whose output only one layer reads, a relu or linear Activation that
    reads nothing else and takes the MAC's result type as it is. Not to a MAC output that is also
    forked elsewhere (a residual shortcut, an Add, a Concatenate read it before the activation),
    nor to an Activation the layer table has no RTL for (that one must be refused by name), nor when
    the activation is not in the design (generate_rtl(upto=<the MAC layer>)), nor to a MAC layer
    `keep(spec)` names (generate_rtl: a Dense at RF 1, see there)."""

    def __init__(self, keep=None):
        self.keep = keep or (lambda spec: False)

    def match(self, specs: list[LayerSpec], spec: LayerSpec, readers: dict) -> LayerSpec | None:
        """The Activation spec to fold into `spec`, or None."""
        if not is_mac(spec) or spec.activation is not None or self.keep(spec):
            return None
        after = readers.get(spec.name, [])
        if len(after) != 1:
            return None
        act = after[0]
        entry = by_hls4ml(act.kind)
        if act.kind != "Activation" or entry is None or entry.rtl is None:
            return None
        if str(act.attrs.get("activation", "linear")).lower() not in SUPPORTED:
            return None
        if len(act.inputs) > 1 or act.in_type != spec.out_type or act.in_shape != spec.out_shape:
            return None
        return act

    def transform(self, specs: list[LayerSpec], spec: LayerSpec, act: LayerSpec) -> list[LayerSpec]:
        """The list with `spec` and `act` replaced by one spec (named as `spec`, placed where `spec`
        was), and every reader of `act` reading it instead."""
        fused = replace(spec, out_type=act.out_type, out_shape=act.out_shape,
                        activation=FusedActivation(act.name, str(act.attrs.get("activation", "linear")).lower(),
                                                   spec.out_type))
        out = []
        for s in specs:
            if s is act:
                continue
            if s is spec:
                out.append(fused)
            elif act.name in s.inputs:
                out.append(replace(s, inputs=tuple(spec.name if n == act.name else n for n in s.inputs)))
            else:
                out.append(s)
        return out


def fuse_activations(specs: list[LayerSpec]) -> list[LayerSpec]:
    """`specs` with every relu/linear Activation folded into the MAC layer feeding it."""
    return apply_passes(specs, [FuseActivation()])


def fused_names(specs: list[LayerSpec]) -> dict[str, str]:
    """{MAC layer: activation folded into it}."""
    return {s.name: s.activation.name for s in specs if s.activation is not None}
