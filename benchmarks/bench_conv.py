"""Time the fast conv, max pool and spatial batch norm against PyTorch CPU and the naive loops.

    python benchmarks/bench_conv.py               # CONVS, max pool, batch norm; both dtypes
    python benchmarks/bench_conv.py --quick       # batch / 4, fewer repeats
    python benchmarks/bench_conv.py --threads 1   # steadier on a busy machine

Every timing is forward + backward, from input arrays to every gradient (x included). Both
sides get the same data; calls alternate (torch, gatelab, torch, ...) so that both see the
same machine load, and each side's time is the median of its repeats. PyTorch runs with
``torch.set_num_threads`` equal to NumPy's BLAS threads (the environment variables are set
before NumPy is imported; see `_timing`).

Columns: ``ratio`` = gatelab / torch (below 1: gatelab is faster); ``GF/s`` counts the
conv's matmul FLOPs (forward, dx and dw: 3 x 2*N*F*Ho*Wo*C*HH*WW); ``%mm`` is that as a
fraction of numpy's own matmul rate measured at the start (best of several 1024^3
products); ``naive x`` is how many times slower the naive loops are, timed on a batch of
ONE example and scaled by N (the loops are linear in N; a full batch would take minutes);
``scratch MB`` is the peak memory traced (tracemalloc, which NumPy reports to) during one
fast forward + backward beyond the arrays it returns (output and gradients), next to
``im2col MB``, the size of one whole-batch im2col matrix (C*HH*WW, N*Ho*Wo).

A busy machine distorts the comparison: with one other process spinning on one of 2
CPUs, OpenBLAS's threaded products (many per conv call, each a barrier) slowed the fast
conv 10-60x where PyTorch slowed 3x. Compare on an idle machine, or with --threads 1.

The last line is the summary: the geometric mean of gatelab / torch over the conv and max
pool rows (the target: <= 1.5), %mm of the middle conv, and fast vs naive on the
first conv.
"""

import argparse
import math
import os
import statistics
import sys
import tracemalloc

from _timing import add_threads_option, median_times, pin_threads, seconds, thread_report

CONVS = [  # name, N, C, H=W, F; 3x3 kernels, stride 1, pad 1
    ("conv_3to32", 64, 3, 32, 32),
    ("conv_32to64", 64, 32, 32, 64),
    ("conv_64to128", 32, 64, 16, 128),
]
POOL_SHAPE = (64, 32, 32, 32)
BN_SHAPE = (64, 32, 32, 32)


def parse_args():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--quick", action="store_true", help="batch / 4 and 5 repeats")
    parser.add_argument("--repeats", type=int, default=None,
                        help="default 11 (5 with --quick)")
    add_threads_option(parser)
    parser.add_argument("--dtype", choices=("float32", "float64", "both"), default="both")
    parser.add_argument("--no-naive", action="store_true", help="skip the naive timings")
    args = parser.parse_args()
    args.repeats = args.repeats or (5 if args.quick else 11)
    return args


def matmul_peak(np, dtype, size=1024):
    a = np.random.default_rng(0).standard_normal((size, size)).astype(dtype)
    out = np.empty_like(a)
    np.matmul(a, a, out=out)
    best = min(seconds(lambda: np.matmul(a, a, out=out)) for _ in range(9))
    return 2 * size ** 3 / best / 1e9


def scratch_memory(func, layers):
    """Bytes of the largest memory traced while func runs, beyond what it returns (the
    output and gradients), i.e. its peak scratch memory. The conv's scratch buffers,
    kept between calls, are dropped first so that they are counted."""
    layers.clear_scratch()
    tracemalloc.start()
    base = tracemalloc.get_traced_memory()[0]
    results = func()
    peak = tracemalloc.get_traced_memory()[1]
    tracemalloc.stop()
    return peak - base - sum(r.nbytes for r in results)


