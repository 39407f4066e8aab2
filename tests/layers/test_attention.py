"""Scaled dot-product and multi-head attention: masks, gradients and bad input."""

import math

import numpy as np
import pytest

from checks import assert_gradients
from layers import (causal_may_attend, multihead_attention_backward,
                    multihead_attention_forward, scaled_dot_product_attention_backward,
                    scaled_dot_product_attention_forward)


def qkv(rng, n=2, tq=3, tk=4, dk=2, dv=3, dtype=np.float64):
    return [rng.standard_normal(shape).astype(dtype)
            for shape in ((n, tq, dk), (n, tk, dk), (n, tk, dv))]


def mha_params(rng, embed, dtype=np.float64):
    params = []
    for _ in range(4):
        params += [rng.standard_normal((embed, embed)) / math.sqrt(embed),
                   0.2 * rng.standard_normal(embed)]
    return [p.astype(dtype) for p in params]


def test_attention_by_hand():
    # One query against two keys with scores 0 and sqrt(2) * ln 3 / sqrt(2) = ln 3:
    # weights 1/4 and 3/4 on the values 1 and 5.
    q = np.array([[[1.0, 1.0]]])
    k = np.array([[[0.0, 0.0], [math.log(3), math.log(3)]]]) / math.sqrt(2)
    v = np.array([[[1.0], [5.0]]])
    out, _ = scaled_dot_product_attention_forward(q, k, v)
    assert out[0, 0, 0] == pytest.approx(0.25 * 1 + 0.75 * 5, rel=1e-14)


def test_causal_may_attend():
    np.testing.assert_array_equal(causal_may_attend(2, 3), [[True, False, False],
                                                            [True, True, False]])
    assert causal_may_attend(4).dtype == bool


@pytest.mark.parametrize("mask", ["none", "causal", "random", "per_example"])
@pytest.mark.parametrize("n, tq, tk", [(1, 1, 1), (2, 3, 3), (1, 4, 2)])
def test_attention_gradients(n, tq, tk, mask):
    rng = np.random.default_rng(tq * 10 + tk)
    may_attend = {"none": None, "causal": causal_may_attend(tq, tk),
                  "random": rng.random((tq, tk)) < 0.5,
                  "per_example": rng.random((n, tq, tk)) < 0.5}[mask]
    if may_attend is not None:
        may_attend[..., 0] = True
    assert_gradients(scaled_dot_product_attention_forward,
                     scaled_dot_product_attention_backward, *qkv(rng, n, tq, tk),
                     may_attend=may_attend)


def test_masked_keys_get_exactly_zero_weight_and_zero_gradient():
    rng = np.random.default_rng(0)
    q, k, v = qkv(rng, n=1, tq=3, tk=3)
    may_attend = causal_may_attend(3)
    out, cache = scaled_dot_product_attention_forward(q, k, v, may_attend=may_attend)
    weights = cache[3]
    assert np.all(weights[0][~may_attend] == 0)
    assert np.all(weights[0][may_attend] > 0)
    # The future keys and values can be anything: a weight of exactly 0 ignores them.
    k2, v2 = k.copy(), v.copy()
    k2[0, 2] *= 1e6
    v2[0, 1:] = 1e300
    out2, _ = scaled_dot_product_attention_forward(q[:, :1], k2, v2, may_attend=may_attend[:1])
    np.testing.assert_array_equal(out2[0, 0], out[0, 0])
    assert np.all(out2[0, 0] == v[0, 0])   # the first query sees only the first key
    dq, dk, dv = scaled_dot_product_attention_backward(rng.standard_normal(out.shape), cache)
    # Key 2 is visible to query 2 only, whose gradient reaches it; dv of the last key
    # comes from that query alone, and the first query's output does not depend on q.
    assert np.all(dq[0, 0] == 0)
    assert np.all(dk[0, 2] != 0) and np.all(dv[0, 2] != 0)


@pytest.mark.parametrize("per_example", [False, True])
def test_a_key_hidden_from_every_query_gets_exactly_zero_gradients(per_example):
    rng = np.random.default_rng(3)
    q, k, v = qkv(rng, n=2, tq=3, tk=4)
    may_attend = rng.random((2, 3, 4) if per_example else (3, 4)) < 0.6
    may_attend[..., 0] = True
    may_attend[..., 2] = False   # key 2 is hidden from every query
    out, cache = scaled_dot_product_attention_forward(q, k, v, may_attend=may_attend)
    weights = cache[3]
    assert np.all(weights[np.broadcast_to(~may_attend, weights.shape)] == 0)
    dq, dk, dv = scaled_dot_product_attention_backward(rng.standard_normal(out.shape), cache)
    np.testing.assert_array_equal(dk[:, 2], 0)
    np.testing.assert_array_equal(dv[:, 2], 0)
    # The visible keys do get gradients (the test would pass on all-zero gradients else).
    assert np.all(dk[:, 0] != 0) and np.all(dv[:, 0] != 0)


def test_huge_scores_stay_finite():
    rng = np.random.default_rng(1)
    q, k, v = qkv(rng)
    with np.errstate(all="raise"):
        out, cache = scaled_dot_product_attention_forward(1e4 * q, k, v,
                                                          may_attend=causal_may_attend(3, 4))
        grads = scaled_dot_product_attention_backward(np.ones_like(out), cache)
    assert np.all(np.isfinite(out)) and all(np.all(np.isfinite(g)) for g in grads)


