"""Update rules in CS231n's functional form: ``rule(w, dw, config) -> (next_w, config)``.

Why a module of functions (and why this name): CS231n keeps its rules as plain functions
in ``optim.py`` and its Solver looks them up by name (``update_rule='adam'``), so code
written for CS231n reads the same here: ``from training import optim; optim.adam(w, dw)``.
A function per rule keeps each update next to its equations and its defaults; the only
object is the ``config`` dict, which holds the hyperparameters and the rule's state.

The config dict
---------------
``config`` holds the hyperparameters (``learning_rate``, ``momentum``, ...) and the rule's
state (``velocity``, ``cache``, ``m``, ``v``, ``t``). Missing hyperparameters get CS231n's
defaults, written into the dict. After a call, the dict that was passed and the dict that
is returned are the same object and hold the new state, as CS231n's Solver and notebooks
expect (they read ``config['velocity']`` after a call). This in-place update of a state
dict is the one documented exception to purity, as for ``bn_param``: its entries are
rebound to NEW arrays, never written into, so an array read out of the dict earlier is
never changed behind the reader's back. ``w`` and ``dw`` are never modified, and
``next_w`` and every state array have ``w``'s dtype (float32 stays float32).

Conventions differ between libraries; each docstring names the one used and how it maps to
``torch.optim`` (``tests/training/test_torch_optim.py`` checks every mapping against PyTorch).

Examples
--------
>>> w, dw = np.array([1.0, -2.0]), np.array([0.5, 0.5])
>>> next_w, config = sgd_momentum(w, dw, {"learning_rate": 0.1})
>>> next_w, config["velocity"]
(array([ 0.95, -2.05]), array([-0.05, -0.05]))
"""

import numpy as np

from layers import scratch
from layers.contract import Args

__all__ = ["sgd", "sgd_momentum", "nesterov", "rmsprop", "adam", "adamw", "UPDATE_RULES"]


def sgd(w, dw, config=None):
    """Vanilla stochastic gradient descent: next_w = w - learning_rate * dw.

    Parameters
    ----------
    w : ndarray of any shape, float32 or float64
        Current weights (not modified).
    dw : ndarray of w's shape and dtype
        Gradient of the loss with respect to w (not modified).
    config : dict, optional
        ``learning_rate`` (default 1e-2). Updated in place with the defaults used.

    Returns
    -------
    next_w : ndarray of w's shape and dtype
    config : the dict passed (a new one if None)
    """
    _, w, dw, config = _start("sgd", w, dw, config, learning_rate=1e-2)
    return _minus(w, _times(dw, config["learning_rate"])), config


def sgd_momentum(w, dw, config=None):
    """SGD with momentum, in CS231n's velocity form (Polyak 1964; Sutskever et al. 2013).

    v = momentum * v - learning_rate * dw;  next_w = w + v.

    The velocity already includes the learning rate. ``torch.optim.SGD(momentum=mu,
    dampening=0)`` keeps a buffer without it, b = mu * b + dw, and steps
    w -= lr * b; the two agree (v = -lr * b) while the learning rate is constant, and
    differ after a learning-rate change, where this form keeps the old rate in v.

    Parameters
    ----------
    w, dw : ndarray, as in `sgd`
    config : dict, optional
        ``learning_rate`` (default 1e-2), ``momentum`` (default 0.9), ``velocity``
        (state, an array of w's shape; zeros when absent).

    Returns
    -------
    next_w : ndarray of w's shape and dtype
    config : the dict passed, with the new ``velocity``
    """
    check, w, dw, config = _start("sgd_momentum", w, dw, config, learning_rate=1e-2,
                                  momentum=0.9)
    velocity = _times(_state(check, config, "velocity", w), config["momentum"])
    velocity -= _times(dw, config["learning_rate"], _scratch_for)
    config["velocity"] = velocity
    return np.add(w, velocity, out=_new(w)), config


def nesterov(w, dw, config=None):
    """Nesterov momentum, in the form that needs the gradient only at w (Bengio et al. 2013).

    v_new = momentum * v - learning_rate * dw;
    next_w = w - momentum * v + (1 + momentum) * v_new.

    This is Nesterov's accelerated gradient (Nesterov 1983; Sutskever et al. 2013) with the
    variable change of Bengio, Boulanger-Lewandowski and Pascanu (2013), "Advances in
    optimizing recurrent networks", as in CS231n's notes. It equals
    ``torch.optim.SGD(momentum=mu, nesterov=True, dampening=0)`` with v = -lr * b while the
    learning rate is constant (torch: b = mu * b + dw, w -= lr * (dw + mu * b)).

    Parameters
    ----------
    w, dw : ndarray, as in `sgd`
    config : dict, optional
        ``learning_rate`` (default 1e-2), ``momentum`` (default 0.9), ``velocity``
        (state; zeros when absent).

    Returns
    -------
    next_w : ndarray of w's shape and dtype
    config : the dict passed, with the new ``velocity``
    """
    check, w, dw, config = _start("nesterov", w, dw, config, learning_rate=1e-2,
                                  momentum=0.9)
    momentum = config["momentum"]
    velocity = _state(check, config, "velocity", w)
    new_velocity = _times(velocity, momentum)
    new_velocity -= _times(dw, config["learning_rate"], _scratch_for)
    config["velocity"] = new_velocity
    next_w = _minus(w, _times(velocity, momentum))
    next_w += _times(new_velocity, 1 + momentum, _scratch_for)
    return next_w, config


