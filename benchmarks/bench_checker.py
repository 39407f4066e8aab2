"""Measure the gradient checker against its targets, in one run.

    python benchmarks/bench_checker.py                  # everything, 200 seeds per layer
    python benchmarks/bench_checker.py --seeds 20       # a quicker false-alarm sweep
    python benchmarks/bench_checker.py --only mutations,speed

Sections (``--only`` picks some):

- ``mutations``: every (planted bug, site) pair of `mutations.CATALOGUE` on the
  registered example inputs (seed 0; ``--mutation-seeds`` for more), float64 and float32,
  through `check_layer`. A bug whose corrupted gradients equal the correct ones, or differ
  only by rounding noise, planted nothing and is left out (and counted). A site whose
  correct version does not pass, or sits at a kink, is left out too, and listed. Target:
  100% judged as the catalogue expects in both dtypes: a failed check for a bug (through
  the problem it names, for a backward not linear in dout), a passed check with a
  warning for a backward that writes into dout or into its cache.
- ``false-alarms``: every registered layer, correct, at seeds 0..N-1, float64 and
  float32. Target: 0 failures and 0 warnings over N >= 200.
- ``large``: one wrong element of a 10^7-element argument: the index the check names,
  its time against one forward and backward of the layer, and its peak memory (traced
  by tracemalloc) against the argument's size.
- ``speed``: wall time of ``python -m checks`` over the whole library (target < 30 s on 2
  cores), and of a directional check of conv with 1e6 input elements (target < 2 s).
- ``torch``: PyTorch's ``torch.autograd.gradcheck``, full and ``fast_mode=True``, on the
  same functions: cost (time, forward and backward calls) on six representative layers
  written with torch ops; what it catches of the same catalogue in every layer (float64,
  the corrupted numpy backward plugged in through a ``torch.autograd.Function``); and
  its false alarms in float32 on the six layers.

One summary block with every target number is printed last.
"""

import argparse
import subprocess
import sys
import time
from collections import Counter, defaultdict
from dataclasses import dataclass, field
from functools import partial
from pathlib import Path

import numpy as np

from checks import check_layer
from checks.report import format_table
from layers.registry import REGISTRY
from mutations import CATALOGUE, planted

ROOT = Path(__file__).resolve().parent.parent
DTYPES = ("float64", "float32")
SECTIONS = ("mutations", "false-alarms", "large", "speed", "torch")
REPRESENTATIVE = ("affine", "sigmoid", "tanh", "softmax_loss", "layernorm", "batchnorm")


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--seeds", type=int, default=200, metavar="N",
                        help="false alarms: example seeds 0..N-1 per layer (default 200)")
    parser.add_argument("--mutation-seeds", type=int, default=1, metavar="M",
                        help="mutations: plant in the examples of seeds 0..M-1 (default 1)")
    parser.add_argument("--large", type=float, default=1e7, metavar="N",
                        help="large: elements of the argument (default 1e7)")
    parser.add_argument("--only", default=",".join(SECTIONS),
                        help=f"comma-separated sections among {', '.join(SECTIONS)}")
    args = parser.parse_args()
    chosen = [s.strip() for s in args.only.split(",") if s.strip()]
    unknown = sorted(set(chosen) - set(SECTIONS))
    if unknown:
        parser.error(f"--only: unknown section(s) {', '.join(unknown)}; choose among "
                     f"{', '.join(SECTIONS)}")

    summary = []
    if "mutations" in chosen:
        summary += mutation_section(args.mutation_seeds)
    if "false-alarms" in chosen:
        summary += false_alarm_section(args.seeds)
    if "large" in chosen:
        summary += large_section(args.large)
    if "speed" in chosen:
        summary += speed_section()
    if "torch" in chosen:
        summary += torch_section()
    print("\n" + "=" * 88)
    print("summary (targets)")
    for line in summary:
        print(f"  {line}")


def heading(title):
    print(f"\n== {title} " + "=" * max(0, 84 - len(title)), flush=True)


def check(forward, backward, args, kwargs, name, **options):
    return check_layer(forward, backward, *args, name=name, **options, **kwargs)


# --- (a) mutation testing -----------------------------------------------------------------

@dataclass
class Tally:
    """Outcomes of one mutation kind in one dtype."""

    detected: int = 0
    missed: list = field(default_factory=list)
    identical: int = 0
    rounding: int = 0
    by_contract: int = 0  # detected through a contract problem only, not a gradient

    @property
    def total(self):
        return self.detected + len(self.missed)


