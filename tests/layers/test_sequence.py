"""Sequence layers: word embedding, temporal affine/softmax loss, RNN, LSTM, GRU, positions."""

import math
import re

import numpy as np
import pytest

from checks import assert_gradients
from layers import (gru_backward, gru_forward, gru_step_backward, gru_step_forward,
                    lstm_backward, lstm_forward, lstm_step_backward, lstm_step_forward,
                    positional_encoding_backward, positional_encoding_forward,
                    rnn_backward, rnn_forward, rnn_step_backward, rnn_step_forward,
                    sinusoidal_encoding, temporal_affine_backward, temporal_affine_forward,
                    temporal_softmax_loss, temporal_softmax_loss_backward,
                    temporal_softmax_loss_forward, word_embedding_backward,
                    word_embedding_forward)

# name: (forward, backward, number of H-wide gate blocks, number of biases)
SEQUENCES = {
    "rnn": (rnn_forward, rnn_backward, 1, 1),
    "lstm": (lstm_forward, lstm_backward, 4, 1),
    "gru": (gru_forward, gru_backward, 3, 2),
}
STEPS = {
    "rnn": (rnn_step_forward, rnn_step_backward, 1, 1),
    "lstm": (lstm_step_forward, lstm_step_backward, 4, 1),
    "gru": (gru_step_forward, gru_step_backward, 3, 2),
}
# (N, T, D, H): single example, single step, both, and ordinary sizes.
SHAPES = [(1, 1, 2, 3), (3, 1, 1, 2), (1, 4, 3, 2), (2, 3, 2, 3)]


def recurrent_inputs(rng, n, t, d, h, gates, biases, dtype=np.float64, weight_scale=1.0):
    """x (N, T, D) (or (N, D) when t is None), h0, Wx, Wh and the biases."""
    x = rng.standard_normal((n, d) if t is None else (n, t, d))
    h0 = rng.standard_normal((n, h))
    wx = rng.standard_normal((d, gates * h)) * weight_scale / math.sqrt(d)
    wh = rng.standard_normal((h, gates * h)) * weight_scale / math.sqrt(h)
    bs = [0.5 * rng.standard_normal(gates * h) for _ in range(biases)]
    return [a.astype(dtype) for a in (x, h0, wx, wh, *bs)]


def step_inputs(name, rng, n, d, h, dtype=np.float64):
    _, _, gates, biases = STEPS[name]
    x, prev_h, *weights = recurrent_inputs(rng, n, None, d, h, gates, biases, dtype)
    states = [prev_h, rng.standard_normal((n, h)).astype(dtype)] if name == "lstm" \
        else [prev_h]
    return [x, *states, *weights]


# -- gradients ----------------------------------------------------------------------------

@pytest.mark.parametrize("shape", SHAPES)
@pytest.mark.parametrize("name", sorted(SEQUENCES))
def test_sequence_gradients(name, shape):
    forward, backward, gates, biases = SEQUENCES[name]
    args = recurrent_inputs(np.random.default_rng(sum(shape)), *shape, gates, biases)
    assert_gradients(forward, backward, *args, seed=len(shape))


@pytest.mark.parametrize("seed", [0, 1])
@pytest.mark.parametrize("name", sorted(STEPS))
def test_step_gradients(name, seed):
    forward, backward, _, _ = STEPS[name]
    rng = np.random.default_rng(seed)
    args = step_inputs(name, rng, 1 + seed, 2, 3)
    assert_gradients(forward, backward, *args, seed=seed)


@pytest.mark.parametrize("name", sorted(SEQUENCES))
def test_long_sequence_gradients(name):
    # T = 50 with one example, one input feature and two hidden units: BPTT through 50
    # steps, where a wrong recurrence in backward compounds, at a cost the checker can pay.
    forward, backward, gates, biases = SEQUENCES[name]
    args = recurrent_inputs(np.random.default_rng(50), 1, 50, 1, 2, gates, biases)
    assert_gradients(forward, backward, *args)


