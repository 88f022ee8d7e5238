"""QKeras-compatible quantizers of the seed papers, and the exporter to plain QKeras.

    channel_po2_bits    per-output-channel power-of-two weight scales (linear scheme, per_channel)
    squashed_bits       tanh-squashed weights on a power-of-two grid, 1-bit = sign x gain (A, B)
    sign_po2_bits       1-bit squashed weights: sign x a power-of-two gain per output channel (B)
    trained_bits        learned power-of-two step and range; bits follow (C)
    fixed_point         fixed Qm.n fake-quantizer for inputs/accumulators/outputs (A)
    export_fixed_qkeras trained model -> plain QKeras quantized_bits/quantized_relu model

Load a saved model (h5) with `tf.keras.models.load_model(path, custom_objects=custom_objects())`.
"""

from .channel_po2 import channel_po2_bits, channel_shifts
from .export import export_fixed_qkeras
from .fixed_grid import GridFit, fit_signed_grid
from .squashed_weights import (UniformSquashInitializer, level_entropy, sign_po2_bits, squashed_bits, suggest_gain_log2,
                               theta_from_weights)
from .trained_bitwidth import BitPenalty, bits_report, trained_bits
from .transient_formats import FormatError, check_covers, qkeras_quantizer, transient_format, calibrate_ranges, choose_format, choose_formats, fixed_point, hls4ml_precisions


def custom_objects() -> dict:
    """QKeras's custom objects plus ours: everything needed to load a kwsflow model."""
    from qkeras.utils import _add_supported_quantized_objects

    from ..acos_regularizer import AbsCosineRegularizer
    objects = {"squashed_bits": squashed_bits, "channel_po2_bits": channel_po2_bits,
               "sign_po2_bits": sign_po2_bits, "trained_bits": trained_bits,
               "fixed_point": fixed_point, "AbsCosineRegularizer": AbsCosineRegularizer,
               "UniformSquashInitializer": UniformSquashInitializer}
    _add_supported_quantized_objects(objects)
    return objects
