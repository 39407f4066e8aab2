"""Save and load a model's parameters as a ``.npz`` file, all or nothing.

`save_params` writes one array per parameter name in ``np.savez``'s format.
`load_params` reads the file with ``np.load(allow_pickle=False)`` (a parameter file never
runs code), checks EVERY array against the parameters it replaces (same names, shapes
and dtypes) and only then returns them; `load_into` then swaps a model's dict in one
step. A truncated file, a missing or extra name, or a wrong shape raises ``ValueError``
naming the parameter, and leaves the model untouched: it is never half-loaded.

Examples
--------
>>> import tempfile, pathlib
>>> from training import TwoLayerNet
>>> model = TwoLayerNet(input_dim=4, hidden_dim=3, num_classes=2, weight_seed=0)
>>> path = pathlib.Path(tempfile.mkdtemp()) / "net"
>>> saved = save_params(path, model.params)           # writes net.npz
>>> fresh = TwoLayerNet(input_dim=4, hidden_dim=3, num_classes=2, weight_seed=1)
>>> restored = load_into(fresh, path)
>>> bool(np.array_equal(restored.params["W1"], model.params["W1"]))
True
"""

import os
import zipfile

import numpy as np

from layers.contract import describe

__all__ = ["save_params", "load_params", "load_into"]


def save_params(path, params):
    """Write `params` (a dict of name -> float ndarray) to `path` as an ``.npz`` file.

    The file is what ``np.savez`` writes (one ``name.npy`` member per parameter, read back
    by ``np.load``), but every name and array is checked before anything is written, and
    the file appears only once complete: it is written next to `path` and then renamed,
    so a failure never leaves a half file. (``np.savez(path, **params)`` would take a
    parameter named ``file`` or ``allow_pickle`` for its own argument, and would pickle
    an object array that ``np.load(allow_pickle=False)`` then refuses.)

    Parameters
    ----------
    path : str or os.PathLike
        ``.npz`` is added when the name lacks it, as ``np.savez`` does.
    params : dict of str -> ndarray
        Floating-point arrays; names are non-empty strings without ``/`` or ``\\``.

    Returns
    -------
    str
        The path written (with ``.npz``).
    """
    if not isinstance(params, dict):
        raise TypeError(f"save_params: params must be a dict of arrays; got "
                        f"{describe(params)}")
    for name, value in params.items():
        if not isinstance(name, str):
            raise TypeError(f"save_params: parameter names must be strings; got "
                            f"{name!r}")
        if not name or any(c in name for c in "/\\\0"):
            raise ValueError(f"save_params: parameter names must be non-empty strings "
                             f"without '/', '\\' or NUL; got {name!r}")
        if not isinstance(value, np.ndarray) or value.dtype.kind != "f":
            raise TypeError(f"save_params: parameter {name!r} must be a floating-point "
                            f"ndarray; got {describe(value)}")
    path = _npz_path(path)
    partial = f"{path}.partial"
    try:
        with zipfile.ZipFile(partial, "w", compression=zipfile.ZIP_STORED,
                             allowZip64=True) as archive:
            for name, value in params.items():
                with archive.open(f"{name}.npy", "w", force_zip64=True) as member:
                    np.lib.format.write_array(member, value, allow_pickle=False)
        os.replace(partial, path)
    finally:
        if os.path.exists(partial):
            os.remove(partial)
    return path


def load_params(path, like):
    """Read the parameters saved in `path`, checked against `like`; modify nothing.

    Parameters
    ----------
    path : str or os.PathLike
        A file written by `save_params`; ``.npz`` is added when `path` names no file
        and lacks it (so the name given to `save_params` works here too).
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
    if not isinstance(path, (str, os.PathLike)):
        raise TypeError(f"load_params: path must be a str or os.PathLike; got "
                        f"{describe(path)}")
    if not os.path.exists(path):
        path = _npz_path(path)
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


def _npz_path(path):
    """`path` as a str ending in ``.npz``, the name ``np.savez`` would write."""
    path = os.fspath(path)
    return path if path.endswith(".npz") else f"{path}.npz"


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
