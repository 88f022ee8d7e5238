"""``check_supported``: every layer and quantizer is one the exact flow handles; otherwise one
``UnsupportedModelError`` lists every offending layer and what to use instead."""

from __future__ import annotations

import numpy as np

from hw.layers import LAYERS, keras_names

from .errors import UnsupportedModelError
from .keras_graph import consumers, inbound_layers, is_linear_quantizer, producer
from .quantizer_types import QuantizerProblem, activation_type, quantizer_repr, weight_type
from .rewrite import rewrite, user_layer_name
from .separable import SEPARABLE_LAYERS, separable_problems


# The supported Keras classes come from the one layer table (hw/layers.py).
WEIGHT_LAYERS = {cls: e.weight_attr for e in LAYERS if e.check == "weights" for cls in e.keras}
ACTIVATION_LAYERS = set(keras_names("activation"))
PASSTHROUGH_LAYERS = set(keras_names("passthrough"))
POOLING_LAYERS = set(keras_names("pooling"))
MERGE_LAYERS = set(keras_names("merge"))  # Add, Concatenate: exact here (see _merge_problems, _concat_problems)
BORDER_LAYERS = set(keras_names("border"))  # ZeroPadding1D/2D, Cropping1D/2D (see _border_problems)
# layers whose output has their input's fixed type (hls4ml gives them their input's precision)
TYPE_KEEPING = (PASSTHROUGH_LAYERS - {"InputLayer"}) | BORDER_LAYERS
# the other Keras merge layers hls4ml turns into its Merge layer, refused with this advice
OTHER_MERGES = {"Subtract", "Multiply", "Average", "Maximum", "Minimum", "Concatenate", "Dot"} - MERGE_LAYERS

# What to use instead of each unsupported Keras/QKeras layer class (full advice, starts with a verb).
_INSTEAD = {
    "Dense": "use QDense", "Conv1D": "use QConv1D", "Conv2D": "use QConv2D", "DepthwiseConv2D": "use QDepthwiseConv2D",
    "BatchNormalization": "fold BatchNorm into the preceding layer before QAT (qat.models.fold)",
    "QBatchNormalization": "fold BatchNorm into the preceding layer before QAT (qat.models.fold)",
    "QConv2DBatchnorm": "fold BatchNorm into a plain QConv2D before export",
    "QDepthwiseConv2DBatchnorm": "fold BatchNorm into a plain QDepthwiseConv2D before export",
    "QAveragePooling2D": "use AveragePooling2D followed by QActivation(quantized_bits(...))",
    "GlobalAveragePooling2D": "use AveragePooling2D over the whole map followed by QActivation(quantized_bits(...))",
    "GlobalAveragePooling1D": "use AveragePooling1D over the whole sequence followed by QActivation(quantized_bits(...))",
    "QGlobalAveragePooling2D": "use AveragePooling2D followed by QActivation(quantized_bits(...))",
    "Activation": "use QActivation(quantized_relu(bits, integer)) or QActivation(quantized_bits(...))",
    "ReLU": "use QActivation(quantized_relu(bits, integer))",
    "Softmax": "end the model with logits (trailing quantized_bits); take argmax outside the network",
    "SeparableConv1D": "use QSeparableConv1D", "SeparableConv2D": "use QSeparableConv2D",
}
for _rnn in ("LSTM", "GRU", "SimpleRNN", "QLSTM", "QGRU", "QSimpleRNN", "Bidirectional", "TimeDistributed"):
    _INSTEAD[_rnn] = "recurrent layers have no exact hardware mapping here; use the streaming FFN (QDense stack) or DS-CNN"


def _quantizer_problem(fn, quantizer) -> str | None:
    try:
        fn(quantizer)
    except QuantizerProblem as err:
        return str(err)
    return None


def _fused_activation_problem(act) -> str | None:
    """hw.convert.rewrite splits fused quantized_relu/quantized_bits activations off; what is left here
    is refused: unquantized (float) Keras activations and quantizers the exact flow lacks."""
    if act in (None, "linear") or (isinstance(act, dict) and act.get("class_name") == "linear"):
        return None
    if isinstance(act, str) and "(" not in act:
        return (f"fused activation {act!r} is unquantized (float); write activation=None and add a separate "
                "QActivation(quantized_relu(bits, integer)) (or QActivation(quantized_bits(bits, integer, alpha=1))) "
                "after the layer")
    why = _quantizer_problem(activation_type, act)
    return f"fused activation {quantizer_repr(act)}: {why or 'was not split off (hw.convert.rewrite)'}"


