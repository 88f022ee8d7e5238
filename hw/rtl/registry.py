"""The emitter table: hls4ml layer class -> function(spec, edge_in, prefix, reuse_factor) -> EmittedLayer
(edge_in: a tuple of Edges for a layer with several inputs).

Adding a layer type = a new module in emitters/ and one line here; a class missing from the
table is refused with one clear error naming the layer.
"""

from __future__ import annotations

from .emitters.activation_emitter import emit_activation
from .emitters.conv_emitter import emit_conv, emit_depthwise
from .emitters.dense_emitter import emit_dense
from .emitters.merge_emitter import emit_merge
from .emitters.pool_emitter import emit_pool
from .emitters.reshape_emitter import emit_passthrough
from .emitters.zeropad_emitter import emit_zeropad
from .errors import UnsupportedLayerError

EMITTERS = {
    "Input": emit_passthrough,
    "Flatten": emit_passthrough,
    "Reshape": emit_passthrough,
    "Dense": emit_dense,
    "Activation": emit_activation,
    "Conv1D": emit_conv,
    "Conv2D": emit_conv,
    "PointwiseConv1D": emit_conv,
    "PointwiseConv2D": emit_conv,
    "DepthwiseConv2D": emit_depthwise,
    "Pooling1D": emit_pool,
    "Pooling2D": emit_pool,
    "ZeroPadding1D": emit_zeropad,
    "ZeroPadding2D": emit_zeropad,
    "Merge": emit_merge,  # residual Add (two streams in; FIFO depths from hw/rtl/schedule.py)
}


def emitter_for(spec):
    try:
        return EMITTERS[spec.kind]
    except KeyError:
        raise UnsupportedLayerError(spec.name, spec.kind,
                                    f"no RTL emitter for layer class '{spec.kind}' (have {sorted(EMITTERS)})") from None