def mutation_section(seeds):
    examples = f"seeds 0..{seeds - 1}" if seeds > 1 else "seed 0"
    heading(f"(a) mutation testing: every applicable (planted bug, site) pair, example "
            f"{examples}")
    tallies = {dtype: defaultdict(Tally) for dtype in DTYPES}
    left_out = {}
    start = time.perf_counter()
    for dtype in DTYPES:
        for seed in range(seeds):
            for mutation, bug in planted(dtype, seed, left_out=left_out):
                report = check(bug.forward, bug.backward, bug.site.args, bug.site.kwargs,
                               bug.label, seed=seed)
                tally = tallies[dtype][mutation.kind]
                if not bug.effective:
                    tally.identical += bug.identical
                    tally.rounding += not bug.identical
                elif not mutation.judged_right(report):
                    tally.missed.append(f"{bug.label} (seed {seed})")
                else:
                    tally.detected += 1
                    tally.by_contract += mutation.expect == "fail" and not mutation.reported \
                        and all(a.status != "FAIL" for a in report.arguments)
    seconds = time.perf_counter() - start

    header = ("kind (expected)", *(f"{d} judged right" for d in DTYPES),
              *(f"{d} not planted" for d in DTYPES))
    rows = []
    for mutation in CATALOGUE:
        expected = "warning, pass" if mutation.expect == "warn" else (
            f"fail: {mutation.reported}" if mutation.reported else "fail")
        cells = [f"{mutation.kind} ({expected})"
                 + ("" if mutation.target else " (not a target)")]
        cells += [_fraction(tallies[d][mutation.kind]) for d in DTYPES]
        cells += [f"{tallies[d][mutation.kind].identical} identical + "
                  f"{tallies[d][mutation.kind].rounding} rounding" for d in DTYPES]
        rows.append(cells)
    totals = {d: _combined([tallies[d][m.kind] for m in CATALOGUE if m.target])
              for d in DTYPES}
    rows.append(["all target kinds", *(_fraction(totals[d]) for d in DTYPES),
                 *(f"{totals[d].identical} identical + {totals[d].rounding} rounding"
                   for d in DTYPES)])
    print_table(header, rows)
    print(f"({seconds:.1f} s; 'not planted': the corrupted float64 gradients were "
          f"identical to the correct ones, or differed by less than 1e-8 of the layer's "
          f"largest gradient)")
    for dtype in DTYPES:
        contract = sum(t.by_contract for t in tallies[dtype].values())
        if contract:
            print(f"{dtype}: {contract} detections came from a contract problem, not a "
                  f"gradient comparison")
        for kind, tally in tallies[dtype].items():
            for label in tally.missed:
                print(f"MISSED {dtype} {kind}: {label}")
    for name, reason in sorted(left_out.items()):
        print(f"site left out: {name}: {reason}")

    random_kind = next(m.kind for m in CATALOGUE if not m.target)
    lines = [f"mutations judged right, {d}: {_fraction(totals[d])} (target 100%); "
             f"{totals[d].identical + totals[d].rounding} not planted (gradient unchanged "
             f"or changed below rounding)" for d in DTYPES]
    lines.append(f"{random_kind} (not a target): " + ", ".join(
        f"{d} {_fraction(tallies[d][random_kind])}" for d in DTYPES))
    if left_out:
        lines.append(f"sites left out (correct version fails, or kinks): {len(left_out)}")
    return lines


def _combined(tallies):
    total = Tally()
    for tally in tallies:
        total.detected += tally.detected
        total.missed += tally.missed
        total.identical += tally.identical
        total.rounding += tally.rounding
        total.by_contract += tally.by_contract
    return total


def _fraction(tally):
    rate = 100 * tally.detected / tally.total if tally.total else float("nan")
    return f"{tally.detected}/{tally.total} ({rate:.1f}%)"


# --- (b) false alarms ---------------------------------------------------------------------

