"""The graph hands every backward an upstream gradient of its own: a backward that writes
into its dout changes no other gate's gradient, no gradient the graph reports, and not
the caller's dout."""

import numpy as np

from graph import ComputationalGraph


def doubling_forward(x):
    return 2 * x, None


def doubling_in_place_backward(dout, cache):
    dout *= 2                     # right values, written into the array it was handed
    return dout


def test_a_backward_writing_into_dout_changes_no_other_gradient():
    # add sends the same dout to both its inputs: each doubling gate must get its own.
    g = ComputationalGraph()
    a = g.gate((doubling_forward, doubling_in_place_backward), g.input("x"), name="a")
    b = g.gate((doubling_forward, doubling_in_place_backward), g.input("y"), name="b")
    g.gate("add", a, b, name="out")
    g.forward(x=np.arange(3.0), y=np.ones(3))
    dout = np.array([1.0, -2.0, 0.5])
    grads = g.backward(dout)
    np.testing.assert_array_equal(grads["x"], 2 * np.array([1.0, -2.0, 0.5]))
    np.testing.assert_array_equal(grads["y"], 2 * np.array([1.0, -2.0, 0.5]))
    np.testing.assert_array_equal(g.grad(a), [1.0, -2.0, 0.5])    # the graph's own record
    np.testing.assert_array_equal(g.grad(b), [1.0, -2.0, 0.5])
    np.testing.assert_array_equal(g.grad("out"), [1.0, -2.0, 0.5])
    np.testing.assert_array_equal(dout, [1.0, -2.0, 0.5])          # the caller's array


def test_the_output_gate_writing_into_dout_leaves_the_output_gradient_alone():
    g = ComputationalGraph()
    g.gate((doubling_forward, doubling_in_place_backward), g.input("x"), name="d")
    g.forward(x=np.arange(4.0))
    first = g.backward()
    np.testing.assert_array_equal(first["x"], 2 * np.ones(4))
    np.testing.assert_array_equal(g.grad("d"), np.ones(4))        # dout = 1 at the output
    np.testing.assert_array_equal(g.backward()["x"], first["x"])
