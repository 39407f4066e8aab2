"""Dropout, batch norm, layer norm and the losses against PyTorch, float64, 1e-10 relative.

Where the conventions differ they are mapped explicitly:
- batch norm: PyTorch's momentum is 1 - ours, and its running_var uses the unbiased
  batch variance (divided by N - 1) where CS231n's uses the biased one;
- multiclass SVM: ``F.multi_margin_loss(p=1, margin=1)`` also divides each example's sum
  over the wrong classes by C, so ours is C times PyTorch's;
- dropout: PyTorch's p is the probability of DROPPING a unit and its RNG is its own, so
  the comparison applies our mask by hand.
"""

import numpy as np
import pytest

torch = pytest.importorskip("torch")
F = torch.nn.functional

from layers import (batchnorm_backward, batchnorm_backward_alt, batchnorm_forward,  # noqa: E402
                    dropout_backward, dropout_forward, layernorm_backward,
                    layernorm_forward, mse_loss_backward, mse_loss_forward,
                    sigmoid_cross_entropy_loss_backward, sigmoid_cross_entropy_loss_forward,
                    softmax_loss_backward, softmax_loss_forward, svm_loss_backward,
                    svm_loss_forward)

RTOL = 1e-10


def assert_close(ours, theirs):
    """Relative agreement to RTOL, with an absolute floor at RTOL times the largest value
    (for elements that are zero up to rounding)."""
    theirs = np.asarray(theirs)
    floor = RTOL * max(float(np.max(np.abs(theirs), initial=0.0)), 1e-300)
    np.testing.assert_allclose(ours, theirs, rtol=RTOL, atol=floor)


def run_torch(function, arrays, upstream, grad_of=None):
    """function(*tensors) and the gradients of the arrays selected by `grad_of` for the
    upstream gradient `upstream` (all of them by default)."""
    grad_of = range(len(arrays)) if grad_of is None else grad_of
    tensors = [torch.tensor(a, requires_grad=i in grad_of) for i, a in enumerate(arrays)]
    out = function(*tensors)
    out.backward(torch.tensor(upstream, dtype=out.dtype))
    return out.detach().numpy(), [tensors[i].grad.numpy() for i in grad_of]


def normalization_inputs(seed, shape):
    rng = np.random.default_rng(seed)
    d = shape[-1]
    return (0.5 + 2 * rng.standard_normal(shape), rng.uniform(0.5, 1.5, d),
            rng.standard_normal(d), rng.standard_normal(shape))


@pytest.mark.parametrize("backward", [batchnorm_backward, batchnorm_backward_alt])
@pytest.mark.parametrize("shape", [(4, 3), (16, 5)])
def test_batchnorm_train_matches_torch(backward, shape):
    x, gamma, beta, dout = normalization_inputs(0, shape)
    n, d = shape
    momentum, eps = 0.8, 1e-3
    mean0, var0 = np.linspace(-1, 1, d), np.linspace(0.5, 2, d)
    bn_param = {"mode": "train", "momentum": momentum, "eps": eps,
                "running_mean": mean0, "running_var": var0}
    out, cache = batchnorm_forward(x, gamma, beta, bn_param)
    torch_mean, torch_var = torch.tensor(mean0), torch.tensor(var0)
    torch_out, torch_grads = run_torch(
        lambda x_, g_, b_: F.batch_norm(x_, torch_mean, torch_var, g_, b_, training=True,
                                        momentum=1 - momentum, eps=eps),
        [x, gamma, beta], dout)
    assert_close(out, torch_out)
    for ours, theirs in zip(backward(dout, cache), torch_grads, strict=True):
        assert_close(ours, theirs)
    assert_close(bn_param["running_mean"], torch_mean.numpy())
    # PyTorch adds (1 - momentum) * unbiased variance; take it back to the biased one.
    torch_new_part = torch_var.numpy() - momentum * var0
    assert_close(bn_param["running_var"], momentum * var0 + torch_new_part * (n - 1) / n)


