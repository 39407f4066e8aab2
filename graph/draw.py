"""Pictures of a ComputationalGraph, drawn as the lecture notes draw circuits.

Inputs and params sit on the left as labels, gates are circles marked with their op, and
wires run left to right in topological layers. After a forward pass each wire carries its
value above it (green); after a backward pass, the gradient that flowed back along it
below it (red). Where a value fans out, each wire shows its own share and the value's
source shows their sum: the picture of the fan-out rule. Arrays are shown by their shape
and mean +- standard deviation. Wires from output k of a gate with several outputs are
marked ``:k`` at their start (the suffix of the node's name, ``"s:k"``), and wires that
join the same two items curve apart instead of overprinting.

`draw` needs matplotlib only (no Graphviz); `to_dot` writes Graphviz DOT text for users
who have it. matplotlib is imported when `draw` is first called.
"""

import html

import numpy as np

from .node import Gate

__all__ = ["draw", "to_dot"]

VALUE_COLOR, GRAD_COLOR = "green", "red"
SYMBOLS = {"add": "+", "subtract": "-", "multiply": "*", "divide": "/", "matmul": "@",
           "power": "**", "maximum": "max"}

RADIUS = 0.22        # inches: the circle of a gate with a short label
TEXT_WIDTH = 0.1     # inches per character of an 11-point label, roughly
LABEL_WIDTH = 0.075  # the same for the 9-point labels of the wires
ROW_GAP = 1.0        # inches between rows
SWEEPS = 30          # passes that straighten the rows of the gates
PARALLEL_RAD = 0.3   # curvature between two wires that join the same two items
NAME_OFFSET = RADIUS * 72 + 4  # points from a gate's centre to its name: clear of the circle


def draw(graph, ax=None, max_nodes=200):
    """The circuit of `graph` as a matplotlib Figure.

    Parameters
    ----------
    graph : ComputationalGraph
    ax : matplotlib Axes, optional
        Draw into these axes; by default a new Figure sized to the circuit.
    max_nodes : int
        Refuse graphs with more inputs, params and gates than this: their pictures are
        not legible.

    Returns
    -------
    matplotlib.figure.Figure
        Not attached to pyplot: ``fig.savefig(path)``, or display it in a notebook.
    """
    from matplotlib.figure import Figure

    wires = _wires(graph)
    items = [node for node in graph._nodes if node.gate is None] + graph._structure()
    if len(items) > max_nodes:
        raise ValueError(f"draw: the graph has {len(items)} inputs, params and gates; "
                         f"pictures are legible up to max_nodes={max_nodes} (pass a larger "
                         "max_nodes to draw it anyway)")
    longest = max([len(w.value_text) for w in wires] + [len(w.grad_text) for w in wires]
                  + [4])
    widest_gate = max([len(_op_label(gate)) for gate in graph._structure()] + [0])
    column_gap = max(1.5, LABEL_WIDTH * longest + TEXT_WIDTH * widest_gate + 0.5)
    points = {item: (column * column_gap, row * ROW_GAP)
              for item, (column, row) in _layout(graph).items()}
    output = wires[-1] if wires and wires[-1].gate is None else None
    if output is not None:
        points[output] = _output_point(output, points, column_gap)
    totals = _fan_out_totals(graph, wires)

    xs = [x for x, _ in points.values()]
    ys = [y for _, y in points.values()]
    half_width = max([len(_item_label(item)) for item in points] + [
        len(f"sum {total}") for total in totals.values()]) * TEXT_WIDTH / 2
    left, right = min(xs) - half_width - 0.3, max(xs) + half_width + 0.3
    bottom, top = min(ys) - 0.7, max(ys) + 0.7
    if ax is None:
        figure = Figure(figsize=(right - left, top - bottom))
        ax = figure.add_axes((0, 0, 1, 1))
    ax.set_xlim(left, right)
    ax.set_ylim(bottom, top)
    ax.set_aspect("equal")
    ax.set_axis_off()

    boxes = {item: _draw_item(ax, item, point) for item, point in points.items()}
    rads = _parallel_rads(wires)
    for wire, rad in zip(wires, rads):
        source, target = _ends(wire)
        start, end = points[source], points[target]
        ax.annotate("", xy=end, xytext=start,
                    arrowprops=dict(arrowstyle="-|>", color="0.35", lw=1.1, shrinkA=1,
                                    shrinkB=1, patchA=boxes[source], patchB=boxes[target],
                                    connectionstyle=f"arc3,rad={rad:g}"))
        _label_wire(ax, start, end, rad, wire)
    for node, total in totals.items():
        x, y = points[node.gate or node]
        ax.annotate(f"sum {total}", xy=(x, y), xytext=(0, -14), textcoords="offset points",
                    ha="center", va="top", fontsize=8, color=GRAD_COLOR)
    return ax.figure


