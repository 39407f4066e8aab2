"""Numerics at the extremes: normalizations right up to the dtype's range, activations
without NaN or warnings for any finite input, and losses that refuse NaN and +inf."""

import inspect
import re
import warnings

import numpy as np
import pytest

import layers
from layers.registry import REGISTRY

DTYPES = (np.float32, np.float64)
EPS = 1e-5


def quiet(function, *args, **kwargs):
    """function(*args, **kwargs) with every warning raised as an error."""
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        return function(*args, **kwargs)


# -- normalizations -------------------------------------------------------------------------
# Each case: forward(x, gamma, beta, eps) -> (out, cache), the backward, the input shape,
# the shape of gamma and beta, and the axes each statistic runs over (with a group view).

def batchnorm(x, gamma, beta, eps):
    return layers.batchnorm_forward(x, gamma, beta, {"mode": "train", "eps": eps})


def spatial_batchnorm(x, gamma, beta, eps):
    return layers.spatial_batchnorm_forward(x, gamma, beta, {"mode": "train", "eps": eps})


def layernorm(x, gamma, beta, eps):
    return layers.layernorm_forward(x, gamma, beta, {"eps": eps})


def groupnorm(x, gamma, beta, eps):
    return layers.spatial_groupnorm_forward(x, gamma, beta, 2, {"eps": eps})


NORMS = {
    "batchnorm": (batchnorm, layers.batchnorm_backward, (6, 3), 3),
    "batchnorm_alt": (batchnorm, layers.batchnorm_backward_alt, (6, 3), 3),
    "spatial_batchnorm": (spatial_batchnorm, layers.spatial_batchnorm_backward,
                          (2, 3, 2, 3), 3),
    "layernorm": (layernorm, layers.layernorm_backward, (3, 2, 5), 5),
    "groupnorm": (groupnorm, layers.spatial_groupnorm_backward, (2, 4, 2, 3), 4),
}


def statistics_view(name, x):
    """x reshaped so that each statistic runs over axis 0 of the result, one per column."""
    if name.startswith("batchnorm"):
        return x
    if name == "spatial_batchnorm":
        return x.transpose(0, 2, 3, 1).reshape(-1, x.shape[1])
    if name == "layernorm":
        return x.reshape(-1, x.shape[-1]).T
    return x.reshape(x.shape[0] * 2, -1).T  # two groups per example


def from_statistics_view(name, view, shape):
    if name.startswith("batchnorm"):
        return view
    if name == "spatial_batchnorm":
        n, c, h, w = shape
        return view.reshape(n, h, w, c).transpose(0, 3, 1, 2)
    return view.T.reshape(shape)


def channel_view(name, values, shape):
    """gamma (per feature or channel) broadcast against x of `shape`."""
    if name in ("spatial_batchnorm", "groupnorm"):
        return values.reshape(1, -1, 1, 1)
    return values


def reference(name, x, gamma, beta, dout, eps, dtype):
    """out, dx and xhat by the textbook two-pass formulas, in `dtype` (float64 or
    longdouble)."""
    x, dout = x.astype(dtype), dout.astype(dtype)
    g = channel_view(name, gamma.astype(dtype), x.shape)
    b = channel_view(name, beta.astype(dtype), x.shape)
    view = statistics_view(name, x)
    xmu = view - view.mean(axis=0)
    std = np.sqrt((xmu * xmu).mean(axis=0) + dtype(eps))
    xhat = from_statistics_view(name, xmu / std, x.shape)
    dxhat = statistics_view(name, dout * g)
    xhat_view = statistics_view(name, xhat)
    dx_view = (dxhat - dxhat.mean(axis=0)
               - xhat_view * (dxhat * xhat_view).mean(axis=0)) / std
    return xhat * g + b, from_statistics_view(name, dx_view, x.shape), xhat


def norm_inputs(name, dtype, seed=0):
    forward, backward, shape, features = NORMS[name]
    rng = np.random.default_rng(seed)
    x = (0.5 + 2 * rng.standard_normal(shape)).astype(dtype)
    gamma = rng.uniform(0.5, 1.5, features).astype(dtype)
    beta = rng.standard_normal(features).astype(dtype)
    dout = rng.standard_normal(shape).astype(dtype)
    return forward, backward, x, gamma, beta, dout


