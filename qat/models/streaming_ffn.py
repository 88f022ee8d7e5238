"""State-free streaming feed-forward KWS model (paper B style: Zeng et al. 2022).

Input: 49 stacked 40-band log-mel frames (one second), flattened; in streaming use the same
network runs on every new 20 ms hop over the last second, keeping no state. Three hidden dense
layers; width 128 gives ~270k parameters (the paper's ~250k class); `width` scales it.
"""

from tensorflow.keras import layers

from qat.models import blocks


def build(input_shape=(1960,), n_classes=12, quant=None, width=128, depth=3, dropout=0.1):
    inputs = layers.Input(shape=input_shape, name="features")
    x = blocks.input_quant(inputs, quant)
    for i in range(1, depth + 1):
        x = blocks.dense(x, f"fc{i}", width, quant=quant)
        x = blocks.relu(x, f"fc{i}", quant)
        x = layers.Dropout(dropout, name=f"drop{i}")(x)
    return blocks.model(inputs, blocks.logits(x, n_classes, quant), "streaming_ffn")