def _draw_item(ax, item, point):
    """Draw a leaf (its name), a gate (its op in a circle) or the output label; return
    the patch that wires attach to."""
    from matplotlib.patches import Circle

    label = _item_label(item)
    if isinstance(item, Gate):
        if len(label) <= 3:
            box = Circle(point, RADIUS, facecolor="white", edgecolor="0.2", lw=1.3)
            ax.add_patch(box)
            ax.text(*point, label, ha="center", va="center", fontsize=10)
        else:
            text = ax.text(*point, label, ha="center", va="center", fontsize=10,
                           bbox=dict(boxstyle="round,pad=0.4", facecolor="white",
                                     edgecolor="0.2", lw=1.3))
            box = text.get_bbox_patch()
        if item.named:
            ax.annotate(item.name, xy=point, xytext=(0, NAME_OFFSET), textcoords="offset points",
                        ha="center", va="bottom", fontsize=8, color="0.4", style="italic")
        return box
    else:
        color = "navy" if getattr(item, "kind", None) == "param" else "black"
        text = ax.text(*point, label, ha="center", va="center", fontsize=11, color=color,
                       bbox=dict(boxstyle="square,pad=0.15", facecolor="none",
                                 edgecolor="none"))
    return text.get_bbox_patch()


def _item_label(item):
    if isinstance(item, Gate):
        return _op_label(item)
    if isinstance(item, _Wire):
        return _output_label(item.source)
    return item.name


def _label_wire(ax, start, end, rad, wire):
    """The value above the wire's middle, the gradient below, each on the side of a
    sloping wire that the wire does not cross; ``:k`` near the start of a wire from
    output k of a gate with several outputs."""
    middle = _curve_point(start, end, rad, 0.5)
    source_gate = wire.source.gate
    if source_gate is not None and len(source_gate.outputs) > 1:
        ax.annotate(f":{wire.source.index}", xy=_curve_point(start, end, rad, 0.25),
                    xytext=(0, 3), textcoords="offset points", ha="center", va="bottom",
                    fontsize=8, color="0.4")
    slope = (end[1] - start[1]) / max(end[0] - start[0], 1e-9)
    if abs(slope) < 0.05:
        above, below = "center", "center"
    elif slope < 0:
        # Falling wire: it is empty up-right and down-left of its middle.
        above, below = "left", "right"
    else:
        above, below = "right", "left"
    for text, color, offset, vertical, horizontal in (
            (wire.value_text, VALUE_COLOR, 2, "bottom", above),
            (wire.grad_text, GRAD_COLOR, -2, "top", below)):
        if text:
            ax.annotate(text, xy=middle, xytext=(0, offset), textcoords="offset points",
                        ha=horizontal, va=vertical, color=color, fontsize=9)


def _ends(wire):
    """The items a wire joins: its source's gate (or the leaf), and its gate (or itself,
    for the output wire)."""
    return wire.source.gate or wire.source, wire if wire.gate is None else wire.gate


def _parallel_rads(wires):
    """The arc3 curvature of each wire: 0 for a wire of its own, and spread around 0 for
    wires that join the same two items (two outputs of one gate feeding one consumer,
    ``a + a``), so that they do not overprint."""
    groups = {}
    for k, wire in enumerate(wires):
        groups.setdefault(_ends(wire), []).append(k)
    rads = [0.0] * len(wires)
    for members in groups.values():
        for rank, k in enumerate(members):
            rads[k] = PARALLEL_RAD * (rank - (len(members) - 1) / 2)
    return rads


def _curve_point(start, end, rad, t):
    """The point at parameter `t` of matplotlib's arc3 curve from `start` to `end`: a
    quadratic Bezier whose control point is the middle moved by rad * (dy, -dx)."""
    (x0, y0), (x2, y2) = start, end
    control = ((x0 + x2) / 2 + rad * (y2 - y0), (y0 + y2) / 2 - rad * (x2 - x0))
    a, b, c = (1 - t) ** 2, 2 * t * (1 - t), t ** 2
    return (a * x0 + b * control[0] + c * x2, a * y0 + b * control[1] + c * y2)


