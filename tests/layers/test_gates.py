"""Gates: broadcasting and constants, the router's ties, reductions, matmul, bad input."""

import numpy as np
import pytest

from checks import assert_gradients
from layers import gates
from layers.gates import (add_backward, add_forward, divide_backward, divide_forward,
                          log_backward, log_forward, matmul_backward, matmul_forward,
                          maximum_backward, maximum_forward, mean_backward, mean_forward,
                          multiply_backward, multiply_forward, power_backward,
                          power_forward, subtract_backward, subtract_forward, sum_backward,
                          sum_forward)

BINARY = ["add", "subtract", "multiply", "divide", "maximum"]


def pair(name):
    return getattr(gates, f"{name}_forward"), getattr(gates, f"{name}_backward")


# -- broadcasting -------------------------------------------------------------------------

def test_broadcast_column_with_row_sums_each_gradient_to_its_shape(rng):
    x = rng.standard_normal((3, 1))
    y = rng.standard_normal((1, 4))
    dout = rng.standard_normal((3, 4))

    out, cache = add_forward(x, y)
    assert out.shape == (3, 4)
    dx, dy = add_backward(dout, cache)
    np.testing.assert_array_equal(dx, dout.sum(axis=1, keepdims=True))
    np.testing.assert_array_equal(dy, dout.sum(axis=0, keepdims=True))

    _, cache = multiply_forward(x, y)
    dx, dy = multiply_backward(dout, cache)
    np.testing.assert_allclose(dx, (dout * y).sum(axis=1, keepdims=True), rtol=1e-14)
    np.testing.assert_allclose(dy, (dout * x).sum(axis=0, keepdims=True), rtol=1e-14)

    _, cache = subtract_forward(x, y)
    dx, dy = subtract_backward(dout, cache)
    np.testing.assert_array_equal(dy, -dout.sum(axis=0, keepdims=True))


@pytest.mark.parametrize("name", BINARY)
@pytest.mark.parametrize("x_shape, y_shape", [((3, 1), (1, 4)), ((2, 3), (3,)),
                                              ((4,), ()), ((2, 1, 3), (4, 1))])
def test_broadcast_gradients_pass_the_checker(name, x_shape, y_shape, rng):
    x = rng.standard_normal(x_shape)
    # y sits between integers plus 0.5 and x near integers: no ties for maximum, and no
    # y near 0 for divide.
    y = np.round(rng.standard_normal(y_shape) * 2) + 0.5
    assert_gradients(*pair(name), x, y)


@pytest.mark.parametrize("name", BINARY)
def test_python_constant_gets_no_gradient(name, rng):
    forward, backward = pair(name)
    x = rng.standard_normal((2, 3)) + 3.0  # > 0.5 everywhere: no tie with 0.5 for maximum
    dout = rng.standard_normal((2, 3))
    for args in [(x, 0.5), (0.5, x), (x, 2)]:
        grad = backward(dout, forward(*args)[1])
        assert isinstance(grad, np.ndarray) and grad.shape == (2, 3)
        assert_gradients(forward, backward, *args)


def test_multiply_by_constant_returns_bare_scaled_dout(rng):
    x = rng.standard_normal((2, 3))
    dout = rng.standard_normal((2, 3))
    out, cache = multiply_forward(x, 3.0)
    np.testing.assert_array_equal(out, 3.0 * x)
    np.testing.assert_array_equal(multiply_backward(dout, cache), 3.0 * dout)


@pytest.mark.parametrize("y", [np.float64(3.0), np.array(3.0)])
def test_numpy_scalar_is_a_variable_with_a_0d_gradient(y, rng):
    x = rng.standard_normal((2, 3))
    dout = rng.standard_normal((2, 3))
    dx, dy = multiply_backward(dout, multiply_forward(x, y)[1])
    np.testing.assert_array_equal(dx, 3.0 * dout)
    assert isinstance(dy, np.ndarray) and dy.shape == () and dy.dtype == np.float64
    np.testing.assert_allclose(dy, np.sum(dout * x), rtol=1e-14)


def test_scalar_circuit_gives_0d_arrays():
    out, cache = add_forward(np.array(1.0), np.float64(2.0))
    assert isinstance(out, np.ndarray) and out.shape == () and out == 3.0
    dx, dy = add_backward(1.0, cache)
    assert dx.shape == dy.shape == () and dx == dy == 1.0


