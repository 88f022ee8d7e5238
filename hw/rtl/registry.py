"""The emitter table: hls4ml layer class -> function(spec, edge_in, prefix, reuse_factor) -> EmittedLayer.

Adding a layer type = a new module in emitters/ and one line here; a class missing from the
table is refused with one clear error naming the layer.
"""

from __future__ import annotations

from .emitters.activation_emitter import emit_activation
from .emitters.dense_emitter import emit_dense
from .emitters.reshape_emitter import emit_passthrough
from .errors import UnsupportedLayerError

EMITTERS = {
    "Input": emit_passthrough,
    "Flatten": emit_passthrough,
    "Reshape": emit_passthrough,
    "Dense": emit_dense,
    "Activation": emit_activation,
}


def emitter_for(spec):
    try:
        return EMITTERS[spec.kind]
    except KeyError:
        raise UnsupportedLayerError(spec.name, spec.kind,
                                    f"no RTL emitter for layer class '{spec.kind}' (have {sorted(EMITTERS)})") from None
