"""``python -m checks``: gradient-check every registered layer, or a user's own.

    python -m checks                      # every layer of the library
    python -m checks my_layers.py         # the pairs registered in a file of yours
    python -m checks my_package.layers    # ... or in a module, by import name
    python -m checks --only affine,relu --dtype both --seeds 3
    python -m checks --plot errors.png    # and a bar chart of every layer's max error

Prints one row per layer and argument (a failing one followed by its worst elements, as
``print(check_layer(...))`` shows them), a row per problem and per warning, a summary
line, and exits 1 when any check fails or when a target defines a ``*_forward`` that is
not registered (it could not be checked). Warnings do not fail.
"""

import argparse
import contextlib
import importlib
import importlib.util
import inspect
import os
import sys
import time

import numpy as np
from tqdm.auto import tqdm

from layers.contract import argument_names
from layers.registry import REGISTRY
from .checker import TOLERANCES, check_layer
from .report import NO_GRADIENT, plot_max_errors


def parse_args(argv):
    parser = argparse.ArgumentParser(
        prog="python -m checks",
        description="Compare every layer's backward with central differences of its forward.")
    parser.add_argument("targets", nargs="*", metavar="FILE_OR_MODULE",
                        help="a .py file or an importable module whose registered pairs to "
                             "check (default: the gatelab library)")
    parser.add_argument("--only", metavar="NAME[,NAME...]",
                        help="check only these layers (base names, e.g. affine,relu)")
    parser.add_argument("--dtype", choices=["float64", "float32", "both"], default="float64")
    parser.add_argument("--seeds", type=int, default=1, metavar="N",
                        help="example inputs drawn from seeds 0..N-1 (default 1)")
    parser.add_argument("--plot", metavar="FILE.png",
                        help="also save a bar chart of every layer's max error (log scale)")
    args = parser.parse_args(argv)
    if args.seeds < 1:
        parser.error(f"--seeds must be at least 1; got {args.seeds}")
    if args.plot is not None:
        problem = unwritable(args.plot)
        if problem:
            parser.error(f"--plot: cannot write {args.plot}: {problem}")
    return args


def unwritable(path):
    """Why a figure cannot be saved at `path` (None if it can), known before any check runs."""
    target = os.path.abspath(path)
    directory = os.path.dirname(target)
    if os.path.isdir(target):
        return "it is a directory"
    if not os.path.exists(directory):
        return f"the directory {directory} does not exist"
    if not os.path.isdir(directory):
        return f"{directory} is not a directory"
    if not os.access(target if os.path.exists(target) else directory, os.W_OK):
        return "permission denied"
    extension = os.path.splitext(target)[1][1:].lower()
    if extension:
        from matplotlib.backend_bases import FigureCanvasBase

        formats = FigureCanvasBase.get_supported_filetypes()
        if extension not in formats:
            return (f"matplotlib cannot save .{extension} files (it saves "
                    f"{', '.join('.' + f for f in sorted(formats))})")
    return None


def load_target(target):
    """Import a .py file or a module name; return the module."""
    if target.endswith(".py") or os.path.sep in target:
        path = os.path.abspath(target)
        if not os.path.isfile(path):
            raise SystemExit(f"python -m checks: no such file: {target}")
        name = os.path.splitext(os.path.basename(path))[0]
        spec = importlib.util.spec_from_file_location(name, path)
        module = importlib.util.module_from_spec(spec)
        sys.modules[name] = module
        sys.path.insert(0, os.path.dirname(path))
        spec.loader.exec_module(module)
        return module
    try:
        return importlib.import_module(target)
    except ModuleNotFoundError as exc:
        raise SystemExit(f"python -m checks: cannot import {target!r}: {exc}") from None


def unregistered_pairs(module):
    """Names of ``*_forward`` functions defined in `module` that are not registered."""
    registered = {spec.forward for spec in REGISTRY.values()}
    return sorted(name for name, obj in vars(module).items()
                  if name.endswith("_forward") and inspect.isfunction(obj)
                  and obj.__module__ == module.__name__ and obj not in registered)


