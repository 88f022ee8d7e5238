"""Small hand-built QKeras models for RTL tests, converted with hls4ml, and their C-simulation outputs.

Until hw/convert.py and hw/golden.py exist these use hls4ml directly, and hls4ml's compiled C
simulation (ap_fixed, the arithmetic golden.py mirrors) provides the expected raw outputs.
"""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")


def small_mlp(n_in=16, hidden=(8,), n_out=4, seed=0, w_bits=6, a_bits=6, out_bits=(16, 6)):
    """Input -> QActivation(bits 8,2) -> [QDense + quantized_relu]* -> QDense -> logits quantizer."""
    import tensorflow as tf
    from qkeras import QActivation, QDense, quantized_bits, quantized_relu

    tf.keras.utils.set_random_seed(seed)
    inp = tf.keras.Input((n_in,), name="inp")
    x = QActivation(quantized_bits(8, 2, alpha=1), name="q_in")(inp)
    for i, h in enumerate(hidden):
        x = QDense(h, kernel_quantizer=quantized_bits(w_bits, 0, alpha=1),
                   bias_quantizer=quantized_bits(8, 2, alpha=1), name=f"fc{i+1}")(x)
        x = QActivation(quantized_relu(a_bits, 3), name=f"relu{i+1}")(x)
    x = QDense(n_out, kernel_quantizer=quantized_bits(w_bits, 0, alpha=1),
               bias_quantizer=quantized_bits(8, 2, alpha=1), name="fc_out")(x)
    model = tf.keras.Model(inp, x)
    # Random (not trained) weights with a spread that exercises rounding and saturation.
    rng = np.random.default_rng(seed)
    for layer in model.layers:
        if layer.get_weights():
            k, b = layer.get_weights()
            layer.set_weights([rng.uniform(-1, 1, k.shape).astype(np.float32), rng.uniform(-2, 2, b.shape).astype(np.float32)])
    return model


def to_hls(model, out_dir: Path, io_type="io_parallel", overrides: dict | None = None):
    """hls4ml ModelGraph through the project's converter (hw/convert.py), which carries the
    trailing quantizer and fixes the precisions hls4ml gets wrong by default."""
    from hw.convert import HlsSettings, convert

    return convert(model, out_dir, HlsSettings(io_type=io_type), overrides=overrides)


def csim_raw(hls_model, x_raw: np.ndarray, in_type, out_type) -> np.ndarray:
    """Run hls4ml's C simulation on raw inputs; returns raw output codes (must be on out_type's grid)."""
    hls_model.compile()
    y = np.asarray(hls_model.predict(np.ascontiguousarray(in_type.to_float(x_raw))), dtype=np.float64)
    y = y.reshape(len(x_raw), -1)
    raw = out_type.quantize(y)
    if not np.array_equal(out_type.to_float(raw), y):
        raise AssertionError("C simulation output not on the result grid: type mismatch")
    return raw
