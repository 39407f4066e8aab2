# %% [markdown]
# # 1. Gates and circuits
#
# Backpropagation is the chain rule applied to a *circuit*: inputs on the left, gates in
# the middle, the output on the right. The forward pass visits the gates in topological
# order and each gate computes its output; the backward pass visits them in reverse, and
# each gate multiplies the gradient arriving at its output (the *upstream* gradient) by
# its own local gradient to get the gradients of its inputs (the *downstream* ones).
#
# `graph.ComputationalGraph` is that circuit. Its gates are gatelab's layer pairs
# (`add_forward`/`add_backward`, ...), and `g.draw()` pictures it as the lecture notes
# do: each wire carries its forward value above it (green) and, after the backward pass,
# its gradient below it (red).
#
# You will work through the three worked examples of the lecture, then write a gate of
# your own and plug it into a circuit.

# %%
# %matplotlib inline
import os

import numpy as np

from checks import assert_gradients, check_graph
from graph import ComputationalGraph
from layers import (add_backward, add_forward, maximum_backward, maximum_forward,
                    multiply_backward, multiply_forward)

rng = np.random.default_rng(0)

# %% [markdown]
# ## Example 1: $f(x, y, z) = (x + y)\, z$
#
# At $x = -2$, $y = 5$, $z = -4$: $q = x + y = 3$ and $f = qz = -12$.
#
# **Exercise 1.** Before running the circuit, work out the gradients by hand with the
# chain rule ($\partial f / \partial x = \partial f / \partial q \cdot \partial q / \partial x$),
# as formulas of $x$, $y$ and $z$: `by_hand(x, y, z)` returns them in a dict. The check
# compares them with the circuit's at the lecture's point, and the grade at other points.

# %% exercise="by_hand" points=2
def by_hand(x, y, z):
    """{"x": df/dx, "y": df/dy, "z": df/dz} of f = (x + y) z at the point (x, y, z)."""
    ### BEGIN SOLUTION: df/dz = q = x + y; df/dq = z, and the add gate passes df/dq to x and y
    return {"x": z, "y": z, "z": x + y}
    ### END SOLUTION


# %% check="by_hand"
g = ComputationalGraph()
x, y, z = g.input("x"), g.input("y"), g.input("z")
q = g.gate("add", x, y, name="q")
f = g.gate("multiply", q, z, name="f")


def compare_with_circuit(circuit, formulas, point, where="at the lecture's point"):
    """Assert that formulas(x, y, z) gives the circuit's gradients at point = (x, y, z)."""
    circuit.forward(**dict(zip("xyz", point)))
    expected, got = circuit.backward(), formulas(*point)
    name = formulas.__name__
    assert set(got) == {"x", "y", "z"}, f"{name} returns a dict with keys 'x', 'y', 'z'"
    for wrt in "xyz":
        # At integer points the circuit's gradients are exact: yours must match to rounding.
        assert np.isclose(got[wrt], expected[wrt], rtol=1e-12, atol=0), \
            f"{name}(x, y, z): df/d{wrt} is wrong {where}"


assert g.forward(x=-2.0, y=5.0, z=-4.0) == -12.0 and g.value(q) == 3.0
g.backward()
assert g.grad(q) == -4.0          # df/dq = z
compare_with_circuit(g, by_hand, (-2.0, 5.0, -4.0))
g.draw()
### BEGIN HIDDEN TESTS
def hidden_checks(rng):
    for point in rng.integers(-9, 10, size=(5, 3)).astype(float):
        compare_with_circuit(g, by_hand, point, where="away from the lecture's point")


hidden_checks(np.random.default_rng(int(os.environ.get("GATELAB_SEED", "0"))))
### END HIDDEN TESTS

# %% [markdown]
# ## Example 2: the sigmoid neuron, from primitive gates and as one gate
#
# $f(w, x) = \dfrac{1}{1 + e^{-(w_0 x_0 + w_1 x_1 + w_2)}}$ at $w = [2, -3, -3]$ and
# $x = [-1, -2]$. The lecture builds it from multiply, add, negate, exp, "+1" and
# reciprocal gates. Nodes support operators that each add one gate: `a * b`, `a + b`,
# `-a`, `a.exp()`, `1 + a`, `1 / a`.
#
# **Exercise 2.** Build the neuron gate by gate on the graph `neuron` (its inputs are
# made for you) and make `f_neuron` its output node.

