"""CS231n's module name for `checks.cs231n_helpers`, kept so that CS231n-style code runs.

CS231n's notebooks import ``from cs231n.gradient_check import eval_numerical_gradient,
...``; ``from checks.gradient_check import ...`` works the same way. The helpers live in
`checks.cs231n_helpers`; this module re-exports its public names, the same objects.
"""

# ruff: noqa: F403 - the star import is the point: the names are listed once, there
from .cs231n_helpers import *
from .cs231n_helpers import __all__  # noqa: F401 - the re-exported names, as they are there
