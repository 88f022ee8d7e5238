"""Differentiable NAS (paper C): supernet search space, search loop, derived QKeras-ready model."""
