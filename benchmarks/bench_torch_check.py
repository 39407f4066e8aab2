"""`check_torch` next to ``torch.autograd.gradcheck`` on hand-written torch Functions.

    python benchmarks/bench_torch_check.py              # 50 seeds of correct Functions
    python benchmarks/bench_torch_check.py --seeds 10   # a quicker false-alarm sweep

On the catalogue of `torch_mutations` (eleven ``torch.autograd.Function``s with a
hand-written backward, and every kind of planted backward bug where it applies), three
checkers, each at its defaults, in float64 and float32:

- ``gradcheck full``: ``torch.autograd.gradcheck(fn, inputs)`` (eps 1e-6, atol 1e-5,
  rtol 1e-3, the whole Jacobian);
- ``gradcheck fast``: the same with ``fast_mode=True`` (one random projection);
- ``check_torch``: gatelab's ``checks.check_torch(fn, *inputs)``.

Printed: what each catches of the planted bugs, per kind and dtype (and how many of
check_torch's failing reports carry a hint); its false alarms on the correct Functions
at seeds 0..N-1; and the cost of one check of a correct Function (time, forward and
backward calls), with time as a ratio to gradcheck full measured in the same run. torch
and BLAS run on one thread: the calls are tiny.
"""

import argparse
import time
import warnings
from collections import Counter

from _timing import add_threads_option, pin_threads, thread_report

DTYPES = ("float64", "float32")
METHODS = ("gradcheck full", "gradcheck fast", "check_torch")
REPEATS = 3


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--seeds", type=int, default=50, metavar="N",
                        help="false alarms: seeds 0..N-1 of each correct Function "
                             "(default 50)")
    add_threads_option(parser)
    args = parser.parse_args()
    threads = pin_threads(args.threads or 1)

    import numpy as np
    import torch

    torch.set_num_threads(threads)
    print(thread_report(np, torch))
    bench = Bench(torch)
    bench.detection()
    bench.false_alarms(args.seeds)
    bench.cost()


class Bench:
    def __init__(self, torch):
        import torch_mutations
        from checks import check_torch

        self.torch = torch
        self.catalogue = torch_mutations
        self.check_torch = check_torch

    def verdicts(self, fn, inputs, name=None):
        """Whether each method passes `fn` at `inputs`; and check_torch's report."""
        passed = {}
        for method in METHODS[:2]:
            passed[method] = self.gradcheck(fn, inputs, fast_mode=method.endswith("fast"))
        report = self.check_torch(fn, *inputs, name=name)
        passed["check_torch"] = report.ok
        return passed, report

    def gradcheck(self, fn, inputs, fast_mode):
        """gradcheck's verdict; an exception inside it (a failed internal check) is a fail."""
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # "inputs are not double precision" in float32
            try:
                return self.torch.autograd.gradcheck(fn, inputs, fast_mode=fast_mode,
                                                     raise_exception=False)
            except RuntimeError:
                return False

    def detection(self):
        """Planted bugs caught, per kind, by each method in each dtype."""
        caught = {(m, d): Counter() for m in METHODS for d in DTYPES}
        planted, hinted = Counter(), Counter()
        ineffective = 0
        start = time.perf_counter()
        for dtype in DTYPES:
            for bug in self.catalogue.planted(dtype):
                passed, report = self.verdicts(bug.fn, bug.inputs, bug.label)
                if dtype == "float64" and not bug.effective:
                    ineffective += 1
                    continue
                planted[dtype, bug.kind] += 1
                for method in METHODS:
                    caught[method, dtype][bug.kind] += not passed[method]
                if not report.ok and any(a.hint for a in report.arguments):
                    hinted[dtype] += 1
        seconds = time.perf_counter() - start
        layers = ", ".join(layer.name for layer in self.catalogue.LAYERS)
        print(f"\ndetection: planted backward bugs in {len(self.catalogue.LAYERS)} "
              f"hand-written Functions ({layers}), seed 0 inputs")
        header = ("kind", "planted", *(f"{d} {m.replace('gradcheck ', '')}" for d in DTYPES
                                       for m in METHODS))
        rows = []
        for kind in self.catalogue.KINDS:
            rows.append((kind, planted["float64", kind],
                         *(caught[m, d][kind] for d in DTYPES for m in METHODS)))
        total = sum(planted[key] for key in planted if key[0] == "float64")
        rows.append(("all", total, *(sum(caught[m, d].values()) for d in DTYPES
                                     for m in METHODS)))
        print_table(header, rows)
        print(f"check_torch's failing reports with a hint: float64 {hinted['float64']}, "
              f"float32 {hinted['float32']}; bugs that changed no gradient (left out): "
              f"{ineffective}; {seconds:.0f} s")
        print("(full, fast: gradcheck; in float32 it also fails every correct Function, "
              "see the false alarms)")

    def false_alarms(self, seeds):
        """Failures of the correct Functions at seeds 0..seeds-1."""
        fails = Counter()
        start = time.perf_counter()
        for layer in self.catalogue.LAYERS:
            for dtype in DTYPES:
                for seed in range(seeds):
                    inputs = self.catalogue.example(layer, dtype, seed)
                    fn = self.catalogue.function(layer).apply
                    passed, _ = self.verdicts(fn, inputs)
                    for method in METHODS:
                        fails[method, dtype] += not passed[method]
        runs = len(self.catalogue.LAYERS) * seeds
        print(f"\nfalse alarms: the correct Functions at seeds 0..{seeds - 1} "
              f"({time.perf_counter() - start:.0f} s)")
        print_table(("method", *(f"{d} failures" for d in DTYPES)),
                    [(m, *(f"{fails[m, d]}/{runs}" for d in DTYPES)) for m in METHODS])

    def cost(self):
        """Time and calls of one check of each correct Function at seed 0, per method."""
        catalogue = self.catalogue
        print(f"\ncost of one check of a correct Function (mean over the "
              f"{len(catalogue.LAYERS)}, seed 0; time: median of {REPEATS} interleaved "
              "rounds)")
        rows = []
        for dtype in DTYPES:
            cases = [(layer, catalogue.example(layer, dtype, 0)) for layer in catalogue.LAYERS]
            calls = {m: catalogue.Calls() for m in METHODS}
            times = {m: [] for m in METHODS}
            for _ in range(REPEATS):
                for method in METHODS:
                    counted = catalogue.Calls()
                    start = time.perf_counter()
                    for layer, inputs in cases:
                        self.run(method, catalogue.function(layer, calls=counted).apply,
                                 inputs)
                    times[method].append(time.perf_counter() - start)
                    calls[method] = counted
            median = {m: sorted(t)[len(t) // 2] / len(cases) for m, t in times.items()}
            for method in METHODS:
                rows.append((dtype, method, f"{1e3 * median[method]:.1f}",
                             f"{median[method] / median['gradcheck full']:.2f}",
                             f"{calls[method].forward / len(cases):.0f}",
                             f"{calls[method].backward / len(cases):.0f}"))
        print_table(("dtype", "method", "ms per check", "time / gradcheck full",
                     "forward calls", "backward calls"), rows)

    def run(self, method, fn, inputs):
        if method == "check_torch":
            return self.check_torch(fn, *inputs).ok
        return self.gradcheck(fn, inputs, fast_mode=method.endswith("fast"))


def print_table(header, rows):
    from checks.report import format_table

    print("\n".join(format_table(header, rows)))


if __name__ == "__main__":
    main()
