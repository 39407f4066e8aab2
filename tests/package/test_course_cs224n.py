"""CS224N's assignment 2 (winter 2022) sanity checks, run on `layers.cs224n`.

``word2vec.py``'s test_word2vec (sigmoid, the gradient checks of both losses and of
skip-gram through the SGD wrapper, and the expected losses and gradients of skip-gram on
the assignment's dummy data), ``sgd.py``'s sanity checks, and the softmax checks of
CS224N's earlier ``q1_softmax.py``, each with the assignment's numbers and tolerances
(``np.allclose``'s defaults where the assignment uses them).

The expected negative-sampling numbers depend on the order in which the assignment draws
from Python's ``random``: the dummy data set is made, then the naive-softmax wrapper and
the negative-sampling wrapper are each evaluated (the gradient checks end in the state
one evaluation leaves, since they put the state back before every evaluation).
"""

import random

import numpy as np
import pytest

from layers import cs224n
from layers.cs224n import (
    getNegativeSamples, get_negative_samples, gradcheck_naive, naiveSoftmaxLossAndGradient,
    naive_softmax_loss_and_gradient, negSamplingLossAndGradient,
    neg_sampling_loss_and_gradient, normalizeRows, normalize_rows, sgd, sigmoid, skipgram,
    softmax, word2vec_sgd_wrapper,
)

TOKENS = ["a", "b", "c", "d", "e"]


class DummyDataset:
    """The assignment's dummy data set: uniform token samples and random contexts."""

    @staticmethod
    def sampleTokenIdx():
        return random.randint(0, 4)

    @staticmethod
    def getRandomContext(C):
        center = TOKENS[random.randint(0, 4)]
        return center, [TOKENS[random.randint(0, 4)] for _ in range(2 * C)]


@pytest.fixture(autouse=True)
def random_states():
    """The checks seed Python's and NumPy's global generators; put them back after."""
    python_state, numpy_state = random.getstate(), np.random.get_state()
    yield
    random.setstate(python_state)
    np.random.set_state(numpy_state)


def dummy_objects():
    """(dataset, vectors, tokens) as the assignment's getDummyObjects makes them."""
    random.seed(31415)
    np.random.seed(9265)
    vectors = normalizeRows(np.random.randn(10, 3))
    return DummyDataset(), vectors, {token: i for i, token in enumerate(TOKENS)}


def test_sigmoid():
    assert sigmoid(0) == 0.5
    assert np.allclose(sigmoid(np.array([0])), np.array([0.5]))
    assert np.allclose(sigmoid(np.array([1, 2, 3])),
                       np.array([0.73105858, 0.88079708, 0.95257413]))


def test_softmax():
    assert np.allclose(softmax(np.array([1, 2])), np.array([0.26894142, 0.73105858]),
                       rtol=1e-05, atol=1e-06)
    assert np.allclose(softmax(np.array([[1001, 1002], [3, 4]])),
                       np.array([[0.26894142, 0.73105858], [0.26894142, 0.73105858]]),
                       rtol=1e-05, atol=1e-06)
    assert np.allclose(softmax(np.array([[-1001, -1002]])),
                       np.array([0.73105858, 0.26894142]), rtol=1e-05, atol=1e-06)


def test_softmax_and_normalize_rows_leave_their_input_alone():
    x = np.array([[3.0, 4.0], [1.0, 0.0]])
    before = x.copy()
    np.testing.assert_allclose(normalizeRows(x), [[0.6, 0.8], [1.0, 0.0]], rtol=1e-15)
    softmax(x)
    np.testing.assert_array_equal(x, before)


@pytest.mark.parametrize("loss_function", [naiveSoftmaxLossAndGradient,
                                           negSamplingLossAndGradient])
