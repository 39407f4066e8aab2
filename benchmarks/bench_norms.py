"""Time the normalization layers against a minimal NumPy version and PyTorch, in one run.

    python benchmarks/bench_norms.py                 # (512, 1024), both dtypes
    python benchmarks/bench_norms.py --n 64 --d 256 --repeats 50
    python benchmarks/bench_norms.py --threads 1     # steadier on a busy machine

Each row times forward + backward from x to (dx, dgamma, dbeta), four ways interleaved
(torch, gatelab, numpy, minimal, torch, ...) so that all see the same machine load; each
time is the median of its repeats:

- ``gatelab``: batchnorm_forward + batchnorm_backward, layernorm_forward +
  layernorm_backward, spatial_batchnorm_forward + spatial_batchnorm_backward
  (x of shape (N, D / 16, 4, 4)), as installed: with numba (the ``fast`` extra) large
  inputs take the compiled kernels of `layers._fused_norms` (one thread);
- ``numpy``: the same calls with the kernels switched off, the NumPy reference;
- ``minimal``: the same maths in as few NumPy passes as they take, without argument
  checks, the running statistics or the robust path for extreme scales (mean, einsum
  variance, normalize in place, closed-form backward): the floor for NumPy;
- ``torch``: ``F.batch_norm`` / ``F.layer_norm`` with autograd.

A section times `layers.batchnorm.standardize` (the common path, which the layers
take) against `_standardize_shifted` (the robust path it falls back to): the ratio is
what the common path saves. Another (``scratch``) runs the NumPy reference's forward +
backward many times in a row, as a training loop does, with the backward's temporary in
a kept scratch array (`layers.scratch`, as the layers run) and with it allocated afresh
(no buffer kept), in alternating blocks: milliseconds and page faults per call. The
last, with numba, is the kernels' size crossover.
"""

import argparse
import functools
import math
import statistics
import time

from _timing import add_threads_option, median_times, pin_threads, thread_report


def minimal_norm(np, x, gamma, beta, dout, axes, feature, eps=1e-5):
    """Forward and closed-form backward over `axes` in the fewest NumPy passes; gamma and
    beta (F,) act along the axis `feature`."""
    letters = "abcd"[:x.ndim]
    kept = "".join(c for i, c in enumerate(letters) if i not in axes)
    shape = [1 if i in axes else n for i, n in enumerate(x.shape)]
    count = x.size // math.prod(x.shape[i] for i in range(x.ndim) if i not in axes)
    mean = np.einsum(f"{letters}->{kept}", x).reshape(shape) / count
    xhat = x - mean
    var = np.einsum(f"{letters},{letters}->{kept}", xhat, xhat).reshape(shape) / count
    inv_std = 1 / np.sqrt(var + eps)
    xhat *= inv_std
    param_shape = [-1 if i == feature else 1 for i in range(x.ndim)]
    gamma, beta = gamma.reshape(param_shape), beta.reshape(param_shape)
    out = xhat * gamma
    out += beta
    param_kept = letters[feature]
    dbeta = np.einsum(f"{letters}->{param_kept}", dout)
    dgamma = np.einsum(f"{letters},{letters}->{param_kept}", dout, xhat)
    dxhat = dout * gamma
    sum_dxhat = np.einsum(f"{letters}->{kept}", dxhat).reshape(shape)
    sum_dxhat_xhat = np.einsum(f"{letters},{letters}->{kept}", dxhat, xhat).reshape(shape)
    dx = xhat * (sum_dxhat_xhat / -count)
    dx += dxhat
    dx -= sum_dxhat / count
    dx *= inv_std
    return out, dx, dgamma, dbeta


