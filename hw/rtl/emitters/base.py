"""What every layer emitter returns, and the stream edge it is given."""

from __future__ import annotations

from dataclasses import dataclass, field

from qat.fixed import FixedType


@dataclass(frozen=True)
class Edge:
    """A stream between two modules: `beat` elements of one fixed-point `type` per tdata word."""

    beat: int
    type: FixedType

    @property
    def width(self) -> int:
        return self.type.width

    @property
    def signed(self) -> bool:
        return self.type.signed

    @property
    def frac(self) -> int:
        return self.type.frac

    @property
    def tdata_width(self) -> int:
        return self.beat * self.width


@dataclass
class EmittedLayer:
    layer: str
    kind: str
    module: str | None  # None: nothing instantiated (pure reinterpretation of the stream)
    verilog: str  # generated module text ('' if module is None)
    out: Edge
    extra_files: dict = field(default_factory=dict)  # file name -> text (e.g. weight ROMs)
    library: tuple[str, ...] = ()  # hand-written modules from hw/rtl/verilog it instantiates
    multipliers: int = 0
    rom_bits: int = 0
    compute_cycles: int = 0  # cycles one frame occupies the arithmetic (the layer's reuse)
    notes: dict = field(default_factory=dict)


def stream_module_head(name: str, in_w: int, out_w: int) -> str:
    """`module <name> (...);` with the ports every stream stage has: clock, reset, an AXI-Stream
    slave of `in_w` data bits and a master of `out_w`."""
    return f"""module {name} (
    input  wire clk,
    input  wire rst_n,
    input  wire [{in_w-1}:0] s_axis_tdata,
    input  wire s_axis_tvalid,
    output wire s_axis_tready,
    output wire [{out_w-1}:0] m_axis_tdata,
    output wire m_axis_tvalid,
    input  wire m_axis_tready
);
"""


def verilog_ident(name: str) -> str:
    """A Verilog-safe identifier from a layer name."""
    out = "".join(c if c.isalnum() or c == "_" else "_" for c in name)
    return out if out[0].isalpha() else "l_" + out
