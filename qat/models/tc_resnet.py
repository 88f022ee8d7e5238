"""TC-ResNet-8 (Choi et al. 2019, "Temporal Convolution for Real-time Keyword Spotting"): 1-D
convolutions over time with the MFCC coefficients as channels, three residual blocks.

49x10 MFCC → reshape (49 frames x 10 channels) → conv 3 taps → 3 x [conv 9 taps stride s → ReLU →
conv 9 taps, + shortcut (identity, or 1x1 conv stride s when the shape changes) → ReLU] → average
over time → dense 12. Widths (16, 24, 32, 48) x `width`: ~0.72M MACs at width 1 (DS-CNN: 2.66M).

Padding is 'same' so both branches of a block have the same length (a 'valid' 9-tap conv would
drop 8 frames the shortcut keeps); with stride 2 the 1x1 shortcut samples the centre tap of each
window. The 7-frame mean after the last block is re-quantized (pool quantizer), as in the DS-CNN.
"""

import numpy as np
from tensorflow.keras import layers

from qat.models import blocks


def build(input_shape=(49, 10, 1), n_classes=12, quant=None, width=1.0, channels=(16, 24, 32, 48), kernel=9,
          first_kernel=3, strides=(2, 2, 2), dropout=0.2):
    if len(channels) != len(strides) + 1:
        raise ValueError(f"tc_resnet: {len(channels)} channel counts need {len(channels) - 1} strides, got {strides}")
    widths = [max(1, int(round(c * width))) for c in channels]
    inputs = layers.Input(shape=input_shape, name="features")
    x = blocks.input_quant(inputs, quant)
    frames, coeffs = input_shape[0], int(np.prod(input_shape[1:]))
    x = layers.Reshape((frames, coeffs), name="to_sequence")(x)  # MFCC coefficients become channels
    x = blocks.conv1d(x, "conv1", widths[0], first_kernel, quant=quant, padding="same")
    x = blocks.relu(x, "conv1", quant)
    for i, (c, s) in enumerate(zip(widths[1:], strides), start=1):
        x = residual_block(x, f"block{i}", c, kernel, s, quant)
    x = layers.Dropout(dropout, name="drop")(x)
    x = blocks.global_average(x, quant)
    return blocks.model(inputs, blocks.logits(x, n_classes, quant), "tc_resnet")


def residual_block(x, name: str, filters: int, kernel: int, stride: int, quant):
    """conv(k, stride) → ReLU → conv(k); shortcut identity or 1x1 conv(stride); add; ReLU."""
    y = blocks.conv1d(x, f"{name}_conv1", filters, kernel, strides=stride, quant=quant, padding="same")
    y = blocks.relu(y, f"{name}_conv1", quant)
    y = blocks.conv1d(y, f"{name}_conv2", filters, kernel, quant=quant, padding="same")
    if stride != 1 or x.shape[-1] != filters:
        x = blocks.conv1d(x, f"{name}_skip", filters, 1, strides=stride, quant=quant)
    return blocks.add([y, x], name, quant)