def test_batchnorm_test_mode_matches_torch():
    x, gamma, beta, dout = normalization_inputs(1, (5, 4))
    mean0, var0 = np.array([0.1, -0.3, 0.2, 0.0]), np.array([0.6, 1.4, 2.2, 0.9])
    bn_param = {"mode": "test", "running_mean": mean0, "running_var": var0}
    out, cache = batchnorm_forward(x, gamma, beta, bn_param)
    torch_out, torch_grads = run_torch(
        lambda x_, g_, b_: F.batch_norm(x_, torch.tensor(mean0), torch.tensor(var0), g_, b_,
                                        training=False),
        [x, gamma, beta], dout)
    assert_close(out, torch_out)
    for ours, theirs in zip(batchnorm_backward(dout, cache), torch_grads, strict=True):
        assert_close(ours, theirs)


@pytest.mark.parametrize("shape", [(4, 6), (2, 3, 5)])
def test_layernorm_matches_torch(shape):
    x, gamma, beta, dout = normalization_inputs(2, shape)
    out, cache = layernorm_forward(x, gamma, beta, {"eps": 1e-4})
    torch_out, torch_grads = run_torch(
        lambda x_, g_, b_: F.layer_norm(x_, (shape[-1],), g_, b_, eps=1e-4),
        [x, gamma, beta], dout)
    assert_close(out, torch_out)
    for ours, theirs in zip(layernorm_backward(dout, cache), torch_grads, strict=True):
        assert_close(ours, theirs)


def test_dropout_matches_the_mask_applied_in_torch():
    rng = np.random.default_rng(3)
    x, dout = rng.standard_normal((6, 7)), rng.standard_normal((6, 7))
    keep, seed = 0.65, 42
    out, cache = dropout_forward(x, {"mode": "train", "p": keep, "seed": seed})
    # An int seed gives CS231n's mask: the legacy generator's uniforms for that seed.
    kept = torch.tensor(np.random.RandomState(seed).rand(*x.shape) < keep)
    torch_out, (torch_dx,) = run_torch(lambda x_: x_ * kept / keep, [x], dout)
    assert_close(out, torch_out)
    assert_close(dropout_backward(dout, cache), torch_dx)


def class_scores(seed, n=5, c=4):
    rng = np.random.default_rng(seed)
    return 3 * rng.standard_normal((n, c)), rng.integers(c, size=n)


def test_softmax_loss_matches_cross_entropy():
    x, y = class_scores(4)
    loss, cache = softmax_loss_forward(x, y)
    torch_loss, (torch_dx,) = run_torch(lambda x_: F.cross_entropy(x_, torch.tensor(y)),
                                        [x], 0.7)
    assert_close(loss, torch_loss)
    assert_close(softmax_loss_backward(0.7, cache), torch_dx)


def test_svm_loss_is_c_times_multi_margin_loss():
    x, y = class_scores(5)
    c = x.shape[1]
    loss, cache = svm_loss_forward(x, y)
    torch_loss, (torch_dx,) = run_torch(
        lambda x_: c * F.multi_margin_loss(x_, torch.tensor(y), p=1, margin=1.0), [x], 0.7)
    assert loss > 0
    assert_close(loss, torch_loss)
    assert_close(svm_loss_backward(0.7, cache), torch_dx)


@pytest.mark.parametrize("soft", [True, False], ids=["float targets", "0/1 labels"])
def test_sigmoid_cross_entropy_matches_bce_with_logits(soft):
    rng = np.random.default_rng(6)
    x = 3 * rng.standard_normal((4, 3))
    y = rng.uniform(0, 1, x.shape) if soft else rng.integers(2, size=x.shape)
    loss, cache = sigmoid_cross_entropy_loss_forward(x, y)
    torch_loss, torch_grads = run_torch(F.binary_cross_entropy_with_logits,
                                        [x, y.astype(np.float64)], 0.7,
                                        grad_of=(0,))
    dx = sigmoid_cross_entropy_loss_backward(0.7, cache)   # targets get no gradient
    assert_close(loss, torch_loss)
    (torch_dx,) = torch_grads
    assert_close(dx, torch_dx)


def test_mse_loss_matches_torch():
    rng = np.random.default_rng(7)
    x, y = rng.standard_normal((3, 2, 4)), rng.standard_normal((3, 2, 4))
    loss, cache = mse_loss_forward(x, y)
    torch_loss, torch_grads = run_torch(F.mse_loss, [x, y], 0.7)
    assert_close(loss, torch_loss)
    for ours, theirs in zip(mse_loss_backward(0.7, cache), torch_grads, strict=True):
        assert_close(ours, theirs)