# %% exercise="neuron" points=3
neuron = ComputationalGraph()
w0, x0, w1, x1, w2 = (neuron.input(name) for name in ("w0", "x0", "w1", "x1", "w2"))

### BEGIN SOLUTION: the dot product w0 x0 + w1 x1 + w2, then -, exp, 1 +, 1 /
dot = w0 * x0 + w1 * x1 + w2
f_neuron = 1 / (1 + (-dot).exp())
### END SOLUTION

point = dict(w0=2.0, x0=-1.0, w1=-3.0, x1=-2.0, w2=-3.0)
neuron.output(f_neuron)
print(f"f = {float(neuron.forward(**point)):.10f}")
neuron_grads = neuron.backward()
neuron.draw()

# %% check="neuron"
# The lecture's numbers: f = 0.7310585786, and (1 - f) f = 0.1966119332 multiplies
# everything upstream of the dot product.
assert np.isclose(neuron.forward(**point), 0.7310585786, rtol=0, atol=1e-10), \
    "f_neuron is not the sigmoid of w0 x0 + w1 x1 + w2 at the lecture's point"
neuron_grads = neuron.backward()
expected = dict(w0=-0.1966119332, x0=0.3932238665, w1=-0.3932238665, x1=-0.5898357997,
                w2=0.1966119332)
for name, gradient in expected.items():
    assert np.isclose(neuron_grads[name], gradient, rtol=0, atol=1e-10), \
        f"the gradient of {name} differs from the lecture's"
### BEGIN HIDDEN TESTS
def hidden_checks(rng):
    for values in rng.uniform(-2, 2, size=(4, 5)):
        feeds = dict(zip(("w0", "x0", "w1", "x1", "w2"), values))
        dot = feeds["w0"] * feeds["x0"] + feeds["w1"] * feeds["x1"] + feeds["w2"]
        assert np.isclose(neuron.forward(**feeds), 1 / (1 + np.exp(-dot)), rtol=1e-12,
                          atol=0), "the neuron's output is wrong away from the lecture's point"
        check_graph(neuron, raise_on_fail=True, **feeds)


hidden_checks(np.random.default_rng(int(os.environ.get("GATELAB_SEED", "0"))))
### END HIDDEN TESTS

# %% [markdown]
# ### Gate merging
#
# The four gates after the dot product compute $\sigma(\text{dot})$, whose derivative is
# simply $(1 - \sigma)\sigma$. So one `sigmoid` gate can replace them: a coarser circuit,
# the same gradients. Any differentiable piece whose local gradient is easy can be one
# gate.

# %%
merged = ComputationalGraph()
w0, x0, w1, x1, w2 = (merged.input(name) for name in ("w0", "x0", "w1", "x1", "w2"))
(w0 * x0 + w1 * x1 + w2).sigmoid()
merged.forward(**point)
merged_grads = merged.backward()
for name in point:
    # The same gradients to rounding (about 1e-16).
    assert np.isclose(merged_grads[name], neuron_grads[name], rtol=1e-14, atol=0), name
merged.draw()

# %% [markdown]
# ## Example 3: fan-out, $f(x, y, z) = (x + y) \max(y, z)$
#
# At $x = 1$, $y = 2$, $z = 0$: $a = x + y = 3$, $b = \max(y, z) = 2$, $f = ab = 6$. The
# value $y$ feeds two gates. When a value *fans out*, the gradients that come back along
# its wires **add up**:
# $\frac{\partial f}{\partial y} = \sum_i \frac{\partial f}{\partial u_i}
# \frac{\partial u_i}{\partial y}$ over every gate input $u_i$ that $y$ feeds.
#
# **Exercise 3.** Work out the three gradients by hand, as formulas of $x$, $y$, $z$ for
# any point where $y \ne z$ (where the max is differentiable).

# %% exercise="fan_out" points=2
def fan_out_by_hand(x, y, z):
    """{"x": df/dx, "y": df/dy, "z": df/dz} of f = (x + y) max(y, z), for y != z."""
    ### BEGIN SOLUTION: df/da = b, df/db = a; max routes df/db to the larger input; y sums 2 paths
    a, b = x + y, max(y, z)
    return {"x": b, "y": b + (a if y > z else 0.0), "z": a if z > y else 0.0}
    ### END SOLUTION


