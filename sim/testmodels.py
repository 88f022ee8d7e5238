"""Small QKeras models for the exactness tests (golden model, C simulation, RTL), converted by hw.convert.

Expected outputs come from hw.golden through sim/reference.py (the bit-accurate model of the
same graph), not from hls4ml's C simulation.
"""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")


def small_mlp(n_in=16, hidden=(8,), n_out=4, seed=0, w_bits=6, a_bits=6, out_bits=(16, 6)):
    """Input -> QActivation(bits 8,2) -> [QDense + quantized_relu]* -> QDense -> logits quantizer."""
    import tensorflow as tf
    from qkeras import QActivation, QDense, quantized_bits, quantized_relu

    tf.keras.utils.set_random_seed(seed)
    inp = tf.keras.Input((n_in,), name="inp")
    x = QActivation(quantized_bits(8, 2, alpha=1), name="q_in")(inp)
    for i, h in enumerate(hidden):
        x = QDense(h, kernel_quantizer=quantized_bits(w_bits, 0, alpha=1),
                   bias_quantizer=quantized_bits(8, 2, alpha=1), name=f"fc{i+1}")(x)
        x = QActivation(quantized_relu(a_bits, 3), name=f"relu{i+1}")(x)
    x = QDense(n_out, kernel_quantizer=quantized_bits(w_bits, 0, alpha=1),
               bias_quantizer=quantized_bits(8, 2, alpha=1), name="fc_out")(x)
    model = tf.keras.Model(inp, x)
    # Random (not trained) weights with a spread that exercises rounding and saturation.
    rng = np.random.default_rng(seed)
    for layer in model.layers:
        if layer.get_weights():
            k, b = layer.get_weights()
            layer.set_weights([rng.uniform(-1, 1, k.shape).astype(np.float32), rng.uniform(-2, 2, b.shape).astype(np.float32)])
    return model


def planner_toy(seed: int = 0, bits: int = 6):
    """Three layers with weights and few reuse factors each (a windowed conv, a pointwise conv, a
    dense classifier): small enough to enumerate every per-layer RF combination (tests/test_planner.py)."""
    import tensorflow as tf
    from qkeras import QActivation, QConv1D, QDense

    inp = tf.keras.Input((12, 2), name="features")
    x = QActivation(_wq(8, 2), name="q_in")(inp)
    x = _relu(bits, "conv_relu")(QConv1D(4, 3, strides=2, padding="valid", name="conv", **_conv_kw(bits))(x))
    x = _relu(bits, "pw_relu")(QConv1D(6, 1, name="pw", **_conv_kw(bits))(x))
    x = tf.keras.layers.Flatten(name="flatten")(x)
    x = _tail(bits)(QDense(3, name="fc", **_conv_kw(bits))(x))
    return randomize(tf.keras.Model(inp, x, name="planner_toy"), np.random.default_rng(seed))


def frame_memory_model(seed: int = 0, bits: int = 8):
    """A windowed conv (3x3, 8 -> 16 channels), a depthwise conv over its 16 channels and a dense
    layer over the flattened map: frames large enough that kws_dense keeps them in its block-RAM
    frame store at high reuse factors (hw/rtl/frame_store.py), in registers at lower ones."""
    import tensorflow as tf
    from qkeras import QActivation, QConv2D, QDense, QDepthwiseConv2D

    inp = tf.keras.Input((6, 5, 8), name="features")
    x = QActivation(_wq(bits, 2), name="q_in")(inp)
    x = _relu(bits, "conv_relu")(QConv2D(16, 3, padding="same", name="conv", **_conv_kw(bits))(x))
    x = _relu(bits, "dw_relu")(QDepthwiseConv2D(3, padding="same", name="dw", depthwise_quantizer=_wq(bits, 0),
                                                bias_quantizer=_wq(bits, 2))(x))
    x = tf.keras.layers.Flatten(name="flatten")(x)
    x = _tail(bits)(QDense(4, name="fc", **_conv_kw(bits))(x))
    return randomize(tf.keras.Model(inp, x, name="frame_memory"), np.random.default_rng(seed))


def to_hls(model, out_dir: Path, io_type="io_parallel", overrides: dict | None = None):
    """hls4ml ModelGraph through the project's converter (hw/convert.py), which carries the
    trailing quantizer and fixes the precisions hls4ml gets wrong by default."""
    from hw.convert import HlsSettings, convert

    return convert(model, out_dir, HlsSettings(io_type=io_type), overrides=overrides)


