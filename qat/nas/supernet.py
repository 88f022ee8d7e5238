"""Differentiable architecture search space (paper C; DARTS with a ProxylessNAS-style cost term).

The network is a stem conv, `n_blocks` searchable blocks, global average pooling and a dense
classifier. Every block is a *mixed op*: the softmax of its architecture logits (alpha) weighs
the outputs of all candidates
    conv k x C   for k in kernels, C in channels (narrower outputs are zero-padded to the widest)
    skip         (identity; free)
each conv followed by BatchNorm + ReLU. The expected MACs, sum_i softmax(alpha)_i * MACs_i,
is differentiable in alpha, so the loss  CE + mac_penalty * E[MACs] / MACs(widest)  trades
accuracy against cost. The same code covers raw waveform (Conv1D, strided stem) and MFCC
(Conv2D) inputs: only `dims` and the stem differ.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field

import numpy as np
import tensorflow as tf
from tensorflow.keras import layers


@dataclass
class SearchSpace:
    dims: int = 2  # 2: MFCC (49, 10, 1) with Conv2D; 1: raw waveform (16000, 1) with Conv1D
    n_blocks: int = 3
    kernels: tuple = (3, 5)
    channels: tuple = (16, 32)
    stem_channels: int = 32
    stem_kernel: tuple = (10, 4)  # raw: (k,) ; MFCC: (kh, kw)
    stem_stride: tuple = (2, 2)
    block_stride: int = 1  # raw: >1 shrinks the sequence in every block
    pool_after_block: int = 1  # max-pool factor after every block (raw: shrink the sequence)
    skip: bool = True

    def __post_init__(self):
        if self.dims not in (1, 2):
            raise ValueError(f"SearchSpace.dims={self.dims}: 1 (raw waveform) or 2 (MFCC)")
        if self.n_blocks < 1 or not self.kernels or not self.channels:
            raise ValueError("SearchSpace needs >= 1 block, kernel sizes and channel counts")
        if self.skip and self.block_stride != 1:
            raise ValueError("a skip candidate needs block_stride=1 (identity keeps the shape)")
        if max(self.channels) > self.stem_channels and self.skip:
            raise ValueError("with skip, candidates may not be wider than the stem (identity keeps the width)")

    def candidates(self) -> list[dict]:
        ops = [{"op": "conv", "kernel": k, "channels": c} for k in self.kernels for c in self.channels]
        return ops + ([{"op": "skip"}] if self.skip else [])

    def to_dict(self) -> dict:
        return asdict(self)


def mfcc_space(**kw) -> SearchSpace:
    return SearchSpace(**{"dims": 2, "stem_kernel": (10, 4), "stem_stride": (2, 2), **kw})


def raw_space(**kw) -> SearchSpace:
    return SearchSpace(**{"dims": 1, "stem_kernel": (80,), "stem_stride": (16,), "stem_channels": 32,
                          "kernels": (3, 9), "block_stride": 1, "pool_after_block": 4, **kw})


def pool_layer(space: SearchSpace, name: str):
    cls = layers.MaxPooling1D if space.dims == 1 else layers.MaxPooling2D
    return cls(space.pool_after_block, name=name)


def _conv(dims, channels, kernel, stride=1, name=None):
    cls = layers.Conv1D if dims == 1 else layers.Conv2D
    return cls(channels, kernel, strides=stride, padding="same", use_bias=False, name=name)


class MixedOp(layers.Layer):
    def __init__(self, space: SearchSpace, in_channels: int, name: str):
        super().__init__(name=name)
        self.space, self.in_channels = space, in_channels
        self.cands = space.candidates()
        self.width = max(max(space.channels), in_channels if space.skip else 0)
        self.branches = []
        for i, c in enumerate(self.cands):
            if c["op"] == "conv":
                k = (c["kernel"],) * space.dims
                self.branches.append([_conv(space.dims, c["channels"], k, space.block_stride, f"{name}_c{i}"),
                                      layers.BatchNormalization(momentum=0.9, name=f"{name}_bn{i}")])
            else:
                self.branches.append(None)
        self.alpha = self.add_weight(name=f"{name}_alpha", shape=(len(self.cands),), initializer="zeros",
                                     trainable=True)

    def call(self, x, training=None):
        w = tf.nn.softmax(self.alpha)
        out = 0.0
        for i, (c, branch) in enumerate(zip(self.cands, self.branches)):
            if branch is None:
                y = x
            else:
                y = tf.nn.relu(branch[1](branch[0](x), training=training))
            pad = self.width - y.shape[-1]
            if pad:
                y = tf.pad(y, [[0, 0]] * (len(y.shape) - 1) + [[0, pad]])
            out = out + w[i] * y
        return out


def candidate_macs(space: SearchSpace, positions: int, in_channels: int) -> np.ndarray:
    """MACs of every candidate of one block (positions = output positions of the block)."""
    out = []
    for c in space.candidates():
        if c["op"] == "skip":
            out.append(0.0)
        else:
            out.append(float(positions * c["kernel"] ** space.dims * in_channels * c["channels"]))
    return np.asarray(out, np.float64)


@dataclass
class Supernet:
    model: tf.keras.Model
    mixed: list
    macs: list = field(default_factory=list)  # per block: candidate MACs (np.ndarray)
    fixed_macs: float = 0.0  # stem + classifier

    @property
    def alphas(self):
        return [m.alpha for m in self.mixed]

    def expected_macs(self):
        total = tf.constant(self.fixed_macs, tf.float32)
        for m, c in zip(self.mixed, self.macs):
            total += tf.reduce_sum(tf.nn.softmax(m.alpha) * tf.constant(c, tf.float32))
        return total

    def max_macs(self) -> float:
        return self.fixed_macs + float(sum(c.max() for c in self.macs))

    def derive(self) -> list[dict]:
        """Most likely candidate per block, as plain dicts (Keras wraps layer attributes)."""
        return [dict(m.cands[int(np.argmax(m.alpha.numpy()))]) for m in self.mixed]


def build_supernet(space: SearchSpace, input_shape, n_classes: int) -> Supernet:
    inputs = layers.Input(shape=input_shape, name="features")
    x = _conv(space.dims, space.stem_channels, space.stem_kernel, space.stem_stride, "stem")(inputs)
    x = layers.BatchNormalization(momentum=0.9, name="stem_bn")(x)
    x = layers.ReLU(name="stem_relu")(x)
    positions = int(np.prod(x.shape[1:-1]))
    fixed = positions * float(np.prod(space.stem_kernel)) * input_shape[-1] * space.stem_channels
    mixed, macs, channels = [], [], space.stem_channels
    for b in range(space.n_blocks):
        op = MixedOp(space, channels, f"block{b + 1}")
        x = op(x)
        positions = int(np.prod(x.shape[1:-1]))
        macs.append(candidate_macs(space, positions, channels))
        mixed.append(op)
        channels = op.width
        if space.pool_after_block > 1:
            x = pool_layer(space, f"block{b + 1}_pool")(x)
    pool = layers.GlobalAveragePooling1D if space.dims == 1 else layers.GlobalAveragePooling2D
    x = pool(name="pool")(x)
    outputs = layers.Dense(n_classes, name="logits")(x)
    fixed += channels * n_classes
    return Supernet(tf.keras.Model(inputs, outputs, name="supernet"), mixed, macs, fixed)
