"""Scratch arrays kept between calls (`layers.scratch`): the layers that use them return
the same results as with fresh temporaries, and a later call never overwrites what an
earlier one returned."""

import threading

import numpy as np
import pytest

import layers
from layers import scratch


def batchnorm_pair(rng, dtype):
    x = rng.standard_normal((40, 30)).astype(dtype)
    gamma, beta = rng.uniform(0.5, 1.5, 30).astype(dtype), rng.standard_normal(30).astype(dtype)
    out, cache = layers.batchnorm_forward(x, gamma, beta, {"mode": "train"})
    return out, layers.batchnorm_backward(rng.standard_normal(out.shape).astype(dtype), cache)


def layernorm_pair(rng, dtype):
    x = rng.standard_normal((8, 5, 30)).astype(dtype)
    gamma, beta = rng.uniform(0.5, 1.5, 30).astype(dtype), rng.standard_normal(30).astype(dtype)
    out, cache = layers.layernorm_forward(x, gamma, beta, {})
    return out, layers.layernorm_backward(rng.standard_normal(out.shape).astype(dtype), cache)


def groupnorm_pair(rng, dtype):
    x = rng.standard_normal((4, 6, 5, 5)).astype(dtype)
    gamma, beta = rng.uniform(0.5, 1.5, 6).astype(dtype), rng.standard_normal(6).astype(dtype)
    out, cache = layers.spatial_groupnorm_forward(x, gamma, beta, 3, {})
    return out, layers.spatial_groupnorm_backward(
        rng.standard_normal(out.shape).astype(dtype), cache)


def conv_pair(rng, dtype):
    x = rng.standard_normal((3, 2, 7, 6)).astype(dtype)
    w, b = rng.standard_normal((4, 2, 3, 3)).astype(dtype), rng.standard_normal(4).astype(dtype)
    out, cache = layers.conv_forward(x, w, b, {"stride": 1, "pad": 1})
    return out, layers.conv_backward(rng.standard_normal(out.shape).astype(dtype), cache)


PAIRS = [batchnorm_pair, layernorm_pair, groupnorm_pair, conv_pair]


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("pair", PAIRS)
def test_kept_buffers_give_the_results_of_fresh_ones(pair, dtype):
    scratch.clear_scratch()
    fresh_out, fresh_grads = pair(np.random.default_rng(5), dtype)
    assert scratch.scratch_buffers(), "the pair kept no scratch buffer"
    out, grads = pair(np.random.default_rng(5), dtype)      # through the kept buffers
    np.testing.assert_array_equal(out, fresh_out)
    for got, expected in zip(grads, fresh_grads, strict=True):
        np.testing.assert_array_equal(got, expected)


@pytest.mark.parametrize("pair", PAIRS)
def test_a_later_call_leaves_earlier_results_alone(pair):
    out, grads = pair(np.random.default_rng(1), np.float64)
    saved = [out.copy(), *(g.copy() for g in grads)]
    pair(np.random.default_rng(2), np.float64)                # same buffers, new values
    for got, expected in zip([out, *grads], saved, strict=True):
        np.testing.assert_array_equal(got, expected)


def test_a_buffer_is_reused_by_name_and_grows_when_needed():
    scratch.clear_scratch()
    small = scratch.scratch("probe", (3, 4), np.float32)
    again = scratch.scratch("probe", (2, 5), np.float32)
    assert np.shares_memory(small, again) and again.shape == (2, 5)
    other_dtype = scratch.scratch("probe", (3, 4), np.float64)
    assert not np.shares_memory(small, other_dtype)
    larger = scratch.scratch("probe", (5, 5), np.float32)
    assert larger.shape == (5, 5) and larger.flags.c_contiguous
    assert scratch.scratch_buffers()[("probe", np.dtype(np.float32))].size == 25
    assert scratch.clear_scratch() == 25 * 4 + 12 * 8


def test_a_buffer_over_the_limit_is_not_kept(monkeypatch):
    scratch.clear_scratch()
    monkeypatch.setattr(scratch, "SCRATCH_LIMIT", 100)
    first = scratch.scratch("big", (20,), np.float64)        # 160 bytes
    second = scratch.scratch("big", (20,), np.float64)
    assert not np.shares_memory(first, second)
    assert scratch.scratch_buffers() == {}


def test_each_thread_has_its_own_buffers():
    scratch.clear_scratch()
    mine = scratch.scratch("probe", (4,), np.float64)
    theirs = []
    thread = threading.Thread(target=lambda: theirs.append(
        scratch.scratch("probe", (4,), np.float64)))
    thread.start()
    thread.join()
    assert not np.shares_memory(mine, theirs[0])
    scratch.clear_scratch()
