"""Inverted dropout: what p means, the mask, its seed (CS231n's), test mode, bad input."""

import re

import numpy as np
import pytest

from checks import assert_gradients, check_layer
from layers import dropout_backward, dropout_forward


@pytest.fixture(autouse=True)
def global_random_state():
    """Seeded dropout seeds NumPy's global generator, as CS231n's does; put the caller's
    state back after each test."""
    state = np.random.get_state()
    yield
    np.random.set_state(state)


def train_param(p=0.5, seed=0, **extra):
    return {"mode": "train", "p": p, "seed": seed, **extra}


def test_train_mode_keeps_a_fraction_p_and_scales_by_one_over_p():
    x = np.ones((500, 400))
    out, _ = dropout_forward(x, train_param(p=0.3, seed=1))
    assert set(np.unique(out)) == {0.0, 1 / 0.3}
    # 200,000 Bernoulli(0.3) draws: the kept fraction is within 5 standard deviations
    # (5 * sqrt(0.3 * 0.7 / 2e5) ~ 5e-3) of p, and the mean of out of 1.
    assert abs(np.mean(out != 0) - 0.3) < 5e-3
    assert abs(out.mean() - 1.0) < 5e-3 / 0.3


def test_backward_applies_the_forward_mask():
    rng = np.random.default_rng(0)
    x = rng.standard_normal((4, 5))
    out, cache = dropout_forward(x, train_param(p=0.6, seed=3))
    dout = rng.standard_normal(x.shape)
    mask = np.where(out != 0, 1 / 0.6, 0.0)
    np.testing.assert_array_equal(out, x * mask)
    np.testing.assert_array_equal(dropout_backward(dout, cache), dout * mask)


def test_test_mode_is_the_identity_forward_and_backward():
    x = np.random.default_rng(0).standard_normal((3, 4)).astype(np.float32)
    out, cache = dropout_forward(x, {"mode": "test", "p": 0.5})
    np.testing.assert_array_equal(out, x)
    assert out is not x and out.dtype == np.float32
    dout = np.ones_like(x) * 2
    dx = dropout_backward(dout, cache)
    np.testing.assert_array_equal(dx, dout)
    assert dx is not dout


def test_keep_probability_one_keeps_everything():
    x = np.arange(6.0).reshape(2, 3)
    np.testing.assert_array_equal(dropout_forward(x, train_param(p=1.0))[0], x)


def test_one_seed_gives_one_mask_and_another_seed_another():
    x = np.ones((8, 8))
    first, _ = dropout_forward(x, train_param(seed=5))
    again, _ = dropout_forward(x, train_param(seed=5))
    other, _ = dropout_forward(x, train_param(seed=6))
    np.testing.assert_array_equal(first, again)
    assert not np.array_equal(first, other)


def test_one_seed_gives_the_same_mask_in_float32_and_float64():
    x64 = np.random.default_rng(0).uniform(1, 2, (16, 16))
    out64, _ = dropout_forward(x64, train_param(p=0.7, seed=11))
    out32, _ = dropout_forward(x64.astype(np.float32), train_param(p=0.7, seed=11))
    assert out32.dtype == np.float32
    np.testing.assert_array_equal(out32 != 0, out64 != 0)
    np.testing.assert_allclose(out32, out64, rtol=1e-6)


def cs231n_mask(seed, shape, p):
    """CS231n's reference mask, and the global state it leaves behind."""
    np.random.seed(seed)
    mask = (np.random.rand(*shape) < p) / p
    return mask, np.random.get_state()


@pytest.mark.parametrize("seed, shape, p", [(123, (10, 10), 0.2), (0, (3, 4, 5), 0.75),
                                            (2**32 - 1, (7,), 0.5)])
def test_a_seed_gives_cs231ns_mask_and_leaves_the_global_state_cs231ns_does(seed, shape, p):
    x = np.random.default_rng(0).uniform(1, 2, shape)
    np.random.seed(99)
    out, cache = dropout_forward(x, train_param(p=p, seed=seed))
    state = np.random.get_state()
    mask, expected_state = cs231n_mask(seed, shape, p)
    np.testing.assert_array_equal(out, x * mask)
    np.testing.assert_array_equal(dropout_backward(np.ones(shape), cache), mask)
    np.testing.assert_array_equal(state[1], expected_state[1])
    assert state[2:] == expected_state[2:]


def test_a_refused_seed_leaves_the_global_generator_alone():
    np.random.seed(17)
    before = np.random.get_state()[1].copy()
    with pytest.raises(ValueError):
        dropout_forward(np.ones((3, 3)), train_param(p=0.5, seed=2**32))
    with pytest.raises(ValueError):
        dropout_forward(np.ones((3, 3)), train_param(p=2.0, seed=3))
    np.testing.assert_array_equal(np.random.get_state()[1], before)


def test_a_generator_as_seed_leaves_the_global_generator_alone():
    np.random.seed(17)
    before = np.random.get_state()[1].copy()
    dropout_forward(np.ones((3, 3)), train_param(seed=np.random.default_rng(2)))
    np.testing.assert_array_equal(np.random.get_state()[1], before)


def test_seeded_dropout_passes_the_checker_and_the_callers_state_is_kept():
    # The checker sets NumPy's global state before every evaluation and puts the
    # caller's back afterwards: a check does not move the caller's stream.
    x = np.random.default_rng(2).standard_normal((4, 4))
    np.random.seed(5)
    before = np.random.get_state()[1].copy()
    report = check_layer(dropout_forward, dropout_backward, x, train_param(p=0.6, seed=8))
    assert report.ok, str(report)
    np.testing.assert_array_equal(np.random.get_state()[1], before)


