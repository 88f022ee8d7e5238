"""Constant matrix-vector products as shift-add networks (what the RF-1 dense layer computes).

At reuse factor 1 every weight of a Dense layer is a constant known to the generator, so

    sum[o] = acc(bias[o]) + sum_i acc(x[i] * w[i][o])      (modulo 2**ACC_W: a wrapping accumulator)

needs no multiplier: each weight is split into canonical signed digits (CSD: w = sum_k d_k 2**k,
d_k in {-1, +1}, no two neighbours non-zero, the fewest non-zero digits), so every product is a
signed sum of shifted copies of its input. Zero weights vanish; a power of two is a wire.

The graph built here is the symbolic core, apart from its Verilog writer
(hw/rtl/emitters/shift_add_emitter.py) and checked by its own numpy evaluator (`evaluate`):

1. Terms: per output column the signed, shifted input copies of all its CSD digits.
2. Common subexpressions: the two-term pattern `a +- (b << d)` whose extraction saves the most
   adders (over all columns, and twice in one column) becomes one adder; its occurrences become
   one term each. Repeat while one saves an adder. A pattern of one input with itself is a shared
   odd multiple (x*3 = (x << 2) - x); of two inputs, a shared distributed-arithmetic term.
3. Sums: per column, the positive terms and the bias (a constant) in one balanced adder tree,
   the negative terms in another, one subtractor between them. Subtraction is the expensive
   operation on an FPGA's carry chain (iCE40: the inverted operand needs its own LUTs), so it is
   done once per output, and a subtracting pattern is shared only from 3 occurrences on.

Widths: every node's exact value range follows from its integer coefficients on the leaves (the
inputs' type ranges), so each adder is as wide as its result needs. Only the accumulator's
ACC_W bits are kept: sums, shifts and subtractions commute with the modulo, so a node used at
shift s needs no more than ACC_W - s bits, and the low bits below an operand's shift pass through
without an adder.

The per-product cast to the accumulator is exact arithmetic modulo 2**ACC_W when it drops no
bits (prod_shift <= 0: the product is shifted left, or not at all, and wraps), so digits of
different products may be added in any order. When it rounds (prod_shift > 0: an accumulator
with fewer fraction bits than the products), each product is first built exactly from its own
input (shared odd multiples per input), rounded on its own with kws_requant, exactly as
kws_mac_chain does, and the rounded products are then summed (step 2 and 3 over them).
"""

from __future__ import annotations

import heapq
from dataclasses import dataclass, field
from typing import NamedTuple

import numpy as np

from qat.fixed import FixedType

# Above this many term pairs in the layer, subexpression search is skipped (its time grows with
# the pairs; the adder trees alone still replace every multiplier).
MAX_PAIRS = 3_000_000


def csd(value: int) -> list[tuple[int, int]]:
    """Canonical signed digits of an integer: [(shift, +1 or -1)], lowest shift first, with
    value == sum(d << k). No two digits are adjacent, and no signed-digit form has fewer."""
    digits = []
    v, k = int(value), 0
    while v:
        if v & 1:
            d = 2 - (v & 3)  # v = 1 mod 4 -> +1, v = 3 mod 4 -> -1: leaves v - d divisible by 4
            digits.append((k, d))
            v -= d
        v >>= 1
        k += 1
    return digits


def signed_width(lo: int, hi: int) -> int:
    """Two's complement bits that hold every integer in [lo, hi] (at least 1)."""
    w = 1
    while lo < -(1 << (w - 1)) or hi > (1 << (w - 1)) - 1:
        w += 1
    return w


class Term(NamedTuple):
    """sign * (value of node `node`) << shift."""
    node: int
    shift: int
    sign: int


@dataclass
class Node:
    """One wire of the network. op: "in" (input `index`), "const" (`value`), "cast" (the operand
    Term `prod`, rounded into the accumulator by `value` bits), "add" ((a << shift_a) + sign_b *
    (b << shift), one of the shifts 0; shift_a > 0 only for a final subtraction)."""
    op: str
    coef: dict[int, int]  # value = sum_leaf coef[leaf] * leaf (exact, before any wrap)
    lo: int
    hi: int
    index: int = -1
    value: int = 0
    a: int = -1
    b: int = -1
    shift: int = 0
    sign_b: int = 1
    shift_a: int = 0
    prod: Term | None = None
    width: int = 0  # bits of the wire, set by ShiftAddGraph.finish (<= the exact width)
    exact: bool = False  # never narrowed below its exact width (operand of a cast)
    depth: int = 0  # adders on the longest path from a leaf