def test_reciprocal_through_divide_by_constant_numerator(rng):
    y = rng.standard_normal((3,)) + 3.0
    dout = rng.standard_normal((3,))
    out, cache = divide_forward(1.0, y)
    np.testing.assert_allclose(out, 1 / y, rtol=1e-15)
    np.testing.assert_allclose(divide_backward(dout, cache), -dout / y**2, rtol=1e-14)


@pytest.mark.parametrize("name", BINARY)
def test_float32_stays_float32_with_constants_and_scalars(name):
    forward, backward = pair(name)
    x = np.array([[1.0, 2.0, 4.0]], dtype=np.float32)
    y = np.array([[3.0], [-0.5]], dtype=np.float32)
    for other in (y, 2.5, np.float32(2.5)):
        out, cache = forward(x, other)
        assert out.dtype == np.float32
        grads = backward(np.ones_like(out), cache)
        for grad in grads if isinstance(grads, tuple) else (grads,):
            assert grad.dtype == np.float32


# -- maximum: the router ------------------------------------------------------------------

def test_maximum_routes_the_gradient_to_the_winner(rng):
    x = np.array([1.0, 5.0, -2.0])
    y = np.array([3.0, 4.0, -1.0])
    dout = rng.standard_normal(3)
    out, cache = maximum_forward(x, y)
    np.testing.assert_array_equal(out, [3.0, 5.0, -1.0])
    dx, dy = maximum_backward(dout, cache)
    np.testing.assert_array_equal(dx, dout * [0, 1, 0])
    np.testing.assert_array_equal(dy, dout * [1, 0, 1])


def test_maximum_splits_the_gradient_on_ties(rng):
    x = np.array([2.0, 1.0, 0.0, 7.0])
    y = np.array([2.0, 3.0, 0.0, 1.0])
    dout = rng.standard_normal(4)
    dx, dy = maximum_backward(dout, maximum_forward(x, y)[1])
    np.testing.assert_array_equal(dx, dout * [0.5, 0, 0.5, 1])
    np.testing.assert_array_equal(dy, dout * [0.5, 1, 0.5, 0])
    np.testing.assert_array_equal(dx + dy, dout)  # the gradient is split, never lost


def test_maximum_of_a_value_with_itself_passes_the_gradient_through(rng):
    x = rng.standard_normal((2, 3))
    dout = rng.standard_normal((2, 3))
    dx, dy = maximum_backward(dout, maximum_forward(x, x)[1])
    np.testing.assert_array_equal(dx + dy, dout)


def test_maximum_ties_with_broadcast_sum_their_halves():
    x = np.array([[0.0, 1.0, -1.0]])
    dout = np.array([[1.0, 1.0, 1.0], [2.0, 2.0, 2.0]])
    y = np.zeros((2, 1))
    dx, dy = maximum_backward(dout, maximum_forward(x, y)[1])
    np.testing.assert_array_equal(dx, [[1.5, 3.0, 0.0]])
    np.testing.assert_array_equal(dy, [[0.5 + 1.0], [1.0 + 2.0]])


# -- unary gates --------------------------------------------------------------------------

@pytest.mark.parametrize("p", [2, 3, -1, 0.5, 1.5, -2.5, 1])
def test_power_values_and_gradient(p, rng):
    x = np.exp(rng.standard_normal((2, 3)))
    dout = rng.standard_normal((2, 3))
    out, cache = power_forward(x, p)
    np.testing.assert_allclose(out, x**p, rtol=1e-15)
    np.testing.assert_allclose(power_backward(dout, cache), dout * p * x ** (p - 1),
                               rtol=1e-14)
    assert_gradients(power_forward, power_backward, x, p)


def test_power_zero_has_zero_gradient_even_at_zero():
    x = np.array([0.0, 2.0])
    with np.errstate(all="raise"):
        out, cache = power_forward(x, 0)
        dx = power_backward(np.array([1.0, 1.0]), cache)
    np.testing.assert_array_equal(out, [1.0, 1.0])
    np.testing.assert_array_equal(dx, [0.0, 0.0])


@pytest.mark.parametrize("p", [np.float64(2.0), np.array(2.0), "2", True, None])
def test_power_refuses_a_non_python_number_exponent(p):
    with pytest.raises(TypeError, match=r"power_forward: p must be a Python int or float"):
        power_forward(np.ones(3), p)


