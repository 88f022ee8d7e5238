"""Layer builders shared by the models: one call gives the float layer (with BatchNorm, for
pre-training) or its quantized twin (QKeras, no BatchNorm: BN is folded before QAT).

Names are the contract between the two: the float `conv1` + `conv1_bn` fold into the quantized
`conv1`, and `conv1_relu` is the activation in both. `qat.models.fold` relies on it.

`quant` is a QuantConfig or any object with the same quantizer methods (QAT schemes pass their
own). A method returning None leaves that tensor in float (no QActivation, plain ReLU, float
kernel/bias). Optional hooks a scheme may add: `kernel_regularizer(name)` (e.g. ACosR) and
`accum_quantizer(name)`, a QActivation `<name>_accum` right after the layer (transient formats).
"""

from __future__ import annotations

from tensorflow import keras
from tensorflow.keras import layers

from qat.quant_config import QuantConfig


def quant_activation(x, quantizer, name: str):
    """QActivation(quantizer) named `name`, or x unchanged when the quantizer is None (float)."""
    if quantizer is None:
        return x
    from qkeras import QActivation

    return QActivation(quantizer, name=name)(x)


def _hook(quant, hook: str, name: str):
    fn = getattr(quant, hook, None)
    return fn(name) if fn is not None else None


def input_quant(x, quant: QuantConfig | None):
    return x if quant is None else quant_activation(x, quant.input_quantizer(), "input_quant")


def relu(x, name: str, quant: QuantConfig | None):
    act = None if quant is None else quant.activation(name)
    if act is None:
        return layers.ReLU(name=f"{name}_relu")(x)
    return quant_activation(x, act, f"{name}_relu")


def _linear(x, name: str, quant: QuantConfig | None, float_cls, q_cls_name: str, bn: bool, **kw):
    if quant is None:
        x = float_cls(name=name, use_bias=not bn, **kw)(x)
        # momentum 0.9, not Keras's 0.99: our datasets give only a few hundred steps, too few
        # for the moving statistics (used at evaluation and folded into QAT) to settle at 0.99.
        return layers.BatchNormalization(momentum=0.9, name=f"{name}_bn")(x) if bn else x
    import qkeras

    q_cls = getattr(qkeras, q_cls_name)
    prefix = "depthwise" if q_cls_name == "QDepthwiseConv2D" else "kernel"
    quantizer_args = {f"{prefix}_quantizer": quant.kernel_quantizer(name)}
    regularizer = _hook(quant, "kernel_regularizer", name)
    if regularizer is not None:
        quantizer_args[f"{prefix}_regularizer"] = regularizer
    x = q_cls(name=name, use_bias=True, bias_quantizer=quant.bias_quantizer(name), **quantizer_args, **kw)(x)
    return quant_activation(x, _hook(quant, "accum_quantizer", name), f"{name}_accum")


def conv2d(x, name, filters, kernel, strides=1, quant=None, bn=True, padding="same"):
    return _linear(x, name, quant, layers.Conv2D, "QConv2D", bn, filters=filters, kernel_size=kernel,
                   strides=strides, padding=padding)


def depthwise2d(x, name, kernel, quant=None, bn=True, padding="same"):
    return _linear(x, name, quant, layers.DepthwiseConv2D, "QDepthwiseConv2D", bn, kernel_size=kernel,
                   padding=padding, depth_multiplier=1)


TIME_PADDINGS = ("same", "valid")


def check_time_padding(model: str, time_padding: str) -> None:
    if time_padding not in TIME_PADDINGS:
        raise ValueError(f"{model}: time_padding={time_padding!r}; choose one of {TIME_PADDINGS}")


def same_padding(size: int, kernel: int, stride: int) -> tuple[int, int]:
    """(before, after): the zeros Keras's padding='same' adds on an axis of `size` cells for this
    kernel and stride (TensorFlow's rule: the odd one goes after)."""
    total = max((-(-size // stride) - 1) * stride + kernel - size, 0)
    return total // 2, total - total // 2


def pad_frequency(x, name: str, kernel, strides=1):
    """'same' padding of the frequency (second) axis only, as an explicit ZeroPadding2D `<name>_pad`,
    for a following convolution with padding='valid': the time (first) axis is never padded, so a
    streaming implementation computes the same values as the windowed model. Both twins get it
    (zeros commute with BatchNorm folding and power-of-two rescaling); a 1-wide kernel needs none."""
    pair = lambda v: (v, v) if isinstance(v, int) else tuple(v)  # noqa: E731 - Keras's int-or-pair arguments
    left, right = same_padding(int(x.shape[2]), pair(kernel)[1], pair(strides)[1])
    if left == right == 0:
        return x
    return layers.ZeroPadding2D(((0, 0), (left, right)), name=f"{name}_pad")(x)


def conv1d(x, name, filters, kernel, strides=1, quant=None, bn=True, padding="valid"):
    return _linear(x, name, quant, layers.Conv1D, "QConv1D", bn, filters=filters, kernel_size=kernel,
                   strides=strides, padding=padding)


def add(inputs, name: str, quant: QuantConfig | None):
    """Residual sum `name_add` followed by its ReLU `name_relu`. Quantized: the ReLU is a
    quantized_relu right after the Add, so the sum gets one fixed format in QKeras and hardware
    (hls4ml adds exactly, then rounds/saturates once into that format)."""
    return relu(layers.Add(name=f"{name}_add")(list(inputs)), name, quant)


def global_average(x, quant: QuantConfig | None):
    """Mean over every position (time, or time x frequency) → `avg_pool`, then flattened. Quantized:
    the mean is re-quantized (`avg_pool_quant`) so QKeras and fixed-point hardware agree on its format."""
    pool = layers.AveragePooling2D if len(x.shape) == 4 else layers.AveragePooling1D
    x = pool(pool_size=tuple(x.shape[1:-1]), name="avg_pool")(x)
    if quant is not None:
        x = quant_activation(x, quant.pool_quantizer(), "avg_pool_quant")
    return layers.Flatten(name="flatten")(x)


def dense(x, name, units, quant=None, bn=True):
    return _linear(x, name, quant, layers.Dense, "QDense", bn, units=units)


def logits(x, n_classes: int, quant: QuantConfig | None):
    """Final dense layer; quantized models end with the trailing logits quantizer (see hw/ notes)."""
    x = _linear(x, "logits", quant, layers.Dense, "QDense", False, units=n_classes)
    return x if quant is None else quant_activation(x, quant.output_quantizer(), "logits_quant")


def model(inputs, outputs, name: str) -> keras.Model:
    return keras.Model(inputs, outputs, name=name)
