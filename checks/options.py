"""The options of a gradient check, shared by `check_layer`, `check_graph`, `check_model`
and `check_torch`, and documented here once.

Each entry point takes them as keyword arguments (``check_layer(f, b, x, tol=1e-5)``)
and makes one `CheckOptions` of them, which refuses a value out of range naming the
entry point the user called; the checker's engine (`checks.checker.check_pair`) takes
that object.
"""

import numbers
from dataclasses import dataclass, field, fields

__all__ = ["CheckOptions"]

# Four independent directions miss a relative error of 1e-4 with probability ~3e-8
# (`checks.checker`'s module docstring).
DIRECTIONS = 4
STRATEGIES = ("auto", "elementwise", "directional")


@dataclass(frozen=True)
class CheckOptions:
    """How a gradient check runs and reports.

    Parameters
    ----------
    tol : float in (0, 1), optional
        Pass threshold on the relative error of the float64 gradient; None (the default)
        is `checks.TOLERANCES`' 1e-6. float32 gradients are compared with their float64
        run under 1e-3.
    seed : int
        Seed of the random upstream gradient and directions.
    strategy : {"auto", "elementwise", "directional"}
        "elementwise" compares every element by central differences, "directional" k
        random directions (`directions`) with bisection to a wrong element; "auto" is
        elementwise for arguments of at most `checks.checker.ELEMENTWISE_MAX` elements.
    directions : int >= 1
        Random directions per argument for the directional strategy.
    nudge_kinks : bool
        When elements sit at kinks, move them up by 20 or more steps (different amounts,
        so that ties break) and check again; the report says how many were moved.
        (`check_model` does not take it.)
    raise_on_fail : bool
        Raise `GradientCheckError` (an AssertionError whose message is the report) when
        the check fails.
    name : str, optional
        Name shown in the report; by default the entry point's: the forward's name
        without ``_forward``, the graph's, the model's class, the torch function's.
        (`check_graph` and `check_model` do not take it.)
    caller : str
        The entry point the user called, named in the messages that refuse a value.

    Raises
    ------
    ValueError
        For a `strategy` not listed, a `tol` outside (0, 1) or a `directions` that is
        not an integer >= 1: "check_layer: tol must be a number in (0, 1); got 2".

    Examples
    --------
    >>> options = CheckOptions(tol=1e-5, strategy="directional")
    >>> options.tol, options.strategy, options.directions
    (1e-05, 'directional', 4)
    >>> CheckOptions(directions=0, caller="check_graph")
    Traceback (most recent call last):
    ...
    ValueError: check_graph: directions must be an integer >= 1; got 0
    """

    tol: float | None = None
    seed: int = 0
    strategy: str = "auto"
    directions: int = DIRECTIONS
    nudge_kinks: bool = False
    raise_on_fail: bool = False
    name: str | None = None
    caller: str = field(default="CheckOptions", repr=False, compare=False)

    def __post_init__(self):
        if self.strategy not in STRATEGIES:
            raise ValueError(f"{self.caller}: strategy must be 'auto', 'elementwise' or "
                             f"'directional'; got {self.strategy!r}")
        tol = self.tol
        if tol is not None and (not isinstance(tol, numbers.Real) or not 0 < tol < 1):
            raise ValueError(f"{self.caller}: tol must be a number in (0, 1); got {tol!r}")
        directions = self.directions
        if not isinstance(directions, numbers.Integral) or directions < 1:
            raise ValueError(f"{self.caller}: directions must be an integer >= 1; got "
                             f"{directions!r}")

    @classmethod
    def keywords(cls):
        """The options' names as the entry points take them, in order (without `caller`)."""
        return tuple(f.name for f in fields(cls) if f.name != "caller")
