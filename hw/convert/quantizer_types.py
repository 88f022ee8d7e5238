"""QKeras quantizer -> FixedType: quantizers with alpha=1 put values on a power-of-two grid with
``tf.round`` (half to even) and clipping, i.e. ``ap_fixed`` with ``RND_CONV`` + ``SAT``."""

from __future__ import annotations

from qat.fixed import FixedType


class QuantizerProblem(ValueError):
    """A quantizer the flow cannot reproduce bit-exactly; ``str()`` says what to use instead."""


def quantizer_config(quantizer) -> tuple[str, dict]:
    """(class name, config dict) for a quantizer object, a serialized dict or a string."""
    if quantizer is None:
        return "None", {}
    if isinstance(quantizer, dict):
        return quantizer.get("class_name", "?"), dict(quantizer.get("config", {}))
    if isinstance(quantizer, str):
        from qkeras.quantizers import get_quantizer

        quantizer = get_quantizer(quantizer)
    if hasattr(quantizer, "get_config"):
        return type(quantizer).__name__, dict(quantizer.get_config())
    return getattr(quantizer, "__name__", type(quantizer).__name__), {}


def _common_checks(name: str, cfg: dict) -> None:
    alpha = cfg.get("alpha", None)
    if alpha is not None and not (isinstance(alpha, (int, float)) and float(alpha) == 1.0):
        raise QuantizerProblem(
            f"{name}(alpha={alpha!r}): scaled quantizers are not carried exactly; use alpha=1 and choose "
            "the grid with the integer-bit argument (a power-of-two scale is just different integer bits)"
        )
    if cfg.get("use_stochastic_rounding", False):
        raise QuantizerProblem(f"{name}(use_stochastic_rounding=True): use deterministic rounding")
    if float(cfg.get("qnoise_factor", 1.0)) != 1.0:
        raise QuantizerProblem(f"{name}(qnoise_factor={cfg['qnoise_factor']}): set qnoise_factor=1 for inference")


# kwsflow's QAT weight quantizers (by class name: hw/ imports nothing of qat/); their exporter turns
# each into a plain quantized_bits on the grid the trained values lie on (per-channel scales included)
TRAINING_QUANTIZERS = ("channel_po2_bits", "squashed_bits", "trained_bits")


def weight_type(quantizer) -> FixedType:
    """Type of a kernel/bias quantizer's values: quantized_bits(b, i) -> fixed<b, i+1>.

    The weights are constants, so rounding/overflow modes do not matter; they are TRN/WRAP as hls4ml
    writes them.
    """
    name, cfg = quantizer_config(quantizer)
    if name in TRAINING_QUANTIZERS:
        raise QuantizerProblem(
            f"{name} is a training-time quantizer; export the model to plain QKeras first "
            "(qat.quantizers.export_fixed_qkeras; a run's saved model.h5 already is)")
    if name != "quantized_bits":
        raise QuantizerProblem(
            f"{name} weights are not supported by the exact flow; use quantized_bits(bits, integer, alpha=1)"
        )
    _common_checks(name, cfg)
    bits, integer = int(cfg.get("bits", 8)), int(cfg.get("integer", 0))
    if not cfg.get("keep_negative", True):
        raise QuantizerProblem("quantized_bits(keep_negative=False) weights: hls4ml reads them as signed; use keep_negative=True")
    if bits < 2:
        raise QuantizerProblem("1-bit (binary) weights are read as 0/1 by hls4ml; use bits >= 2")
    if integer >= bits:
        raise QuantizerProblem(
            f"quantized_bits({bits},{integer}) weights: hls4ml maps integer == bits to int<{bits}>, which is a "
            "different grid; use integer < bits"
        )
    return FixedType(bits, integer + 1, True)


def activation_type(quantizer) -> FixedType:
    """Type of a QActivation's output.

    quantized_bits(b, i) -> fixed<b, i+1, RND_CONV, SAT> (SAT_SYM when symmetric),
    quantized_bits(b, i, keep_negative=False) -> ufixed<b, i, RND_CONV, SAT>,
    quantized_relu(b, i) -> ufixed<b, i, RND_CONV, SAT>.
    """
    name, cfg = quantizer_config(quantizer)
    if name == "quantized_bits":
        _common_checks(name, cfg)
        bits, integer = int(cfg.get("bits", 8)), int(cfg.get("integer", 0))
        if bits < 2:
            raise QuantizerProblem("1-bit quantized_bits activations are binary; use bits >= 2")
        sign = 1 if cfg.get("keep_negative", True) else 0
        if integer + sign > bits:
            # fixed<W, I> with I > W has no fraction bits and steps of 2**(I-W); hls4ml 1.3's C
            # simulation aborts its process rounding into it (found by sim/fuzz.py)
            raise QuantizerProblem(f"quantized_bits({bits}, {integer}) has more integer bits than bits; "
                                   f"use integer <= {bits - sign}")
        if not sign:
            return FixedType(bits, integer, False, "RND_CONV", "SAT")
        overflow = "SAT_SYM" if cfg.get("symmetric", False) else "SAT"
        return FixedType(bits, integer + 1, True, "RND_CONV", overflow)
    if name == "quantized_relu":
        _common_checks(name, cfg)
        if cfg.get("use_sigmoid", 0):
            raise QuantizerProblem("quantized_relu(use_sigmoid=1) is not a plain ReLU; use quantized_relu(bits, integer)")
        if float(cfg.get("negative_slope", 0.0) or 0.0) != 0.0:
            raise QuantizerProblem("quantized_relu(negative_slope != 0) (leaky) is not supported; use negative_slope=0")
        if cfg.get("relu_upper_bound", None) is not None:
            raise QuantizerProblem("quantized_relu(relu_upper_bound=...) adds a clip hls4ml does not know; remove it")
        bits, integer = int(cfg.get("bits", 8)), int(cfg.get("integer", 0))
        if integer > bits:  # as for quantized_bits above
            raise QuantizerProblem(f"quantized_relu({bits}, {integer}) has more integer bits than bits; use integer <= {bits}")
        return FixedType(bits, integer, False, "RND_CONV", "SAT")
    instead = {
        "quantized_relu_po2": "quantized_relu(bits, integer)",
        "quantized_po2": "quantized_bits(bits, integer, alpha=1)",
        "quantized_ulaw": "quantized_bits(bits, integer, alpha=1)",
        "quantized_tanh": "quantized_bits after a ReLU, or a plain quantized_relu",
        "quantized_sigmoid": "quantized_relu",
    }.get(name, "quantized_bits(bits, integer, alpha=1) or quantized_relu(bits, integer)")
    raise QuantizerProblem(f"activation quantizer {name} is not supported by the exact flow; use {instead}")
