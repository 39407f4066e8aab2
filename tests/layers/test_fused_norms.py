"""The compiled kernels of the normalization layers (`layers._fused_norms`, numba) give
what the NumPy reference gives: outputs, running statistics and every gradient, in both
dtypes, for the layouts the layers accept, and leave to the reference every input whose
statistics ask for the robust path."""

import numpy as np
import pytest

from layers import _fused_norms
from layers import (batchnorm_backward, batchnorm_backward_alt, batchnorm_forward,
                    layernorm_backward, layernorm_forward, spatial_batchnorm_backward,
                    spatial_batchnorm_forward)

if _fused_norms.kernels() is None:
    pytest.skip("numba is not installed (pip install -e \".[fast]\"), or GATELAB_NUMBA=0",
                allow_module_level=True)

# Relative to the largest reference value: the kernels sum in float64 and in another
# order, so they differ from NumPy's float32 sums by rounding, not by bits.
TOLERANCE = {np.float32: 3e-6, np.float64: 1e-13}


@pytest.fixture
def reference(monkeypatch):
    """A context that runs the layers without the kernels."""
    def without_kernels(run):
        with monkeypatch.context() as patch:
            patch.setattr(_fused_norms, "_kernels", None)
            return run()
    return without_kernels


def assert_close(got, want, dtype):
    assert got.dtype == want.dtype and got.shape == want.shape
    scale = max(np.abs(want).max(), np.finfo(dtype).tiny)
    assert np.abs(got - want).max() <= TOLERANCE[dtype] * scale


def batch_inputs(rng, shape, dtype, loc=3.0, scale=2.0):
    x = (loc + scale * rng.standard_normal(shape)).astype(dtype)
    features = shape[-1] if len(shape) == 2 else shape[1]
    gamma = rng.uniform(0.5, 1.5, features).astype(dtype)
    beta = rng.standard_normal(features).astype(dtype)
    dout = rng.standard_normal(shape).astype(dtype)
    return x, gamma, beta, dout


def run_batchnorm(forward, backwards, x, gamma, beta, dout):
    bn_param = {"mode": "train", "momentum": 0.8,
                "running_mean": np.ones(gamma.shape, gamma.dtype),
                "running_var": np.full(gamma.shape, 2.0, gamma.dtype)}
    out, cache = forward(x, gamma, beta, bn_param)
    grads = [g for backward in backwards for g in backward(dout, cache)]
    return [out, bn_param["running_mean"], bn_param["running_var"], *grads], cache


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("layer, shape", [
    ("batchnorm", (512, 96)), ("batchnorm", (300, 257)),
    ("spatial", (8, 6, 33, 31)), ("spatial", (3, 64, 16, 16))])
def test_batch_norms_match_the_reference(reference, dtype, layer, shape):
    rng = np.random.default_rng(sum(shape))
    args = batch_inputs(rng, shape, dtype)
    copies = [a.copy() for a in args]
    if layer == "batchnorm":
        pair = batchnorm_forward, (batchnorm_backward, batchnorm_backward_alt)
    else:
        pair = spatial_batchnorm_forward, (spatial_batchnorm_backward,)
    assert _fused_norms.enabled(args[0])
    got, cache = run_batchnorm(*pair, *args)
    assert cache.inner.fused
    want, ref_cache = reference(lambda: run_batchnorm(*pair, *args))
    assert not ref_cache.inner.fused
    for g, w in zip(got, want, strict=True):
        assert_close(g, w, dtype)
    for arg, copy in zip(args, copies, strict=True):
        np.testing.assert_array_equal(arg, copy)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("shape", [(256, 300), (4, 70, 128), (33000, 1)])
def test_layer_norm_matches_the_reference(reference, dtype, shape):
    rng = np.random.default_rng(sum(shape))
    x = (0.5 + 2.0 * rng.standard_normal(shape)).astype(dtype)
    gamma = rng.uniform(0.5, 1.5, shape[-1]).astype(dtype)
    beta = rng.standard_normal(shape[-1]).astype(dtype)
    dout = rng.standard_normal(shape).astype(dtype)

    def run():
        out, cache = layernorm_forward(x, gamma, beta, {"eps": 1e-5})
        return [out, *layernorm_backward(dout, cache)], cache

    got, _ = run()
    want, _ = reference(run)
    for g, w in zip(got, want, strict=True):
        assert_close(g, w, dtype)


@pytest.mark.parametrize("make_x", [
    lambda x: np.asfortranarray(x), lambda x: x[::-1], lambda x: x.T.copy().T])
def test_other_layouts_take_the_kernels_with_the_same_result(reference, make_x):
    rng = np.random.default_rng(5)
    x, gamma, beta, dout = batch_inputs(rng, (400, 200), np.float64)
    x = make_x(x)
    pair = batchnorm_forward, (batchnorm_backward,)
    got, cache = run_batchnorm(*pair, x, gamma, beta, dout)
    want, _ = reference(lambda: run_batchnorm(*pair, x, gamma, beta, dout))
    assert cache.inner.fused
    for g, w in zip(got, want, strict=True):
        assert_close(g, w, np.float64)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("case", ["constant feature", "large mean", "huge scale", "nan"])
