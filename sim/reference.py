"""The RTL's reference: hw.golden, the bit-accurate numpy model of the same hls4ml graph.

hls4ml's C simulation equals the golden model (proven on the golden side, tests/test_hw_golden*),
and the golden model is thousands of times faster and needs no compiler, so every RTL check
compares against it. Per-layer checks use the golden trace: the RTL of the graph up to a layer
(`generate_rtl(..., upto=layer)`) must equal that layer's traced output.
"""

from __future__ import annotations

import numpy as np

from hw.golden import GoldenModel


def golden_of(graph) -> GoldenModel:
    """One GoldenModel per graph object (planning it walks every weight once)."""
    model = getattr(graph, "_kws_golden", None)
    if model is None:
        model = GoldenModel(graph)
        try:
            graph._kws_golden = model
        except AttributeError:  # pragma: no cover - graphs without a __dict__
            pass
    return model


def random_raw_inputs(graph, n: int, seed: int = 0) -> np.ndarray:
    """n input vectors of raw codes spread over the whole input type (saturation and sign included)."""
    g = golden_of(graph)
    shape = tuple(int(d) for d in graph.get_input_variables()[0].shape)
    return np.random.default_rng(seed).integers(g.input_t.min_raw, g.input_t.max_raw + 1, size=(n, *shape))


def expected_raw(graph, x_raw: np.ndarray, upto: str | None = None) -> np.ndarray:
    """Raw output codes, (N, elements) in stream order, of the whole graph or of layer `upto`."""
    g = golden_of(graph)
    x_raw = np.asarray(x_raw, dtype=np.int64)
    if upto is None:
        return g.run_raw(x_raw).reshape(len(x_raw), -1)
    _, trace = g.run_raw(x_raw, trace=True)
    if upto not in trace:
        raise KeyError(f"layer {upto!r} not in the golden trace (have {list(trace)})")
    return trace[upto][0].reshape(len(x_raw), -1)


def expected_class(graph, x_raw: np.ndarray) -> np.ndarray:
    """Class decision (first maximum), what the argmax output stage must produce; shape (N, 1)."""
    return np.argmax(expected_raw(graph, x_raw), axis=1).reshape(-1, 1)
