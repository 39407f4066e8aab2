"""check_graph(localize=True): a failing graph's gates are checked one by one at the values
of the forward pass, and the one whose backward disagrees with its forward is named."""

import numpy as np

from checks import check_graph
from graph import ComputationalGraph, Sequential


def scale_forward(x, s):
    """out = x * s, s of shape (D,) scaling each column of x (N, D)."""
    return x * s, (x, s)


def scale_backward(dout, cache):
    x, s = cache
    return dout * s, 2 * (dout * x).sum(axis=0)     # bug: ds is twice too large


def scale_backward_right(dout, cache):
    x, s = cache
    return dout * s, (dout * x).sum(axis=0)


def network(backward, rng):
    return Sequential(
        ("affine", {"W1": 0.5 * rng.standard_normal((5, 6)), "b1": rng.standard_normal(6)}),
        "tanh",
        ((scale_forward, backward), {"s": rng.standard_normal(6)}),
        ("affine", {"W2": 0.5 * rng.standard_normal((6, 3)), "b2": np.zeros(3)}),
        loss="softmax_loss")


def feeds(rng):
    return dict(x=rng.standard_normal((4, 5)), y=np.array([0, 2, 1, 2]))


def test_the_one_wrong_user_gate_among_library_gates_is_named():
    rng = np.random.default_rng(0)
    net = network(scale_backward, rng)
    report = check_graph(net, **feeds(rng))
    assert not report.ok
    assert [(label, gate.ok) for label, gate in report.gates] == [
        ("gate 'affine1' (affine)", True), ("gate 'tanh1' (tanh)", True),
        ("gate 'scale1' (scale)", False), ("gate 'affine2' (affine)", True),
        ("gate 'loss' (softmax_loss)", True)]
    lines = str(report).splitlines()
    start = lines.index("  each gate at the values of the forward pass (1 of 5 disagree with "
                        "their forward):")
    assert lines[start + 1:] == [
        "    gate 'affine1' (affine): ok",
        "    gate 'tanh1' (tanh): ok",
        "    gate 'scale1' (scale): FAILED: s max rel err 3.3e-01, analytic = 2 x numeric",
        "    gate 'affine2' (affine): ok",
        "    gate 'loss' (softmax_loss): ok"]


def test_gates_are_checked_at_the_values_of_the_forward_pass():
    from checks import check_layer

    rng = np.random.default_rng(1)
    net = network(scale_backward, rng)
    values = feeds(rng)
    report = check_graph(net, **values)
    net.forward(**values)
    seen = check_layer(scale_forward, scale_backward, net.value("tanh1"), net.params["s"],
                       name="scale1")
    assert str(dict(report.gates)["gate 'scale1' (scale)"]) == str(seen)


def test_a_gate_that_ignores_dout_is_named_through_its_problem():
    def ignoring_backward(dout, cache):
        return scale_backward_right(np.ones_like(dout), cache)

    rng = np.random.default_rng(2)
    report = check_graph(network(ignoring_backward, rng), **feeds(rng))
    failing = [(label, gate.summary()) for label, gate in report.gates if not gate.ok]
    assert len(failing) == 1 and failing[0][0] == "gate 'scale1' (scale)"
    assert failing[0][1].startswith("FAILED: backward is not linear in dout")


def test_a_wrong_gate_used_twice_is_named_twice():
    g = ComputationalGraph()
    x, s = g.input("x"), g.param("s", np.array([0.5, -1.5, 2.0]))
    first = g.gate((scale_forward, scale_backward), x, s, name="first")
    second = g.gate((scale_forward, scale_backward), first.tanh(), s, name="second")
    second.sum()
    report = check_graph(g, x=np.random.default_rng(3).standard_normal((2, 3)))
    assert [label for label, gate in report.gates if not gate.ok] == [
        "gate 'first' (scale)", "gate 'second' (scale)"]


def test_a_correct_graph_checks_no_gate_and_localize_false_checks_none():
    rng = np.random.default_rng(4)
    right = check_graph(network(scale_backward_right, rng), **feeds(rng))
    assert right.ok and right.gates == []
    assert "each gate" not in str(right)
    rng = np.random.default_rng(4)
    wrong = check_graph(network(scale_backward, rng), localize=False, **feeds(rng))
    assert not wrong.ok and wrong.gates == []
