"""State-free streaming feed-forward KWS model (paper B style: Zeng et al. 2022).

Input: 49 stacked 40-band log-mel frames (one second), flattened; in streaming use the same
network runs on every new 20 ms hop over the last second, keeping no state. Three hidden dense
layers; width 128 gives ~270k parameters (the paper's ~250k class); `width` scales it.

`frame_units` > 0 puts a dense layer shared by every frame group in front (as the DNN of
google-research kws_streaming does): the 49 frames are re-cut into a sequence, a Conv1D of
`frame_kernel` frames and stride `frame_stride` maps each group to `frame_units` values, and the
flattened result feeds the dense layers. The first layer then learns one frame pattern instead
of one weight per frame and band, so a word that arrives a few frames early or late meets the
same weights. Still state-free; a streaming implementation may keep the per-group outputs.
"""

from tensorflow.keras import layers

from qat.features import NUM_FRAMES
from qat.models import blocks


def build(input_shape=(1960,), n_classes=12, quant=None, width=128, depth=3, dropout=0.1,
          frame_units=0, frame_kernel=1, frame_stride=1):
    inputs = layers.Input(shape=input_shape, name="features")
    x = blocks.input_quant(inputs, quant)
    if frame_units:
        x = frame_layer(x, int(input_shape[0]), frame_units, frame_kernel, frame_stride, quant)
    for i in range(1, depth + 1):
        x = blocks.dense(x, f"fc{i}", width, quant=quant)
        x = blocks.relu(x, f"fc{i}", quant)
        x = layers.Dropout(dropout, name=f"drop{i}")(x)
    return blocks.model(inputs, blocks.logits(x, n_classes, quant), "streaming_ffn")


def frame_layer(x, size: int, units: int, kernel: int, stride: int, quant):
    if size % NUM_FRAMES:
        raise ValueError(f"streaming_ffn: frame_units needs {NUM_FRAMES} frames; the input has {size} values")
    if not 1 <= kernel <= NUM_FRAMES or stride < 1:
        raise ValueError(f"streaming_ffn: frame_kernel={kernel}, frame_stride={stride} do not fit {NUM_FRAMES} frames")
    x = layers.Reshape((NUM_FRAMES, size // NUM_FRAMES), name="to_frames")(x)
    x = blocks.conv1d(x, "frames", units, kernel, strides=stride, quant=quant)
    x = blocks.relu(x, "frames", quant)
    return layers.Flatten(name="flatten")(x)
