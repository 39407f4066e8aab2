"""CS224N's word2vec assignment under its own names: the CS224N-named face of the pairs.

The functions of CS224N's assignment 2 (winter 2022: ``word2vec.py``, ``sgd.py``,
``utils/gradcheck.py``, ``utils/utils.py``) with the assignment's names, signatures and
return orders, so that its code runs with ``from layers.cs224n import ...`` in place of
the student's files. The maths is the library's: every loss and gradient comes from the
word2vec pairs of `layers.word2vec` (and `sigmoid`, `softmax` from `layers.activations`),
called forward then backward with dloss = 1. These are plain functions, not layer pairs,
so they live in this submodule and not in the ``layers`` namespace.

Each camelCase name has a snake_case twin (the same function):
``naive_softmax_loss_and_gradient``, ``get_negative_samples``,
``neg_sampling_loss_and_gradient``, ``normalize_rows``.

Randomness is the assignment's: negative samples come from ``dataset.sampleTokenIdx()``
and `word2vec_sgd_wrapper` draws window sizes from Python's ``random`` module, in the
assignment's order, so that its expected numbers (which depend on that order) come out.

What differs from the assignment's reference code:

- Nothing is modified in place: `softmax` and `normalizeRows` return new arrays (the
  reference writes into x), `sgd` leaves x0 as it was, and `gradcheck_naive` puts every
  element of x back exactly.
- `normalizeRows` leaves an all-zero row at zero instead of adding 1e-30 to the norm.
- `gradcheck_naive` returns True or False besides printing the assignment's messages.

Examples
--------
>>> U = np.array([[1.0, 0.0], [0.0, 1.0]])
>>> loss, dcenter, doutside = naiveSoftmaxLossAndGradient(np.zeros(2), 1, U, None)
>>> round(float(loss), 6), dcenter
(0.693147, array([ 0.5, -0.5]))
"""

import glob
import os
import pickle
import random

import numpy as np

from .activations import sigmoid_forward, softmax_forward
from .contract import describe
from .word2vec import (naive_softmax_loss_backward, naive_softmax_loss_forward,
                       negative_sampling_loss_backward, negative_sampling_loss_forward,
                       skipgram_backward, skipgram_forward)

__all__ = [
    "sigmoid", "softmax", "normalizeRows", "normalize_rows", "naiveSoftmaxLossAndGradient",
    "naive_softmax_loss_and_gradient", "getNegativeSamples", "get_negative_samples",
    "negSamplingLossAndGradient", "neg_sampling_loss_and_gradient", "skipgram",
    "word2vec_sgd_wrapper", "sgd", "gradcheck_naive",
]

# The assignment's constants: the wrapper averages over 50 random windows, sgd halves the
# step every 20000 iterations and saves every 5000, and the gradient check steps by 1e-4
# and fails above a relative difference of 1e-5.
WRAPPER_BATCH_SIZE = 50
ANNEAL_EVERY = 20000
SAVE_PARAMS_EVERY = 5000
GRADCHECK_STEP = 1e-4
GRADCHECK_TOLERANCE = 1e-5


# -- utils/utils.py ---------------------------------------------------------------------

def sigmoid(x):
    """The logistic sigmoid 1 / (1 + exp(-x)), elementwise, without overflow.

    Parameters
    ----------
    x : number, or array of numbers (integers are computed as float64)

    Returns
    -------
    s : float for a number; ndarray of x's shape otherwise (float64, or x's float dtype)

    Examples
    --------
    >>> sigmoid(0)
    np.float64(0.5)
    """
    out, _ = sigmoid_forward(_floats("sigmoid", "x", x))
    return out[()]


def softmax(x):
    """Softmax of a vector (D,), or of each row of a matrix (N, D).

    Parameters
    ----------
    x : array of numbers of shape (D,) or (N, D); not modified

    Returns
    -------
    ndarray of x's shape; positive, each row summing to 1

    Examples
    --------
    >>> softmax(np.array([[1001, 1002], [3, 4]])).round(8)
    array([[0.26894142, 0.73105858],
           [0.26894142, 0.73105858]])
    """
    x = _floats("softmax", "x", x)
    if x.ndim not in (1, 2):
        raise ValueError(f"softmax: x must be a vector (D,) or a matrix (N, D); got "
                         f"x.shape = {x.shape}")
    return softmax_forward(x)[0]


