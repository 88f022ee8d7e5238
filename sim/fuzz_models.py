"""Random QKeras models for the fuzzer (sim/fuzz.py), described by plain JSON-serialisable specs.

A spec is a dict: the input (shape and quantizer), a list of layer dicts after the input quantizer
(a residual block holds its own body and shortcut lists), the hls4ml settings, an optional
accumulator override, the RTL settings (reuse factor, or ``seq`` for the sequential engine in
``SEQ_SHARE`` of the specs; argmax stage; handshake probabilities) and a
seed from which every weight and input is drawn. ``build_model(spec)`` rebuilds the same model
from it, so a failing model can be saved, shrunk and replayed.

The generator stays inside what ``hw.convert.check_supported`` accepts (``supported(spec)`` says
so for any spec): QDense, QConv1D, QConv2D (pointwise included), QDepthwiseConv2D, average/max
pooling, QActivation with quantized_bits / quantized_relu, Flatten, Reshape, Dropout, Add, Concatenate,
ZeroPadding1D/2D, Cropping1D/2D (also as TC-ResNet's right-aligned shortcut of an unpadded residual
block); with ``byo`` also binary/ternary kernels and activations fused into the weight layer.
Weights are drawn per layer as raw codes over the whole grid, as coarse codes (many products end
on rounding ties of the next quantizer) or as floats beyond the grid (the weight quantizer
saturates); inputs are random on a grid one bit finer than the input quantizer (half of them are
ties) and beyond its range, plus edge vectors (all max, all min, all ties, a max/min checkerboard).
"""

from __future__ import annotations

import os
import warnings
import zlib

import numpy as np

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

WEIGHT_OPS = ("dense", "conv", "depthwise")
ACT_OPS = ("relu", "qbits")
SPREADS = ("grid", "coarse", "uniform")
SEQ_SHARE = 0.15  # specs whose RTL is the sequential engine (RF=seq, hw/rtl/sequential.py)


# ============================================================================ generation
def generate(seed: int, byo: bool = False) -> dict:
    """A random spec; the same seed gives the same spec. ``byo``: also QKeras idioms hw.convert.rewrite
    carries (binary/ternary kernels, fused activations; see ``_byo``), drawn from their own stream so
    the rest of the spec is the one ``generate(seed)`` gives."""
    spec = _generate(seed)
    if byo:
        _byo(np.random.default_rng([int(seed), 14]), spec["layers"])
    _borders(np.random.default_rng([int(seed), 15]), spec)
    return spec


BORDER_OPS = ("pad", "crop")  # Keras ZeroPadding / Cropping


def _borders(rng, spec):
    """Keras ZeroPadding/Cropping, from their own stream (a spec that gets none is the one the seed
    gave before they existed): a pad or crop in front of some top-level layers, and some 1-D
    residual blocks made unpadded with TC-ResNet's right-aligned shortcut (a crop of the block
    input, qat.models.tc_resnet). An insertion is kept only if every later layer still fits its
    input; none after a Reshape into a sequence (the RTL's known Regroup gap would hide it) or
    between an average pool and its quantizer; a crop only of a QActivation's output
    (hw.convert.check_supported)."""
    layers, names = spec["layers"], iter(f"b{i}" for i in range(1000))
    i = 0
    while i <= len(layers):
        cur = _shape_after(layers[:i], spec["input"]["shape"])
        draw, aligned_draw = rng.random(), rng.random()
        after_mean = i > 0 and layers[i - 1]["op"] == "pool" and layers[i - 1]["kind"] == "avg"  # its quantizer follows
        if cur is None or len(cur) == 1 or after_mean or any(l["op"] == "to_seq" for l in layers[:i]):
            i += 1
            continue
        new = None
        before = next((l for l in reversed(layers[:i]) if l["op"] not in BORDER_OPS), None)
        quantized = before is None or before["op"] in ACT_OPS + ("residual",)  # q_in, or a QActivation's type
        if draw < 0.12:
            op = str(rng.choice(BORDER_OPS))
            op = op if quantized else "pad"
            amounts = [[int(rng.integers(0, 3)), int(rng.integers(0, 3))] for _ in cur[:-1]]
            new = layers[:i] + [{"op": op, "name": next(names), "dims": len(cur) - 1, "amounts": amounts}] + layers[i:]
        elif i < len(layers) and layers[i]["op"] == "residual" and aligned_draw < 0.3 and quantized:
            block = _aligned_residual(layers[i], cur, next(names))
            new = None if block is None else layers[:i] + [block] + layers[i + 1:]
        if new is not None and _shape_after(new, spec["input"]["shape"]) is not None:
            i += len(new) - len(layers)  # past an inserted layer
            layers[:] = new
        i += 1


