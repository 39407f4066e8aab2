"""The RNN and LSTM steps with an input missing the batch axis, as CS231n's NumPy step
broadcasts it: x (D,), prev_h (H,) or prev_c (H,) next to a batch of the others."""

import re

import numpy as np
import pytest

from checks import assert_gradients
from layers import (
    affine_forward, lstm_step_backward, lstm_step_forward, rnn_step_backward,
    rnn_step_forward, word_embedding_forward,
)
from layers.rnn import sigmoid

N, D, H = 3, 4, 5


def step_args(cell, vectors, seed=0):
    """The step's arguments with the inputs named in `vectors` given as 1-d vectors."""
    rng = np.random.default_rng(seed)
    gates = 4 if cell == "lstm" else 1
    inputs = {"x": (N, D), "prev_h": (N, H)}
    if cell == "lstm":
        inputs["prev_c"] = (N, H)
    values = [rng.standard_normal(shape[1:] if name in vectors else shape)
              for name, shape in inputs.items()]
    weights = [rng.standard_normal((D, gates * H)) / 2, rng.standard_normal((H, gates * H)) / 2,
               rng.standard_normal(gates * H) / 2]
    return values + weights


def torch_step(cell, args):
    """The step in PyTorch float64, broadcasting as NumPy does: (outputs, tensors)."""
    torch = pytest.importorskip("torch")
    tensors = [torch.tensor(a, requires_grad=True) for a in args]
    if cell == "rnn":
        x, prev_h, wx, wh, b = tensors
        return (torch.tanh(x @ wx + prev_h @ wh + b),), tensors
    x, prev_h, prev_c, wx, wh, b = tensors
    a = x @ wx + prev_h @ wh + b
    i, f, o = (torch.sigmoid(a[..., k * H:(k + 1) * H]) for k in range(3))
    next_c = f * prev_c + i * torch.tanh(a[..., 3 * H:])
    return (o * torch.tanh(next_c), next_c), tensors


CASES = [("rnn", {"x"}), ("rnn", {"prev_h"}), ("lstm", {"x"}), ("lstm", {"prev_h"}),
         ("lstm", {"prev_c"}), ("lstm", {"x", "prev_c"}), ("lstm", {"x", "prev_h"})]


@pytest.mark.parametrize("cell, vectors", CASES)
def test_step_matches_torch_float64_with_an_input_missing_the_batch_axis(cell, vectors):
    torch = pytest.importorskip("torch")
    args = step_args(cell, vectors)
    forward, backward = ((rnn_step_forward, rnn_step_backward) if cell == "rnn"
                         else (lstm_step_forward, lstm_step_backward))
    *outputs, cache = forward(*args)
    expected, tensors = torch_step(cell, args)
    rng = np.random.default_rng(1)
    upstream = [rng.standard_normal(out.shape) for out in outputs]
    for out, want in zip(outputs, expected, strict=True):
        assert out.shape == (N, H)
        np.testing.assert_allclose(out, want.detach().numpy(), rtol=1e-12, atol=1e-14)
    pairs = zip(expected, upstream, strict=True)
    sum((want * torch.tensor(g)).sum() for want, g in pairs).backward()
    grads = backward(*upstream, cache)
    for grad, arg, tensor in zip(grads, args, tensors, strict=True):
        assert grad.shape == np.shape(arg)
        np.testing.assert_allclose(grad, tensor.grad.numpy(), rtol=1e-10, atol=1e-12)


@pytest.mark.parametrize("cell, vectors", CASES)
def test_step_gradients_check_with_an_input_missing_the_batch_axis(cell, vectors):
    forward, backward = ((rnn_step_forward, rnn_step_backward) if cell == "rnn"
                         else (lstm_step_forward, lstm_step_backward))
    assert_gradients(forward, backward, *step_args(cell, vectors, seed=2))


