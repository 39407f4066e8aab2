"""ComputationalGraph: the worked examples of the notes, networks against closed forms,
fan-out, structure reuse, and graphs of 100,000 gates."""

import inspect

import numpy as np
import pytest

from checks.graph_check import check_graph
from graph import ComputationalGraph, Sequential
from graph import computational_graph

EXACT = dict(rel=0, abs=1e-10)


def scalar_inputs(g, names):
    return [g.input(name) for name in names.split()]


# -- the worked examples of the backpropagation notes ----------------------------------------

def test_example_1_add_then_multiply():
    g = ComputationalGraph()
    x, y, z = scalar_inputs(g, "x y z")
    q = g.gate("add", x, y)
    f = g.gate("multiply", q, z)

    assert g.forward(x=-2.0, y=5.0, z=-4.0) == -12.0
    assert q.value == 3.0 and g.value("add1") == 3.0
    grads = g.backward()
    assert grads == {"x": -4.0, "y": -4.0, "z": 3.0}
    assert g.grad(q) == -4.0 and f.grad == 1.0
    assert all(isinstance(grad, np.ndarray) and grad.dtype == np.float64
               for grad in grads.values())


def test_example_1_with_operators_is_the_same_graph():
    g = ComputationalGraph()
    x, y, z = scalar_inputs(g, "x y z")
    f = (x + y) * z
    assert [gate.layer for gate in g._gates] == ["add", "multiply"]
    assert g.forward(x=-2, y=5, z=-4) == -12.0
    assert g.backward() == {"x": -4.0, "y": -4.0, "z": 3.0}
    assert f.value == -12.0


def sigmoid_neuron(merged):
    """f(w, x) = 1 / (1 + exp(-(w0 x0 + w1 x1 + w2))), from four primitive gates or one."""
    g = ComputationalGraph()
    w0, x0, w1, x1, w2 = scalar_inputs(g, "w0 x0 w1 x1 w2")
    dot = g.gate("add", w0 * x0 + w1 * x1, w2, name="dot")
    if merged:
        g.gate("sigmoid", dot, name="f")
    else:
        denominator = g.gate("add", g.gate("exp", g.gate("multiply", dot, -1.0)), 1.0)
        g.gate("divide", 1.0, denominator, name="f")
    return g


@pytest.mark.parametrize("merged", [False, True], ids=["four-gates", "sigmoid-gate"])
def test_example_2_sigmoid_neuron(merged):
    g = sigmoid_neuron(merged)
    f = g.forward(w0=2.0, x0=-1.0, w1=-3.0, x1=-2.0, w2=-3.0)
    assert g.value("dot") == 1.0
    assert f == pytest.approx(0.7310585786, **EXACT)
    grads = g.backward()
    assert g.grad("dot") == pytest.approx(0.1966119332, **EXACT)
    assert [grads["x0"], grads["x1"]] == pytest.approx([0.3932238665, -0.5898357997], **EXACT)
    assert [grads["w0"], grads["w1"], grads["w2"]] == pytest.approx(
        [-0.1966119332, -0.3932238665, 0.1966119332], **EXACT)


def test_example_2_gate_merging_gives_the_same_gradients():
    feeds = dict(w0=0.7, x0=-1.3, w1=0.4, x1=2.1, w2=-0.2)
    four, one = sigmoid_neuron(merged=False), sigmoid_neuron(merged=True)
    assert four.forward(**feeds) == pytest.approx(one.forward(**feeds), rel=1e-15)
    four_grads, one_grads = four.backward(), one.backward()
    for name in feeds:
        assert four_grads[name] == pytest.approx(one_grads[name], rel=1e-14)


def test_example_3_fan_out_sums_the_gradients():
    g = ComputationalGraph()
    x, y, z = scalar_inputs(g, "x y z")
    a = g.gate("add", x, y, name="a")
    b = g.maximum(y, z, name="b")
    g.gate("multiply", a, b, name="f")

    assert g.forward(x=1, y=2, z=0) == 6.0
    assert (a.value, b.value) == (3.0, 2.0)
    assert g.backward() == {"x": 2.0, "y": 5.0, "z": 0.0}
    assert (a.grad, b.grad) == (2.0, 3.0)
    # The two shares that were summed into df/dy = 5, as the drawing shows them.
    run = g._run
    assert run.edge_grads[a.gate.id][1] == 2.0 and run.edge_grads[b.gate.id][0] == 3.0


