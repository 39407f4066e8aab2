"""Setup shared by the benchmarks that time gatelab against PyTorch: threads and timing.

    parser = argparse.ArgumentParser()
    add_threads_option(parser)
    args = parser.parse_args()
    threads = pin_threads(args.threads)   # BEFORE numpy or torch is imported
    import numpy as np
    import torch
    torch.set_num_threads(threads)
    print(thread_report(np, torch))

OpenBLAS fixes its thread count when it loads, so the environment variables must be set
before NumPy is first imported; this module imports neither NumPy nor torch.
"""

import os
import statistics
import time

THREAD_VARS = ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS")
# Thread pools spin after a parallel call before they sleep (OpenBLAS ~0.1 s); alternating
# with torch, a spinning pool takes a core from the other side. Short spins let each
# pool sleep before the other side's call starts. A value already in the environment wins.
SPIN_LIMITS = {"OPENBLAS_THREAD_TIMEOUT": "20", "GOMP_SPINCOUNT": "30000"}


def add_threads_option(parser):
    parser.add_argument("--threads", type=int, default=None,
                        help="BLAS and torch threads (default: OPENBLAS_NUM_THREADS if set, "
                             "else the CPUs this process may use)")


def chosen(parser, only, choices, what):
    """The comma-separated names in `only` (an option's value), each one of `choices`;
    a usage error of `parser` naming the others, which are `what` ("models", "rules")."""
    names = only.split(",")
    unknown = sorted(set(names) - set(choices))
    if unknown:
        parser.error(f"unknown {what} {unknown}; choose from {', '.join(choices)}")
    return names


def pin_threads(threads=None):
    """Set the BLAS thread variables and the spin limits; return the BLAS thread count,
    which torch must then be given (``torch.set_num_threads``).

    An explicit `threads` overrides the environment; None keeps a count already set there
    (OPENBLAS_NUM_THREADS, then OMP_NUM_THREADS) or else uses every CPU this process may
    run on.
    """
    if threads is None:
        threads = os.environ.get("OPENBLAS_NUM_THREADS") or os.environ.get("OMP_NUM_THREADS")
        threads = int(threads) if threads else available_cpus()
    if threads < 1:
        raise ValueError(f"threads must be >= 1; got {threads}")
    for var in THREAD_VARS:
        os.environ[var] = str(threads)
    for var, value in SPIN_LIMITS.items():
        os.environ.setdefault(var, value)
    return threads


def available_cpus():
    if hasattr(os, "sched_getaffinity"):
        return len(os.sched_getaffinity(0))
    return os.cpu_count() or 1


def thread_report(np, torch):
    """One line: versions and both sides' thread counts, to print above the results."""
    return (f"numpy {np.__version__}, torch {torch.__version__}; BLAS threads "
            f"{os.environ['OPENBLAS_NUM_THREADS']}, torch threads {torch.get_num_threads()}")


def seconds(func, clock=time.perf_counter):
    start = clock()
    func()
    return clock() - start


def median_times(funcs, repeats, clock=time.perf_counter):
    """Median seconds of each function, calls interleaved (so that all see the same
    machine load), after one warm-up call each. `clock` is wall time by default;
    ``time.process_time`` counts only the time this process ran, which on a busy machine
    leaves out the waits for a core (meaningful with one thread, where CPU time is the
    time the work took)."""
    for func in funcs:
        func()
    times = [[] for _ in funcs]
    for _ in range(repeats):
        for func, spent in zip(funcs, times):
            spent.append(seconds(func, clock))
    return [statistics.median(t) for t in times]