def parameter_gradients(name, xhat, dout):
    """dgamma and dbeta: dout * xhat and dout summed over all but the channel axis."""
    channel = -1 if name == "layernorm" else 1
    xhat = np.moveaxis(xhat, channel, -1)
    upstream = np.moveaxis(dout.astype(xhat.dtype), channel, -1)
    features = upstream.shape[-1]
    return ((upstream * xhat).reshape(-1, features).sum(axis=0).astype(np.float64),
            upstream.reshape(-1, features).sum(axis=0).astype(np.float64))


# Tolerances of the library against a reference: a few units of rounding of the dtype.
TOLERANCE = {np.float32: 1e-6, np.float64: 1e-14}


def assert_close(actual, expected, dtype):
    """Elementwise within TOLERANCE of the largest reference value."""
    scale = float(np.max(np.abs(expected)))
    np.testing.assert_allclose(actual, expected, rtol=TOLERANCE[dtype],
                               atol=TOLERANCE[dtype] * scale)


@pytest.mark.parametrize("eps", [EPS, 1.0])
@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("name", sorted(NORMS))
def test_normalization_matches_a_higher_precision_reference(name, dtype, eps):
    forward, backward, x, gamma, beta, dout = norm_inputs(name, dtype)
    out, cache = quiet(forward, x, gamma, beta, eps)
    dx = quiet(backward, dout, cache)[0]
    out_ref, dx_ref, _ = reference(name, x, gamma, beta, dout, eps, np.longdouble)
    assert out.dtype == dx.dtype == dtype
    assert_close(out, out_ref.astype(np.float64), dtype)
    assert_close(dx, dx_ref.astype(np.float64), dtype)


# Powers of two, so that x * scale is exact: from deep in the range where eps dominates
# to a largest value of about a quarter of the dtype's maximum.
SCALES = {np.float32: [2.0 ** -60, 2.0 ** 20, 2.0 ** 66, 2.0 ** 100, 2.0 ** 122],
          np.float64: [2.0 ** -500, 2.0 ** 200, 2.0 ** 516, 2.0 ** 900, 2.0 ** 1018]}


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("name", sorted(NORMS))
def test_normalization_is_scale_invariant_up_to_the_dtype_range(name, dtype):
    # Normalizing s * x with eps is normalizing x with eps / s**2: the same output, and
    # dx / s. Before, float32 inputs at 1e20 (and float64 at 1e155) normalized to zero.
    forward, backward, x, gamma, beta, dout = norm_inputs(name, dtype)
    for scale in SCALES[dtype]:
        out, cache = quiet(forward, x * dtype(scale), gamma, beta, EPS)
        dx, dgamma, dbeta = quiet(backward, dout, cache)
        out_ref, dx_ref, xhat_ref = reference(name, x, gamma, beta, dout,
                                              EPS / scale / scale, np.longdouble)
        assert np.isfinite(out).all() and np.isfinite(dx).all(), scale
        assert_close(out, out_ref.astype(np.float64), dtype)
        assert_close(dx * dtype(scale), (dx_ref).astype(np.float64), dtype)
        dgamma_ref, dbeta_ref = parameter_gradients(name, xhat_ref, dout)
        assert_close(dgamma, dgamma_ref, dtype)
        assert_close(dbeta, dbeta_ref, dtype)


@pytest.mark.parametrize("dtype, scale", [(np.float32, 1e20), (np.float32, 1e37),
                                          (np.float64, 1e155), (np.float64, 1e300)])
