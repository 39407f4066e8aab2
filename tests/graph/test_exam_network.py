"""The exam problem of the backpropagation notes: two ReLU layers and softmax
cross-entropy on one example, in the notes' column-vector convention:

    z1 = W1 x + b1, h1 = ReLU(z1), z2 = W2 h1 + b2, h2 = ReLU(z2), yhat = softmax(h2),
    J = -sum_i y_i log yhat_i.

Backprop through the library's layers must equal the closed forms of the notes (u is the
unit step, ReLU's derivative), and the numeric gradient must agree with both. The two
published answer keys' slips are checked too: the numeric gradient refutes them.
"""

import numpy as np
import pytest

from checks import assert_gradients, eval_numerical_gradient, rel_error
from layers import (affine_backward, affine_forward, relu_backward, relu_forward,
                    softmax_loss_backward, softmax_loss_forward)

# Chosen so that z1 = [1.6, -1.15, -0.8, 2.0] and z2 = [1.34, -1.72, 1.62]: both layers
# have units on each side of ReLU's kink, all of them far from it.
X = np.array([1.0, -2.0, 0.5])
W1 = np.array([[0.5, -0.3, 0.8],
               [-0.6, 0.2, 0.1],
               [0.3, 0.4, -0.7],
               [0.9, -0.5, 0.2]])
B1 = np.array([0.1, -0.2, 0.05, 0.0])
W2 = np.array([[0.4, -0.2, 0.3, 0.5],
               [-0.7, 0.6, 0.1, -0.4],
               [0.2, 0.3, -0.5, 0.6]])
B2 = np.array([-0.3, 0.2, 0.1])
LABEL = np.array([0])  # y = e_0, one-hot
Y = np.eye(3)[LABEL[0]]


def exam_forward(x, W1, b1, W2, b2, label):
    """J for one example x of shape (m,); W (out, in) as in the notes, W x + b.

    The layers take a batch of rows, x @ w + b, so the column vector x is the batch of
    one row x^T, and W1 x + b1 is (x^T W1^T + b1^T)^T: affine_forward gets W1.T.
    """
    z1, affine1 = affine_forward(x[None, :], W1.T, b1)
    h1, relu1 = relu_forward(z1)
    z2, affine2 = affine_forward(h1, W2.T, b2)
    h2, relu2 = relu_forward(z2)
    loss, softmax_cache = softmax_loss_forward(h2, label)
    return loss, (affine1, relu1, affine2, relu2, softmax_cache)


def exam_backward(dloss, cache):
    """(dx, dW1, db1, dW2, db2): the layers' backwards in reverse order."""
    affine1, relu1, affine2, relu2, softmax_cache = cache
    dh2 = softmax_loss_backward(dloss, softmax_cache)
    dz2 = relu_backward(dh2, relu2)
    dh1, dW2_t, db2 = affine_backward(dz2, affine2)
    dz1 = relu_backward(dh1, relu1)
    dx_row, dW1_t, db1 = affine_backward(dz1, affine1)
    return dx_row[0], dW1_t.T, db1, dW2_t.T, db2


def intermediates():
    z1 = W1 @ X + B1
    h1 = np.maximum(z1, 0)
    z2 = W2 @ h1 + B2
    h2 = np.maximum(z2, 0)
    yhat = np.exp(h2) / np.exp(h2).sum()
    return z1, h1, z2, h2, yhat


def unit_step(z):
    return (z > 0).astype(float)


def closed_forms(relu_where_step_belongs=False, sum_of_x_where_x_belongs=False):
    """(dW1, db1, dW2, db2) as the notes write them, index by index.

    The flags reproduce the two published answer keys' slips: ReLU(z2) in place of
    u(z2), and sum_m x_m in place of x_m.
    """
    z1, h1, z2, _, yhat = intermediates()
    gate2 = np.maximum(z2, 0) if relu_where_step_belongs else unit_step(z2)
    x_factor = np.full_like(X, X.sum()) if sum_of_x_where_x_belongs else X
    # dJ/dW2[i,n] = u(z2_i) (yhat_i - y_i) h1_n;  dJ/db2[i] = u(z2_i) (yhat_i - y_i)
    dW2 = np.einsum("i,i,n->in", gate2, yhat - Y, h1)
    db2 = gate2 * (yhat - Y)
    # dJ/dW1[j,m] = u(z1_j) x_m sum_i u(z2_i) (yhat_i - y_i) W2[i,j]
    dW1 = np.einsum("j,m,i,i,ij->jm", unit_step(z1), x_factor, gate2, yhat - Y, W2)
    # dJ/db1[j] = u(z1_j) sum_i u(z2_i) (yhat_i - y_i) W2[i,j]
    db1 = np.einsum("j,i,i,ij->j", unit_step(z1), gate2, yhat - Y, W2)
    return dW1, db1, dW2, db2


def test_the_example_stays_away_from_relu_kinks():
    z1, _, z2, _, _ = intermediates()
    np.testing.assert_allclose(z1, [1.6, -1.15, -0.8, 2.0], rtol=1e-14)
    np.testing.assert_allclose(z2, [1.34, -1.72, 1.62], rtol=1e-14)


def test_the_loss_is_cross_entropy_of_the_softmax():
    _, _, _, _, yhat = intermediates()
    loss, _ = exam_forward(X, W1, B1, W2, B2, LABEL)
    assert loss == pytest.approx(-np.log(yhat[0]), rel=1e-15)


def test_backprop_through_the_layers_equals_the_closed_forms():
    _, cache = exam_forward(X, W1, B1, W2, B2, LABEL)
    _, dW1, db1, dW2, db2 = exam_backward(1.0, cache)
    for backprop, closed in zip((dW1, db1, dW2, db2), closed_forms(), strict=True):
        np.testing.assert_allclose(backprop, closed, rtol=1e-12, atol=1e-15)


def test_backprop_passes_the_numeric_check():
    assert_gradients(exam_forward, exam_backward, X, W1, B1, W2, B2, LABEL)


def numeric_gradients():
    """(dW1, db1, dW2, db2) by central differences of J, with CS231n's helper."""
    params = {"W1": W1.copy(), "b1": B1.copy(), "W2": W2.copy(), "b2": B2.copy()}

    def loss(_):
        return exam_forward(X, params["W1"], params["b1"], params["W2"], params["b2"],
                            LABEL)[0]

    return tuple(eval_numerical_gradient(loss, params[name], verbose=False)
                 for name in ("W1", "b1", "W2", "b2"))


def test_the_numeric_gradient_settles_the_answer_keys():
    numeric = numeric_gradients()
    right = closed_forms()
    relu_key = closed_forms(relu_where_step_belongs=True)
    sum_key = closed_forms(sum_of_x_where_x_belongs=True)
    assert max(rel_error(n, c) for n, c in zip(numeric, right, strict=True)) < 1e-7
    # ReLU(z2) in place of u(z2) scales every layer-2 signal by z2 (1.34 and 1.62 here).
    assert rel_error(numeric[2], relu_key[2]) > 1e-2
    # sum_m x_m in place of x_m changes dW1 only.
    assert rel_error(numeric[0], sum_key[0]) > 1e-2
    assert rel_error(numeric[1], sum_key[1]) < 1e-7