@dataclass
class ShiftAddGraph:
    acc_w: int
    nodes: list[Node] = field(default_factory=list)
    outputs: list[Term | None] = field(default_factory=list)  # None: the constant 0
    acc: FixedType | None = None  # the accumulator type (rounding of the casts)
    _index: dict = field(default_factory=dict)

    # ----- building --------------------------------------------------------------------------
    def _leaf(self, op: str, lo: int, hi: int, **kw) -> int:
        nid = len(self.nodes)
        self.nodes.append(Node(op, {nid: 1}, lo, hi, **kw))
        return nid

    def input(self, index: int, lo: int, hi: int) -> int:
        return self._leaf("in", lo, hi, index=index)

    def const(self, value: int) -> int:
        return self._leaf("const", value, value, value=value)

    def cast(self, prod: Term, drop: int) -> int:
        """acc(prod) with `drop` product bits rounded off (the operand is kept exact)."""
        key = ("cast", prod, drop)
        if key in self._index:
            return self._index[key]
        p = self.nodes[prod.node]
        self._mark_exact(prod.node)
        plo, phi = sorted((prod.sign * (p.lo << prod.shift), prod.sign * (p.hi << prod.shift)))
        lo, hi = plo >> drop, -((-phi) >> drop)  # any rounding lands between floor and ceil
        if signed_width(lo, hi) > self.acc_w:  # the cast wraps: any accumulator value
            lo, hi = -(1 << (self.acc_w - 1)), (1 << (self.acc_w - 1)) - 1
        nid = self._leaf("cast", lo, hi, prod=prod, value=drop, depth=p.depth)
        self._index[key] = nid
        return nid

    def _mark_exact(self, nid: int) -> None:
        todo = [nid]
        while todo:
            n = self.nodes[todo.pop()]
            if not n.exact:
                n.exact = True
                todo += [i for i in (n.a, n.b) if i >= 0]

    def add(self, a: int, b: int, shift: int, sign_b: int, shift_a: int = 0) -> int:
        """Node (a << shift_a) + sign_b * (b << shift) (the same node is built once)."""
        key = (a, b, shift, sign_b, shift_a)
        if key in self._index:
            return self._index[key]
        coef = {leaf: c << shift_a for leaf, c in self.nodes[a].coef.items()}
        for leaf, c in self.nodes[b].coef.items():
            coef[leaf] = coef.get(leaf, 0) + sign_b * (c << shift)
        coef = {leaf: c for leaf, c in coef.items() if c}
        lo = sum(c * (self.nodes[l].lo if c > 0 else self.nodes[l].hi) for l, c in coef.items())
        hi = sum(c * (self.nodes[l].hi if c > 0 else self.nodes[l].lo) for l, c in coef.items())
        nid = len(self.nodes)
        self.nodes.append(Node("add", coef, lo, hi, a=a, b=b, shift=shift, sign_b=sign_b, shift_a=shift_a,
                               depth=1 + max(self.nodes[a].depth, self.nodes[b].depth)))
        self._index[key] = nid
        return nid

    def combine(self, t: Term, u: Term) -> Term:
        """t + u as one adder. The operand with the lower shift comes first, so its low bits pass
        through; the result carries that operand's sign (negation is deferred to a later adder)."""
        if (u.shift, -u.sign) < (t.shift, -t.sign):  # equal shifts: a positive operand first
            t, u = u, t
        return Term(self.add(t.node, u.node, u.shift - t.shift, t.sign * u.sign), t.shift, t.sign)

    def difference(self, p: Term, n: Term) -> Term:
        """p + n for a positive p and a negative n: one subtractor, p the minuend (a positive result)."""
        s = min(p.shift, n.shift)
        return Term(self.add(p.node, n.node, n.shift - s, -1, shift_a=p.shift - s), s, 1)

    # ----- widths ----------------------------------------------------------------------------
    def finish(self) -> "ShiftAddGraph":
        """Set every node's width: its exact width, capped at the accumulator bits it feeds."""
        use = [None] * len(self.nodes)  # lowest shift at which a node's value reaches an output
        for t in self.outputs:
            if t is not None:
                use[t.node] = t.shift if use[t.node] is None else min(use[t.node], t.shift)
        for nid in range(len(self.nodes) - 1, -1, -1):
            n = self.nodes[nid]
            if n.op == "cast":
                use[n.prod.node] = 0  # exact anyway
            if use[nid] is None or n.op != "add":
                continue
            for child, s in ((n.a, use[nid] + n.shift_a), (n.b, use[nid] + n.shift)):
                use[child] = s if use[child] is None else min(use[child], s)
        for nid, n in enumerate(self.nodes):
            exact = signed_width(n.lo, n.hi)
            if n.exact or use[nid] is None:
                n.width = exact
            else:
                n.width = max(1, min(exact, self.acc_w - use[nid]))
        return self

    # ----- figures -------------------------------------------------------------------------
    def live(self) -> set[int]:
        """Ids of the nodes an output reads, directly or through other nodes."""
        live, todo = set(), [t.node for t in self.outputs if t is not None]
        while todo:
            nid = todo.pop()
            if nid in live:
                continue
            live.add(nid)
            n = self.nodes[nid]
            todo += [i for i in (n.a, n.b) if i >= 0] + ([n.prod.node] if n.prod else [])
        return live

    def adders(self) -> list[int]:
        """Ids of the adders that reach an output (each is one adder/subtractor in hardware)."""
        return sorted(i for i in self.live() if self.nodes[i].op == "add")

    def adder_bits(self, nid: int) -> int:
        """Bits of the adder of node nid: its width less the low bits that pass through."""
        n = self.nodes[nid]
        return max(0, n.width - (0 if n.shift_a else n.shift))

    def stats(self) -> dict:
        adders = self.adders()
        return {"adders": len(adders), "adder_bits": sum(self.adder_bits(i) for i in adders),
                "subtractors": sum(1 for i in adders if self.nodes[i].sign_b < 0),
                "casts": sum(1 for n in self.nodes if n.op == "cast"),
                "negated_outputs": sum(1 for t in self.outputs if t is not None and t.sign < 0),
                "depth": max((self.nodes[t.node].depth for t in self.outputs if t is not None), default=0)}


