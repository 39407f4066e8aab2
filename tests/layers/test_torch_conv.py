"""Convolution, pooling and the spatial norms against torch.nn.functional, float64, 1e-10.

Mappings: PyTorch's conv_transpose2d weight is (in_channels, out_channels, kH, kW), which
is our (F, C, HH, WW) with F the transposed layer's input channels: the same array.
Global average pooling is ``adaptive_avg_pool2d(x, 1)`` flattened to (N, C).
"""

import numpy as np
import pytest

torch = pytest.importorskip("torch")
F = torch.nn.functional

from layers import (avg_pool_backward, avg_pool_forward, conv_backward,  # noqa: E402
                    conv_backward_naive, conv_forward, conv_forward_naive,
                    conv_transpose_backward, conv_transpose_forward,
                    global_avg_pool_backward, global_avg_pool_forward, max_pool_backward,
                    max_pool_backward_naive, max_pool_forward, max_pool_forward_naive,
                    spatial_batchnorm_backward, spatial_batchnorm_forward,
                    spatial_groupnorm_backward, spatial_groupnorm_forward)

RTOL = 1e-10


def assert_close(ours, theirs):
    """Relative agreement to RTOL, with an absolute floor at RTOL times the largest value."""
    theirs = np.asarray(theirs)
    floor = RTOL * max(float(np.max(np.abs(theirs), initial=0.0)), 1e-300)
    np.testing.assert_allclose(ours, theirs, rtol=RTOL, atol=floor)


def run_torch(function, arrays, upstream):
    """function(*tensors) and the gradient of every array for the upstream gradient."""
    tensors = [torch.tensor(a, requires_grad=True) for a in arrays]
    out = function(*tensors)
    out.backward(torch.tensor(upstream))
    return out.detach().numpy(), [t.grad.numpy() for t in tensors]


def compare(forward, backward, arrays, options, function, rng):
    out, cache = forward(*arrays, *options)
    upstream = rng.standard_normal(out.shape)
    grads = backward(upstream, cache)
    grads = grads if isinstance(grads, tuple) else (grads,)
    expected_out, expected_grads = run_torch(function, arrays, upstream)
    assert_close(out, expected_out)
    assert len(grads) == len(expected_grads)
    for ours, theirs in zip(grads, expected_grads, strict=True):
        assert_close(ours, theirs)


CONV_CASES = [  # x shape, w shape, stride, pad, dilation
    ((2, 3, 8, 8), (4, 3, 3, 3), 1, 1, 1),
    ((2, 3, 7, 9), (2, 3, 3, 1), 2, 0, 1),
    ((1, 2, 9, 8), (3, 2, 2, 3), 1, 2, 2),
    ((3, 4, 10, 8), (5, 4, 5, 3), 3, 2, 1),
]


@pytest.mark.parametrize("pair", [(conv_forward, conv_backward),
                                  (conv_forward_naive, conv_backward_naive)],
                         ids=["fast", "naive"])
@pytest.mark.parametrize("x_shape, w_shape, stride, pad, dilation", CONV_CASES)
def test_conv(pair, x_shape, w_shape, stride, pad, dilation, rng):
    arrays = (rng.standard_normal(x_shape), rng.standard_normal(w_shape),
              rng.standard_normal(w_shape[0]))
    param = {"stride": stride, "pad": pad, "dilation": dilation}
    compare(*pair, arrays, (param,),
            lambda x, w, b: F.conv2d(x, w, b, stride=stride, padding=pad, dilation=dilation),
            rng)