def test_loss_gradient_checks(loss_function, capsys):
    """test_naiveSoftmaxLossAndGradient and test_negSamplingLossAndGradient."""
    dataset, vectors, _ = dummy_objects()

    def by_center(vec):
        loss, grad_center, _ = loss_function(vec, 1, vectors, dataset)
        return loss, grad_center

    assert gradcheck_naive(by_center, np.random.randn(3), "gradCenterVec")
    center = np.random.randn(3)

    def by_outside(vec):
        loss, _, grad_outside = loss_function(center, 1, vec, dataset)
        return loss, grad_outside

    assert gradcheck_naive(by_outside, vectors, "gradOutsideVecs")
    assert capsys.readouterr().out.count("Gradient check passed!") == 2


def skipgram_cases(loss_function):
    """(center word, window size, outside words) of the assignment's three tests."""
    if loss_function is naiveSoftmaxLossAndGradient:
        return [(center, 3, ["a", "b", "e", "d", "b", "c"]) for center in "cba"]
    return [("c", 1, ["a", "b"]), ("c", 2, ["a", "b", "c", "a"]),
            ("a", 3, ["a", "b", "e", "d", "b", "c"])]


SOFTMAX_EXPECTED = [
    (11.16610900153398,
     [[0., 0., 0.], [0., 0., 0.], [-1.26947339, -1.36873189, 2.45158957], [0., 0., 0.],
      [0., 0., 0.]],
     [[-0.41045956, 0.18834851, 1.43272264], [0.38202831, -0.17530219, -1.33348241],
      [0.07009355, -0.03216399, -0.24466386], [0.09472154, -0.04346509, -0.33062865],
      [-0.13638384, 0.06258276, 0.47605228]]),
    (9.87714910003414,
     [[0., 0., 0.], [-0.14586705, -1.34158321, -0.29291951], [0., 0., 0.], [0., 0., 0.],
      [0., 0., 0.]],
     [[-0.30342672, 0.19808298, 0.19587419], [-0.41359958, 0.27000601, 0.26699522],
      [-0.08192272, 0.05348078, 0.05288442], [0.6981188, -0.4557458, -0.45066387],
      [0.10083022, -0.06582396, -0.06508997]]),
    (10.810758628593335,
     [[-1.1790274, -1.35861865, 1.53590492], [0., 0., 0.], [0., 0., 0.], [0., 0., 0.],
      [0., 0., 0.]],
     [[-7.96035953e-01, -1.79609012e-02, 2.07761330e-01],
      [1.40175316e+00, 3.16276545e-02, -3.65850437e-01],
      [-1.99691259e-01, -4.50561933e-03, 5.21184016e-02],
      [2.02560028e-02, 4.57034715e-04, -5.28671357e-03],
      [-4.26281954e-01, -9.61816867e-03, 1.11257419e-01]]),
]

NEGSAMP_EXPECTED = [
    (16.15119285363322,
     [[0., 0., 0.], [0., 0., 0.], [-4.54650789, -1.85942252, 0.76397441], [0., 0., 0.],
      [0., 0., 0.]],
     [[-0.69148188, 0.31730185, 2.41364029], [-0.22716495, 0.10423969, 0.79292674],
      [-0.45528438, 0.20891737, 1.58918512], [-0.31602611, 0.14501561, 1.10309954],
      [-0.80620296, 0.36994417, 2.81407799]]),
    (28.653567707668795,
     [[0., 0., 0.], [0., 0., 0.], [-6.42994865, -2.16396482, -1.89240934], [0., 0., 0.],
      [0., 0., 0.]],
     [[-0.80413277, 0.36899421, 2.80685192], [-0.9277269, 0.42570813, 3.23826131],
      [-0.7511534, 0.34468345, 2.62192569], [-0.94807832, 0.43504684, 3.30929863],
      [-1.12868414, 0.51792184, 3.93970919]]),
    (60.648705494891914,
     [[-17.89425315, -7.36940626, -1.23364121], [0., 0., 0.], [0., 0., 0.], [0., 0., 0.],
      [0., 0., 0.]],
     [[-6.4780819, -0.14616449, 1.69074639], [-0.86337952, -0.01948037, 0.22533766],
      [-9.59525734, -0.21649709, 2.5043133], [-6.02261515, -0.13588783, 1.57187189],
      [-9.69010072, -0.21863704, 2.52906694]]),
]