def test_log_is_finite_with_finite_gradients_at_extremes():
    x = np.array([1e-300, 1e-4, 1.0, 1e4, 1e300])
    with np.errstate(all="raise"):
        out, cache = log_forward(x)
        dx = log_backward(np.ones(5), cache)
    np.testing.assert_allclose(out, np.log(x), rtol=1e-15)
    assert np.all(np.isfinite(out)) and np.all(np.isfinite(dx))
    np.testing.assert_allclose(dx, 1 / x, rtol=1e-15)


# -- reductions ---------------------------------------------------------------------------

@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("forward", [sum_forward, mean_forward])
def test_full_reduction_gives_a_0d_array_of_the_input_dtype(forward, dtype):
    x = np.arange(6, dtype=dtype).reshape(2, 3)
    out, _ = forward(x)
    assert isinstance(out, np.ndarray) and out.shape == () and out.dtype == dtype
    assert out == (15.0 if forward is sum_forward else 2.5)


@pytest.mark.parametrize("axis, keepdims, shape", [
    (None, False, ()), (None, True, (1, 1, 1)), (0, False, (3, 4)), (-1, True, (2, 3, 1)),
    ((0, 2), False, (3,)), ((2, -3), True, (1, 3, 1)), ((), False, (2, 3, 4)),
])
def test_reduction_gradients(axis, keepdims, shape, rng):
    x = rng.standard_normal((2, 3, 4))
    dout = rng.standard_normal(shape)
    out, cache = sum_forward(x, axis=axis, keepdims=keepdims)
    np.testing.assert_allclose(out, np.sum(x, axis=axis, keepdims=keepdims), rtol=1e-14)
    dx = sum_backward(dout, cache)
    expanded = dout if keepdims else np.expand_dims(
        dout, axis if axis is not None else (0, 1, 2))
    np.testing.assert_array_equal(dx, np.broadcast_to(expanded, x.shape))

    out, cache = mean_forward(x, axis=axis, keepdims=keepdims)
    np.testing.assert_allclose(out, np.mean(x, axis=axis, keepdims=keepdims), rtol=1e-14)
    count = x.size // max(out.size, 1)
    np.testing.assert_allclose(mean_backward(dout, cache), dx / count, rtol=1e-15)
    assert_gradients(mean_forward, mean_backward, x, axis=axis, keepdims=keepdims)


@pytest.mark.parametrize("forward", [sum_forward, mean_forward])
def test_reduction_gradient_is_writable_not_a_broadcast_view(forward):
    _, cache = forward(np.ones((2, 3)), axis=0)
    dx = getattr(gates, forward.__name__.replace("forward", "backward"))(np.ones(3), cache)
    dx[0, 0] = 5.0  # a caller may accumulate into it
    assert dx[1, 0] == (1.0 if forward is sum_forward else 0.5)


@pytest.mark.parametrize("kwargs, error, message", [
    ({"axis": 3}, ValueError, r"sum_forward: axis 3 is out of range for x of 3 dimensions"),
    ({"axis": -4}, ValueError, r"sum_forward: axis -4 is out of range"),
    ({"axis": (0, -3)}, ValueError, r"sum_forward: axis must not name an axis twice"),
    ({"axis": 1.0}, TypeError, r"sum_forward: axis must be None, an int or a tuple of ints"),
    ({"axis": [0, 1]}, TypeError, r"sum_forward: axis must be None, an int or a tuple"),
    ({"keepdims": "yes"}, TypeError, r"sum_forward: keepdims must be True or False; got str"),
])
def test_reduction_bad_options(kwargs, error, message):
    with pytest.raises(error, match=message):
        sum_forward(np.ones((2, 3, 4)), **kwargs)


def test_reduction_options_are_keyword_only():
    with pytest.raises(TypeError, match="positional"):
        mean_forward(np.ones((2, 3)), 0)


# -- matmul -------------------------------------------------------------------------------

MATMUL_SHAPES = [
    ((2, 3), (3, 4), (2, 4)),
    ((3,), (3, 4), (4,)),
    ((2, 3), (3,), (2,)),
    ((3,), (3,), ()),
    ((5, 2, 3), (3, 4), (5, 2, 4)),
    ((3,), (5, 3, 4), (5, 4)),
    ((5, 2, 3), (3,), (5, 2)),
    ((2, 1, 2, 3), (5, 3, 4), (2, 5, 2, 4)),
]