def test_a_plus_a_and_a_times_a():
    g = ComputationalGraph()
    a = g.input("a")
    a + a
    assert g.forward(a=3.0) == 6.0
    assert g.backward() == {"a": 2.0}
    h = ComputationalGraph()
    b = h.input("b")
    b * b
    h.forward(b=3.0)
    assert h.backward() == {"b": 6.0}


def test_python_numbers_become_float64_and_get_gradients():
    g = ComputationalGraph()
    x, y = scalar_inputs(g, "x y")
    x * y
    out = g.forward(x=1, y=2)
    assert isinstance(out, np.ndarray) and out.dtype == np.float64 and out.shape == ()
    assert g.backward() == {"x": 2.0, "y": 1.0}


# -- networks against the closed forms of the notes -------------------------------------------

def exam_values(rng):
    """Inputs of the exam network with every z1, z2 at least 0.1 away from ReLU's kink,
    some of z2 negative (so u(z2) matters), and a one-hot y."""
    m, j, i = 4, 5, 3
    while True:
        x, w1, b1 = rng.standard_normal(m), rng.standard_normal((j, m)), rng.standard_normal(j)
        w2, b2 = rng.standard_normal((i, j)), rng.standard_normal(i)
        z1 = w1 @ x + b1
        z2 = w2 @ np.maximum(z1, 0) + b2
        if min(abs(z1).min(), abs(z2).min()) > 0.1 and (z2 < 0).any() and (z2 > 0).sum() >= 2:
            return x, w1, b1, w2, b2, np.eye(i)[1], z1, z2


def exam_closed_forms(x, w1, w2, y, z1, z2):
    """The exam problem's closed forms (tests/graph/test_exam_network.py), u the unit step."""
    u1, u2 = (z1 > 0).astype(float), (z2 > 0).astype(float)
    h1, h2 = np.maximum(z1, 0), np.maximum(z2, 0)
    yhat = np.exp(h2 - h2.max()) / np.exp(h2 - h2.max()).sum()
    error2 = u2 * (yhat - y)                       # dJ/dz2
    error1 = u1 * (w2.T @ error2)                  # dJ/dz1: u(z1_j) sum_i ... W2[i, j]
    return {"W2": np.outer(error2, h1), "b2": error2, "W1": np.outer(error1, x), "b1": error1}


def test_exam_network_matches_the_closed_forms_and_the_checker(rng):
    x, w1, b1, w2, b2, y, z1, z2 = exam_values(rng)
    g = ComputationalGraph("exam")
    W1, B1, W2, B2 = g.param("W1", w1), g.param("b1", b1), g.param("W2", w2), g.param("b2", b2)
    h1 = (W1 @ g.input("x") + B1).relu()
    h2 = (W2 @ h1 + B2).relu()
    yhat = g.gate("softmax", h2)
    -(yhat.log() * y).sum()                        # J = -sum_i y_i log yhat_i

    J = g.forward(x=x)
    grads = g.backward()
    expected = exam_closed_forms(x, w1, w2, y, z1, z2)
    for name, value in expected.items():
        np.testing.assert_allclose(grads[name], value, rtol=1e-12, atol=1e-14)
    assert J == pytest.approx(-np.log(g.value(yhat)[1]), rel=1e-14)
    report = check_graph(g, x=x)
    assert report.ok, report
    assert [arg.name for arg in report.arguments] == ["x", "W1", "b1", "W2", "b2"]


def test_exam_network_as_sequential_with_softmax_loss(rng):
    x, w1, b1, w2, b2, y, z1, z2 = exam_values(rng)
    # affine_forward computes x @ w: the notes' W x is affine with w = W^T, on a batch of 1.
    net = Sequential(("affine", {"W1": w1.T.copy(), "b1": b1}), "relu",
                     ("affine", {"W2": w2.T.copy(), "b2": b2}), "relu",
                     loss="softmax_loss")
    net.forward(x=x[None, :], y=np.array([1]))
    grads = net.backward()
    expected = exam_closed_forms(x, w1, w2, y, z1, z2)
    for name in ("W1", "W2"):
        np.testing.assert_allclose(grads[name], expected[name].T, rtol=1e-12, atol=1e-14)
    for name in ("b1", "b2"):
        np.testing.assert_allclose(grads[name], expected[name], rtol=1e-12, atol=1e-14)
    assert set(grads) == {"x", "W1", "b1", "W2", "b2"}   # integer labels get no gradient
    assert net.grad("y") is None
    assert net.scores.value.shape == (1, 3) and net.loss is net.node("loss")


