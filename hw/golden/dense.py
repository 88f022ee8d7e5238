"""Dense: y = accum(bias + sum_i x_i * w_ij), then converted to the result type (one BLAS matmul)."""

from __future__ import annotations

import numpy as np

from hw.golden.arith import Mac
from hw.golden.registry import layer_type, result_type, weight_raw


class DenseKernel:
    def __init__(self, layer):
        self.name = layer.name
        self.w, self.w_t = weight_raw(layer, "weight")
        self.w = self.w.reshape(int(layer.get_attr("n_in")), int(layer.get_attr("n_out")))
        self.b, self.b_t = weight_raw(layer, "bias") if "bias" in layer.weights else (None, None)
        self.acc_t = layer_type(layer, "accum_t")
        self.out_t = result_type(layer)

    def plan(self, in_t, in_range):
        self.mac = Mac(in_t, in_range, self.w, self.w_t, self.b, self.b_t, self.acc_t, self.out_t, self.name)
        return self.mac.out_range

    def __call__(self, x):
        return self.mac(x.reshape(x.shape[0], -1), np.matmul)