def randomize(model, rng, spread=1.0):
    """Random (not trained) weights: wide enough to exercise rounding, saturation and signs."""
    for layer in model.layers:
        ws = layer.get_weights()
        if ws:
            layer.set_weights([rng.uniform(-spread, spread, w.shape).astype(np.float32) for w in ws])
    return model


def layer_model(kind: str, bits: int = 8, seed: int = 0):
    """One layer type (with the input quantizer, ReLU or trailing quantizer it needs) per model.

    kinds: conv2d_same_s2 (DS-CNN's first conv: 10x4-like non-square kernel, stride 2, 'same'),
    conv1d (strided, valid), depthwise (3x3 'same'), pointwise (1x1), avgpool2d (3x3 window: not a
    power of two, a trailing unused input row; one shared divider), avgpool2d_wide (2x2 window over 8
channels: a divider per channel), pw_avgpool2d_wide / pw_maxpool2d (pools behind a 1x1 conv:
at a high reuse factor the conv is slow enough for a channel-serial pool), maxpool2d (2x3 window), avgpool1d
(window 5), dense_argmax, pw_depthwise / pw_conv2d_same_s2 (a 3x3 'same' depthwise / the strided 'same' conv
behind a 1x1 conv over 8 channels: at a high reuse factor of the 1x1 conv, slow enough for a block-RAM line buffer),
conv2d_2ch (a 3x3 'same' conv over 2 channels as the first layer: a pixel is one 16- or 8-bit word),
pw_globalpool (a 6x4 average over the whole map behind a 1x1 conv to 16 channels, as the DS-CNN's
head: at a high reuse factor, channel-serial with the bit-serial divider), pw_pool_1px (a 1x1
average behind a 1x1 conv from 32 channels: the bit-serial divider dividing by 1).
    """
    import tensorflow as tf
    from qkeras import QActivation, QConv1D, QConv2D, QDense, QDepthwiseConv2D, quantized_bits, quantized_relu

    tf.keras.utils.set_random_seed(seed)
    wq = dict(kernel_quantizer=quantized_bits(bits, 0, alpha=1), bias_quantizer=quantized_bits(bits, 2, alpha=1))
    relu = lambda name: QActivation(quantized_relu(bits, 2), name=name)  # noqa: E731
    logits = lambda name: QActivation(quantized_bits(bits + 4, 4, alpha=1), name=name)  # noqa: E731
    L = tf.keras.layers
    shapes = {"conv2d_same_s2": (13, 6, 2), "conv1d": (40, 2), "depthwise": (7, 5, 3), "pointwise": (6, 4, 5),
              "avgpool2d": (7, 6, 3), "avgpool2d_wide": (6, 4, 8), "pw_avgpool2d_wide": (6, 4, 8), "pw_maxpool2d": (6, 7, 8), "maxpool2d": (6, 7, 3), "avgpool1d": (11, 3), "dense_argmax": (20,),
              "pw_depthwise": (7, 5, 8), "pw_conv2d_same_s2": (13, 6, 8), "conv2d_2ch": (9, 6, 2),
              "pw_globalpool": (6, 4, 8), "pw_pool_1px": (1, 1, 32)}
    if kind not in shapes:
        raise ValueError(f"unknown layer model {kind!r}; have {sorted(shapes)}")
    inp = tf.keras.Input(shapes[kind], name="features")
    x = QActivation(quantized_bits(bits, 2, alpha=1), name="q_in")(inp)
    if kind == "conv2d_same_s2":
        x = relu("conv_relu")(QConv2D(4, (5, 3), strides=2, padding="same", name="conv", **wq)(x))
    elif kind == "conv2d_2ch":
        x = relu("conv_relu")(QConv2D(4, (3, 3), padding="same", name="conv", **wq)(x))
    elif kind == "conv1d":
        x = relu("conv_relu")(QConv1D(3, 5, strides=3, padding="valid", name="conv", **wq)(x))
    elif kind == "depthwise":
        x = relu("dw_relu")(QDepthwiseConv2D((3, 3), padding="same", name="dw",
                                             depthwise_quantizer=quantized_bits(bits, 0, alpha=1),
                                             bias_quantizer=quantized_bits(bits, 2, alpha=1))(x))
    elif kind == "pointwise":
        x = relu("pw_relu")(QConv2D(4, 1, name="pw", **wq)(x))
    elif kind == "avgpool2d":
        x = logits("pool_q")(L.AveragePooling2D((3, 3), name="pool")(x))
    elif kind == "avgpool2d_wide":
        x = logits("pool_q")(L.AveragePooling2D((2, 2), name="pool")(x))
    elif kind in ("pw_avgpool2d_wide", "pw_maxpool2d"):
        x = relu("pw_relu")(QConv2D(8, 1, name="pw", **wq)(x))
        pool = L.AveragePooling2D((2, 2), name="pool") if kind == "pw_avgpool2d_wide" else L.MaxPooling2D((2, 3), name="pool")
        x = logits("pool_q")(pool(x))
    elif kind in ("pw_globalpool", "pw_pool_1px"):
        x = relu("pw_relu")(QConv2D(16, 1, name="pw", **wq)(x))
        x = logits("pool_q")(L.AveragePooling2D((6, 4) if kind == "pw_globalpool" else (1, 1), name="pool")(x))
    elif kind in ("pw_depthwise", "pw_conv2d_same_s2"):
        x = relu("pw_relu")(QConv2D(8, 1, name="pw", **wq)(x))
        if kind == "pw_depthwise":
            x = relu("dw_relu")(QDepthwiseConv2D((3, 3), padding="same", name="dw",
                                                 depthwise_quantizer=quantized_bits(bits, 0, alpha=1),
                                                 bias_quantizer=quantized_bits(bits, 2, alpha=1))(x))
        else:
            x = relu("conv_relu")(QConv2D(4, (5, 3), strides=2, padding="same", name="conv", **wq)(x))
    elif kind == "maxpool2d":
        x = logits("pool_q")(L.MaxPooling2D((2, 3), name="pool")(x))
    elif kind == "avgpool1d":
        x = logits("pool_q")(L.AveragePooling1D(5, name="pool")(x))
    elif kind == "dense_argmax":
        x = logits("fc_q")(QDense(6, name="fc", **wq)(x))
    model = tf.keras.Model(inp, x, name=kind)
    return randomize(model, np.random.default_rng(seed))


