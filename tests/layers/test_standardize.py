"""`layers.batchnorm.standardize`: its common path (three passes) and the robust shifted
path it falls back to give the same moments, and the fallback is taken exactly where the
test of the statistics asks for it."""

import numpy as np
import pytest

from layers import batchnorm
from layers.batchnorm import MEAN_TO_STD, standardize

EPS = 1e-5
# A few units of rounding of the dtype, relative to the largest reference value.
TOLERANCE = {np.float32: 2e-6, np.float64: 1e-14}


def count_fallbacks(monkeypatch):
    """A list that grows by one at every call of the robust path."""
    calls = []
    robust = batchnorm._standardize_shifted

    def counted(*args):
        calls.append(args)
        return robust(*args)
    monkeypatch.setattr(batchnorm, "_standardize_shifted", counted)
    return calls


def reference_xhat(x, axes):
    """(x - mean) / sqrt(var + eps) in longdouble, the textbook two passes."""
    wide = x.astype(np.longdouble)
    centred = wide - wide.mean(axis=axes, keepdims=True)
    var = (centred * centred).mean(axis=axes, keepdims=True)
    return (centred / np.sqrt(var + np.longdouble(EPS))).astype(np.float64)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("ratio", [0.0, 0.25, 1.7, 3.9])
@pytest.mark.parametrize("shape, axes", [((64, 5), (0,)), ((3, 200), (1,)),
                                         ((4, 3, 5, 5), (0, 2, 3))])
def test_the_common_path_is_right_below_the_threshold(monkeypatch, dtype, ratio, shape,
                                                      axes):
    fallbacks = count_fallbacks(monkeypatch)
    rng = np.random.default_rng(0)
    noise = rng.standard_normal(shape)
    noise -= noise.mean(axis=axes, keepdims=True)
    noise /= noise.std(axis=axes, keepdims=True)
    x = (ratio * 3.0 + 3.0 * noise).astype(dtype)  # |mean| = ratio * std
    moments = standardize(x, axes, EPS)
    assert not fallbacks
    assert moments.xhat.dtype == moments.std.dtype == dtype
    np.testing.assert_allclose(moments.xhat, reference_xhat(x, axes),
                               rtol=TOLERANCE[dtype], atol=TOLERANCE[dtype] * 3)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_the_shifted_path_takes_a_large_mean_and_gives_the_same_moments(monkeypatch,
                                                                         dtype):
    fallbacks = count_fallbacks(monkeypatch)
    rng = np.random.default_rng(1)
    x = (1e3 + rng.standard_normal((50, 4))).astype(dtype)
    assert np.all(np.abs(x.mean(axis=0)) > MEAN_TO_STD * x.std(axis=0))
    moments = standardize(x, (0,), EPS)
    assert len(fallbacks) == 1
    np.testing.assert_allclose(moments.xhat, reference_xhat(x, (0,)),
                               rtol=50 * TOLERANCE[dtype], atol=50 * TOLERANCE[dtype])
    np.testing.assert_allclose(moments.mean.ravel(),
                               x.astype(np.longdouble).mean(axis=0).astype(np.float64),
                               rtol=TOLERANCE[dtype])


def test_one_offset_feature_sends_the_whole_batch_to_the_shifted_path(monkeypatch):
    fallbacks = count_fallbacks(monkeypatch)
    x = np.random.default_rng(2).standard_normal((20, 3))
    x[:, 2] = 0.1  # a constant feature: its spread is rounding, its mean is not
    moments = standardize(x, (0,), EPS)
    assert len(fallbacks) == 1
    np.testing.assert_array_equal(moments.xhat[:, 2], 0.0)


def test_a_zero_feature_stays_on_the_common_path_and_normalizes_to_zero(monkeypatch):
    fallbacks = count_fallbacks(monkeypatch)
    x = np.random.default_rng(3).standard_normal((20, 3))
    x[:, 1] = 0.0
    moments = standardize(x, (0,), EPS)
    assert not fallbacks
    np.testing.assert_array_equal(moments.xhat[:, 1], 0.0)
    np.testing.assert_allclose(moments.std[0, 1], np.sqrt(EPS), rtol=1e-15)


def test_standardize_does_not_modify_its_input():
    x = np.random.default_rng(4).standard_normal((10, 4))
    kept = x.copy()
    standardize(x, (0,), EPS)
    np.testing.assert_array_equal(x, kept)
