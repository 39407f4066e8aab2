"""Affine against PyTorch's F.linear in float64: forward and every gradient to 1e-10.

F.linear(x, weight, bias) computes x @ weight.T + bias with weight of shape (M, D); ours
takes w of shape (D, M), so torch gets w.T (and the gradient it returns is dw.T).
"""

import numpy as np
import pytest

torch = pytest.importorskip("torch")
F = torch.nn.functional

from layers.affine import affine_backward, affine_forward  # noqa: E402
from layers.registry import REGISTRY  # noqa: E402

RTOL = 1e-10


def assert_matches(ours, theirs):
    """|ours - torch| <= 1e-10 (|torch| + max |torch|): relative to the array's scale."""
    theirs = theirs.detach().numpy()
    assert np.shape(ours) == theirs.shape
    scale = float(np.max(np.abs(theirs), initial=0.0))
    np.testing.assert_allclose(ours, theirs, rtol=RTOL, atol=RTOL * scale)


def compare_with_torch(x, w, b, seed):
    out, cache = affine_forward(x, w, b)
    dout = np.random.default_rng(seed).standard_normal(out.shape)
    dx, dw, db = affine_backward(dout, cache)

    tx, tw, tb = (torch.tensor(a, requires_grad=True) for a in (x, w, b))
    torch_out = F.linear(tx.reshape(x.shape[0], -1), tw.T, tb)
    torch_out.backward(torch.from_numpy(dout))
    assert_matches(out, torch_out)
    assert_matches(dx, tx.grad)
    assert_matches(dw, tw.grad)
    assert_matches(db, tb.grad)


@pytest.mark.parametrize("seed", range(6))
def test_registered_examples_match_torch(seed):
    example = REGISTRY["affine"].example(np.random.default_rng(seed), np.float64)
    compare_with_torch(*example.args, seed=seed)


@pytest.mark.parametrize("x_shape, m", [((1, 1), 1), ((4, 7), 3), ((3, 2, 5), 6),
                                        ((2, 3, 2, 2), 4)])
def test_shapes_match_torch(x_shape, m, rng):
    d = int(np.prod(x_shape[1:]))
    compare_with_torch(rng.standard_normal(x_shape), rng.standard_normal((d, m)),
                       rng.standard_normal(m), seed=1)


def test_large_and_mixed_scale_values_match_torch(rng):
    x = rng.standard_normal((5, 8)) * np.logspace(-3, 3, 8)
    compare_with_torch(x, rng.standard_normal((8, 4)) * 10, rng.standard_normal(4), seed=2)