def kws_model(name: str, bits: int = 8, seed: int = 0, **kwargs):
    """A project model (qat.models) with random weights, e.g. kws_model('dscnn', width=8)."""
    from qat.models import build_model
    from qat.quant_config import QuantConfig

    shapes = {"dscnn": (49, 10, 1), "streaming_ffn": (1960,), "raw_cnn": (16000, 1), "tc_resnet": (49, 10, 1)}
    model = build_model(name, shapes[name], 12, QuantConfig(weight_bits=bits, act_bits=bits), **kwargs)
    return randomize(model, np.random.default_rng(seed))


def residual_model(bits: int = 8, seed: int = 0, length: int = 24, channels: int = 3, filters: int = 4,
                   kernel: int = 9, stride: int = 2, identity: bool = False, time_padding: str = "same"):
    """The smallest fork + merge design: one residual block of 1-D convs ('same', stride) with a 1x1
    shortcut (or identity), Add, quantized_relu; then a logits quantizer. For stream-level RTL tests.
    time_padding='valid': unpadded convs and the TC-ResNet's right-aligned shortcut (a Cropping1D
    `crop` of the block input, then the 1x1 conv or the identity; qat.models.tc_resnet)."""
    import tensorflow as tf
    from qkeras import QActivation, QConv1D, quantized_bits, quantized_relu

    from qat.models.tc_resnet import shortcut_crop

    tf.keras.utils.set_random_seed(seed)
    wq = dict(kernel_quantizer=quantized_bits(bits, 0, alpha=1), bias_quantizer=quantized_bits(bits, 2, alpha=1))
    inp = tf.keras.Input((length, channels), name="features")
    x = QActivation(quantized_bits(bits, 2, alpha=1), name="q_in")(inp)
    x = QActivation(quantized_relu(bits, 2), name="stem_relu")(QConv1D(filters, 3, padding="same", name="stem", **wq)(x))
    s = 1 if identity else stride
    y = QConv1D(filters, kernel, strides=s, padding=time_padding, name="conv1", **wq)(x)
    y = QActivation(quantized_relu(bits, 2), name="conv1_relu")(y)
    y = QConv1D(filters, kernel, padding=time_padding, name="conv2", **wq)(y)
    skip = x
    if time_padding == "valid":
        crop = shortcut_crop("residual", [(kernel, s), (kernel, 1)], s, length, int(y.shape[1]))
        skip = tf.keras.layers.Cropping1D((crop, 0), name="crop")(skip)
    skip = skip if identity else QConv1D(filters, 1, strides=s, name="skip", **wq)(skip)
    z = tf.keras.layers.Add(name="add")([y, skip])
    z = QActivation(quantized_relu(bits, 2), name="add_relu")(z)
    model = tf.keras.Model(inp, z, name="residual")
    return randomize(model, np.random.default_rng(seed))


