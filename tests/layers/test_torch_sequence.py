"""Sequence layers against PyTorch in float64: forward and every gradient to 1e-9.

Weight mapping (gatelab uses x @ W with W of shape (in, out); torch stores W.T):

- word_embedding W (V, D)       = nn.Embedding.weight
- rnn Wx (D, H), Wh (H, H), b    : weight_ih_l0 = Wx.T, weight_hh_l0 = Wh.T,
                                   bias_ih_l0 = b, bias_hh_l0 = 0
- lstm Wx (D, 4H), Wh, b (4H,)   : as rnn after reordering the gate blocks from gatelab's
                                   (i, f, o, g) to torch's (i, f, g, o); c0 = 0
- gru Wx (D, 3H), Wh, bx, bh     : weight_ih_l0 = Wx.T, weight_hh_l0 = Wh.T,
                                   bias_ih_l0 = bx, bias_hh_l0 = bh; both use (r, z, n)
- multihead Wq, Wk, Wv, Wo (E, E): in_proj_weight = [Wq.T; Wk.T; Wv.T],
                                   in_proj_bias = [bq; bk; bv], out_proj = (Wo.T, bo),
                                   attn_mask = ~may_attend (torch: True = blocked)
"""

import math

import numpy as np
import pytest

torch = pytest.importorskip("torch")

from layers import (causal_may_attend, gru_backward, gru_forward, lstm_backward,  # noqa: E402
                    lstm_forward, multihead_attention_backward,
                    multihead_attention_forward, rnn_backward, rnn_forward,
                    word_embedding_backward, word_embedding_forward)

N, T, D, H = 3, 5, 4, 6


def assert_close(ours, theirs):
    """Elementwise to 1e-9 relative, with an absolute floor far below that at the scale."""
    theirs = theirs.detach().numpy() if isinstance(theirs, torch.Tensor) else theirs
    assert ours.shape == theirs.shape
    np.testing.assert_allclose(ours, theirs, rtol=1e-9,
                               atol=1e-13 * max(1.0, np.max(np.abs(theirs))))


def tensor(array):
    return torch.from_numpy(np.ascontiguousarray(array)).requires_grad_()


def set_parameters(module, **values):
    with torch.no_grad():
        for name, value in values.items():
            getattr(module, name).copy_(torch.from_numpy(np.ascontiguousarray(value)))


@pytest.fixture
def rng():
    return np.random.default_rng(2013)


def test_word_embedding_matches_torch(rng):
    W = rng.standard_normal((7, D))
    x = rng.integers(7, size=(N, T))
    x[0, :3] = 2   # repeated indices must accumulate in both
    out, cache = word_embedding_forward(x, W)
    dout = rng.standard_normal(out.shape)
    module = torch.nn.Embedding(7, D, dtype=torch.float64)
    set_parameters(module, weight=W)
    out_t = module(torch.from_numpy(x))
    out_t.backward(torch.from_numpy(dout))
    assert_close(out, out_t)
    assert_close(word_embedding_backward(dout, cache), module.weight.grad)


def run_torch_recurrent(module, x, h0, dh, c0=None):
    """Output and (dx, dh0, dweight_ih, dweight_hh, dbias_ih, dbias_hh) of a torch RNN."""
    xt, h0t = tensor(x), tensor(h0[None])
    state = h0t if c0 is None else (h0t, torch.from_numpy(c0[None]))
    out, _ = module(xt, state)
    params = [module.weight_ih_l0, module.weight_hh_l0, module.bias_ih_l0, module.bias_hh_l0]
    grads = torch.autograd.grad(out, [xt, h0t, *params], torch.from_numpy(dh))
    return out, [g.numpy() for g in grads]


def recurrent_arrays(rng, gates):
    return (rng.standard_normal((N, T, D)), rng.standard_normal((N, H)),
            rng.standard_normal((D, gates * H)) / math.sqrt(D),
            rng.standard_normal((H, gates * H)) / math.sqrt(H),
            0.5 * rng.standard_normal(gates * H), rng.standard_normal((N, T, H)))


def test_rnn_matches_torch(rng):
    x, h0, Wx, Wh, b, dh = recurrent_arrays(rng, 1)
    h, cache = rnn_forward(x, h0, Wx, Wh, b)
    dx, dh0, dWx, dWh, db = rnn_backward(dh, cache)
    module = torch.nn.RNN(D, H, nonlinearity="tanh", batch_first=True, dtype=torch.float64)
    set_parameters(module, weight_ih_l0=Wx.T, weight_hh_l0=Wh.T, bias_ih_l0=b,
                   bias_hh_l0=np.zeros(H))
    out, (tdx, tdh0, tdwih, tdwhh, tdbih, _) = run_torch_recurrent(module, x, h0, dh)
    assert_close(h, out)
    for ours, theirs in zip((dx, dh0, dWx, dWh, db), (tdx, tdh0[0], tdwih.T, tdwhh.T, tdbih),
                            strict=True):
        assert_close(ours, theirs)