@pytest.mark.parametrize("a_shape, b_shape, out_shape", MATMUL_SHAPES)
def test_matmul_shapes_values_and_gradients(a_shape, b_shape, out_shape, rng):
    a = rng.standard_normal(a_shape)
    b = rng.standard_normal(b_shape)
    out, cache = matmul_forward(a, b)
    assert isinstance(out, np.ndarray) and out.shape == out_shape
    np.testing.assert_allclose(out, a @ b, rtol=1e-14)
    da, db = matmul_backward(rng.standard_normal(out_shape), cache)
    assert da.shape == a_shape and db.shape == b_shape
    assert_gradients(matmul_forward, matmul_backward, a, b)


def test_matmul_2d_gradients_are_the_textbook_formulas(rng):
    a, b = rng.standard_normal((2, 3)), rng.standard_normal((3, 4))
    dout = rng.standard_normal((2, 4))
    da, db = matmul_backward(dout, matmul_forward(a, b)[1])
    np.testing.assert_allclose(da, dout @ b.T, rtol=1e-14)
    np.testing.assert_allclose(db, a.T @ dout, rtol=1e-14)


def test_matmul_float32():
    a, b = np.ones((2, 3), np.float32), np.ones((5, 3, 4), np.float32)
    out, cache = matmul_forward(a, b)
    da, db = matmul_backward(np.ones((5, 2, 4), np.float32), cache)
    assert out.dtype == da.dtype == db.dtype == np.float32
    np.testing.assert_array_equal(da, np.full((2, 3), 20.0))


@pytest.mark.parametrize("a_shape, b_shape, message", [
    ((2, 3), (4, 5), r"matmul_forward: inner dimensions must agree: a's last axis has 3 "
                     r"entries and b's second-to-last axis has 4; got a.shape = \(2, 3\) "
                     r"and b.shape = \(4, 5\)"),
    ((2, 3), (4,), r"matmul_forward: inner dimensions must agree: a's last axis has 3 "
                   r"entries and b's only axis has 4"),
    ((2, 2, 3), (3, 3, 4), r"matmul_forward: the batch axes of a and b must broadcast "
                           r"together: \(2,\) and \(3,\)"),
    ((), (3,), r"matmul_forward: a must have at least one dimension"),
    ((3,), (), r"matmul_forward: b must have at least one dimension"),
])
def test_matmul_shape_errors_name_both_shapes(a_shape, b_shape, message):
    with pytest.raises(ValueError, match=message):
        matmul_forward(np.ones(a_shape), np.ones(b_shape))


# -- bad input ----------------------------------------------------------------------------

@pytest.mark.parametrize("name", BINARY)
def test_binary_gates_refuse_shapes_that_do_not_broadcast(name):
    forward, _ = pair(name)
    with pytest.raises(ValueError, match=rf"{name}_forward: x and y must broadcast together; "
                                         r"got x.shape = \(3, 2\), y.shape = \(3,\)"):
        forward(np.ones((3, 2)), np.ones(3))


@pytest.mark.parametrize("name", BINARY)
@pytest.mark.parametrize("x, y, message", [
    (np.ones(3, dtype=np.complex64), np.ones(3),
     r"x must be a number array, .*; got complex64 array"),
    (np.ones(3), ["a", "b", "c"], r"y must be a number array, .*; got list"),
    (np.ones(3), True, r"y must be a number array, .*; got bool"),
    (np.ones(3), np.ones(3, dtype=np.float16), r"y must be a number array.*; got float16 array"),
    (1.0, 2, r"at least one of x and y must be a NumPy floating-point array; got float "
             r"and int"),
])
def test_binary_gates_refuse_bad_types(name, x, y, message):
    forward, _ = pair(name)
    with pytest.raises(TypeError, match=rf"{name}_forward: {message}"):
        forward(x, y)


@pytest.mark.parametrize("name", ["exp", "log", "sum", "mean"])
@pytest.mark.parametrize("x, message", [
    (np.arange(3) > 1, r"x must be a number array, .*; got bool array"),
    ([1.0, None], r"x must be a number array, .*; got list"),
    (None, r"x must be a number array, .*; got NoneType"),
])
def test_unary_gates_refuse_non_float_arrays(name, x, message):
    forward = getattr(gates, f"{name}_forward")
    with pytest.raises(TypeError, match=rf"{name}_forward: {message}"):
        forward(x)