def _output_point(wire, points, column_gap):
    """Where the output label goes: one column right of the gate that computes it; for
    an input or param (which also feeds gates), right of everything and one row below,
    so that its wire does not end on a gate."""
    source = wire.source
    if source.gate is not None:
        x, y = points[source.gate]
        return (x + column_gap, y)
    return (max(x for x, _ in points.values()) + column_gap,
            min(y for _, y in points.values()) - ROW_GAP)


def _output_label(node):
    """The output wire's label: the node's name when the user chose it."""
    return node.name if node.gate is None or node.gate.named else "output"


def to_dot(graph):
    """The circuit of `graph` as Graphviz DOT text (``dot -Tpng``), values and gradients
    on the edges as `draw` shows them.

    Returns
    -------
    str
    """
    lines = [f"digraph {_quote(graph.name)} {{", "  rankdir=LR;",
             '  node [fontname="Helvetica"]; edge [fontname="Helvetica", fontsize=10];']
    for node in graph._nodes:
        if node.gate is None:
            color = "navy" if node.kind == "param" else "black"
            lines.append(f"  n{node.id} [label={_quote(node.name)}, shape=plaintext, "
                         f"fontcolor={color}];")
    for gate in graph._structure():
        label = _quote(_op_label(gate), gate.name) if gate.named else _quote(_op_label(gate))
        lines.append(f"  g{gate.id} [label={label}, shape=circle];")
    for wire in _wires(graph):
        source = f"n{wire.source.id}" if wire.source.gate is None else \
            f"g{wire.source.gate.id}"
        if wire.gate is None:
            lines.append(f"  out [label={_quote(_output_label(wire.source))}, "
                         "shape=plaintext];")
            target = "out"
        else:
            target = f"g{wire.gate.id}"
        parts = [f'<font color="{color}">{html.escape(text)}</font>'
                 for text, color in ((wire.value_text, "darkgreen"),
                                     (wire.grad_text, GRAD_COLOR)) if text]
        label = f" [label=<{'<br/>'.join(parts)}>]" if parts else ""
        lines.append(f"  {source} -> {target}{label};")
    lines.append("}")
    return "\n".join(lines) + "\n"


# -- what the picture shows -------------------------------------------------------------------

class _Wire:
    """An edge of the picture: `source` feeds argument `position` of `gate` (None: the
    output wire), with the texts of its value and gradient."""

    __slots__ = ("source", "gate", "position", "value_text", "grad_text")

    def __init__(self, source, gate, position, value_text, grad_text):
        self.source, self.gate, self.position = source, gate, position
        self.value_text, self.grad_text = value_text, grad_text


def _wires(graph):
    """Every edge in topological order, then the output wire (when there is an output)."""
    run = _run(graph)
    wires = []
    for gate in graph._structure():
        for position, node_id in gate.slots:
            node = graph._nodes[node_id]
            value = _format(run.values[node_id]) if run else ""
            grad = ""
            if run and run.edge_grads is not None and run.edge_grads[gate.id] is not None:
                grad = _format(run.edge_grads[gate.id].get(position))
            wires.append(_Wire(node, gate, position, value, grad))
    try:
        output = graph._output_node()
    except ValueError:
        return wires
    value = _format(run.values[output.id]) if run else ""
    grad = _format(run.dout) if run and run.output is output else ""
    wires.append(_Wire(output, None, 0, value, grad))
    return wires


def _run(graph):
    """The graph's last forward pass, if it is still current."""
    run = graph._run
    return run if run is not None and run.version == graph._version else None


def _fan_out_totals(graph, wires):
    """node -> the text of its summed gradient, for every node that feeds several wires."""
    run = _run(graph)
    if run is None or run.grads is None:
        return {}
    counts = {}
    for wire in wires:
        counts[wire.source] = counts.get(wire.source, 0) + 1
    return {node: _format(run.grads[node.id]) for node, count in counts.items()
            if count > 1 and run.grads[node.id] is not None}


