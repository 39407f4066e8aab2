"""Inverted dropout: keep each unit with probability p and scale the survivors by 1 / p.

Scaling at train time keeps the expected activation unchanged, E[out] = x, so test time
is the identity (Srivastava et al. 2014, "Dropout", and CS231n's inverted dropout).
Backward: dx = dout * mask with mask = keep / p, the same mask forward applied.

``p`` is the probability of KEEPING a unit, as in CS231n from 2018 on; PyTorch's
``nn.Dropout(p)`` and the Dropout paper's ``1 - p`` count the other way (probability of
dropping), and so do CS231n's 2016 and 2017 releases, whose ``dropout_param['p']`` and
``FullyConnectedNet(dropout=...)`` are the probability of DROPPING a unit. To avoid that
ambiguity, ``dropout_param['keep_prob']`` is accepted as an alias of ``'p'``; code of the
2016-2017 releases passes ``'p': 1 - drop`` (or ``'keep_prob': 1 - drop``).

Randomness, as in CS231n's reference: the mask is ``uniform < p`` with the uniforms drawn
by NumPy's legacy generator.

- With ``dropout_param['seed']`` an int, the layer does what CS231n's ``dropout_forward``
  does: ``np.random.seed(seed)`` and then ``np.random.rand(*x.shape)``. It SEEDS NumPy's
  global generator (no other layer here seeds it) because CS231n code depends on it:
  whatever the caller draws next (the next model's weights in the Dropout notebook's
  check cell) continues from the state the seed left, and prints the course's numbers
  only then. Each call with one seed therefore draws one mask. The seed is validated
  before the generator is touched: a refused call leaves it alone.
- Without a seed they are drawn from NumPy's global generator (``np.random.rand``), so
  ``np.random.seed(231)`` makes a run reproducible.
- With a ``np.random.Generator`` in ``'seed'`` (the Solver's stream during training) the
  uniforms come from it, and it advances; the global generator is left alone.

The gradient checker sets NumPy's global state before every evaluation and puts the
caller's state back after it, so every evaluation sees one mask, seeded or not, and a
check leaves the caller's stream where it was.
"""

import numpy as np

from ._examples import dims, normal
from .contract import Args, backward_of, differentiable
from .registry import Example, register

__all__ = ["dropout_forward", "dropout_backward"]

# The seeds NumPy's legacy generator accepts.
LEGACY_SEED_LIMIT = 2 ** 32


@differentiable("x")
def dropout_forward(x, dropout_param):
    """Inverted dropout: out = x * keep / p in train mode, out = x in test mode.

    Parameters
    ----------
    x : ndarray of any shape, float32 or float64
    dropout_param : dict
        - ``'mode'``: ``'train'`` or ``'test'`` (required).
        - ``'p'``: probability of KEEPING a unit, 0 < p <= 1 (required in train mode),
          as in CS231n since 2018. ``'keep_prob'`` is an alias; give either, or both with
          the same value. CS231n 2016-2017's ``p`` is the probability of DROPPING a
          unit: pass ``1 - p`` (module docstring).
        - ``'seed'`` (optional): an int in [0, 2**32) runs CS231n's
          ``np.random.seed(seed); mask = np.random.rand(*x.shape) < p``: it seeds NumPy's
          GLOBAL generator and leaves it where the mask's draws took it, as CS231n's
          does. A ``np.random.Generator`` is drawn from instead (the global generator is
          untouched). Without a seed the uniforms are drawn from NumPy's global
          generator (module docstring); it is advanced, never seeded. One seed gives one
          mask whatever the dtype of x (the uniforms are float64).

        Any other key (a misspelled ``'seeed'``) is a ValueError rather than ignored.

    Returns
    -------
    out : ndarray of x's shape and dtype
    cache : (mask, shape, dtype) for `dropout_backward`; mask is keep / p in x's dtype, or
        None in test mode.

    Examples
    --------
    >>> x = np.ones((2, 4))
    >>> dropout_forward(x, {"mode": "train", "p": 0.5, "seed": 0})[0]
    array([[0., 0., 0., 0.],
           [2., 0., 2., 0.]])
    """
    check = Args()
    x = check.floats("x", x)
    dropout_param = check.mapping("dropout_param", dropout_param,
                                  ("mode", "p", "keep_prob", "seed"))
    mode = check.choice("dropout_param['mode']", dropout_param.get("mode"), ("train", "test"))
    if mode == "test":
        return x.copy(), (None, x.shape, x.dtype)
    p = _keep_probability(check, dropout_param)
    mask = ((_uniforms(check, dropout_param.get("seed"), x.shape) < p) / p).astype(x.dtype)
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
    return dout.copy() if mask is None else dout * mask


def _uniforms(check, seed, shape):
    """Uniforms in [0, 1) of `shape` from the source `seed` names (module docstring)."""
    if seed is None:
        return np.random.random_sample(shape)
    if isinstance(seed, np.random.Generator):
        return seed.random(shape)
    seed = legacy_seed(check, "dropout_param['seed']", seed)
    # CS231n's reference seeds the global generator, and notebooks draw their next
    # weights from where it leaves it (module docstring).
    np.random.seed(seed)
    return np.random.random_sample(shape)


def legacy_seed(check, name, seed):
    """`seed` as an int in [0, 2**32), the seeds of NumPy's legacy generator, or an error
    from `check` naming the argument `name`."""
    seed = check.integer(name, seed, low=0)
    if seed >= LEGACY_SEED_LIMIT:
        raise check.error(f"{name} must be < 2**32 (NumPy's legacy seeds); got {seed}")
    return seed


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
