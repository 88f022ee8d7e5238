"""Where kws_dense keeps its input frame: two copies in flip-flops, or one ping-pong memory that
Yosys maps to block RAM (kws_frame_store.v, MEM = 1). `frame_memory` is the rule the generator
applies to every MAC core; it returns the memory's shape when the memory pays, None otherwise.

At a high reuse factor the multipliers read only IB*OB inputs a cycle, yet the register form holds
the frame twice (collect and compute copies: 9,216 flip-flops for a 3x3x64 8-bit depthwise window)
and rotates one copy through about a LUT per bit. The memory holds the same two frames as words
of what the multipliers read in a cycle and is written one word per cycle, so it is used only
where that costs nothing and saves something:

1. shape: a word is contiguous in the frame - FC: IB consecutive inputs; depthwise: OB channels
   of one tap, so only with IB = 1 - and an input beat is a whole number of words;
2. time: the serial write of a frame (one word per cycle) fits within the compute of the previous
   frame, words per frame <= RF: then the layer's cycles per frame (compute_cycles, RF + 1 per
   frame in the schedule and the planner) stay what they are. The read is registered but its
   address runs a cycle ahead (as for the weight ROM), so no cycle is added per frame. With the
   words of (1) this always holds (FC: N_IN / IB words, RF = N_IN / IB x N_OUT / OB; depthwise:
   words = RF); it is checked so that another word shape cannot slow a layer unnoticed. The first
   frame's result comes words - beats cycles later (its beats are taken word by word);
3. area: the memory replaces at least `MIN_BITS_PER_BLOCK` register bits per block RAM it
   occupies, counted in the smallest block we target (iCE40's 4-kbit SB_RAM40_4K, 256 x 16 to
   2048 x 2; an ECP5 DP16KD holds four). A few wide words (a low reuse factor) would take many
   nearly empty blocks; a frame of a few hundred bits is not worth a block.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

# iCE40 SB_RAM40_4K aspect ratios: (width, depth)
ICE40_BLOCK_SHAPES = ((16, 256), (8, 512), (4, 1024), (2, 2048))
# A block must replace at least this many flip-flops (1/8 of its 4 kbit); on an ECP5-25k a DP16KD
# is 1/56 of the block RAM, 512 flip-flops are 1/48 of the FFs, and each replaced bit also saves
# about a LUT of rotation.
MIN_BITS_PER_BLOCK = 512


@dataclass(frozen=True)
class FrameMemory:
    """A ping-pong memory of two frames: `words` words of `word_elems` elements per frame."""

    word_elems: int
    words: int
    word_bits: int

    @property
    def depth(self) -> int:
        return 2 * self.words

    @property
    def bits(self) -> int:
        return self.depth * self.word_bits


def ice40_blocks(depth: int, width: int) -> int:
    """4-kbit blocks a depth x width memory needs, in the best of the SB_RAM40_4K shapes."""
    return min(math.ceil(width / w) * math.ceil(depth / d) for w, d in ICE40_BLOCK_SHAPES)


def frame_memory(*, depthwise: bool, n_in: int, n_out: int, in_beat: int, in_width: int, ib: int, ob: int,
                 rf: int) -> FrameMemory | None:
    """The memory form of a MAC core's input frame (`n_in` elements of `in_width` bits arriving
    `in_beat` per beat, IB x OB per cycle, `rf` cycles per frame), or None where the register
    form stays (see the module docstring for the three conditions)."""
    if depthwise and ib != 1:
        return None
    word_elems = ob if depthwise else ib
    if in_beat % word_elems or n_in % word_elems:
        return None
    mem = FrameMemory(word_elems, n_in // word_elems, word_elems * in_width)
    if mem.words > rf:
        return None
    if 2 * n_in * in_width < MIN_BITS_PER_BLOCK * ice40_blocks(mem.depth, mem.word_bits):
        return None
    return mem
