"""What the ComputationalGraph costs over calling the same layer functions by hand.

Two measurements, each a ratio (graph time / hand time) of forward + backward, measured
in the same run on the same machine:

1. a long chain of scalar gates (alternately add and multiply by constants), where the
   layers do almost nothing and the graph's per-gate bookkeeping shows the most;
2. a two-layer net (affine - relu - affine - softmax loss) on a batch of 256, the
   layer-level use the graph is meant for.

For the two-layer net it also times, on its own, the graph's check that no feed or param
was written into between forward and backward (a checksum of each array's bytes at
forward, taken again at backward), as a share of the graph's forward + backward: the part
of the graph's time that check costs, which the ratios alone cannot separate from noise.

The graph's structure is built once before timing (as in training), and each timing is
the best of several repeats, graph and hand calls alternating. Both sides keep the
previous call's arrays alive until the next call has run, as the graph does with its
last pass, and on glibc the allocator is asked to keep freed memory (``mallopt``):
otherwise the two differ mainly in how often arrays of a few hundred kB are returned to
the system and paged in again, which swings the ratio between 0.6 and 1.3 from run to
run and is not the graph's cost. BLAS runs on one thread (unless the environment says
otherwise), as threads only add noise on small matrices.

Run: ``python benchmarks/bench_graph.py``.
"""

import argparse
import ctypes
import ctypes.util
import os
import time

for _variable in ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ.setdefault(_variable, "1")

import numpy as np  # noqa: E402 - after the thread settings, which NumPy reads on import

from graph import ComputationalGraph, Sequential  # noqa: E402
from graph.computational_graph import _check_fingerprints, _fingerprints  # noqa: E402
from layers import (add_backward, add_forward, affine_backward, affine_forward,  # noqa: E402
                    multiply_backward, multiply_forward, relu_backward, relu_forward,
                    softmax_loss_backward, softmax_loss_forward)


def best_times(first, second, repeats):
    """The fastest of `repeats` calls of each of `first` and `second`, in seconds.

    The calls alternate, so that a change in the machine's load affects both alike.
    """
    times = ([], [])
    for _ in range(repeats):
        for run, kept in zip((first, second), times):
            start = time.perf_counter()
            run()
            kept.append(time.perf_counter() - start)
    return min(times[0]), min(times[1])


def keep_freed_memory():
    """Ask glibc's malloc to neither trim nor mmap arrays up to 32 MB; False elsewhere."""
    name = ctypes.util.find_library("c")
    try:
        libc = ctypes.CDLL(name)
        trim_threshold, mmap_threshold = -1, -3       # M_TRIM_THRESHOLD, M_MMAP_THRESHOLD
        return bool(libc.mallopt(trim_threshold, 1 << 25) and
                    libc.mallopt(mmap_threshold, 1 << 25))
    except (OSError, AttributeError, TypeError):
        return False


# -- a chain of scalar gates ------------------------------------------------------------------

CHAIN_STEPS = ((add_forward, add_backward, "add", 0.5),
               (multiply_forward, multiply_backward, "multiply", 0.999))


def chain_graph(length):
    g = ComputationalGraph("chain")
    node = g.input("x")
    for k in range(length):
        _, _, layer, constant = CHAIN_STEPS[k % 2]
        node = g.gate(layer, node, constant)
    return g


def chain_by_hand(x, length):
    """Forward then backward through the chain, keeping every cache as the graph does."""
    caches = []
    for k in range(length):
        forward, _, _, constant = CHAIN_STEPS[k % 2]
        x, cache = forward(x, constant)
        caches.append(cache)
    grad = np.ones_like(x)
    for k in reversed(range(length)):
        grad = CHAIN_STEPS[k % 2][1](grad, caches[k])
    return x, grad, caches


def bench_chain(length, repeats):
    x = np.array(0.25)
    g = chain_graph(length)
    g.forward(x=x)  # builds the structure once, as a training loop would
    out, grad, _ = chain_by_hand(x, length)
    assert np.allclose(g.forward(x=x), out) and np.allclose(g.backward()["x"], grad)

    def through_graph():
        g.forward(x=x)
        g.backward()

    kept = [None]

    def by_hand():
        kept[0] = chain_by_hand(x, length)

    return best_times(through_graph, by_hand, repeats)