def check_supported(model, strategy: str = "Latency", io_type: str = "io_parallel", reuse_factor: int = 1) -> None:
    """Raise UnsupportedModelError listing every layer the exact flow cannot handle.

    The model is first rewritten (hw.convert.rewrite: fused activations split off, binary/ternary
    kernels replaced by their exact values); problems are reported under the user's layer names."""
    rewritten = rewrite(model)
    try:
        _check(rewritten, strategy, io_type, reuse_factor)
    except UnsupportedModelError as err:
        raise UnsupportedModelError([(user_layer_name(rewritten, n), why) for n, why in err.problems]) from None


def _check(model, strategy: str, io_type: str, reuse_factor: int) -> None:
    problems: list[tuple[str, str]] = []
    layers = model.layers
    for layer in layers:
        cls, cfg, name = type(layer).__name__, layer.get_config(), layer.name
        if cls in WEIGHT_LAYERS:
            kq = cfg.get(f"{WEIGHT_LAYERS[cls]}_quantizer")
            if kq is None:
                problems.append((name, f"{cls} without {WEIGHT_LAYERS[cls]}_quantizer; use quantized_bits(bits, integer, alpha=1)"))
            elif (why := _quantizer_problem(weight_type, kq)):
                problems.append((name, f"{WEIGHT_LAYERS[cls]}_quantizer: {why}"))
            if cfg.get("use_bias", True):
                bq = cfg.get("bias_quantizer")
                if bq is None:
                    problems.append((name, "unquantized bias gets hls4ml's default fixed<16,6>; add bias_quantizer=quantized_bits(...)"))
                elif (why := _quantizer_problem(weight_type, bq)):
                    problems.append((name, f"bias_quantizer: {why}"))
            elif "bias" in name.lower():
                problems.append((name, "bias-less layer whose name contains 'bias': hls4ml would load its kernel as the bias; rename it"))
            if (why := _fused_activation_problem(cfg.get("activation"))):
                problems.append((name, why))
            if cls == "QDepthwiseConv2D":
                if cfg.get("depth_multiplier", 1) != 1:
                    problems.append((name, "depth_multiplier != 1 aborts hls4ml's C simulation; use depth_multiplier=1 (+ a 1x1 QConv2D)"))
                if strategy.lower() == "resource":
                    problems.append((name, "Strategy 'Resource' with a depthwise conv aborts hls4ml's C simulation; use Strategy 'Latency'"))
            if strategy.lower() == "resource" and cls in ("QConv1D", "QConv2D") and set(cfg["kernel_size"]) == {1} \
                    and not _resource_rf_valid(int(layer.input_shape[-1]), int(cfg["filters"]), reuse_factor):
                # hls4ml 1.3 makes a 1x1 conv a Pointwise layer after it corrected the other layers'
                # reuse factors, so an invalid one reaches the C++ and its assert aborts the C simulation
                n_in, n_out = int(layer.input_shape[-1]), int(cfg["filters"])
                valid = [r for r in range(1, n_in * n_out + 1) if _resource_rf_valid(n_in, n_out, r)]
                problems.append((name, f"Strategy 'Resource' 1x1 conv ({n_in} -> {n_out} channels) with reuse_factor "
                                       f"{reuse_factor} aborts hls4ml's C simulation; use reuse_factor in {valid}"))
            if cls in SEPARABLE_LAYERS:
                problems += [(name, why) for why in separable_problems(
                    layer, strategy, TYPE_KEEPING, io_type, reuse_factor, _resource_rf_valid)]
            if io_type == "io_stream" and cls in ("QConv2D", "QDepthwiseConv2D", "QSeparableConv2D") \
                    and cfg["kernel_size"][0] == 1 \
                    and cfg["strides"][0] > 1:
                # hls4ml 1.3's conv_2d_buffer_cl then runs compute_output_buffer_1d on every row, which
                # ignores stride_height: its C simulation silently differs (found by sim/fuzz.py)
                problems.append((name, f"io_stream {cls[1:]} with a kernel one row high and vertical stride "
                                       f"{cfg['strides'][0]} is computed wrongly by hls4ml 1.3; use io_type io_parallel"))
            if cfg.get("dilation_rate", 1) not in (1, (1,), (1, 1), [1], [1, 1]):
                problems.append((name, "dilated convolutions are not supported; use dilation_rate=1"))
        elif cls in ACTIVATION_LAYERS:
            if (why := _quantizer_problem(activation_type, cfg.get("activation"))):
                problems.append((name, why))
        elif cls in POOLING_LAYERS:
            if cfg.get("padding", "valid") != "valid":
                problems.append((name, "pooling with padding='same' is not supported; use padding='valid'"))
            if io_type == "io_stream" and tuple(cfg["strides"]) != tuple(cfg["pool_size"]):
                # hls4ml 1.3's nnet_pooling_stream.h asserts it (the C simulation aborts the process)
                problems.append((name, f"io_stream pooling needs strides == pool_size (has {tuple(cfg['strides'])} vs "
                                       f"{tuple(cfg['pool_size'])}); use strides=pool_size or io_type io_parallel"))
            if cls.startswith("Average"):
                after = consumers(model, layer)
                window = int(np.prod(cfg["pool_size"]))
                quantized_after = len(after) == 1 and is_linear_quantizer(after[0])
                if not quantized_after and window & (window - 1):
                    problems.append((name, f"mean over {window} cells has no exact finite type; follow it with QActivation(quantized_bits(...))"))
                before = producer(layer)
                while before is not None and type(before).__name__ in TYPE_KEEPING:
                    before = producer(before)  # Dropout/Flatten/padding/cropping keep the type
                if before is None or type(before).__name__ != "QActivation":
                    problems.append((name, "average pooling needs a QActivation before it (its input type must be known)"))
        elif cls in MERGE_LAYERS:
            problems += (_concat_problems(layer) if cls == "Concatenate" else _merge_problems(model, layer))
        elif cls in OTHER_MERGES:
            problems.append((name, f"{cls} is not supported; of the merge layers only Add (residual sums) and "
                                   "Concatenate (channels) are"))
        elif cls in BORDER_LAYERS:
            problems += [(name, why) for why in _border_problems(layer)]
        elif cls in PASSTHROUGH_LAYERS:
            pass
        else:
            supported = set(WEIGHT_LAYERS) | POOLING_LAYERS | ACTIVATION_LAYERS | MERGE_LAYERS | BORDER_LAYERS | {"Flatten"}
            instead = _INSTEAD.get(cls, "use one of " + ", ".join(sorted(supported)))
            problems.append((name, f"{cls} is not supported; {instead}"))
    for layer in layers:
        if layer.name in RESERVED_NAMES:
            problems.append((layer.name, f"hls4ml reserves the layer name {layer.name!r}; rename the layer (e.g. 'features')"))
    inputs = [l for l in layers if type(l).__name__ == "InputLayer"]
    for inp in inputs:
        after = consumers(model, inp)
        if not (len(after) == 1 and is_linear_quantizer(after[0])):
            problems.append((inp.name, "the input must be followed by QActivation(quantized_bits(bits, integer, alpha=1))"))
    input_quantizers = {id(c) for inp in inputs for c in consumers(model, inp)}
    if layers and all(type(l).__name__ in PASSTHROUGH_LAYERS or id(l) in input_quantizers for l in layers):
        # hls4ml 1.3 then writes C++ whose output variable is its input ("redefinition of 'features'")
        problems.append((model.name, "the model computes nothing (only the input quantizer and reshapes): "
                                     "add a layer with weights, a pooling or an activation"))
    if problems:
        raise UnsupportedModelError(problems)


