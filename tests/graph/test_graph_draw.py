"""Drawing a ComputationalGraph: a matplotlib Figure as the notes draw circuits, and DOT."""

import matplotlib

matplotlib.use("Agg")

import numpy as np  # noqa: E402
from matplotlib.colors import to_rgba  # noqa: E402
from matplotlib.figure import Figure  # noqa: E402

from graph import ComputationalGraph, Sequential, draw  # noqa: E402


def fan_out_example(run=True):
    """(x + y) * max(y, z) at x = 1, y = 2, z = 0: y fans out."""
    g = ComputationalGraph("fan_out")
    x, y, z = g.input("x"), g.input("y"), g.input("z")
    g.gate("multiply", x + y, g.maximum(y, z), name="f")
    if run:
        g.forward(x=1.0, y=2.0, z=0.0)
        g.backward()
    return g


def texts(figure, color=None):
    found = [t for ax in figure.axes for t in ax.texts]
    if color is not None:
        found = [t for t in found if to_rgba(t.get_color()) == to_rgba(color)]
    return [t.get_text() for t in found]


def test_draw_returns_a_figure_with_labelled_nodes_values_and_gradients():
    figure = fan_out_example().draw()
    assert isinstance(figure, Figure)
    labels = texts(figure)
    for name in ("x", "y", "z", "+", "max", "*", "f"):
        assert name in labels
    # Values above the wires in green, gradients below in red (the notes' colours).
    assert sorted(texts(figure, "green")) == sorted(
        ["1.00", "2.00", "2.00", "0.00", "3.00", "2.00", "6.00"])
    assert sorted(texts(figure, "red")) == sorted(
        ["2.00", "2.00", "3.00", "0.00", "2.00", "3.00", "1.00", "sum 5.00"])


def test_draw_before_forward_shows_the_circuit_only():
    figure = draw(fan_out_example(run=False))
    assert texts(figure, "green") == [] and texts(figure, "red") == []
    assert {"x", "y", "z", "+", "max", "*", "f"} <= set(texts(figure))


def test_constants_join_the_op_as_in_the_notes():
    g = ComputationalGraph()
    x = g.input("x")
    g.gate("divide", 1.0, (-x).exp() + 1)
    labels = texts(g.draw())
    assert {"*-1", "exp", "+1", "1/x", "output"} <= set(labels)


def test_arrays_are_shown_by_shape_and_summary():
    net = Sequential(("affine", {"W": np.ones((3, 2)), "b": np.zeros(2)}), loss="softmax_loss")
    net.forward(x=np.ones((4, 3)), y=np.array([0, 1, 1, 0]))
    net.backward()
    labels = texts(net.draw())
    assert "(4, 3) 1\u00b10" in labels             # x: shape, mean +- std
    assert "(4,) int64" in labels                  # integer labels
    assert {"affine", "softmax_loss", "loss", "W", "b"} <= set(labels)


def test_draw_into_given_axes():
    figure = Figure()
    ax = figure.add_subplot()
    assert fan_out_example().draw(ax=ax) is figure
    assert "max" in texts(figure)


def test_to_dot():
    dot = fan_out_example().to_dot()
    assert dot.startswith('digraph "fan_out" {\n  rankdir=LR;')
    assert 'n1 [label="y", shape=plaintext, fontcolor=black];' in dot
    assert 'g1 [label="max", shape=circle];' in dot
    assert 'g2 [label="*\\nf", shape=circle];' in dot
    assert ('n1 -> g1 [label=<<font color="darkgreen">2.00</font><br/>'
            '<font color="red">3.00</font>>];') in dot
    assert 'g2 -> out [label=<<font color="darkgreen">6.00</font><br/>' in dot
    assert dot.rstrip().endswith("}")


def split_forward(x):
    return 2 * x, 3 * x, None


def split_backward(dout_a, dout_b, cache):
    return 2 * dout_a + 3 * dout_b


def test_two_outputs_feeding_one_gate_curve_apart_and_show_their_index():
    g = ComputationalGraph()
    a, b = g.gate((split_forward, split_backward), g.input("x"), name="s")
    g.gate("multiply", a, b, name="f")
    g.forward(x=1.0)
    g.backward()
    figure = g.draw()
    assert sorted(t for t in texts(figure) if t.startswith(":")) == [":0", ":1"]
    # Values 2 and 3 on the two wires, 6 at the output; gradients 3 and 2, then 1.
    assert sorted(texts(figure, "green")) == ["1.00", "2.00", "3.00", "6.00"]
    arrows = [t.arrow_patch for t in figure.axes[0].texts if getattr(t, "arrow_patch", None)]
    rads = sorted(arrow.get_connectionstyle().rad for arrow in arrows)
    assert rads == [-0.15, 0.0, 0.0, 0.15]        # x->s and f->output straight


def gate_x(figure, label):
    (x, _), = [t.get_position() for t in figure.axes[0].texts if t.get_text() == label]
    return x


def test_a_chain_is_drawn_left_to_right_in_layers():
    g = ComputationalGraph()
    g.input("x").exp().log().tanh()
    figure = g.draw()
    xs = [gate_x(figure, label) for label in ("x", "exp", "log", "tanh", "output")]
    assert xs == sorted(xs) and len(set(xs)) == 5


def test_an_input_made_the_output_is_not_drawn_on_a_gate():
    g = ComputationalGraph()
    x = g.input("x")
    x.exp()
    g.output(x)
    figure = g.draw()
    exp_x = gate_x(figure, "exp")
    leaf, output = sorted(t.get_position() for t in figure.axes[0].texts if t.get_text() == "x")
    assert leaf[0] < exp_x < output[0]             # the output label right of the gate