def false_alarm_section(seeds):
    heading(f"(b) false alarms: every registered layer, correct, seeds 0..{seeds - 1}, "
            f"float64 and float32")
    import layers  # noqa: F401 - importing registers every layer of the library

    specs = sorted((s for s in REGISTRY.values() if s.module.startswith("layers.")),
                   key=lambda s: s.name)
    runs, failures, with_kinks = Counter(), defaultdict(list), Counter()
    warned = defaultdict(list)
    closest = []  # (error / its tolerance, which comparison, layer, dtype, seed) of passes
    start = time.perf_counter()
    for spec in specs:
        for dtype in DTYPES:
            for seed in range(seeds):
                example = spec.example(np.random.default_rng(seed), dtype)
                report = check(spec.forward, spec.backward, example.args, example.kwargs,
                               spec.name, seed=seed)
                runs[dtype] += 1
                with_kinks[dtype] += any(a.kinks for a in report.arguments)
                if not report.ok:
                    failures[dtype].append((spec, seed, report))
                if report.warnings:
                    warned[dtype].append((spec, seed, report))
                elif report.ok:
                    closest += _margins(report, spec.name, dtype, seed)
                    closest = sorted(closest, reverse=True)[:5]
    seconds = time.perf_counter() - start
    for dtype in DTYPES:
        print(f"{dtype}: {len(failures[dtype])} failures and {len(warned[dtype])} runs with "
              f"warnings in {runs[dtype]} runs ({len(specs)} layers x {seeds} seeds); "
              f"{with_kinks[dtype]} runs reported elements at kinks (not failures)")
        for spec, seed, report in (failures[dtype] + warned[dtype])[:20]:
            print(f"FALSE ALARM {dtype} {spec.name} ({spec.module}) seed {seed}:")
            print("    " + str(report).replace("\n", "\n    "))
    print(f"({seconds:.1f} s)")
    print("closest passes (largest error over its tolerance among the correct runs):")
    for ratio, what, name, dtype, seed in closest:
        print(f"  {ratio:.2f} of the tolerance: {what}, {name} {dtype} seed {seed}")
    total = sum(len(f) for f in failures.values())
    layers_failing = sorted({spec.name for f in failures.values() for spec, _, _ in f})
    line = (f"false alarms: {total} in {sum(runs.values())} runs ({len(specs)} layers x "
            f"{seeds} seeds x 2 dtypes) (target 0); runs with warnings: "
            f"{sum(len(w) for w in warned.values())} (target 0)")
    if layers_failing:
        line += f"; layers: {', '.join(layers_failing)}"
    lines = [line]
    if closest:
        ratio, what, name, dtype, seed = closest[0]
        lines.append(f"closest pass: {ratio:.2f} of the tolerance ({what}, {name} {dtype} "
                     f"seed {seed})")
    return lines


def _margins(report, name, dtype, seed):
    """(error / tolerance, comparison, layer, dtype, seed) of each compared argument."""
    found = []
    for arg in report.arguments:
        if arg.status == "no gradient":
            continue
        if not np.isnan(arg.max_rel_error):
            found.append((arg.max_rel_error / report.tolerance,
                          f"{arg.name} against central differences", name, dtype, seed))
        if not np.isnan(arg.precision_error):
            found.append((arg.precision_error / report.precision_tolerance,
                          f"{arg.name} float32 backward against float64", name, dtype, seed))
    return found


# --- (c) one wrong element of a large argument -------------------------------------------

def sine_forward(x):
    return np.sin(x), x


def sine_backward(dout, x):
    return dout * np.cos(x)


def large_section(size):
    """One wrong element of a `size`-element argument: located, how fast, in what memory."""
    import tracemalloc

    size = int(size)
    heading(f"(c) one wrong element of a {size:,}-element argument (sine, float64)")
    wrong = (1234567 % size,)

    def one_wrong_backward(dout, x):
        dx = sine_backward(dout, x)
        dx[wrong] *= 2
        return dx

    x = np.random.default_rng(0).standard_normal(size)
    start = time.perf_counter()
    sine_backward(np.ones_like(x), sine_forward(x)[1])
    one_pass = time.perf_counter() - start
    lines = []
    for label, backward in (("one element wrong", one_wrong_backward),
                            ("correct", sine_backward)):
        tracemalloc.start()
        start = time.perf_counter()
        report = check_layer(sine_forward, backward, x, name="sine")
        seconds = time.perf_counter() - start
        peak = tracemalloc.get_traced_memory()[1]
        tracemalloc.stop()
        [row] = report.arguments
        found = (f"names {row.worst_index} (planted at {wrong})" if not report.ok
                 else "passes")
        line = (f"{label}: {'ok' if report.ok else 'FAILED'}, {found}; {seconds:.1f} s = "
                f"{seconds / one_pass:.0f} x one forward+backward, {report.evaluations} "
                f"forward evaluations; peak memory {peak / 2**20:.0f} MiB = "
                f"{peak / x.nbytes:.1f} x the argument ({x.nbytes / 2**20:.0f} MiB)")
        print(line, flush=True)
        lines.append(f"{size:,}-element argument, {line}")
    return lines