def _aligned_residual(block, cur, crop_name):
    """The block with unpadded convolutions and its shortcut right-aligned by a crop of the block
    input (shortcut position j is the last input frame of the main path's output j), or None when
    the unpadded block does not fit the input."""
    from qat.models.tc_resnet import shortcut_crop

    convs = [l for l in block["body"] if l["op"] == "conv"]
    (k, s), k2 = (convs[0]["kernel"][0], convs[0]["strides"][0]), convs[1]["kernel"][0]
    main = (cur[0] - k) // s + 1 - (k2 - 1)
    if main < 1 or cur[0] < k:
        return None  # does not fit
    crop = shortcut_crop(block["name"], [(k, s), (k2, 1)], s, cur[0], main)
    body = [{**l, "padding": "valid"} if l["op"] == "conv" else l for l in block["body"]]
    return {**block, "body": body, "shortcut": [{"op": "crop", "name": crop_name, "dims": 1, "amounts": [[crop, 0]]}]
            + block["shortcut"]}


def _shape_after(layers, shape):
    """The output shape of a layer list on an input shape, or None when a layer does not fit its input."""
    cur = list(shape)
    for layer in layers:
        cur = _out_shape(layer, cur)
        if cur is None or min(cur) < 1:
            return None
    return cur


def _out_shape(layer, cur):
    op = layer["op"]
    if op in ACT_OPS or op == "dropout":
        return cur
    if op == "dense":
        return [layer["units"]] if len(cur) == 1 else None
    if op == "flatten":
        return [int(np.prod(cur))]
    if op == "to_seq":
        return [cur[0], cur[1] * cur[2]] if len(cur) == 3 else None
    if op in BORDER_OPS:
        if len(cur) != layer["dims"] + 1:
            return None
        sign = 1 if op == "pad" else -1
        return [d + sign * sum(a) for d, a in zip(cur, layer["amounts"])] + cur[-1:]
    if op in ("conv", "depthwise", "pool"):
        size = layer.get("kernel", layer.get("size"))
        if len(cur) != layer["dims"] + 1 or (layer.get("padding", "valid") == "valid" and any(
                k > d for k, d in zip(size, cur))):
            return None
        return conv_out_shape(cur, layer)
    if op == "residual":
        main, skip = _shape_after(layer["body"], cur), _shape_after(layer["shortcut"], cur)
        if main is None or skip is None or main[:-1] != skip[:-1]:
            return None
        if layer.get("merge") == "concat":
            return main[:-1] + [main[-1] + skip[-1]]
        return main if main[-1] == skip[-1] else None
    raise ValueError(f"unknown op {op!r}")


SIGN_KERNELS = ("binary", "ternary", "binary_po2", "ternary_po2")


