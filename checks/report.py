"""What a gradient check found: one row per argument, plus problems with the contract."""

from dataclasses import dataclass, field

import numpy as np

PASS, FAIL, NO_GRADIENT = "pass", "FAIL", "no gradient"


@dataclass
class ArgumentResult:
    """The comparison of one argument's analytic gradient with the numeric one.

    Attributes
    ----------
    name : str
        The forward's parameter name (``x``, ``w``, ...).
    status : str
        ``"pass"``, ``"FAIL"``, or ``"no gradient"`` for integer/bool arrays and constants
        (listed, never counted as a checked gradient).
    strategy : str
        ``"elementwise"`` (every element by central differences) or
        ``"directional (k=4)"`` (k random directions; elements located by bisection).
    max_rel_error, median_rel_error : float
        Over the elements (elementwise) or the directions (directional).
    worst : list of (index, analytic, numeric, error)
        The worst elements, worst first.
    kinks : int
        Elements (or directions) at which the forward is not differentiable at the
        checker's steps; left out of the error and reported here.
    hint : str
        The pattern of a wrong gradient when one is obvious ("analytic = 2 x numeric"),
        or for an argument that cannot be judged, ``"cannot judge: <cause>"``.
    held : int
        Non-finite entries (-inf in a masked softmax's logits), held fixed: no gradient
        is measured through them, and they are left out of the error.
    precision_error : float
        float32 arguments only: the largest relative difference between the gradient
        computed in float32 and the same backward run in float64 (nan otherwise).
    errors, at_kinks, analytic_values, numeric_values : ndarray or None
        Per-element arrays (elementwise strategy): the relative errors (drawn by
        `GradReport.plot`), the kink mask, and both gradients in float64, for inspection.
    detail : str
        dtype and shape, or why the argument has no gradient.
    """

    name: str
    status: str
    strategy: str = ""
    max_rel_error: float = float("nan")
    median_rel_error: float = float("nan")
    worst: list = field(default_factory=list)
    kinks: int = 0
    hint: str = ""
    held: int = 0
    precision_error: float = float("nan")
    errors: np.ndarray = None
    at_kinks: np.ndarray = None
    analytic_values: np.ndarray = None
    numeric_values: np.ndarray = None
    detail: str = ""

    @property
    def worst_index(self):
        return self.worst[0][0] if self.worst else ()

    @property
    def analytic(self):
        return self.worst[0][1] if self.worst else float("nan")

    @property
    def numeric(self):
        return self.worst[0][2] if self.worst else float("nan")


