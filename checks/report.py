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
        (reported, never counted as a pass of the gradient).
    max_rel_error : float
        Largest relative error over the elements (nan when not compared).
    worst_index : tuple
        Index of that element.
    analytic, numeric : float
        The two gradients at `worst_index`.
    kinks : int
        Elements where the function is not differentiable at the checker's step (one-sided
        differences disagree at every step tried); they are left out of the error.
    detail : str
        A description of the argument (dtype, shape) or of why it has no gradient.
    """

    name: str
    status: str
    max_rel_error: float = float("nan")
    worst_index: tuple = ()
    analytic: float = float("nan")
    numeric: float = float("nan")
    kinks: int = 0
    detail: str = ""


@dataclass
class GradReport:
    """The result of `checks.check_layer`.

    ``report.ok`` is True when no problem was found and every floating-point argument's
    gradient agrees with central differences within ``report.tolerance``. ``str(report)``
    is a table with one row per argument.
    """

    layer: str
    dtype: str
    tolerance: float
    arguments: list = field(default_factory=list)
    problems: list = field(default_factory=list)

    @property
    def ok(self):
        compared = [a for a in self.arguments if a.status != NO_GRADIENT]
        return not self.problems and bool(compared) and all(
            a.status == PASS for a in compared)

    @property
    def max_rel_error(self):
        errors = [a.max_rel_error for a in self.arguments if a.status != NO_GRADIENT]
        errors = [e for e in errors if not np.isnan(e)]
        return max(errors) if errors else float("nan")

    def rows(self):
        """Table rows: (layer, argument, max rel error, worst index, analytic, numeric, status)."""
        rows = []
        for arg in self.arguments:
            if arg.status == NO_GRADIENT:
                rows.append((self.layer, arg.name, "-", "-", "-", "-",
                             f"{NO_GRADIENT} ({arg.detail})"))
                continue
            status = arg.status if not arg.kinks else f"{arg.status} ({arg.kinks} at kinks)"
            rows.append((self.layer, arg.name, f"{arg.max_rel_error:.2e}",
                         str(arg.worst_index), f"{arg.analytic:+.6e}", f"{arg.numeric:+.6e}",
                         status))
        return rows

    def __str__(self):
        header = ("layer", "arg", "max rel err", "worst index", "analytic", "numeric",
                  "status")
        lines = [f"gradient check of {self.layer} ({self.dtype}, tolerance "
                 f"{self.tolerance:.0e}): {'ok' if self.ok else 'FAILED'}"]
        lines += format_table(header, self.rows())
        lines += [f"  problem: {p}" for p in self.problems]
        return "\n".join(lines)

    def raise_if_failed(self):
        if not self.ok:
            raise GradientCheckError(self)
        return self


class GradientCheckError(AssertionError):
    """Raised by ``check_layer(..., raise_on_fail=True)``; the message is the report table.

    An AssertionError, so that pytest shows it as a failed assertion.
    """

    def __init__(self, report):
        super().__init__(str(report))
        self.report = report


def format_table(header, rows):
    widths = [max(len(str(r[i])) for r in [header, *rows]) for i in range(len(header))]
    return ["  ".join(str(cell).ljust(w) for cell, w in zip(row, widths)).rstrip()
            for row in [header, *rows]]
