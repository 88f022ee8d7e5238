"""Per-layer traces and the mismatch localizer.

Three sources give per-layer outputs keyed by hls4ml graph layer name:
``golden_trace`` (GoldenModel), ``csim_trace`` (hls4ml's ``ModelGraph.trace``; needs
``convert(..., trace=True)``) and ``qkeras_trace`` (QKeras intermediate outputs mapped onto graph
layers). ``first_mismatch`` walks the graph order and reports the first layer where two traces
differ, with the number of differing elements and the largest difference in LSBs of that layer's
type.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass

import numpy as np

from hw.golden import GoldenModel


@dataclass
class Mismatch:
    layer: str
    differing_elements: int
    total_elements: int
    differing_vectors: int
    max_lsb_difference: float
    layer_type: str

    def __str__(self) -> str:
        return (
            f"first mismatch at layer {self.layer!r} ({self.layer_type}): {self.differing_elements} of "
            f"{self.total_elements} elements differ in {self.differing_vectors} vectors, "
            f"max {self.max_lsb_difference:g} LSB"
        )

    def to_dict(self) -> dict:
        return asdict(self)


def golden_trace(golden: GoldenModel, x) -> dict[str, np.ndarray]:
    return golden.trace(x)


def csim_trace(graph, x) -> dict[str, np.ndarray]:
    """hls4ml C-simulation trace (only layers converted with Trace=True appear)."""
    _, trace = graph.trace(np.ascontiguousarray(x, dtype=np.float64))
    return {name: np.asarray(v).reshape(len(x), -1) for name, v in trace.items()}


def qkeras_trace(model, graph, x) -> dict[str, np.ndarray]:
    """QKeras per-layer outputs under graph layer names.

    hls4ml removes linear quantizers whose type hw.convert carried onto the layer before them, so a
    graph layer followed in Keras by such a quantizer is compared with the quantizer's output.
    """
    from tensorflow import keras

    from hw.convert.rewrite import rewrite

    model = rewrite(model)  # the model the graph was converted from (fused activations split off)
    graph_names = [layer.name for layer in graph.get_layers()]
    by_name = {layer.name: layer for layer in model.layers}
    consumers: dict[str, list] = {}
    for layer in model.layers:
        for node in layer._inbound_nodes:
            inbound = node.inbound_layers if isinstance(node.inbound_layers, list) else [node.inbound_layers]
            for src in inbound:
                consumers.setdefault(src.name, []).append(layer)
    source: dict[str, str] = {}
    for name in graph_names:
        if name not in by_name:
            continue
        keras_name = name
        after = consumers.get(name, [])
        if len(after) == 1 and type(after[0]).__name__ == "QActivation" and after[0].name not in graph_names:
            keras_name = after[0].name
        if type(by_name[keras_name]).__name__ != "InputLayer":
            source[name] = keras_name
    probe = keras.Model(model.inputs, [by_name[k].output for k in source.values()])
    outs = probe.predict(np.asarray(x, dtype=np.float32), verbose=0, batch_size=256)
    outs = outs if isinstance(outs, list) else [outs]
    return {name: np.asarray(o, dtype=np.float64).reshape(len(x), -1) for name, o in zip(source, outs)}


def first_mismatch(reference: dict, candidate: dict, golden: GoldenModel) -> Mismatch | None:
    """First graph layer (in order) present in both traces whose outputs differ; None if all agree."""
    for stage in golden.stages:
        if stage.name not in reference or stage.name not in candidate:
            continue
        a, b = reference[stage.name], candidate[stage.name]
        a = a.reshape(a.shape[0], -1)
        b = b.reshape(b.shape[0], -1)
        if a.shape != b.shape:
            return Mismatch(stage.name, a.size, a.size, a.shape[0], float("inf"), f"shape {a.shape} vs {b.shape}")
        diff = a != b
        if diff.any():
            lsb = float(np.max(np.abs(a - b)) / stage.out_t.lsb)
            return Mismatch(stage.name, int(diff.sum()), int(a.size), int(diff.any(axis=1).sum()), lsb, stage.out_t.to_hls())
    return None
