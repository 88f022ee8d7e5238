"""DS-CNN, the MLPerf Tiny keyword-spotting reference (Zhang et al. 2017, "Hello Edge").

49x10 MFCC → conv 64 (10x4, stride 2) → 4 x [depthwise 3x3 → pointwise 64] → average pool →
dense 12. 64 channels at full size (`width` scales it); ~23k parameters, ~2.7M MACs.
"""

from tensorflow.keras import layers

from qat.models import blocks


def build(input_shape=(49, 10, 1), n_classes=12, quant=None, width=64, blocks_count=4, dropout=(0.2, 0.4)):
    inputs = layers.Input(shape=input_shape, name="features")
    x = blocks.input_quant(inputs, quant)
    x = blocks.conv2d(x, "conv1", width, (10, 4), strides=2, quant=quant)
    x = blocks.relu(x, "conv1", quant)
    x = layers.Dropout(dropout[0], name="drop1")(x)
    for i in range(1, blocks_count + 1):
        x = blocks.depthwise2d(x, f"dw{i}", (3, 3), quant=quant)
        x = blocks.relu(x, f"dw{i}", quant)
        x = blocks.conv2d(x, f"pw{i}", width, (1, 1), quant=quant)
        x = blocks.relu(x, f"pw{i}", quant)
    x = layers.Dropout(dropout[1], name="drop2")(x)
    x = blocks.global_average(x, quant)
    return blocks.model(inputs, blocks.logits(x, n_classes, quant), "dscnn")