# %% check="fan_out"
fan = ComputationalGraph()
x, y, z = fan.input("x"), fan.input("y"), fan.input("z")
(x + y) * fan.maximum(y, z)
assert fan.forward(x=1.0, y=2.0, z=0.0) == 6.0
compare_with_circuit(fan, fan_out_by_hand, (1.0, 2.0, 0.0))
fan.draw()
### BEGIN HIDDEN TESTS
def hidden_checks(rng):
    points = rng.integers(-9, 10, size=(8, 3)).astype(float)
    for point in points[points[:, 1] != points[:, 2]]:
        compare_with_circuit(fan, fan_out_by_hand, point, where="away from the lecture's point")


hidden_checks(np.random.default_rng(int(os.environ.get("GATELAB_SEED", "0"))))
### END HIDDEN TESTS

# %% [markdown]
# In the picture, $y$'s two wires carry 2.00 and 3.00 back, and the "sum 5.00" under $y$ is
# its gradient. The graph sums in one place in its code, whatever the gates.
#
# ## Three patterns: add distributes, max routes, mul swaps
#
# Looking only at the local gradients:
#
# - **add** gives every input the upstream gradient unchanged;
# - **max** gives it all to the input that won, 0 to the others;
# - **multiply** gives each input the upstream gradient times the *other* input.
#
# The library's gates, on arrays with a random upstream gradient:

# %%
a, b = rng.standard_normal(5), rng.standard_normal(5)
upstream = rng.standard_normal(5)

da, db = add_backward(upstream, add_forward(a, b)[1])
assert np.array_equal(da, upstream) and np.array_equal(db, upstream)      # distributes

da, db = maximum_backward(upstream, maximum_forward(a, b)[1])
assert np.array_equal(da, np.where(a > b, upstream, 0))                   # routes
assert np.array_equal(db, np.where(b > a, upstream, 0))

da, db = multiply_backward(upstream, multiply_forward(a, b)[1])
assert np.allclose(da, upstream * b, rtol=1e-15) and np.allclose(db, upstream * a, rtol=1e-15)

# %% [markdown]
# ## A gate of your own
#
# A gate is any layer pair: `forward(*inputs) -> (out, cache)` keeps in `cache` what the
# backward pass needs (a multiply gate keeps both inputs), and `backward(dout, cache)`
# returns one gradient per input. `g.gate((forward, backward), *nodes)` puts it in a
# circuit.
#
# **Exercise 4.** Write a multiply gate for scalars or arrays of one shape, then use it
# in Example 1 in place of the library's.

# %% exercise="my_multiply" points=3
def my_multiply_forward(x, y):
    """The product x * y, elementwise; x and y of one shape."""
    ### BEGIN SOLUTION: keep both inputs: each one's gradient needs the other
    out = x * y
    cache = (x, y)
    ### END SOLUTION
    return out, cache


def my_multiply_backward(dout, cache):
    """(dx, dy): the multiply gate swaps its inputs."""
    ### BEGIN SOLUTION: dx = dout * y and dy = dout * x
    x, y = cache
    dx, dy = dout * y, dout * x
    ### END SOLUTION
    return dx, dy


# %% check="my_multiply"
mine = ComputationalGraph()
x, y, z = mine.input("x"), mine.input("y"), mine.input("z")
mine.gate((my_multiply_forward, my_multiply_backward), x + y, z, name="my_multiply")
assert mine.forward(x=-2.0, y=5.0, z=-4.0) == -12.0, "my_multiply_forward is not x * y"
# On arrays, against central differences of the whole circuit (rel. error about 1e-10;
# the check passes below 1e-6).
report = check_graph(mine, x=rng.standard_normal(4), y=rng.standard_normal(4),
                     z=rng.standard_normal(4))
print(report)
report.raise_if_failed()
mine.forward(x=-2.0, y=5.0, z=-4.0)
assert {name: float(grad) for name, grad in mine.backward().items()} == \
    {"x": -4.0, "y": -4.0, "z": 3.0}, "the circuit's gradients differ from Example 1's"
mine.draw()
### BEGIN HIDDEN TESTS
def hidden_checks(rng):
    for shape in [(), (3,), (2, 4)]:
        a, b = rng.standard_normal(shape), rng.standard_normal(shape)
        out, _ = my_multiply_forward(a, b)
        assert np.allclose(out, a * b, rtol=1e-15, atol=0), "my_multiply_forward is not x * y"
        assert_gradients(my_multiply_forward, my_multiply_backward, a, b,
                         seed=int(rng.integers(2**31)))


hidden_checks(np.random.default_rng(int(os.environ.get("GATELAB_SEED", "0"))))
### END HIDDEN TESTS
