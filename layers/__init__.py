"""gatelab's layers: forward/backward function pairs on NumPy, in CS231n's conventions.

The layer contract
------------------
- ``name_forward(*args) -> (out, cache)`` and ``name_backward(dout, cache) -> grads``.
- Which arguments get a gradient is a property of the layer, declared on its forward
  (``@differentiable("x", "w", "b")`` from `layers.contract`): ``grads`` holds one
  gradient per declared argument, in that order, a bare array when there is one. Labels,
  indices, masks, parameter dicts and options are not declared and get none. The gates of
  a circuit (add, multiply, ...) take a Python number as a constant with no gradient. A
  user's pair without a declaration gets today's rule: one gradient per float32/float64
  array argument.
- Declared arguments are number arrays as NumPy sees them: float32/float64 arrays, integer
  arrays, NumPy scalars, Python numbers, lists of numbers. The layer computes in their
  NumPy result type (integers alone: float64), so float32 in gives float32 out and float32
  weights with float64 data compute in float64; each gradient comes back in its own
  argument's shape and dtype (an integer or Python-number argument's in the computation's
  dtype). Bool, complex, float16 and non-numbers are refused by name.
- A backward takes only the cache its own forward made (``@backward_of``): another
  layer's cache, None or a hand-built tuple is refused by name. A sandwich layer's cache
  unpacks like CS231n's, ``fc_cache, relu_cache = cache``.
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
- Randomness is CS231n's: with ``dropout_param['seed']`` dropout does what CS231n's
  does, ``np.random.seed(seed)`` and then ``np.random.rand``, so it SEEDS NumPy's global
  generator (the one layer that does, because CS231n cells draw on from the state it
  leaves); without a seed it DRAWS from the global generator, so
  ``np.random.seed(231)`` makes a run reproducible (and the checker fixes the global
  state for every evaluation and puts the caller's back).
- Bad input raises ValueError or TypeError naming the function, the argument, and what
  was expected versus received.

Every pair is registered with a builder of valid example inputs (`layers.registry`), and
``python -m checks`` compares every backward with central differences.

`layers.cs224n` is a submodule, not part of this namespace: CS224N's word2vec functions
(``naiveSoftmaxLossAndGradient``, ``skipgram``, ``sgd``, ...) under the assignment's
names, built on the word2vec pairs.
"""

# Each module's __all__ lists its names once; the star imports bring them here, where
# editors resolve them statically (jedi follows a star import through the module's
# __all__), and the package's __all__ is their union.
# ruff: noqa: F403 - the star imports are the point: each name is listed in its module
from . import (
    activations, affine, attention, batchnorm, conv, conv_transpose, dropout, embedding,
    gates, gru, layer_utils, layernorm, losses, lstm, pooling, positional, rnn, scratch,
    spatial_norm, temporal, window_classifier, word2vec,
)
from . import cs224n  # noqa: F401 - layers.cs224n, a submodule (see above)
from .activations import *
from .affine import *
from .attention import *
from .batchnorm import *
from .conv import *
from .conv_transpose import *
from .dropout import *
from .embedding import *
from .gates import *
from .gru import *
from .layer_utils import *
from .layernorm import *
from .losses import *
from .lstm import *
from .pooling import *
from .positional import *
from .rnn import *
from .scratch import *
from .spatial_norm import *
from .temporal import *
from .window_classifier import *
from .word2vec import *

__all__ = [
    *activations.__all__, *affine.__all__, *attention.__all__, *batchnorm.__all__,
    *conv.__all__, *conv_transpose.__all__, *dropout.__all__, *embedding.__all__,
    *gates.__all__, *gru.__all__, *layer_utils.__all__, *layernorm.__all__, *losses.__all__,
    *lstm.__all__, *pooling.__all__, *positional.__all__, *rnn.__all__, *scratch.__all__,
    *spatial_norm.__all__, *temporal.__all__, *window_classifier.__all__,
    *word2vec.__all__,
]
