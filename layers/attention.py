"""Scaled dot-product attention and multi-head attention (Vaswani et al. 2017).

Attention of Tq queries over Tk keys: S = q @ k^T / sqrt(Dk), A = softmax(S) over the
keys, out = A @ v. Backward, with dA = dout @ v^T:
dv = A^T @ dout, dS = A * (dA - sum_j dA * A) (softmax's Jacobian-vector product, row by
row), dq = dS @ k / sqrt(Dk), dk = dS^T @ q / sqrt(Dk).

The mask is named ``may_attend`` because libraries disagree on what True means (PyTorch's
``F.scaled_dot_product_attention`` attends where True; ``nn.MultiheadAttention``'s
``attn_mask`` blocks where True). Here True means "query i MAY attend to key j". Scores at
False entries become -inf before the softmax, so those keys get a weight of exactly 0
(exp(-inf) = 0), and no gradient flows to them. A query row whose entries are all False
would have no keys to average over; it raises ValueError rather than returning NaN.

Multi-head attention projects query, key and value (q = query @ Wq + bq, ...), splits
the E features into `num_heads` heads of E / num_heads, attends within each head, joins
the heads and projects with Wo, bo. Projections use the temporal affine pair. Weights are
in the x @ W convention; ``torch.nn.MultiheadAttention`` stores them transposed:
in_proj_weight = concat(Wq.T, Wk.T, Wv.T), in_proj_bias = concat(bq, bk, bv),
out_proj.weight = Wo.T, out_proj.bias = bo, and its boolean attn_mask = ~may_attend.
"""

import numpy as np

from ._examples import dims, normal
from ._numerics import softmax
from .contract import Args, backward_of, differentiable
from .registry import Example, register
from .temporal import temporal_affine_backward, temporal_affine_forward

__all__ = [
    "causal_may_attend",
    "scaled_dot_product_attention_forward", "scaled_dot_product_attention_backward",
    "multihead_attention_forward", "multihead_attention_backward",
]


def causal_may_attend(steps_q, steps_k=None):
    """The causal (autoregressive) mask: query i may attend to keys j <= i.

    Parameters
    ----------
    steps_q : int, Tq
    steps_k : int, Tk; Tq by default

    Returns
    -------
    may_attend : boolean ndarray of shape (Tq, Tk), True where j <= i

    Examples
    --------
    >>> causal_may_attend(3)
    array([[ True, False, False],
           [ True,  True, False],
           [ True,  True,  True]])
    """
    check = Args("causal_may_attend")
    steps_q = check.integer("steps_q", steps_q, low=1)
    steps_k = steps_q if steps_k is None else check.integer("steps_k", steps_k, low=1)
    return np.tri(steps_q, steps_k, dtype=bool)


@differentiable("q", "k", "v")
def scaled_dot_product_attention_forward(q, k, v, may_attend=None):
    """softmax(q @ k^T / sqrt(Dk)) @ v, over the keys each query may attend to.

    Parameters
    ----------
    q : ndarray of shape (N, Tq, Dk), float32 or float64, queries
    k : ndarray of shape (N, Tk, Dk), keys
    v : ndarray of shape (N, Tk, Dv), values
    may_attend : boolean ndarray of shape (Tq, Tk) or (N, Tq, Tk), optional
        True where query i may attend to key j (see `causal_may_attend`); every key when
        None. Every query row needs at least one True, or ValueError is raised.

    Returns
    -------
    out : ndarray of shape (N, Tq, Dv)
    cache : for `scaled_dot_product_attention_backward`

    Examples
    --------
    >>> q = np.zeros((1, 1, 2)); k = np.ones((1, 2, 2)); v = np.array([[[1.0], [3.0]]])
    >>> scaled_dot_product_attention_forward(q, k, v)[0]   # equal weights
    array([[[2.]]])
    """
    check = Args()
    q = check.floats("q", q, "N Tq Dk")
    k = check.floats("k", k, "N Tk Dk")
    v = check.floats("v", v, "N Tk Dv")
    may_attend = _mask(check, may_attend)
    out, weights = _attend(q, k, v, may_attend)
    return out, (q, k, v, weights)


