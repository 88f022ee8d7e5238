"""Differentiable NAS (paper C): supernet search space, search loop, the search pipeline; the
derived model lives in the model registry (qat/models/nas_derived.py)."""
