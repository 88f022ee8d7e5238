"""The architecture a search found, as an ordinary model of the registry (float with BN, or its
QKeras twin without BN), so qat.train trains and quantizes it like any other model.

Model names `nas_mfcc` / `nas_raw`; model_args: {arch: [...], space: {...}} as written by the
search (build/<search>/arch.json). Skip blocks vanish; pooling matches the supernet's.
"""

from __future__ import annotations

from tensorflow.keras import layers

from qat.models import blocks
from qat.nas.supernet import SearchSpace, mfcc_space, raw_space


def _conv(x, name, dims, filters, kernel, stride, quant):
    cls, qcls = (layers.Conv1D, "QConv1D") if dims == 1 else (layers.Conv2D, "QConv2D")
    return blocks._linear(x, name, quant, cls, qcls, True, filters=filters, kernel_size=kernel, strides=stride,
                          padding="same")


def build(input_shape, n_classes=12, quant=None, arch=(), space=None, dropout=0.1):
    sp = SearchSpace(**{k: (tuple(v) if isinstance(v, list) else v) for k, v in (space or {}).items()})
    inputs = layers.Input(shape=input_shape, name="features")
    x = blocks.input_quant(inputs, quant)
    x = _conv(x, "stem", sp.dims, sp.stem_channels, tuple(sp.stem_kernel), tuple(sp.stem_stride), quant)
    x = blocks.relu(x, "stem", quant)
    for b, op in enumerate(arch, start=1):
        if op["op"] == "conv":
            x = _conv(x, f"block{b}", sp.dims, op["channels"], (op["kernel"],) * sp.dims, sp.block_stride, quant)
            x = blocks.relu(x, f"block{b}", quant)
        if sp.pool_after_block > 1:
            pool = layers.MaxPooling1D if sp.dims == 1 else layers.MaxPooling2D
            x = pool(sp.pool_after_block, name=f"block{b}_pool")(x)
    x = layers.Dropout(dropout, name="drop")(x)
    if sp.dims == 2:
        x = layers.AveragePooling2D(pool_size=x.shape[1:3], name="avg_pool")(x)
    else:
        x = layers.AveragePooling1D(pool_size=x.shape[1], name="avg_pool")(x)
    if quant is not None:
        x = blocks.quant_activation(x, quant.pool_quantizer(), "avg_pool_quant")
    x = layers.Flatten(name="flatten")(x)
    return blocks.model(inputs, blocks.logits(x, n_classes, quant), f"nas_{'raw' if sp.dims == 1 else 'mfcc'}")


DEFAULT_ARCH = ({"op": "conv", "kernel": 3, "channels": 16}, {"op": "skip"})


def build_mfcc(input_shape=(49, 10, 1), n_classes=12, quant=None, arch=DEFAULT_ARCH, space=None, **kw):
    return build(input_shape, n_classes, quant, arch, space or mfcc_space().to_dict(), **kw)


def build_raw(input_shape=(16000, 1), n_classes=12, quant=None, arch=DEFAULT_ARCH, space=None, **kw):
    return build(input_shape, n_classes, quant, arch, space or raw_space().to_dict(), **kw)