def test_rnn_gradient_vanishes_over_time_and_lstm_keeps_it():
    # A loss on the last hidden state only. With small recurrent weights the RNN's
    # gradient reaching x at step 0 is many orders below the one at the last step; an
    # LSTM whose forget gates are held open (large forget bias) carries it through. Its
    # input gates are kept mostly shut, so that the cell state does not grow until tanh
    # saturates and blocks the gradient at the last step instead.
    n, t, d, h = 1, 60, 2, 3
    rng = np.random.default_rng(0)
    dh = np.zeros((n, t, h))
    dh[:, -1] = rng.standard_normal((n, h))

    x, h0, wx, wh, b = recurrent_inputs(rng, n, t, d, h, 1, 1, weight_scale=0.3)
    dx = rnn_backward(dh, rnn_forward(x, h0, wx, wh, b)[1])[0]
    rnn_ratio = np.linalg.norm(dx[:, 0]) / np.linalg.norm(dx[:, -1])

    x, h0, wx, wh, b = recurrent_inputs(rng, n, t, d, h, 4, 1, weight_scale=0.3)
    b[h:2 * h] = 10.0   # forget gate sigmoid(10) = 0.99995
    b[:h] = -3.0        # input gate sigmoid(-3) = 0.047
    dx = lstm_backward(dh, lstm_forward(x, h0, wx, wh, b)[1])[0]
    lstm_ratio = np.linalg.norm(dx[:, 0]) / np.linalg.norm(dx[:, -1])

    assert rnn_ratio < 1e-20
    assert lstm_ratio > 1e-3


# -- sequence = repeated steps --------------------------------------------------------------

@pytest.mark.parametrize("name", sorted(SEQUENCES))
def test_sequence_is_the_step_repeated_and_bptt_matches_steps(name):
    forward, backward, gates, biases = SEQUENCES[name]
    step_forward, step_backward = STEPS[name][:2]
    rng = np.random.default_rng(3)
    x, h0, wx, wh, *bs = recurrent_inputs(rng, 2, 4, 3, 2, gates, biases)
    h, cache = forward(x, h0, wx, wh, *bs)
    dh = rng.standard_normal(h.shape)
    dx, dh0, dwx, dwh, *dbs = backward(dh, cache)

    states = [h0, np.zeros_like(h0)] if name == "lstm" else [h0]
    caches = []
    for t in range(x.shape[1]):
        *states, step_cache = step_forward(x[:, t], *states, wx, wh, *bs)
        caches.append(step_cache)
        np.testing.assert_allclose(states[0], h[:, t], rtol=1e-13, atol=1e-15)

    grads = [np.zeros_like(a) for a in (wx, wh, *bs)]
    dstates = [np.zeros_like(h0) for _ in states]
    for t in reversed(range(x.shape[1])):
        dstates[0] = dstates[0] + dh[:, t]
        dx_t, *rest = step_backward(*dstates, caches[t])
        dstates, step_grads = rest[:len(states)], rest[len(states):]
        grads = [g + s for g, s in zip(grads, step_grads, strict=True)]
        np.testing.assert_allclose(dx_t, dx[:, t], rtol=1e-12, atol=1e-14)
    np.testing.assert_allclose(dstates[0], dh0, rtol=1e-12, atol=1e-14)
    for ours, reference in zip((dwx, dwh, *dbs), grads, strict=True):
        np.testing.assert_allclose(ours, reference, rtol=1e-12, atol=1e-14)


# -- float32 --------------------------------------------------------------------------------

@pytest.mark.parametrize("name", sorted(SEQUENCES))
def test_float32_stays_float32(name):
    forward, backward, gates, biases = SEQUENCES[name]
    args = recurrent_inputs(np.random.default_rng(1), 2, 3, 2, 2, gates, biases,
                            dtype=np.float32)
    h, cache = forward(*args)
    grads = backward(np.ones_like(h), cache)
    assert h.dtype == np.float32
    assert [g.dtype for g in grads] == [np.float32] * len(args)
    assert_gradients(forward, backward, *args)


@pytest.mark.parametrize("name", sorted(SEQUENCES))
def test_large_inputs_stay_finite(name):
    forward, backward, gates, biases = SEQUENCES[name]
    x, h0, wx, wh, *bs = recurrent_inputs(np.random.default_rng(2), 2, 3, 2, 2, gates,
                                          biases)
    with np.errstate(all="raise"):
        h, cache = forward(1e4 * x, h0, wx, wh, *bs)
        grads = backward(np.ones_like(h), cache)
    assert np.all(np.isfinite(h)) and all(np.all(np.isfinite(g)) for g in grads)


# -- word embedding -------------------------------------------------------------------------

def test_word_embedding_looks_up_rows_and_repeated_indices_add():
    W = np.arange(8.0).reshape(4, 2)
    x = np.array([[1, 3, 1], [1, 0, 0]])
    out, cache = word_embedding_forward(x, W)
    np.testing.assert_array_equal(out[0], [[2, 3], [6, 7], [2, 3]])
    dout = np.arange(12.0).reshape(2, 3, 2) + 1
    dW = word_embedding_backward(dout, cache)
    # word 1 occurs at (0,0), (0,2) and (1,0); word 0 at (1,1) and (1,2); word 2 nowhere.
    np.testing.assert_array_equal(dW[1], dout[0, 0] + dout[0, 2] + dout[1, 0])
    np.testing.assert_array_equal(dW[0], dout[1, 1] + dout[1, 2])
    np.testing.assert_array_equal(dW[2], [0, 0])
    np.testing.assert_array_equal(dW[3], dout[0, 1])


