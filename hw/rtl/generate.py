"""Entry point: hls4ml ModelGraph -> directory of Verilog + files.f + .core + report.

Output is written to a temporary directory and renamed into place only when every layer was
emitted; on any error the target directory is removed, so no half-written RTL looks valid.
"""

from __future__ import annotations

import json
import shutil

import numpy as np
from dataclasses import dataclass, field
from pathlib import Path

from hw.layers import by_hls4ml

from .emitters.argmax_emitter import emit_argmax
from .emitters.unpack_emitter import emit_unpack
from .emitters.base import Edge, EmittedLayer
from .errors import RtlGenerationError
from .emitters.dense_emitter import valid_reuse_factors
from .filelist import MEMORY_SUFFIX, write_core, write_filelist
from .fold_padding import FoldZeroPadding
from .fuse_activation import FuseActivation
from .passes import apply_passes
from .layer_spec import LayerSpec, read_graph
from .registry import emitter_for
from .reuse import ReusePlan, parse_reuse
from .schedule import fifo_depths
from .report import build_report, stage_cycles, write_report
from .stitcher import stitch
from .sequential import sequential_stage

LIBRARY_DIR = Path(__file__).resolve().parent / "verilog"


@dataclass
class RtlDesign:
    out_dir: Path
    top: str
    files: list[Path]  # HDL sources in compile order (files.f)
    layers: list[EmittedLayer]
    in_edge: Edge
    out_edge: Edge
    in_frame_beats: int
    out_frame_beats: int
    report: dict = field(default_factory=dict)
    mem_files: list[Path] = field(default_factory=list)  # ROM images ($readmemh), see filelist.memory_files


def default_input_beat(shape: tuple[int, ...], limit: int = 64) -> int:
    """Channels of one pixel for images/sequences; for a flat vector the largest divisor <= limit."""
    if len(shape) > 1:
        return shape[-1]
    n = shape[0]
    return max(d for d in range(1, min(n, limit) + 1) if n % d == 0)


def choose_reuse(spec: LayerSpec, reuse_factor) -> int:
    """Per-layer RF: an explicit per-layer entry is used as given; a global int becomes the largest
    RF this layer can realise that does not exceed it (hls4ml also moves to a valid RF)."""
    if isinstance(reuse_factor, dict):
        return int(reuse_factor.get(spec.name, spec.reuse_factor))
    plan = parse_reuse(reuse_factor) if reuse_factor is not None else ReusePlan()
    if plan.for_layer(spec.name) is not None:
        return plan.for_layer(spec.name)
    # a Keras layer hls4ml split in two (QSeparableConv): its RF is a cap for each half, which
    # realise different RFs (taps x channels vs channels x filters)
    cap = plan.for_layer(spec.keras_layer) if spec.keras_layer != spec.name else None
    cap = cap if cap is not None else plan.default
    if cap is None:
        return spec.reuse_factor
    shape = mac_shape(spec)
    if shape is not None:
        return max(r for r in valid_reuse_factors(*shape) if r <= cap)
    return cap


def sequential_engine(model_graph, top: str = "kws_top") -> tuple[EmittedLayer, Edge]:
    """The sequential engine of a graph (RF=seq) without writing it: its stage (cycles per frame,
    the layers it walks) and input edge; UnsupportedLayerError for what it cannot compute."""
    specs = read_graph(model_graph) if not isinstance(model_graph, list) else model_graph
    return sequential_stage(apply_passes(specs, [FuseActivation(keep=lambda s: False), FoldZeroPadding()]), top)


def emit_layer(spec: LayerSpec, edge, top: str, rf: int) -> EmittedLayer:
    """A layer's hardware from the one layer table (the default `emit` of generate_rtl)."""
    return emitter_for(spec)(spec, edge, top, rf)


def balance_layers(specs, layers: list[EmittedLayer], edges: list[Edge], top: str, fixed: set[str],
                   emit=emit_layer) -> None:
    """Raise each MAC layer's RF (in place) as far as its cycles stay within the slowest layer's:
    the II is set by that layer anyway, so the others' extra multipliers only idle."""
    target = max(l.compute_cycles for l in layers)
    for i, (spec, edge) in enumerate(zip(specs, edges)):
        shape = mac_shape(spec)
        if shape is None or spec.name in fixed or spec.keras_layer in fixed or not layers[i].multipliers:
            continue
        positions = max(1, int(layers[i].notes.get("positions", 1)))
        # a layer needs at least rf cycles per output position: larger RFs cannot fit
        for rf in sorted((r for r in valid_reuse_factors(*shape) if r * positions <= target), reverse=True):
            trial = emit(spec, edge, top, rf)
            if trial.multipliers >= layers[i].multipliers:
                break  # no saving left at or below the current RF
            if trial.compute_cycles <= target and trial.out == layers[i].out:
                layers[i] = trial
                break


