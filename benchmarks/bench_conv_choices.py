"""The measurements behind the tuned choices of the fast conv and max pool, as ratios.

    python benchmarks/bench_conv_choices.py               # all seven, float32 and float64
    python benchmarks/bench_conv_choices.py --threads 1   # steadier on a busy machine
    python benchmarks/bench_conv_choices.py --threads 1 --cpu-time   # steadier still

Each choice is timed against its alternative in the same run, calls alternating (see
`_timing.median_times`), and printed as a ratio to the choice the library makes (above
1: the alternative is slower). Every timing is forward + backward.

- ``chunk``: `layers.conv.CHUNK_BYTES`, the bytes of im2col columns per chunk of the
  batch, on the (64, 32, 32, 32) -> 64 channels 3x3 conv: 0.5 to 64 MB, and the whole
  batch in one im2col, each against the library's 2 MB.
- ``scratch``: the conv's scratch buffers kept between calls, against released before
  every call (`layers.clear_scratch`), on a small conv, (16, 3, 32, 32) -> 32 channels,
  where allocating them afresh costs the most relative to the work.
- ``db``: the conv's bias gradient out of the weight gradient's product, through the
  row of ones that ends the columns, against a product of its own with a vector of ones
  after a product without that row, and against ``dout2.sum(axis=1)``, on the chunks of
  the (64, 32, 32, 32) -> 64 conv and of the (64, 3, 32, 32) -> 32 one with a 7x7 kernel.
- ``bias``: the conv's bias added by the forward's product, as the weights' last column
  against the row of ones that ends the columns, against the product without them and
  the bias added while the product is copied out, on the convs of ``GRID_CASES``.
- ``dw``: the conv's weight gradient summed chunk by chunk as a product whose rows are
  the longer of K and F ((cols @ dout2.T).T or dout2 @ cols.T), against the other form,
  on the chunks of the (64, 32, 32, 32) -> 64 conv (K = 288) and of the
  (64, 3, 32, 32) -> 32 one (K = 27).
- ``pool``: `layers.pooling.POOL_CHUNK_BYTES` (2 MB of planes per chunk) against the
  whole batch at once, for the 2x2 stride-2 max pool of (64, 32, 32, 32).
- ``grid``: `layers.conv.FORWARD_WIDE`, the forward lowered onto the output's grid,
  against the padded-row grid of the backward, on the stride-1 convs of
  ``GRID_CASES`` (PyTorch's benchmarks' three and the 7x7 first layer of CS231n's
  ThreeLayerConvNet); forward alone and forward + backward.
"""

import argparse
import importlib
import os
import sys
import time

from _timing import add_threads_option, median_times, pin_threads

MB = 1 << 20
WHOLE = 1 << 40        # more bytes than any batch: one chunk
CHUNKS_MB = (0.5, 1, 4, 8, 16, 64)
CONV_SHAPE, CONV_F = (64, 32, 32, 32), 64
SMALL_SHAPE, SMALL_F = (16, 3, 32, 32), 32
BIG_BATCH_SMALL_SHAPE = (64, 3, 32, 32)
POOL_SHAPE = (64, 32, 32, 32)
# (input shape, filters, kernel size) of stride-1 convs padded to keep their size.
GRID_CASES = (((64, 3, 32, 32), 32, 7), ((64, 3, 32, 32), 32, 3),
              ((64, 32, 32, 32), 64, 3), ((32, 64, 16, 16), 128, 3))


def parse_args(doc=__doc__, sections="chunk,scratch,db,bias,dw,pool,grid", repeats=11):
    """The options of a choices script whose docstring is `doc`."""
    parser = argparse.ArgumentParser(description=doc.split("\n")[0])
    parser.add_argument("--repeats", type=int, default=repeats)
    parser.add_argument("--dtype", choices=("float32", "float64", "both"), default="both")
    parser.add_argument("--only", default=sections,
                        help="comma-separated sections (default: all)")
    parser.add_argument("--cpu-time", action="store_true",
                        help="time by the process's CPU time instead of wall time: with "
                             "--threads 1 on a busy machine, leaves out the waits for a core")
    add_threads_option(parser)
    return parser.parse_args()


def with_setting(module, name, value, func):
    """func, run with module.name set to value (and set back afterwards)."""
    def run():
        saved = getattr(module, name)
        setattr(module, name, value)
        try:
            return func()
        finally:
            setattr(module, name, saved)
    return run


