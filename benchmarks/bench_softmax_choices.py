"""The measurements behind the choices of the softmax loss's passes, as ratios.

    python benchmarks/bench_softmax_choices.py               # all four, float32 and float64
    python benchmarks/bench_softmax_choices.py --threads 1   # steadier on a busy machine

Every timing is `layers.softmax_loss` (loss and dx) on x of shape (4096, 1000), or the
same passes written out here, calls alternating (`_timing.median_times`), printed as a
ratio to the library's choice (above 1: the alternative is slower).

- ``block``: `layers.losses.SOFTMAX_BLOCK_BYTES`, the bytes of scores per block of the
  subtraction, exp, sum and scaling, from 64 KB to 4 MB and the whole array in one block,
  each against the library's 512 KB.
- ``shift``: rows whose max lies in [0, `layers.losses._unshifted_limit`] taken as
  exp(x), with no subtraction pass, against every row shifted by its max (the scores here,
  3 times a standard normal, have row maxima near 10: every row is taken unshifted).
- ``grad``: the fused loss making the gradient block by block inside the forward's
  passes, against the forward followed by one pass that turns its exps into dx in place,
  and against the pair, forward then backward, which makes dx as a new array.
- ``sums``: the row sums of each block of exps as ``einsum("nc->n")``, against
  ``block.sum(axis=1)`` and against a product with a vector of ones (BLAS, on every
  thread), each inside the loop of exp and sum over the library's blocks (these rows
  need no shift).
"""

import importlib
import os
import sys

from _timing import pin_threads
from bench_conv_choices import parse_args, report, run_sections, with_setting

KB = 1 << 10
WHOLE = 1 << 40        # more bytes than any batch: one block
BLOCKS_KB = (64, 128, 256, 1024, 4096)
SHAPE = (4096, 1000)


def scores(np, rng, dtype):
    x = (3.0 * rng.standard_normal(SHAPE)).astype(dtype)
    return x, rng.integers(SHAPE[1], size=SHAPE[0])


def block_section(np, layers, losses, rng, dtype, repeats):
    x, y = scores(np, rng, dtype)

    def run():
        return layers.softmax_loss(x, y)
    alternatives = {f"{kb} KB": with_setting(losses, "SOFTMAX_BLOCK_BYTES", kb * KB, run)
                    for kb in BLOCKS_KB}
    alternatives["whole array"] = with_setting(losses, "SOFTMAX_BLOCK_BYTES", WHOLE, run)
    report(f"block, {dtype}, time / time at {losses.SOFTMAX_BLOCK_BYTES // KB} KB", run,
           alternatives, repeats)


def shift_section(np, layers, losses, rng, dtype, repeats):
    x, y = scores(np, rng, dtype)

    def run():
        return layers.softmax_loss(x, y)
    report(f"shift, {dtype}, time / time with rows taken unshifted", run,
           {"every row shifted": with_setting(losses, "_unshifted_limit",
                                              lambda dtype, classes: -1.0, run)}, repeats)


def grad_section(np, layers, losses, rng, dtype, repeats):
    x, y = scores(np, rng, dtype)
    rows = np.arange(SHAPE[0])

    def run():
        return layers.softmax_loss(x, y)

    def after_forward():
        loss, cache = layers.softmax_loss_forward(x, y)
        exps, sums, _ = cache.inner
        scale = x.dtype.type(1.0) / SHAPE[0]
        dx = np.multiply(exps, (scale / sums)[:, None], out=exps)
        dx[rows, y] -= scale
        return loss, dx

    def pair():
        loss, cache = layers.softmax_loss_forward(x, y)
        return loss, layers.softmax_loss_backward(1.0, cache)
    report(f"grad, {dtype}, time / time with dx made block by block", run,
           {"one pass after the forward": after_forward, "forward + backward": pair},
           repeats)


def sums_section(np, layers, losses, rng, dtype, repeats):
    x, _ = scores(np, rng, dtype)
    exps = np.empty_like(x)
    sums = np.empty(SHAPE[0], dtype)
    ones = np.ones(SHAPE[1], dtype)
    step = max(1, losses.SOFTMAX_BLOCK_BYTES // (SHAPE[1] * x.itemsize))

    def passes(row_sums):
        def run():
            for start in range(0, SHAPE[0], step):
                block = exps[start:start + step]
                np.exp(x[start:start + step], out=block)
                row_sums(block, sums[start:start + step])
        return run
    report(f"sums, {dtype}, time / time with einsum", passes(
        lambda block, out: np.einsum("nc->n", block, out=out)),
        {"block.sum(axis=1)": passes(lambda block, out: block.sum(axis=1, out=out)),
         "block @ ones": passes(lambda block, out: np.matmul(block, ones, out=out))},
        repeats)


def main():
    args = parse_args(__doc__, "block,shift,grad,sums", repeats=21)
    threads = pin_threads(args.threads)
    import numpy as np

    sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))
    import layers
    losses = importlib.import_module("layers.losses")
    sections = {"block": block_section, "shift": shift_section, "grad": grad_section,
                "sums": sums_section}
    run_sections(np, layers, {name: (section, losses) for name, section in sections.items()},
                 args, threads)


if __name__ == "__main__":
    main()
