"""Constant matrix-vector products as shift-add networks (what the RF-1 dense layer computes).

At reuse factor 1 every weight of a Dense layer is a constant known to the generator, so

    sum[o] = acc(bias[o]) + sum_i acc(x[i] * w[i][o])      (modulo 2**ACC_W: a wrapping accumulator)

needs no multiplier: each weight is split into canonical signed digits (CSD: w = sum_k d_k 2**k,
d_k in {-1, +1}, no two neighbours non-zero, the fewest non-zero digits), so every product is a
signed sum of shifted copies of its input. Zero weights vanish; a power of two is a wire.

The graph built here is the symbolic core, apart from its Verilog writer
(hw/rtl/emitters/shift_add_emitter.py) and checked by its own numpy evaluator (`evaluate`):

1. Terms: per output column the signed, shifted input copies of all its CSD digits.
2. Common subexpressions: the two-term pattern `a + -(b << d)` found most often (over all
   columns, and twice in one column) becomes one adder; its occurrences become one term each.
   Repeat while some pattern occurs at least twice. A pattern of one input with itself is a
   shared odd multiple (x*3 = x + (x << 1)); of two inputs, a shared distributed-arithmetic term.
3. Adder trees: the remaining terms of a column (and the bias, a constant) are summed pairwise,
   shallowest first, then the terms with the fewest bits, positive terms before negative ones.

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
    Term `prod`, rounded into the accumulator: `acc`, `drop` bits), "add" (a + sign_b * (b << shift))."""
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

    def add(self, a: int, b: int, shift: int, sign_b: int) -> int:
        """Node a + sign_b * (b << shift), shift >= 0 (the same node is built once)."""
        key = (a, b, shift, sign_b)
        if key in self._index:
            return self._index[key]
        coef = dict(self.nodes[a].coef)
        for leaf, c in self.nodes[b].coef.items():
            coef[leaf] = coef.get(leaf, 0) + sign_b * (c << shift)
        coef = {leaf: c for leaf, c in coef.items() if c}
        lo = sum(c * (self.nodes[l].lo if c > 0 else self.nodes[l].hi) for l, c in coef.items())
        hi = sum(c * (self.nodes[l].hi if c > 0 else self.nodes[l].lo) for l, c in coef.items())
        nid = len(self.nodes)
        self.nodes.append(Node("add", coef, lo, hi, a=a, b=b, shift=shift, sign_b=sign_b,
                               depth=1 + max(self.nodes[a].depth, self.nodes[b].depth)))
        self._index[key] = nid
        return nid

    def combine(self, t: Term, u: Term) -> Term:
        """t + u as one adder. The operand with the lower shift comes first, so its low bits pass
        through; the result carries that operand's sign (negation is deferred to a later adder)."""
        if (u.shift, -u.sign) < (t.shift, -t.sign):  # equal shifts: a positive operand first
            t, u = u, t
        return Term(self.add(t.node, u.node, u.shift - t.shift, t.sign * u.sign), t.shift, t.sign)

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
            for child, s in ((n.a, use[nid]), (n.b, use[nid] + n.shift)):
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
        return max(0, n.width - n.shift)

    def stats(self) -> dict:
        adders = self.adders()
        return {"adders": len(adders), "adder_bits": sum(self.adder_bits(i) for i in adders),
                "casts": sum(1 for n in self.nodes if n.op == "cast"),
                "negated_outputs": sum(1 for t in self.outputs if t is not None and t.sign < 0),
                "depth": max((self.nodes[t.node].depth for t in self.outputs if t is not None), default=0)}


# ----- subexpressions and trees --------------------------------------------------------------
def _pair_key(t: Term, u: Term) -> tuple:
    """The pattern of two terms, whatever their common shift and sign: (low node, high node,
    shift between them, relative sign); the lower-shift term first (ties: the lower node)."""
    if (u.shift, u.node) < (t.shift, t.node):
        t, u = u, t
    return (t.node, u.node, u.shift - t.shift, t.sign * u.sign)


