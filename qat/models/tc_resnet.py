"""TC-ResNet-8 (Choi et al. 2019, "Temporal Convolution for Real-time Keyword Spotting"): 1-D
convolutions over time with the MFCC coefficients as channels, three residual blocks.

49x10 MFCC → reshape (49 frames x 10 channels) → conv 3 taps → 3 x [conv 9 taps stride s → ReLU →
conv 9 taps, + shortcut (identity, or 1x1 conv stride s when the shape changes) → ReLU] → average
over time → dense 12. Widths (16, 24, 32, 48) x `width`: ~0.72M MACs at width 1 (DS-CNN: 2.66M).

Padding is 'same' so both branches of a block have the same length (a 'valid' 9-tap conv would
drop 8 frames the shortcut keeps); with stride 2 the 1x1 shortcut samples the centre tap of each
window. The 7-frame mean after the last block is re-quantized (pool quantizer), as in the DS-CNN.

`time_padding='valid'` (for a streaming implementation, which must compute each time step once and
the same in every window): every Conv1D is 'valid', and each block's shortcut is right-aligned: a
Cropping1D `<block>_crop` drops the block input's first (k-1)(s+1) frames, so shortcut position j
is the *last* input frame of main-path output j's receptive field, then the 1x1 stride-s conv (or
the identity). Unpadded, two 9-tap convs per block do not fit three stride-2 blocks into 49 frames,
so the valid variant's default kernel is **3** (`kernel` may be given; one that does not fit is
refused before building, naming the block). Time with the defaults: 49 → conv1 47 → block1 23/21 →
block2 10/8 → block3 3/1 frames (after each block's first / second conv); total time stride 8; the
one output position sees frames 0-44 (receptive field 45 frames), the average pool covers 1 frame.
"""

import itertools

import numpy as np
from tensorflow.keras import layers

from qat.models import blocks

DEFAULT_KERNEL = {"same": 9, "valid": 3}  # taps of the blocks' convolutions


def build(input_shape=(49, 10, 1), n_classes=12, quant=None, width=1.0, channels=(16, 24, 32, 48), kernel=None,
          first_kernel=3, strides=(2, 2, 2), dropout=0.2, time_padding="same"):
    blocks.check_time_padding("tc_resnet", time_padding)
    if len(channels) != len(strides) + 1:
        raise ValueError(f"tc_resnet: {len(channels)} channel counts need {len(channels) - 1} strides, got {strides}")
    kernel = DEFAULT_KERNEL[time_padding] if kernel is None else kernel
    frames, coeffs = input_shape[0], int(np.prod(input_shape[1:]))
    if time_padding == "valid":
        valid_lengths(frames, first_kernel, kernel, strides)  # refuses a kernel/strides that do not fit
    widths = [max(1, int(round(c * width))) for c in channels]
    inputs = layers.Input(shape=input_shape, name="features")
    x = blocks.input_quant(inputs, quant)
    x = layers.Reshape((frames, coeffs), name="to_sequence")(x)  # MFCC coefficients become channels
    x = blocks.conv1d(x, "conv1", widths[0], first_kernel, quant=quant, padding=time_padding)
    x = blocks.relu(x, "conv1", quant)
    for i, (c, s) in enumerate(zip(widths[1:], strides), start=1):
        x = residual_block(x, f"block{i}", c, kernel, s, quant, time_padding)
    x = layers.Dropout(dropout, name="drop")(x)
    x = blocks.global_average(x, quant)
    return blocks.model(inputs, blocks.logits(x, n_classes, quant), "tc_resnet")


def residual_block(x, name: str, filters: int, kernel: int, stride: int, quant, time_padding: str = "same"):
    """conv(k, stride) → ReLU → conv(k); shortcut identity or 1x1 conv(stride), right-aligned by a
    crop when unpadded; add; ReLU."""
    y = blocks.conv1d(x, f"{name}_conv1", filters, kernel, strides=stride, quant=quant, padding=time_padding)
    y = blocks.relu(y, f"{name}_conv1", quant)
    y = blocks.conv1d(y, f"{name}_conv2", filters, kernel, quant=quant, padding=time_padding)
    project = stride != 1 or x.shape[-1] != filters
    if time_padding == "valid":
        crop = shortcut_crop(name, [(kernel, stride), (kernel, 1)], stride if project else 1,
                             int(x.shape[1]), int(y.shape[1]))
        x = layers.Cropping1D((crop, 0), name=f"{name}_crop")(x)
    if project:
        x = blocks.conv1d(x, f"{name}_skip", filters, 1, strides=stride, quant=quant)
    return blocks.add([y, x], name, quant)


def last_frames(convs) -> tuple[int, int]:
    """(step, offset) of a chain of unpadded convolutions [(kernel, stride), ...]: output i's
    receptive field ends at input frame offset + step * i."""
    step, offset = 1, 0
    for k, s in reversed(convs):  # from the output back: output i of this conv ends at input i*s + k-1
        offset, step = offset * s + k - 1, step * s
    return step, offset


def shortcut_crop(block: str, convs, shortcut_stride: int, length: int, main_length: int) -> int:
    """Frames to drop from the front of the block input so that the shortcut's 1x1 conv (stride
    `shortcut_stride`; 1 = identity) samples, for each main-path output j, the last frame of its
    receptive field; the cropped shortcut then has the main path's `main_length` positions."""
    step, offset = last_frames(convs)
    if shortcut_stride != step:
        raise ValueError(f"tc_resnet {block}: the main path's outputs are {step} frames apart, a 1x1 shortcut of stride "
                         f"{shortcut_stride} cannot sample the last frame of each receptive field; use stride {step}")
    shortcut_length = -(-(length - offset) // shortcut_stride)
    if shortcut_length != main_length:
        raise ValueError(f"tc_resnet {block}: the right-aligned shortcut has {shortcut_length} positions, the main "
                         f"path {main_length}")
    return offset


def valid_lengths(frames: int, first_kernel: int, kernel: int, strides) -> list[int]:
    """Frames after each block's two unpadded convolutions; a block that gets too few frames is
    refused by name, saying which kernels fit these strides and which strides fit this kernel."""
    def short_block(k, strides):  # (block, frames it gets, frames it needs) of the first that is too short, or None
        n = frames - first_kernel + 1
        for i, s in enumerate(strides, start=1):
            need = (k - 1) * s + k  # frames the block's first conv needs for the k outputs its second conv reads
            if n < need:
                return i, n, need
            n = (n - k) // s + 1 - (k - 1)
        return None

    if frames < first_kernel:
        raise ValueError(f"tc_resnet time_padding='valid': {frames} frames are fewer than conv1's {first_kernel} taps")
    short = short_block(kernel, strides)
    if short is not None:
        i, n, need = short
        kernels = [k for k in range(1, frames + 1) if short_block(k, strides) is None]  # 1 always fits
        stride_sets = [c for c in itertools.product((1, 2), repeat=len(strides)) if short_block(kernel, c) is None]
        with_strides = (f"with kernel {kernel}, strides {', '.join(map(str, stride_sets))} fit" if stride_sets
                        else f"no strides of 1 and 2 fit kernel {kernel}")
        raise ValueError(f"tc_resnet time_padding='valid': block{i} gets {n} frames, too few for two unpadded "
                         f"{kernel}-tap convolutions with stride {strides[i - 1]} (needs {need}); with strides "
                         f"{tuple(strides)} kernels up to {max(kernels)} fit in {frames} frames, {with_strides}")
    n, out = frames - first_kernel + 1, []
    for s in strides:
        n = (n - kernel) // s + 1 - (kernel - 1)
        out.append(n)
    return out