def test_window_classifier_delta_and_gradients(rng):
    """Section 3: x -> z = W x + b -> h = f(z) -> s = u^T h -> p = sigmoid(s), f = tanh."""
    x = rng.standard_normal(12)                    # a window of 3 word vectors of size 4
    w, b, u = rng.standard_normal((6, 12)) * 0.3, rng.standard_normal(6), rng.standard_normal(6)
    g = ComputationalGraph("window")
    X, W, B, U = g.input("x"), g.param("W", w), g.param("b", b), g.param("u", u)
    z = g.gate("add", W @ X, B, name="z")
    h = g.gate("tanh", z, name="h")
    s = g.gate("matmul", U, h, name="s")
    p = g.gate("sigmoid", s, name="p")

    g.output(s)
    g.forward(x=x)
    grads = g.backward()
    zv = w @ x + b
    delta = u * (1 - np.tanh(zv) ** 2)             # u^T o f'(z)
    np.testing.assert_allclose(z.grad, delta, rtol=1e-13)
    np.testing.assert_allclose(grads["W"], np.outer(delta, x), rtol=1e-13)
    np.testing.assert_allclose(grads["b"], delta, rtol=1e-13)
    np.testing.assert_allclose(grads["x"], w.T @ delta, rtol=1e-12, atol=1e-15)
    np.testing.assert_allclose(grads["u"], np.tanh(zv), rtol=1e-13)

    g.output(p)                                    # the logistic output scales all by p(1-p)
    grads_p = g.backward()
    scale = p.value * (1 - p.value)
    for name in ("W", "b", "x", "u"):
        np.testing.assert_allclose(grads_p[name], scale * grads[name], rtol=1e-12,
                                   atol=1e-16)
    assert check_graph(g, x=x).ok


# -- structure: fan-out, reuse, order computed once, long chains ------------------------------

def test_diamond(rng):
    x = rng.standard_normal(5)
    g = ComputationalGraph()
    X = g.input("x")
    X.exp() * X.tanh()                             # x feeds two branches that meet again
    g.forward(x=x)
    expected = np.exp(x) * np.tanh(x) + np.exp(x) * (1 - np.tanh(x) ** 2)
    np.testing.assert_allclose(g.backward()["x"], expected, rtol=1e-14)


def build_net(w1, w2):
    g = ComputationalGraph()
    h = g.gate("relu", g.input("x") @ g.param("w1", w1))
    g.gate("mse_loss", h @ g.param("w2", w2), g.input("t"))
    return g


def test_reused_graph_equals_fresh_graphs(rng):
    w1, w2 = rng.standard_normal((4, 6)), rng.standard_normal((6, 2))
    reused = build_net(w1, w2)
    for _ in range(3):
        x, t = rng.standard_normal((3, 4)), rng.standard_normal((3, 2))
        fresh = build_net(w1, w2)
        assert reused.forward(x=x, t=t) == fresh.forward(x=x, t=t)
        got, expected = reused.backward(), fresh.backward()
        assert set(got) == set(expected) == {"x", "t", "w1", "w2"}
        for name in expected:
            assert np.array_equal(got[name], expected[name])


def test_gradients_are_fresh_on_every_backward():
    g = ComputationalGraph()
    x = g.input("x")
    x * 3.0
    g.forward(x=2.0)
    assert g.backward() == {"x": 3.0}
    assert g.backward() == {"x": 3.0}              # not 6: nothing accumulates across calls
    assert g.backward(dout=2.0) == {"x": 6.0}


def test_result_arrays_are_never_shared():
    g = ComputationalGraph()
    x, y = scalar_inputs(g, "x y")
    x + y                                          # add's backward returns dout twice
    g.forward(x=np.ones(3), y=np.ones(3))
    dout = np.arange(3.0)
    grads = g.backward(dout)
    assert grads["x"] is not grads["y"] and grads["x"] is not dout
    np.testing.assert_array_equal(grads["y"], dout)


def test_topological_order_is_computed_once_per_structure(monkeypatch):
    calls = []
    original = ComputationalGraph._topological_order

    def counted(self):
        calls.append(1)
        return original(self)

    monkeypatch.setattr(ComputationalGraph, "_topological_order", counted)
    g = ComputationalGraph()
    x = g.input("x")
    x.exp()
    for feed in (1.0, 2.0, 3.0):
        g.forward(x=feed)
        g.backward()
    assert len(calls) == 1
    x.tanh()                                       # a new gate: a new structure
    g.forward(x=1.0)
    assert len(calls) == 2


