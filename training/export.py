"""The old name of `training.torch_export`, kept so that ``from training.export import
to_torch`` still works; new code imports `training.torch_export` (or ``training``)."""

from .torch_export import __all__, to_torch  # noqa: F401 - re-exported under the old name