def _op_label(gate):
    """The op as the notes write it: ``+``, ``*``, ``max``; a constant joins it (``*-1``)."""
    symbol = SYMBOLS.get(gate.layer, gate.layer)
    constants = [(position, arg) for position, arg in enumerate(gate.args)
                 if position not in dict(gate.slots)]
    if len(gate.args) == 2 and len(constants) == 1 and isinstance(
            constants[0][1], (int, float, np.number)):
        position, constant = constants[0]
        text = f"{float(constant):g}"
        return f"{text}{symbol}x" if position == 0 else f"{symbol}{text}"
    return symbol


def _format(value):
    """A scalar with two decimals as the notes print it; an array by shape and summary."""
    if value is None:
        return ""
    array = np.asarray(value)
    if array.size == 1 and np.issubdtype(array.dtype, np.number):
        return _number(float(array.reshape(())))
    if not np.issubdtype(array.dtype, np.floating) or array.size == 0:
        return f"{array.shape} {array.dtype}"
    return f"{array.shape} {array.mean():.2g}\u00b1{array.std():.2g}"


def _number(value):
    if value == 0 or 1e-2 <= abs(value) < 1e4:
        text = f"{value:.2f}"
        return "0.00" if text == "-0.00" else text
    return f"{value:.1e}"


# -- geometry ------------------------------------------------------------------------------------

def _layout(graph):
    """item -> (column, row) for every leaf and gate.

    Columns: a gate one right of its latest input gate, a leaf one left of its first
    consumer. Rows: first the gates, a few sweeps moving each towards the mean row of the
    gates it is wired to (the spine of the circuit straightens); then each leaf at its
    consumer's row, spread by argument position (the first argument on top), in the
    free row nearest to that.
    """
    order = graph._structure()
    links = {gate: [] for gate in order}
    uses = {node: [] for node in graph._nodes if node.gate is None}
    for gate in order:
        for rank, (_, node_id) in enumerate(gate.slots):
            node = graph._nodes[node_id]
            if node.gate is None:
                uses[node].append((gate, (len(gate.slots) - 1) / 2 - rank))
            else:
                links[gate].append(node.gate)
                links[node.gate].append(gate)
    column = {}
    for gate in order:
        column[gate] = 1 + max((column[g] for g in links[gate] if g in column), default=0)
    for leaf, used in uses.items():
        column[leaf] = min((column[gate] for gate, _ in used), default=1) - 1

    gates_in = {}
    for gate in order:
        gates_in.setdefault(column[gate], []).append(gate)
    row = {}
    for gates in gates_in.values():
        _place(gates, {gate: -float(k) for k, gate in enumerate(gates)}, row)
    for sweep in range(SWEEPS):
        for key in sorted(gates_in, reverse=bool(sweep % 2)):
            gates = gates_in[key]
            wanted = {gate: _mean([row[g] for g in links[gate]], row[gate]) for gate in gates}
            _place(gates, wanted, row)

    wanted = {leaf: _mean([row[gate] + offset for gate, offset in used], 0.0)
              for leaf, used in uses.items()}
    for leaf in sorted(uses, key=lambda leaf: -wanted[leaf]):
        taken = [row[item] for item in row if column[item] == column[leaf]]
        row[leaf] = _free_row(wanted[leaf], taken)
    return {item: (column[item], row[item]) for item in row}


def _mean(values, default):
    return sum(values) / len(values) if values else default


def _place(items, wanted, row):
    """Rows for one column's gates: each as close to `wanted` as a gap of one row allows
    (top to bottom in wanted order, then the column shifted to the mean of wanted)."""
    items.sort(key=lambda item: -wanted[item])
    placed = []
    for item in items:
        placed.append(wanted[item] if not placed else min(wanted[item], placed[-1] - 1.0))
    shift = _mean([wanted[item] - y for item, y in zip(items, placed)], 0.0)
    for item, y in zip(items, placed):
        row[item] = y + shift


def _free_row(wanted, taken):
    """The row nearest to `wanted` at least one row away from every row in `taken`
    (the higher one on a tie)."""
    candidates = [wanted] + [y + step for y in taken for step in (1.0, -1.0)]
    free = [c for c in candidates if all(abs(c - y) >= 1.0 - 1e-9 for y in taken)]
    return min(free, key=lambda c: (abs(c - wanted), -c))


def _quote(*lines):
    """A DOT string of `lines`, escaped, joined by DOT's line break."""
    escaped = [str(line).replace("\\", "\\\\").replace('"', '\\"') for line in lines]
    return '"' + "\\n".join(escaped) + '"'