# ----- subexpressions and trees --------------------------------------------------------------
def _keys(col: dict, t: tuple):
    """The patterns of the term t = (node, shift, sign) with each term of `col`, whatever their
    common shift and sign: (low node, high node, shift between them, relative sign), the term
    with the lower shift first (equal shifts: the lower node)."""
    n0, s0, g0 = t
    for (n, s), sg in col.items():
        if (s, n) < (s0, n0):
            yield (n, n0, s0 - s, sg * g0)
        else:
            yield (n0, n, s - s0, sg * g0)


class _PairQueue:
    """How often each pattern occurs (all pairs of terms in a column, overlapping ones included),
    and the next pattern to extract: the one that saves the most adders, then the one whose two
    terms are the closest in shift (its adder overlaps most). Extracting a pattern found k times
    saves k tree adders for one adder, or for one subtractor when its signs differ, which costs
    about two (see _column_sum): k - 1 or k - 2 saved. Buckets per (saving, shift): O(1) updates."""

    def __init__(self):
        self.counts: dict[tuple, int] = {}
        self.buckets: dict[int, dict[int, dict]] = {}  # count -> shift -> keys (dicts: insertion order)
        self.blocked: dict[tuple, int] = {}  # pattern -> its count when it had < 2 disjoint occurrences
        self.top = 0

    @staticmethod
    def _rank(key: tuple, count: int) -> int:
        return count - (key[3] < 0)  # worth extracting from 2

    def bump(self, key: tuple, delta: int) -> None:
        old = self.counts.get(key, 0)
        new = old + delta
        if new:
            self.counts[key] = new
        else:
            del self.counts[key]
        if self._rank(key, old) >= 2:
            self.buckets[self._rank(key, old)][key[2]].pop(key, None)
        r = self._rank(key, new)
        if r >= 2 and self.blocked.get(key, 0) < new:
            self.buckets.setdefault(r, {}).setdefault(key[2], {})[key] = None
            self.top = max(self.top, r)

    def pop(self) -> tuple | None:
        while self.top >= 2:
            by_shift = self.buckets.get(self.top, {})
            for d in sorted(by_shift):
                if by_shift[d]:  # the newest: a pattern just formed (measured: as good as any order)
                    return next(reversed(by_shift[d]))
            self.top -= 1
        return None

    def block(self, key: tuple) -> None:
        c = self.counts[key]
        self.blocked[key] = c
        self.buckets[self._rank(key, c)][key[2]].pop(key, None)