def select(targets, only):
    """(specs to check, names of unregistered pairs) for the command line's targets."""
    if targets:
        modules = [load_target(t) for t in targets]
        names = {m.__name__ for m in modules}
        specs = [s for s in REGISTRY.values() if s.module in names]
        missing = [f"{m.__name__}.{n}" for m in modules for n in unregistered_pairs(m)]
    else:
        import layers  # noqa: F401 - importing registers every layer of the library

        specs = [s for s in REGISTRY.values() if s.module.startswith("layers.")]
        missing = []
    if only:
        wanted = [n.strip() for n in only.split(",") if n.strip()]
        unknown = [n for n in wanted if n not in {s.name for s in specs}]
        if unknown:
            raise SystemExit(f"python -m checks: --only: no registered layer named "
                             f"{', '.join(unknown)}")
        specs = [s for s in specs if s.name in wanted]
    return sorted(specs, key=lambda s: s.name), missing


HEADER = ("run", "layer", "dtype", "seed", "arg", "max rel err", "worst index", "status")


def column_widths(runs, examples):
    """The width of each column but the last, from everything it can hold.

    Rows print as each check ends (they are the progress), so the widths are fixed
    before any check runs: from the runs' count, layer names, dtypes and seeds, each
    example's argument names (the names the checker gives them) and shapes (the widest
    index into each argument), and the widest error the format writes.
    """
    cells = [HEADER[:-1], ("-",) * (len(HEADER) - 1)]
    for count, ((spec, dtype, seed), example) in enumerate(zip(runs, examples), 1):
        if isinstance(example, Exception):
            names, indices = [], []
        else:
            names = argument_names(spec.forward, len(example.args))
            indices = [widest_index(arg) for arg in example.args]
        widest = max(indices, key=len, default="-")
        for name in names or ["-"]:
            cells.append((f"{count}/{len(runs)}", spec.name, dtype, str(seed), name,
                          f"{np.finfo(np.float64).tiny:.2e}", widest))
    return [max(len(row[column]) for row in cells) for column in range(len(HEADER) - 1)]


def widest_index(arg):
    """The longest index into `arg` as the table prints it (``"(3, 11)"``); ``"()"`` for
    what has no shape (a number, a dict, a ragged list)."""
    try:
        shape = np.shape(arg)
    except ValueError:
        shape = ()
    return str(tuple(max(size - 1, 0) for size in shape))


def print_row(widths, *cells):
    """One row of the streaming table; rows print as each check ends (the progress)."""
    padded = [str(cell).ljust(width) for cell, width in zip(cells, widths)]
    print("  ".join([*padded, str(cells[-1])]).rstrip(), flush=True)


def plural(count, noun):
    """``"1 layer"``, ``"2 layers"``."""
    return f"{count} {noun}{'' if count == 1 else 's'}"


def summary(layers, runs, dtypes, seeds, compared, seconds, failed_runs, failed_layers,
            missing):
    """The closing line: layers and runs counted apart when a layer has several runs."""
    checked = f"checked {plural(layers, 'layer')}"
    counts = f"{plural(compared, 'gradient')} compared"
    if runs == layers:
        outcome = f"{runs - failed_runs} passed, {failed_runs} failed"
    else:
        checked += f" in {plural(runs, 'run')}"
        counts = f"{plural(dtypes, 'dtype')} x {plural(seeds, 'seed')}; {counts}"
        outcome = (f"layers {layers - failed_layers} passed, {failed_layers} failed; "
                   f"runs {runs - failed_runs} passed, {failed_runs} failed")
    missing = f", {missing} not registered" if missing else ""
    return f"{checked} ({counts}) in {seconds:.1f} s: {outcome}{missing}"


def prepared_examples(runs):
    """Each run's example inputs, or the exception its example builder raised."""
    examples = []
    for spec, dtype, seed in runs:
        try:
            examples.append(spec.example(np.random.default_rng(seed), dtype))
        except Exception as exc:  # noqa: BLE001 - a broken example builder is a failure
            examples.append(exc)
    return examples