def test_without_a_seed_the_mask_comes_from_the_global_generator():
    # As in CS231n's Dropout notebook: np.random.seed(231) makes the run reproducible, and
    # the draws advance the global generator (which is never reseeded).
    np.random.seed(231)
    x = np.random.randn(6, 7)
    out, _ = dropout_forward(x, {"mode": "train", "p": 0.4})
    after = np.random.rand()
    np.random.seed(231)
    np.random.randn(6, 7)
    expected = x * ((np.random.rand(6, 7) < 0.4) / 0.4)
    np.testing.assert_array_equal(out, expected)
    assert after == np.random.rand()


def test_unseeded_dropout_passes_the_checker():
    # The checker puts NumPy's global state back before every evaluation, so every
    # evaluation draws one mask; and it restores the caller's state afterwards.
    x = np.random.default_rng(2).standard_normal((4, 4))
    np.random.seed(5)
    before = np.random.get_state()[1].copy()
    report = check_layer(dropout_forward, dropout_backward, x, {"mode": "train", "p": 0.5})
    assert report.ok, str(report)
    np.testing.assert_array_equal(np.random.get_state()[1], before)


def test_a_generator_as_seed_is_used_and_advances():
    x = np.ones((6, 6))
    generator = np.random.default_rng(4)
    first, _ = dropout_forward(x, {"mode": "train", "p": 0.5, "seed": generator})
    second, _ = dropout_forward(x, {"mode": "train", "p": 0.5, "seed": generator})
    expected = (np.random.default_rng(4).random(x.shape) < 0.5) / 0.5
    np.testing.assert_array_equal(first, expected)
    assert not np.array_equal(first, second)


def test_keep_prob_is_an_alias_of_p():
    x = np.ones((5, 5))
    by_p, _ = dropout_forward(x, train_param(p=0.4, seed=9))
    by_alias, _ = dropout_forward(x, {"mode": "train", "keep_prob": 0.4, "seed": 9})
    both, _ = dropout_forward(x, train_param(p=0.4, seed=9, keep_prob=0.4))
    np.testing.assert_array_equal(by_p, by_alias)
    np.testing.assert_array_equal(by_p, both)


def test_gradients_seeded_and_in_test_mode():
    x = np.random.default_rng(1).standard_normal((3, 2, 4))
    assert_gradients(dropout_forward, dropout_backward, x, train_param(p=0.8, seed=1))
    assert_gradients(dropout_forward, dropout_backward, x, {"mode": "test", "p": 0.8})


@pytest.mark.parametrize("x, param, error, message", [
    (np.ones((2, 2)), {"mode": "eval", "p": 0.5}, ValueError,
     "dropout_forward: dropout_param['mode'] must be 'train' or 'test'; got 'eval'"),
    (np.ones((2, 2)), {"p": 0.5}, ValueError,
     "dropout_forward: dropout_param['mode'] must be 'train' or 'test'; got None"),
    (np.ones((2, 2)), {"mode": "train", "p": 0}, ValueError,
     "dropout_forward: dropout_param['p'] must be in (0, 1]; got 0"),
    (np.ones((2, 2)), {"mode": "train", "p": 1.5}, ValueError,
     "dropout_forward: dropout_param['p'] must be in (0, 1]; got 1.5"),
    (np.ones((2, 2)), {"mode": "train", "keep_prob": -0.1}, ValueError,
     "dropout_forward: dropout_param['keep_prob'] must be in (0, 1]; got -0.1"),
    (np.ones((2, 2)), {"mode": "train", "p": "0.5"}, TypeError,
     "dropout_forward: dropout_param['p'] must be a real number; got str"),
    (np.ones((2, 2)), {"mode": "train"}, ValueError,
     "dropout_forward: dropout_param must give 'p', the probability of KEEPING a unit"),
    (np.ones((2, 2)), {"mode": "train", "p": 0.5, "keep_prob": 0.4}, ValueError,
     "dropout_forward: dropout_param['p'] and dropout_param['keep_prob'] are the same "
     "setting (probability of keeping a unit) but differ: p = 0.5, keep_prob = 0.4"),
    (np.ones((2, 2)), {"mode": "train", "p": 0.5, "seed": 1.5}, TypeError,
     "dropout_forward: dropout_param['seed'] must be an integer; got float"),
    (np.ones((2, 2)), {"mode": "train", "p": 0.5, "seed": -1}, ValueError,
     "dropout_forward: dropout_param['seed'] must be >= 0; got -1"),
    (np.ones((2, 2)), {"mode": "train", "p": 0.5, "seed": 2**32}, ValueError,
     "dropout_forward: dropout_param['seed'] must be < 2**32 (NumPy's legacy seeds); "
     "got 4294967296"),
    (np.ones((2, 2), dtype=complex), {"mode": "train", "p": 0.5}, TypeError,
     "dropout_forward: x must be a number array, float32 or float64 (integers and Python "
     "numbers are promoted as NumPy does); got complex128"),
    (np.ones((2, 2)), [("mode", "train")], TypeError,
     "dropout_forward: dropout_param must be a dict; got list"),
])
def test_bad_input_names_the_function_and_the_argument(x, param, error, message):
    with pytest.raises(error, match=re.escape(message)):
        dropout_forward(x, param)


def test_backward_refuses_an_upstream_gradient_of_the_wrong_shape():
    _, cache = dropout_forward(np.ones((2, 3)), train_param())
    with pytest.raises(ValueError, match=re.escape(
            "dropout_backward: dout must have the shape of the forward output (2, 3); "
            "got dout.shape = (3, 2)")):
        dropout_backward(np.ones((3, 2)), cache)