def assert_skipgram_cases(loss_function, expected, dataset, vectors, tokens):
    for (center, size, outside), (loss, grad_center, grad_outside) in zip(
            skipgram_cases(loss_function), expected, strict=True):
        output = skipgram(center, size, outside, tokens, vectors[:5, :], vectors[5:, :],
                          dataset, loss_function)
        assert np.allclose(output[0], loss)
        assert np.allclose(output[1], grad_center)
        assert np.allclose(output[2], grad_outside)


def test_skipgram_with_naive_softmax_matches_the_assignment():
    dataset, vectors, tokens = dummy_objects()
    assert_skipgram_cases(naiveSoftmaxLossAndGradient, SOFTMAX_EXPECTED, dataset, vectors,
                          tokens)


def test_skipgram_with_negative_sampling_matches_the_assignment():
    dataset, vectors, tokens = dummy_objects()
    # test_skipgram's two gradient checks each leave Python's random state where one
    # evaluation of the wrapper leaves it.
    for loss_function in (naiveSoftmaxLossAndGradient, negSamplingLossAndGradient):
        word2vec_sgd_wrapper(skipgram, tokens, vectors, dataset, 5, loss_function)
    assert_skipgram_cases(negSamplingLossAndGradient, NEGSAMP_EXPECTED, dataset, vectors,
                          tokens)


@pytest.mark.parametrize("loss_function, expected", [
    (naiveSoftmaxLossAndGradient, SOFTMAX_EXPECTED),
    (negSamplingLossAndGradient, NEGSAMP_EXPECTED),
], ids=["naive_softmax", "negative_sampling"])
def test_skipgram_gradient_check_through_the_sgd_wrapper(loss_function, expected):
    """test_skipgram's gradient checks, each followed by the expected numbers."""
    dataset, vectors, tokens = dummy_objects()
    if loss_function is negSamplingLossAndGradient:
        # The naive-softmax check comes first, and leaves the random state where one
        # evaluation of its wrapper leaves it.
        word2vec_sgd_wrapper(skipgram, tokens, vectors, dataset, 5,
                             naiveSoftmaxLossAndGradient)
    assert gradcheck_naive(lambda vec: word2vec_sgd_wrapper(
        skipgram, tokens, vec, dataset, 5, loss_function), vectors,
        f"{loss_function.__name__} Gradient")
    assert_skipgram_cases(loss_function, expected, dataset, vectors, tokens)


def test_skipgram_with_a_loss_function_of_ones_own():
    # Any function with the losses' signature is called once per outside word.
    dataset, vectors, tokens = dummy_objects()
    calls = []

    def counting_loss(center_vec, outside_idx, outside_vectors, data):
        calls.append(outside_idx)
        return naiveSoftmaxLossAndGradient(center_vec, outside_idx, outside_vectors, data)

    center, size, outside = skipgram_cases(naiveSoftmaxLossAndGradient)[0]
    output = skipgram(center, size, outside, tokens, vectors[:5, :], vectors[5:, :],
                      dataset, counting_loss)
    assert calls == [tokens[word] for word in outside]
    loss, grad_center, grad_outside = SOFTMAX_EXPECTED[0]
    assert np.allclose(output[0], loss) and np.allclose(output[1], grad_center)
    assert np.allclose(output[2], grad_outside)


def test_negative_samples_avoid_the_outside_word():
    random.seed(0)
    samples = getNegativeSamples(2, DummyDataset(), 50)
    assert len(samples) == 50 and 2 not in samples and set(samples) == {0, 1, 3, 4}


