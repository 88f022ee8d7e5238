"""QKeras quantizer -> FixedType: quantizers with alpha=1 put values on a power-of-two grid with
``tf.round`` (half to even) and clipping, i.e. ``ap_fixed`` with ``RND_CONV`` + ``SAT``."""

from __future__ import annotations

import math

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


def quantizer_repr(quantizer) -> str:
    """A quantizer the way users write it: ``quantized_relu(8,4)``, ``quantized_bits(8,0,alpha=1)``,
    ``binary(alpha='auto_po2')``: bits and integer positionally, then the fewest keyword arguments
    with which the QKeras class rebuilds the same config (so arguments the constructor derives, such
    as quantized_bits's symmetric=True under alpha='auto', are not shown)."""
    if isinstance(quantizer, str) and "(" not in quantizer:
        return repr(quantizer)  # a plain Keras activation name such as 'relu'
    name, cfg = quantizer_config(quantizer)
    if name == "None":
        return "None"
    positional = [k for k in ("bits", "integer") if k in cfg]
    keywords = _fewest_keywords(name, cfg, positional)
    args = [str(cfg[k]) for k in positional] + [f"{k}={cfg[k]!r}" for k in keywords]
    return f"{name}({','.join(args)})"


def _same(a, b) -> bool:
    try:
        return bool(a == b)
    except (TypeError, ValueError):  # e.g. an array-valued alpha
        return False


def _fewest_keywords(name: str, cfg: dict, positional: list[str]) -> list[str]:
    """Greedily the keyword arguments (in the class's signature order) that rebuild ``cfg``."""
    try:
        import inspect

        from qkeras import quantizers

        cls = getattr(quantizers, name)
        order = [k for k in inspect.signature(cls.__init__).parameters if k in cfg]
        order += [k for k in cfg if k not in order]

        def differing(chosen):
            built = cls(**{k: cfg[k] for k in positional + chosen}).get_config()
            return [k for k in order if k not in positional + chosen and not _same(built.get(k, cfg[k]), cfg[k])]

        chosen: list[str] = []
        left = differing(chosen)
        while left:
            best = min(left, key=lambda k: (len(differing(chosen + [k])), order.index(k)))
            chosen.append(best)
            left = differing(chosen)
        return sorted(chosen, key=order.index)
    except Exception:  # noqa: BLE001 - not a QKeras class (e.g. a training quantizer) or not rebuildable
        return [k for k in cfg if k not in positional]


def _common_checks(name: str, cfg: dict) -> None:
    alpha = cfg.get("alpha", None)
    shown = quantizer_repr({"class_name": name, "config": cfg})
    if alpha is not None and not (isinstance(alpha, (int, float)) and float(alpha) == 1.0):
        raise QuantizerProblem(
            f"{shown}: scaled quantizers are not carried exactly; use alpha=1 and choose "
            "the grid with the integer-bit argument (a power-of-two scale is just different integer bits)"
        )
    if cfg.get("use_stochastic_rounding", False):
        raise QuantizerProblem(f"{shown}: use_stochastic_rounding=True; use deterministic rounding")
    if float(cfg.get("qnoise_factor", 1.0)) != 1.0:
        raise QuantizerProblem(f"{shown}: qnoise_factor={cfg['qnoise_factor']}; set qnoise_factor=1 for inference")


# Weight quantizers hw.convert.rewrite replaces by their exact values on a plain quantized_bits grid
SIGN_QUANTIZERS = ("binary", "ternary")


def _is_power_of_two(value) -> bool:
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not value > 0:
        return False
    return math.frexp(float(value))[0] == 0.5


def sign_quantizer_problem(quantizer) -> str | None:
    """Why a binary/ternary weight quantizer cannot be carried exactly (None: it can).

    Carried: binary/ternary with alpha None (+-1 through QKeras's tanh path), a power-of-two number,
    or 'auto_po2' (per-output-channel power-of-two scales); ternary with a numeric threshold. Their
    values are then +-2**k_c (and 0), which hw.convert.rewrite puts on one quantized_bits grid.
    """
    name, cfg = quantizer_config(quantizer)
    shown = quantizer_repr(quantizer)
    if name.startswith("stochastic_"):
        return (f"{shown} draws random weights; use the deterministic {name[len('stochastic_'):]}(alpha=1) "
                f"or {name[len('stochastic_'):]}(alpha='auto_po2')")
    if name not in SIGN_QUANTIZERS:
        return f"{shown} is not a binary/ternary quantizer"
    if cfg.get("use_stochastic_rounding", False):
        return f"{shown}: use_stochastic_rounding=True draws random weights; use deterministic rounding"
    if cfg.get("use_01", False):
        return (f"{shown}: use_01=True (0/1 weights, hls4ml's XNOR encoding) is not carried; "
                f"use {name}(alpha=1) (+-1 weights) or quantized_bits(2,1,alpha=1)")
    alpha = cfg.get("alpha", None)
    if alpha == "auto":
        return (f"{shown}: alpha='auto' scales each output channel by a float least-squares factor, which no "
                "fixed-point grid holds exactly; use alpha='auto_po2' (power-of-two scales) or alpha=1")
    if not (alpha is None or alpha == "auto_po2" or _is_power_of_two(alpha)):
        return (f"{shown}: alpha={alpha!r} is no power of two, so the weights +-alpha lie on no fixed-point "
                "grid; use a power-of-two alpha (1, 0.5, ...) or alpha='auto_po2'")
    threshold = cfg.get("threshold", None)
    if name == "ternary" and threshold is not None and not isinstance(threshold, (int, float)):
        return f"{shown}: threshold={threshold!r}; use a number (or None: QKeras's 0.33)"
    return None


