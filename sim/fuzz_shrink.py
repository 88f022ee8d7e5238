"""The fuzzer's shrinker: smaller variants of a failing spec, tried greedily.

``shrink(spec, still_fails)`` tries the candidates of ``shrink_candidates`` in order (drop a layer
or unwrap a residual block first, then plain settings, then smaller shapes, channels, kernels,
strides, bits), keeps the first one that is still inside the supported set and still fails, and
starts over until no candidate fails. The predicate is the caller's (sim.fuzz.same_failure: the
same stage pair still differs), so the shrinker itself runs no stage.
"""

from __future__ import annotations

import copy

import numpy as np

from sim.fuzz_models import ACT_OPS, WEIGHT_OPS, supported, walk


def shrink(spec: dict, still_fails, max_checks: int = 300) -> tuple[dict, int]:
    """Greedy: try the candidates of ``shrink_candidates`` in order, keep the first
    supported one for which ``still_fails(candidate)`` holds, start over; stop when none does.
    Returns (smallest failing spec, checks spent)."""
    checks = 0
    improved = True
    while improved and checks < max_checks:
        improved = False
        for cand in shrink_candidates(spec):
            if supported(cand)[0] is None:
                continue
            checks += 1
            if still_fails(cand):
                spec, improved = cand, True
                break
            if checks >= max_checks:
                break
    return spec, checks


def shrink_candidates(spec: dict):
    """Smaller variants of a spec, most aggressive first (the shrinker keeps the first that still
    fails and starts over)."""
    for path, seq in _lists(spec):
        for i in range(len(seq)):
            yield _edit(spec, path, lambda s, i=i: s[:i] + s[i + 1:])  # drop one layer
            if seq[i]["op"] == "residual":
                r = seq[i]
                yield _edit(spec, path, lambda s, i=i, r=r: s[:i] + r["body"] + [r["act"]] + s[i + 1:])
                yield _edit(spec, path, lambda s, i=i, r=r: s[:i] + r["shortcut"] + [r["act"]] + s[i + 1:])
    yield from _settings_moves(spec)
    shape = spec["input"]["shape"]
    for j, d in enumerate(shape):
        for smaller in dict.fromkeys([1, d // 2, d - 1]):
            if 1 <= smaller < d:
                yield _set(spec, ("input", "shape", j), smaller)
    for path, layer in _layer_paths(spec):
        for key, lows in (("units", [1]), ("filters", [1])):
            if key in layer:
                for v in dict.fromkeys(lows + [layer[key] // 2, layer[key] - 1]):
                    if 1 <= v < layer[key]:
                        yield _set(spec, path + (key,), v)
        for key in ("kernel", "size", "strides"):
            for j, v in enumerate(layer.get(key, [])):
                if v > 1:
                    yield _set(spec, path + (key, j), 1)
                    yield _set(spec, path + (key, j), v - 1)
        if layer.get("padding") == "same":
            yield _set(spec, path + ("padding",), "valid")
        if layer["op"] in WEIGHT_OPS:
            if layer["b"] is not None:
                yield _set(spec, path + ("b",), None)
            for key in ("w", "b"):
                if layer.get(key) and layer[key][0] > 2:
                    yield _set(spec, path + (key,), [layer[key][0] - 1, min(layer[key][1], layer[key][0] - 2)])
            if layer["spread"] != "grid":
                yield _set(spec, path + ("spread",), "grid")
        if layer["op"] in ACT_OPS:
            if layer["bits"] > 2:
                yield _set(spec, path + ("bits",), layer["bits"] - 1)
            if layer.get("symmetric"):
                yield _set(spec, path + ("symmetric",), False)
    for key, low in (("bits", 2), ("integer", 0)):
        if spec["input"][key] > low:
            yield _set(spec, ("input", key), spec["input"][key] - 1)
    if spec["inputs"]["random"] > 4:
        yield _set(spec, ("inputs", "random"), spec["inputs"]["random"] // 2)


def _settings_moves(spec):
    plain = {("hls", "io_type"): "io_parallel", ("hls", "strategy"): "Latency", ("hls", "reuse_factor"): 1,
             ("hls", "backend"): "Vitis", ("accum",): None, ("rtl", "reuse_factor"): 1, ("rtl", "argmax"): False,
             ("rtl", "p_valid"): 100, ("rtl", "p_ready"): 100}
    for path, value in plain.items():
        here = spec
        for key in path:
            here = here.get(key) if isinstance(here, dict) else None
        if here is not None and here != value:
            yield _set(spec, path, value)


def _lists(spec):
    """(path, layer list) of the top level and of every residual body/shortcut."""
    out = [(("layers",), spec["layers"])]
    for path, layer in _layer_paths(spec):
        if layer["op"] == "residual":
            out += [(path + ("body",), layer["body"]), (path + ("shortcut",), layer["shortcut"])]
    return out


def _layer_paths(spec, path=("layers",), layers=None):
    for i, layer in enumerate(spec["layers"] if layers is None else layers):
        yield path + (i,), layer
        if layer["op"] == "residual":
            yield from _layer_paths(spec, path + (i, "body"), layer["body"])
            yield from _layer_paths(spec, path + (i, "shortcut"), layer["shortcut"])
            yield path + (i, "act"), layer["act"]


def _get(spec, path):
    for key in path:
        spec = spec[key]
    return spec


def _set(spec, path, value):
    out = copy.deepcopy(spec)
    parent = _get(out, path[:-1])
    parent[path[-1]] = value
    return out


def _edit(spec, path, fn):
    return _set(spec, path, fn(_get(spec, path)))


def size(spec) -> tuple:
    """Order of specs for the shrinker's report: layers, then input elements, then weights' bits."""
    layers = walk(spec["layers"])
    return (len(layers), int(np.prod(spec["input"]["shape"])), sum(sum(l.get("w", [0])) for l in layers))
