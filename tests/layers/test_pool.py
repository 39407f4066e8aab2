"""Pooling: values by hand, ties, overlapping windows, fast == naive, bad input."""

import re

import numpy as np
import pytest
from hypothesis import given, settings, strategies as st

import layers
from checks.checker import check_layer
from layers.pooling import (avg_pool_backward, avg_pool_forward, global_avg_pool_backward,
                            global_avg_pool_forward, max_pool_backward,
                            max_pool_backward_naive, max_pool_forward, max_pool_forward_naive)

MAX_PAIRS = {"naive": (max_pool_forward_naive, max_pool_backward_naive),
             "fast": (max_pool_forward, max_pool_backward)}


def pool(h, w, stride):
    return {"pool_height": h, "pool_width": w, "stride": stride}


# -- max pooling ----------------------------------------------------------------------------

@pytest.mark.parametrize("kind", MAX_PAIRS)
def test_max_pool_by_hand(kind):
    forward, backward = MAX_PAIRS[kind]
    x = np.array([[[[1.0, 5.0, 2.0, 0.0],
                    [3.0, 4.0, 8.0, 1.0],
                    [0.0, 0.0, -1.0, -2.0],
                    [7.0, 6.0, -3.0, -4.0]]]])
    out, cache = forward(x, pool(2, 2, 2))
    np.testing.assert_array_equal(out, [[[[5.0, 8.0], [7.0, -1.0]]]])
    dx = backward(np.array([[[[10.0, 20.0], [30.0, 40.0]]]]), cache)
    np.testing.assert_array_equal(dx, [[[[0, 10, 0, 0], [0, 0, 20, 0],
                                         [0, 0, 40, 0], [30, 0, 0, 0]]]])


@pytest.mark.parametrize("kind", MAX_PAIRS)
def test_max_pool_ties_go_to_the_first_max_in_row_major_order(kind):
    forward, backward = MAX_PAIRS[kind]
    # Window 0 ties at all four elements, window 1 between its top-right and bottom-left.
    x = np.array([[[[2.0, 2.0, 0.0, 3.0],
                    [2.0, 2.0, 3.0, 1.0]]]])
    out, cache = forward(x, pool(2, 2, 2))
    dx = backward(np.array([[[[1.0, 1.0]]]]), cache)
    np.testing.assert_array_equal(dx, [[[[1, 0, 0, 1], [0, 0, 0, 0]]]])


@pytest.mark.parametrize("kind", MAX_PAIRS)
def test_check_layer_passes_max_pool_with_ties_by_counting_them_as_kinks(kind):
    # Integer values tie inside windows: there max has no derivative, and the checker
    # must skip those elements (kinks) rather than fail on them.
    x = np.array([[[[2.0, 2.0, 0.0, 3.0],
                    [2.0, 2.0, 3.0, 1.0],
                    [-1.0, 4.0, 1.0, 1.0],
                    [4.0, 0.0, 1.0, 1.0]]]])
    report = check_layer(*MAX_PAIRS[kind], x, pool(2, 2, 2))
    assert report.ok, str(report)
    assert report.arguments[0].kinks > 0


@pytest.mark.parametrize("kind", MAX_PAIRS)
def test_max_pool_overlapping_windows_sum_their_gradients(kind):
    forward, backward = MAX_PAIRS[kind]
    # 2x2 windows with stride 1 on a 3x3 input: the centre 9 is the max of all four.
    x = np.array([[[[1.0, 2.0, 3.0], [4.0, 9.0, 5.0], [6.0, 7.0, 8.0]]]])
    out, cache = forward(x, pool(2, 2, 1))
    np.testing.assert_array_equal(out, np.full((1, 1, 2, 2), 9.0))
    dx = backward(np.array([[[[1.0, 2.0], [3.0, 4.0]]]]), cache)
    np.testing.assert_array_equal(dx, [[[[0, 0, 0], [0, 10, 0], [0, 0, 0]]]])


@pytest.mark.parametrize("kind", MAX_PAIRS)
def test_max_pool_gaps_between_windows_get_zero_gradient(kind):
    forward, backward = MAX_PAIRS[kind]
    x = np.array([[[[1.0, 9.0, 2.0, 3.0]]]])
    out, cache = forward(x, pool(1, 1, 3))
    np.testing.assert_array_equal(out, [[[[1.0, 3.0]]]])
    np.testing.assert_array_equal(backward(np.array([[[[5.0, 6.0]]]]), cache),
                                  [[[[5.0, 0.0, 0.0, 6.0]]]])


def test_cs231n_names_are_aliases_of_the_fast_pair():
    assert layers.max_pool_forward_fast is max_pool_forward
    assert layers.max_pool_backward_fast is max_pool_backward


@st.composite
def pool_problems(draw):
    ph, pw, stride = draw(st.integers(1, 3)), draw(st.integers(1, 3)), draw(st.integers(1, 3))
    ho, wo = draw(st.integers(1, 4)), draw(st.integers(1, 4))
    shape = (draw(st.integers(1, 2)), draw(st.integers(1, 3)),
             (ho - 1) * stride + ph, (wo - 1) * stride + pw)
    # Integers in a small range: ties are frequent, and both versions must break them alike.
    ties = draw(st.booleans())
    return shape, pool(ph, pw, stride), ties, draw(st.integers(0, 2**32 - 1))