def relative_gap(ours, theirs):
    """Largest max|ours - torch| / max|torch| over the output and the gradients."""
    gaps = []
    for a, b in zip(ours, theirs):
        b = b.detach().numpy()
        gaps.append(float(abs(a - b).max() / max(abs(b).max(), 1e-30)))
    return max(gaps)


class Row:
    """One workload in one dtype: the two sides as closures, and what to report."""

    def __init__(self, name, dtype, run_torch, run_ours, flops=None, naive=None, scratch=None,
                 im2col=None):
        self.name, self.dtype = name, dtype
        self.run_torch, self.run_ours = run_torch, run_ours
        self.flops, self.naive, self.scratch, self.im2col = flops, naive, scratch, im2col


def torch_pair(torch, function, arrays, dout):
    """A closure computing function(*arrays) and the gradient of every array in torch."""
    tensors = [torch.from_numpy(a).requires_grad_() for a in arrays]
    upstream = torch.from_numpy(dout)

    def run():
        out = function(*tensors)
        return (out, *torch.autograd.grad(out, tensors, upstream))
    return run


def ours_pair(forward, backward, arrays, options, dout):
    """A closure computing forward(*arrays, *options) and its backward for dout."""
    def run():
        out, cache = forward(*arrays, *options)
        grads = backward(dout, cache)
        return (out, *(grads if isinstance(grads, tuple) else (grads,)))
    return run


def naive_seconds(np, forward, backward, arrays, options, dout, skip):
    """Seconds of the naive pair on the first example only, times the batch size."""
    if skip:
        return None
    run = ours_pair(forward, backward, [arrays[0][:1], *arrays[1:]], options, dout[:1])
    return seconds(run) * arrays[0].shape[0]


def conv_row(np, torch, layers, rng, dtype, name, n, c, hw, f, skip_naive):
    x = rng.standard_normal((n, c, hw, hw)).astype(dtype)
    w = (rng.standard_normal((f, c, 3, 3)) / math.sqrt(9 * c)).astype(dtype)
    b = rng.standard_normal(f).astype(dtype)
    dout = rng.standard_normal((n, f, hw, hw)).astype(dtype)
    param = {"stride": 1, "pad": 1}
    run_ours = ours_pair(layers.conv_forward, layers.conv_backward, (x, w, b), (param,), dout)
    naive = naive_seconds(np, layers.conv_forward_naive, layers.conv_backward_naive,
                          (x, w, b), (param,), dout, skip_naive)
    return Row(name, dtype,
               torch_pair(torch, lambda *t: torch.nn.functional.conv2d(*t, padding=1),
                          (x, w, b), dout),
               run_ours, flops=3 * 2 * n * f * hw * hw * c * 9, naive=naive,
               scratch=scratch_memory(run_ours, layers), im2col=c * 9 * n * hw * hw * x.itemsize)