@pytest.mark.parametrize("n, t", [(1, 1), (3, 1), (1, 5), (2, 6)])
def test_word_embedding_gradients(n, t):
    rng = np.random.default_rng(n * 10 + t)
    x = rng.integers(3, size=(n, t))
    assert_gradients(word_embedding_forward, word_embedding_backward, x,
                     rng.standard_normal((3, 2)))


# -- temporal affine and softmax loss -------------------------------------------------------

@pytest.mark.parametrize("n, t", [(1, 1), (2, 1), (1, 4), (3, 2)])
def test_temporal_affine(n, t):
    rng = np.random.default_rng(n + t)
    x, w, b = rng.standard_normal((n, t, 3)), rng.standard_normal((3, 2)), rng.standard_normal(2)
    out, _ = temporal_affine_forward(x, w, b)
    np.testing.assert_allclose(out[-1, -1], x[-1, -1] @ w + b, rtol=1e-14)
    assert_gradients(temporal_affine_forward, temporal_affine_backward, x, w, b)


def test_temporal_softmax_loss_sums_masked_steps_and_averages_over_sequences():
    # Uniform scores over V = 4 words: every counted step costs log 4. Four steps are
    # counted out of six, over N = 2 sequences.
    x = np.zeros((2, 3, 4))
    y = np.array([[0, 1, 2], [3, 3, 0]])
    mask = np.array([[True, True, False], [True, False, True]])
    loss, dx = temporal_softmax_loss(x, y, mask)
    assert loss == pytest.approx(4 * math.log(4) / 2, rel=1e-15)
    assert np.all(dx[0, 2] == 0) and np.all(dx[1, 1] == 0)
    np.testing.assert_allclose(dx[0, 0], [-0.375, 0.125, 0.125, 0.125], rtol=1e-15)


@pytest.mark.parametrize("n, t", [(1, 1), (2, 3), (1, 5)])
def test_temporal_softmax_loss_gradients_and_fused_form(n, t):
    rng = np.random.default_rng(t)
    x = 3 * rng.standard_normal((n, t, 5))
    y = rng.integers(5, size=(n, t))
    mask = rng.random((n, t)) < 0.7
    assert_gradients(temporal_softmax_loss_forward, temporal_softmax_loss_backward, x, y, mask)
    loss, cache = temporal_softmax_loss_forward(x, y, mask)
    fused_loss, dx = temporal_softmax_loss(x, y, mask)
    assert fused_loss == loss
    np.testing.assert_array_equal(dx, temporal_softmax_loss_backward(1.0, cache))


def test_temporal_softmax_loss_with_no_true_step_is_plus_zero():
    for dtype in (np.float32, np.float64):
        x = np.ones((2, 3, 4), dtype)
        loss, dx = temporal_softmax_loss(x, np.zeros((2, 3), int), np.zeros((2, 3), bool))
        assert loss == 0 and not np.signbit(loss) and loss.dtype == dtype
        np.testing.assert_array_equal(dx, np.zeros_like(x))


def test_temporal_softmax_loss_is_finite_for_huge_scores():
    x = np.array([[[1e4, -1e4, 0.0]]])
    with np.errstate(all="raise"):
        loss, dx = temporal_softmax_loss(x, np.array([[1]]), np.array([[True]]))
    assert loss == pytest.approx(2e4, rel=1e-12)
    np.testing.assert_allclose(dx, [[[1, -1, 0]]], atol=1e-300)


# -- positional encoding --------------------------------------------------------------------

def test_sinusoidal_encoding_values():
    pe = sinusoidal_encoding(50, 5)
    t = 7   # columns 2i = 2 and 2i + 1 = 3 (i = 1) share the frequency 10000^(-2/5)
    assert pe[t, 2] == pytest.approx(math.sin(7 / 10000 ** (2 / 5)), rel=1e-14)
    assert pe[t, 3] == pytest.approx(math.cos(7 / 10000 ** (2 / 5)), rel=1e-14)
    assert pe[t, 4] == pytest.approx(math.sin(7 / 10000 ** (4 / 5)), rel=1e-14)
    np.testing.assert_array_equal(pe[0], [0, 1, 0, 1, 0])
    assert sinusoidal_encoding(3, 4, np.float32).dtype == np.float32


