"""Raw-waveform 1-D CNN (paper C style: end-to-end KWS on samples, no MFCC front end).

16000 samples → strided Conv1D stack (the first layer acts as a learned filter bank) →
flatten → dense 12. `channels` sets the widths; ~25k parameters by default.
`head="average"` replaces the flatten by the mean over time (as the DS-CNN and TC-ResNet end): the
classifier then gets the same features wherever in the second the word was said, and its weights
shrink from time x channels to channels.
"""

from tensorflow.keras import layers

from qat.models import blocks

HEADS = ("flatten", "average")


def build(input_shape=(16000, 1), n_classes=12, quant=None, channels=(8, 16, 32, 32), kernels=(16, 9, 9, 9),
          strides=(8, 4, 4, 4), dropout=0.2, head="flatten"):
    if head not in HEADS:
        raise ValueError(f"raw_cnn: head={head!r}; choose one of {HEADS}")
    inputs = layers.Input(shape=input_shape, name="features")
    x = blocks.input_quant(inputs, quant)
    for i, (c, k, s) in enumerate(zip(channels, kernels, strides), start=1):
        x = blocks.conv1d(x, f"conv{i}", c, k, strides=s, quant=quant)
        x = blocks.relu(x, f"conv{i}", quant)
    x = layers.Dropout(dropout, name="drop")(x)
    x = blocks.global_average(x, quant) if head == "average" else layers.Flatten(name="flatten")(x)
    return blocks.model(inputs, blocks.logits(x, n_classes, quant), "raw_cnn")
