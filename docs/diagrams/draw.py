#!/usr/bin/env python3
"""Draw the kit's ResNet diagrams from one description each, as SVG and as plain text.

Each diagram below is data: boxes, arrows and labels. `layout` places a diagram on a
character grid, and two renderers draw that one layout: `to_text` with box-drawing
characters (at most 76 columns, so an 80-column terminal shows it unwrapped) and `to_svg`
as hand-written SVG (the same grid, scaled; a white background so it reads in light and
dark mode). The grid is checked while it is filled: a line through a box, a label on a
line or on another label, or two boxes on each other is an error, so a diagram that
draws at all draws clean, in both renderings.

The numbers that can be checked are computed, not typed: the output sizes come from the
conv arithmetic `conv_out`, the ResNet-18 channels from the stem width and the stage
index, the bottleneck's output width from `EXPANSION`.

    python docs/diagrams/draw.py          # regenerate docs/diagrams/*.svg, *.txt, README.md
    python docs/diagrams/draw.py --check  # exit 1 if a committed file differs
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from xml.sax.saxutils import escape

HERE = Path(__file__).resolve().parent
MAX_COLUMNS = 76

# --------------------------------------------------------------------------- numbers


def conv_out(n: int, k: int, s: int = 1, p: int = 0) -> int:
    """Output size of a conv or pooling window: floor((n + 2p - k) / s) + 1."""
    return (n + 2 * p - k) // s + 1


def shape(c: int, n: int) -> str:
    return f"{c}×{n}×{n}"


EXPANSION = 4            # torchvision's Bottleneck.expansion: the last 1×1 widens 4 times
SE_REDUCTION = 16        # Hu et al. 2018: r = 16
RESNET18_BLOCKS = (2, 2, 2, 2)
STEM_WIDTH = 64
INPUT_SIZE = 224
NUM_CLASSES = 1000


@dataclass(frozen=True)
class Stage:
    name: str
    label: str           # what the box says
    channels: int        # output channels
    size: int            # output height = width
    blocks: int = 0      # basic blocks (0: not a stage of blocks)
    stride: int = 1


def resnet18_stages(size: int = INPUT_SIZE) -> list[Stage]:
    """Stem, max pool and the four stages of ResNet-18, each with its output shape."""
    n = conv_out(size, k=7, s=2, p=3)
    stages = [Stage("conv1", f"conv1: conv 7×7, {STEM_WIDTH}, stride 2", STEM_WIDTH, n, stride=2)]
    n = conv_out(n, k=3, s=2, p=1)
    stages.append(Stage("maxpool", "maxpool 3×3, stride 2", STEM_WIDTH, n, stride=2))
    c_in = STEM_WIDTH
    for i, blocks in enumerate(RESNET18_BLOCKS):
        c = STEM_WIDTH * 2**i
        stride = 1 if i == 0 else 2
        for b in range(blocks):
            s = stride if b == 0 else 1
            main = conv_out(conv_out(n, k=3, s=s, p=1), k=3, s=1, p=1)
            short = conv_out(n, k=1, s=s, p=0) if (s != 1 or c_in != c) else n
            assert main == short, f"layer{i + 1} block {b}: {main} != {short}"
            n, c_in = main, c
        label = f"layer{i + 1}: {blocks} × basic block, {c}"
        stages.append(Stage(f"layer{i + 1}", label, c, n, blocks, stride))
    return stages


# ---------------------------------------------------------------------- description


@dataclass
class Node:
    id: str
    lines: tuple[str, ...]
    x: int               # centre column (a "label" node: its first column)
    row: int
    kind: str = "conv"   # conv bn act pool fc attn block stage io op label


@dataclass
class Edge:
    src: str
    dst: str
    label: str = ""
    exit: str = "bottom"     # side of src the line leaves
    enter: str = "top"       # side of dst the arrow enters
    lane: int | None = None  # column of the vertical run of a right→right / left→left edge
    label_side: str = "right"


@dataclass
class Diagram:
    name: str
    title: str
    nodes: list[Node]
    edges: list[Edge]
    notes: list[str] = field(default_factory=list)

    def texts(self) -> list[str]:
        """Every text of the description: both renderings must show each one."""
        out = [self.title]
        out += [line for n in self.nodes for line in n.lines]
        out += [e.label for e in self.edges if e.label]
        out += [line for line in self.notes if line.strip()]
        return out


def N(id: str, text: str, x: int, row: int, kind: str = "conv") -> Node:
    return Node(id, tuple(text.split("\n")), x, row, kind)


def chain(ids: Iterable[str], labels: dict[str, str] | None = None) -> list[Edge]:
    """Straight arrows a→b→c…; labels[a] is written on the arrow leaving a."""
    ids, labels = list(ids), labels or {}
    return [Edge(a, b, labels.get(a, "")) for a, b in zip(ids, ids[1:], strict=False)]


# ------------------------------------------------------------------------- diagrams


def basic_block() -> Diagram:
    m = 16
    nodes = [
        N("x", "x: C×H×W", m, 0, "io"),
        N("c1", "conv 3×3, C", m, 1), N("b1", "BN", m, 2, "bn"), N("r1", "ReLU", m, 3, "act"),
        N("c2", "conv 3×3, C", m, 4), N("b2", "BN", m, 5, "bn"),
        N("add", "+", m, 6, "op"), N("r2", "ReLU", m, 7, "act"),
        N("y", "y: C×H×W", m, 8, "io"),
    ]
    edges = chain([n.id for n in nodes], {"b2": "F(x)", "add": "F(x) + x"})
    edges.append(Edge("x", "add", "identity: x", exit="right", enter="right", lane=32))
    return Diagram(
        "basic_block", "Basic block (ResNet-18/34): y = ReLU(F(x) + x)", nodes, edges,
        [
            "Stride 1 and as many channels out as in: the shortcut is the identity,",
            "no parameters. Otherwise it is a projection (see projection_shortcut).",
            "The ReLU comes after the add, so the block's output is non-negative.",
        ],
    )


def bottleneck() -> Diagram:
    c_in, planes, n, s = 256, 128, 56, 2        # first block of ResNet-50's layer2
    c_out = planes * EXPANSION
    n1 = conv_out(n, k=1, s=1, p=0)
    n2 = conv_out(n1, k=3, s=s, p=1)             # v1.5: the stride is on the 3×3
    n3 = conv_out(n2, k=1, s=1, p=0)
    ns = conv_out(n, k=1, s=s, p=0)
    assert n3 == ns
    m, side = 18, 52
    nodes = [
        N("x", f"x: {shape(c_in, n)}", m, 0, "io"),
        N("c1", f"conv 1×1, {c_in}→{planes}\nreduce", m, 1), N("b1", "BN", m, 2, "bn"),
        N("r1", "ReLU", m, 3, "act"),
        N("c2", f"conv 3×3, {planes}\nstride {s} (v1.5)", m, 4), N("b2", "BN", m, 5, "bn"),
        N("r2", "ReLU", m, 6, "act"),
        N("c3", f"conv 1×1, {planes}→{c_out}\nexpand ×{EXPANSION}", m, 7), N("b3", "BN", m, 8, "bn"),
        N("add", "+", m, 9, "op"), N("r3", "ReLU", m, 10, "act"),
        N("y", f"y: {shape(c_out, n3)}", m, 11, "io"),
        N("sc", f"conv 1×1, {c_in}→{c_out}\nstride {s}", side, 1), N("sb", "BN", side, 2, "bn"),
    ]
    main = [n.id for n in nodes if n.x == m]
    edges = chain(main, {"r1": shape(planes, n1), "r2": shape(planes, n2), "b3": shape(c_out, n3)})
    edges += [
        Edge("x", "sc", "projection", exit="right"),
        Edge("sc", "sb"),
        Edge("sb", "add", shape(c_out, ns), enter="right"),
    ]
    return Diagram(
        "bottleneck", "Bottleneck block (ResNet-50/101/152): layer2, first block", nodes, edges,
        [
            f"out channels = planes × expansion = {planes} × {EXPANSION} = {c_out}.",
            f"The 3×3 carries the stride (torchvision v1.5): {n} → {n2}. The paper (v1)",
            "and keras.applications put it on the first 1×1 instead.",
            f"Here the shortcut is a projection: the stride is {s} and {c_in} != {c_out}.",
            "In the other blocks of the stage it is the identity.",
        ],
    )


def projection_shortcut() -> Diagram:
    c_in, c, n, s = 64, 128, 56, 2              # first block of ResNet-18's layer2
    n1 = conv_out(n, k=3, s=s, p=1)
    n2 = conv_out(n1, k=3, s=1, p=1)
    ns = conv_out(n, k=1, s=s, p=0)
    assert n2 == ns
    m, side = 14, 50
    nodes = [
        N("x", f"x: {shape(c_in, n)}", m, 0, "io"),
        N("c1", f"conv 3×3, {c_in}→{c}\nstride {s}", m, 1), N("b1", "BN", m, 2, "bn"),
        N("r1", "ReLU", m, 3, "act"),
        N("c2", f"conv 3×3, {c}→{c}", m, 4), N("b2", "BN", m, 5, "bn"),
        N("add", "+", m, 6, "op"), N("r2", "ReLU", m, 7, "act"),
        N("y", f"y: {shape(c, n2)}", m, 8, "io"),
        N("sc", f"conv 1×1, {c_in}→{c}\nstride {s}", side, 1), N("sb", "BN", side, 2, "bn"),
    ]
    main = [n.id for n in nodes if n.x == m]
    edges = chain(main, {"r1": shape(c, n1), "b2": "F(x)"})
    edges += [
        Edge("x", "sc", "projection", exit="right"),
        Edge("sc", "sb"),
        Edge("sb", "add", shape(c, ns), enter="right"),
    ]
    return Diagram(
        "projection_shortcut", "Projection shortcut: when stride != 1 or channels change", nodes, edges,
        [
            "The shortcut must match F(x) in shape to be added. When stride != 1 or",
            "in_channels != out_channels it is conv 1×1 (stride s, no bias) + BN",
            "(option B of the paper); otherwise it is the identity.",
            "Sizes: floor((n + 2p - k) / s) + 1.",
            f"  main 3×3, p=1: ({n} + 2 - 3) // {s} + 1 = {n1}",
            f"  shortcut 1×1, p=0: ({n} - 1) // {s} + 1 = {ns}",
        ],
    )


def preact_vs_postact() -> Diagram:
    p, q = 14, 50
    post = [
        N("px", "x_l", p, 1, "io"),
        N("pc1", "conv 3×3", p, 2), N("pb1", "BN", p, 3, "bn"), N("pr1", "ReLU", p, 4, "act"),
        N("pc2", "conv 3×3", p, 5), N("pb2", "BN", p, 6, "bn"),
        N("padd", "+", p, 7, "op"), N("pr2", "ReLU", p, 8, "act"),
        N("py", "x_(l+1)", p, 9, "io"),
    ]
    pre = [
        N("qx", "x_l", q, 1, "io"),
        N("qb1", "BN", q, 2, "bn"), N("qr1", "ReLU", q, 3, "act"), N("qc1", "conv 3×3", q, 4),
        N("qb2", "BN", q, 5, "bn"), N("qr2", "ReLU", q, 6, "act"), N("qc2", "conv 3×3", q, 7),
        N("qadd", "+", q, 8, "op"),
        N("qy", "x_(l+1)", q, 9, "io"),
    ]
    titles = [
        N("pt", "post-activation (2015)", p - 11, 0, "label"),
        N("qt", "pre-activation (2016)", q - 10, 0, "label"),
    ]
    edges = chain([n.id for n in post], {"pr2": "ReLU on the path"})
    edges += chain([n.id for n in pre], {"qadd": "nothing after +"})
    edges += [
        Edge("px", "padd", "identity", exit="right", enter="right", lane=p + 12),
        Edge("qx", "qadd", "identity", exit="right", enter="right", lane=q + 12),
    ]
    return Diagram(
        "preact_vs_postact", "Post-activation vs pre-activation (He et al. 2016, Identity Mappings)",
        titles + post + pre, edges,
        [
            "post: x_(l+1) = ReLU(x_l + F(x_l)). The ReLU after the add sits on the",
            "      shortcut path, so no block passes its input on unchanged.",
            "pre:  x_(l+1) = x_l + F(x_l), F = BN-ReLU-conv-BN-ReLU-conv, nothing after",
            "      the add: x_L = x_l + sum of the F's, a clean path both ways.",
            "      The network adds one BN-ReLU after its last block.",
        ],
    )


def se_cbam() -> Diagram:
    m, s, lane = 16, 44, 70
    r = SE_REDUCTION
    se = [
        N("set", f"SE block (Hu et al. 2018), r = {r}, on the residual branch", 2, 0, "label"),
        N("x", "x: C×H×W", m, 1, "io"),
        N("f", "conv-BN-ReLU-conv-BN", m, 2, "block"),
        N("gap", "global avg pool", s, 3, "pool"),
        N("fc1", f"FC C→C/{r}", s, 4, "fc"), N("rl", "ReLU", s, 5, "act"),
        N("fc2", f"FC C/{r}→C", s, 6, "fc"), N("sg", "sigmoid", s, 7, "attn"),
        N("sc", "×", m, 8, "op"), N("add", "+", m, 9, "op"), N("r2", "ReLU", m, 10, "act"),
        N("y", "y: C×H×W", m, 11, "io"),
    ]
    a, b, mid = 36, 58, 47
    cbam = [
        N("ct", "CBAM (Woo et al. 2018): channel, then spatial attention", 2, 12, "label"),
        N("F", "F: C×H×W", m, 13, "io"),
        N("avg", "avg pool over H,W", a, 14, "pool"), N("max", "max pool over H,W", b, 14, "pool"),
        N("mlp1", f"shared MLP\nC→C/{r}→C", a, 15, "fc"), N("mlp2", f"shared MLP\nC→C/{r}→C", b, 15, "fc"),
        N("csum", "+", mid, 16, "op"), N("csg", "sigmoid", mid, 17, "attn"),
        N("cs", "×", m, 18, "op"),
        N("F1", "F': C×H×W", m, 19, "io"),
        N("mean", "mean over C", a, 20, "pool"), N("cmax", "max over C", b, 20, "pool"),
        N("cat", "concat: 2×H×W", mid, 21, "block"),
        N("c7", "conv 7×7, 2→1\npadding 3", mid, 22), N("ssg", "sigmoid", mid, 23, "attn"),
        N("ss", "×", m, 24, "op"),
        N("F2", "F'': C×H×W", m, 25, "io"),
    ]
    edges = [
        Edge("x", "f"), Edge("f", "sc", "U: C×H×W"),
        Edge("f", "gap", exit="right"),
        *chain(["gap", "fc1", "rl", "fc2", "sg"], {"gap": "C×1×1", "fc1": f"C/{r}×1×1"}),
        Edge("sg", "sc", "s: C×1×1", enter="right"),
        *chain(["sc", "add", "r2", "y"]),
        Edge("x", "add", "identity", exit="right", enter="right", lane=lane, label_side="left"),
        Edge("F", "cs"),
        Edge("F", "avg", exit="right"), Edge("F", "max", exit="right"),
        Edge("avg", "mlp1", "C×1×1"), Edge("max", "mlp2", "C×1×1"),
        Edge("mlp1", "csum", enter="left"), Edge("mlp2", "csum", enter="right"),
        Edge("csum", "csg"), Edge("csg", "cs", "Mc: C×1×1", enter="right"),
        Edge("cs", "F1"),
        Edge("F1", "ss"),
        Edge("F1", "mean", exit="right"), Edge("F1", "cmax", exit="right"),
        Edge("mean", "cat", "1×H×W", enter="left"), Edge("cmax", "cat", "1×H×W", enter="right"),
        Edge("cat", "c7"), Edge("c7", "ssg", "1×H×W"),
        Edge("ssg", "ss", "Ms: 1×H×W", enter="right"),
        Edge("ss", "F2"),
    ]
    return Diagram(
        "se_cbam", "Channel attention: SE and CBAM, inside the residual branch", se + cbam, edges,
        [
            f"SE:   s = sigmoid(FC(ReLU(FC(GAP(U))))), C → C/{r} → C; out = U · s,",
            "      one weight per channel, applied before the add.",
            "CBAM: Mc = sigmoid(MLP(avgpool F) + MLP(maxpool F)), one MLP for both;",
            "      Ms = sigmoid(conv7×7([mean_c F'; max_c F'])); F' = Mc·F, F'' = Ms·F'.",
            "      CBAM goes where SE goes: on the residual branch, before the add.",
        ],
    )


def resnet18_stages_diagram() -> Diagram:
    stages = resnet18_stages()
    m = 22
    nodes = [N("in", f"input: {shape(3, INPUT_SIZE)}", m, 0, "io")]
    labels: dict[str, str] = {}
    for i, st in enumerate(stages, start=1):
        if st.name == "conv1":
            text, kind = f"{st.label}\nBN, ReLU", "conv"
        elif st.name == "maxpool":
            text, kind = st.label, "pool"
        else:
            text, kind = f"{st.label}\nstride {st.stride}", "stage"
        nodes.append(N(st.name, text, m, i, kind))
        labels[st.name] = shape(st.channels, st.size)
    last = stages[-1].channels
    k = len(stages) + 1
    nodes += [
        N("avgpool", "global avg pool", m, k, "pool"),
        N("fc", f"fc {last}→{NUM_CLASSES}", m, k + 1, "fc"),
        N("out", f"logits: {NUM_CLASSES}", m, k + 2, "io"),
    ]
    labels["avgpool"] = shape(last, 1)
    edges = chain([n.id for n in nodes], labels)
    depth = 1 + 2 * sum(RESNET18_BLOCKS) + 1
    notes = [
        f"{'stage':<9}{'blocks':>6}{'stride':>8}{'channels':>10}{'output':>10}",
        *(f"{st.name:<9}{st.blocks or '-':>6}{st.stride:>8}{st.channels:>10}{f'{st.size}×{st.size}':>10}"
          for st in stages),
        "",
        "Output size: n' = floor((n + 2p - k) / s) + 1;",
        f"  conv1 7×7, p=3: ({INPUT_SIZE} + 6 - 7) // 2 + 1 = {stages[0].size};",
        f"  maxpool 3×3, p=1: ({stages[0].size} + 2 - 3) // 2 + 1 = {stages[1].size}.",
        f"Depth: 1 stem conv + 2 × {sum(RESNET18_BLOCKS)} block convs + 1 fc = {depth} weighted layers.",
    ]
    return Diagram("resnet18_stages", f"ResNet-{depth} stage plan at {INPUT_SIZE}×{INPUT_SIZE} input",
                   nodes, edges, notes)


DIAGRAMS = {
    "basic_block": basic_block,
    "bottleneck": bottleneck,
    "projection_shortcut": projection_shortcut,
    "preact_vs_postact": preact_vs_postact,
    "se_cbam": se_cbam,
    "resnet18_stages": resnet18_stages_diagram,
}
NAMES = tuple(DIAGRAMS)

# --------------------------------------------------------------------------- layout

ROW_GAP = 2          # lines between rows: one for the line, one for the arrowhead
TOP = 2              # title line, blank line
N_, S_, E_, W_ = "N", "S", "E", "W"
STEP = {N_: (0, -1), S_: (0, 1), E_: (1, 0), W_: (-1, 0)}
OPPOSITE = {N_: S_, S_: N_, E_: W_, W_: E_}
LINE_CHARS = {
    frozenset("NS"): "│", frozenset("EW"): "─", frozenset("N"): "│", frozenset("S"): "│",
    frozenset("E"): "─", frozenset("W"): "─",
    frozenset("SE"): "┌", frozenset("SW"): "┐", frozenset("NE"): "└", frozenset("NW"): "┘",
    frozenset("NSE"): "├", frozenset("NSW"): "┤", frozenset("SEW"): "┬", frozenset("NEW"): "┴",
    frozenset("NSEW"): "┼",
}
ROUNDED = {frozenset("SE"): "╭", frozenset("SW"): "╮", frozenset("NE"): "╰", frozenset("NW"): "╯"}
ARROWS = {S_: "▼", N_: "▲", E_: "►", W_: "◄"}


class LayoutError(ValueError):
    pass


@dataclass
class Box:
    node: Node
    x0: int
    y0: int
    x1: int
    y1: int

    @property
    def cx(self) -> int:
        return (self.x0 + self.x1) // 2

    @property
    def my(self) -> int:
        return self.y0 + (self.y1 - self.y0) // 2

    def port(self, side: str) -> tuple[int, int]:
        return {"top": (self.cx, self.y0), "bottom": (self.cx, self.y1),
                "left": (self.x0, self.my), "right": (self.x1, self.my)}[side]


@dataclass
class Cell:
    kind: str                      # line, arrow, text
    char: str = ""
    dirs: set[str] = field(default_factory=set)
    owner: str | None = None       # node id of a box border or box text
    rounded: bool = False


@dataclass
class TextRun:
    x: int
    y: int
    text: str
    role: str                      # title, label, note, edge


@dataclass
class Placed:
    diagram: Diagram
    boxes: dict[str, Box]
    routes: list[list[tuple[int, int]]]
    runs: list[TextRun]
    cells: dict[tuple[int, int], Cell]
    width: int
    height: int


def _widths(d: Diagram) -> dict[str, int]:
    """Box widths: odd, so a box has a centre column; boxes in one column share a width."""
    col: dict[int, int] = {}
    for n in d.nodes:
        if n.kind not in ("op", "label"):
            col[n.x] = max(col.get(n.x, 0), max(len(s) for s in n.lines) + 4)
    out = {}
    for n in d.nodes:
        w = len(n.lines[0]) if n.kind == "label" else (
            len(n.lines[0]) + 4 if n.kind == "op" else col[n.x])
        out[n.id] = w if n.kind == "label" or w % 2 else w + 1
    return out


def _route(e: Edge, a: Box, b: Box) -> list[tuple[int, int]]:
    (sx, sy), (dx, dy) = a.port(e.exit), b.port(e.enter)
    kind = (e.exit, e.enter)
    if kind == ("bottom", "top"):
        if sx == dx:
            return [(sx, sy), (dx, dy)]
        mid = dy - ROW_GAP
        return [(sx, sy), (sx, mid), (dx, mid), (dx, dy)]
    if kind in (("right", "top"), ("left", "top")):
        return [(sx, sy), (dx, sy), (dx, dy)]
    if kind in (("bottom", "right"), ("bottom", "left")):
        return [(sx, sy), (sx, dy), (dx, dy)]
    if kind in (("right", "right"), ("left", "left")):
        if e.lane is None:
            raise LayoutError(f"{e.src}→{e.dst}: a {kind} edge needs a lane")
        return [(sx, sy), (e.lane, sy), (e.lane, dy), (dx, dy)]
    raise LayoutError(f"{e.src}→{e.dst}: no route for {kind}")


def _direction(p: tuple[int, int], q: tuple[int, int]) -> str:
    (x0, y0), (x1, y1) = p, q
    if x0 != x1 and y0 != y1:
        raise LayoutError(f"diagonal segment {p}→{q}")
    if y1 > y0:
        return S_
    if y1 < y0:
        return N_
    return E_ if x1 > x0 else W_


def _cells_of(points: list[tuple[int, int]]) -> list[tuple[int, int]]:
    out = [points[0]]
    for p, q in zip(points, points[1:], strict=False):
        if p == q:
            continue
        dx, dy = STEP[_direction(p, q)]
        x, y = p
        while (x, y) != q:
            x, y = x + dx, y + dy
            out.append((x, y))
    return out


def layout(d: Diagram) -> Placed:
    widths = _widths(d)
    heights = {n.id: 1 if n.kind == "label" else len(n.lines) + 2 for n in d.nodes}
    rows = max(n.row for n in d.nodes) + 1
    row_h = [max([heights[n.id] for n in d.nodes if n.row == r], default=1) for r in range(rows)]
    row_top = [TOP]
    for r, h in enumerate(row_h):
        only_labels = all(n.kind == "label" for n in d.nodes if n.row == r)
        row_top.append(row_top[-1] + h + (1 if only_labels else ROW_GAP))
    cells: dict[tuple[int, int], Cell] = {}
    runs: list[TextRun] = []
    where = f"diagram {d.name}"

    def put(x: int, y: int, cell: Cell, what: str) -> None:
        if x < 0 or x >= MAX_COLUMNS:
            raise LayoutError(f"{where}: {what} at column {x}, outside 0..{MAX_COLUMNS - 1}")
        if (x, y) in cells:
            raise LayoutError(f"{where}: {what} at ({x}, {y}) lands on something drawn there")
        cells[(x, y)] = cell

    def text(x: int, y: int, s: str, role: str, owner: str | None = None) -> None:
        for i, ch in enumerate(s):
            put(x + i, y, Cell("text", ch, owner=owner), f"text {s!r}")
        runs.append(TextRun(x, y, s, role))

    text(0, 0, d.title, "title")
    boxes: dict[str, Box] = {}
    for n in d.nodes:
        w, h = widths[n.id], heights[n.id]
        if n.kind == "label":
            text(n.x, row_top[n.row], n.lines[0], "label")
            boxes[n.id] = Box(n, n.x, row_top[n.row], n.x + w - 1, row_top[n.row])
            continue
        x0, y0 = n.x - w // 2, row_top[n.row]
        box = boxes[n.id] = Box(n, x0, y0, x0 + w - 1, y0 + h - 1)
        rounded = n.kind in ("io", "op")
        for x in range(box.x0, box.x1 + 1):
            for y in range(box.y0, box.y1 + 1):
                dirs = set()
                if y in (box.y0, box.y1):
                    dirs |= {E_, W_} - ({W_} if x == box.x0 else set()) - ({E_} if x == box.x1 else set())
                if x in (box.x0, box.x1):
                    dirs |= {N_, S_} - ({N_} if y == box.y0 else set()) - ({S_} if y == box.y1 else set())
                if dirs:
                    put(x, y, Cell("line", dirs=dirs, owner=n.id, rounded=rounded), f"box {n.id}")
        for i, line in enumerate(n.lines):
            pad = (w - 2 - len(line)) // 2
            inner = " " * pad + line + " " * (w - 2 - pad - len(line))
            for j, ch in enumerate(inner):
                put(box.x0 + 1 + j, box.y0 + 1 + i, Cell("text", ch, owner=n.id), f"box {n.id}")
            runs.append(TextRun(box.x0 + 1 + pad, box.y0 + 1 + i, line, "box"))

    routes = []
    for e in d.edges:
        what = f"edge {e.src}→{e.dst}"
        pts = _route(e, boxes[e.src], boxes[e.dst])
        path = _cells_of(pts)
        if len(path) < 3 or _direction(path[-3], path[-2]) != _direction(path[-2], path[-1]):
            raise LayoutError(f"{where}: {what}: no room for the arrowhead")
        start = cells[path[0]]
        if start.owner != e.src:
            raise LayoutError(f"{where}: {what} does not leave from its box")
        start.dirs.add(_direction(path[0], path[1]))
        for i in range(1, len(path) - 2):
            p = path[i]
            c = cells.get(p)
            if c is None:
                c = cells[p] = Cell("line")
            elif c.kind != "line" or c.owner is not None:
                raise LayoutError(f"{where}: {what} runs through {p}, already drawn")
            c.dirs |= {_direction(p, path[i + 1]), OPPOSITE[_direction(path[i - 1], p)]}
        head = ARROWS[_direction(path[-2], path[-1])]
        c = cells.get(path[-2])
        if c is not None and not (c.kind == "arrow" and c.char == head):
            raise LayoutError(f"{where}: {what}: arrowhead at {path[-2]} lands on something")
        cells[path[-2]] = Cell("arrow", head)
        if cells.get(path[-1]) is None or cells[path[-1]].owner != e.dst:
            raise LayoutError(f"{where}: {what} does not end at its box")
        routes.append(pts)
        if e.label:
            segs = list(zip(pts, pts[1:], strict=False))
            if e.lane is not None:
                seg = segs[1]
            else:
                vertical = [s for s in segs if s[0][0] == s[1][0]]
                seg = max(vertical or segs, key=lambda s: abs(s[1][1] - s[0][1]) + abs(s[1][0] - s[0][0]))
            (ax, ay), (bx, by) = seg
            if ax == bx:
                y = (ay + by) // 2
                x = ax + 2 if e.label_side == "right" else ax - 1 - len(e.label)
            else:
                y, x = ay - 1, (ax + bx) // 2 - len(e.label) // 2
            text(x, y, e.label, "edge")

    bottom = max(y for _, y in cells) + 2
    for i, line in enumerate(d.notes):
        if line.strip():
            text(0, bottom + i, line, "note")
    width = max(x for x, _ in cells) + 1
    height = max(y for _, y in cells) + 1
    return Placed(d, boxes, routes, runs, cells, width, height)


# ------------------------------------------------------------------------ renderers


def to_text(p: Placed) -> str:
    grid = [[" "] * p.width for _ in range(p.height)]
    for (x, y), c in p.cells.items():
        if c.kind == "line":
            key = frozenset(c.dirs)
            ch = ROUNDED.get(key) if c.rounded else None
            grid[y][x] = ch or LINE_CHARS[key]
        else:
            grid[y][x] = c.char
    lines = ["".join(row).rstrip() for row in grid]
    too_wide = [i for i, s in enumerate(lines) if len(s) > MAX_COLUMNS]
    if too_wide:
        raise LayoutError(f"diagram {p.diagram.name}: lines {too_wide} are over {MAX_COLUMNS} columns")
    return "\n".join(lines) + "\n"


SX, SY, PAD = 9, 18, 12        # pixels per column, per line; margin
FONT = "Helvetica, Arial, sans-serif"
MONO = "Menlo, Consolas, 'DejaVu Sans Mono', monospace"
STYLE = {                       # fill, stroke
    "conv": ("#dbeafe", "#1e40af"),
    "bn": ("#fef9c3", "#a16207"),
    "act": ("#dcfce7", "#166534"),
    "pool": ("#ede9fe", "#5b21b6"),
    "fc": ("#fce7f3", "#9d174d"),
    "attn": ("#ffedd5", "#9a3412"),
    "block": ("#f1f5f9", "#334155"),
    "stage": ("#e0f2fe", "#075985"),
    "io": ("#ffffff", "#475569"),
    "op": ("#ffffff", "#111827"),
}
INK = "#111827"


def _n(v: float) -> str:
    return f"{v:g}"


def to_svg(p: Placed) -> str:
    w, h = p.width * SX + 2 * PAD, p.height * SY + 2 * PAD

    def px(x: float) -> float:
        return PAD + (x + 0.5) * SX

    def py(y: float) -> float:
        return PAD + (y + 0.5) * SY

    out = [
        f'<svg xmlns="http://www.w3.org/2000/svg" width="{w}" height="{h}" viewBox="0 0 {w} {h}" '
        f'font-family="{FONT}" font-size="13">',
        f"<title>{escape(p.diagram.title)}</title>",
        "<defs>",
        '<marker id="arrow" viewBox="0 0 10 10" refX="9" refY="5" markerWidth="7" markerHeight="7" '
        'orient="auto"><path d="M0,0 L10,5 L0,10 z" fill="#334155"/></marker>',
        "</defs>",
        f'<rect x="0" y="0" width="{w}" height="{h}" fill="#ffffff"/>',
    ]
    for pts in p.routes:
        coords = " ".join(f"{_n(px(x))},{_n(py(y))}" for x, y in pts)
        out.append(f'<polyline points="{coords}" fill="none" stroke="#334155" stroke-width="1.5" '
                   'marker-end="url(#arrow)"/>')
    for box in p.boxes.values():
        kind = box.node.kind
        if kind == "label":
            continue
        fill, stroke = STYLE[kind]
        if kind == "op":
            out.append(f'<circle cx="{_n(px(box.cx))}" cy="{_n(py(box.my))}" r="{SY}" fill="{fill}" '
                       f'stroke="{stroke}" stroke-width="1.5"/>')
        else:
            rx = 9 if kind == "io" else 3
            out.append(f'<rect x="{_n(px(box.x0))}" y="{_n(py(box.y0))}" '
                       f'width="{_n((box.x1 - box.x0) * SX)}" height="{_n((box.y1 - box.y0) * SY)}" '
                       f'rx="{rx}" fill="{fill}" stroke="{stroke}" '
                       'stroke-width="1.2"/>')
    base = 4.5                   # baseline below a line's centre, for 13 px text
    for run in p.runs:
        t = escape(run.text)
        if run.role == "box":
            box = next(b for b in p.boxes.values() if b.x0 < run.x <= b.x1 and b.y0 < run.y < b.y1)
            size = ' font-size="17"' if box.node.kind == "op" else ""
            out.append(f'<text x="{_n(px(box.cx))}" y="{_n(py(run.y) + base)}" text-anchor="middle" '
                       f'fill="{INK}"{size}>{t}</text>')
        elif run.role == "title":
            out.append(f'<text x="{_n(px(run.x) - SX / 2)}" y="{_n(py(run.y) + base)}" font-size="15" '
                       f'font-weight="bold" fill="{INK}">{t}</text>')
        elif run.role == "label":
            out.append(f'<text x="{_n(px(run.x) - SX / 2)}" y="{_n(py(run.y) + base)}" font-weight="bold" '
                       f'fill="{INK}">{t}</text>')
        elif run.role == "edge":
            out.append(f'<text x="{_n(px(run.x) - SX / 2)}" y="{_n(py(run.y) + base)}" font-size="12" '
                       f'fill="#475569">{t}</text>')
        else:                    # note: monospace, spaces kept, so the tables line up
            out.append(f'<text x="{_n(px(run.x) - SX / 2)}" y="{_n(py(run.y) + base)}" font-family="{MONO}" '
                       f'font-size="12" xml:space="preserve" fill="{INK}">{t}</text>')
    out.append("</svg>")
    return "\n".join(out) + "\n"


def readme() -> str:
    lines = [
        "# Diagrams",
        "",
        "Drawn by [draw.py](draw.py) from one description per diagram, as SVG and as plain text",
        "(at most 76 columns). Edit draw.py, never these files; regenerate with",
        "`python docs/diagrams/draw.py`. `python docs/diagrams/draw.py --check` (run by",
        "tests/test_diagrams.py) fails when a file here is stale.",
        "",
    ]
    for name, make in DIAGRAMS.items():
        d = make()
        lines += [f"## {d.title}", "", f"![{d.title}]({name}.svg)", "",
                  f"Plain text: [{name}.txt]({name}.txt)", ""]
    return "\n".join(lines)


def outputs() -> dict[Path, str]:
    """Every file this script writes, with the text it writes."""
    files: dict[Path, str] = {}
    for name, make in DIAGRAMS.items():
        placed = layout(make())
        files[HERE / f"{name}.svg"] = to_svg(placed)
        files[HERE / f"{name}.txt"] = to_text(placed)
    files[HERE / "README.md"] = readme()
    return files


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--check", action="store_true", help="exit 1 if a written file would change")
    args = ap.parse_args(argv)
    files = outputs()
    if args.check:
        stale = [p for p, text in files.items()
                 if not p.is_file() or p.read_text(encoding="utf-8") != text]
        for p in stale:
            print(f"stale: {p.relative_to(HERE.parents[1])}", file=sys.stderr)
        if stale:
            print("run: python docs/diagrams/draw.py", file=sys.stderr)
            return 1
        print(f"{len(files)} files up to date")
        return 0
    for p, text in files.items():
        p.write_text(text, encoding="utf-8", newline="\n")
        print(f"wrote {p.relative_to(HERE.parents[1])}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