def rmsprop(w, dw, config=None):
    """RMSProp (Tieleman & Hinton 2012, Coursera lecture 6.5), as CS231n writes it.

    cache = decay_rate * cache + (1 - decay_rate) * dw**2;
    next_w = w - learning_rate * dw / (sqrt(cache) + epsilon).

    Epsilon is added OUTSIDE the square root, as in ``torch.optim.RMSprop`` (whose
    ``alpha`` is ``decay_rate`` here; same defaults 1e-2, 0.99, 1e-8). Keras and
    TensorFlow 1 put it inside (sqrt(cache + eps)).

    Parameters
    ----------
    w, dw : ndarray, as in `sgd`
    config : dict, optional
        ``learning_rate`` (default 1e-2), ``decay_rate`` (default 0.99), ``epsilon``
        (default 1e-8), ``cache`` (state: moving average of dw**2; zeros when absent).

    Returns
    -------
    next_w : ndarray of w's shape and dtype
    config : the dict passed, with the new ``cache``
    """
    check, w, dw, config = _start("rmsprop", w, dw, config, learning_rate=1e-2,
                                  decay_rate=0.99, epsilon=1e-8)
    decay = config["decay_rate"]
    cache = _times(_state(check, config, "cache", w), decay)
    cache += _squared(dw, 1 - decay)
    config["cache"] = cache
    denominator = np.sqrt(cache, out=_scratch_for(cache))
    denominator += config["epsilon"]
    step = _times(dw, config["learning_rate"])
    step /= denominator
    return _minus(w, step), config


def adam(w, dw, config=None):
    """Adam with bias correction (Kingma & Ba 2015, "Adam: A Method for Stochastic Optimization").

    t = t + 1;  m = beta1 * m + (1 - beta1) * dw;  v = beta2 * v + (1 - beta2) * dw**2;
    next_w = w - learning_rate * m_hat / (sqrt(v_hat) + epsilon),
    with m_hat = m / (1 - beta1**t) and v_hat = v / (1 - beta2**t).

    Epsilon is added to sqrt(v_hat), after bias correction, as in ``torch.optim.Adam``
    (same defaults: 1e-3, (0.9, 0.999), 1e-8). The paper's Algorithm 1 does the same;
    its "efficient" variant (section 2) and TensorFlow's Adam add epsilon to sqrt(v)
    before correcting, a slightly different epsilon. ``t`` counts steps from 0, as in
    CS231n, so the first call uses t = 1.

    Parameters
    ----------
    w, dw : ndarray, as in `sgd`
    config : dict, optional
        ``learning_rate`` (default 1e-3), ``beta1`` (0.9), ``beta2`` (0.999), ``epsilon``
        (1e-8), and state ``m``, ``v`` (zeros when absent) and ``t`` (0 when absent).

    Returns
    -------
    next_w : ndarray of w's shape and dtype
    config : the dict passed, with the new ``m``, ``v`` and ``t``
    """
    check, w, dw, config = _start("adam", w, dw, config, learning_rate=1e-3, beta1=0.9,
                                  beta2=0.999, epsilon=1e-8)
    step = _adam_direction(check, w, dw, config)
    step *= config["learning_rate"]
    return _minus(w, step), config


def adamw(w, dw, config=None):
    """Adam with decoupled weight decay, AdamW (Loshchilov & Hutter 2019).

    next_w = w - learning_rate * (weight_decay * w + m_hat / (sqrt(v_hat) + epsilon)),
    with m_hat, v_hat as in `adam`, computed from dw alone: the decay is not part of the
    gradient, so it is not rescaled by Adam's per-weight step sizes (the paper's point:
    with Adam, L2 in the loss and weight decay are different things; "Decoupled Weight
    Decay Regularization", ICLR 2019).

    The decay is multiplied by the learning rate, as in ``torch.optim.AdamW`` (same
    defaults: lr 1e-3, weight_decay 1e-2). The paper's Algorithm 2 scales it by the
    schedule multiplier eta_t only, not by the base rate alpha: to reproduce the paper
    with base rate alpha, pass weight_decay = lambda / alpha.

    Parameters
    ----------
    w, dw : ndarray, as in `sgd`
    config : dict, optional
        ``learning_rate`` (default 1e-3), ``weight_decay`` (default 1e-2), ``beta1``,
        ``beta2``, ``epsilon`` and state ``m``, ``v``, ``t`` as in `adam`.

    Returns
    -------
    next_w : ndarray of w's shape and dtype
    config : the dict passed, with the new ``m``, ``v`` and ``t``
    """
    check, w, dw, config = _start("adamw", w, dw, config, learning_rate=1e-3,
                                  weight_decay=1e-2, beta1=0.9, beta2=0.999, epsilon=1e-8)
    step = _adam_direction(check, w, dw, config)
    step += _times(w, config["weight_decay"], _scratch_for)
    step *= config["learning_rate"]
    return _minus(w, step), config