def _resource_rf_valid(n_in: int, n_out: int, rf: int) -> bool:
    """hls4ml 1.3's asserts in its Resource conv/dense kernels (nnet_conv1d_resource.h)."""
    block = -(-n_in * n_out // rf)
    return rf <= n_in and (block % n_out == 0 or rf >= n_in)


RESERVED_NAMES = ("input",)  # hls4ml's ModelGraph refuses these layer names


def _border_problems(layer) -> list[str]:
    """ZeroPadding1D/2D and Cropping1D/2D copy values (or zeros) and keep the type.

    - Our golden model and RTL walk channels-last pixel streams only; hls4ml's Keras reader would
      take a channels-first ZeroPadding2D/Cropping2D too.
    - hls4ml 1.3 gives a layer its input's precision when it is created; a result type inferred
      later (a weight layer without a trailing quantizer, a merge) reaches a ZeroPadding through
      its precision inference, but not a Cropping, which then gets the default fixed<16,6>: its
      C++ converts every value into that (found by sim/fuzz.py, seed 510). So a Cropping must read
      a QActivation's fixed type (through reshapes, padding and other croppings)."""
    cls, cfg = type(layer).__name__, layer.get_config()
    if cfg.get("data_format", "channels_last") != "channels_last":
        return [f"{cls} with data_format={cfg['data_format']!r} is not supported; use data_format='channels_last' "
                "(the default)"]
    if cls.startswith("Cropping"):
        source = producer(layer)
        while source is not None and type(source).__name__ in TYPE_KEEPING:
            source = producer(source)
        if source is None or type(source).__name__ != "QActivation":
            what = f"{source.name!r} ({type(source).__name__})" if source is not None else "its input"
            return [f"{cls} of {what}, whose result type hls4ml infers: hls4ml 1.3 would give the cropping its default "
                    "type fixed<16,6> and convert every value into it; put a QActivation (quantized_bits or "
                    "quantized_relu) before the cropping"]
    return []


def _merge_problems(model, layer) -> list[tuple[str, str]]:
    """An Add of two tensors of one shape, followed by one QActivation.

    hls4ml's nnet::add sums exactly (ap_fixed + ap_fixed widens) and converts once to the Merge's
    result type, which its precision inference makes the exact sum type; QKeras adds in float32,
    exact for our widths. The QActivation after it gives the sum the fixed format the next layers
    (and the RTL) see; without it the exact sum's width would grow block after block."""
    name = layer.name
    inbound = inbound_layers(layer)
    if len(inbound) != 2:
        return [(name, f"Add of {len(inbound)} tensors; hls4ml's Merge takes exactly two (chain two-input Adds)")]
    shapes = {tuple(t.shape[1:]) for t in layer.input}
    if len(shapes) != 1:
        return [(name, f"Add of different shapes {sorted(shapes)} (broadcasting) is not supported")]
    after = consumers(model, layer)
    if not (len(after) == 1 and type(after[0]).__name__ == "QActivation"):
        return [(name, "Add must be followed by one QActivation (quantized_relu or quantized_bits) giving the sum "
                       "its fixed format")]
    return []


def _concat_problems(layer) -> list[tuple[str, str]]:
    """A Concatenate of two tensors along the channel (last) axis.

    hls4ml's concatenate1d/2d/3d copy each input element into the result type; the converter
    makes that type the common type holding both inputs exactly (hls_config.concat_type), so the
    copy neither rounds nor saturates and no QActivation is needed after it. On our streams a
    channel concatenation is one beat of input 0's channels then input 1's per pixel; other axes
    would reorder whole rows or frames, which the RTL does not do."""
    name = layer.name
    inbound = inbound_layers(layer)
    if len(inbound) != 2:
        return [(name, f"Concatenate of {len(inbound)} tensors; hls4ml's Concatenate takes exactly two "
                       "(nest two-input Concatenates)")]
    if layer.input[0] is layer.input[1]:
        return [(name, "Concatenate of a tensor with itself is not supported; duplicate its channels with a 1x1 "
                       "convolution")]
    shapes = [tuple(t.shape[1:]) for t in layer.input]
    rank = len(shapes[0])
    if rank > 3:
        return [(name, f"Concatenate of rank-{rank} tensors; hls4ml supports rank 1 to 3")]
    axis = int(layer.get_config().get("axis", -1))
    if (axis + rank + 1 if axis < 0 else axis) != rank:
        return [(name, f"Concatenate along axis {axis} of {shapes[0]} tensors is not supported; only the channel "
                       f"(last) axis is (axis=-1)")]
    return []