@dataclass
class GradReport:
    """The result of `checks.check_layer` (and of `check_graph`, `check_model`).

    ``report.ok`` is True when no problem was found and every floating-point argument's
    gradient agrees with central differences within ``report.tolerance`` (for float32
    arguments: the same backward run in float64 does, and the float32 run agrees with it
    within ``report.precision_tolerance``). ``str(report)`` is a table with one row per
    argument, then the worst elements and a hint for each failing argument, the problems
    (each fails the check), the warnings (which do not), notes, and for a graph checked
    with ``localize=True`` one line per gate.

    Attributes
    ----------
    problems : list of str
        What breaks the contract or stops the comparison (a wrong number of gradients, a
        non-deterministic forward, a backward not linear in dout, an exception): each
        one fails the check.
    warnings : list of str
        Misbehaviour that leaves the gradients right (a backward writing into its
        upstream gradient): printed, never failing the check.
    notes : list of str
        How the check was run, where that differs from the defaults.
    gates : list of (str, GradReport)
        `checks.check_graph` with ``localize=True`` on a failing graph: every gate that
        was checked at the values it saw in the forward pass, in topological order.
    """

    layer: str
    dtype: str
    tolerance: float
    arguments: list = field(default_factory=list)
    problems: list = field(default_factory=list)
    warnings: list = field(default_factory=list)
    notes: list = field(default_factory=list)
    gates: list = field(default_factory=list)
    evaluations: int = 0
    precision_tolerance: float = None

    @property
    def ok(self):
        compared = [a for a in self.arguments if a.status != NO_GRADIENT]
        return not self.problems and bool(compared) and all(
            a.status == PASS for a in compared)

    @property
    def max_rel_error(self):
        errors = [a.max_rel_error for a in self.arguments
                  if a.status != NO_GRADIENT and not np.isnan(a.max_rel_error)]
        return max(errors) if errors else float("nan")

    def rows(self):
        """Rows (layer, arg, max rel err, worst index, analytic, numeric, status)."""
        rows = []
        for arg in self.arguments:
            if arg.status == NO_GRADIENT:
                rows.append((self.layer, arg.name, "-", "-", "-", "-",
                             f"{NO_GRADIENT} ({arg.detail})"))
                continue
            status = arg.status
            if arg.strategy != "elementwise":
                status += f" ({arg.strategy})"
            if not np.isnan(arg.precision_error):
                status += f" (float32 backward vs float64: {arg.precision_error:.1e})"
            if arg.kinks:
                status += f" ({arg.kinks} at kinks)"
            if arg.held:
                status += f" ({arg.held} non-finite entries held fixed)"
            if arg.hint:
                status += f": {arg.hint}"
            if arg.worst:
                worst = (str(arg.worst_index), f"{arg.analytic:+.6e}", f"{arg.numeric:+.6e}")
            else:  # a directional check that passed compares directions, not elements
                worst = ("-", "-", "-")
            rows.append((self.layer, arg.name, f"{arg.max_rel_error:.2e}", *worst, status))
        return rows

    def failing_details(self):
        """Lines on each failing argument: its strategy, median error and worst elements."""
        lines = []
        for arg in self.arguments:
            if arg.status != FAIL or not arg.worst:  # nothing compared: the row says why
                continue
            lines.append(f"  {arg.name}: {arg.strategy}, median rel err "
                         f"{arg.median_rel_error:.2e}; worst elements:")
            for index, analytic, numeric, error in arg.worst:
                lines.append(f"    {str(index):<14} analytic {analytic:+.6e}  numeric "
                             f"{numeric:+.6e}  rel err {error:.2e}")
            if not np.isnan(arg.precision_error):
                lines.append(f"    float32 vs float64 backward: rel err "
                             f"{arg.precision_error:.2e}")
        return lines

    def summary(self):
        """One line: ok, or what fails first (a problem, or each failing argument's hint)."""
        if self.ok:
            return "ok"
        if self.problems:
            return f"FAILED: {self.problems[0]}"
        failing = [a for a in self.arguments if a.status == FAIL]
        return "FAILED: " + "; ".join(
            f"{a.name} max rel err {a.max_rel_error:.1e}" + (f", {a.hint}" if a.hint else "")
            for a in failing)

    def __str__(self):
        header = ("layer", "arg", "max rel err", "worst index", "analytic", "numeric",
                  "status")
        tolerance = f"tolerance {self.tolerance:.0e}"
        if self.precision_tolerance is not None:
            tolerance += (f" for the backward run in float64, {self.precision_tolerance:.0e} "
                          "for its float32 gradients against that")
        lines = [f"gradient check of {self.layer} ({self.dtype}, {tolerance}): "
                 f"{'ok' if self.ok else 'FAILED'}"]
        lines += format_table(header, self.rows())
        lines += self.failing_details()
        lines += [f"  problem: {p}" for p in self.problems]
        lines += [f"  warning: {w}" for w in self.warnings]
        lines += [f"  note: {n}" for n in self.notes]
        if self.gates:
            lines.append(f"  each gate at the values of the forward pass "
                         f"({sum(not r.ok for _, r in self.gates)} of {len(self.gates)} "
                         "disagree with their forward):")
            lines += [f"    {label}: {report.summary()}" for label, report in self.gates]
        return "\n".join(lines)

    def raise_if_failed(self):
        if not self.ok:
            raise GradientCheckError(self)
        return self

    def plot(self):
        """A matplotlib Figure: each argument's relative error per element, log scale.

        Elementwise arguments are drawn as heatmaps (leading axis as rows, the rest
        flattened into columns); directional ones as one bar per direction.
        """
        from matplotlib.colors import LogNorm
        from matplotlib.figure import Figure

        checked = [a for a in self.arguments if a.status != NO_GRADIENT]
        fig = Figure(figsize=(4 * max(1, len(checked)), 3.4), layout="constrained")
        axes = fig.subplots(1, max(1, len(checked)), squeeze=False)[0]
        for ax, arg in zip(axes, checked):
            ax.set_title(f"{arg.name}: {arg.status} (max {arg.max_rel_error:.1e})")
            if arg.errors is None:
                ax.text(0.5, 0.5, arg.strategy, ha="center", va="center")
                ax.set_axis_off()
                continue
            grid = np.atleast_2d(arg.errors.reshape(arg.errors.shape[0], -1)
                                 if arg.errors.ndim >= 2 else arg.errors)
            floor = max(1e-17, self.tolerance * 1e-6)
            image = ax.imshow(np.maximum(grid, floor), norm=LogNorm(vmin=floor, vmax=1),
                              cmap="magma", aspect="auto", interpolation="nearest")
            fig.colorbar(image, ax=ax, label="relative error")
            ax.yaxis.get_major_locator().set_params(integer=True)
            ax.xaxis.get_major_locator().set_params(integer=True)
            ax.set_xlabel("flattened trailing axes")
            ax.set_ylabel("axis 0")
        fig.suptitle(f"gradient check of {self.layer} ({self.dtype}), tolerance "
                     f"{self.tolerance:.0e}")
        return fig


class GradientCheckError(AssertionError):
    """Raised by ``check_layer(..., raise_on_fail=True)``; the message is the report.

    An AssertionError, so that pytest shows it as a failed assertion.
    """

    def __init__(self, report):
        super().__init__(str(report))
        self.report = report


def format_table(header, rows):
    widths = [max(len(str(r[i])) for r in [header, *rows]) for i in range(len(header))]
    return ["  ".join(str(cell).ljust(w) for cell, w in zip(row, widths)).rstrip()
            for row in [header, *rows]]


def plot_max_errors(labels, errors, tolerance):
    """A matplotlib Figure: one bar per checked layer, its max relative error, log scale.

    Parameters
    ----------
    labels : list of str
        One per bar (layer, dtype).
    errors : list of float
        Max relative error of each; nan for a layer whose check stopped on a problem.
    tolerance : float
        The pass threshold, drawn as a line.
    """
    from matplotlib.figure import Figure

    values = np.array(errors, dtype=np.float64)
    shown = np.where(np.isnan(values), 1.0, np.maximum(values, 1e-17))
    colors = ["tab:red" if np.isnan(v) or v > tolerance else "tab:green" for v in values]
    fig = Figure(figsize=(8, max(3, 0.22 * len(labels) + 1)), layout="constrained")
    ax = fig.subplots()
    ax.barh(np.arange(len(labels)), shown, color=colors)
    ax.set_yticks(np.arange(len(labels)), labels, fontsize=7)
    ax.invert_yaxis()
    ax.set_xscale("log")
    ax.axvline(tolerance, color="black", linestyle="--", label=f"pass threshold {tolerance:.0e}")
    ax.set_xlabel("max relative error (red: failed or not comparable)")
    ax.legend(loc="lower right")
    return fig