@pytest.mark.parametrize("name", sorted(NORMS))
def test_normalization_at_the_scales_that_gave_zeros(name, dtype, scale):
    forward, backward, x, gamma, beta, dout = norm_inputs(name, dtype, seed=1)
    big = (x.astype(np.float64) * scale).astype(dtype)
    out, cache = quiet(forward, big, gamma, beta, EPS)
    dx = quiet(backward, dout, cache)[0]
    # The reference normalizes big / scale (rounded once, in float64 or longdouble) with
    # eps / scale**2, which is the same normalization.
    wide = np.longdouble
    out_ref, dx_ref, _ = reference(name, big.astype(wide) / wide(scale), gamma, beta,
                                   dout, EPS / scale / scale, wide)
    assert_close(out, out_ref.astype(np.float64), dtype)
    assert_close(dx.astype(wide) * wide(scale), dx_ref, dtype)


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("name", sorted(NORMS))
def test_a_constant_feature_at_the_top_of_the_range_gives_beta(name, dtype):
    forward, backward, x, gamma, beta, dout = norm_inputs(name, dtype)
    huge = np.full_like(x, np.finfo(dtype).max / 2)
    out, cache = quiet(forward, huge, gamma, beta, EPS)
    dx = quiet(backward, dout, cache)[0]
    np.testing.assert_array_equal(out, np.broadcast_to(
        channel_view(name, beta, x.shape), x.shape))
    # xhat = 0 with std = sqrt(eps): dx = gamma * (dout - mean(dout)) / sqrt(eps).
    _, dx_ref, _ = reference(name, np.zeros(x.shape), gamma, beta, dout, EPS, np.float64)
    assert_close(dx, dx_ref, dtype)


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("name", sorted(NORMS))
def test_a_constant_feature_of_any_value_gives_beta_exactly(name, dtype):
    # A mean that rounds by one unit of a float32 value of 1e5 leaves deviations of 0.008,
    # whose variance dwarfs eps = 1e-5: they normalized to noise of order 1 before.
    forward, backward, x, gamma, beta, dout = norm_inputs(name, dtype)
    for value in np.random.default_rng(0).uniform(1, 1e6, 40).astype(dtype):
        out = quiet(forward, np.full_like(x, value), gamma, beta, EPS)[0]
        np.testing.assert_array_equal(out, np.broadcast_to(
            channel_view(name, beta, x.shape), x.shape))


@pytest.mark.parametrize("forward, shape", [(layers.batchnorm_forward, (4, 2)),
                                            (layers.spatial_batchnorm_forward, (2, 2, 2, 1))])
def test_a_running_variance_beyond_its_dtype_is_inf_and_refused_in_test_mode(forward, shape):
    x = np.arange(8, dtype=np.float32).reshape(shape) * np.float32(1e20)
    gamma, beta = np.ones(2, np.float32), np.zeros(2, np.float32)
    bn_param = {"mode": "train"}
    out = quiet(forward, x, gamma, beta, bn_param)[0]
    assert np.isfinite(out).all()
    np.testing.assert_array_equal(bn_param["running_var"], [np.inf, np.inf])
    quiet(forward, x, gamma, beta, bn_param)  # training goes on
    with pytest.raises(ValueError, match=re.escape(
            f"{forward.__name__}: bn_param['running_var'] must be finite in test mode; got "
            "inf at index 0: a batch variance beyond the largest float32 overflowed it")):
        forward(x, gamma, beta, dict(bn_param, mode="test"))
    # float64 running statistics hold it.
    bn_param = {"mode": "train", "running_mean": np.zeros(2), "running_var": np.ones(2)}
    quiet(forward, x, gamma, beta, bn_param)
    assert np.isfinite(bn_param["running_var"]).all() and bn_param["running_var"][0] > 1e39


def test_batchnorm_test_mode_at_float32_scale_1e20_from_float64_running_statistics():
    x = np.array([[1e20, -3e20], [2e20, 5e20]], np.float32)
    bn_param = {"mode": "test", "running_mean": np.array([1e20, 1e20]),
                "running_var": np.array([4e40, 16e40])}
    out, cache = quiet(layers.batchnorm_forward, x, np.ones(2, np.float32),
                       np.zeros(2, np.float32), bn_param)
    np.testing.assert_allclose(out, [[0.0, -1.0], [0.5, 1.0]], rtol=1e-6, atol=1e-7)
    dx = quiet(layers.batchnorm_backward, np.ones((2, 2), np.float32), cache)[0]
    np.testing.assert_allclose(dx, [[5e-21, 2.5e-21]] * 2, rtol=1e-6)


@pytest.mark.parametrize("mode", ["train", "test"])
@pytest.mark.parametrize("key, value, message", [
    ("running_var", np.array([1.0, np.nan], np.float32), "must not hold NaN; got nan"),
    ("running_mean", np.array([0.0, np.nan]), "must not hold NaN or inf; got nan"),
    ("running_mean", np.array([np.inf, 0.0]), "must not hold NaN or inf; got inf"),
])
def test_batchnorm_refuses_running_statistics_that_cannot_be_statistics(key, value,
                                                                         message, mode):
    bn_param = {"mode": mode, key: value}
    with pytest.raises(ValueError, match=re.escape(
            f"batchnorm_forward: bn_param[{key!r}] {message}")):
        layers.batchnorm_forward(np.ones((2, 2), value.dtype), np.ones(2, value.dtype),
                                 np.zeros(2, value.dtype), bn_param)