BORDER_KINDS = ("seq", "img")


def border_model(kind: str, bits: int = 8, seed: int = 0):
    """Keras ZeroPadding and Cropping around unpadded layers, on every side and in both orders.
    "seq": 20x3 -> crop (1, 2) -> pad (2, 1) -> conv 3 taps stride 2 -> ReLU -> crop (1, 0) -> 1x1 conv
    -> logits quantizer. "img": 7x6x2 -> pad frequency (1, 2) -> conv 3x3 -> ReLU -> crop (top 1,
    right 1) -> pad (top 1, bottom 1, left 2) -> depthwise 3x3 -> ReLU -> pad (bottom 1, right 1)
    -> 2x2 average pool -> quantizer -> flatten -> dense -> logits quantizer."""
    import tensorflow as tf
    from qkeras import QActivation, QConv1D, QConv2D, QDense, QDepthwiseConv2D, quantized_bits, quantized_relu

    if kind not in BORDER_KINDS:
        raise ValueError(f"unknown border model {kind!r}; have {BORDER_KINDS}")
    tf.keras.utils.set_random_seed(seed)
    L = tf.keras.layers
    wq = dict(kernel_quantizer=quantized_bits(bits, 0, alpha=1), bias_quantizer=quantized_bits(bits, 2, alpha=1))
    relu = lambda name: QActivation(quantized_relu(bits, 2), name=name)  # noqa: E731
    inp = tf.keras.Input((20, 3) if kind == "seq" else (7, 6, 2), name="features")
    x = QActivation(quantized_bits(bits, 2, alpha=1), name="q_in")(inp)
    if kind == "seq":
        x = L.ZeroPadding1D((2, 1), name="conv_pad")(L.Cropping1D((1, 2), name="in_crop")(x))
        x = relu("conv_relu")(QConv1D(4, 3, strides=2, name="conv", **wq)(x))
        x = QConv1D(3, 1, name="pw", **wq)(L.Cropping1D((1, 0), name="crop")(x))
    else:
        x = relu("conv_relu")(QConv2D(3, (3, 3), name="conv", **wq)(L.ZeroPadding2D(((0, 0), (1, 2)), name="conv_pad")(x)))
        x = L.ZeroPadding2D(((1, 1), (2, 0)), name="dw_pad")(L.Cropping2D(((1, 0), (0, 1)), name="crop")(x))
        x = relu("dw_relu")(QDepthwiseConv2D((3, 3), depthwise_quantizer=quantized_bits(bits, 0, alpha=1),
                                             bias_quantizer=quantized_bits(bits, 2, alpha=1), name="dw")(x))
        x = L.AveragePooling2D((2, 2), name="pool")(L.ZeroPadding2D(((0, 1), (0, 1)), name="pool_pad")(x))
        x = QActivation(quantized_bits(bits + 2, 2, alpha=1), name="pool_q")(x)
        x = QDense(5, name="fc", **wq)(L.Flatten(name="flat")(x))
    x = QActivation(quantized_bits(bits + 4, 4, alpha=1), name="out_q")(x)
    model = tf.keras.Model(inp, x, name=f"border_{kind}")
    return randomize(model, np.random.default_rng(seed))


PER_CHANNEL_KINDS = ("dense", "conv1d", "conv2d", "depthwise", "dscnn")


