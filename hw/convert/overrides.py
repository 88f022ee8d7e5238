"""Per-layer precision overrides: ``build/<run>/hls_precisions.json`` written by QAT schemes (e.g.
paper A's trained transient accumulator formats), then the run config's ``hls.precision_overrides``."""

from __future__ import annotations

import json
from pathlib import Path

from qat.fixed import FixedType


PRECISIONS_FILE = "hls_precisions.json"  # written by QAT schemes with trained transient formats


def normalize_overrides(data: dict | None, source: str = "precision overrides") -> dict[str, dict[str, str]]:
    """{layer: {field: "fixed<W,I,Q,O>"}} from any of the accepted spellings:

    - hls4ml's own config part ``{"LayerName": {layer: {"Precision": {field: type}}}}`` (what
      ``qat.quantizers.hls4ml_precisions`` and thus ``hls_precisions.json`` contain),
    - ``{layer: {"Precision": {field: type}}}``,
    - ``{layer: {field: type}}`` (config.yaml ``hls.precision_overrides``).

    Every type is parsed (so a typo fails here, not in C++) and written in canonical form.
    """
    data = dict(data or {})
    if "LayerName" in data:
        extra = sorted(set(data) - {"LayerName"})
        if extra:
            raise ValueError(f"{source}: only 'LayerName' is supported, found also {extra}")
        data = dict(data["LayerName"] or {})
    out: dict[str, dict[str, str]] = {}
    for layer, fields in data.items():
        if not isinstance(fields, dict):
            raise ValueError(f"{source}: layer {layer!r} needs a mapping of precision fields, got {fields!r}")
        if "Precision" in fields:
            if set(fields) - {"Precision"}:
                raise ValueError(f"{source}: layer {layer!r}: only 'Precision' is supported, got {sorted(fields)}")
            fields = fields["Precision"]
        out[layer] = {}
        for field, text in dict(fields).items():
            try:
                out[layer][str(field)] = FixedType.parse(str(text)).to_hls()
            except ValueError as exc:
                raise ValueError(f"{source}: layer {layer!r} {field}: {exc}") from exc
    return out


def merge_overrides(*sources: dict | None) -> dict[str, dict[str, str]]:
    """Later sources win per (layer, field)."""
    out: dict[str, dict[str, str]] = {}
    for src in sources:
        for layer, fields in normalize_overrides(src).items():
            out.setdefault(layer, {}).update(fields)
    return out


def run_overrides(run_dir, config: dict | None = None) -> dict[str, dict[str, str]]:
    """Precision overrides of a run: ``hls_precisions.json`` (trained transient formats), then the
    config's ``hls.precision_overrides`` (hand-written, wins)."""

    path = Path(run_dir) / PRECISIONS_FILE
    trained = normalize_overrides(json.loads(path.read_text()), str(path)) if path.exists() else None
    by_hand = ((config or {}).get("hls") or {}).get("precision_overrides")
    return merge_overrides(trained, by_hand)