def _byo(rng, layers):
    """Some weight layers get a binary/ternary kernel quantizer (alpha=1 or 'auto_po2'), some weight
    layers followed by an activation get it fused (``activation=...``)."""
    i = 0
    while i < len(layers):
        layer = layers[i]
        if layer["op"] == "residual":
            _byo(rng, layer["body"])
            _byo(rng, layer["shortcut"])
        if layer["op"] in WEIGHT_OPS:
            if rng.random() < 0.4:
                layer["kq"] = str(rng.choice(SIGN_KERNELS))
            if i + 1 < len(layers) and layers[i + 1]["op"] in ACT_OPS and rng.random() < 0.5:
                layer["fused"] = layers.pop(i + 1)
        i += 1


def _generate(seed: int) -> dict:
    rng = np.random.default_rng(seed)
    names = iter(f"l{i}" for i in range(1000))
    family = rng.choice(["flat", "seq", "img"], p=[0.25, 0.35, 0.4])
    shape = {"flat": lambda: [int(rng.integers(2, 25))],
             "seq": lambda: [int(rng.integers(4, 21)), int(rng.integers(1, 5))],
             "img": lambda: [int(rng.integers(3, 10)), int(rng.integers(3, 10)), int(rng.integers(1, 4))]}[family]()
    in_bits = int(rng.integers(3, 11))
    spec = {"seed": int(seed),
            "input": {"shape": shape, "bits": in_bits, "integer": int(rng.integers(0, min(4, in_bits - 2) + 1)),
                      "keep_negative": bool(rng.random() > 0.15)},
            "layers": [], "hls": {}, "accum": None, "rtl": {}, "inputs": {"random": 40}}
    layers, cur, last = spec["layers"], list(shape), "qbits"
    io_type = str(rng.choice(["io_parallel", "io_stream"], p=[0.65, 0.35]))
    for _ in range(int(rng.integers(1, 5))):
        block, cur = _gen_block(rng, names, cur, last, io_type)
        layers += block
        last = layers[-1]["op"]
    if len(cur) > 1 and rng.random() < 0.5:  # a classifier head
        if len(cur) == 3 and rng.random() < 0.3:
            layers.append({"op": "to_seq", "name": next(names)})
        layers.append({"op": "flatten", "name": next(names)})
        cur = [int(np.prod(cur))]
    if len(cur) == 1 and (rng.random() < 0.6 or not any(l["op"] in WEIGHT_OPS for l in layers)):
        layers += _weight_and_act(rng, names, "dense", cur, end=True)[0]
    if all(l["op"] in ("flatten", "to_seq") for l in layers):  # a model must compute (check_supported)
        layers += _weight_and_act(rng, names, "conv", cur, end=True)[0]
    if any(l["op"] in ("conv", "depthwise") and l["dims"] == 2 and l["kernel"][0] == 1 and l["strides"][0] > 1
           for l in _walk(layers)):
        io_type = "io_parallel"  # check_supported: hls4ml 1.3's io_stream ignores that vertical stride
    has_dw = any(l["op"] == "depthwise" for l in _walk(layers))
    spec["hls"] = {"backend": str(rng.choice(["Vitis", "Vivado"])),
                   "io_type": io_type,
                   "strategy": "Resource" if (rng.random() < 0.2 and not has_dw) else "Latency",
                   "reuse_factor": int(rng.choice([1, 1, 2, 4]))}
    if spec["hls"]["strategy"] == "Resource" and any(l["op"] == "conv" and set(l["kernel"]) == {1} for l in _walk(layers)):
        spec["hls"]["reuse_factor"] = 1  # check_supported: hls4ml 1.3 never corrects a 1x1 conv's reuse factor
    if rng.random() < 0.15:  # narrow wrapping accumulators (paper A's)
        spec["accum"] = {"width": int(rng.integers(10, 21)), "drop": int(rng.integers(0, 4))}
    rf = int(rng.choice([1, 2, 3, 4, 8, 16, 64]))
    spec["rtl"] = {"reuse_factor": f"{rf},balance" if rng.random() < 0.15 else rf,
                   "argmax": bool(rng.random() < 0.15),
                   "p_valid": int(rng.choice([100, 90, 70, 50])), "p_ready": int(rng.choice([100, 90, 70, 50]))}
    if np.random.default_rng([int(seed), 15]).random() < SEQ_SHARE:  # own stream: every other draw stays as it was
        spec["rtl"].update(reuse_factor="seq", argmax=False)  # the sequential engine has no argmax stage
    return spec


