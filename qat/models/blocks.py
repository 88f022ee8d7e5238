"""Layer builders shared by the models: one call gives the float layer (with BatchNorm, for
pre-training) or its quantized twin (QKeras, no BatchNorm: BN is folded before QAT).

Names are the contract between the two: the float `conv1` + `conv1_bn` fold into the quantized
`conv1`, and `conv1_relu` is the activation in both. `qat.models.fold` relies on it.
"""

from __future__ import annotations

from tensorflow import keras
from tensorflow.keras import layers

from qat.quant_config import QuantConfig


def input_quant(x, quant: QuantConfig | None):
    if quant is None:
        return x
    from qkeras import QActivation

    return QActivation(quant.input_quantizer(), name="input_quant")(x)


def relu(x, name: str, quant: QuantConfig | None):
    if quant is None:
        return layers.ReLU(name=f"{name}_relu")(x)
    from qkeras import QActivation

    return QActivation(quant.activation(name), name=f"{name}_relu")(x)


def _linear(x, name: str, quant: QuantConfig | None, float_cls, q_cls_name: str, bn: bool, **kw):
    if quant is None:
        x = float_cls(name=name, use_bias=not bn, **kw)(x)
        # momentum 0.9, not Keras's 0.99: our datasets give only a few hundred steps, too few
        # for the moving statistics (used at evaluation and folded into QAT) to settle at 0.99.
        return layers.BatchNormalization(momentum=0.9, name=f"{name}_bn")(x) if bn else x
    import qkeras

    q_cls = getattr(qkeras, q_cls_name)
    quantizer_args = (
        dict(depthwise_quantizer=quant.kernel_quantizer(name)) if q_cls_name == "QDepthwiseConv2D"
        else dict(kernel_quantizer=quant.kernel_quantizer(name)))
    return q_cls(name=name, use_bias=True, bias_quantizer=quant.bias_quantizer(name), **quantizer_args, **kw)(x)


def conv2d(x, name, filters, kernel, strides=1, quant=None, bn=True):
    return _linear(x, name, quant, layers.Conv2D, "QConv2D", bn, filters=filters, kernel_size=kernel,
                   strides=strides, padding="same")


def depthwise2d(x, name, kernel, quant=None, bn=True):
    return _linear(x, name, quant, layers.DepthwiseConv2D, "QDepthwiseConv2D", bn, kernel_size=kernel,
                   padding="same", depth_multiplier=1)


def conv1d(x, name, filters, kernel, strides=1, quant=None, bn=True):
    return _linear(x, name, quant, layers.Conv1D, "QConv1D", bn, filters=filters, kernel_size=kernel,
                   strides=strides, padding="valid")


def dense(x, name, units, quant=None, bn=True):
    return _linear(x, name, quant, layers.Dense, "QDense", bn, units=units)


def logits(x, n_classes: int, quant: QuantConfig | None):
    """Final dense layer; quantized models end with the trailing logits quantizer (see hw/ notes)."""
    x = _linear(x, "logits", quant, layers.Dense, "QDense", False, units=n_classes)
    if quant is None:
        return x
    from qkeras import QActivation

    return QActivation(quant.output_quantizer(), name="logits_quant")(x)


def model(inputs, outputs, name: str) -> keras.Model:
    return keras.Model(inputs, outputs, name=name)