def mac_shape(spec: LayerSpec) -> tuple[int, int] | None:
    """(inputs, outputs) of the multiply-accumulate per output frame/pixel, the pair hls4ml's
    ReuseFactor divides (depthwise: (taps, channels)); None for layers without weights."""
    entry = by_hls4ml(spec.kind)
    if "weight" not in spec.weights or entry is None or entry.outputs_attr is None:
        return None
    n_out = int(spec.attrs.get(entry.outputs_attr))
    return spec.weights["weight"][0].size // n_out, n_out


def generate_rtl(model_graph, out_dir, *, top: str = "kws_top", reuse_factor=None, input_beat: int | None = None,
                 argmax: bool = False, upto: str | None = None, frame_beat: int | None = None, emit=emit_layer,
                 tail=(), fuse: bool = True, fuse_pipelined: bool = False, fold_padding: bool = True,
                 block_line_buffers: bool = False) -> RtlDesign:
    """RTL of the graph (or of its layers up to and including `upto`, to check one layer's output
    against the golden trace); `argmax=True` appends the class-index output stage.

    For other forms of the same graph (hw/rtl/stream_generate.py): `frame_beat` makes the top input
    carry that many elements per beat, split into `input_beat` by a kws_unpack stage; `emit(spec,
    edge, top, rf)` emits one layer (default: the layer table's emitter); `tail` are functions
    (edge, elements per output frame) -> EmittedLayer appended after the last layer. A merge whose
    spec already carries ``kws_fifo_depths`` keeps them.

    fuse: fold each relu/linear Activation into the MAC layer feeding it (hw/rtl/fuse_activation.py;
    the stage keeps the MAC layer's name, its notes name the activation). With `upto` = an
    activation, the design ends in that fused stage; with `upto` = the MAC layer, nothing is fused
    into it. Not into a Dense at RF 1 unless `fuse_pipelined`: there a vector passes every cycle
    (kws_dense_pipe), fusing saves flip-flops but no LUTs, and the activation's own register stage
    keeps its requantizers out of the adder tree's cycle (the 16-8-4 MLP on an iCE40-HX8K: fmax
    38.7 MHz fused, hw/README.md "Peer: da4ml").
    fold_padding: a ZeroPadding in front of a conv becomes that conv's padding (its line buffer
    emits the zeros; hw/rtl/fold_padding.py) instead of a kws_zeropad stage.
    block_line_buffers: a conv's line buffer in block RAM (kws_window MEM = 1) where the stream is
    slow enough (hw/rtl/emitters/window.py, with_line_buffer) - for targets without LUT-RAM (iCE40,
    hw.tools.yosys.block_line_buffers), where the register form is all flip-flops; on ECP5 the
    register form is LUT-RAM and smaller than the block-RAM form's word logic."""
    specs = read_graph(model_graph) if not isinstance(model_graph, list) else model_graph
    plan = parse_reuse(reuse_factor) if isinstance(reuse_factor, (str, int, ReusePlan)) else None
    unknown = [n for n, _ in (plan.layers if plan else ()) if n not in {s.name for s in specs} | {s.keras_layer for s in specs}]
    if unknown:
        raise RtlGenerationError(f"reuse factor for unknown layer(s) {unknown}; layers: {[s.name for s in specs]}")
    if upto is not None:
        names = [s.name for s in specs]
        if upto not in names:
            raise RtlGenerationError(f"--upto {upto!r}: no such layer (have {names})")
        specs = _ancestors(specs[:names.index(upto) + 1], upto)
    def keep_stage(spec: LayerSpec) -> bool:
        if plan is not None and plan.sequential:
            return False
        return not fuse_pipelined and spec.kind == "Dense" and choose_reuse(spec, reuse_factor) == 1

    specs = apply_passes(specs, ([FuseActivation(keep=keep_stage)] if fuse else [])
                         + ([FoldZeroPadding()] if fold_padding else []))
    out_dir = Path(out_dir)
    tmp = out_dir.with_name(out_dir.name + ".partial")
    shutil.rmtree(tmp, ignore_errors=True)
    try:
        first = specs[0]
        in_type = first.out_type if first.kind == "Input" else first.in_type
        in_shape = first.out_shape if first.kind == "Input" else first.in_shape
        if plan is not None and plan.sequential:  # one engine for every layer (hw/rtl/sequential.py)
            if argmax or tail or frame_beat:
                raise RtlGenerationError("the sequential engine (RF=seq) has no argmax, tail or frame-beat form")
            engine, in_edge = sequential_stage(specs, top)
            design = _write_design(tmp, out_dir, top, in_edge, engine.out, [engine], [[-1]],
                                   int(np.prod(in_shape)), engine.notes["out_elems"])
            design.report["expected_ii_cycles"] = engine.compute_cycles
            write_report(tmp, design.report)
            return _commit(tmp, out_dir, design)
        beat = input_beat or default_input_beat(_streamed_shape(specs, in_shape))
        in_edge = Edge(beat, in_type)
        edge = in_edge
        layers: list[EmittedLayer] = []
        edges: list[Edge] = []
        sources = _sources(specs)
        by_name = {s.name: s for s in specs}
        consumers = {s.name: sum(s.name in t.inputs for t in specs) for s in specs}
        edge_in, edge_out = {}, {}
        for i, spec in enumerate(specs):
            if sources[i] and len(sources[i]) > 1:  # a merge: two streams in, FIFOs sized from the schedule
                edge = tuple(layers[j].out for j in sources[i])
                if "kws_fifo_depths" not in spec.attrs:
                    spec.attrs["kws_fifo_depths"], spec.attrs["kws_fifo_schedule"] = fifo_depths(
                        spec, by_name, edge_in, edge_out, consumers)
            elif sources[i]:
                edge = layers[sources[i][0]].out if sources[i][0] >= 0 else in_edge
            # the slowest stage so far sets the frame rate: a stage within its cycles costs no II
            # (the average pool then divides one channel per cycle)
            spec.attrs["kws_stage_budget"] = max((stage_cycles(l) for l in layers), default=0)
            spec.attrs["kws_block_line_buffers"] = block_line_buffers
            emitted = emit(spec, edge, top, choose_reuse(spec, reuse_factor))
            layers.append(emitted)
            edges.append(edge)
            edge_in[spec.name], edge_out[spec.name] = edge, emitted.out
            edge = emitted.out
        plan = parse_reuse(reuse_factor) if isinstance(reuse_factor, (str, ReusePlan)) else None
        if plan is not None and plan.balance:
            balance_layers(specs, layers, edges, top, fixed={n for n, _ in plan.layers}, emit=emit)
        for spec, emitted in zip(specs, layers):  # per-layer reports name the Keras layer of a split pair
            if spec.keras_layer != spec.name:
                emitted.notes["keras_layer"] = spec.keras_layer
            if spec.attrs.get("kws_folded_padding"):  # ... and the padding folded into a line buffer
                emitted.notes["folded_padding"] = spec.attrs["kws_folded_padding"]
            if spec.activation is not None:  # ... and the activation folded into a MAC layer
                emitted.notes.update({"fused_activation": spec.activation.name, "activation": spec.activation.function,
                                      "result_type": str(spec.activation.result_type)})
        n_in_elems = 1
        for d in in_shape:
            n_in_elems *= d
        n_out_elems = 1
        for d in specs[-1].out_shape:
            n_out_elems *= d
        if argmax:
            layers.append(emit_argmax(n_out_elems, edge))
            sources.append([len(layers) - 2])
            edge = layers[-1].out
            n_out_elems = 1
        for stage in tail:  # a stage that changes the frame says so in notes["out_frame_elems"]
            layers.append(stage(edge, n_out_elems))
            sources.append([len(layers) - 2])
            edge = layers[-1].out
            n_out_elems = layers[-1].notes.get("out_frame_elems", n_out_elems)
        if frame_beat and frame_beat != in_edge.beat:  # one wide beat per frame in, split in front
            layers.insert(0, emit_unpack(Edge(frame_beat, in_edge.type), in_edge.beat))
            sources = [[-1]] + [[j + 1 if j >= 0 else 0 for j in src] for src in sources]
            in_edge = Edge(frame_beat, in_edge.type)
        design = _write_design(tmp, out_dir, top, in_edge, edge, layers, sources, n_in_elems, n_out_elems)
    except BaseException as err:
        shutil.rmtree(tmp, ignore_errors=True)
        _keep_reports(out_dir)
        shutil.rmtree(out_dir, ignore_errors=True)
        out_dir.parent.mkdir(parents=True, exist_ok=True)
        out_dir.with_name(out_dir.name + ".FAILED.txt").write_text(f"RTL generation failed: {err}\n")
        raise
    return _commit(tmp, out_dir, design)