def _gen_block(rng, names, cur, last, io_type):
    """One block for the current shape: weight layer (+ activation), pooling, or residual."""
    rank = len(cur)
    options = {1: ["dense"], 2: ["conv", "conv", "pool", "residual", "flatten"],
               3: ["conv", "conv", "depthwise", "pointwise", "pool", "to_seq", "flatten"]}[rank]
    op = str(rng.choice(options))
    if op == "pool" and not _can_pool(cur):
        op = "conv"
    if op == "flatten":
        return [{"op": "flatten", "name": next(names)}], [int(np.prod(cur))]
    if op == "to_seq":
        return [{"op": "to_seq", "name": next(names)}], [cur[0], cur[1] * cur[2]]
    if op == "pool":
        return _pool(rng, names, cur, last, io_type)
    if op == "residual":
        return _residual(rng, names, cur)
    return _weight_and_act(rng, names, op, cur)


def _quant(rng, max_bits=8, max_int=2):
    bits = int(rng.integers(2, max_bits + 1))
    return [bits, int(rng.integers(0, min(max_int, bits - 1) + 1))]


def _weight_layer(rng, names, op, cur, filters=None, kernel=None, stride=None, padding=None):
    layer = {"op": "conv" if op == "pointwise" else op, "name": next(names), "w": _quant(rng),
             "b": None if rng.random() < 0.15 else _quant(rng, 10, 4), "spread": str(rng.choice(SPREADS))}
    if op == "dense":
        layer["units"] = int(rng.integers(1, 9))
        return layer, [layer["units"]]
    dims = len(cur) - 1
    if op == "pointwise":
        kernel, stride, padding = [1] * dims, [1] * dims, "valid"
    padding = padding or str(rng.choice(["valid", "same"]))
    if kernel is None:
        kernel = [int(rng.integers(1, min(4, d) + 1)) if padding == "valid" else int(rng.integers(1, 4)) for d in cur[:-1]]
    if stride is None:
        stride = [int(rng.choice([1, 1, 2])) for _ in cur[:-1]]
        if op == "depthwise":  # TensorFlow's own CPU kernel refuses unequal strides (oneDNN's takes them)
            stride = [stride[0]] * dims
    layer.update({"dims": dims, "kernel": list(kernel), "strides": list(stride), "padding": padding})
    if layer["op"] == "conv":
        layer["filters"] = int(filters if filters is not None else rng.integers(1, 7))
    return layer, conv_out_shape(cur, layer)


