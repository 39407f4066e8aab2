"""Inverted dropout: keep each unit with probability p and scale the survivors by 1 / p.

Scaling at train time keeps the expected activation unchanged, E[out] = x, so test time
is the identity (Srivastava et al. 2014, "Dropout", and CS231n's inverted dropout).
Backward: dx = dout * mask with mask = keep / p, the same mask forward applied.

``p`` is the probability of KEEPING a unit, as in CS231n; PyTorch's ``nn.Dropout(p)`` and
the Dropout paper's ``1 - p`` count the other way (probability of dropping). To avoid
that ambiguity, ``dropout_param['keep_prob']`` is accepted as an alias of ``'p'``.
"""

import numpy as np

from ._examples import dims, normal
from .contract import Args, backward_of, differentiable, upstream
from .registry import Example, register

__all__ = ["dropout_forward", "dropout_backward"]


@differentiable("x")
def dropout_forward(x, dropout_param):
    """Inverted dropout: out = x * keep / p in train mode, out = x in test mode.

    Parameters
    ----------
    x : ndarray of any shape, float32 or float64
    dropout_param : dict
        - ``'mode'``: ``'train'`` or ``'test'`` (required).
        - ``'p'``: probability of KEEPING a unit, 0 < p <= 1 (required in train mode).
          ``'keep_prob'`` is an alias; give either, or both with the same value.
        - ``'seed'`` (optional): an int, or a ``np.random.Generator``, for a local
          ``np.random.default_rng(seed)``; the global RNG is never used. With an int,
          one seed gives one mask whatever the dtype of x (the uniforms are drawn in
          float64). Without a seed each call draws fresh entropy, so the forward is not
          deterministic, and a gradient check reports exactly that.

    Returns
    -------
    out : ndarray of x's shape and dtype
    cache : (mask, shape, dtype) for `dropout_backward`; mask is keep / p in x's dtype, or
        None in test mode.

    Examples
    --------
    >>> x = np.ones((2, 4))
    >>> dropout_forward(x, {"mode": "train", "p": 0.5, "seed": 0})[0]
    array([[0., 2., 2., 2.],
           [0., 0., 0., 0.]])
    """
    check = Args("dropout_forward")
    x = check.floats("x", x)
    dropout_param = check.mapping("dropout_param", dropout_param)
    mode = check.choice("dropout_param['mode']", dropout_param.get("mode"), ("train", "test"))
    if mode == "test":
        return x.copy(), (None, x.shape, x.dtype)
    p = _keep_probability(check, dropout_param)
    seed = dropout_param.get("seed")
    if seed is not None and not isinstance(seed, np.random.Generator):
        seed = check.integer("dropout_param['seed']", seed, low=0)
    uniform = np.random.default_rng(seed).random(x.shape)
    mask = ((uniform < p) / p).astype(x.dtype)
    return x * mask, (mask, x.shape, x.dtype)


@backward_of(dropout_forward)
def dropout_backward(dout, cache):
    """Backward pass of `dropout_forward`.

    Parameters
    ----------
    dout : ndarray of x's shape, upstream gradient
    cache : from `dropout_forward`

    Returns
    -------
    dx : ndarray of x's shape and dtype; dout * mask in train mode, dout in test mode
    """
    mask, shape, dtype = cache
    dout = upstream("dropout_backward", dout, shape, dtype)
    return dout.copy() if mask is None else dout * mask


def _keep_probability(check, dropout_param):
    """dropout_param's 'p' or its alias 'keep_prob', validated to lie in (0, 1]."""
    given = {key: dropout_param[key] for key in ("p", "keep_prob") if key in dropout_param}
    if not given:
        raise check.error("dropout_param must give 'p', the probability of KEEPING a unit "
                          "(or its alias 'keep_prob') in train mode; got keys "
                          f"{sorted(dropout_param)}")
    if len(given) == 2 and given["p"] != given["keep_prob"]:
        raise check.error("dropout_param['p'] and dropout_param['keep_prob'] are the same "
                          f"setting (probability of keeping a unit) but differ: "
                          f"p = {given['p']!r}, keep_prob = {given['keep_prob']!r}")
    key, value = next(iter(given.items()))
    return check.number(f"dropout_param[{key!r}]", value, low=0, high=1, low_open=True)


@register(dropout_forward, dropout_backward)
def dropout_example(rng, dtype):
    shape = dims(rng, (1, 4), (1, 5))
    x = normal(rng, shape, dtype)
    keep = float(rng.uniform(0.3, 1.0))
    return Example((x, {"mode": "train", "p": keep, "seed": int(rng.integers(2**31))}))