@pytest.mark.parametrize("heads, head_dim", [(1, 3), (2, 2)])
@pytest.mark.parametrize("n, tq, tk", [(1, 1, 1), (2, 3, 2)])
def test_multihead_attention_gradients(n, tq, tk, heads, head_dim):
    rng = np.random.default_rng(n + tq + heads)
    embed = heads * head_dim
    inputs = [rng.standard_normal((n, t, embed)) for t in (tq, tk, tk)]
    may_attend = causal_may_attend(tq, tk) if tq > 1 else None
    assert_gradients(multihead_attention_forward, multihead_attention_backward, *inputs,
                     *mha_params(rng, embed), num_heads=heads, may_attend=may_attend)


def test_multihead_with_one_head_is_projected_attention():
    rng = np.random.default_rng(2)
    x = rng.standard_normal((2, 3, 4))
    Wq, bq, Wk, bk, Wv, bv, Wo, bo = params = mha_params(rng, 4)
    out, _ = multihead_attention_forward(x, x, x, *params, num_heads=1)
    attended, _ = scaled_dot_product_attention_forward(x @ Wq + bq, x @ Wk + bk, x @ Wv + bv)
    np.testing.assert_allclose(out, attended @ Wo + bo, rtol=1e-13)


def test_key_bias_has_no_effect():
    rng = np.random.default_rng(3)
    x = rng.standard_normal((1, 3, 4))
    params = mha_params(rng, 4)
    out, cache = multihead_attention_forward(x, x, x, *params, num_heads=2)
    params[3] = params[3] + 10.0
    shifted, _ = multihead_attention_forward(x, x, x, *params, num_heads=2)
    np.testing.assert_allclose(shifted, out, rtol=1e-12)
    dbk = multihead_attention_backward(rng.standard_normal(out.shape), cache)[6]
    assert np.max(np.abs(dbk)) < 1e-14


def test_attention_float32_stays_float32():
    rng = np.random.default_rng(4)
    q, k, v = qkv(rng, dtype=np.float32)
    out, cache = scaled_dot_product_attention_forward(q, k, v,
                                                      may_attend=causal_may_attend(3, 4))
    grads = scaled_dot_product_attention_backward(np.ones_like(out), cache)
    assert out.dtype == np.float32 and all(g.dtype == np.float32 for g in grads)
    x = rng.standard_normal((2, 3, 4)).astype(np.float32)
    out, cache = multihead_attention_forward(x, x, x, *mha_params(rng, 4, np.float32),
                                             num_heads=2)
    grads = multihead_attention_backward(np.ones_like(out), cache)
    assert out.dtype == np.float32 and all(g.dtype == np.float32 for g in grads)


# -- bad input ------------------------------------------------------------------------------

def test_mask_of_the_wrong_shape_or_type():
    q, k, v = qkv(np.random.default_rng(0))   # Tq = 3, Tk = 4
    with pytest.raises(ValueError, match=r"scaled_dot_product_attention_forward: may_attend "
                                         r"must have shape \(Tq, Tk\) with Tq=3 from q, "
                                         r"Tk=4 from k; got may_attend.shape = \(4, 3\)"):
        scaled_dot_product_attention_forward(q, k, v, may_attend=np.ones((4, 3), bool))
    with pytest.raises(ValueError, match=r"may_attend must have shape \(N, Tq, Tk\) with "
                                         r"N=2 from q"):
        scaled_dot_product_attention_forward(q, k, v, may_attend=np.ones((3, 3, 4), bool))
    with pytest.raises(ValueError, match=r"may_attend must have shape \(Tq, Tk\) or "
                                         r"\(N, Tq, Tk\); got may_attend.shape = \(4,\)"):
        scaled_dot_product_attention_forward(q, k, v, may_attend=np.ones(4, bool))
    with pytest.raises(TypeError, match="may_attend must be a boolean array; got float64"):
        scaled_dot_product_attention_forward(q, k, v, may_attend=np.ones((3, 4)))


def test_a_query_that_may_attend_to_nothing_is_an_error():
    q, k, v = qkv(np.random.default_rng(0))
    may_attend = causal_may_attend(3, 4)
    may_attend[1] = False
    with pytest.raises(ValueError, match=r"may_attend has 1 query row with no True entry "
                                         r"\(the first at index \(1,\)\)"):
        scaled_dot_product_attention_forward(q, k, v, may_attend=may_attend)
    may_attend[2] = False
    with pytest.raises(ValueError, match=r"may_attend has 2 query rows with no True entry "
                                         r"\(the first at index \(1,\)\)"):
        scaled_dot_product_attention_forward(q, k, v, may_attend=may_attend)


def test_attention_rejects_mismatched_sizes():
    q, k, v = qkv(np.random.default_rng(0))
    with pytest.raises(ValueError, match=r"scaled_dot_product_attention_forward: v must have "
                                         r"shape \(N, Tk, Dv\) with N=2 from q, Tk=4 from k"):
        scaled_dot_product_attention_forward(q, k, v[:, :3])
    x = np.zeros((1, 2, 4))
    params = mha_params(np.random.default_rng(0), 4)
    with pytest.raises(ValueError, match="multihead_attention_forward: num_heads must divide "
                                         "the embedding size E = 4; got num_heads = 3"):
        multihead_attention_forward(x, x, x, *params, num_heads=3)
    params[6] = np.zeros((4, 3))
    with pytest.raises(ValueError, match=r"multihead_attention_forward: Wo must have shape "
                                         r"\(E, E\) with E=4 from query"):
        multihead_attention_forward(x, x, x, *params, num_heads=2)