def per_channel_model(kind: str, bits: int = 4, seed: int = 0, max_shift: int = 5):
    """A model as the linear scheme's per_channel option trains it (qat.quantizers.channel_po2_bits:
    output channel c on the grid of quantized_bits(bits, -s_c), s_c random in 0..max_shift, weights
    spread over each channel's own range), exported to plain QKeras the way training saves it.
    Returns (exported model, trained-style model). kinds: PER_CHANNEL_KINDS ("dscnn": two DS-CNN
    blocks of width 8 on 49x10 MFCC, with conv, depthwise, pointwise and dense layers)."""
    import tensorflow as tf

    from qat.quantizers import channel_po2_bits, export_fixed_qkeras

    if kind not in PER_CHANNEL_KINDS:
        raise ValueError(f"unknown per-channel model {kind!r}; have {PER_CHANNEL_KINDS}")
    rng = np.random.default_rng(seed)
    shapes: dict[str, tuple] = {}

    def kernel_quantizer(name, shape, depthwise=False):
        n = shape[-2] if depthwise else shape[-1]
        s = rng.integers(0, max_shift + 1, n)
        lo, hi = rng.permutation(n)[:2]
        s[lo], s[hi] = 0, max_shift  # the full spread in every layer
        shapes[name] = (shape, s, depthwise)
        return channel_po2_bits(bits, s.tolist(), -2 if depthwise else -1)

    tf.keras.utils.set_random_seed(seed)
    if kind == "dscnn":
        model = _per_channel_dscnn(bits, kernel_quantizer)
    else:
        model = _per_channel_layer(kind, bits, kernel_quantizer)
    for name, (shape, s, depthwise) in shapes.items():
        layer = model.get_layer(name)
        scale = 2.0 ** -(s.reshape(-1, 1) if depthwise else s)
        kernel = rng.uniform(-1.1, 1.1, shape) * scale  # a few weights clip at each channel's range
        bias = rng.uniform(-2, 2, layer.bias.shape)
        layer.set_weights([kernel.astype(np.float32), bias.astype(np.float32)])
    plain, _ = export_fixed_qkeras(model)
    return plain, model


def _per_channel_layer(kind, bits, kernel_quantizer):
    import tensorflow as tf
    from qkeras import QActivation, QConv1D, QConv2D, QDense, QDepthwiseConv2D, quantized_bits, quantized_relu

    bq = dict(bias_quantizer=quantized_bits(8, 2, alpha=1))
    relu = QActivation(quantized_relu(bits, 2), name="relu")
    spec = {  # input shape, layer, kernel shape
        "dense": ((24,), lambda q: QDense(10, kernel_quantizer=q, name="fc", **bq), (24, 10)),
        "conv1d": ((40, 3), lambda q: QConv1D(5, 7, strides=2, kernel_quantizer=q, name="conv", **bq), (7, 3, 5)),
        "conv2d": ((13, 7, 2), lambda q: QConv2D(6, (5, 3), strides=2, padding="same", kernel_quantizer=q, name="conv", **bq),
                   (5, 3, 2, 6)),
        "depthwise": ((7, 5, 4), lambda q: QDepthwiseConv2D(3, padding="same", depthwise_quantizer=q, name="dw", **bq),
                      (3, 3, 4, 1)),
    }
    shape, make, kshape = spec[kind]
    inp = tf.keras.Input(shape, name="features")
    x = QActivation(quantized_bits(8, 2, alpha=1), name="q_in")(inp)
    name = {"dense": "fc", "depthwise": "dw"}.get(kind, "conv")
    x = make(kernel_quantizer(name, kshape, depthwise=kind == "depthwise"))(x)
    x = QActivation(quantized_bits(bits + 8, 6, alpha=1), name="out_q")(x) if kind == "dense" else relu(x)
    return tf.keras.Model(inp, x, name=f"pc_{kind}")


def _per_channel_dscnn(bits, kernel_quantizer):
    from qat.models import build_model
    from qat.quant_config import QuantConfig
    from qat.schemes.common import SchemeQuant

    quant = QuantConfig(weight_bits=bits, act_bits=bits)
    kw = dict(width=8, blocks_count=2)
    plain = build_model("dscnn", (49, 10, 1), 12, quant, **kw)  # for the kernel shapes only
    kernels = {l.name: (tuple(l.weights[0].shape), type(l).__name__ == "QDepthwiseConv2D")
               for l in plain.layers if type(l).__name__ in ("QConv2D", "QDepthwiseConv2D", "QDense")}
    return build_model("dscnn", (49, 10, 1), 12,
                       SchemeQuant(quant, kernel=lambda name: kernel_quantizer(name, *kernels[name])), **kw)


# ---------------------------------------------------------------- the exactness matrix cases
EXACTNESS_CASES = ("dense_relu", "dense_trailing_quant", "dense_nobias", "conv1d_stride_relu", "conv1d_same_trailing",
                   "conv2d_same_stride", "conv2d_pointwise", "depthwise_same", "avgpool2d_non_pow2",
                   "avgpool2d_pow2_flatten_dense", "avgpool1d", "maxpool2d", "symmetric_and_unsigned_quantizers")


def _wq(bits, integer=0):
    from qkeras import quantized_bits

    return quantized_bits(bits, integer, alpha=1)