@pytest.mark.parametrize("x_shape, w_shape, stride, pad, dilation", [
    ((2, 4, 4, 4), (4, 3, 3, 3), 2, 1, 1),
    ((1, 2, 3, 5), (2, 3, 2, 3), 1, 0, 1),
    ((2, 3, 3, 2), (3, 2, 3, 2), 3, 1, 2),
])
def test_conv_transpose(x_shape, w_shape, stride, pad, dilation, rng):
    arrays = (rng.standard_normal(x_shape), rng.standard_normal(w_shape),
              rng.standard_normal(w_shape[1]))
    param = {"stride": stride, "pad": pad, "dilation": dilation}
    compare(conv_transpose_forward, conv_transpose_backward, arrays, (param,),
            lambda x, w, b: F.conv_transpose2d(x, w, b, stride=stride, padding=pad,
                                               dilation=dilation),
            rng)


POOL_CASES = [  # x shape, pool height, pool width, stride
    ((2, 3, 8, 8), 2, 2, 2),
    ((2, 2, 7, 9), 3, 3, 2),
    ((1, 3, 5, 6), 2, 3, 1),
    ((2, 1, 7, 5), 3, 1, 2),
]


@pytest.mark.parametrize("pair", [(max_pool_forward, max_pool_backward),
                                  (max_pool_forward_naive, max_pool_backward_naive)],
                         ids=["fast", "naive"])
@pytest.mark.parametrize("x_shape, ph, pw, stride", POOL_CASES)
@pytest.mark.parametrize("ties", [False, True])
def test_max_pool(pair, x_shape, ph, pw, stride, ties, rng):
    # With ties (small integers), PyTorch's CPU kernel routes to the first maximum in
    # row-major window order as ours does, so the gradients agree exactly.
    x = rng.integers(0, 3, x_shape).astype(float) if ties else rng.standard_normal(x_shape)
    param = {"pool_height": ph, "pool_width": pw, "stride": stride}
    compare(*pair, (x,), (param,), lambda t: F.max_pool2d(t, (ph, pw), stride), rng)


@pytest.mark.parametrize("x_shape, ph, pw, stride", POOL_CASES)
def test_avg_pool(x_shape, ph, pw, stride, rng):
    param = {"pool_height": ph, "pool_width": pw, "stride": stride}
    compare(avg_pool_forward, avg_pool_backward, (rng.standard_normal(x_shape),), (param,),
            lambda t: F.avg_pool2d(t, (ph, pw), stride), rng)


def test_global_avg_pool(rng):
    compare(global_avg_pool_forward, global_avg_pool_backward,
            (rng.standard_normal((3, 4, 5, 2)),), (),
            lambda t: F.adaptive_avg_pool2d(t, 1).flatten(1), rng)


@pytest.mark.parametrize("mode", ["train", "test"])
def test_spatial_batchnorm(mode, rng):
    x = 0.5 + 2 * rng.standard_normal((4, 3, 5, 6))
    gamma, beta = rng.uniform(0.5, 1.5, 3), rng.standard_normal(3)
    running_mean, running_var = rng.standard_normal(3), rng.uniform(0.5, 2.0, 3)
    bn_param = {"mode": mode, "eps": 1e-5, "running_mean": running_mean,
                "running_var": running_var}
    compare(spatial_batchnorm_forward, spatial_batchnorm_backward, (x, gamma, beta),
            (bn_param,),
            lambda x, g, b: F.batch_norm(x, torch.tensor(running_mean),
                                         torch.tensor(running_var), g, b,
                                         training=mode == "train", eps=1e-5),
            rng)


@pytest.mark.parametrize("groups", [1, 2, 6])
@pytest.mark.parametrize("param_shape", [(1, 6, 1, 1), (6,)])
def test_spatial_groupnorm(groups, param_shape, rng):
    x = 0.5 + 2 * rng.standard_normal((3, 6, 4, 5))
    gamma = rng.uniform(0.5, 1.5, 6).reshape(param_shape)
    beta = rng.standard_normal(6).reshape(param_shape)
    compare(spatial_groupnorm_forward, spatial_groupnorm_backward, (x, gamma, beta),
            (groups, {"eps": 1e-5}),
            lambda x, g, b: F.group_norm(x, groups, g.reshape(6), b.reshape(6), eps=1e-5),
            rng)
