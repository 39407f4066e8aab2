"""Save and load a model's parameters as a ``.npz`` file, all or nothing.

`save_params` writes one array per parameter name with ``np.savez``. `load_params` reads
the file with ``np.load(allow_pickle=False)`` (a parameter file never runs code), checks
EVERY array against the parameters it replaces (same names, shapes and dtypes) and only
then returns them; `load_into` then swaps a model's dict in one step. A truncated file, a
missing or extra name, or a wrong shape raises ``ValueError`` naming the parameter, and
leaves the model untouched: it is never half-loaded.

Examples
--------
>>> save_params("net.npz", model.params)
>>> load_into(model, "net.npz")
"""

import os
import zipfile

import numpy as np

from layers._validate import describe

__all__ = ["save_params", "load_params", "load_into"]


def save_params(path, params):
    """Write `params` (a dict of name -> ndarray) to `path` with ``np.savez``.

    Parameters
    ----------
    path : str or os.PathLike
        NumPy adds ``.npz`` when the name lacks it.
    params : dict of str -> ndarray
    """
    if not isinstance(params, dict):
        raise TypeError(f"save_params: params must be a dict of arrays; got "
                        f"{describe(params)}")
    for name, value in params.items():
        if not isinstance(value, np.ndarray):
            raise TypeError(f"save_params: parameter {name!r} must be an ndarray; got "
                            f"{describe(value)}")
    np.savez(path, **params)


def load_params(path, like):
    """Read the parameters saved in `path`, checked against `like`; modify nothing.

    Parameters
    ----------
    path : str or os.PathLike
        A file written by `save_params`.
    like : dict of str -> ndarray
        The parameters the file must match: the same names, and for each name the same
        shape and dtype (usually ``model.params``).

    Returns
    -------
    dict of str -> ndarray
        New arrays, in the order of `like`.

    Raises
    ------
    ValueError
        The file is unreadable (truncated, not an .npz), or a name is missing or extra, or
        a parameter's shape or dtype differs from `like`'s. The message names the file and
        the parameter.
    """
    where = f"load_params: {os.fspath(path)}"
    loaded = _read_all(path, where)
    missing = [name for name in like if name not in loaded]
    extra = [name for name in loaded if name not in like]
    if missing or extra:
        parts = [f"missing {', '.join(map(repr, missing))}" if missing else "",
                 f"unexpected {', '.join(map(repr, extra))}" if extra else ""]
        raise ValueError(f"{where} does not hold the model's parameters: "
                         f"{'; '.join(p for p in parts if p)}")
    for name, value in like.items():
        array = loaded[name]
        if array.shape != np.shape(value):
            raise ValueError(f"{where}: parameter {name!r} has shape {array.shape} in the "
                             f"file but {np.shape(value)} in the model")
        if array.dtype != np.asarray(value).dtype:
            raise ValueError(f"{where}: parameter {name!r} is {array.dtype} in the file but "
                             f"{np.asarray(value).dtype} in the model")
    return {name: loaded[name] for name in like}


def load_into(model, path):
    """Replace ``model.params`` with the parameters in `path`, after checking all of them.

    The model's dict is updated only once every parameter has been read and checked
    (`load_params`), so a failure leaves the model exactly as it was.
    """
    model.params.update(load_params(path, model.params))
    return model


def _read_all(path, where):
    """Every array of the .npz at `path`, read into memory now (a bad member fails here)."""
    try:
        archive = np.load(path, allow_pickle=False)
    except FileNotFoundError:
        raise ValueError(f"{where}: no such file") from None
    except (OSError, ValueError, EOFError, zipfile.BadZipFile) as exc:
        raise ValueError(f"{where} is not a readable .npz file (truncated or corrupt?): "
                         f"{exc}") from exc
    if not isinstance(archive, np.lib.npyio.NpzFile):
        raise ValueError(f"{where} holds a single array, not a parameter file written by "
                         "save_params (.npz)")
    loaded = {}
    with archive:
        for name in archive.files:
            try:
                loaded[name] = archive[name]
            except (OSError, ValueError, EOFError, zipfile.BadZipFile) as exc:
                raise ValueError(f"{where}: parameter {name!r} cannot be read (truncated "
                                 f"or corrupt file?): {type(exc).__name__}: {exc}") from exc
    return loaded