# -- activations ------------------------------------------------------------------------------

ACTIVATIONS = sorted(n for n, spec in REGISTRY.items() if spec.module == "layers.activations")


def extreme_values(dtype):
    info = np.finfo(dtype)
    magnitudes = [0.0, float(info.smallest_subnormal), float(info.tiny), 1e-30, 0.5, 1.0,
                  5.0, 20.0, 50.0, 100.0, 1e4, 1e10, 1e19, 1e20, 1e30, 1e38, 1e100,
                  1e155, 1e300, float(info.max)]
    values = np.array([m for m in magnitudes if m <= float(info.max)], dtype=dtype)
    return np.concatenate([values, -values])


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("name", ACTIVATIONS)
def test_activations_give_no_nan_and_no_warning_for_any_finite_input(name, dtype):
    spec = REGISTRY[name]
    x = extreme_values(dtype)
    rows = x.reshape(2, -1)  # softmax normalizes each row: huge and tiny values in one row
    for value in (x, rows):
        out, cache = quiet(spec.forward, value)
        dout = np.random.default_rng(0).standard_normal(value.shape).astype(dtype)
        dx = quiet(spec.backward, dout, cache)
        assert out.dtype == dx.dtype == dtype
        assert np.isfinite(out).all(), value[~np.isfinite(out)]
        assert np.isfinite(dx).all(), value[~np.isfinite(dx)]


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("name, above, below", [
    # The limits far from 0: (out, dx / dout) for large positive and negative x.
    ("relu", ("x", 1), (0, 0)), ("gelu", ("x", 1), (0, 0)), ("gelu_tanh", ("x", 1), (0, 0)),
    ("silu", ("x", 1), (0, 0)), ("softplus", ("x", 1), (0, 0)), ("sigmoid", (1, 0), (0, 0)),
    ("tanh", (1, 0), (-1, 0)), ("elu", ("x", 1), (-1, 0)),
    ("leaky_relu", ("x", 1), ("0.01x", 0.01)),
])
def test_activations_reach_their_limits_exactly(name, above, below, dtype):
    spec = REGISTRY[name]
    x = extreme_values(dtype)
    x = x[np.abs(x) >= 1e4]
    out, cache = quiet(spec.forward, x)
    dx = quiet(spec.backward, np.ones_like(x), cache)
    for side, (value, slope) in ((x > 0, above), (x < 0, below)):
        expected = {"x": x, "0.01x": dtype(0.01) * x}.get(value, value)
        np.testing.assert_array_equal(out[side], np.broadcast_to(expected, x.shape)[side])
        np.testing.assert_array_equal(dx[side], np.full(side.sum(), slope, dtype))


# -- losses: +inf, NaN and -inf ------------------------------------------------------------------
# The rule: a loss refuses NaN and +inf in any floating argument (in the rows it uses, for
# word2vec's), naming the argument and the first such position. -inf is a score of
# probability 0 in the softmax losses (the way a mask removes a class): the loss is +inf
# only where it is the correct class, and the gradient stays finite; a row with no finite
# score is refused. The other losses
# refuse -inf too.

LOSSES = sorted(n for n in REGISTRY if n.endswith("loss") or n == "skipgram")
SOFTMAX_LOSSES = {"softmax_loss", "temporal_softmax_loss"}
# word2vec's losses look up rows of their vectors: a NaN in a row they do not use does not
# enter the loss, and is not looked for.
ROWS_LOOKED_UP = {"negative_sampling_loss", "skipgram", "naive_softmax_loss"}


