"""What the layer contract costs over the bare layer bodies, on layers small enough to show it.

1. A chain of small layers (affine - relu - affine - softmax loss on a batch of 4),
   forward then backward, through the decorated pairs and through their bare bodies
   (``forward.__wrapped__``, ``backward.__wrapped__`` on the inner caches). The
   difference is the contract's per-call work: promotion, naming the layer for `Args`,
   the `Cache`, the upstream checks and `finish_gradients`.
2. What `differentiable`'s inline check for float arrays of one dtype saves: the time of
   `layers.contract.promote` on affine's three float64 arguments (the work the check
   skips), next to one decorated affine forward.
3. The contract's cost per call on a 64 x 64 affine forward + backward (float64), against
   the noise of that call: the interquartile range of the bare pair's timings over the
   repeats (the median of each side, halved for the two calls).

Each figure is the best of several repeats, the compared calls alternating so that a
change in the machine's load affects both alike. BLAS runs on one thread.

Run: ``python benchmarks/bench_contract.py``.
"""

import argparse
import os
import time

for _variable in ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ.setdefault(_variable, "1")

import numpy as np  # noqa: E402 - after the thread settings, which NumPy reads on import

from layers import (affine_backward, affine_forward, relu_backward,  # noqa: E402
                    relu_forward, softmax_loss_backward, softmax_loss_forward)
from layers.args import called_layer  # noqa: E402
from layers.contract import promote  # noqa: E402


def per_call_times(runs, repeats, calls):
    """For each run, its `repeats` timings of `calls` calls, in µs per call, the runs
    alternating."""
    times = [[] for _ in runs]
    for _ in range(repeats):
        for k, run in enumerate(runs):
            start = time.perf_counter()
            for _ in range(calls):
                run()
            times[k].append((time.perf_counter() - start) / calls * 1e6)
    return times


def best_per_call(runs, repeats, calls):
    """The fastest of `repeats` timings of `calls` calls of each run, in µs per call."""
    return [min(times) for times in per_call_times(runs, repeats, calls)]


def affine_pair(x, w, b, forward=affine_forward, backward=affine_backward):
    out, cache = forward(x, w, b)
    return backward(out, cache)


def chain_inputs(rng):
    n, d, h, c = 4, 8, 8, 3
    return (rng.standard_normal((n, d)), rng.standard_normal((d, h)), np.zeros(h),
            rng.standard_normal((h, c)), np.zeros(c), rng.integers(0, c, n))


def decorated_chain(x, w1, b1, w2, b2, y):
    a, c1 = affine_forward(x, w1, b1)
    r, c2 = relu_forward(a)
    s, c3 = affine_forward(r, w2, b2)
    loss, c4 = softmax_loss_forward(s, y)
    ds = softmax_loss_backward(1.0, c4)
    dr, dw2, db2 = affine_backward(ds, c3)
    dx, dw1, db1 = affine_backward(relu_backward(dr, c2), c1)
    return loss, dx, dw1, db1, dw2, db2


def bare_chain(x, w1, b1, w2, b2, y):
    """The same chain through the undecorated bodies (each takes its inner cache)."""
    a, c1 = affine_forward.__wrapped__(x, w1, b1)
    r, c2 = relu_forward.__wrapped__(a)
    s, c3 = affine_forward.__wrapped__(r, w2, b2)
    loss, c4 = softmax_loss_forward.__wrapped__(s, y)
    ds = softmax_loss_backward.__wrapped__(np.float64(1.0), c4)
    dr, dw2, db2 = affine_backward.__wrapped__(ds, c3)
    dx, dw1, db1 = affine_backward.__wrapped__(relu_backward.__wrapped__(dr, c2), c1)
    return loss, dx, dw1, db1, dw2, db2


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--repeats", type=int, default=7)
    parser.add_argument("--calls", type=int, default=2000)
    args = parser.parse_args()
    # The bare bodies validate with `Args()`, which reads the name the decorator sets.
    called_layer.set("bare body")
    inputs = chain_inputs(np.random.default_rng(0))
    for a, b in zip(decorated_chain(*inputs), bare_chain(*inputs), strict=True):
        np.testing.assert_allclose(a, b, rtol=1e-12)

    decorated, bare = best_per_call([lambda: decorated_chain(*inputs),
                                     lambda: bare_chain(*inputs)], args.repeats, args.calls)
    print(f"chain of 4 layers, forward + backward: decorated {decorated:.1f} µs, bare "
          f"bodies {bare:.1f} µs; contract {decorated - bare:.1f} µs "
          f"({(decorated - bare) / 8:.1f} µs per call, {decorated / bare:.2f}x)")

    x, w, b = inputs[:3]
    slots = (("x", 0), ("w", 1), ("b", 2))
    forward, promoting = best_per_call(
        [lambda: affine_forward(x, w, b), lambda: promote("affine_forward", slots, (x, w, b), {})],
        args.repeats, args.calls)
    print(f"affine_forward (4x8 @ 8x8): {forward:.1f} µs a call; promote on its float "
          f"arguments, which the inline check skips: {promoting:.1f} µs "
          f"({promoting / forward:.0%} of the call)")


    # The contract's cost per call against the noise of a 64 x 64 affine pair: the
    # interquartile range of the bare pair's timings, repeat to repeat.
    rng = np.random.default_rng(1)
    x, w, b = rng.standard_normal((64, 64)), rng.standard_normal((64, 64)), np.zeros(64)
    decorated, bare = per_call_times(
        [lambda: affine_pair(x, w, b),
         lambda: affine_pair(x, w, b, affine_forward.__wrapped__,
                            affine_backward.__wrapped__)],
        args.repeats * 3, args.calls // 4)
    low, middle, high = np.percentile(bare, [25, 50, 75])
    cost = (np.median(decorated) - middle) / 2
    print(f"affine 64x64 forward + backward: decorated {np.median(decorated):.1f} µs, "
          f"bare {middle:.1f} µs (interquartile range {high - low:.1f} µs over "
          f"{len(bare)} repeats); contract {cost:.1f} µs per call, "
          f"{cost / (high - low):.1f} times that range")


if __name__ == "__main__":
    main()
