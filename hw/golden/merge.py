"""Merge (op add) as hls4ml's nnet::add computes it: ``res[i] = data1[i] + data2[i]``.

The ap_fixed sum of two ap_fixed values is exact (its type widens to hold it), so the result is
the exact sum converted once to the Merge's result type (that type's rounding and overflow).
Inputs are aligned to the finer of their two fraction counts before adding.
"""

from __future__ import annotations

import numpy as np

from hw.errors import UnsupportedLayerError
from hw.golden.arith import Range, Requant, exact_dtype
from hw.golden.registry import result_type


class AddKernel:
    n_inputs = 2

    def __init__(self, layer):
        self.name = layer.name
        op = str(layer.get_attr("op", "")).lower()
        if type(layer).__name__.endswith(("Concatenate", "Dot")) or op != "add":
            raise UnsupportedLayerError(layer.name, type(layer).__name__, f"merge {op!r} is not modelled (only add)")
        shapes = [tuple(layer.get_input_variable(i).shape) for i in layer.inputs]
        if len(shapes) != 2 or shapes[0] != shapes[1]:
            raise UnsupportedLayerError(layer.name, type(layer).__name__, f"add of shapes {shapes}: only two inputs of one shape are modelled")
        self.out_t = result_type(layer)

    def plan(self, in_ts, in_ranges):
        self.frac = max(t.frac for t in in_ts)
        self.ups = [self.frac - t.frac for t in in_ts]  # left shifts that align both to `frac`
        lo = sum(r.lo << u for r, u in zip(in_ranges, self.ups))
        hi = sum(r.hi << u for r, u in zip(in_ranges, self.ups))
        total = Range(lo, hi)
        self.dtype = exact_dtype(max(total.absmax, *(r.absmax << u for r, u in zip(in_ranges, self.ups))))
        self.requant = Requant(self.out_t, self.frac, total)
        return self.requant.out_range

    def __call__(self, a, b):
        parts = []
        for x, up in zip((a, b), self.ups):
            x = np.asarray(x)
            if self.dtype is np.int64:
                x = x.astype(np.int64) << up
            else:
                x = x.astype(self.dtype) * self.dtype(2.0**up)  # exact: power-of-two scale of an integer
            parts.append(x)
        return self.requant(parts[0] + parts[1])


class ConcatKernel:
    """Concatenate along the channel (last) axis as hls4ml's concatenate1d/2d/3d compute it: each
    element of input 0, then of input 1, assigned to the result type (that type's rounding and
    overflow; none act when the result is the common type the converter sets)."""

    n_inputs = 2

    def __init__(self, layer):
        self.name = layer.name
        self.shapes = [tuple(int(d) for d in layer.get_input_variable(i).shape) for i in layer.inputs]
        if len(self.shapes) != 2:
            raise UnsupportedLayerError(layer.name, type(layer).__name__, f"concatenate of {len(self.shapes)} inputs")
        rank = len(self.shapes[0])
        axis = int(layer.get_attr("axis", -1))
        if (axis + rank + 1 if axis < 0 else axis) != rank or self.shapes[0][:-1] != self.shapes[1][:-1]:
            raise UnsupportedLayerError(layer.name, type(layer).__name__,
                                        f"concatenate of {self.shapes} along axis {axis}: only the last axis is modelled")
        self.out_t = result_type(layer)

    def plan(self, in_ts, in_ranges):
        self.requants = [Requant(self.out_t, t.frac, r) for t, r in zip(in_ts, in_ranges)]
        outs = [q.out_range for q in self.requants]
        self.dtype = exact_dtype(max(r.absmax for r in outs))
        return Range(min(r.lo for r in outs), max(r.hi for r in outs))

    def __call__(self, a, b):
        parts = [q(np.asarray(x).reshape(len(x), *shape), inplace=False).astype(self.dtype, copy=False)
                 for x, q, shape in zip((a, b), self.requants, self.shapes)]
        return np.concatenate(parts, axis=-1)