def _extract_common(g: ShiftAddGraph, columns: list[dict]) -> None:
    """Step 2 of the module docstring on `columns` ({(node, shift): sign} each), in place."""
    if sum(len(c) ** 2 for c in columns) // 2 > MAX_PAIRS:
        return
    q = _PairQueue()
    shifts_of = []  # per column: node -> its shifts there (the column indexed by node)
    for col in columns:
        terms = sorted(col.items(), key=lambda it: (it[0][1], it[0][0]))  # by shift, then node
        for i, ((n0, s0), g0) in enumerate(terms):
            for (n, s), sg in terms[i + 1:]:
                q.bump((n0, n, s - s0, sg * g0), 1)
        idx: dict[int, set] = {}
        for n, s in col:
            idx.setdefault(n, set()).add(s)
        shifts_of.append(idx)
    while (key := q.pop()) is not None:
        lo_node, hi_node, d, rel = key
        hits = []  # (column, low term, high term), non-overlapping
        for ci, col in enumerate(columns):
            if lo_node not in shifts_of[ci] or hi_node not in shifts_of[ci]:
                continue
            used = set()
            for s in sorted(shifts_of[ci][lo_node]):
                other = (hi_node, s + d)
                sg = col[(lo_node, s)]
                if (lo_node, s) not in used and other in col and other not in used and col[other] == sg * rel:
                    used |= {(lo_node, s), other}
                    hits.append((ci, Term(lo_node, s, sg), Term(hi_node, s + d, col[other])))
        if len(hits) < 2 + (rel < 0):
            q.block(key)
            continue
        new = g.add(lo_node, hi_node, d, rel)
        for ci, t, u in hits:
            col, idx = columns[ci], shifts_of[ci]
            for gone in (t, u):
                del col[(gone.node, gone.shift)]
                idx[gone.node].discard(gone.shift)
                if not idx[gone.node]:
                    del idx[gone.node]
                for k in _keys(col, gone):
                    q.bump(k, -1)
            # (the pair t, u itself was counted down with t)
            for k in _keys(col, (new, t.shift, t.sign)):
                q.bump(k, 1)
            assert (new, t.shift) not in col  # a column holds each (input, shift) once, so each pattern base once
            col[(new, t.shift)] = t.sign
            idx.setdefault(new, set()).add(t.shift)


def _put(col: dict, t: Term) -> None:
    """Add a term to a column, merging it with an equal one (x + x = x << 1, x - x = 0)."""
    while True:
        key = (t.node, t.shift)
        if key not in col:
            col[key] = t.sign
            return
        if col.pop(key) != t.sign:
            return
        t = Term(t.node, t.shift + 1, t.sign)


def _tree(g: ShiftAddGraph, terms: list[Term]) -> Term | None:
    """Sum terms of one sign pairwise with adders: shallowest first, then the fewest value bits
    (a Huffman-like order that keeps the adders narrow and the tree balanced)."""
    def order(t):
        n = g.nodes[t.node]
        return n.depth, signed_width(n.lo, n.hi) + t.shift

    heap = [(order(t), i, t) for i, t in enumerate(terms)]
    heapq.heapify(heap)
    seq = len(heap)
    while len(heap) > 1:
        t = heapq.heappop(heap)[-1]
        u = heapq.heappop(heap)[-1]
        r = g.combine(t, u)
        heapq.heappush(heap, (order(r), seq, r))
        seq += 1
    return heap[0][-1] if heap else None


def _column_sum(g: ShiftAddGraph, terms: list[Term]) -> Term | None:
    """Step 3: the positive terms (and the bias) in one adder tree, the negative ones in another,
    then one subtractor. A subtractor costs FPGA LUTs for its inverted operand (iCE40: about twice
    an adder's), so mixed-sign trees would pay that at many adders instead of once."""
    p = _tree(g, [t for t in terms if t.sign > 0])
    n = _tree(g, [t for t in terms if t.sign < 0])
    if p is None or n is None:
        return p or n  # a negative root alone: the writer negates it
    return g.difference(p, n)


def _reduce(g: ShiftAddGraph, columns: list[dict], extra: list[list[Term]] | None = None) -> list[Term | None]:
    """Common subexpressions over the columns, then one sum per column (plus its `extra` terms)."""
    _extract_common(g, columns)
    return [_column_sum(g, [Term(n, s, sg) for (n, s), sg in sorted(col.items())] + (extra[ci] if extra else []))
            for ci, col in enumerate(columns)]


