"""Output stage of the always-on IP (not an hls4ml layer): the keyword detector, the library module
kws_detector.v instantiated with the detector's parameters (hw/detector.py defines what it does).

Beats: in, one emission's C logits per beat (element c at [c*W +: W], as every stream); out, one
beat per emission of OUT_W = C*W + 1 + IDX_W bits: the logits unchanged in [C*W-1:0], fire at bit
C*W, id (the class when fire, else 0) in [C*W+1 +: IDX_W]. `output_beat` / `read_output_beat`
are that layout, for benches and for whoever reads the IP's output.
"""

from __future__ import annotations

from hw.detector import DetectorParams
from hw.rtl.errors import RtlGenerationError
from hw.rtl.requant import pack, unpack
from qat.fixed import FixedType

from .base import EmittedLayer, Edge


def id_width(n_classes: int) -> int:
    return max(1, (n_classes - 1).bit_length())


def output_beat(codes, fire: bool, class_id: int, width: int) -> int:
    """One output beat: the emission's logit codes, then fire, then id."""
    n = len(codes)
    return pack(codes, width) | (int(bool(fire)) << (n * width)) | (int(class_id) << (n * width + 1))


def read_output_beat(word: int, n_classes: int, logit_type: FixedType) -> tuple[list[int], bool, int]:
    """(logit codes, fire, id) of one output beat."""
    w = logit_type.width
    base = n_classes * w
    return (unpack(word, w, n_classes, logit_type.signed), bool(word >> base & 1),
            word >> (base + 1) & ((1 << id_width(n_classes)) - 1))


def emit_detector(edge_in: Edge, params: DetectorParams) -> EmittedLayer:
    c, t = params.n_classes, edge_in.type
    if edge_in.beat != c:
        raise RtlGenerationError(f"detector: the logits come {edge_in.beat} per beat, the detector takes all {c} "
                                 "classes in one beat; widen the last layer's output beat to the whole vector")
    if not isinstance(params.threshold, int):
        raise RtlGenerationError(f"detector: threshold {params.threshold!r} is not an integer code; "
                                 "build the parameters with hw.detector.params_for(stream, C, logit_type)")
    # A margin of N codes of W bits never exceeds N * (2**W - 1): a threshold above that never fires,
    # so it is clamped there (the same decisions) to keep the Verilog parameter a 32-bit integer.
    never = params.smooth * ((1 << t.width) - 1) + 1
    if never >= 1 << 31:
        raise RtlGenerationError(f"detector: logits of {t.width} bits summed over {params.smooth} emissions "
                                 "need margins beyond 31 bits; use narrower logits or a shorter smoothing")
    mask = sum(1 << k for k in params.keywords)
    params_v = {"C": c, "W": t.width, "IN_SIGNED": int(t.signed), "N": params.smooth,
                "THRESH": min(params.threshold, never), "REFRACTORY": params.refractory,
                "KW_MASK": f"{c}'b{mask:0{c}b}", "IDX_W": id_width(c)}
    out_w = c * t.width + 1 + id_width(c)
    return EmittedLayer(layer="detector", kind="Detector", module="kws_detector", verilog="",
                        out=Edge(1, FixedType(out_w, out_w, signed=False)), library=("kws_detector.v",),
                        notes={"params": params_v, "parameterized": True, "out_frame_elems": 1})  # a beat per emission


def write_standalone(out_dir, logit_type: FixedType, params: DetectorParams, top: str = "kws_detector_top"):
    """The detector alone as an IP (a top with tlast, as hw.rtl.stitcher frames every design):
    writes `<top>.v` and the library module into out_dir; returns (files, top)."""
    import shutil
    from pathlib import Path

    from hw.rtl.generate import LIBRARY_DIR
    from hw.rtl.stitcher import stitch

    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    edge = Edge(params.n_classes, logit_type)
    layer = emit_detector(edge, params)
    (out_dir / f"{top}.v").write_text(stitch(top, edge, [layer], 1))
    files = [out_dir / f"{top}.v"] + [Path(shutil.copy(LIBRARY_DIR / f, out_dir / f)) for f in layer.library]
    return files, top