def _extract_common(g: ShiftAddGraph, columns: list[dict]) -> None:
    """Step 2 of the module docstring on `columns` ({(node, shift): sign} each), in place."""
    if sum(len(c) ** 2 for c in columns) // 2 > MAX_PAIRS:
        return
    counts: dict[tuple, int] = {}
    for col in columns:
        terms = [Term(n, s, g_) for (n, s), g_ in col.items()]
        for i, t in enumerate(terms):
            for u in terms[i + 1:]:
                k = _pair_key(t, u)
                counts[k] = counts.get(k, 0) + 1
    heap = [(-c, k) for k, c in counts.items() if c >= 2]
    heapq.heapify(heap)
    blocked: dict[tuple, int] = {}
    while heap:
        negc, key = heapq.heappop(heap)
        cur = counts.get(key, 0)
        if cur != -negc:  # stale entry: its count has dropped since
            if cur >= 2:
                heapq.heappush(heap, (-cur, key))
            continue
        if blocked.get(key, 0) >= cur:
            continue
        lo_node, hi_node, d, rel = key
        hits = []  # (column, low term, high term), non-overlapping
        for ci, col in enumerate(columns):
            used = set()
            for (n, s), sg in sorted(col.items(), key=lambda it: it[0][1]):
                if n != lo_node or (n, s) in used:
                    continue
                other = (hi_node, s + d)
                if other in col and other not in used and other != (n, s) and col[other] == sg * rel:
                    used |= {(n, s), other}
                    hits.append((ci, Term(n, s, sg), Term(hi_node, s + d, col[other])))
        if len(hits) < 2:
            blocked[key] = cur
            continue
        new = g.add(lo_node, hi_node, d, rel)
        for ci, t, u in hits:
            col = columns[ci]
            for gone in (t, u):
                del col[(gone.node, gone.shift)]
                for (n, s), sg in col.items():
                    k = _pair_key(gone, Term(n, s, sg))
                    counts[k] -= 1
            nt = Term(new, t.shift, t.sign)  # (the pair t, u itself was counted down with t)
            for (n, s), sg in col.items():
                k = _pair_key(nt, Term(n, s, sg))
                c = counts[k] = counts.get(k, 0) + 1
                if c >= 2:
                    heapq.heappush(heap, (-c, k))
            assert (new, t.shift) not in col  # a column holds each (input, shift) once, so each pattern base once
            col[(new, t.shift)] = t.sign


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
    """Step 3: sum the terms pairwise; shallowest first, then positive before negative, then the
    fewest value bits (a Huffman-like order that keeps adders narrow and the tree balanced)."""
    def top(t):
        n = g.nodes[t.node]
        return signed_width(n.lo, n.hi) + t.shift

    heap = [(g.nodes[t.node].depth, t.sign < 0, top(t), i, t) for i, t in enumerate(terms)]
    heapq.heapify(heap)
    seq = len(heap)
    while len(heap) > 1:
        t = heapq.heappop(heap)[-1]
        u = heapq.heappop(heap)[-1]
        r = g.combine(t, u)
        heapq.heappush(heap, (g.nodes[r.node].depth, r.sign < 0, top(r), seq, r))
        seq += 1
    return heap[0][-1] if heap else None


def _reduce(g: ShiftAddGraph, columns: list[dict], extra: list[list[Term]] | None = None) -> list[Term | None]:
    """Common subexpressions over the columns, then one tree per column (plus its `extra` terms)."""
    _extract_common(g, columns)
    roots = []
    for ci, col in enumerate(columns):
        terms = [Term(n, s, sg) for (n, s), sg in sorted(col.items())]
        roots.append(_tree(g, terms + (extra[ci] if extra else [])))
    return roots


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
            v = vals[n.a] + n.sign_b * (vals[n.b] * (1 << n.shift))
        vals[nid] = _wrap(v, n.width)
    out = np.zeros((len(x), len(g.outputs)), dtype=object)
    for o, t in enumerate(g.outputs):
        if t is not None:
            out[:, o] = _wrap(t.sign * (vals[t.node] * (1 << t.shift)), g.acc_w)
    return out.astype(np.int64)
