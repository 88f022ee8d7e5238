"""DS-CNN, the MLPerf Tiny keyword-spotting reference (Zhang et al. 2017, "Hello Edge").

49x10 MFCC → conv 64 (10x4, stride 2) → 4 x [depthwise 3x3 → pointwise 64] → average pool →
dense 12. 64 channels at full size (`width` scales it); ~23k parameters, ~2.7M MACs.

`time_padding='valid'` (for a streaming implementation, which must compute each time step once
and the same in every window): no layer pads the time axis. Each conv/depthwise gets an explicit
ZeroPadding2D `<layer>_pad` on the frequency axis only (Keras's 'same' amounts there) and runs
'valid'. Time: 49 frames → conv1 20 rows → 18, 16, 14, 12 after the four 3x3 depthwise layers;
the average pool takes the 12x5 that is left. Total time stride 2; one output row sees 26 frames,
the 12 rows frames 0-47 of the window.
"""

from tensorflow.keras import layers

from qat.models import blocks


def build(input_shape=(49, 10, 1), n_classes=12, quant=None, width=64, blocks_count=4, dropout=(0.2, 0.4),
          time_padding="same"):
    blocks.check_time_padding("dscnn", time_padding)
    valid = time_padding == "valid"
    if valid:
        rows = (input_shape[0] - 10) // 2 + 1 - 2 * blocks_count
        if input_shape[0] < 10 or rows < 1:
            raise ValueError(f"dscnn time_padding='valid': {input_shape[0]} frames leave {rows} rows after "
                             f"{blocks_count} depthwise blocks; use at most {max((input_shape[0] - 10) // 4, 0)} blocks "
                             "or more frames")

    def padded(x, name, kernel, strides=1):  # frequency-only padding before a 'valid' layer
        return (blocks.pad_frequency(x, name, kernel, strides), "valid") if valid else (x, "same")

    inputs = layers.Input(shape=input_shape, name="features")
    x = blocks.input_quant(inputs, quant)
    x, padding = padded(x, "conv1", (10, 4), 2)
    x = blocks.conv2d(x, "conv1", width, (10, 4), strides=2, quant=quant, padding=padding)
    x = blocks.relu(x, "conv1", quant)
    x = layers.Dropout(dropout[0], name="drop1")(x)
    for i in range(1, blocks_count + 1):
        x, padding = padded(x, f"dw{i}", (3, 3))
        x = blocks.depthwise2d(x, f"dw{i}", (3, 3), quant=quant, padding=padding)
        x = blocks.relu(x, f"dw{i}", quant)
        x = blocks.conv2d(x, f"pw{i}", width, (1, 1), quant=quant)
        x = blocks.relu(x, f"pw{i}", quant)
    x = layers.Dropout(dropout[1], name="drop2")(x)
    x = blocks.global_average(x, quant)
    return blocks.model(inputs, blocks.logits(x, n_classes, quant), "dscnn")
