"""Draw the three worked examples of the backpropagation notes as the notes draw them.

Writes ``docs/worked_example_1.png`` ((x + y) * z), ``docs/worked_example_2.png`` (the
sigmoid neuron from primitive gates) and ``docs/worked_example_3.png`` ((x + y) * max(y, z),
where y fans out). Run: ``python docs/worked_examples.py``.
"""

from pathlib import Path

from graph import ComputationalGraph


def add_multiply():
    g = ComputationalGraph("example_1")
    x, y, z = g.input("x"), g.input("y"), g.input("z")
    g.gate("multiply", g.gate("add", x, y, name="q"), z, name="f")
    return g, dict(x=-2.0, y=5.0, z=-4.0)


def sigmoid_neuron():
    g = ComputationalGraph("example_2")
    w0, x0, w1, x1, w2 = (g.input(name) for name in ("w0", "x0", "w1", "x1", "w2"))
    dot = w0 * x0 + w1 * x1 + w2
    g.gate("divide", 1.0, (-dot).exp() + 1.0, name="f")
    return g, dict(w0=2.0, x0=-1.0, w1=-3.0, x1=-2.0, w2=-3.0)


def fan_out():
    g = ComputationalGraph("example_3")
    x, y, z = g.input("x"), g.input("y"), g.input("z")
    g.gate("multiply", g.gate("add", x, y, name="a"), g.maximum(y, z, name="b"), name="f")
    return g, dict(x=1.0, y=2.0, z=0.0)


def main():
    here = Path(__file__).parent
    for number, build in enumerate((add_multiply, sigmoid_neuron, fan_out), start=1):
        g, feeds = build()
        g.forward(**feeds)
        g.backward()
        path = here / f"worked_example_{number}.png"
        g.draw().savefig(path, dpi=110)
        print(path)


if __name__ == "__main__":
    main()