def normalizeRows(x):
    """Each row of x divided by its Euclidean norm (an all-zero row stays zero).

    Parameters
    ----------
    x : array of numbers of shape (N, D); not modified

    Returns
    -------
    ndarray of shape (N, D), float64 (or x's float dtype)

    Examples
    --------
    >>> normalizeRows(np.array([[3.0, 4.0], [0.0, 0.0]]))
    array([[0.6, 0.8],
           [0. , 0. ]])
    """
    x = _floats("normalizeRows", "x", x)
    if x.ndim != 2:
        raise ValueError(f"normalizeRows: x must be a matrix (N, D); got x.shape = "
                         f"{x.shape}")
    norms = np.sqrt(np.sum(x * x, axis=1, keepdims=True))
    return x / np.where(norms > 0, norms, 1)


# -- word2vec.py --------------------------------------------------------------------------

def naiveSoftmaxLossAndGradient(centerWordVec, outsideWordIdx, outsideVectors, dataset):
    """The naive-softmax loss of one (center, outside) pair and its gradients.

    `layers.naive_softmax_loss_forward` and its backward: J = -log softmax(U v_c)[o].

    Parameters
    ----------
    centerWordVec : ndarray of shape (D,), v_c
    outsideWordIdx : int, the outside word o, 0 <= o < V
    outsideVectors : ndarray of shape (V, D), U (one row per word)
    dataset : unused (the negative-sampling loss needs it; the signatures agree)

    Returns
    -------
    loss : NumPy scalar
    gradCenterVec : ndarray of shape (D,), dJ/dv_c
    gradOutsideVecs : ndarray of shape (V, D), dJ/dU
    """
    loss, cache = naive_softmax_loss_forward(centerWordVec, outsideWordIdx, outsideVectors)
    return (loss, *naive_softmax_loss_backward(1.0, cache))


def getNegativeSamples(outsideWordIdx, dataset, K):
    """K word indices from ``dataset.sampleTokenIdx()``, each redrawn until it is not o.

    Parameters
    ----------
    outsideWordIdx : int, the outside word o
    dataset : object with ``sampleTokenIdx() -> int``
    K : int, the number of negative samples

    Returns
    -------
    list of K ints; a word may occur more than once
    """
    samples = []
    for _ in range(K):
        sample = dataset.sampleTokenIdx()
        while sample == outsideWordIdx:
            sample = dataset.sampleTokenIdx()
        samples.append(sample)
    return samples


def negSamplingLossAndGradient(centerWordVec, outsideWordIdx, outsideVectors, dataset,
                               K=10):
    """The negative-sampling loss of one (center, outside) pair with K drawn negatives.

    The negatives are drawn first (`getNegativeSamples`), then
    `layers.negative_sampling_loss_forward` and its backward give
    J = -log sigmoid(u_o . v_c) - sum_k log sigmoid(-u_k . v_c); a negative drawn twice
    counts twice.

    Parameters
    ----------
    centerWordVec : ndarray of shape (D,), v_c
    outsideWordIdx : int, the outside word o
    outsideVectors : ndarray of shape (V, D), U
    dataset : object with ``sampleTokenIdx() -> int``
    K : int, the number of negative samples

    Returns
    -------
    loss : NumPy scalar
    gradCenterVec : ndarray of shape (D,)
    gradOutsideVecs : ndarray of shape (V, D)
    """
    negatives = _index_array(getNegativeSamples(outsideWordIdx, dataset, K))
    loss, cache = negative_sampling_loss_forward(centerWordVec, outsideWordIdx,
                                                 outsideVectors, negatives)
    return (loss, *negative_sampling_loss_backward(1.0, cache))


def skipgram(currentCenterWord, windowSize, outsideWords, word2Ind, centerWordVectors,
             outsideVectors, dataset, word2vecLossAndGradient=naiveSoftmaxLossAndGradient):
    """The skip-gram loss of one window: the word2vec loss summed over its outside words.

    With this module's two losses the window is computed by `layers.skipgram_forward` and
    its backward (the negatives drawn first, in the assignment's order); any other loss
    function with their signature is called once per outside word, as the assignment
    does.

    Parameters
    ----------
    currentCenterWord : str, the center word
    windowSize : int, unused (the outside words are given); kept for the signature
    outsideWords : list of str, the at most 2 * windowSize outside words
    word2Ind : dict of str -> int, word indices
    centerWordVectors : ndarray of shape (V, D), one v_w per word
    outsideVectors : ndarray of shape (V, D), one u_w per word
    dataset : passed on to the loss function
    word2vecLossAndGradient : callable, ``naiveSoftmaxLossAndGradient`` by default

    Returns
    -------
    loss : NumPy scalar
    gradCenterVecs : ndarray of shape (V, D); only the center word's row is non-zero
    gradOutsideVectors : ndarray of shape (V, D)
    """
    center = word2Ind[currentCenterWord]
    outside = _index_array([word2Ind[word] for word in outsideWords])
    if word2vecLossAndGradient is naiveSoftmaxLossAndGradient:
        negatives = None
    elif word2vecLossAndGradient is negSamplingLossAndGradient:
        default_k = negSamplingLossAndGradient.__defaults__[0]
        negatives = _index_array([getNegativeSamples(word, dataset, default_k)
                                  for word in outside]).reshape(len(outside), default_k)
    else:
        return _skipgram_by_words(center, outside, centerWordVectors, outsideVectors,
                                  dataset, word2vecLossAndGradient)
    loss, cache = skipgram_forward(center, outside, centerWordVectors, outsideVectors,
                                   negative_idx=negatives)
    return (loss, *skipgram_backward(1.0, cache))