def _digit_columns(g: ShiftAddGraph, weights: np.ndarray, leaves: list[int], up: int, limit: int | None) -> list[dict]:
    cols = []
    for o in range(weights.shape[1]):
        col: dict = {}
        for i, w in enumerate(weights[:, o]):
            for k, d in csd(int(w)):
                if limit is None or k + up < limit:  # a digit shifted past the accumulator adds 0
                    _put(col, Term(leaves[i], k + up, d))
        cols.append(col)
    return cols


def constant_mac(weights: np.ndarray, in_type: FixedType, acc: FixedType, prod_shift: int,
                 bias_raw=None) -> ShiftAddGraph:
    """The shift-add graph of sum[o] = acc(bias[o]) + sum_i acc(x[i] * weights[i][o]) (mod 2**acc.width).

    weights: (n_in, n_out) raw integer codes; in_type: the input codes' type (its range bounds
    every width); prod_shift: product fraction bits minus accumulator fraction bits (> 0: each
    product is rounded with acc's rounding); bias_raw: n_out biases already in accumulator codes
    (None: no bias, as with per-channel shifts, where the bias is added after the shift)."""
    w = np.asarray(weights, dtype=np.int64)
    n_in, n_out = w.shape
    if acc.overflow != "WRAP" or not acc.signed:
        raise ValueError(f"accumulator {acc}: the shift-add form needs a signed wrapping accumulator")
    g = ShiftAddGraph(acc.width, acc=acc)
    leaves = [g.input(i, in_type.min_raw if in_type.signed else 0, in_type.max_raw) for i in range(n_in)]
    if prod_shift <= 0:
        columns = _digit_columns(g, w, leaves, -prod_shift, acc.width)
    else:
        # exact products per input (shared odd multiples), each rounded on its own
        casts: dict[tuple[int, int], int] = {}
        for i in range(n_in):
            values = sorted({int(v) for v in w[i] if v != 0})
            if not values:
                continue
            prods = _reduce(g, _digit_columns(g, np.array([values]), [leaves[i]], 0, None))
            for v, p in zip(values, prods):
                casts[i, v] = g.cast(p, prod_shift)
        columns = []
        for o in range(n_out):
            col: dict = {}
            for i in range(n_in):
                if w[i, o]:
                    _put(col, Term(casts[i, int(w[i, o])], 0, 1))
            columns.append(col)
    extra = [[] for _ in range(n_out)]
    if bias_raw is not None:
        for o, b in enumerate(np.asarray(bias_raw, dtype=np.int64).reshape(-1)):
            b = int(b) & ((1 << acc.width) - 1)
            b -= (b >> (acc.width - 1)) << acc.width  # the accumulator's own (wrapped) value
            if b:
                extra[o].append(Term(g.const(b), 0, 1))
    g.outputs = _reduce(g, columns, extra)
    return g.finish()


# ----- the numpy model of the graph -------------------------------------------------------------
def _wrap(v: np.ndarray, bits: int) -> np.ndarray:
    """Two's complement value of the low `bits` bits (object arrays: Python ints, no overflow)."""
    m = 1 << bits
    v = v % m
    return np.where(v >= m >> 1, v - m, v)


def evaluate(g: ShiftAddGraph, x) -> np.ndarray:
    """Every output of the graph for raw inputs x (N, n_in), as the Verilog computes it: each
    wire holds its low `width` bits; outputs are accumulator codes (signed, acc_w bits)."""
    x = np.asarray(x, dtype=object)
    vals: list = [None] * len(g.nodes)
    for nid, n in enumerate(g.nodes):
        if n.op == "in":
            v = x[:, n.index]
        elif n.op == "const":
            v = np.full(len(x), n.value, dtype=object)
        elif n.op == "cast":
            p = n.prod
            prod = np.asarray(p.sign * (vals[p.node] * (1 << p.shift)), dtype=np.int64)
            v = g.acc.requantize(prod, g.acc.frac + n.value).astype(object)
        else:
            v = vals[n.a] * (1 << n.shift_a) + n.sign_b * (vals[n.b] * (1 << n.shift))
        vals[nid] = _wrap(v, n.width)
    out = np.zeros((len(x), len(g.outputs)), dtype=object)
    for o, t in enumerate(g.outputs):
        if t is not None:
            out[:, o] = _wrap(t.sign * (vals[t.node] * (1 << t.shift)), g.acc_w)
    return out.astype(np.int64)
