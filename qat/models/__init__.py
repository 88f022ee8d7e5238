"""Model registry: name → (builder, the feature kind it reads)."""

from __future__ import annotations

from qat.models import dscnn, nas_derived, raw_cnn, streaming_ffn, tc_resnet

MODELS = {
    "dscnn": (dscnn.build, "mfcc"),
    "streaming_ffn": (streaming_ffn.build, "logmel"),
    "raw_cnn": (raw_cnn.build, "raw"),
    "tc_resnet": (tc_resnet.build, "mfcc"),
    # architectures found by qat.nas (model_args: arch, space from the search's arch.json)
    "nas_mfcc": (nas_derived.build_mfcc, "mfcc"),
    "nas_raw": (nas_derived.build_raw, "raw"),
}


class UnknownModelError(ValueError):
    pass


def feature_kind(name: str) -> str:
    return _entry(name)[1]


def build_model(name: str, input_shape, n_classes: int, quant=None, **kwargs):
    """Float model (with BatchNorm) when `quant` is None, else its QKeras twin without BatchNorm."""
    return _entry(name)[0](input_shape=tuple(input_shape), n_classes=n_classes, quant=quant, **kwargs)


def _entry(name: str):
    if name not in MODELS:
        raise UnknownModelError(f"unknown model {name!r}; choose one of {sorted(MODELS)}")
    return MODELS[name]


def custom_objects() -> dict:
    """Everything `keras.models.load_model` needs for our saved models."""
    from qkeras.utils import _add_supported_quantized_objects

    objects: dict = {}
    _add_supported_quantized_objects(objects)
    return objects


def load_model(path):
    from tensorflow import keras

    return keras.models.load_model(str(path), custom_objects=custom_objects(), compile=False)


def average_logits(models: list):
    """One model whose output is the mean of `models`' logits on the same input (an ensemble
    teacher for distillation)."""
    from tensorflow import keras

    inputs = keras.Input(shape=models[0].input_shape[1:])
    members = []
    for i, model in enumerate(models):
        model._name = f"member{i}"  # nested models need distinct names in one graph
        members.append(model(inputs))
    return keras.Model(inputs, keras.layers.Average()(members), name="ensemble")