def _commit(tmp: Path, out_dir: Path, design: RtlDesign) -> RtlDesign:
    """The complete design in `tmp` replaces `out_dir` (its simulation reports kept aside)."""
    _keep_reports(out_dir)
    shutil.rmtree(out_dir, ignore_errors=True)
    out_dir.with_name(out_dir.name + ".FAILED.txt").unlink(missing_ok=True)
    tmp.rename(out_dir)
    return design


def _write_design(tmp: Path, out_dir: Path, top: str, in_edge: Edge, edge: Edge, layers: list[EmittedLayer],
                  sources: list[list[int]], n_in_elems: int, n_out_elems: int) -> RtlDesign:
    """Write the emitted stages, their library modules and ROM images, the stitched top, files.f,
    the .core and report.json into `tmp` (renamed to `out_dir` by the caller)."""
    tmp.mkdir(parents=True)
    files: list[str] = []
    mems: list[str] = []
    forks = any(sum(j in src for src in sources) > 1 for j in range(-1, len(layers)))
    for lib in dict.fromkeys([f for l in layers for f in l.library] + (["kws_fork.v"] if forks else [])):
        shutil.copy(LIBRARY_DIR / lib, tmp / lib)
        files.append(lib)
    for l in layers:
        for fname, text in l.extra_files.items():
            (tmp / fname).write_text(text)
            (mems if fname.endswith(MEMORY_SUFFIX) else files).append(fname)
        if l.verilog:
            fname = f"{l.module}.v"
            (tmp / fname).write_text(l.verilog)
            files.append(fname)
    (tmp / f"{top}.v").write_text(stitch(top, in_edge, layers, n_out_elems // edge.beat, sources))
    files.append(f"{top}.v")
    write_filelist(tmp, files)
    write_core(tmp, top, files, mems)
    design = RtlDesign(out_dir, top, [out_dir / f for f in files], layers, in_edge, edge,
                       n_in_elems // in_edge.beat, n_out_elems // edge.beat,
                       mem_files=[out_dir / f for f in mems])
    design.report = build_report(design)
    write_report(tmp, design.report)
    return design


# What simulation leaves in an RTL folder: measurements, not generated files
REPORT_FILES = ("sim_report.json", "sim_report.md", "dump.fst")


def _keep_reports(out_dir: Path) -> None:
    """The old design is replaced (a stale RTL must not survive), its measurements are not lost: the
    simulation reports of the design being replaced move to <out_dir>.previous/."""
    found = [out_dir / f for f in REPORT_FILES if (out_dir / f).is_file()]
    if not found:
        return
    keep = out_dir.with_name(out_dir.name + ".previous")
    shutil.rmtree(keep, ignore_errors=True)
    keep.mkdir(parents=True)
    for f in found:
        shutil.move(str(f), keep / f.name)


def _streamed_shape(specs: list[LayerSpec], in_shape: tuple[int, ...]) -> tuple[int, ...]:
    """The input shape as the first stage sees it: a leading Reshape into a sequence or image
    (TC-ResNet's 49x10x1 MFCC -> 49 frames x 10 channels) sets the pixel, hence the beat."""
    shape = in_shape
    for spec in specs[1:] if specs and specs[0].kind == "Input" else specs:
        if spec.kind != "Reshape" or len(spec.out_shape) < 2:
            break
        shape = spec.out_shape
    return shape


def _sources(specs: list[LayerSpec]) -> list[list[int]]:
    """Per spec, the indices of the specs it reads (-1: the design's input stream). A spec
    without named inputs (a hand-made list) reads the one before it."""
    index = {s.name: i for i, s in enumerate(specs)}
    out = []
    for i, spec in enumerate(specs):
        if spec.kind == "Input" or (not spec.inputs and i == 0):
            out.append([])
        elif not spec.inputs:
            out.append([i - 1])
        else:
            missing = [n for n in spec.inputs if n not in index]
            if missing:
                raise RtlGenerationError(f"layer {spec.name!r} reads {missing}, which are not in the design")
            out.append([index[n] for n in spec.inputs])
    return [o if o or i > 0 else [-1] for i, o in enumerate(out)]


def _ancestors(specs: list[LayerSpec], last: str) -> list[LayerSpec]:
    """The specs `last` depends on (itself included), in order: the design up to one layer."""
    keep, todo = set(), [last]
    by_name = {s.name: s for s in specs}
    while todo:
        name = todo.pop()
        if name in keep or name not in by_name:
            continue
        keep.add(name)
        todo += list(by_name[name].inputs)
    if not any(s.inputs for s in specs):  # hand-made chain without names: everything before it
        return specs
    return [s for s in specs if s.name in keep]


def load_report(out_dir) -> dict:
    return json.loads((Path(out_dir) / "report.json").read_text())