def workload(np, torch, layers, name, rng, size, dtype):
    """(torch, gatelab, minimal): three functions that run forward + backward of layer
    `name` on the same random inputs of about `size` (N, D)."""
    import torch.nn.functional as F

    from layers import _fused_norms as fused

    n, d = size
    shape = (n, d // 16, 4, 4) if name == "spatial_batchnorm" else (n, d)
    features = shape[-1] if name == "layernorm" else shape[1]
    x = (0.5 + 2 * rng.standard_normal(shape)).astype(dtype)
    gamma = rng.uniform(0.5, 1.5, features).astype(dtype)
    beta = rng.standard_normal(features).astype(dtype)
    dout = rng.standard_normal(shape).astype(dtype)
    if name == "layernorm":
        axes, feature = (x.ndim - 1,), x.ndim - 1
        forward, backward = layers.layernorm_forward, layers.layernorm_backward
        param = {}
    else:
        axes = (0,) if x.ndim == 2 else (0, 2, 3)
        feature = 1
        forward = getattr(layers, f"{name}_forward")
        backward = getattr(layers, f"{name}_backward")
        param = {"mode": "train"}

    def ours():
        return backward(dout, forward(x, gamma, beta, dict(param))[1])

    def reference():
        kernels = fused.kernels()
        fused._kernels = None
        try:
            return ours()
        finally:
            fused._kernels = kernels

    def minimal():
        return minimal_norm(np, x, gamma, beta, dout, axes, feature)

    tx = torch.tensor(x, requires_grad=True)
    tg = torch.tensor(gamma, requires_grad=True)
    tb = torch.tensor(beta, requires_grad=True)
    tdout = torch.tensor(dout)

    def theirs():
        tx.grad = tg.grad = tb.grad = None
        if name == "layernorm":
            out = F.layer_norm(tx, (features,), tg, tb, eps=1e-5)
        else:
            out = F.batch_norm(tx, None, None, tg, tb, training=True, eps=1e-5)
        out.backward(tdout)

    return theirs, ours, reference, minimal


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--n", type=int, default=512)
    parser.add_argument("--d", type=int, default=1024)
    parser.add_argument("--repeats", type=int, default=30)
    add_threads_option(parser)
    args = parser.parse_args()
    threads = pin_threads(args.threads)
    import numpy as np
    import torch

    import layers
    from layers.batchnorm import _standardize_shifted, standardize

    from layers import _fused_norms

    torch.set_num_threads(threads)
    print(thread_report(np, torch))
    if _fused_norms.kernels() is None:
        print("numba: not installed or GATELAB_NUMBA=0; gatelab is the NumPy reference")
    else:
        print(f"numba {_fused_norms.kernels().numba.__version__}: the kernels run on one "
              "thread")
    n, d = args.n, args.d
    print(f"{'workload':<20}{'dtype':<9}{'torch ms':>9}{'gatelab':>9}{'numpy':>9}"
          f"{'minimal':>9}{'gatelab/torch':>15}{'numpy/torch':>13}{'numpy/minimal':>15}")
    for dtype in (np.float32, np.float64):
        rng = np.random.default_rng(0)
        for name in ("batchnorm", "layernorm", "spatial_batchnorm"):
            runs = workload(np, torch, layers, name, rng, (n, d), dtype)
            runs[1]()  # compiles the kernels for this dtype, or loads them from the cache
            t_torch, t_ours, t_numpy, t_min = median_times(runs, args.repeats)
            print(f"{name:<20}{np.dtype(dtype).name:<9}{t_torch * 1e3:>9.3f}"
                  f"{t_ours * 1e3:>9.3f}{t_numpy * 1e3:>9.3f}{t_min * 1e3:>9.3f}"
                  f"{t_ours / t_torch:>15.2f}{t_numpy / t_torch:>13.2f}"
                  f"{t_numpy / t_min:>15.2f}")
        x = (0.5 + 2 * rng.standard_normal((n, d))).astype(dtype)
        common, robust = median_times([functools.partial(standardize, x, (0,), 1e-5),
                                       functools.partial(_standardize_shifted, x, (0,),
                                                         1e-5)], args.repeats)
        print(f"standardize (N, D) over N, {np.dtype(dtype).name}: robust path / common "
              f"path = {robust / common:.2f}")
    print_scratch(np, torch, layers, (n, d), args.repeats)
    if _fused_norms.kernels() is not None:
        print_crossover(np, torch, layers, args.repeats)


def print_scratch(np, torch, layers, size, repeats, calls=20):
    """ms and page faults per forward + backward of the NumPy reference, `calls` in a row,
    with the norms' temporaries in kept scratch arrays and allocated afresh."""
    import resource

    from layers import _fused_norms, scratch

    def per_call(run):
        faults = resource.getrusage(resource.RUSAGE_SELF).ru_minflt
        start = time.perf_counter()
        for _ in range(calls):
            run()
        seconds = time.perf_counter() - start
        faults = resource.getrusage(resource.RUSAGE_SELF).ru_minflt - faults
        return seconds / calls, faults / calls

    print(f"scratch: NumPy reference, {calls} calls in a row, x {size}; "
          "ms and page faults per call, temporaries kept / allocated afresh")
    kernels, limit = _fused_norms.kernels(), scratch.SCRATCH_LIMIT
    _fused_norms._kernels = None
    try:
        for dtype in (np.float32, np.float64):
            rng = np.random.default_rng(0)
            for name in ("batchnorm", "layernorm"):
                _, ours, _, _ = workload(np, torch, layers, name, rng, size, dtype)
                results = {True: [], False: []}
                for _ in range(max(3, repeats // 5)):
                    for kept in (True, False):
                        scratch.clear_scratch()
                        scratch.SCRATCH_LIMIT = limit if kept else 0
                        ours()
                        results[kept].append(per_call(ours))
                (t_kept, f_kept), (t_fresh, f_fresh) = (
                    [statistics.median(column) for column in zip(*results[kept])]
                    for kept in (True, False))
                print(f"  {name:<10} {np.dtype(dtype).name:<8} kept {t_kept * 1e3:6.3f} ms "
                      f"{f_kept:6.0f} faults; afresh {t_fresh * 1e3:6.3f} ms {f_fresh:6.0f} "
                      f"faults; kept / afresh {t_kept / t_fresh:.2f}")
    finally:
        _fused_norms._kernels, scratch.SCRATCH_LIMIT = kernels, limit
        scratch.clear_scratch()


def print_crossover(np, torch, layers, repeats):
    """numpy / gatelab (kernels) for batch and layer norm of growing x of shape (N, 64):
    where the kernels start to pay, which `layers._fused_norms.MIN_SIZE` is set from."""
    from layers import _fused_norms

    print("kernels below their threshold (MIN_SIZE = "
          f"{_fused_norms.MIN_SIZE}): numpy / kernels, float64, x (N, 64)")
    threshold = _fused_norms.MIN_SIZE
    _fused_norms.MIN_SIZE = 0
    try:
        for size in (1 << 10, 1 << 12, 1 << 13, 1 << 14, 1 << 15, 1 << 16):
            rng = np.random.default_rng(0)
            cells = []
            for name in ("batchnorm", "layernorm"):
                _, ours, reference, _ = workload(np, torch, layers, name, rng,
                                                 (size // 64, 64), np.float64)
                ours()
                t_ours, t_numpy = median_times([ours, reference], repeats)
                cells.append(f"{name} {t_numpy / t_ours:.2f}")
            print(f"  {size:>6} elements: " + ", ".join(cells))
    finally:
        _fused_norms.MIN_SIZE = threshold


if __name__ == "__main__":
    main()