UPDATE_RULES = {rule.__name__: rule for rule in (sgd, sgd_momentum, nesterov, rmsprop,
                                                  adam, adamw)}


def _adam_direction(check, w, dw, config):
    """Advance Adam's moments in `config`; return m_hat / (sqrt(v_hat) + epsilon)."""
    beta1, beta2 = config["beta1"], config["beta2"]
    t = check.integer("config['t']", config.get("t", 0), low=0) + 1
    m = _times(_state(check, config, "m", w), beta1)
    m += _times(dw, 1 - beta1, _scratch_for)
    v = _times(_state(check, config, "v", w), beta2)
    v += _squared(dw, 1 - beta2)
    config.update(m=m, v=v, t=t)
    direction = np.divide(m, 1 - beta1 ** t, out=_new(m))              # m_hat
    denominator = np.divide(v, 1 - beta2 ** t, out=_scratch_for(v))    # v_hat
    np.sqrt(denominator, out=denominator)
    denominator += config["epsilon"]
    direction /= denominator
    return direction


# Bounds on each hyperparameter: (low, high, low_open, high_open).
_BOUNDS = {
    "learning_rate": (0, None, False, False),
    "momentum": (0, 1, False, True),
    "decay_rate": (0, 1, False, True),
    "beta1": (0, 1, False, True),
    "beta2": (0, 1, False, True),
    "epsilon": (0, None, False, False),
    "weight_decay": (0, None, False, False),
}


def _start(func, w, dw, config, **defaults):
    """Validate w, dw and config; fill the config's missing hyperparameters with defaults."""
    check = Args(func)
    w = check.floats("w", w)
    dw = check.floats("dw", dw)
    if dw.shape != w.shape:
        raise check.error(f"dw must have w's shape {w.shape}; got dw.shape = {dw.shape}")
    config = {} if config is None else check.mapping("config", config)
    for name, default in defaults.items():
        config.setdefault(name, default)
        low, high, low_open, high_open = _BOUNDS[name]
        check.number(f"config['{name}']", config[name], low=low, high=high,
                     low_open=low_open, high_open=high_open)
        # A NumPy float64 scalar (a schedule's output) would promote float32 weights to
        # float64; a Python float adapts to the array's dtype.
        config[name] = float(config[name])
    return check, w, dw, config


# The arithmetic of the rules, one operation at a time in the order the formulas in the
# docstrings are written (so the results are those of the formulas, bit for bit), into
# new arrays only where the result is returned or kept as state: the other
# intermediates go to a scratch array kept between calls (`layers.scratch`). A
# temporary of a weight's size allocated afresh at every step has its pages faulted in
# again at every step, which costs more than the arithmetic (benchmarks/bench_optim.py).
# Every result is an array, also for a 0-d w (a ufunc returns 0-d results as scalars,
# hence the explicit outputs).

def _scratch_for(array):
    """The rules' scratch array, of `array`'s shape and dtype: one intermediate at a time."""
    return scratch.scratch("update_rule", array.shape, array.dtype)


def _new(array):
    """A new array of `array`'s shape and dtype."""
    return np.empty_like(array)


def _times(array, factor, into=_new):
    """array * factor, into the array `into(array)` gives (a new one by default)."""
    return np.multiply(array, factor, out=into(array))


def _squared(dw, factor):
    """(factor * dw) * dw, in the scratch array."""
    product = _times(dw, factor, _scratch_for)
    return np.multiply(product, dw, out=product)


def _minus(w, step):
    """w - step, written into `step` (a new array the rule made)."""
    return np.subtract(w, step, out=step)


def _state(check, config, name, w):
    """The state array config[name] (zeros like w when absent), checked against w."""
    if name not in config:
        return np.zeros_like(w)
    state = check.floats(f"config['{name}']", config[name])
    if state.shape != w.shape:
        raise check.error(f"config['{name}'] must have w's shape {w.shape}; got "
                          f"config['{name}'].shape = {state.shape} (a config dict is the "
                          f"state of ONE parameter: give each parameter its own)")
    return state
