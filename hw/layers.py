"""The one layer table: per layer type, what every stage needs of it.

An entry names the Keras/QKeras classes the converter accepts for it, the hls4ml classes it becomes,
the golden kernel (hw/golden/), the RTL emitter (hw/rtl/emitters/), its role in the stream
schedule and, for layers with weights, the Keras kernel attribute and the hls4ml attribute holding
its output count (the pair the reuse factor divides). The converter's allow-list, the golden
model's kernel lookup, the RTL emitter lookup, mac_shape and the schedule's layer kinds are all
read from here. Adding a layer type = one entry + its kernel + its emitter + their tests.

Kernels and emitters are named as "module:attribute" and imported on first use, so this module
imports nothing of the stages that read it.
"""

from __future__ import annotations

from dataclasses import dataclass
from importlib import import_module

ROLES = ("shape", "elementwise", "window", "dense", "zeropad", "crop")
# the converter's check; "border": zero padding / cropping, which only add or drop a tensor's edges
CHECKS = ("passthrough", "weights", "activation", "pooling", "merge", "border", "inserted")


@dataclass(frozen=True)
class LayerType:
    name: str
    keras: tuple[str, ...]        # Keras / QKeras classes the converter accepts ('' of hls4ml-inserted layers)
    hls4ml: tuple[str, ...]       # hls4ml layer classes (matched along a layer's class MRO by name)
    golden: str | None            # hw.golden.<module>:<kernel class>
    rtl: str | None               # hw.rtl.emitters.<module>:<emit function>
    role: str                     # how the stream schedule treats it (ROLES)
    check: str                    # which converter check its Keras layers get (CHECKS)
    weight_attr: str | None = None   # Keras quantizer attribute prefix of the kernel (converter checks)
    outputs_attr: str | None = None  # hls4ml attribute: outputs per MAC group (mac_shape)

    def __post_init__(self):
        if self.role not in ROLES or self.check not in CHECKS:
            raise ValueError(f"{self.name}: role {self.role!r} / check {self.check!r} not in {ROLES} / {CHECKS}")


LAYERS = (
    LayerType("input", ("InputLayer",), ("Input",), "reshape:InputKernel", "reshape_emitter:emit_passthrough", "elementwise", "passthrough"),
    # Repack: io_stream's Reshape (re-cut into other beats; on our wires, the same order)
    LayerType("reshape", ("Flatten", "Reshape"), ("Reshape", "Flatten", "Repack"), "reshape:ReshapeKernel",
              "reshape_emitter:emit_passthrough", "elementwise", "passthrough"),
    LayerType("dropout", ("Dropout",), (), None, None, "shape", "passthrough"),  # hls4ml drops it
    # io_stream's copy of a tensor that feeds two layers. No emitter: hw.rtl.layer_spec.read_graph
    # reads its outputs as its input, and the stitcher forks that stream as in io_parallel graphs.
    LayerType("clone", (), ("Clone",), "reshape:ReshapeKernel", None, "shape", "inserted"),
    # Keras's own, or inserted by hls4ml's io_stream flow in front of a 'same' convolution
    LayerType("zeropad", ("ZeroPadding1D", "ZeroPadding2D"), ("ZeroPadding1D", "ZeroPadding2D"),
              "reshape:ZeroPaddingKernel", "border_emitter:emit_zeropad", "zeropad", "border"),
    # drops a tensor's first/last rows (time steps) and columns, e.g. a right-aligned residual shortcut
    LayerType("crop", ("Cropping1D", "Cropping2D"), ("Cropping1D", "Cropping2D"), "reshape:CroppingKernel",
              "border_emitter:emit_crop", "crop", "border"),
    LayerType("dense", ("QDense",), ("Dense",), "dense:DenseKernel", "dense_emitter:emit_dense", "dense",
              "weights", "kernel", "n_out"),
    LayerType("conv1d", ("QConv1D",), ("Conv1D", "PointwiseConv1D"), "conv:Conv1DKernel", "conv_emitter:emit_conv",
              "window", "weights", "kernel", "n_filt"),
    LayerType("conv2d", ("QConv2D",), ("Conv2D", "PointwiseConv2D"), "conv:Conv2DKernel", "conv_emitter:emit_conv",
              "window", "weights", "kernel", "n_filt"),
    # QSeparableConv1D/2D: hls4ml splits one into a DepthwiseConv (this row; its Keras half, so the
    # converter checks its depthwise kernel here) and a PointwiseConv (the conv rows above);
    # hw/convert/separable.py checks the rest and sets the exact intermediate type
    LayerType("depthwise2d", ("QDepthwiseConv2D", "QSeparableConv2D"), ("DepthwiseConv2D",),
              "depthwise:DepthwiseConv2DKernel", "conv_emitter:emit_depthwise", "window", "weights", "depthwise", "n_chan"),
    LayerType("depthwise1d", ("QSeparableConv1D",), ("DepthwiseConv1D",), "depthwise:DepthwiseConv1DKernel",
              "conv_emitter:emit_depthwise", "window", "weights", "depthwise", "n_chan"),
    LayerType("activation", ("QActivation",), ("Activation",), "activation:ActivationKernel",
              "activation_emitter:emit_activation", "elementwise", "activation"),
    LayerType("pooling1d", ("AveragePooling1D", "MaxPooling1D"), ("Pooling1D",), "pooling:Pooling1DKernel",
              "pool_emitter:emit_pool", "window", "pooling"),
    LayerType("pooling2d", ("AveragePooling2D", "MaxPooling2D"), ("Pooling2D",), "pooling:Pooling2DKernel",
              "pool_emitter:emit_pool", "window", "pooling"),
    LayerType("add", ("Add",), ("Merge",), "merge:AddKernel", "merge_emitter:emit_merge", "elementwise", "merge"),
    # channel (last-axis) concatenation of two streams: per pixel, input 0's channels then input 1's
    LayerType("concatenate", ("Concatenate",), ("Concatenate",), "merge:ConcatKernel", "concat_emitter:emit_concat",
              "elementwise", "merge"),
)

_BY_HLS4ML = {cls: entry for entry in LAYERS for cls in entry.hls4ml}
_BY_KERAS = {cls: entry for entry in LAYERS for cls in entry.keras}


def by_keras(class_name: str) -> LayerType | None:
    """The entry of a Keras / QKeras layer class, or None (the converter refuses it)."""
    return _BY_KERAS.get(class_name)


def by_hls4ml(class_name: str) -> LayerType | None:
    """The entry of an hls4ml layer class name, or None."""
    return _BY_HLS4ML.get(class_name)


def for_hls4ml_layer(layer) -> LayerType | None:
    """The entry of an hls4ml layer object: its class or the nearest base class in the table."""
    for cls in type(layer).__mro__:
        if cls.__name__ in _BY_HLS4ML:
            return _BY_HLS4ML[cls.__name__]
    return None


def hls4ml_names(role: str) -> tuple[str, ...]:
    """hls4ml class names of every entry with this schedule role."""
    return tuple(c for e in LAYERS if e.role == role for c in e.hls4ml)


def keras_names(check: str) -> tuple[str, ...]:
    """Keras class names of every entry the converter checks this way."""
    return tuple(c for e in LAYERS if e.check == check for c in e.keras)


def resolve(ref: str, package: str):
    """'module:attribute' under `package` -> the object (imported on first use)."""
    module, attr = ref.split(":")
    return getattr(import_module(f"{package}.{module}"), attr)