def _conv_kw(bits, bias=True):
    kw = dict(kernel_quantizer=_wq(bits, 0), bias_quantizer=_wq(bits, 2) if bias else None, use_bias=bias)
    return kw


def _relu(bits, name):
    from qkeras import QActivation, quantized_relu

    return QActivation(quantized_relu(bits, 2 if bits <= 4 else 3), name=name)


def _tail(bits, name="out_q"):
    from qkeras import QActivation, quantized_bits

    return QActivation(quantized_bits(bits + 4, 4, alpha=1), name=name)


def input_bits(bits):
    return (bits, 2)  # quantized_bits(bits, 2): LSB 2**-(bits-3)


def exactness_case(name: str, bits: int, seed: int = 0):
    """One supported layer/quantizer combination after an input quantizer, random weights within the
    quantizer ranges (biases over a few LSBs and integers): the golden/C-sim exactness matrix."""
    from qkeras import QActivation, quantized_bits
    from tensorflow import keras

    shape, layers = _exactness_layers(name, bits)
    inp = keras.Input(shape, name="inp")
    x = QActivation(quantized_bits(*input_bits(bits), alpha=1), name="in_q")(inp)
    for layer in layers:
        x = layer(x)
    model = keras.Model(inp, x, name=name)
    rng = np.random.default_rng(seed)
    for layer in model.layers:
        weights = layer.get_weights()
        if weights:  # kernel within the quantizer range, biases spread over a few LSBs and integers
            layer.set_weights([rng.uniform(-1, 1, w.shape) * (1.0 if i == 0 else 3.0) for i, w in enumerate(weights)])
    return model


def inputs_with_ties(model, n: int, bits: int, seed: int = 1) -> np.ndarray:
    """Random inputs on a grid 1 bit finer than the input quantizer (half are ties), some out of range."""
    bits_, integer = input_bits(bits)
    frac = bits_ - 1 - integer
    rng = np.random.default_rng(seed)
    lim = 2 ** (integer + frac + 2)  # reaches beyond the input range -> saturation is exercised
    raw = rng.integers(-lim, lim, size=(n, *model.input_shape[1:]))
    return (raw * 2.0 ** -(frac + 1)).astype(np.float32)


def qkeras_output(model, x):
    """QKeras's outputs, one row per vector."""
    return model.predict(x, verbose=0, batch_size=256).reshape(len(x), -1)


def _exactness_layers(name: str, b: int):
    """(input shape, layers after the input quantizer) of one exactness case."""
    from qkeras import QActivation, QConv1D, QConv2D, QDense, QDepthwiseConv2D, quantized_bits
    from tensorflow import keras

    cases = {
        "dense_relu": lambda b: ((24,), [QDense(10, name="fc", **_conv_kw(b)), _relu(b, "relu")]),
        "dense_trailing_quant": lambda b: ((24,), [QDense(10, name="fc", **_conv_kw(b)), _tail(b)]),
        "dense_nobias": lambda b: ((16,), [QDense(6, name="fc", **_conv_kw(b, bias=False)), _tail(b)]),
        "conv1d_stride_relu": lambda b: ((40, 3), [QConv1D(5, 7, strides=2, name="c1", **_conv_kw(b)), _relu(b, "relu")]),
        "conv1d_same_trailing": lambda b: ((20, 2), [QConv1D(4, 3, padding="same", name="c1", **_conv_kw(b)), _tail(b)]),
        "conv2d_same_stride": lambda b: ((13, 7, 1), [QConv2D(6, (5, 3), strides=2, padding="same", name="c2", **_conv_kw(b)), _relu(b, "relu")]),
        "conv2d_pointwise": lambda b: ((5, 4, 8), [QConv2D(6, 1, name="pw", **_conv_kw(b)), _tail(b)]),
        "depthwise_same": lambda b: (
            (7, 5, 4),
            [QDepthwiseConv2D(3, padding="same", depthwise_quantizer=_wq(b, 0), bias_quantizer=_wq(b, 2), name="dw"), _relu(b, "relu")],
        ),
        "avgpool2d_non_pow2": lambda b: (
            (10, 6, 3),
            [_relu(b, "relu_in"), keras.layers.AveragePooling2D((5, 3), name="pool"), QActivation(quantized_bits(16, 3, alpha=1), name="pool_q")],
        ),
        "avgpool2d_pow2_flatten_dense": lambda b: (
            (4, 4, 2),
            [_relu(b, "relu_in"), keras.layers.AveragePooling2D((2, 2), name="pool"), keras.layers.Flatten(name="flat"),
             QDense(5, name="fc", **_conv_kw(b)), _tail(b)],
        ),
        "avgpool1d": lambda b: ((12, 3), [_relu(b, "relu_in"), keras.layers.AveragePooling1D(3, name="pool"), QActivation(quantized_bits(12, 3, alpha=1), name="pool_q")]),
        "maxpool2d": lambda b: ((6, 6, 2), [keras.layers.MaxPooling2D((2, 3), name="pool"), keras.layers.Flatten(name="flat")]),
        "symmetric_and_unsigned_quantizers": lambda b: (
            (12,),
            [QDense(8, name="fc", **_conv_kw(b)), QActivation(quantized_bits(b, 1, symmetric=1, alpha=1), name="sym_q"),
             QDense(4, name="fc2", **_conv_kw(b)), QActivation(quantized_bits(b, 2, keep_negative=False, alpha=1), name="uq")],
        ),
    }


    return cases[name](b)