def _skipgram_by_words(center, outside, centerWordVectors, outsideVectors, dataset,
                       word2vecLossAndGradient):
    """`skipgram` with a loss function of the user's: one call per outside word."""
    loss = 0.0
    grad_center = np.zeros(np.shape(centerWordVectors))
    grad_outside = np.zeros(np.shape(outsideVectors))
    for word in outside:
        word_loss, dcenter, doutside = word2vecLossAndGradient(
            centerWordVectors[center], word, outsideVectors, dataset)
        loss += word_loss
        grad_center[center] += np.reshape(dcenter, -1)
        grad_outside += doutside
    return loss, grad_center, grad_outside


def word2vec_sgd_wrapper(word2vecModel, word2Ind, wordVectors, dataset, windowSize,
                         word2vecLossAndGradient=naiveSoftmaxLossAndGradient):
    """The loss and gradient averaged over 50 random windows, for `sgd` and the checks.

    ``wordVectors`` stacks the center vectors (first half of the rows) on the outside
    vectors (second half). Each window has a size drawn with ``random.randint(1,
    windowSize)`` and a context from ``dataset.getRandomContext(size)``.

    Parameters
    ----------
    word2vecModel : callable with `skipgram`'s signature
    word2Ind : dict of str -> int
    wordVectors : ndarray of shape (2V, D)
    dataset : object with ``getRandomContext(C) -> (center word, outside words)`` (and
        ``sampleTokenIdx`` for negative sampling)
    windowSize : int >= 1
    word2vecLossAndGradient : callable, passed to the model

    Returns
    -------
    loss : float
    grad : ndarray of shape (2V, D), float64
    """
    half = wordVectors.shape[0] // 2
    center_vectors, outside_vectors = wordVectors[:half, :], wordVectors[half:, :]
    loss = 0.0
    grad = np.zeros(wordVectors.shape)
    for _ in range(WRAPPER_BATCH_SIZE):
        size = random.randint(1, windowSize)
        center_word, context = dataset.getRandomContext(size)
        window_loss, grad_center, grad_outside = word2vecModel(
            center_word, size, context, word2Ind, center_vectors, outside_vectors, dataset,
            word2vecLossAndGradient)
        loss += window_loss / WRAPPER_BATCH_SIZE
        grad[:half, :] += grad_center / WRAPPER_BATCH_SIZE
        grad[half:, :] += grad_outside / WRAPPER_BATCH_SIZE
    return loss, grad


# -- sgd.py --------------------------------------------------------------------------------

def sgd(f, x0, step, iterations, postprocessing=None, useSaved=False, PRINT_EVERY=10):
    """Stochastic gradient descent, x <- postprocessing(x - step * grad), as in CS224N.

    The step is halved every 20000 iterations. Every PRINT_EVERY iterations an
    exponential moving average of the loss is printed (``iter 10: 2.345678``).

    Parameters
    ----------
    f : callable, ``f(x) -> (loss, grad)`` with grad of x's shape
    x0 : number or ndarray, the starting point (not modified)
    step : float, the initial step size
    iterations : int, the last iteration to run (iterations are numbered from 1)
    postprocessing : callable, optional
        Applied to x after every step (`normalizeRows` for word vectors).
    useSaved : bool
        As in the assignment: resume from the latest ``saved_params_<iter>.npy`` and
        ``saved_state_<iter>.pickle`` (Python's random state) in the working directory,
        and save them every 5000 iterations. The pickle is the assignment's own file
        format: load only files this function wrote.
    PRINT_EVERY : int

    Returns
    -------
    x : the parameters after the last iteration
    """
    start, x = 0, x0
    if useSaved:
        start, saved_x, state = _load_saved_params()
        if start > 0:
            x = saved_x
            step *= 0.5 ** (start / ANNEAL_EVERY)
        if state:
            random.setstate(state)
    postprocessing = postprocessing or (lambda value: value)
    smoothed = None
    for iteration in range(start + 1, iterations + 1):
        loss, grad = f(x)
        x = postprocessing(x - step * grad)
        if iteration % PRINT_EVERY == 0:
            smoothed = loss if smoothed is None else 0.95 * smoothed + 0.05 * loss
            print(f"iter {iteration}: {smoothed:f}")
        if useSaved and iteration % SAVE_PARAMS_EVERY == 0:
            _save_params(iteration, x)
        if iteration % ANNEAL_EVERY == 0:
            step *= 0.5
    return x