def pool_row(np, torch, layers, rng, dtype, shrink, skip_naive):
    n, c, h, w = POOL_SHAPE
    x = rng.standard_normal((max(1, n // shrink), c, h, w)).astype(dtype)
    dout = rng.standard_normal((x.shape[0], c, h // 2, w // 2)).astype(dtype)
    pool = {"pool_height": 2, "pool_width": 2, "stride": 2}
    naive = naive_seconds(np, layers.max_pool_forward_naive, layers.max_pool_backward_naive,
                          (x,), (pool,), dout, skip_naive)
    return Row("max_pool", dtype,
               torch_pair(torch, lambda t: torch.nn.functional.max_pool2d(t, 2, 2), (x,),
                          dout),
               ours_pair(layers.max_pool_forward, layers.max_pool_backward, (x,), (pool,),
                         dout),
               naive=naive)


def batchnorm_row(np, torch, layers, rng, dtype, shrink):
    n, c, h, w = BN_SHAPE
    x = (0.5 + 2 * rng.standard_normal((max(1, n // shrink), c, h, w))).astype(dtype)
    gamma, beta = np.ones(c, dtype), np.zeros(c, dtype)
    dout = rng.standard_normal(x.shape).astype(dtype)

    def torch_bn(x, gamma, beta):
        return torch.nn.functional.batch_norm(x, None, None, gamma, beta, training=True,
                                              eps=1e-5)
    return Row("spatial_batchnorm", dtype, torch_pair(torch, torch_bn, (x, gamma, beta), dout),
               ours_pair(layers.spatial_batchnorm_forward, layers.spatial_batchnorm_backward,
                         (x, gamma, beta), ({"mode": "train"},), dout))


def main():
    args = parse_args()
    threads = pin_threads(args.threads)
    import numpy as np
    import torch

    sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))
    import layers

    torch.set_num_threads(threads)
    dtypes = ["float32", "float64"] if args.dtype == "both" else [args.dtype]
    peaks = {dtype: matmul_peak(np, dtype) for dtype in dtypes}
    shrink = 4 if args.quick else 1
    print(f"{thread_report(np, torch)}; matmul 1024^3: "
          + ", ".join(f"{d} {p:.0f} GFLOP/s" for d, p in peaks.items()))
    print(f"median of {args.repeats} interleaved fwd+bwd calls per side"
          + ("; batch / 4 (--quick)" if args.quick else "")
          + "; naive x: naive timed on 1 example, times N")
    print(f"{'workload':<18} {'dtype':<7} {'torch ms':>9} {'ours ms':>9} {'ratio':>6} "
          f"{'GF/s':>6} {'%mm':>5} {'naive x':>8} {'scratch MB':>10} {'im2col MB':>9} "
          f"{'check':>8}")

    rng = np.random.default_rng(0)
    ratios, summary = [], {}
    for dtype in dtypes:
        rows = [conv_row(np, torch, layers, rng, dtype, name, max(1, n // shrink), c, hw, f,
                         args.no_naive)
                for name, n, c, hw, f in CONVS]
        rows.append(pool_row(np, torch, layers, rng, dtype, shrink, args.no_naive))
        rows.append(batchnorm_row(np, torch, layers, rng, dtype, shrink))
        for row in rows:
            gap = relative_gap(row.run_ours(), row.run_torch())
            torch_s, ours_s = median_times([row.run_torch, row.run_ours], args.repeats)
            ratio = ours_s / torch_s
            if row.name != "spatial_batchnorm":
                ratios.append(ratio)
            rate = row.flops / ours_s / 1e9 if row.flops else None
            percent = 100 * rate / peaks[row.dtype] if rate else None
            if row.name == "conv_32to64":
                summary[f"%mm {row.dtype}"] = f"{percent:.0f}%"
            if row.name == "conv_3to32" and row.naive:
                summary[f"naive/fast {row.dtype}"] = f"{row.naive / ours_s:.0f}x"
            cells = [f"{row.name:<18} {row.dtype:<7} {1e3 * torch_s:9.2f} {1e3 * ours_s:9.2f} "
                     f"{ratio:6.2f}",
                     f"{rate:6.1f}" if rate else f"{'-':>6}",
                     f"{percent:4.0f}%" if percent else f"{'-':>5}",
                     f"{row.naive / ours_s:8.0f}" if row.naive else f"{'-':>8}",
                     f"{row.scratch / 2**20:10.1f}" if row.scratch else f"{'-':>10}",
                     f"{row.im2col / 2**20:9.1f}" if row.im2col else f"{'-':>9}",
                     f"{gap:8.1e}"]
            print(" ".join(cells), flush=True)

    geomean = math.exp(statistics.fmean(map(math.log, ratios)))
    extras = ", ".join(f"{key} {value}" for key, value in summary.items())
    print(f"geomean ratio gatelab/torch over {len(ratios)} conv and max_pool rows: "
          f"{geomean:.2f} (target <= 1.5); {extras}")


if __name__ == "__main__":
    main()
