"""Passes over the generator's LayerSpec list, hls4ml-style: each pass is a small class with
`match(specs, spec, readers)` (what to rewrite around `spec`, or None) and `transform(specs, spec,
found)` (the new list). generate_rtl applies them before emitting (hw/rtl/fuse_activation.py,
hw/rtl/fold_padding.py)."""

from __future__ import annotations

from .layer_spec import LayerSpec


def readers(specs: list[LayerSpec]) -> dict[str, list[LayerSpec]]:
    """Who reads each spec's output, by the rule generate_rtl wires them: a spec's named inputs,
    or (a hand-made chain without names) the spec before it."""
    out: dict[str, list[LayerSpec]] = {s.name: [] for s in specs}
    for i, spec in enumerate(specs):
        if spec.kind == "Input" or i == 0:
            continue
        for name in spec.inputs or (specs[i - 1].name,):
            out.setdefault(name, []).append(spec)
    return out


def apply_passes(specs: list[LayerSpec], passes) -> list[LayerSpec]:
    """`specs` with every match of each pass transformed, in order (a new list; the specs given
    are not changed). A transform may remove the matched spec, so the walk looks at index i again."""
    for p in passes:
        i = 0
        while i < len(specs):
            found = p.match(specs, specs[i], readers(specs))
            if found is None:
                i += 1
                continue
            before = len(specs)
            specs = p.transform(specs, specs[i], found)
            if len(specs) == before:  # nothing removed at or before i: move on
                i += 1
    return specs