def conv_pass(np, layers, rng, shape, filters, dtype, size=3, backward=True):
    """A closure running the fast conv's forward and backward (or only its forward) on
    fixed random data: a size x size kernel, stride 1, padding that keeps the size."""
    x = rng.standard_normal(shape).astype(dtype)
    w = (rng.standard_normal((filters, shape[1], size, size))
         / np.sqrt(size * size * shape[1])).astype(dtype)
    b = np.zeros(filters, dtype)
    dout = rng.standard_normal((shape[0], filters, *shape[2:])).astype(dtype)
    param = {"stride": 1, "pad": size // 2}

    def run():
        out, cache = layers.conv_forward(x, w, b, param)
        return layers.conv_backward(dout, cache) if backward else out
    return run


CLOCK = time.perf_counter


def report(label, choice, alternatives, repeats):
    """Time the choice and its alternatives, interleaved; print each as a ratio to it."""
    times = median_times([choice, *alternatives.values()], repeats, CLOCK)
    print(f"  {label}: library's choice {1e3 * times[0]:.2f} ms; "
          + ", ".join(f"{name} {spent / times[0]:.2f}"
                      for name, spent in zip(alternatives, times[1:], strict=True)))


def chunk_section(np, layers, conv, rng, dtype, repeats):
    run = conv_pass(np, layers, rng, CONV_SHAPE, CONV_F, dtype)
    alternatives = {f"{mb:g} MB": with_setting(conv, "CHUNK_BYTES", int(mb * MB), run)
                    for mb in CHUNKS_MB}
    alternatives["whole batch"] = with_setting(conv, "CHUNK_BYTES", WHOLE, run)
    report(f"chunk, {dtype}, time / time at {conv.CHUNK_BYTES / MB:g} MB", run,
           alternatives, repeats)


def scratch_section(np, layers, conv, rng, dtype, repeats):
    run = conv_pass(np, layers, rng, SMALL_SHAPE, SMALL_F, dtype)

    def released_first():
        layers.clear_scratch()
        return run()
    report(f"scratch, {dtype}, time / time with buffers kept", run,
           {"released before each call": released_first}, repeats)


def conv_lowering(np, conv, dtype, shape=CONV_SHAPE, size=3):
    """The library's backward `Im2col` for a size x size conv of stride 1 on `shape`,
    padded to keep its size."""
    windows = conv.conv_windows(conv.Args("conv_backward"),
                                {"stride": 1, "pad": size // 2}, shape[2:], (size, size))
    return conv.Im2col(shape, windows, np.dtype(dtype))


def db_forms(np, pairs, k, filters, dtype):
    """db summed over the (cols, dout2) `pairs` (cols ending in a row of ones): out of
    dw's product with K + 1 rows, by a product with ones of its own, and by a sum."""
    ones = np.ones(max(dout2.shape[1] for _, dout2 in pairs), dtype)

    def in_dw():
        dw = np.zeros((k + 1, filters), dtype)
        for cols, dout2 in pairs:
            dw += cols @ dout2.T
        return dw[-1].copy()

    def apart(db_of):
        def run():
            dw = np.zeros((k, filters), dtype)
            db = np.zeros(filters, dtype)
            for cols, dout2 in pairs:
                dw += cols[:-1] @ dout2.T
                db += db_of(dout2)
            return db
        return run
    return in_dw, {"a product with ones of its own": apart(lambda d: d @ ones[:d.shape[1]]),
                   "dout2.sum(axis=1)": apart(lambda d: d.sum(axis=1))}


def db_section(np, layers, conv, rng, dtype, repeats):
    # The (K + 1, m*T) columns ending in a row of ones and the (F, m*T) chunks of dout
    # whose products conv_backward sums, at the library's chunk size.
    for shape, filters, size in ((CONV_SHAPE, CONV_F, 3), (BIG_BATCH_SMALL_SHAPE, SMALL_F, 7)):
        lowering = conv_lowering(np, conv, dtype, shape, size)
        pairs = []
        for batch in lowering.chunks():
            m = len(range(shape[0])[batch])
            cols = rng.standard_normal((lowering.k + 1, m * lowering.t)).astype(dtype)
            cols[-1] = 1
            pairs.append((cols, rng.standard_normal((filters, m * lowering.t)).astype(dtype)))
        choice, alternatives = db_forms(np, pairs, lowering.k, filters, dtype)
        report(f"db, {dtype}, {shape} -> {filters} {size}x{size}, time / time with db out "
               f"of dw's product", choice, alternatives, repeats)


def bias_section(np, layers, conv, rng, dtype, repeats):
    # The forward's (K + 1, m*T) chunks of columns ending in a row of ones, at the library's
    # chunk size: the bias as the weights' last column, against the product without it and
    # the bias added while copying the product out.
    for shape, filters, size in GRID_CASES:
        windows = conv.conv_windows(conv.Args("conv_forward"),
                                    {"stride": 1, "pad": size // 2}, shape[2:], (size, size))
        lowering = conv.Im2col(shape, windows, np.dtype(dtype), wide=False)
        w2 = rng.standard_normal((filters, lowering.k + 1)).astype(dtype)
        chunks = []
        for batch in lowering.chunks():
            cols = rng.standard_normal((lowering.k + 1, len(range(shape[0])[batch])
                                        * lowering.t)).astype(dtype)
            cols[-1] = 1
            chunks.append((cols, np.empty((cols.shape[1] // lowering.t, filters,
                                           *windows.out), dtype)))
        choice, alternative = bias_forms(np, lowering, w2, chunks)
        report(f"bias, {dtype}, {shape} -> {filters} {size}x{size}, time / time with the "
               f"bias in the product", choice, {"added after it": alternative}, repeats)


def bias_forms(np, lowering, w2, chunks):
    """The forward's products of `w2` (F, K + 1) with the column chunks, copied out into
    each chunk's output: the bias (w2's last column) in the product or added after it."""
    def in_product():
        for cols, out in chunks:
            lowering.unrows(lowering.product(w2, cols, "out"), out)

    def after():
        for cols, out in chunks:
            product = lowering.product(w2[:, :-1], cols[:-1], "out")
            grid = product.reshape(w2.shape[0], out.shape[0], -1).transpose(1, 0, 2)
            np.add(grid, w2[:, -1:], out=out.reshape(grid.shape))
    return in_product, after


def dw_forms(np, pairs, k_f, dtype):
    """dw summed over the (cols, dout2) `pairs` as (K, F) products and as (F, K) ones."""
    def k_rows():
        dw_t = np.zeros(k_f, dtype)
        for cols, dout2 in pairs:
            dw_t += cols @ dout2.T
        return dw_t.T.copy()

    def f_rows():
        dw = np.zeros(k_f[::-1], dtype)
        for cols, dout2 in pairs:
            dw += dout2 @ cols.T
        return dw
    return k_rows, f_rows


def dw_section(np, layers, conv, rng, dtype, repeats):
    # The (K, m*T) columns and (F, m*T) dout chunks whose products conv_backward sums,
    # on a conv with K > F and on one with K < F.
    for shape, filters in ((CONV_SHAPE, CONV_F), (BIG_BATCH_SMALL_SHAPE, SMALL_F)):
        lowering = conv_lowering(np, conv, dtype, shape)
        pairs = [(rng.standard_normal((lowering.k, m * lowering.t)).astype(dtype),
                  rng.standard_normal((filters, m * lowering.t)).astype(dtype))
                 for m in (len(range(shape[0])[batch]) for batch in lowering.chunks())]
        k_rows, f_rows = dw_forms(np, pairs, (lowering.k, filters), dtype)
        choice, other = (k_rows, f_rows) if lowering.k >= filters else (f_rows, k_rows)
        report(f"dw, {dtype}, {shape} -> {filters} (K = {lowering.k}), time / time with "
               f"the longer of K and F as rows", choice, {"the other": other}, repeats)


def pool_section(np, layers, pooling, rng, dtype, repeats):
    x = rng.standard_normal(POOL_SHAPE).astype(dtype)
    dout = rng.standard_normal((*POOL_SHAPE[:2], 16, 16)).astype(dtype)
    param = {"pool_height": 2, "pool_width": 2, "stride": 2}

    def run():
        _, cache = layers.max_pool_forward(x, param)
        return layers.max_pool_backward(dout, cache)
    report(f"pool, {dtype}, time / time at {pooling.POOL_CHUNK_BYTES / MB:g} MB", run,
           {"whole batch": with_setting(pooling, "POOL_CHUNK_BYTES", WHOLE, run)}, repeats)


def grid_section(np, layers, conv, rng, dtype, repeats):
    for shape, filters, size in GRID_CASES:
        for backward, part in ((False, "forward"), (True, "forward + backward")):
            run = conv_pass(np, layers, rng, shape, filters, dtype, size, backward)
            report(f"grid, {dtype}, {shape} -> {filters} {size}x{size}, {part}, time / time "
                   f"with FORWARD_WIDE = {conv.FORWARD_WIDE}", run,
                   {f"FORWARD_WIDE = {not conv.FORWARD_WIDE}":
                    with_setting(conv, "FORWARD_WIDE", not conv.FORWARD_WIDE, run)}, repeats)


def main():
    args = parse_args()
    threads = pin_threads(args.threads)
    import numpy as np

    sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))
    import layers
    conv = importlib.import_module("layers.conv")
    pooling = importlib.import_module("layers.pooling")

    sections = {"chunk": (chunk_section, conv), "scratch": (scratch_section, conv),
                "db": (db_section, conv), "bias": (bias_section, conv),
                "dw": (dw_section, conv),
                "pool": (pool_section, pooling), "grid": (grid_section, conv)}
    run_sections(np, layers, sections, args, threads)


def run_sections(np, layers, sections, args, threads):
    """Run the sections `args.only` names, each ``name: (section, module)``, per dtype."""
    global CLOCK
    if args.cpu_time:
        CLOCK = time.process_time
    wanted = args.only.split(",")
    unknown = sorted(set(wanted) - set(sections))
    if unknown:
        raise SystemExit(f"--only: unknown section(s) {', '.join(unknown)}; "
                         f"choose from {', '.join(sections)}")
    dtypes = ["float32", "float64"] if args.dtype == "both" else [args.dtype]
    print(f"numpy {np.__version__}, BLAS threads {threads}; median of {args.repeats} "
          f"interleaved calls, {'CPU' if args.cpu_time else 'wall'} time; ratio = time / "
          f"time of the library's choice")
    rng = np.random.default_rng(0)
    for name in wanted:
        section, module = sections[name]
        for dtype in dtypes:
            section(np, layers, module, rng, dtype, args.repeats)


if __name__ == "__main__":
    main()
