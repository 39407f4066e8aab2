"""Sandwich layers: common stacks of layers as one forward/backward pair, as in CS231n.

Each composite chains the real layers' forwards and keeps their caches; its backward
calls their backwards in reverse order (the chain rule, gate by gate). The convolution is
the fast `conv_forward` and the pooling the fast `max_pool_forward`.

    affine_relu    affine -> relu
    conv_relu      conv -> relu
    conv_relu_pool conv -> relu -> max pool
    conv_bn_relu   conv -> spatial batch norm -> relu

Each composite validates all its arguments before the first layer runs, with the
validation of the layers it is made of; the contract names the layer the user called, so
a message names the composite and its own argument ("affine_relu_forward: w must have
shape ..."). Parameters for a later layer (pool_param, gamma, beta, bn_param) are checked
against F taken from w. The contract checks each backward's upstream gradient against
the composite's output the same way.
"""

import numpy as np

from ._examples import dims, normal
from .contract import Args, backward_of, differentiable
from .activations import relu_backward, relu_forward
from .affine import affine_backward, affine_forward
from .batchnorm import bn_settings, scale_shift_example
from .conv import conv_arguments, conv_backward, conv_forward
from .pooling import max_pool_backward, max_pool_forward, pool_windows
from .registry import register
from .spatial_norm import spatial_batchnorm_backward, spatial_batchnorm_forward

__all__ = ["affine_relu_forward", "affine_relu_backward",
           "conv_relu_forward", "conv_relu_backward",
           "conv_relu_pool_forward", "conv_relu_pool_backward",
           "conv_bn_relu_forward", "conv_bn_relu_backward"]


@differentiable("x", "w", "b")
def affine_relu_forward(x, w, b):
    """Affine layer then ReLU.

    Parameters
    ----------
    x : ndarray of shape (N, d_1, ..., d_k); w : (D, M); b : (M,)  (see `affine_forward`)

    Returns
    -------
    out : ndarray of shape (N, M)
    cache : for `affine_relu_backward`
    """
    a, affine_cache = affine_forward(x, w, b)
    out, relu_cache = relu_forward(a)
    return out, (affine_cache, relu_cache)


@backward_of(affine_relu_forward)
def affine_relu_backward(dout, cache):
    """Backward pass of `affine_relu_forward`.

    Parameters
    ----------
    dout : ndarray of shape (N, M), upstream gradient
    cache : from `affine_relu_forward`

    Returns
    -------
    dx : ndarray of shape (N, d_1, ..., d_k)
    dw : ndarray of shape (D, M)
    db : ndarray of shape (M,)
    """
    affine_cache, relu_cache = cache
    return affine_backward(relu_backward(dout, relu_cache), affine_cache)


@differentiable("x", "w", "b")
def conv_relu_forward(x, w, b, conv_param):
    """Convolution then ReLU.

    Parameters
    ----------
    x : (N, C, H, W); w : (F, C, HH, WW); b : (F,); conv_param : see `conv_forward`

    Returns
    -------
    out : ndarray of shape (N, F, Ho, Wo)
    cache : for `conv_relu_backward`
    """
    a, conv_cache = conv_forward(x, w, b, conv_param)
    out, relu_cache = relu_forward(a)
    return out, (conv_cache, relu_cache)


@backward_of(conv_relu_forward)
def conv_relu_backward(dout, cache):
    """Backward pass of `conv_relu_forward`.

    Parameters
    ----------
    dout : ndarray of shape (N, F, Ho, Wo), upstream gradient
    cache : from `conv_relu_forward`

    Returns
    -------
    dx : ndarray of shape (N, C, H, W)
    dw : ndarray of shape (F, C, HH, WW)
    db : ndarray of shape (F,)
    """
    conv_cache, relu_cache = cache
    return conv_backward(relu_backward(dout, relu_cache), conv_cache)