@settings(max_examples=60, deadline=None)
@given(pool_problems())
def test_fast_max_pool_matches_naive(problem):
    shape, pool_param, ties, seed = problem
    rng = np.random.default_rng(seed)
    x = rng.integers(0, 3, shape).astype(float) if ties else rng.standard_normal(shape)
    out_naive, cache_naive = max_pool_forward_naive(x, pool_param)
    out_fast, cache_fast = max_pool_forward(x, pool_param)
    np.testing.assert_array_equal(out_fast, out_naive)
    dout = rng.standard_normal(out_naive.shape)
    dx_naive = max_pool_backward_naive(dout, cache_naive)
    dx_fast = max_pool_backward(dout, cache_fast)
    # Overlapping windows sum in different orders: equal to rounding.
    np.testing.assert_allclose(dx_fast, dx_naive, rtol=1e-12, atol=1e-12 * np.abs(dout).max())


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_max_pool_dtype_follows_input(dtype, rng):
    x = rng.standard_normal((2, 3, 4, 6)).astype(dtype)
    out, cache = max_pool_forward(x, pool(2, 2, 2))
    dx = max_pool_backward(np.ones(out.shape, dtype), cache)
    assert out.dtype == dx.dtype == dtype


# -- average pooling ------------------------------------------------------------------------

def test_avg_pool_by_hand_with_overlap():
    x = np.arange(9.0).reshape(1, 1, 3, 3)
    out, cache = avg_pool_forward(x, pool(2, 2, 1))
    np.testing.assert_array_equal(out, [[[[2.0, 3.0], [5.0, 6.0]]]])
    dx = avg_pool_backward(np.array([[[[4.0, 8.0], [12.0, 16.0]]]]), cache)
    # Each window hands out dout / 4; the centre is in all four windows.
    np.testing.assert_array_equal(dx, [[[[1, 3, 2], [4, 10, 6], [3, 7, 4]]]])


def test_global_avg_pool_by_hand():
    x = np.arange(12.0).reshape(1, 2, 2, 3)
    out, cache = global_avg_pool_forward(x)
    np.testing.assert_array_equal(out, [[2.5, 8.5]])
    dx = global_avg_pool_backward(np.array([[6.0, -12.0]]), cache)
    np.testing.assert_array_equal(dx, np.concatenate([np.full((1, 1, 2, 3), 1.0),
                                                      np.full((1, 1, 2, 3), -2.0)], axis=1))


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_average_pools_keep_the_dtype(dtype):
    x = np.ones((1, 2, 4, 4), dtype)
    for forward, backward, args in ((avg_pool_forward, avg_pool_backward, (pool(2, 2, 2),)),
                                    (global_avg_pool_forward, global_avg_pool_backward, ())):
        out, cache = forward(x, *args)
        assert out.dtype == dtype
        assert backward(np.ones_like(out), cache).dtype == dtype


# -- bad input ------------------------------------------------------------------------------

POOLS = [max_pool_forward_naive, max_pool_forward, avg_pool_forward]


@pytest.mark.parametrize("forward", POOLS, ids=lambda f: f.__name__)
@pytest.mark.parametrize("x, pool_param, error, message", [
    (np.zeros((1, 1, 5, 4)), pool(2, 2, 2), ValueError,
     "the output height (H - pool_height) / stride + 1 = (5 - 2) / 2 + 1 = 2.5 is not an "
     "integer"),
    (np.zeros((1, 1, 4, 4)), pool(2, 5, 1), ValueError,
     "the window is larger than the input: pool_width = 5 > W = 4"),
    (np.zeros((1, 1, 4, 4)), {"pool_height": 2, "stride": 2}, ValueError,
     "pool_param must have the key 'pool_width'; got keys ['pool_height', 'stride']"),
    (np.zeros((1, 1, 4, 4)), {**pool(2, 2, 2), "pad": 1}, ValueError,
     "pool_param has unexpected key 'pad'; allowed keys are 'pool_height', 'pool_width', "
     "'stride'"),
    (np.zeros((1, 1, 4, 4)), pool(2, 2, 0), ValueError, "pool_param['stride'] must be >= 1"),
    (np.zeros((1, 1, 4, 4)), pool(0, 2, 1), ValueError,
     "pool_param['pool_height'] must be >= 1"),
    (np.zeros((1, 1, 4, 4)), pool(2, 2.0, 2), TypeError,
     "pool_param['pool_width'] must be an integer; got float"),
    (np.zeros((4, 4)), pool(2, 2, 2), ValueError,
     "x must be a 4-d array of shape (N, C, H, W); got x.shape = (4, 4)"),
    (np.zeros((1, 1, 4, 4), complex), pool(2, 2, 2), TypeError,
     "x must be a number array, float32 or float64 (integers and Python numbers are "
     "promoted as NumPy does); got complex128"),
])
def test_bad_input(forward, x, pool_param, error, message):
    with pytest.raises(error, match=re.escape(f"{forward.__name__}: {message}")):
        forward(x, pool_param)


def test_global_avg_pool_bad_input():
    with pytest.raises(ValueError, match=re.escape(
            "global_avg_pool_forward: x must be a 4-d array of shape (N, C, H, W); got "
            "x.shape = (2, 3)")):
        global_avg_pool_forward(np.zeros((2, 3)))


@pytest.mark.parametrize("kind", MAX_PAIRS)
def test_backward_rejects_a_dout_of_the_wrong_shape(kind):
    forward, backward = MAX_PAIRS[kind]
    _, cache = forward(np.zeros((1, 2, 4, 4)), pool(2, 2, 2))
    with pytest.raises(ValueError, match=re.escape(
            f"{backward.__name__}: dout must have the shape of the forward output "
            "(1, 2, 2, 2); got dout.shape = (1, 2, 4, 4)")):
        backward(np.zeros((1, 2, 4, 4)), cache)
