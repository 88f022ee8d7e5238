"""Short report of a generated design: modules, multipliers, ROM bits, expected cycles."""

from __future__ import annotations

import json
from pathlib import Path


def build_report(design) -> dict:
    rows = []
    for l in design.layers:
        rows.append({"layer": l.layer, "kind": l.kind, "module": l.module, "multipliers": l.multipliers,
                     "rom_bits": l.rom_bits, "compute_cycles": l.compute_cycles,
                     "out_beat": l.out.beat, "out_width": l.out.width,
                     **{k: v for k, v in l.notes.items() if k not in ("params",)}})
    ii = expected_ii(design.layers, design.in_frame_beats, design.out_frame_beats)
    return {"top": design.top, "files": [p.name for p in design.files], "layers": rows,
            "multipliers": sum(r["multipliers"] for r in rows), "rom_bits": sum(r["rom_bits"] for r in rows),
            "in_frame_beats": design.in_frame_beats, "out_frame_beats": design.out_frame_beats,
            "in_tdata_bits": design.in_edge.tdata_width, "out_tdata_bits": design.out_edge.tdata_width,
            "expected_ii_cycles": ii,
            "fused_activations": {r["layer"]: r["fused_activation"] for r in rows if "fused_activation" in r}}


def fused_text(row: dict) -> str:
    """'conv1_relu (relu)' for a report row with an activation folded in, else ''."""
    return f"{row['fused_activation']} ({row.get('activation', '')})" if "fused_activation" in row else ""


def storage_text(row: dict) -> str:
    """Where a report row keeps its data, as the generator chose it for the stream's rate:
    'line buffer: block RAM, 16-bit words; frame: memory' / 'pool: channel-serial', else ''."""
    parts = []
    if "line_buffer" in row:
        parts.append(f"line buffer: {row['line_buffer']}")
    if "frame_store" in row:
        parts.append(f"frame: {row['frame_store']}")
    if "pool_op" in row:
        parts.append(f"pool: {row.get('channels', '')}")
    return "; ".join(parts)


def stage_cycles(layer) -> int:
    """Cycles one frame occupies a stage (0: a stage that only passes beats on). kws_dense hands a
    frame from collect to compute in one extra cycle; kws_dense_pipe takes one per cycle."""
    if not layer.compute_cycles:
        return 0
    return layer.compute_cycles + (0 if layer.notes.get("pipelined") else 1)


def expected_ii(layers, in_frame_beats: int, out_frame_beats, frames_per_step=None):
    """A stage accepts a frame, computes, emits; the slowest stage (or the input/output stream
    itself) sets the initiation interval. `frames_per_step` (the streaming IP: layer -> input
    frames between two of its output steps) spreads a stage's cycles over those frames: then the
    result is cycles per input frame (hop)."""
    return max([in_frame_beats, out_frame_beats] + [cycles_per_frame(l, frames_per_step) for l in layers])


def cycles_per_frame(layer, frames_per_step=None):
    """stage_cycles, or for a layer in `frames_per_step` those cycles per input frame."""
    steps = (frames_per_step or {}).get(layer.layer)
    return stage_cycles(layer) / steps if steps else stage_cycles(layer)


def write_report(out_dir: Path, report: dict) -> None:
    (out_dir / "report.json").write_text(json.dumps(report, indent=1))
    fused = report.get("fused_activations") or {}
    lines = [f"# RTL report: {report['top']}", "",
             f"multipliers {report['multipliers']}, ROM bits {report['rom_bits']}, expected II {report['expected_ii_cycles']} cycles",
             *(["", f"{len(fused)} activation(s) folded into the MAC layer before them (its output lanes apply "
                "them: no kws_act stage): " + ", ".join(f"{a} into {m}" for m, a in fused.items())] if fused else []),
             "", "| layer | kind | reuse factor | multipliers | ROM bits | compute cycles | activation folded in | storage |",
             "|---|---|---|---|---|---|---|---|"]
    for r in report["layers"]:
        name = f"{r['layer']} (of {r['keras_layer']})" if "keras_layer" in r else r["layer"]
        lines.append(f"| {name} | {r['kind']} | {r.get('reuse_factor', '')} | {r['multipliers']} | {r['rom_bits']} "
                     f"| {r['compute_cycles']} | {fused_text(r)} | {storage_text(r)} |")
    (out_dir / "report.md").write_text("\n".join(lines) + "\n")