@backward_of(scaled_dot_product_attention_forward)
def scaled_dot_product_attention_backward(dout, cache):
    """Backward pass of `scaled_dot_product_attention_forward`.

    Parameters
    ----------
    dout : ndarray of shape (N, Tq, Dv), upstream gradient
    cache : from `scaled_dot_product_attention_forward`

    Returns
    -------
    dq : ndarray of shape (N, Tq, Dk)
    dk : ndarray of shape (N, Tk, Dk)
    dv : ndarray of shape (N, Tk, Dv)
    """
    q, k, v, weights = cache
    return _attend_backward(dout, q, k, v, weights)


@differentiable("query", "key", "value", "Wq", "bq", "Wk", "bk", "Wv", "bv", "Wo", "bo")
def multihead_attention_forward(query, key, value, Wq, bq, Wk, bk, Wv, bv, Wo, bo, *,
                                num_heads, may_attend=None):
    """Multi-head attention with input and output projections.

    Parameters
    ----------
    query : ndarray of shape (N, Tq, E), float32 or float64
    key : ndarray of shape (N, Tk, E)
    value : ndarray of shape (N, Tk, E)
    Wq, Wk, Wv : ndarrays of shape (E, E), input projections (x @ W convention)
    bq, bk, bv : ndarrays of shape (E,)
        bk has no effect on the output: it adds q . bk to every score of a query's row,
        and the softmax ignores a constant added to a row. Its gradient is 0 up to
        rounding; it is kept so that torch's in_proj_bias maps one to one.
    Wo : ndarray of shape (E, E), output projection
    bo : ndarray of shape (E,)
    num_heads : int, keyword-only
        Number of heads; must divide E. Each head attends with Dk = E / num_heads.
    may_attend : boolean ndarray of shape (Tq, Tk) or (N, Tq, Tk), optional
        As in `scaled_dot_product_attention_forward`, shared by all heads.

    Returns
    -------
    out : ndarray of shape (N, Tq, E)
    cache : for `multihead_attention_backward`
    """
    check = Args()
    query = check.floats("query", query, "N Tq E")
    key = check.floats("key", key, "N Tk E")
    value = check.floats("value", value, "N Tk E")
    for name, weight, bias in (("Wq", Wq, bq), ("Wk", Wk, bk), ("Wv", Wv, bv), ("Wo", Wo, bo)):
        check.floats(name, weight, "E E")
        check.floats(f"b{name[1]}", bias, "E")
    heads = check.integer("num_heads", num_heads, low=1)
    if check.dim("E") % heads:
        raise check.error(f"num_heads must divide the embedding size E = {check.dim('E')}; "
                          f"got num_heads = {heads}")
    may_attend = _mask(check, may_attend)
    if may_attend is not None and may_attend.ndim == 3:
        may_attend = may_attend[:, None]  # the same mask for every head

    projected = [temporal_affine_forward(x, w, b)
                 for x, w, b in ((query, Wq, bq), (key, Wk, bk), (value, Wv, bv))]
    q, k, v = (_split_heads(p[0], heads) for p in projected)
    attended, weights = _attend(q, k, v, may_attend)
    out, out_cache = temporal_affine_forward(_join_heads(attended), Wo, bo)
    return out, ([p[1] for p in projected], q, k, v, weights, out_cache)


@backward_of(multihead_attention_forward)
def multihead_attention_backward(dout, cache):
    """Backward pass of `multihead_attention_forward`.

    Parameters
    ----------
    dout : ndarray of shape (N, Tq, E), upstream gradient
    cache : from `multihead_attention_forward`

    Returns
    -------
    dquery : ndarray of shape (N, Tq, E)
    dkey, dvalue : ndarrays of shape (N, Tk, E)
    dWq, dbq, dWk, dbk, dWv, dbv, dWo, dbo : of the shapes of the weights and biases
    """
    projection_caches, q, k, v, weights, out_cache = cache
    # The output projection's cache is its input (N, Tq, E) and Wo (E, E).
    joined, Wo = out_cache
    heads = q.shape[1]
    djoined, dWo, dbo = temporal_affine_backward(dout, out_cache)
    dq, dk, dv = _attend_backward(_split_heads(djoined, heads), q, k, v, weights)
    grads = []
    for dprojected, projection_cache in zip((dq, dk, dv), projection_caches):
        grads.append(temporal_affine_backward(_join_heads(dprojected), projection_cache))
    (dquery, dWq, dbq), (dkey, dWk, dbk), (dvalue, dWv, dbv) = grads
    return dquery, dkey, dvalue, dWq, dbq, dWk, dbk, dWv, dbv, dWo, dbo