def test_a_failing_gradient_check_says_where(capsys):
    x = np.array([1.0, -2.0])
    assert not gradcheck_naive(lambda v: (np.sum(v ** 3), 2 * v ** 2), x, "cube")
    out = capsys.readouterr().out
    assert "Gradient check failed for cube." in out and "index (0,)" in out
    np.testing.assert_array_equal(x, [1.0, -2.0])


@pytest.mark.parametrize("x0", [0.5, 0.0, -1.5])
def test_sgd_sanity_checks(x0, capsys):
    quad = lambda x: (np.sum(x ** 2), x * 2)  # noqa: E731 - the assignment's quadratic
    result = sgd(quad, x0, 0.01, 1000, PRINT_EVERY=100)
    assert abs(result) <= 1e-6
    assert capsys.readouterr().out.count("iter ") == 10


def test_sgd_leaves_x0_alone_and_applies_postprocessing():
    x0 = np.array([[3.0, 4.0], [1.0, 1.0]])
    result = sgd(lambda x: (np.sum(x), np.ones_like(x)), x0, 0.5, 3,
                 postprocessing=normalizeRows, PRINT_EVERY=10)
    np.testing.assert_array_equal(x0, [[3.0, 4.0], [1.0, 1.0]])
    np.testing.assert_allclose(np.linalg.norm(result, axis=1), [1.0, 1.0], rtol=1e-15)


def test_sgd_saves_and_resumes_as_the_assignment_does(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    quad = lambda x: (np.sum(x ** 2), x * 2)  # noqa: E731
    random.seed(3)
    saved = sgd(quad, np.array([1.0, -2.0]), 0.01, 5000, useSaved=True, PRINT_EVERY=10000)
    state = random.getstate()
    assert sorted(p.name for p in tmp_path.iterdir()) == ["saved_params_5000.npy",
                                                           "saved_state_5000.pickle"]
    np.testing.assert_array_equal(np.load("saved_params_5000.npy"), saved)
    random.seed(4)
    resumed = sgd(quad, np.array([7.0, 7.0]), 0.01, 5010, useSaved=True,
                  PRINT_EVERY=10000)
    assert random.getstate() == state
    # Resuming at iteration 5000 scales the step by 0.5 ** (5000 / 20000), as the
    # assignment's sgd does, and runs iterations 5001..5010 from the saved parameters.
    np.testing.assert_array_equal(resumed, sgd(quad, saved, 0.01 * 0.5 ** 0.25, 10,
                                               PRINT_EVERY=10000))


def test_snake_case_twins_are_the_same_functions():
    assert naive_softmax_loss_and_gradient is naiveSoftmaxLossAndGradient
    assert neg_sampling_loss_and_gradient is negSamplingLossAndGradient
    assert get_negative_samples is getNegativeSamples
    assert normalize_rows is normalizeRows
    assert set(cs224n.__all__) <= set(vars(cs224n))


@pytest.mark.parametrize("call, error, message", [
    (lambda: sigmoid("1"), TypeError,
     "sigmoid: x must be a number or an array of real numbers; got str"),
    (lambda: softmax(np.ones((2, 2, 2))), ValueError,
     "softmax: x must be a vector (D,) or a matrix (N, D); got x.shape = (2, 2, 2)"),
    (lambda: normalizeRows(np.ones(3)), ValueError,
     "normalizeRows: x must be a matrix (N, D); got x.shape = (3,)"),
    (lambda: gradcheck_naive(lambda v: (0.0, v), [1.0], "list"), TypeError,
     "gradcheck_naive: x must be a floating-point ndarray"),
    (lambda: naiveSoftmaxLossAndGradient(np.zeros(2), 5, np.eye(2), None), ValueError,
     "naive_softmax_loss_forward: outside_idx must hold values in [0, V=2)"),
])
def test_bad_input_names_the_function(call, error, message):
    with pytest.raises(error, match=__import__("re").escape(message)):
        call()
