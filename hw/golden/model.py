"""GoldenModel: the bit-accurate numpy twin of an hls4ml ModelGraph.

Built only from the graph (layer order, attributes, weights as stored, and every precision the
graph carries); it never looks at the Keras model. Tensors flow as raw int64 codes plus their
FixedType, so each layer is exact integer arithmetic.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from hw.fixed import FixedType
from hw.golden import activation, conv, dense, depthwise, pooling, reshape  # noqa: F401  (register kernels)
from hw.golden.registry import UnsupportedLayerError, kernel_for


@dataclass
class Stage:
    name: str
    layer_class: str
    kernel: object
    out_t: FixedType


class GoldenModel:
    def __init__(self, hls_model):
        layers = list(hls_model.get_layers())
        self.stages: list[Stage] = []
        previous = None
        for layer in layers:
            inputs = [i for i in layer.inputs if i]
            if previous is not None and (len(inputs) != 1 or inputs[0] != previous):
                raise UnsupportedLayerError(f"layer {layer.name!r}: only single-path (sequential) graphs are modelled")
            kernel = kernel_for(layer)
            self.stages.append(Stage(layer.name, type(layer).__name__, kernel, kernel.out_t))
            previous = layer.outputs[0]
        self.input_t = self.stages[0].out_t
        self.output_t = self.stages[-1].out_t
        self.output_shape = tuple(layers[-1].get_output_variable().shape)

    def quantize_input(self, x) -> np.ndarray:
        """Float features -> raw input codes (what the C simulation does to its float input)."""
        return self.input_t.quantize(np.asarray(x, dtype=np.float64))

    def run_raw(self, x_raw: np.ndarray, trace: bool = False):
        """Raw input codes (batch first) -> raw output codes [, {layer: (raw, FixedType)}]."""
        t = self.input_t
        x = np.asarray(x_raw, dtype=np.int64)
        record = {}
        for stage in self.stages:
            x = stage.kernel(x, t)
            t = stage.out_t
            if trace:
                record[stage.name] = (x, t)
        return (x, record) if trace else x

    def predict(self, x) -> np.ndarray:
        """Float input -> float output values (exact values of the output type)."""
        raw = self.run_raw(self.quantize_input(x))
        return self.output_t.to_float(raw).reshape(raw.shape[0], *self.output_shape)

    def trace(self, x) -> dict[str, np.ndarray]:
        """Float input -> {layer name: float values of that layer's output}."""
        _, record = self.run_raw(self.quantize_input(x), trace=True)
        return {name: t.to_float(raw).reshape(raw.shape[0], -1) for name, (raw, t) in record.items()}

    def argmax(self, x) -> np.ndarray:
        """Class decision (first maximum, like np.argmax and an RTL comparator chain)."""
        return np.argmax(self.run_raw(self.quantize_input(x)).reshape(len(x), -1), axis=1)

    def summary(self) -> list[dict]:
        return [{"name": s.name, "class": s.layer_class, "type": s.out_t.to_hls()} for s in self.stages]