def _mask(check, may_attend):
    """may_attend as a boolean (Tq, Tk) or (N, Tq, Tk) array (or None), checked."""
    if may_attend is None:
        return None
    may_attend = check.bools("may_attend", may_attend)
    if may_attend.ndim not in (2, 3):
        raise check.error(f"may_attend must have shape (Tq, Tk) or (N, Tq, Tk); got "
                          f"may_attend.shape = {may_attend.shape}")
    check.shape("may_attend", may_attend, "Tq Tk" if may_attend.ndim == 2 else "N Tq Tk")
    if not may_attend.any(axis=-1).all():
        rows = np.argwhere(~may_attend.any(axis=-1))
        counted = "1 query row" if len(rows) == 1 else f"{len(rows)} query rows"
        raise check.error(f"may_attend has {counted} with no True entry (the "
                          f"first at index {tuple(int(i) for i in rows[0])}): such a query "
                          "attends to nothing and its output is undefined")
    return may_attend


def _attend(q, k, v, may_attend):
    """Attention over the last two axes of q (..., Tq, Dk), k, v; returns (out, weights)."""
    scores = q @ np.swapaxes(k, -1, -2) * q.shape[-1] ** -0.5
    if may_attend is not None:
        scores = np.where(may_attend, scores, -np.inf)
    weights = softmax(scores, axis=-1)
    return weights @ v, weights


def _attend_backward(dout, q, k, v, weights):
    """(dq, dk, dv) of `_attend` from dout (..., Tq, Dv)."""
    dweights = dout @ np.swapaxes(v, -1, -2)
    dscores = weights * (dweights - np.sum(dweights * weights, axis=-1, keepdims=True))
    dscores *= q.shape[-1] ** -0.5
    dq = dscores @ k
    dk = np.swapaxes(dscores, -1, -2) @ q
    dv = np.swapaxes(weights, -1, -2) @ dout
    return dq, dk, dv


def _split_heads(x, heads):
    """(N, T, E) -> (N, heads, T, E / heads)."""
    n, steps, embed = x.shape
    return x.reshape(n, steps, heads, embed // heads).transpose(0, 2, 1, 3)


def _join_heads(x):
    """(N, heads, T, Dh) -> (N, T, heads * Dh), the inverse of `_split_heads`."""
    n, heads, steps, head_dim = x.shape
    return x.transpose(0, 2, 1, 3).reshape(n, steps, heads * head_dim)


# -- registration -------------------------------------------------------------------------

def _example_mask(rng, n, steps_q, steps_k):
    """None, a causal mask or a random one with a True in every row."""
    kind = rng.integers(3)
    if kind == 0:
        return None
    if kind == 1:
        return causal_may_attend(steps_q, steps_k)
    mask = rng.random((n, steps_q, steps_k)) < 0.6
    mask[..., 0] = True
    return mask


@register(scaled_dot_product_attention_forward, scaled_dot_product_attention_backward)
def scaled_dot_product_attention_example(rng, dtype):
    n, tq, tk, dk, dv = dims(rng, (1, 2), (1, 3), (1, 3), (1, 3), (1, 3))
    q, k, v = (normal(rng, shape, dtype) for shape in ((n, tq, dk), (n, tk, dk), (n, tk, dv)))
    return Example((q, k, v), {"may_attend": _example_mask(rng, n, tq, tk)})


@register(multihead_attention_forward, multihead_attention_backward)
def multihead_attention_example(rng, dtype):
    n, tq, tk, heads, head_dim = dims(rng, (1, 2), (1, 3), (1, 3), (1, 2), (1, 2))
    embed = heads * head_dim
    inputs = [normal(rng, (n, steps, embed), dtype) for steps in (tq, tk, tk)]
    params = []
    for _ in range(4):
        params += [normal(rng, (embed, embed), dtype, scale=embed ** -0.5),
                   normal(rng, (embed,), dtype, scale=0.2)]
    return Example((*inputs, *params),
                   {"num_heads": heads, "may_attend": _example_mask(rng, n, tq, tk)})