@differentiable("x", "w", "b")
def conv_relu_pool_forward(x, w, b, conv_param, pool_param):
    """Convolution, ReLU, then max pooling.

    Parameters
    ----------
    x : (N, C, H, W); w : (F, C, HH, WW); b : (F,)
    conv_param : see `conv_forward`; pool_param : see `max_pool_forward`

    Returns
    -------
    out : ndarray of shape (N, F, Hp, Wp), the pooled output
    cache : for `conv_relu_pool_backward`
    """
    check = Args()
    windows = conv_arguments(check, x, w, b, conv_param)[3]
    pool_windows(check, pool_param, windows.out, size_names=("Ho", "Wo"),
                 arguments="the conv output (of x, w and conv_param) and pool_param")
    a, conv_cache = conv_forward(x, w, b, conv_param)
    s, relu_cache = relu_forward(a)
    out, pool_cache = max_pool_forward(s, pool_param)
    return out, (conv_cache, relu_cache, pool_cache)


@backward_of(conv_relu_pool_forward)
def conv_relu_pool_backward(dout, cache):
    """Backward pass of `conv_relu_pool_forward`.

    Parameters
    ----------
    dout : ndarray of shape (N, F, Hp, Wp), upstream gradient of the pooled output
    cache : from `conv_relu_pool_forward`

    Returns
    -------
    dx : ndarray of shape (N, C, H, W)
    dw : ndarray of shape (F, C, HH, WW)
    db : ndarray of shape (F,)
    """
    conv_cache, relu_cache, pool_cache = cache
    # max pool's cache is (input shape, dtype, windows, winner), winner of the output's shape.
    _, dtype, _, winner = pool_cache
    ds = max_pool_backward(dout, pool_cache)
    return conv_backward(relu_backward(ds, relu_cache), conv_cache)


@differentiable("x", "w", "b", "gamma", "beta")
def conv_bn_relu_forward(x, w, b, gamma, beta, conv_param, bn_param):
    """Convolution, spatial batch normalization, then ReLU.

    Parameters
    ----------
    x : (N, C, H, W); w : (F, C, HH, WW); b : (F,)
    gamma, beta : (F,), batch norm's scale and shift
    conv_param : see `conv_forward`; bn_param : see `spatial_batchnorm_forward` (its
        running statistics are rebound in train mode)

    Returns
    -------
    out : ndarray of shape (N, F, Ho, Wo)
    cache : for `conv_bn_relu_backward`
    """
    check = Args()
    x, _, _, windows = conv_arguments(check, x, w, b, conv_param)
    check.floats("gamma", gamma, "F")
    check.floats("beta", beta, "F")
    mode = bn_settings(check, bn_param, "F", x.dtype)[0]
    per_channel = x.shape[0] * windows.out[0] * windows.out[1]
    if mode == "train" and per_channel < 2:
        raise check.error(f"in train mode batch norm needs N*Ho*Wo >= 2 conv outputs per "
                          f"channel for its statistics; got N*Ho*Wo = {x.shape[0]}*"
                          f"{windows.out[0]}*{windows.out[1]} = {per_channel} from x of "
                          f"shape {x.shape}")
    a, conv_cache = conv_forward(x, w, b, conv_param)
    an, bn_cache = spatial_batchnorm_forward(a, gamma, beta, bn_param)
    out, relu_cache = relu_forward(an)
    return out, (conv_cache, bn_cache, relu_cache)


@backward_of(conv_bn_relu_forward)
def conv_bn_relu_backward(dout, cache):
    """Backward pass of `conv_bn_relu_forward`.

    Parameters
    ----------
    dout : ndarray of shape (N, F, Ho, Wo), upstream gradient
    cache : from `conv_bn_relu_forward`

    Returns
    -------
    dx : ndarray of shape (N, C, H, W)
    dw : ndarray of shape (F, C, HH, WW)
    db : ndarray of shape (F,)
    dgamma : ndarray of shape (F,)
    dbeta : ndarray of shape (F,)
    """
    conv_cache, bn_cache, relu_cache = cache
    dan, dgamma, dbeta = spatial_batchnorm_backward(relu_backward(dout, relu_cache),
                                                    bn_cache)
    dx, dw, db = conv_backward(dan, conv_cache)
    return dx, dw, db, dgamma, dbeta