@pytest.mark.parametrize("value", [np.nan, np.inf, -np.inf])
@pytest.mark.parametrize("name", LOSSES)
def test_losses_refuse_nan_and_infinite_scores(name, value):
    spec = REGISTRY[name]
    example = spec.example(np.random.default_rng(0))
    floats = [i for i, a in enumerate(example.args)
              if isinstance(a, np.ndarray) and a.dtype.kind == "f"]
    argument_names = list(inspect.signature(spec.forward).parameters)
    for i in floats:
        args = list(example.args)
        args[i] = args[i].copy()
        if name in ROWS_LOOKED_UP:
            args[i][...] = value
        else:
            args[i].flat[-1] = value
        if value == -np.inf and name in SOFTMAX_LOSSES:
            loss, cache = quiet(spec.forward, *args, **example.kwargs)
            assert np.isfinite(quiet(spec.backward, 1.0, cache)).all()
            continue
        with pytest.raises(ValueError) as raised:
            quiet(spec.forward, *args, **example.kwargs)
        message = str(raised.value)
        assert message.startswith(f"{spec.forward.__name__}: "), message
        assert re.search(rf"\b{argument_names[i]}\b", message), message


def test_softmax_loss_refuses_a_plus_inf_logit_naming_its_position():
    x = np.zeros((2, 3))
    x[1, 2] = np.inf
    with pytest.raises(ValueError, match=re.escape(
            "softmax_loss: x holds +inf at index (1, 2)")):
        layers.softmax_loss(x, np.array([0, 2]))
    x[1, 2] = np.nan
    with pytest.raises(ValueError, match=re.escape(
            "softmax_loss: x holds NaN at index (1, 2)")):
        layers.softmax_loss(x, np.array([0, 2]))


@pytest.mark.parametrize("dtype", DTYPES)
def test_softmax_loss_takes_minus_inf_as_a_class_of_probability_zero(dtype):
    x = np.array([[0.0, -np.inf, np.log(3.0)], [-np.inf, 1.0, 1.0]], dtype)
    loss, dx = quiet(layers.softmax_loss, x, np.array([2, 2]))
    # Row 0: softmax (1/4, 0, 3/4); row 1: (0, 1/2, 1/2).
    np.testing.assert_allclose(loss, (np.log(4 / 3) + np.log(2)) / 2, rtol=1e-6)
    np.testing.assert_allclose(dx, np.array([[0.25, 0, -0.25], [0, 0.5, -0.5]]) / 2,
                               rtol=1e-6, atol=1e-7)
    # The correct class at -inf: an infinite loss, and a finite gradient.
    loss, dx = quiet(layers.softmax_loss, x, np.array([1, 0]))
    assert loss == np.inf
    np.testing.assert_allclose(dx, np.array([[0.25, -1, 0.75], [-1, 0.5, 0.5]]) / 2,
                               rtol=1e-6, atol=1e-7)


def test_softmax_loss_refuses_a_row_without_a_finite_score():
    x = np.array([[0.0, 1.0], [-np.inf, -np.inf]])
    with pytest.raises(ValueError, match=re.escape(
            "softmax_loss: x has no finite score in row (1,)")):
        layers.softmax_loss(x, np.array([0, 1]))


def test_temporal_softmax_loss_refuses_nan_even_at_a_masked_step():
    # A masked step does not count toward the loss, but NaN * 0 would still be NaN in dx.
    x = np.zeros((1, 2, 3))
    x[0, 1, 0] = np.nan
    with pytest.raises(ValueError, match=re.escape(
            "temporal_softmax_loss: x holds NaN at index (0, 1, 0)")):
        layers.temporal_softmax_loss(x, np.zeros((1, 2), int), np.array([[True, False]]))


# Finite vectors whose dot products (4e40) are beyond float32.
CENTER = np.full(2, 1e20, np.float32)
OUTSIDE = np.full((3, 2), 2e20, np.float32)


@pytest.mark.parametrize("forward, args, vector", [
    (layers.naive_softmax_loss_forward, (CENTER, 0, OUTSIDE), "center_vec"),
    (layers.negative_sampling_loss_forward, (CENTER, 0, OUTSIDE, np.array([1])),
     "center_vec"),
    (layers.skipgram_forward, (0, np.array([1]), np.full((3, 2), 1e20, np.float32), OUTSIDE),
     "center_vectors"),
])
def test_word2vec_scores_that_overflow_are_refused(forward, args, vector):
    with pytest.raises(ValueError, match=re.escape(
            f"{forward.__name__}: the score outside_vectors[0] . {vector} of word 0 "
            "overflows float32")):
        quiet(forward, *args)