# --- (d) speed ----------------------------------------------------------------------------

def speed_section(repeats=5):
    heading(f"(d) speed (best of {repeats}: the machine is shared, the minimum is the "
            "least disturbed run)")
    lines = []
    for extra in ([], ["--dtype", "both"]):
        command = [sys.executable, "-m", "checks", *extra]
        seconds, done = best_of(repeats, partial(subprocess.run, command, cwd=ROOT,
                                                 capture_output=True, text=True))
        last = done.stdout.strip().splitlines()[-1] if done.stdout.strip() else done.stderr
        shown = " ".join(["python -m checks", *extra])
        print(f"{shown}: {seconds:.1f} s wall, exit {done.returncode}: {last}")
        target = " (target < 30 s)" if not extra else ""
        lines.append(f"{shown}: {seconds:.1f} s{target}, exit code {done.returncode}")
    lines += conv_speed(repeats)
    return lines


def best_of(repeats, run):
    """(the shortest wall time of `repeats` calls of `run`, the last call's result)."""
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        result = run()
        times.append(time.perf_counter() - start)
    return min(times), result


def conv_speed(repeats):
    """Directional (and auto) checks of conv at 1e6 input elements, float64 and float32.

    The runs are interleaved (one pass, then each check, repeated) so that every timing
    sees the same machine load; each is the best of `repeats`.
    """
    try:
        from layers.conv import conv_backward, conv_forward
    except ImportError as exc:
        print(f"conv: not available ({exc})")
        return ["directional conv check: layers.conv not available"]
    rng = np.random.default_rng(0)
    x = rng.standard_normal((8, 8, 125, 125))
    w = rng.standard_normal((8, 8, 3, 3)) / np.sqrt(8 * 9)
    b = rng.standard_normal(8)
    conv_param = {"stride": 1, "pad": 1}

    def one_pass():
        out, cache = conv_forward(x, w, b, conv_param)
        return conv_backward(out, cache)

    runs = {"one pass": one_pass}
    for dtype in DTYPES:
        args = [a.astype(dtype) for a in (x, w, b)]
        for strategy in ("directional", "auto"):
            runs[dtype, strategy] = partial(check_layer, conv_forward, conv_backward, *args,
                                            conv_param, strategy=strategy)
    times, results = defaultdict(list), {}
    for _ in range(repeats):
        for key, run in runs.items():
            seconds, results[key] = best_of(1, run)
            times[key].append(seconds)
    best = {key: min(values) for key, values in times.items()}
    print(f"one conv forward + backward, x {x.shape} ({x.size:,} elements), w {w.shape}, "
          f"float64: {best['one pass']:.2f} s")
    lines = []
    for dtype in DTYPES:
        for strategy in ("directional", "auto"):
            report, seconds = results[dtype, strategy], best[dtype, strategy]
            targeted = (dtype, strategy) == ("float64", "directional")
            target = " (target < 2 s)" if targeted else ""
            summary = (f"{seconds:.2f} s{target}, {seconds / best['one pass']:.1f}x one "
                       f"forward+backward, {report.evaluations} forward evaluations, "
                       f"{'ok' if report.ok else 'FAILED'}")
            print(f"conv check, {dtype}, strategy {strategy}: {summary}")
            if strategy == "directional":
                lines.append(f"directional conv check, x {x.size:,} elements, {dtype}: "
                             f"{summary}")
    return lines


# --- (e) torch.autograd.gradcheck -------------------------------------------------------

def torch_section():
    heading("(e) torch.autograd.gradcheck (full and fast_mode) on the same functions")
    try:
        import torch
    except ImportError:
        print("torch is not installed: section skipped")
        return ["torch comparison: skipped (torch not installed)"]
    import vs_gradcheck

    torch.manual_seed(0)
    torch.set_num_threads(1)
    lines = vs_gradcheck.cost(REPRESENTATIVE)
    lines += vs_gradcheck.catches()
    lines += vs_gradcheck.float32_false_alarms(REPRESENTATIVE)
    return lines


def print_table(header, rows):
    print("\n".join(format_table(header, rows)))


if __name__ == "__main__":
    main()