def negate_forward(x):
    return -x, None


def negate_backward(dout, cache):
    return -dout


def test_chain_of_100000_gates():
    g = ComputationalGraph()
    node = g.input("x")
    for _ in range(100_000):
        node = g.gate((negate_forward, negate_backward), node)
    x = np.array([1.5, -2.0])
    np.testing.assert_array_equal(g.forward(x=x), x)
    np.testing.assert_array_equal(g.backward(np.array([3.0, 4.0]))["x"], [3.0, 4.0])


def test_gates_may_be_declared_in_any_order_by_name():
    g = ComputationalGraph()
    x, y, z = scalar_inputs(g, "x y z")
    f = g.gate("multiply", "q", z, name="f")       # q is declared below
    g.gate("add", x, y, name="q")
    g.output(f)
    assert g.forward(x=-2.0, y=5.0, z=-4.0) == -12.0
    assert g.backward() == {"x": -4.0, "y": -4.0, "z": 3.0}


# -- layers, options, constants, params ----------------------------------------------------------

def split_forward(x):
    """A user's pair with two outputs: the positive and the negative part of x."""
    return np.maximum(x, 0), np.minimum(x, 0), x


def split_backward(dpositive, dnegative, cache):
    return np.where(cache > 0, dpositive, dnegative)


def test_a_users_pair_with_two_outputs():
    g = ComputationalGraph()
    x = g.input("x")
    positive, negative = g.gate((split_forward, split_backward), x, name="split")
    assert (positive.name, negative.name) == ("split:0", "split:1")
    positive * 3.0                                 # the negative part feeds nothing
    g.forward(x=np.array([-1.0, 2.0]))
    np.testing.assert_array_equal(negative.value, [-1.0, 0.0])
    np.testing.assert_array_equal(g.backward()["x"], [0.0, 3.0])
    np.testing.assert_array_equal(g.grad("split:1"), [0.0, 0.0])


def test_lstm_step_outputs_both_reach_the_loss(rng):
    n, d, h = 2, 3, 4
    g = ComputationalGraph("lstm")
    next_h, next_c = g.gate("lstm_step", g.input("x"), g.input("h"), g.input("c"),
                            g.param("Wx", rng.standard_normal((d, 4 * h)) * 0.5),
                            g.param("Wh", rng.standard_normal((h, 4 * h)) * 0.5),
                            g.param("b", rng.standard_normal(4 * h)))
    (next_h * next_c).sum()
    feeds = dict(x=rng.standard_normal((n, d)), h=rng.standard_normal((n, h)),
                 c=rng.standard_normal((n, h)))
    report = check_graph(g, **feeds)
    assert report.ok, report


def test_options_and_constants_pass_through(rng):
    x = rng.standard_normal((4, 3))
    g = ComputationalGraph()
    X = g.input("x")
    bn_param = {"mode": "train"}
    normed = g.gate("batchnorm", X, g.param("gamma", np.ones(3)), g.param("beta", np.zeros(3)),
                    bn_param)
    g.gate("leaky_relu", normed, alpha=0.2).sum(axis=1).mean()
    g.forward(x=x)
    np.testing.assert_allclose(bn_param["running_mean"], 0.1 * x.mean(axis=0))
    assert check_graph(g, x=x).ok


def test_a_floating_constant_array_gets_no_gradient():
    g = ComputationalGraph()
    x = g.input("x")
    x * np.array([2.0, 3.0])
    g.forward(x=np.ones(2))
    assert list(g.backward()) == ["x"]
    np.testing.assert_array_equal(g.backward()["x"], [2.0, 3.0])


def test_params_are_read_at_every_forward():
    g = ComputationalGraph()
    w = g.param("w", 2.0)
    g.input("x") * w
    assert g.forward(x=3.0) == 6.0
    g.params["w"] = np.array(5.0)                  # what an update rule does
    assert g.forward(x=3.0) == 15.0
    assert g.backward() == {"x": 5.0, "w": 3.0}


def test_float32_stays_float32(rng):
    g = ComputationalGraph()
    g.gate("affine", g.input("x"), g.param("w", np.ones((3, 2), np.float32)),
           g.param("b", np.zeros(2, np.float32))).relu()
    out = g.forward(x=rng.standard_normal((4, 3)).astype(np.float32))
    assert out.dtype == np.float32
    assert all(grad.dtype == np.float32 for grad in g.backward().values())