def test_matmul_promotes_integer_and_list_operands_and_refuses_others():
    a = np.arange(6, dtype=np.int32).reshape(2, 3)
    out, cache = matmul_forward(a, [[1.0], [2.0], [3.0]])
    np.testing.assert_array_equal(out, a @ np.array([[1.0], [2.0], [3.0]]))
    da, db = matmul_backward(np.ones((2, 1)), cache)
    assert da.dtype == db.dtype == np.float64 and db.shape == (3, 1)
    with pytest.raises(TypeError, match=r"matmul_forward: a must be a number array"):
        matmul_forward(np.ones((2, 3), dtype=bool), np.ones((3, 2)))
    with pytest.raises(TypeError, match=r"matmul_forward: b must be a number array"):
        matmul_forward(np.ones((2, 3)), "b")


@pytest.mark.parametrize("name", BINARY + ["matmul"])
def test_backward_refuses_an_upstream_gradient_of_the_wrong_shape(name):
    forward, backward = pair(name)
    other = np.ones((3, 3)) if name == "matmul" else np.full(3, 2.0)
    _, cache = forward(np.ones((2, 3)), other)
    with pytest.raises(ValueError, match=rf"{name}_backward: dout must have the shape of the "
                                         r"forward output \(2, 3\); got dout.shape = \(3, 2\)"):
        backward(np.ones((3, 2)), cache)


# -- empty batches and aliasing -----------------------------------------------------------

@pytest.mark.parametrize("name", BINARY + ["matmul"])
def test_an_empty_batch_gives_empty_outputs_and_gradients(name):
    forward, backward = pair(name)
    other = np.ones((3, 2)) if name == "matmul" else np.full(3, 2.0)
    out, cache = forward(np.ones((0, 3)), other)
    expected = (0, 2) if name == "matmul" else (0, 3)
    assert out.shape == expected
    dx, dy = backward(np.ones(expected), cache)
    assert dx.shape == (0, 3) and dy.shape == other.shape
    # The broadcast argument's gradient sums over no rows: 0.
    np.testing.assert_array_equal(dy, np.zeros(other.shape))


@pytest.mark.parametrize("y_shape", [(2, 3), (3,), ()])
@pytest.mark.parametrize("name", BINARY)
def test_gradients_alias_neither_dout_nor_each_other(name, y_shape, rng):
    # CS231n-style code accumulates (dx += ...): that must not write into the caller's
    # dout, nor into the other operand's gradient. add and subtract pass dout through.
    forward, backward = pair(name)
    _, cache = forward(rng.standard_normal((2, 3)), rng.standard_normal(y_shape) + 3.0)
    dout = rng.standard_normal((2, 3))
    saved = dout.copy()
    dx, dy = backward(dout, cache)
    assert dx is not dout and dy is not dout and dx is not dy
    assert not np.may_share_memory(dx, dout) and not np.may_share_memory(dx, dy)
    dy_before = dy.copy()
    dx += 1.0
    dy += 1.0
    np.testing.assert_array_equal(dout, saved)
    np.testing.assert_array_equal(dy, dy_before + 1.0)


def test_add_backward_values_are_dout_copies(rng):
    _, cache = add_forward(rng.standard_normal((2, 3)), rng.standard_normal((2, 3)))
    dout = rng.standard_normal((2, 3))
    dx, dy = add_backward(dout, cache)
    np.testing.assert_array_equal(dx, dout)
    np.testing.assert_array_equal(dy, dout)
    dx_sub, dy_sub = subtract_backward(dout, subtract_forward(dout, dout)[1])
    np.testing.assert_array_equal(dx_sub, dout)
    np.testing.assert_array_equal(dy_sub, -dout)
    assert not np.may_share_memory(dx_sub, dout)


@pytest.mark.parametrize("forward, backward, x", [
    (sum_forward, sum_backward, np.ones((2, 3))), (mean_forward, mean_backward, np.ones(3)),
    (power_forward, power_backward, np.ones(3)), (log_forward, log_backward, np.ones(3)),
])
def test_unary_gradients_are_new_arrays(forward, backward, x):
    args = (x, 1) if forward is power_forward else (x,)
    out, cache = forward(*args)
    dout = np.ones(np.shape(out))
    dx = backward(dout, cache)
    assert not np.may_share_memory(dx, dout)