def main(argv=None):
    args = parse_args(argv)
    specs, missing = select(args.targets, args.only)
    dtypes = ["float64", "float32"] if args.dtype == "both" else [args.dtype]
    runs = [(spec, dtype, seed) for spec in specs for dtype in dtypes
            for seed in range(args.seeds)]
    start = time.perf_counter()
    examples = prepared_examples(runs)
    widths = column_widths(runs, examples)
    failed = compared = 0
    failed_layers = set()
    labels, errors = [], []
    print_row(widths, *HEADER)
    for count, ((spec, dtype, seed), example) in enumerate(
            with_progress(list(zip(runs, examples))), 1):
        run = f"{count}/{len(runs)}"
        if isinstance(example, Exception):
            failed += 1
            failed_layers.add(spec.name)
            print_row(widths, run, spec.name, dtype, seed, "-", "-", "-",
                      f"FAIL: example builder raised {type(example).__name__}: {example}")
            continue
        report = check_layer(spec.forward, spec.backward, *example.args, seed=seed,
                             name=spec.name, **example.kwargs)
        for _, arg, err, worst, _, _, status in report.rows():
            compared += not status.startswith(NO_GRADIENT)
            print_row(widths, run, spec.name, dtype, seed, arg, err, worst, status)
        for problem in report.problems:
            print_row(widths, run, spec.name, dtype, seed, "-", "-", "-", f"FAIL: {problem}")
        for warning in report.warnings:
            print_row(widths, run, spec.name, dtype, seed, "-", "-", "-",
                      f"WARNING: {warning}")
        for line in report.failing_details():
            print(line, flush=True)
        if not report.ok:
            failed += 1
            failed_layers.add(spec.name)
        labels.append(f"{spec.name} ({dtype}, seed {seed})")
        errors.append(report.max_rel_error if not report.problems else float("nan"))
    for name in missing:
        print(f"NOT CHECKED: {name} has no registration; register example inputs with "
              f"@checks.register({name.rsplit('.', 1)[1]}, ...) (see docs/getting_started.md)")
    seconds = time.perf_counter() - start
    if args.plot:
        plot_max_errors(labels, errors, TOLERANCES[np.dtype(np.float64)]).savefig(args.plot,
                                                                             dpi=120)
        print(f"bar chart of max errors saved to {args.plot}")
    print("\n" + summary(len(specs), len(runs), len(dtypes), args.seeds, compared, seconds,
                         failed, len(failed_layers), len(missing)))
    if not specs and not missing:
        print("nothing to check: no registered layer found")
        return 1
    return 1 if failed or missing else 0


def with_progress(runs):
    """`runs`, with a tqdm bar on stderr while they run when stderr is a terminal.

    The report on stdout stays what it is without the bar: when stdout is the same kind
    of terminal, its lines are written above the bar (`_LinesAboveBar`).
    """
    bar = tqdm(runs, file=sys.stderr, disable=None, desc="checking", unit="run",
               leave=False, dynamic_ncols=True)
    if bar.disable:
        yield from runs
        return
    with contextlib.ExitStack() as stack:
        if _is_terminal(sys.stdout):
            lines = stack.enter_context(_LinesAboveBar(sys.stdout, bar))
            stack.enter_context(contextlib.redirect_stdout(lines))
        stack.enter_context(bar)                      # closed (and cleared) first
        yield from bar


class _LinesAboveBar:
    """A stand-in for a terminal's stdout that writes whole lines above `bar`.

    A row printed while the bar is drawn would land after it on the bar's line, so each
    complete line is written with the bar cleared, and the bar is redrawn below it.
    """

    def __init__(self, stream, bar):
        self.stream, self.bar, self.pending = stream, bar, ""

    def write(self, text):
        self.pending += text
        if "\n" in self.pending:
            lines, _, self.pending = self.pending.rpartition("\n")
            self.bar.clear()
            self.stream.write(lines + "\n")
            self.stream.flush()
            self.bar.refresh()
        return len(text)

    def flush(self):
        self.stream.flush()

    def __getattr__(self, name):
        return getattr(self.stream, name)

    def __enter__(self):
        return self

    def __exit__(self, *exc_info):
        self.stream.write(self.pending)
        self.stream.flush()


def _is_terminal(stream):
    isatty = getattr(stream, "isatty", None)
    return bool(isatty and isatty())
