"""Raw-waveform 1-D CNN (paper C style: end-to-end KWS on samples, no MFCC front end).

16000 samples → strided Conv1D stack (the first layer acts as a learned filter bank) →
flatten → dense 12. `channels` sets the widths; ~25k parameters by default.
"""

from tensorflow.keras import layers

from qat.models import blocks


def build(input_shape=(16000, 1), n_classes=12, quant=None, channels=(8, 16, 32, 32), kernels=(16, 9, 9, 9),
          strides=(8, 4, 4, 4), dropout=0.2):
    inputs = layers.Input(shape=input_shape, name="features")
    x = blocks.input_quant(inputs, quant)
    for i, (c, k, s) in enumerate(zip(channels, kernels, strides), start=1):
        x = blocks.conv1d(x, f"conv{i}", c, k, strides=s, quant=quant)
        x = blocks.relu(x, f"conv{i}", quant)
    x = layers.Dropout(dropout, name="drop")(x)
    x = layers.Flatten(name="flatten")(x)
    return blocks.model(inputs, blocks.logits(x, n_classes, quant), "raw_cnn")