# ---------------------------------------------------------------- separable convolutions
def separable_model(dim: int = 1, bias: bool = True, padding: str = "same", stride: int = 1, dense: bool = False,
                    seed: int = 0, shape=None, filters: int = 5, kernel=None, bits=(6, 5, 8), depth_multiplier: int = 1,
                    act: str = "relu"):
    """Input -> QActivation(quantized_bits(8, 2)) -> QSeparableConv{dim}D -> quantized_relu (act 'relu') or
    quantized_bits(12, 4) (act 'bits': hls4ml merges it into the layer) [-> QDense -> logits quantizer].
    Random weights spread over the quantizer ranges (a few clip), biases over a few
    LSBs and integers. bits: (depthwise, pointwise, bias) widths."""
    import tensorflow as tf
    from qkeras import QActivation, QDense, QSeparableConv1D, QSeparableConv2D, quantized_bits, quantized_relu

    tf.keras.utils.set_random_seed(seed)
    shape = shape or ((23, 3) if dim == 1 else (9, 7, 3))
    kernel = kernel or (5 if dim == 1 else (3, 3))
    sep = QSeparableConv1D if dim == 1 else QSeparableConv2D
    dq, pq, bq = bits
    inp = tf.keras.Input(shape, name="features")
    x = QActivation(quantized_bits(8, 2, alpha=1), name="q_in")(inp)
    x = sep(filters, kernel, strides=stride, padding=padding, use_bias=bias, depth_multiplier=depth_multiplier,
            depthwise_quantizer=quantized_bits(dq, 0, alpha=1), pointwise_quantizer=quantized_bits(pq, 0, alpha=1),
            bias_quantizer=quantized_bits(bq, 2, alpha=1) if bias else None, name="sep")(x)
    x = QActivation(quantized_relu(8, 3) if act == "relu" else quantized_bits(12, 4, alpha=1), name=f"sep_{act}")(x)
    if dense:
        x = tf.keras.layers.Flatten(name="flat")(x)
        x = QDense(4, kernel_quantizer=quantized_bits(6, 0, alpha=1), bias_quantizer=quantized_bits(8, 2, alpha=1),
                   name="fc")(x)
        x = QActivation(quantized_bits(14, 5, alpha=1), name="logits")(x)
    model = tf.keras.Model(inp, x, name=f"sep{dim}d")
    rng = np.random.default_rng(seed)
    for layer in model.layers:
        ws = layer.get_weights()
        if ws:  # kernels a little beyond the quantizer range (a few clip), biases over a few integers
            layer.set_weights([rng.uniform(-1.1, 1.1, w.shape) * (3.0 if w.ndim == 1 else 1.0) for w in ws])
    return model