def test_statistics_that_need_the_robust_path_get_the_reference_exactly(
        reference, dtype, case):
    rng = np.random.default_rng(11)
    x, gamma, beta, dout = batch_inputs(rng, (256, 160), dtype)
    if case == "constant feature":
        x[:, 7] = 1e3
    elif case == "large mean":
        x[:, 3] += 1e4
    elif case == "huge scale":
        x *= np.finfo(dtype).max / 64
    else:
        x[5, 5] = np.nan
    pair = batchnorm_forward, (batchnorm_backward, batchnorm_backward_alt)
    with np.errstate(invalid="ignore"):
        got, cache = run_batchnorm(*pair, x, gamma, beta, dout)
        want, _ = reference(lambda: run_batchnorm(*pair, x, gamma, beta, dout))
    assert not cache.inner.fused
    for g, w in zip(got, want, strict=True):
        np.testing.assert_array_equal(g, w)


def test_small_inputs_and_the_switch_keep_the_reference(monkeypatch):
    x = np.ones((_fused_norms.MIN_SIZE // 4 - 1, 4))
    assert not _fused_norms.enabled(x)
    assert _fused_norms.enabled(np.ones((_fused_norms.MIN_SIZE // 4, 4)))
    monkeypatch.setenv("GATELAB_NUMBA", "0")
    assert _fused_norms._load() is None
    monkeypatch.setenv("GATELAB_NUMBA", "1")
    assert _fused_norms._load() is not None


def test_import_layers_leaves_numba_to_the_first_large_input():
    """numba is imported at the first input of MIN_SIZE elements, not by `import layers`
    nor by small inputs (the checker's examples, most of a course's exercises)."""
    import subprocess
    import sys

    script = ("import sys, numpy as np, layers; "
              "x = np.random.randn(4, 8); layers.batchnorm_forward(x, np.ones(8), "
              "np.zeros(8), {'mode': 'train'}); layers.layernorm_forward(x, np.ones(8), "
              "np.zeros(8), {}); print('numba' in sys.modules); "
              "x = np.random.randn(128, 64); out, c = layers.batchnorm_forward("
              "x, np.ones(64), np.zeros(64), {'mode': 'train'}); "
              "print('numba' in sys.modules, c.inner.fused)")
    run = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True,
                         timeout=300)
    assert run.returncode == 0, run.stderr
    assert run.stdout.split() == ["False", "True", "True"]


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_the_kernels_agree_with_pytorch(dtype):
    torch = pytest.importorskip("torch")
    rng = np.random.default_rng(3)
    x, gamma, beta, dout = batch_inputs(rng, (512, 128), dtype)
    out, cache = batchnorm_forward(x, gamma, beta, {"mode": "train"})
    assert cache.inner.fused
    got = [out, *batchnorm_backward(dout, cache)]
    leaves = [torch.tensor(a, dtype=torch.float64, requires_grad=True)
              for a in (x, gamma, beta)]
    want = torch.nn.functional.batch_norm(leaves[0], None, None, leaves[1], leaves[2],
                                          training=True, eps=1e-5)
    grads = torch.autograd.grad(want, leaves, torch.tensor(dout, dtype=torch.float64))
    limit = {np.float32: 2e-5, np.float64: 1e-10}[dtype]
    for g, w in zip(got, [want, *grads], strict=True):
        w = w.detach().numpy()
        assert np.abs(g - w).max() <= limit * np.abs(w).max()


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_layer_norm_rows_that_need_the_robust_path_get_the_reference_exactly(
        reference, dtype):
    rng = np.random.default_rng(2)
    x = rng.standard_normal((300, 200)).astype(dtype)
    x[17] = 5e3
    x[40] *= np.finfo(dtype).max / 16
    gamma, beta = np.ones(200, dtype), np.zeros(200, dtype)
    dout = rng.standard_normal(x.shape).astype(dtype)

    def run():
        out, cache = layernorm_forward(x, gamma, beta, {})
        return [out, *layernorm_backward(dout, cache)], cache

    (out, *grads), _ = run()
    (want_out, *want_grads), _ = reference(run)
    # The forward takes the reference's robust path exactly; both backwards are the
    # closed form, in another order of summation.
    np.testing.assert_array_equal(out, want_out)
    for g, w in zip(grads, want_grads, strict=True):
        assert_close(g, w, dtype)


def test_a_read_only_install_compiles_the_kernels_in_each_process(tmp_path):
    """Where neither the package's __pycache__ nor a cache directory can be written (a
    read-only install in a sandbox), numba refuses to cache: the kernels then compile
    without a cache instead of failing `import layers`."""
    import shutil
    import subprocess
    import sys
    from pathlib import Path

    if shutil.which("bwrap") is None:
        pytest.skip("bubblewrap (bwrap) is not installed")
    root = Path(_fused_norms.__file__).resolve().parents[1]
    script = ("import numpy as np, layers; x = np.random.randn(128, 64); "
              "out, c = layers.batchnorm_forward(x, np.ones(64), np.zeros(64), "
              "{'mode': 'train'}); print(c.inner.fused)")
    run = subprocess.run(
        ["bwrap", "--ro-bind", "/", "/", "--dev", "/dev", "--proc", "/proc",
         "--setenv", "HOME", "/nonexistent", "--unsetenv", "NUMBA_CACHE_DIR",
         "--chdir", str(root), sys.executable, "-c", script],
        capture_output=True, text=True, timeout=300)
    assert run.returncode == 0, run.stderr
    assert run.stdout.split() == ["True"]