def test_a_graph_is_a_layer_pair_and_can_be_a_gate():
    inner = ComputationalGraph("inner")
    inner.input("a") * inner.param("k", 3.0)
    forward, backward = inner.as_layer()
    assert forward.__name__ == "inner_forward"
    assert str(inspect.signature(forward)) == "(a, k)"   # inputs, then params

    outer = ComputationalGraph()
    x = outer.input("x")
    outer.gate(inner.as_layer(), x, outer.param("k", 3.0)).exp()
    outer.forward(x=0.5)
    grads = outer.backward()
    assert grads["x"] == pytest.approx(3.0 * np.exp(1.5), rel=1e-15)
    assert grads["k"] == pytest.approx(0.5 * np.exp(1.5), rel=1e-15)

    constant_k = ComputationalGraph()                 # a Python number is a constant
    constant_k.gate(inner.as_layer(), constant_k.input("x"), 2.0)
    constant_k.forward(x=1.5)
    assert constant_k.backward() == {"x": 2.0}


def test_check_graph_finds_a_wrong_backward():
    def twice_forward(x):
        return 2 * x, None

    def twice_backward(dout, cache):
        return 3 * dout                            # wrong: the local gradient is 2

    g = ComputationalGraph()
    g.gate((twice_forward, twice_backward), g.input("x")).sum()
    report = check_graph(g, x=np.array([1.0, 2.0]))
    assert not report.ok
    assert report.arguments[0].name == "x" and "1.5" in report.arguments[0].hint


def test_graph_module_doctest():
    import doctest

    assert doctest.testmod(computational_graph).failed == 0


# -- regressions: results the caller owns, inputs left unchanged, float32 graphs ------------

def test_backward_returns_copies_the_caller_owns():
    g = ComputationalGraph()
    a, b = g.input("a"), g.input("b")
    g.gate("add", a, b)
    g.forward(a=np.ones(3), b=np.ones(3))
    grads = g.backward()
    grads["a"][...] = 99.0
    np.testing.assert_array_equal(g.grad("a"), np.ones(3))
    np.testing.assert_array_equal(grads["b"], np.ones(3))      # add sends dout to both
    np.testing.assert_array_equal(g.backward()["a"], np.ones(3))


def two_layer_graph(dtype):
    rng = np.random.default_rng(3)
    g = ComputationalGraph("two_layer")
    w1 = g.param("W1", rng.normal(size=(4, 5)).astype(dtype))
    w2 = g.param("W2", rng.normal(size=(5, 3)).astype(dtype))
    g.gate("softmax_loss", (g.input("x") @ w1).tanh() @ w2, g.input("y"))
    feeds = dict(x=rng.normal(size=(6, 4)).astype(dtype), y=np.array([0, 1, 2, 0, 1, 2]))
    return g, feeds


def test_forward_backward_and_check_graph_leave_feeds_and_params_unchanged():
    g, feeds = two_layer_graph(np.float64)
    feeds_before = {name: value.copy() for name, value in feeds.items()}
    params_before = {name: value.copy() for name, value in g.params.items()}
    g.forward(**feeds)
    g.backward()
    assert check_graph(g, **feeds).ok
    for name, value in feeds_before.items():
        np.testing.assert_array_equal(feeds[name], value)
    assert list(g.params) == list(params_before)
    for name, value in params_before.items():
        np.testing.assert_array_equal(g.params[name], value)


def test_check_graph_on_a_float32_graph():
    g, feeds = two_layer_graph(np.float32)
    loss = g.forward(**feeds)
    grads = g.backward()
    assert loss.dtype == np.float32
    assert {name: grad.dtype for name, grad in grads.items()} == {
        "x": np.float32, "W1": np.float32, "W2": np.float32}
    report = check_graph(g, **feeds)
    assert report.dtype == "float32"
    assert report.ok, report


def test_a_python_number_fed_beside_float32_arrays_is_float32():
    g = ComputationalGraph()
    x, s = g.input("x"), g.input("s")
    g.output(g.gate("multiply", x, s))
    out = g.forward(x=np.array([1.0, 2.0], np.float32), s=3.0)
    assert out.dtype == np.float32
    grads = g.backward()
    assert grads["s"].dtype == np.float32 and grads["s"].shape == ()
    np.testing.assert_array_equal(grads["s"], np.float32(3.0))
    assert g.forward(x=np.array([1.0, 2.0]), s=3.0).dtype == np.float64