def test_a_vector_input_is_the_input_of_every_example():
    x, prev_h, prev_c, wx, wh, b = step_args("lstm", {"x"})
    batch = np.broadcast_to(x, (N, D)).copy()
    by_vector = lstm_step_forward(x, prev_h, prev_c, wx, wh, b)
    by_batch = lstm_step_forward(batch, prev_h, prev_c, wx, wh, b)
    for vector_out, batch_out in zip(by_vector[:2], by_batch[:2], strict=True):
        np.testing.assert_array_equal(vector_out, batch_out)
    dnext = [np.ones((N, H)), np.ones((N, H))]
    dx_vector = lstm_step_backward(*dnext, by_vector[2])[0]
    dx_batch = lstm_step_backward(*dnext, by_batch[2])[0]
    np.testing.assert_allclose(dx_vector, dx_batch.sum(axis=0), rtol=1e-14)


def test_the_start_token_embedded_once_steps_a_batch():
    # Captioning's sample(): word_embedding_forward of one index is one (D,) vector.
    rng = np.random.default_rng(3)
    W_embed = rng.standard_normal((6, D))
    x, _ = word_embedding_forward(1, W_embed)
    assert x.shape == (D,)
    h0, _ = affine_forward(rng.standard_normal((N, 7)), rng.standard_normal((7, H)),
                           np.zeros(H))
    _, _, wx, wh, b = step_args("rnn", set())
    next_h, _ = rnn_step_forward(x, h0, wx, wh, b)
    np.testing.assert_allclose(next_h, np.tanh(x.dot(wx) + h0.dot(wh) + b), rtol=1e-14)


@pytest.mark.parametrize("forward, args, message", [
    (rnn_step_forward, (np.ones(D), np.ones(H), np.ones((D, H)), np.ones((H, H)),
                        np.zeros(H)),
     "rnn_step_forward: one of x, prev_h must have the batch axis N (a 2-d (N, D) or "
     "(N, H) array); got x.shape = (4,), prev_h.shape = (5,)"),
    (rnn_step_forward, (np.ones(D + 1), np.ones((N, H)), np.ones((D, H)), np.ones((H, H)),
                        np.zeros(H)),
     "rnn_step_forward: x must have shape (D,) with D=4 from Wx; got x.shape = (5,)"),
    (lstm_step_forward, (np.ones(D), np.ones((N, H)), np.ones(H - 1), np.ones((D, 4 * H)),
                         np.ones((H, 4 * H)), np.zeros(4 * H)),
     "lstm_step_forward: prev_c must have shape (H,) with H=5 from Wh; got "
     "prev_c.shape = (4,)"),
    # A batch of 1 is not a missing axis: it must match N, as every layer here asks.
    (rnn_step_forward, (np.ones((1, D)), np.ones((N, H)), np.ones((D, H)), np.ones((H, H)),
                        np.zeros(H)),
     "rnn_step_forward: prev_h must have shape (N, H) with N=1 from x; got "
     "prev_h.shape = (3, 5)"),
])
def test_what_the_step_still_refuses(forward, args, message):
    with pytest.raises(ValueError, match=re.escape(message)):
        forward(*args)


def test_affine_refuses_x_without_the_batch_axis_as_cs231ns_reshape_does():
    # CS231n's affine_forward reshapes x to (x.shape[0], -1): a (D,) x becomes (D, 1),
    # which its product rejects. Here too, by name.
    with pytest.raises(ValueError, match=re.escape(
            "affine_forward: x must have shape (N, d_1, ..., d_k) with k >= 1; got "
            "x.shape = (4,)")):
        affine_forward(np.ones(4), np.ones((4, 3)), np.zeros(3))


def test_rnn_layers_sigmoid_is_stable_and_keeps_float32():
    x = np.array([-1000.0, -2.0, 0.0, 3.0, 1000.0])
    with np.errstate(all="raise"):
        out = sigmoid(x)
    np.testing.assert_allclose(out, [0.0, 1 / (1 + np.exp(2.0)), 0.5, 1 / (1 + np.exp(-3.0)),
                                     1.0], rtol=1e-15, atol=0)
    assert sigmoid(x.astype(np.float32)).dtype == np.float32
    np.testing.assert_array_equal(x, [-1000.0, -2.0, 0.0, 3.0, 1000.0])
