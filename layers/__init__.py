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

from .activations import (
    relu_forward, relu_backward, leaky_relu_forward, leaky_relu_backward, elu_forward,
    elu_backward, gelu_forward, gelu_backward, gelu_tanh_forward, gelu_tanh_backward,
    silu_forward, silu_backward, sigmoid_forward, sigmoid_backward, tanh_forward,
    tanh_backward, softplus_forward, softplus_backward, softmax_forward, softmax_backward,
)
from .affine import affine_forward, affine_backward
from .attention import (
    causal_may_attend, scaled_dot_product_attention_forward,
    scaled_dot_product_attention_backward, multihead_attention_forward,
    multihead_attention_backward,
)
from .batchnorm import batchnorm_forward, batchnorm_backward, batchnorm_backward_alt
from .conv import (
    conv_forward_naive, conv_backward_naive, conv_forward, conv_backward, conv_forward_fast,
    conv_backward_fast, conv_forward_strides, conv_backward_strides, conv_forward_im2col,
    conv_backward_im2col, clear_scratch,
)
from .conv_transpose import conv_transpose_forward, conv_transpose_backward
from . import cs224n  # noqa: F401 - layers.cs224n, a submodule (see above)
from .dropout import dropout_forward, dropout_backward
from .embedding import word_embedding_forward, word_embedding_backward
from .gates import (
    add_forward, add_backward, subtract_forward, subtract_backward, multiply_forward,
    multiply_backward, divide_forward, divide_backward, maximum_forward, maximum_backward,
    exp_forward, exp_backward, log_forward, log_backward, power_forward, power_backward,
    sum_forward, sum_backward, mean_forward, mean_backward, matmul_forward, matmul_backward,
)
from .gru import gru_step_forward, gru_step_backward, gru_forward, gru_backward
from .layer_utils import (
    affine_relu_forward, affine_relu_backward, conv_relu_forward, conv_relu_backward,
    conv_relu_pool_forward, conv_relu_pool_backward, conv_bn_relu_forward,
    conv_bn_relu_backward,
)
from .layernorm import layernorm_forward, layernorm_backward
from .losses import (
    softmax_loss_forward, softmax_loss_backward, softmax_loss, svm_loss_forward,
    svm_loss_backward, svm_loss, sigmoid_cross_entropy_loss_forward,
    sigmoid_cross_entropy_loss_backward, sigmoid_cross_entropy_loss, mse_loss_forward,
    mse_loss_backward, mse_loss,
)
from .lstm import lstm_step_forward, lstm_step_backward, lstm_forward, lstm_backward
from .pooling import (
    max_pool_forward_naive, max_pool_backward_naive, max_pool_forward, max_pool_backward,
    max_pool_forward_fast, max_pool_backward_fast, avg_pool_forward, avg_pool_backward,
    global_avg_pool_forward, global_avg_pool_backward, max_pool_forward_reshape,
    max_pool_backward_reshape, max_pool_forward_im2col, max_pool_backward_im2col,
)
from .positional import (
    sinusoidal_encoding, positional_encoding_forward, positional_encoding_backward,
)
from .rnn import rnn_step_forward, rnn_step_backward, rnn_forward, rnn_backward
from .spatial_norm import (
    spatial_batchnorm_forward, spatial_batchnorm_backward, spatial_groupnorm_forward,
    spatial_groupnorm_backward,
)
from .temporal import (
    temporal_affine_forward, temporal_affine_backward, temporal_softmax_loss_forward,
    temporal_softmax_loss_backward, temporal_softmax_loss,
)
from .window_classifier import window_classifier_forward, window_classifier_backward
from .word2vec import (
    naive_softmax_loss_forward, naive_softmax_loss_backward, negative_sampling_loss_forward,
    negative_sampling_loss_backward, skipgram_forward, skipgram_backward,
)

__all__ = [
    "add_backward", "add_forward", "affine_backward", "affine_forward",
    "affine_relu_backward", "affine_relu_forward", "avg_pool_backward", "avg_pool_forward",
    "batchnorm_backward", "batchnorm_backward_alt", "batchnorm_forward",
    "causal_may_attend", "clear_scratch", "conv_backward", "conv_backward_fast",
    "conv_backward_im2col", "conv_backward_naive", "conv_backward_strides",
    "conv_bn_relu_backward", "conv_bn_relu_forward", "conv_forward",
    "conv_forward_fast", "conv_forward_im2col", "conv_forward_naive",
    "conv_forward_strides", "conv_relu_backward", "conv_relu_forward",
    "conv_relu_pool_backward", "conv_relu_pool_forward", "conv_transpose_backward",
    "conv_transpose_forward", "divide_backward", "divide_forward",
    "dropout_backward", "dropout_forward", "elu_backward", "elu_forward", "exp_backward",
    "exp_forward",
    "gelu_backward", "gelu_forward", "gelu_tanh_backward", "gelu_tanh_forward",
    "global_avg_pool_backward", "global_avg_pool_forward", "gru_backward", "gru_forward",
    "gru_step_backward", "gru_step_forward", "layernorm_backward", "layernorm_forward",
    "leaky_relu_backward", "leaky_relu_forward", "log_backward", "log_forward",
    "lstm_backward", "lstm_forward", "lstm_step_backward", "lstm_step_forward",
    "matmul_backward", "matmul_forward", "max_pool_backward", "max_pool_backward_fast",
    "max_pool_backward_im2col", "max_pool_backward_naive", "max_pool_backward_reshape",
    "max_pool_forward", "max_pool_forward_fast", "max_pool_forward_im2col",
    "max_pool_forward_naive", "max_pool_forward_reshape", "maximum_backward",
    "maximum_forward", "mean_backward",
    "mean_forward", "mse_loss", "mse_loss_backward", "mse_loss_forward",
    "multihead_attention_backward", "multihead_attention_forward", "multiply_backward",
    "multiply_forward", "naive_softmax_loss_backward", "naive_softmax_loss_forward",
    "negative_sampling_loss_backward", "negative_sampling_loss_forward",
    "positional_encoding_backward", "positional_encoding_forward", "power_backward",
    "power_forward", "relu_backward", "relu_forward", "rnn_backward", "rnn_forward",
    "rnn_step_backward", "rnn_step_forward", "scaled_dot_product_attention_backward",
    "scaled_dot_product_attention_forward", "sigmoid_backward",
    "sigmoid_cross_entropy_loss", "sigmoid_cross_entropy_loss_backward",
    "sigmoid_cross_entropy_loss_forward", "sigmoid_forward", "silu_backward",
    "silu_forward", "sinusoidal_encoding", "skipgram_backward", "skipgram_forward",
    "softmax_backward", "softmax_forward", "softmax_loss", "softmax_loss_backward",
    "softmax_loss_forward", "softplus_backward", "softplus_forward",
    "spatial_batchnorm_backward", "spatial_batchnorm_forward", "spatial_groupnorm_backward",
    "spatial_groupnorm_forward", "subtract_backward", "subtract_forward", "sum_backward",
    "sum_forward", "svm_loss", "svm_loss_backward", "svm_loss_forward", "tanh_backward",
    "tanh_forward", "temporal_affine_backward", "temporal_affine_forward",
    "temporal_softmax_loss", "temporal_softmax_loss_backward",
    "temporal_softmax_loss_forward", "window_classifier_backward",
    "window_classifier_forward", "word_embedding_backward", "word_embedding_forward",
]