@pytest.mark.parametrize("dtype, shown", [(int, "int"), (np.int64, "int64"),
                                          (np.float16, "float16"), ("float16", "float16")])
def test_sinusoidal_encoding_rejects_non_float_tables(dtype, shown):
    # An int table would truncate every entry to -1, 0 or 1.
    with pytest.raises(TypeError, match=re.escape(
            f"sinusoidal_encoding: dtype must be float32 or float64; got {shown}")):
        sinusoidal_encoding(3, 4, dtype)


def test_positional_encoding_adds_the_table_and_passes_gradients_through():
    rng = np.random.default_rng(0)
    x = rng.standard_normal((2, 6, 4))
    out, cache = positional_encoding_forward(x)
    np.testing.assert_array_equal(out, x + sinusoidal_encoding(6, 4))
    dout = rng.standard_normal(out.shape)
    np.testing.assert_array_equal(positional_encoding_backward(dout, cache), dout)
    assert_gradients(positional_encoding_forward, positional_encoding_backward, x[:1, :1])


# -- bad input ------------------------------------------------------------------------------

def test_word_embedding_rejects_an_index_out_of_range():
    W = np.zeros((5, 2))
    with pytest.raises(ValueError, match=r"word_embedding_forward: x must hold values in "
                                         r"\[0, V=5\); got values from 0 to 5"):
        word_embedding_forward(np.array([[0, 5]]), W)
    with pytest.raises(ValueError, match=r"x must hold values in \[0, V=5\); got values "
                                         r"from -1"):
        word_embedding_forward(np.array([[-1, 2]]), W)
    with pytest.raises(TypeError, match="word_embedding_forward: x must be an integer array"):
        word_embedding_forward(np.array([[0.0, 1.0]]), W)


def test_recurrent_layers_reject_mismatched_hidden_sizes():
    rng = np.random.default_rng(0)
    x, h0, wx, wh, b = recurrent_inputs(rng, 2, 3, 4, 5, 4, 1)
    with pytest.raises(ValueError, match=r"lstm_forward: Wh must have shape \(H, 4H\) with "
                                         r"H=5 from h0, 4H=20 from h0; got Wh\.shape = "
                                         r"\(4, 20\)"):
        lstm_forward(x, h0, wx, wh[:4], b)
    with pytest.raises(ValueError, match=r"lstm_forward: Wx must have shape \(D, 4H\) with "
                                         r"D=4 from x, 4H=20 from h0; got Wx\.shape = "
                                         r"\(4, 16\)"):
        lstm_forward(x, h0, wx[:, :16], wh, b)
    with pytest.raises(ValueError, match=r"rnn_step_forward: prev_h must have shape \(N, H\) "
                                         r"with N=2 from x; got prev_h\.shape = \(3, 5\)"):
        rnn_step_forward(x[:, 0], np.zeros((3, 5)), wx[:, :5], wh[:, :5], b[:5])
    with pytest.raises(ValueError, match=r"gru_forward: bh must have shape \(3H,\) with "
                                         r"3H=15 from h0; got bh\.shape = \(12,\)"):
        gru_forward(x, h0, wx[:, :15], wh[:, :15], b[:15], b[:12])
    with pytest.raises(ValueError, match=r"lstm_step_forward: prev_c must have shape "):
        lstm_step_forward(x[:, 0], h0, h0[:, :4], wx, wh, b)


def test_temporal_softmax_loss_rejects_bad_masks_and_labels():
    x = np.zeros((2, 3, 4))
    y = np.zeros((2, 3), dtype=int)
    with pytest.raises(ValueError, match=r"temporal_softmax_loss_forward: mask must have "
                                         r"shape \(N, T\) with N=2 from x, T=3 from x"):
        temporal_softmax_loss_forward(x, y, np.ones((2, 2), dtype=bool))
    with pytest.raises(TypeError, match="temporal_softmax_loss_forward: mask must be a "
                                        "boolean array; got int64 array"):
        temporal_softmax_loss_forward(x, y, np.ones((2, 3), dtype=np.int64))
    with pytest.raises(ValueError, match=r"y must hold values in \[0, V=4\)"):
        temporal_softmax_loss_forward(x, y + 4, np.ones((2, 3), dtype=bool))


def test_backward_rejects_an_upstream_gradient_of_the_wrong_shape():
    args = recurrent_inputs(np.random.default_rng(0), 2, 3, 2, 2, 4, 1)
    _, cache = lstm_forward(*args)
    with pytest.raises(ValueError, match=r"lstm_backward: dh must have the shape of the "
                                         r"forward output \(2, 3, 2\)"):
        lstm_backward(np.zeros((2, 3)), cache)