# -- registration ---------------------------------------------------------------------------
# ReLU has a kink at 0 and max pooling one wherever two values of a window tie. The
# builders redraw until every pre-activation is at least MARGIN from 0 and, before a max
# pool, the positive ones are MARGIN apart: far more than the checker's step (~1e-5).

MARGIN = 1e-3


def redraw_until_clear(draw, pooled=False):
    """``draw() -> (args, pre_activation)`` repeated until the pre-activation is clear of
    the kinks; returns those args."""
    for _ in range(100):
        args, pre = draw()
        near_zero = np.abs(pre).min() < MARGIN
        near_tie = pooled and np.any(np.diff(np.sort(pre[pre > 0])) < MARGIN)
        if not (near_zero or near_tie):
            return args
    raise RuntimeError("no example inputs clear of the kinks in 100 draws")


def conv_param_example(rng):
    """3x3 (stride 1, pad 1) or 1x1 (stride 1, pad 0) convolutions: output size = input."""
    return {"stride": 1, "pad": 1} if rng.random() < 0.5 else {"stride": 1, "pad": 0}


def conv_inputs(rng, dtype, n, c, h, w, f, conv_param):
    k = 2 * conv_param["pad"] + 1
    return (normal(rng, (n, c, h, w), dtype), normal(rng, (f, c, k, k), dtype),
            normal(rng, (f,), dtype))


@register(affine_relu_forward, affine_relu_backward)
def affine_relu_example(rng, dtype):
    def draw():
        n, d, m = dims(rng, (1, 4), (1, 5), (1, 4))
        args = (normal(rng, (n, d), dtype), normal(rng, (d, m), dtype),
                normal(rng, (m,), dtype))
        return args, affine_forward(*args)[0]
    return redraw_until_clear(draw)


@register(conv_relu_forward, conv_relu_backward)
def conv_relu_example(rng, dtype):
    def draw():
        n, c, h, w, f = dims(rng, (1, 2), (1, 2), (1, 4), (1, 4), (1, 3))
        conv_param = conv_param_example(rng)
        args = (*conv_inputs(rng, dtype, n, c, h, w, f, conv_param), conv_param)
        return args, conv_forward(*args)[0]
    return redraw_until_clear(draw)


@register(conv_relu_pool_forward, conv_relu_pool_backward)
def conv_relu_pool_example(rng, dtype):
    def draw():
        n, c, f, ho, wo = dims(rng, (1, 2), (1, 2), (1, 3), (1, 2), (1, 2))
        conv_param = conv_param_example(rng)
        # 2x2 windows, tiling (stride 2) or overlapping (stride 1).
        stride = int(rng.integers(1, 3))
        pool_param = {"pool_height": 2, "pool_width": 2, "stride": stride}
        h, w = (ho - 1) * stride + 2, (wo - 1) * stride + 2
        args = (*conv_inputs(rng, dtype, n, c, h, w, f, conv_param), conv_param, pool_param)
        return args, conv_forward(*args[:4])[0]
    return redraw_until_clear(draw, pooled=True)


@register(conv_bn_relu_forward, conv_bn_relu_backward)
def conv_bn_relu_example(rng, dtype):
    def draw():
        n, c, h, w, f = dims(rng, (1, 2), (1, 2), (2, 3), (2, 3), (1, 3))
        conv_param = conv_param_example(rng)
        x, w_, b = conv_inputs(rng, dtype, n, c, h, w, f, conv_param)
        gamma, beta = scale_shift_example(rng, f, dtype)
        args = (x, w_, b, gamma, beta, conv_param, {"mode": "train"})
        a = conv_forward(x, w_, b, conv_param)[0]
        return args, spatial_batchnorm_forward(a, gamma, beta, {"mode": "train"})[0]

    return redraw_until_clear(draw)
