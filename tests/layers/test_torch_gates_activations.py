"""Gates and activations against PyTorch in float64: forward values and every gradient.

The comparison is relative to the largest entry of torch's array: |ours - torch| <=
1e-10 * (|torch| + max |torch|). Judging each element only by its own size would fail
where a value or gradient passes through zero (gelu's derivative near x = -0.75), since
both sides then round differently to numbers close to 0.
"""

import numpy as np
import pytest

torch = pytest.importorskip("torch")
F = torch.nn.functional

from layers import activations, gates  # noqa: E402
from layers.contract import is_float_array  # noqa: E402
from layers.registry import REGISTRY  # noqa: E402

RTOL = 1e-10


def as_tensor(value):
    return torch.as_tensor(value, dtype=torch.float64)


def reduction(torch_op):
    """sum/mean: our keywords (axis, keepdims) to torch's (dim, keepdim)."""
    def call(x, axis=None, keepdims=False):
        return torch_op(x, dim=axis, keepdim=keepdims)
    return call


TORCH = {
    "add": lambda x, y: x + y,
    "subtract": lambda x, y: x - y,
    "multiply": lambda x, y: x * y,
    "divide": lambda x, y: x / y,
    # torch.maximum wants two tensors: a Python constant becomes one without a gradient.
    "maximum": lambda x, y: torch.maximum(as_tensor(x), as_tensor(y)),
    "exp": torch.exp,
    "log": torch.log,
    "power": torch.pow,
    "sum": reduction(torch.sum),
    "mean": reduction(torch.mean),
    "matmul": torch.matmul,
    "relu": F.relu,
    "leaky_relu": lambda x, alpha=0.01: F.leaky_relu(x, negative_slope=alpha),
    "elu": lambda x, alpha=1.0: F.elu(x, alpha=alpha),
    "gelu": lambda x: F.gelu(x, approximate="none"),
    "gelu_tanh": lambda x: F.gelu(x, approximate="tanh"),
    "silu": F.silu,
    "sigmoid": torch.sigmoid,
    "tanh": torch.tanh,
    # torch's softplus returns x itself above `threshold` (20 by default), ours stays
    # log(1 + exp(x)); a threshold far above the inputs compares the same function.
    "softplus": lambda x: F.softplus(x, threshold=1e3),
    "softmax": lambda x: F.softmax(x, dim=-1),
}


def assert_matches(ours, theirs):
    theirs = theirs.detach().numpy()
    assert np.shape(ours) == theirs.shape
    scale = float(np.max(np.abs(theirs), initial=0.0))
    np.testing.assert_allclose(ours, theirs, rtol=RTOL, atol=RTOL * scale)


def compare_with_torch(name, *args, seed=0, **kwargs):
    """Run our pair and torch's function on the same inputs and upstream gradient."""
    spec = REGISTRY[name]
    out, cache = spec.forward(*args, **kwargs)
    dout = np.random.default_rng(seed).standard_normal(np.shape(out))
    grads = spec.backward(dout, cache)
    grads = grads if isinstance(grads, tuple) else (grads,)

    tensors = [torch.tensor(a, requires_grad=True) if is_float_array(a) else a for a in args]
    torch_out = TORCH[name](*tensors, **kwargs)
    torch_out.backward(torch.from_numpy(dout))
    assert_matches(out, torch_out)
    variables = [t for t in tensors if isinstance(t, torch.Tensor)]
    assert len(grads) == len(variables)
    for grad, tensor in zip(grads, variables, strict=True):
        assert_matches(grad, tensor.grad)


def test_every_gate_and_activation_has_a_torch_reference():
    ours = {name for name, spec in REGISTRY.items()
            if spec.module in (gates.__name__, activations.__name__)}
    assert ours == set(TORCH)


@pytest.mark.parametrize("seed", range(6))
@pytest.mark.parametrize("name", sorted(TORCH))
def test_registered_examples_match_torch(name, seed):
    # The example builders vary shapes (broadcasting, 1-D and batched matmul, axes) and
    # options with the seed.
    example = REGISTRY[name].example(np.random.default_rng(seed), np.float64)
    compare_with_torch(name, *example.args, seed=seed, **example.kwargs)


@pytest.mark.parametrize("a_shape, b_shape", [
    ((2, 3), (3, 4)), ((3,), (3, 4)), ((2, 3), (3,)), ((3,), (3,)), ((5, 2, 3), (3, 4)),
    ((3,), (5, 3, 4)), ((2, 1, 2, 3), (5, 3, 4)),
])
def test_matmul_shapes_match_torch(a_shape, b_shape, rng):
    compare_with_torch("matmul", rng.standard_normal(a_shape), rng.standard_normal(b_shape))


@pytest.mark.parametrize("x_shape, y_shape", [((3, 1), (1, 4)), ((4,), ()),
                                              ((2, 1, 3), (4, 1))])
@pytest.mark.parametrize("name", ["add", "subtract", "multiply", "divide", "maximum"])
def test_broadcasting_matches_torch(name, x_shape, y_shape, rng):
    y = np.round(rng.standard_normal(y_shape) * 2) + 0.5
    compare_with_torch(name, rng.standard_normal(x_shape), y)


def test_maximum_ties_match_torch():
    x = np.array([[1.0, 2.0, 0.0], [-1.0, 3.0, 3.0]])
    y = np.array([[1.0, 0.0, 2.0], [-1.0, 3.0, 4.0]])
    compare_with_torch("maximum", x, y)
    compare_with_torch("maximum", x, x)
    compare_with_torch("maximum", x, np.array([[1.0], [3.0]]))  # ties across a broadcast
    compare_with_torch("maximum", x, 0.0)


@pytest.mark.parametrize("name, kwargs", [
    ("relu", {}), ("leaky_relu", {"alpha": 0.2}), ("elu", {"alpha": 2.0}), ("elu", {}),
])
def test_derivatives_at_zero_match_torch(name, kwargs):
    compare_with_torch(name, np.array([-1.0, 0.0, 0.0, 1.0]), **kwargs)


@pytest.mark.parametrize("name", ["gelu", "gelu_tanh", "silu", "sigmoid", "tanh",
                                  "softplus", "softmax", "elu"])
def test_wide_range_matches_torch(name):
    # Saturated tails as well as the middle.
    compare_with_torch(name, np.linspace(-40.0, 40.0, 161).reshape(7, 23))


@pytest.mark.parametrize("p", [2, 3, -1, 0.5, -2.5, 0])
def test_power_matches_torch(p, rng):
    compare_with_torch("power", np.exp(rng.standard_normal((2, 3))), p)