# kwsflow's QAT weight quantizers (by class name: hw/ imports nothing of qat/); their exporter turns
# each into a plain quantized_bits on the grid the trained values lie on (per-channel scales included)
TRAINING_QUANTIZERS = ("channel_po2_bits", "sign_po2_bits", "squashed_bits", "trained_bits")


def weight_type(quantizer) -> FixedType:
    """Type of a kernel/bias quantizer's values: quantized_bits(b, i) -> fixed<b, i+1>.

    The weights are constants, so rounding/overflow modes do not matter; they are TRN/WRAP as hls4ml
    writes them.
    """
    name, cfg = quantizer_config(quantizer)
    shown = quantizer_repr(quantizer)
    if name in TRAINING_QUANTIZERS:
        raise QuantizerProblem(
            f"{name} is a training-time quantizer; export the model to plain QKeras first "
            "(qat.quantizers.export_fixed_qkeras; a run's saved model.h5 already is)")
    if name in SIGN_QUANTIZERS or name.startswith("stochastic_"):
        # carried ones were replaced by hw.convert.rewrite before the checks; the rest is refused here
        raise QuantizerProblem(sign_quantizer_problem(quantizer) or f"{shown} weights were not rewritten")
    if name != "quantized_bits":
        raise QuantizerProblem(
            f"{shown} weights are not supported by the exact flow; use quantized_bits(bits, integer, alpha=1)"
        )
    _common_checks(name, cfg)
    bits, integer = int(cfg.get("bits", 8)), int(cfg.get("integer", 0))
    if not cfg.get("keep_negative", True):
        raise QuantizerProblem(f"{shown} weights: hls4ml reads keep_negative=False weights as signed; use keep_negative=True")
    if bits < 2:
        raise QuantizerProblem(f"{shown}: 1-bit (binary) weights are read as 0/1 by hls4ml; use bits >= 2 "
                               "(or binary(alpha=1) for +-1 weights)")
    if integer >= bits:
        raise QuantizerProblem(
            f"{shown} weights: hls4ml maps integer == bits to int<{bits}>, which is a "
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
    shown = quantizer_repr(quantizer)
    if name == "quantized_bits":
        _common_checks(name, cfg)
        bits, integer = int(cfg.get("bits", 8)), int(cfg.get("integer", 0))
        if bits < 2:
            raise QuantizerProblem(f"{shown}: 1-bit quantized_bits activations are binary; use bits >= 2")
        sign = 1 if cfg.get("keep_negative", True) else 0
        if integer + sign > bits:
            # fixed<W, I> with I > W has no fraction bits and steps of 2**(I-W); hls4ml 1.3's C
            # simulation aborts its process rounding into it (found by sim/fuzz.py)
            raise QuantizerProblem(f"{shown} has more integer bits than bits; use integer <= {bits - sign}")
        if not sign:
            return FixedType(bits, integer, False, "RND_CONV", "SAT")
        overflow = "SAT_SYM" if cfg.get("symmetric", False) else "SAT"
        return FixedType(bits, integer + 1, True, "RND_CONV", overflow)
    if name == "quantized_relu":
        _common_checks(name, cfg)
        if cfg.get("use_sigmoid", 0):
            raise QuantizerProblem(f"{shown} is not a plain ReLU (use_sigmoid); use quantized_relu(bits, integer)")
        if float(cfg.get("negative_slope", 0.0) or 0.0) != 0.0:
            raise QuantizerProblem(f"{shown}: negative_slope != 0 (leaky) is not supported; use negative_slope=0")
        if cfg.get("relu_upper_bound", None) is not None:
            raise QuantizerProblem(f"{shown}: relu_upper_bound adds a clip hls4ml does not know; remove it")
        bits, integer = int(cfg.get("bits", 8)), int(cfg.get("integer", 0))
        if integer > bits:  # as for quantized_bits above
            raise QuantizerProblem(f"{shown} has more integer bits than bits; use integer <= {bits}")
        return FixedType(bits, integer, False, "RND_CONV", "SAT")
    instead = {
        "quantized_relu_po2": "quantized_relu(bits, integer)",
        "quantized_po2": "quantized_bits(bits, integer, alpha=1)",
        "quantized_ulaw": "quantized_bits(bits, integer, alpha=1)",
        "quantized_tanh": "quantized_bits after a ReLU, or a plain quantized_relu",
        "quantized_sigmoid": "quantized_relu",
    }.get(name, "quantized_bits(bits, integer, alpha=1) or quantized_relu(bits, integer)")
    if name in SIGN_QUANTIZERS or name.startswith("stochastic_"):
        raise QuantizerProblem(f"{shown} activations (sign functions; hls4ml encodes binary ones as 0/1 for XNOR) "
                               f"are not supported by the exact flow; use {instead} (binary/ternary is carried on "
                               "kernels only)")
    raise QuantizerProblem(f"activation quantizer {shown} is not supported by the exact flow; use {instead}")