def _load_saved_params():
    """(iteration, params, random state) of the latest save in the working directory,
    or (0, None, None)."""
    saved = [int(os.path.splitext(os.path.basename(name))[0].split("_")[2])
             for name in glob.glob("saved_params_*.npy")]
    if not saved:
        return 0, None, None
    latest = max(saved)
    params = np.load(f"saved_params_{latest}.npy")
    with open(f"saved_state_{latest}.pickle", "rb") as handle:
        state = pickle.load(handle)
    return latest, params, state


def _save_params(iteration, params):
    np.save(f"saved_params_{iteration}.npy", params)
    with open(f"saved_state_{iteration}.pickle", "wb") as handle:
        pickle.dump(random.getstate(), handle)


# -- utils/gradcheck.py ------------------------------------------------------------------

def gradcheck_naive(f, x, gradientText):
    """CS224N's gradient check: every element of x against central differences of f.

    Python's ``random`` state is put back before every call of f, so a loss that samples
    (negative sampling, random windows) sees the same samples at every evaluation. The
    step is 1e-4; an element fails when
    ``|numeric - analytic| / max(1, |numeric|, |analytic|) > 1e-5``. Prints the
    assignment's messages.

    Parameters
    ----------
    f : callable, ``f(x) -> (loss, grad)``
    x : float ndarray, any shape; perturbed in place during the check (f may read it
        from a closure) and put back exactly
    gradientText : str, names the gradient in the failure message

    Returns
    -------
    bool : True when every element passes; False at the first that fails
    """
    if not isinstance(x, np.ndarray) or x.dtype.kind != "f":
        raise TypeError(f"gradcheck_naive: x must be a floating-point ndarray (it is "
                        f"perturbed in place); got {describe(x)}")
    state = random.getstate()

    def evaluate(point):
        random.setstate(state)
        return f(point)

    _, grad = evaluate(x)
    for index in np.ndindex(*x.shape):
        original = x[index]
        try:
            x[index] = original + GRADCHECK_STEP
            plus, _ = evaluate(x)
            x[index] = original - GRADCHECK_STEP
            minus, _ = evaluate(x)
        finally:
            x[index] = original
        numeric = (plus - minus) / 2 / GRADCHECK_STEP
        analytic = grad[index]
        if abs(numeric - analytic) / max(1, abs(numeric), abs(analytic)) > \
                GRADCHECK_TOLERANCE:
            print(f"Gradient check failed for {gradientText}.")
            print(f"First gradient error found at index {index} in the vector of gradients")
            print(f"Your gradient: {analytic:f} \t Numerical gradient: {numeric:f}")
            return False
    print("Gradient check passed!")
    return True


# -- helpers -----------------------------------------------------------------------------

def _floats(func, name, x):
    """x as an array the library's pairs take: float32 and float64 as given, integers (and
    other floats) as float64; anything else is an error naming `func` and `name`."""
    array = np.asarray(x)
    if array.dtype.kind in "iu":
        return array.astype(np.float64)
    if array.dtype.kind == "f":
        wide = array.dtype in (np.float32, np.float64)
        return array if wide else array.astype(np.float64)
    raise TypeError(f"{func}: {name} must be a number or an array of real numbers; got "
                    f"{describe(x)}")


def _index_array(indices):
    """A list of word indices as an integer array (an empty list gives an empty one)."""
    array = np.asarray(indices)
    return array.astype(np.int64) if array.size == 0 else array


naive_softmax_loss_and_gradient = naiveSoftmaxLossAndGradient
get_negative_samples = getNegativeSamples
neg_sampling_loss_and_gradient = negSamplingLossAndGradient
normalize_rows = normalizeRows