# -- a two-layer net ----------------------------------------------------------------------------

def bench_two_layer(batch, repeats, calls=50):
    rng = np.random.default_rng(0)
    d, h, c = 64, 100, 10
    x = rng.standard_normal((batch, d))
    y = rng.integers(0, c, batch)
    w1, b1 = rng.standard_normal((d, h)) / np.sqrt(d), np.zeros(h)
    w2, b2 = rng.standard_normal((h, c)) / np.sqrt(h), np.zeros(c)
    net = Sequential(("affine", {"W1": w1, "b1": b1}), "relu",
                     ("affine", {"W2": w2, "b2": b2}), loss="softmax_loss")

    def by_hand():
        z1, cache1 = affine_forward(x, w1, b1)
        a1, cache2 = relu_forward(z1)
        scores, cache3 = affine_forward(a1, w2, b2)
        loss, cache4 = softmax_loss_forward(scores, y)
        dscores = softmax_loss_backward(1.0, cache4)
        da1, dw2, db2 = affine_backward(dscores, cache3)
        dz1 = relu_backward(da1, cache2)
        dx, dw1, db1 = affine_backward(dz1, cache1)
        grads = {"x": dx, "W1": dw1, "b1": db1, "W2": dw2, "b2": db2}
        return loss, grads, (z1, a1, scores, cache1, cache2, cache3, cache4)

    loss, grads, _ = by_hand()
    assert np.isclose(net.forward(x=x, y=y), loss)
    assert all(np.allclose(net.backward()[k], v) for k, v in grads.items())

    def through_graph():
        for _ in range(calls):
            net.forward(x=x, y=y)
            net.backward()

    def many_by_hand():
        kept = None
        for _ in range(calls):
            kept = by_hand()  # noqa: F841 - alive until the next call, as in the graph

    graph_time, hand_time = best_times(through_graph, many_by_hand, repeats)
    check_time = bench_feed_check(net, through_graph, repeats, calls)
    return graph_time / calls, hand_time / calls, check_time / calls


def bench_feed_check(net, through_graph, repeats, calls):
    """The time of the unchanged-feeds check of `calls` passes: the fingerprints forward
    takes of the last pass's feeds and params, and backward's comparison with them."""
    fingerprints = net._run.fingerprints
    named = [(label, array) for label, array, _ in fingerprints]

    def check():
        for _ in range(calls):
            _fingerprints(named)
            _check_fingerprints(fingerprints, "backward")

    check_time, _ = best_times(check, through_graph, repeats)
    return check_time


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--length", type=int, default=20_000, help="gates in the chain")
    parser.add_argument("--batch", type=int, default=256)
    parser.add_argument("--repeats", type=int, default=5)
    options = parser.parse_args()
    if not keep_freed_memory():
        print("(mallopt unavailable: the two-layer ratio may swing with the allocator)")

    graph_time, hand_time = bench_chain(options.length, options.repeats)
    per_gate = (graph_time - hand_time) / options.length
    print(f"chain of {options.length} scalar gates, forward + backward:")
    print(f"  graph {graph_time * 1e3:8.1f} ms   by hand {hand_time * 1e3:8.1f} ms   "
          f"ratio {graph_time / hand_time:.2f}   overhead {per_gate * 1e6:.2f} us per gate")
    graph_time, hand_time, check_time = bench_two_layer(options.batch, options.repeats)
    print(f"two-layer net (64-100-10, softmax loss), batch {options.batch}, forward + backward:")
    print(f"  graph {graph_time * 1e6:8.1f} us   by hand {hand_time * 1e6:8.1f} us   "
          f"ratio {graph_time / hand_time:.2f}")
    print(f"  of the graph's time, the unchanged-feeds check {check_time * 1e6:.1f} us "
          f"({check_time / graph_time:.1%})")


if __name__ == "__main__":
    main()