def test_lstm_matches_torch(rng):
    x, h0, Wx, Wh, b, dh = recurrent_arrays(rng, 4)
    h, cache = lstm_forward(x, h0, Wx, Wh, b)
    dx, dh0, dWx, dWh, db = lstm_backward(dh, cache)
    # Column blocks (i, f, o, g) -> torch's (i, f, g, o).
    to_torch = np.r_[0:2 * H, 3 * H:4 * H, 2 * H:3 * H]
    module = torch.nn.LSTM(D, H, batch_first=True, dtype=torch.float64)
    set_parameters(module, weight_ih_l0=Wx[:, to_torch].T, weight_hh_l0=Wh[:, to_torch].T,
                   bias_ih_l0=b[to_torch], bias_hh_l0=np.zeros(4 * H))
    out, (tdx, tdh0, tdwih, tdwhh, tdbih, _) = run_torch_recurrent(module, x, h0, dh,
                                                                   c0=np.zeros((N, H)))
    assert_close(h, out)
    assert_close(dx, tdx)
    assert_close(dh0, tdh0[0])
    assert_close(dWx[:, to_torch], tdwih.T)
    assert_close(dWh[:, to_torch], tdwhh.T)
    assert_close(db[to_torch], tdbih)


def test_gru_matches_torch(rng):
    x, h0, Wx, Wh, bx, dh = recurrent_arrays(rng, 3)
    bh = 0.5 * rng.standard_normal(3 * H)
    h, cache = gru_forward(x, h0, Wx, Wh, bx, bh)
    grads = gru_backward(dh, cache)
    module = torch.nn.GRU(D, H, batch_first=True, dtype=torch.float64)
    set_parameters(module, weight_ih_l0=Wx.T, weight_hh_l0=Wh.T, bias_ih_l0=bx, bias_hh_l0=bh)
    out, (tdx, tdh0, tdwih, tdwhh, tdbih, tdbhh) = run_torch_recurrent(module, x, h0, dh)
    assert_close(h, out)
    for ours, theirs in zip(grads, (tdx, tdh0[0], tdwih.T, tdwhh.T, tdbih, tdbhh), strict=True):
        assert_close(ours, theirs)


@pytest.mark.parametrize("mask", ["none", "causal", "per_example"])
def test_multihead_attention_matches_torch(rng, mask):
    n, tq, tk, embed, heads = 2, 4, 5, 6, 3
    query = rng.standard_normal((n, tq, embed))
    key = rng.standard_normal((n, tk, embed))
    value = rng.standard_normal((n, tk, embed))
    params = []
    for _ in range(4):
        params += [rng.standard_normal((embed, embed)) / math.sqrt(embed),
                   0.2 * rng.standard_normal(embed)]
    Wq, bq, Wk, bk, Wv, bv, Wo, bo = params
    may_attend = {"none": None, "causal": causal_may_attend(tq, tk),
                  "per_example": rng.random((n, tq, tk)) < 0.6}[mask]
    if mask == "per_example":
        may_attend[..., 0] = True
    out, cache = multihead_attention_forward(query, key, value, *params, num_heads=heads,
                                             may_attend=may_attend)
    dout = rng.standard_normal(out.shape)
    grads = multihead_attention_backward(dout, cache)

    module = torch.nn.MultiheadAttention(embed, heads, batch_first=True, dtype=torch.float64)
    set_parameters(module, in_proj_weight=np.concatenate([Wq.T, Wk.T, Wv.T]),
                   in_proj_bias=np.concatenate([bq, bk, bv]))
    set_parameters(module.out_proj, weight=Wo.T, bias=bo)
    attn_mask = None
    if may_attend is not None:
        # torch: True means NOT allowed; a per-example mask is given per (example, head).
        blocked = ~may_attend if may_attend.ndim == 2 else np.repeat(~may_attend, heads, 0)
        attn_mask = torch.from_numpy(blocked)
    inputs = [tensor(a) for a in (query, key, value)]
    out_t, _ = module(*inputs, attn_mask=attn_mask, need_weights=False)
    tparams = [module.in_proj_weight, module.in_proj_bias, module.out_proj.weight,
               module.out_proj.bias]
    tgrads = [g.numpy() for g in torch.autograd.grad(out_t, [*inputs, *tparams],
                                                     torch.from_numpy(dout))]
    dquery, dkey, dvalue, dWq, dbq, dWk, dbk, dWv, dbv, dWo, dbo = grads
    assert_close(out, out_t)
    for ours, theirs in zip((dquery, dkey, dvalue), tgrads[:3], strict=True):
        assert_close(ours, theirs)
    dw_in, db_in, dw_out, db_out = tgrads[3:]
    assert_close(np.concatenate([dWq.T, dWk.T, dWv.T]), dw_in)
    assert_close(np.concatenate([dbq, dbv]), np.concatenate([db_in[:embed], db_in[2 * embed:]]))
    # bk's gradient is 0 up to rounding on both sides (it does not change the output).
    assert np.max(np.abs(dbk)) < 1e-13 and np.max(np.abs(db_in[embed:2 * embed])) < 1e-13
    assert_close(dWo.T, dw_out)
    assert_close(dbo, db_out)
