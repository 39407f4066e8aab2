"""gatelab's layers: forward/backward function pairs on NumPy, in CS231n's conventions.

The layer contract
------------------
- ``name_forward(*args) -> (out, cache)`` and ``name_backward(dout, cache) -> grads``.
- ``grads`` holds one gradient per floating-point array argument (float32 or float64
  ``ndarray``, or NumPy float scalar), in argument order; a bare array when there is one.
  Integer arrays (labels, indices), boolean masks, parameter dicts, keyword options and
  Python numbers (constants such as a power's exponent) get none. Each gradient has its
  argument's shape and dtype.
- A layer with several outputs returns them before the cache, and its backward takes one
  upstream gradient per output, as CS231n's LSTM step does:
  ``lstm_step_forward(...) -> (next_h, next_c, cache)``,
  ``lstm_step_backward(dnext_h, dnext_c, cache)``.
- CS231n's names, argument order and return order wherever CS231n has the layer:
  ``affine_forward(x, w, b)``, ``batchnorm_forward(x, gamma, beta, bn_param)``, ...
- Losses are pairs too (``softmax_loss_forward(x, y) -> (loss, cache)``,
  ``softmax_loss_backward(dloss, cache) -> dx``), with CS231n's fused form
  ``softmax_loss(x, y) -> (loss, dx)`` built on the pair. Losses average over the batch.
- Layers are pure: array arguments are never modified. The one documented exception is
  a state dict that CS231n code expects to be updated (``bn_param``'s running
  statistics): its entries are rebound to new arrays, never written into.
- Randomness never touches NumPy's global RNG: dropout draws from
  ``np.random.default_rng(dropout_param['seed'])`` (or a Generator passed in the dict).
- Output dtype follows the input: float32 in, float32 out; float64 in, float64 out. The
  floating-point arrays of one call must share a dtype.
- Bad input raises ValueError or TypeError naming the function, the argument, and what
  was expected versus received.

Every pair is registered with a builder of valid example inputs (`layers.registry`), and
``python -m checks`` compares every backward with central differences.
"""

import importlib
import pkgutil

_PUBLIC_MODULES = sorted(info.name for info in pkgutil.iter_modules(__path__)
                         if not info.name.startswith("_") and info.name != "registry")

__all__ = []
for _name in _PUBLIC_MODULES:
    _module = importlib.import_module(f"{__name__}.{_name}")
    for _symbol in getattr(_module, "__all__", ()):
        globals()[_symbol] = getattr(_module, _symbol)
        __all__.append(_symbol)
del _name, _module, _symbol