def conv_out_shape(cur, layer):
    k, s = layer.get("kernel", layer.get("size")), layer["strides"]
    if layer.get("padding", "valid") == "same":
        sp = [-(-d // st) for d, st in zip(cur[:-1], s)]
    else:
        sp = [(d - kk) // st + 1 for d, kk, st in zip(cur[:-1], k, s)]
    return sp + [layer.get("filters", cur[-1])]


def _act(rng, names, end=False):
    if rng.random() < (0.3 if end else 0.55):
        bits = int(rng.integers(2, 10))
        return {"op": "relu", "name": next(names), "bits": bits, "integer": int(rng.integers(0, min(bits, 4) + 1))}
    bits = int(rng.integers(2, 14 if end else 10))
    neg = bool(rng.random() > 0.15)
    return {"op": "qbits", "name": next(names), "bits": bits, "keep_negative": neg,
            "integer": int(rng.integers(0, min(bits - 1 if neg else bits, 6) + 1)),
            "symmetric": bool(neg and rng.random() < 0.2)}


def _weight_and_act(rng, names, op, cur, end=False, **kw):
    layer, out = _weight_layer(rng, names, op, cur, **kw)
    block = [layer]
    if rng.random() < 0.9:  # else the weight layer's own (exact, inferred) result type goes on
        block.append(_act(rng, names, end))
    return block, out


def _can_pool(cur):
    return min(cur[:-1]) >= 2


def _pool(rng, names, cur, last, io_type):
    kind = "avg" if rng.random() < 0.6 else "max"
    block = []
    if kind == "avg" and last not in ACT_OPS:  # check_supported: its input type must be a QActivation's
        block.append(_act(rng, names))
    size = [int(rng.integers(1, min(3, d) + 1)) for d in cur[:-1]]
    if all(s == 1 for s in size):
        size[int(rng.integers(len(size)))] = 2
    size = [min(s, d) for s, d in zip(size, cur[:-1])]
    # io_stream pooling: strides == pool_size (hw.convert.check_supported, after hls4ml's own assert)
    strides = list(size) if rng.random() < 0.7 or io_type == "io_stream" else [int(rng.integers(1, s + 1)) for s in size]
    pool = {"op": "pool", "name": next(names), "kind": kind, "dims": len(cur) - 1, "size": size, "strides": strides}
    block.append(pool)
    window = int(np.prod(size))
    if kind == "avg" and (window & (window - 1) or rng.random() < 0.7):
        block.append({**_act(rng, names), "op": "qbits", "keep_negative": True, "symmetric": False,
                      "bits": int(rng.integers(4, 14)), "integer": int(rng.integers(0, 4))})
    elif rng.random() < 0.3:
        block.append(_act(rng, names))
    return block, conv_out_shape(cur, {**pool, "padding": "valid"})


def _residual(rng, names, cur):
    """conv(k, stride, same) -> act -> conv(k, same); shortcut identity or 1x1 conv(stride); Add; act.
    One in four is a channel Concatenate instead of the Add ("merge": "concat"; shortcut of any width)."""
    filters = int(rng.integers(1, 6))
    stride = int(rng.choice([1, 1, 2]))
    k = int(rng.integers(1, 6))
    # own stream, seeded from rng's state without advancing it: specs without a Concatenate stay as before
    side = np.random.default_rng(rng.bit_generator.state["state"]["state"])
    concat = bool(side.random() < 0.25)
    c1, mid = _weight_layer(rng, names, "conv", cur, filters=filters, kernel=[k], stride=[stride], padding="same")
    a1 = _act(rng, names)
    c2, out = _weight_layer(rng, names, "conv", mid, filters=filters, kernel=[k], stride=[1], padding="same")
    identity = stride == 1 and cur[-1] == filters and rng.random() < 0.5
    skip_filters = int(side.integers(1, 6)) if concat else filters
    shortcut = [] if identity else [_weight_layer(rng, names, "conv", cur, filters=skip_filters, kernel=[1],
                                                  stride=[stride], padding="valid")[0]]
    block = {"op": "residual", "name": next(names), "body": [c1, a1, c2], "shortcut": shortcut, "act": _act(rng, names)}
    if concat:
        block["merge"] = "concat"
        out = [out[0], filters + (cur[-1] if identity else skip_filters)]
    return [block], out


def _walk(layers):
    for layer in layers:
        yield layer
        if layer["op"] == "residual":
            yield from _walk(layer["body"] + layer["shortcut"] + [layer["act"]])


# ============================================================================ building
def build_model(spec: dict):
    """The QKeras model of a spec, weights set; raises ValueError for an inconsistent spec."""
    import tensorflow as tf
    from qkeras import QActivation, quantized_bits

    tf.keras.backend.clear_session()  # one fuzz run builds thousands of models
    inp_cfg = spec["input"]
    inp = tf.keras.Input(tuple(inp_cfg["shape"]), name="features")
    x = QActivation(quantized_bits(inp_cfg["bits"], inp_cfg["integer"], keep_negative=inp_cfg.get("keep_negative", True),
                                   alpha=1), name="q_in")(inp)
    for layer in spec["layers"]:
        x = _apply(layer, x)
    model = tf.keras.Model(inp, x, name=f"fuzz{spec['seed']}")
    for layer in _walk(spec["layers"]):
        if layer["op"] in WEIGHT_OPS:
            _set_weights(model.get_layer(layer["name"]), layer, spec["seed"])
    return model


def _apply(layer, x):
    import tensorflow as tf
    from qkeras import QActivation, QConv1D, QConv2D, QDense, QDepthwiseConv2D, quantized_bits, quantized_relu

    op, name, L = layer["op"], layer["name"], tf.keras.layers
    if op in WEIGHT_OPS:
        kq = _sign_kernel(layer["kq"]) if layer.get("kq") else quantized_bits(*layer["w"], alpha=1)
        bias = dict(use_bias=layer["b"] is not None,
                    bias_quantizer=quantized_bits(*layer["b"], alpha=1) if layer["b"] is not None else None)
        if layer.get("fused"):
            bias["activation"] = _act_quantizer(layer["fused"])
        if op == "dense":
            return QDense(layer["units"], kernel_quantizer=kq, name=name, **bias)(x)
        geo = dict(kernel_size=tuple(layer["kernel"]), strides=tuple(layer["strides"]), padding=layer["padding"])
        if op == "depthwise":
            return QDepthwiseConv2D(depthwise_quantizer=kq, name=name, **geo, **bias)(x)
        cls = QConv1D if layer["dims"] == 1 else QConv2D
        return cls(layer["filters"], kernel_quantizer=kq, name=name, **geo, **bias)(x)
    if op in ACT_OPS:
        return QActivation(_act_quantizer(layer), name=name)(x)
    if op == "pool":
        cls = {("avg", 1): L.AveragePooling1D, ("avg", 2): L.AveragePooling2D,
               ("max", 1): L.MaxPooling1D, ("max", 2): L.MaxPooling2D}[layer["kind"], layer["dims"]]
        return cls(tuple(layer["size"]), strides=tuple(layer["strides"]), padding="valid", name=name)(x)
    if op in BORDER_OPS:
        amounts = tuple(tuple(a) for a in layer["amounts"])
        cls = {("pad", 1): L.ZeroPadding1D, ("pad", 2): L.ZeroPadding2D,
               ("crop", 1): L.Cropping1D, ("crop", 2): L.Cropping2D}[op, layer["dims"]]
        return cls(amounts[0] if layer["dims"] == 1 else amounts, name=name)(x)
    if op == "flatten":
        return L.Flatten(name=name)(x)
    if op == "to_seq":
        return L.Reshape((x.shape[1], x.shape[2] * x.shape[3]), name=name)(x)
    if op == "dropout":
        return L.Dropout(0.5, name=name)(x)
    if op == "residual":
        y = x
        for sub in layer["body"]:
            y = _apply(sub, y)
        s = x
        for sub in layer["shortcut"]:
            s = _apply(sub, s)
        merge = L.Concatenate(name=name) if layer.get("merge") == "concat" else L.Add(name=name)
        return _apply(layer["act"], merge([y, s]))
    raise ValueError(f"unknown op {op!r} in layer {name!r}")


def _act_quantizer(layer):
    from qkeras import quantized_bits, quantized_relu

    if layer["op"] == "relu":
        return quantized_relu(layer["bits"], layer["integer"])
    return quantized_bits(layer["bits"], layer["integer"], keep_negative=layer["keep_negative"],
                          symmetric=int(layer["symmetric"]), alpha=1)


def _sign_kernel(kind: str):
    from qkeras import binary, ternary

    cls = binary if kind.startswith("binary") else ternary
    return cls(alpha="auto_po2" if kind.endswith("_po2") else 1)


def _rng(seed: int, name: str):
    """Per-layer stream: dropping another layer while shrinking leaves this layer's weights alone."""
    return np.random.default_rng([int(seed), zlib.crc32(name.encode())])


def _draw(rng, shape, bits, integer, spread):
    """Values for a quantized_bits(bits, integer) weight: on the grid, on a coarse grid, or beyond it."""
    frac = bits - 1 - integer
    lo, hi = -(1 << (bits - 1)), (1 << (bits - 1)) - 1
    if spread == "uniform":  # floats; ~20 % beyond the range, which the quantizer saturates
        return rng.uniform(1.25 * lo, 1.25 * hi, shape) * 2.0 ** -frac
    codes = rng.integers(lo, hi + 1, shape)
    if spread == "coarse":  # few low bits: products land on the next quantizer's rounding ties
        step = 1 << max(0, bits // 2)
        codes = np.clip(np.round(codes / step) * step, lo, hi)
    codes.flat[: max(1, codes.size // 8)] = rng.choice([lo, hi], max(1, codes.size // 8))  # the extremes
    return codes * 2.0 ** -frac


def _set_weights(keras_layer, layer, seed):
    rng = _rng(seed, layer["name"])
    ws = keras_layer.get_weights()
    new = [_draw(rng, ws[0].shape, *layer["w"], layer["spread"])]
    if layer["b"] is not None:
        new.append(_draw(rng, ws[1].shape, *layer["b"], layer["spread"]))
    keras_layer.set_weights([w.astype(np.float32) for w in new])


def supported(spec: dict):
    """(model, None) if the spec builds and check_supported accepts it, else (None, reason)."""
    from hw.convert import UnsupportedModelError, check_supported

    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # Keras warns about serialising QKeras quantizers
            model = build_model(spec)
        check_supported(model, spec["hls"].get("strategy", "Latency"), spec["hls"].get("io_type", "io_parallel"),
                        spec["hls"].get("reuse_factor", 1))
    except Exception as err:  # noqa: BLE001 - Keras reports bad shapes as ValueError, TypeError, ...
        return None, str(err).splitlines()[0]
    return model, None


# ============================================================================ inputs
def make_inputs(spec: dict) -> np.ndarray:
    """Float inputs: random on a grid one bit finer than the input quantizer, reaching past its
    range (ties and saturation), then the edge vectors."""
    cfg = spec["input"]
    neg = cfg.get("keep_negative", True)
    frac = cfg["bits"] - cfg["integer"] - (1 if neg else 0)
    lsb = 2.0 ** -frac
    hi = (2 ** cfg["bits"] - 1 if not neg else 2 ** (cfg["bits"] - 1) - 1) * lsb
    lo = -(2 ** (cfg["bits"] - 1)) * lsb if neg else 0.0
    shape = tuple(cfg["shape"])
    rng = np.random.default_rng([int(spec["seed"]), 1])
    n = int(spec.get("inputs", {}).get("random", 40))
    span = int(2 ** (cfg["bits"] + 1))  # in half LSBs: twice the range, so a quarter saturates
    rand = rng.integers(-span if neg else -span // 4, span, size=(n, *shape)) * (lsb / 2)
    ties = (rng.integers(int(lo / lsb), int(hi / lsb), size=shape) + 0.5) * lsb  # every element a tie
    checker = np.where(np.indices(shape).sum(axis=0) % 2 == 0, hi, lo)
    edges = np.stack([np.full(shape, hi), np.full(shape, lo), np.full(shape, 4 * hi + 1), np.full(shape, 4 * lo - 1),
                      np.zeros(shape), ties, checker, -checker + hi + lo])
    return np.concatenate([rand, edges]).astype(np.float32)


def walk(layers):
    """Every layer dict, residual bodies, shortcuts and activations included."""
    return list(_walk(layers))