def separable_dscnn(seed: int = 0, blocks: int = 2, width: int = 8, frames: int = 49, mfcc: int = 10):
    """DS-CNN with 1-D separable blocks (MLPerf-Tiny-style on a 49x10 MFCC as 49 frames x 10 channels):
    QConv1D stem (stride 2) + ReLU, blocks of QSeparableConv1D (3 taps, 'same') + ReLU, average pooling
    over time + quantizer, QDense logits."""
    import tensorflow as tf
    from qkeras import QActivation, QConv1D, QDense, QSeparableConv1D, quantized_bits, quantized_relu

    tf.keras.utils.set_random_seed(seed)
    wq = lambda b: quantized_bits(b, 0, alpha=1)  # noqa: E731
    L = tf.keras.layers
    inp = tf.keras.Input((frames, mfcc), name="features")
    x = QActivation(quantized_bits(8, 2, alpha=1), name="q_in")(inp)
    x = QConv1D(width, 5, strides=2, padding="same", kernel_quantizer=wq(6), bias_quantizer=quantized_bits(8, 2, alpha=1),
                name="stem")(x)
    x = QActivation(quantized_relu(6, 2), name="stem_relu")(x)
    for i in range(blocks):
        x = QSeparableConv1D(width, 3, padding="same", depthwise_quantizer=wq(6), pointwise_quantizer=wq(6),
                             bias_quantizer=quantized_bits(8, 2, alpha=1), name=f"sep{i+1}")(x)
        x = QActivation(quantized_relu(6, 2), name=f"sep{i+1}_relu")(x)
    steps = int(x.shape[1])
    x = L.AveragePooling1D(steps, name="pool")(x)
    x = QActivation(quantized_bits(10, 3, alpha=1), name="pool_q")(x)
    x = L.Flatten(name="flat")(x)
    x = QDense(12, kernel_quantizer=wq(6), bias_quantizer=quantized_bits(8, 2, alpha=1), name="fc")(x)
    x = QActivation(quantized_bits(14, 5, alpha=1), name="logits")(x)
    model = tf.keras.Model(inp, x, name="sep_dscnn")
    return randomize(model, np.random.default_rng(seed), spread=1.1)


def streaming_model(kind: str, seed: int = 0, frames: int = 49):
    """Small windowed models whose time axis is never padded, so each has a streaming form
    (hw/stream/plan.py), random weights:
    ffn: 49 stacked frames of 4 values, flat -> dense -> ReLU -> dense (time collapses in the first dense);
    cnn2d: 49 x 6 map -> conv 5x3 stride 2x1 -> depthwise 3x3 -> 1x1 conv -> global average -> dense;
    cnn1d: 49 x 10 -> reshape to 10 channels -> conv 3 -> conv 5 stride 2 -> global average -> dense.
    """
    import tensorflow as tf
    from qkeras import QActivation, QConv1D, QConv2D, QDense, QDepthwiseConv2D, quantized_bits, quantized_relu

    tf.keras.utils.set_random_seed(seed)
    L = tf.keras.layers
    wq = dict(kernel_quantizer=quantized_bits(6, 0, alpha=1), bias_quantizer=quantized_bits(6, 2, alpha=1))
    relu = lambda name: QActivation(quantized_relu(6, 2), name=name)  # noqa: E731
    shapes = {"ffn": (frames * 4,), "cnn2d": (frames, 6, 1), "cnn1d": (frames, 10, 1)}
    if kind not in shapes:
        raise ValueError(f"unknown streaming model {kind!r}; have {sorted(shapes)}")
    inp = tf.keras.Input(shapes[kind], name="features")
    x = QActivation(quantized_bits(8, 2, alpha=1), name="q_in")(inp)
    if kind == "ffn":
        x = relu("fc1_relu")(QDense(8, name="fc1", **wq)(x))
    else:
        if kind == "cnn2d":
            x = relu("conv1_relu")(QConv2D(4, (5, 3), strides=(2, 1), name="conv1", **wq)(x))
            x = relu("dw1_relu")(QDepthwiseConv2D((3, 3), name="dw1", depthwise_quantizer=quantized_bits(6, 0, alpha=1),
                                                  bias_quantizer=quantized_bits(6, 2, alpha=1))(x))
            x = relu("pw1_relu")(QConv2D(5, 1, name="pw1", **wq)(x))
            pool = L.AveragePooling2D(pool_size=tuple(x.shape[1:3]), name="avg_pool")
        else:
            x = L.Reshape((frames, 10), name="to_sequence")(x)
            x = relu("conv1_relu")(QConv1D(6, 3, name="conv1", **wq)(x))
            x = relu("conv2_relu")(QConv1D(6, 5, strides=2, name="conv2", **wq)(x))
            pool = L.AveragePooling1D(pool_size=x.shape[1], name="avg_pool")
        x = QActivation(quantized_bits(8, 2, alpha=1), name="avg_pool_quant")(pool(x))
        x = L.Flatten(name="flatten")(x)
    x = QDense(5, name="logits", **wq)(x)
    x = QActivation(quantized_bits(12, 5, alpha=1), name="logits_quant")(x)
    return randomize(tf.keras.Model(inp, x, name=f"stream_{kind}"), np.random.default_rng(seed))
