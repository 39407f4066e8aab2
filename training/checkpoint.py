"""Save and load a model's parameters and running statistics as a ``.npz`` file, all or
nothing.

`save_model` writes a model whole: its parameters, and batch norm's running mean and
variance (the ``bn_param`` dicts of its ``batchnorm``, ``spatial_batchnorm`` and
``conv_bn_relu`` gates, which its test mode reads), so that `load_into` gives a fresh
model the same test-mode scores, bit for bit. Underneath, `save_params` writes one array
per name in ``np.savez``'s format, to a file of its own in the target's directory that
replaces the target in one step (``os.replace``): a reader, or another process saving to
the same path at the same time, sees either the old file or a complete new one, never a
mixture. Running statistics are
stored under the names ``"<gate>/running_mean"`` and ``"<gate>/running_var"`` (the gate's
name in ``model.net``; `running_stats` and ``TorchNet.gatelab_running_stats()`` give them
as ``{gate: {"running_mean": ..., "running_var": ...}}``), which no parameter name can
take, since parameter names hold no ``/``.

`load_params` trusts nothing in the file. From the zip directory and each member's
``.npy`` header alone, before reading any array data, it checks the member names, shapes
and dtypes against the parameters they replace, and that each member's size is what its
header says; only then does it read the data, into arrays of the expected size. So a
small crafted file cannot make it allocate more than about the model's own parameters
(a header claiming 10**12 elements, a highly compressed member, a huge zip directory),
and it never unpickles anything (object arrays are refused). `load_into` then swaps a
model's parameters and running statistics in one step. A truncated or corrupt file, a
missing or extra name, a wrong shape or dtype raises ``ValueError`` naming the file and
the parameter; an operating system error (no such file, disk full, not a directory)
raises ``OSError`` naming the file; the model is never half-loaded. A checkpoint without
running statistics (written by `save_params` alone, or before they were saved) still
loads, with a warning: see `load_into`.

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

With batch norm, `save_model` keeps the statistics that test mode uses:

>>> from training import FullyConnectedNet
>>> net = FullyConnectedNet([3], input_dim=4, num_classes=2, normalization="batchnorm",
...                         weight_scale=1.0, weight_seed=0)
>>> _ = net.loss(np.arange(8.0).reshape(2, 4), np.array([0, 1]))    # one train step
>>> running_stats(net)["batchnorm1"]["running_mean"].round(3)
array([-0.054, -0.12 , -0.024])
>>> saved = save_model(path, net)
>>> again = load_into(FullyConnectedNet([3], input_dim=4, num_classes=2,
...                                     normalization="batchnorm", weight_seed=1), path)
>>> x = np.ones((1, 4))
>>> bool(np.array_equal(again.loss(x), net.loss(x)))
True
"""

import errno
import inspect
import io
import os
import secrets
import struct
import warnings
import zipfile
import zlib

import numpy as np
from numpy.lib import format as npy_format

from graph import ComputationalGraph
from graph.node import Node
from layers.contract import describe

__all__ = ["save_model", "save_params", "load_params", "load_into", "running_stats",
           "set_running_stats", "MissingRunningStatsWarning"]

# The entries of a bn_param dict that test mode reads, in the order they are saved.
RUNNING_STATS = ("running_mean", "running_var")

# The .npy header is a padded Python dict literal; numpy's own loader refuses one longer
# than this (numpy.lib.format's max_header_size), so no file numpy accepts is refused.
_MAX_NPY_HEADER = 10_000
# Bytes of one zip directory entry beyond its name: 46 fixed, plus room for the extra
# fields and comment that zip tools other than numpy's may add.
_ZIP_ENTRY_BYTES = 1024
# Members a file may hold beyond the model's parameters and still be opened, so that
# the error can list the unexpected names.
_SPARE_MEMBERS = 64
# Array data is read in pieces of this size, directly into the result.
_CHUNK_BYTES = 1 << 18


class MissingRunningStatsWarning(UserWarning):
    """`load_into` loaded a checkpoint that holds no running statistics into a model whose
    test mode reads some: its test-mode scores are not the saved model's."""


def save_model(path, model):
    """Write `model`'s parameters and running statistics to `path`; `load_into` reads it.

    ``save_params(path, model.params, running_stats(model))``.

    Parameters
    ----------
    path : str or os.PathLike
        ``.npz`` is added when the name lacks it.
    model : a model of `training.models`, a graph, or any object with ``params``
        Its ``params`` (dict of str -> float ndarray) are saved, and, when it is a
        `graph.ComputationalGraph` or has one as ``net``, its running statistics.

    Returns
    -------
    str
        The path written (with ``.npz``).
    """
    return save_params(path, model.params, running_stats(model))


def save_params(path, params, running_stats=None):
    """Write `params` (a dict of name -> float ndarray) to `path` as an ``.npz`` file.

    The file is what ``np.savez`` writes (one ``name.npy`` member per parameter, read back
    by ``np.load``), but every name and array is checked before anything is written, and
    the file appears only once complete: it is written to a new file of its own next to
    `path`, flushed to disk, and then renamed over `path` in one step. A failure (disk
    full, interrupted) removes that file and leaves `path` as it was; saves running at the
    same time leave one of their files, whole. (``np.savez(path, **params)`` would take a
    parameter named ``file`` or ``allow_pickle`` for its own argument, and would pickle
    an object array that ``np.load(allow_pickle=False)`` then refuses.)

    Parameters
    ----------
    path : str or os.PathLike
        ``.npz`` is added when the name lacks it, as ``np.savez`` does.
    params : dict of str -> ndarray
        Floating-point arrays of any shape; names are non-empty strings without ``/``,
        ``\\`` or NUL.
    running_stats : dict of str -> dict, optional
        Batch norm's running statistics, as `running_stats` returns them: gate name ->
        ``{"running_mean": (D,), "running_var": (D,)}`` float arrays; stored as the
        members ``"<gate>/running_mean"`` and ``"<gate>/running_var"``. Gate names follow
        the rule of parameter names. Without it (or with ``{}``) none are written, and
        `load_into` warns when it loads the file into a model with batch norm.

    Returns
    -------
    str
        The path written (with ``.npz``).

    Raises
    ------
    TypeError, ValueError
        A name or an array that cannot be saved; nothing is written.
    OSError
        The file cannot be written (no such directory, not a directory, no permission,
        disk full); the message names the path, and `path` is left as it was.
    """
    if not isinstance(params, dict):
        raise TypeError(f"save_params: params must be a dict of arrays; got "
                        f"{describe(params)}")
    for name, value in params.items():
        _check_saved_name("parameter", name)
        _check_saved_array(f"parameter {name!r}", value)
    arrays = dict(params)
    arrays.update(_flat_running_stats(running_stats))
    path = _npz_path(path)
    try:
        if os.path.isdir(path):
            raise IsADirectoryError(errno.EISDIR, os.strerror(errno.EISDIR))
        _replace_atomically(path, lambda file: _write_npz(file, arrays))
    except OSError as exc:
        raise _os_error("save_params", "write", path, exc) from exc
    return path


def load_params(path, like):
    """Read the parameters saved in `path`, checked against `like`; modify nothing.

    Every name, shape and dtype is checked from the file's headers before any array data
    is read, so memory stays within about the size of `like`'s arrays whatever the file
    holds or claims to hold.

    Parameters
    ----------
    path : str or os.PathLike
        A file written by `save_params` (or ``np.savez`` / ``np.savez_compressed``);
        ``.npz`` is added when `path` names no file and lacks it (so the name given to
        `save_params` works here too).
    like : dict of str -> ndarray
        The parameters the file must match: the same names, and for each name the same
        shape and dtype (usually ``model.params``). A file with running statistics also
        holds ``"<gate>/running_mean"`` and ``"<gate>/running_var"``, which `like` must
        then name too; `load_into` does that for a model.

    Returns
    -------
    dict of str -> ndarray
        New arrays, in the order of `like`, each of its `like` entry's shape and dtype.

    Raises
    ------
    TypeError
        `path` is not a path, or `like` is not a dict of arrays.
    ValueError
        The file is not a readable parameter file (truncated, corrupt, not an .npz, a
        pickled object array, a compression numpy does not write), or a name is missing
        or extra, or a parameter's shape or dtype differs from `like`'s. The message
        names the file and the parameter.
    OSError
        The file cannot be read (no such file, a directory); the message names the path.
    """
    return _load("load_params", path, like)


def load_into(model, path):
    """Replace `model`'s parameters and running statistics with those in `path`.

    Every parameter and running statistic is read and checked (as `load_params` does)
    before anything is written, so a failure leaves the model exactly as it was. The
    running statistics are rebound in each gate's ``bn_param`` dict (as
    ``batchnorm_forward`` rebinds them), and the model's test-mode scores are then the
    saved model's, bit for bit.

    A checkpoint that holds no running statistics at all (written by ``save_params(path,
    model.params)``, or before checkpoints carried them) still loads: its parameters
    replace the model's, the model's running statistics are left as they were, and a
    `MissingRunningStatsWarning` names the gates. Loading, because such a file's weights
    are complete and right, the statistics can be re-estimated from training data (a few
    train-mode forward passes move them; the Solver's next epoch does), and refusing would
    strand every checkpoint saved without them. Warning, because until then the model's
    test-mode scores are not the saved model's: silence would be a wrong answer. A file
    holding only some of the statistics is refused, like any other missing name.

    Parameters
    ----------
    model : a model of `training.models`, a graph, or any object with ``params``
        Built as the saved model (the same parameter names, shapes and dtypes; the same
        batch norm gates, whose statistics must have the dtype the model's have, its
        parameters' dtype where it has none yet).
    path : str or os.PathLike
        A file written by `save_model` or `save_params`; ``.npz`` may be left out.

    Returns
    -------
    model

    Raises
    ------
    ValueError, TypeError, OSError
        As `load_params`, with messages naming ``load_into``, the file and the parameter
        or statistic; the model is left as it was.

    Warns
    -----
    MissingRunningStatsWarning
        The file holds no running statistics and the model has some.
    """
    if not isinstance(getattr(model, "params", None), dict):
        raise TypeError(f"load_into: model must have a dict of parameters as model.params "
                        f"(a model of training.models, or a graph); got {describe(model)}")
    states = _bn_states(model)
    stats_like = {f"{gate}/{key}": value for gate, _, stats in states
                  for key, value in stats.items()}
    loaded = _load("load_into", path, {**model.params, **stats_like}, optional=stats_like)
    if stats_like and not any(name in loaded for name in stats_like):
        gates = ", ".join(repr(gate) for gate, _, _ in states)
        warnings.warn(MissingRunningStatsWarning(
            f"load_into: {os.fspath(path)} holds no running statistics (saved by "
            f"save_params without running_stats, or before checkpoints carried them); the "
            f"parameters are loaded, but the running mean and variance of {gates} are "
            f"left as they were, so test-mode scores are not the saved model's. Run a few "
            f"train-mode forward passes over training data to re-estimate them, and save "
            f"with save_model(path, model)"), stacklevel=2)
        stats_like = {}
    model.params.update({name: loaded[name] for name in model.params})
    for gate, state, stats in states:
        for key in stats:
            if f"{gate}/{key}" in loaded:
                state[key] = loaded[f"{gate}/{key}"]
    return model


def set_running_stats(model, stats):
    """Write `stats` (as `running_stats` returns them) into `model`'s ``bn_param`` dicts.

    Parameters
    ----------
    model : a model of `training.models`, a graph, or any object with ``params``
    stats : dict of str -> dict of str -> ndarray
        Gate name -> ``{"running_mean": (D,), "running_var": (D,)}`` for exactly the
        gates `running_stats(model)` lists, each array of the shape and dtype it has
        there. The arrays are copied, so `stats` stays the caller's.

    Returns
    -------
    model

    Raises
    ------
    TypeError, ValueError
        `stats` does not fit the model (a gate missing or extra, a key, a shape or a
        dtype); nothing is written then.
    """
    states = _bn_states(model)
    _stats_form("set_running_stats", "stats", stats)
    gates = [gate for gate, _, _ in states]
    if sorted(stats) != sorted(gates):
        raise ValueError(f"set_running_stats: stats must hold the gates {sorted(gates)} "
                         f"of the model; got {sorted(stats)}")
    updates = []
    for gate, state, current in states:
        for key, old in current.items():
            value = stats[gate][key]
            if not isinstance(value, np.ndarray) or value.shape != old.shape \
                    or value.dtype != old.dtype:
                raise ValueError(f"set_running_stats: stats[{gate!r}][{key!r}] must be a "
                                 f"{old.dtype} array of shape {old.shape}, as in the "
                                 f"model; got {describe(value)}")
            updates.append((state, key, np.array(value, copy=True)))
    for state, key, value in updates:
        state[key] = value
    return model


def running_stats(model):
    """Batch norm's running statistics in `model`, as its test mode reads them (copies).

    Parameters
    ----------
    model : a model of `training.models`, a graph, or any object with ``params``
        The statistics are read from the ``bn_param`` dict of each gate that takes one
        (``batchnorm``, ``spatial_batchnorm``, ``conv_bn_relu``) in the model's graph
        (the model itself, or its ``net``); anything else has none.

    Returns
    -------
    dict of str -> dict of str -> ndarray
        Gate name -> ``{"running_mean": (D,), "running_var": (D,)}``, the names
        ``TorchNet.gatelab_running_stats()`` uses. A statistic not yet in ``bn_param``
        (before the first train-mode pass) is what batch norm reads then: zeros, in the
        dtype of the gate's gamma (the model's dtype).
    """
    return {gate: {key: np.array(value, copy=True) for key, value in stats.items()}
            for gate, _, stats in _bn_states(model)}


def _bn_states(model):
    """[(gate name, its bn_param dict, {statistic: the value test mode reads})] for each
    gate of `model`'s graph that takes a ``bn_param`` dict, in the graph's order."""
    graph = model if isinstance(model, ComputationalGraph) else getattr(model, "net", None)
    if not isinstance(graph, ComputationalGraph):
        return []
    states = []
    for gate in graph.gates_in_order():
        arguments = inspect.signature(gate.forward).bind(*gate.args, **gate.options).arguments
        state = arguments.get("bn_param")
        if not isinstance(state, dict):
            continue
        gamma = arguments["gamma"]
        gamma = np.asarray(graph.params[gamma.name] if isinstance(gamma, Node) else gamma)
        stats = {key: np.asarray(state[key]) if key in state
                 else np.zeros(gamma.size, gamma.dtype) for key in RUNNING_STATS}
        states.append((gate.name, state, stats))
    return states


def _load(func, path, like, optional=()):
    """`like`'s arrays read from `path` (see `load_params`); the names in `optional` may
    be absent from the file all together, and are then absent from the result."""
    if not isinstance(path, (str, os.PathLike)):
        raise TypeError(f"{func}: path must be a str or os.PathLike; got "
                        f"{describe(path)}")
    expected = _expected_layouts(func, like)
    path = _existing_file(func, path)
    where = f"{func}: {path}"
    try:
        with open(path, "rb") as file:
            _check_zip_directory_size(file, where, expected)
            try:
                archive = zipfile.ZipFile(file)
            except (zipfile.BadZipFile, EOFError, ValueError) as exc:
                raise ValueError(f"{where} is not a readable .npz file (truncated or "
                                 f"corrupt?): {exc}") from exc
            with archive:
                members = _members(archive, expected, optional, where)
                # Every header first: nothing is allocated for a file that fails.
                layouts = {name: _read_layout(archive, members[name], expected[name],
                                              f"{where}: {_label(name)}")
                           for name in members}
                return {name: _read_data(archive, members[name], layouts[name],
                                         f"{where}: {_label(name)}")
                        for name in expected if name in members}
    except OSError as exc:
        raise _os_error(func, "read", path, exc) from exc


def _label(name):
    """How messages name a member: ``parameter 'W1'``, ``running statistic 'bn1/...'``."""
    kind = "running statistic" if "/" in name else "parameter"
    return f"{kind} {name!r}"


# -- saving ------------------------------------------------------------------------------

def _check_saved_name(kind, name):
    """Refuse a parameter or gate name that cannot name a zip member of its own."""
    if not isinstance(name, str):
        raise TypeError(f"save_params: {kind} names must be strings; got {name!r}")
    if not name or any(c in name for c in "/\\\0"):
        raise ValueError(f"save_params: {kind} names must be non-empty strings "
                         f"without '/', '\\' or NUL; got {name!r}")


def _check_saved_array(what, value):
    if not isinstance(value, np.ndarray) or value.dtype.kind != "f":
        raise TypeError(f"save_params: {what} must be a floating-point ndarray; got "
                        f"{describe(value)}")


def _flat_running_stats(stats):
    """{"<gate>/running_mean": array, ...} from `running_stats`' nested dict, checked."""
    if stats is None:
        return {}
    flat = {}
    for gate, entries in _stats_form("save_params", "running_stats", stats).items():
        _check_saved_name("gate", gate)
        for key in RUNNING_STATS:
            _check_saved_array(f"running_stats[{gate!r}][{key!r}]", entries[key])
            flat[f"{gate}/{key}"] = entries[key]
    return flat


def _stats_form(func, argument, stats):
    """`stats`, refused unless it is a dict of gate -> {"running_mean", "running_var"}."""
    if not isinstance(stats, dict):
        raise TypeError(f"{func}: {argument} must be a dict of gate name -> "
                        f"{{'running_mean': array, 'running_var': array}}; got "
                        f"{describe(stats)}")
    for gate, entries in stats.items():
        if not isinstance(entries, dict) or sorted(entries) != sorted(RUNNING_STATS):
            got = sorted(entries) if isinstance(entries, dict) else describe(entries)
            raise ValueError(f"{func}: {argument}[{gate!r}] must be a dict with the keys "
                             f"{list(RUNNING_STATS)}; got {got}")
    return stats


def _npz_path(path):
    """`path` as a str ending in ``.npz``, the name ``np.savez`` would write."""
    path = os.fspath(path)
    return path if path.endswith(".npz") else f"{path}.npz"


def _write_npz(file, params):
    """`params` as np.savez's zip of ``name.npy`` members, written to the open `file`."""
    with zipfile.ZipFile(file, "w", compression=zipfile.ZIP_STORED,
                         allowZip64=True) as archive:
        for name, value in params.items():
            with archive.open(f"{name}.npy", "w", force_zip64=True) as member:
                npy_format.write_array(member, value, allow_pickle=False)


def _replace_atomically(path, write):
    """Call ``write(file)`` on a new file beside `path`, sync it, rename it to `path`."""
    directory = os.path.dirname(os.path.abspath(path))
    partial, descriptor = _create_unique(directory, os.path.basename(path))
    try:
        with os.fdopen(descriptor, "wb") as file:
            write(file)
            file.flush()
            os.fsync(file.fileno())
        os.replace(partial, path)
    except BaseException:
        try:
            os.remove(partial)
        except OSError:
            pass
        raise
    _sync_directory(directory)


def _create_unique(directory, base):
    """(path, descriptor) of a new, empty file named after `base` in `directory`.

    Like ``tempfile.mkstemp`` (a random name, created exclusively, so that concurrent
    saves never share a file), but with the permissions an ordinary ``open`` would give
    (0666 less the umask) rather than mkstemp's 0600, since the file becomes the
    checkpoint.
    """
    flags = os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_BINARY", 0)
    for _ in range(100):
        candidate = os.path.join(directory, f".{base}.{secrets.token_hex(8)}.partial")
        try:
            return candidate, os.open(candidate, flags, 0o666)
        except FileExistsError:
            continue
    raise FileExistsError(errno.EEXIST, f"no free temporary name for {base} in {directory}")


def _sync_directory(directory):
    """Flush `directory`'s entries to disk, so that the rename survives a power cut."""
    if os.name != "posix":
        return  # Windows cannot open a directory; its rename is journalled with the file
    try:
        descriptor = os.open(directory, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(descriptor)
    except OSError:
        pass  # some file systems cannot sync a directory; the file itself is synced
    finally:
        os.close(descriptor)


def _os_error(function, action, path, exc):
    """`exc` (an OSError) as the same kind of OSError, with a message naming `path`."""
    reason = exc.strerror or str(exc)
    directory = os.path.dirname(os.path.abspath(path))
    if isinstance(exc, FileNotFoundError) and action == "write" \
            and not os.path.exists(directory):
        reason = f"the directory {directory} does not exist"
    elif isinstance(exc, NotADirectoryError) and not os.path.isdir(directory):
        reason = f"{directory} is not a directory"
    message = f"{function}: cannot {action} {path}: {reason}"
    # OSError(errno, message) builds the subclass of that errno (FileNotFoundError, ...).
    return OSError(exc.errno, message) if exc.errno is not None else OSError(message)


# -- loading -----------------------------------------------------------------------------

def _expected_layouts(func, like):
    """{name: (shape, dtype)} of the parameters `like` describes, checked."""
    if not isinstance(like, dict):
        raise TypeError(f"{func}: like must be a dict of parameter name -> array, "
                        f"the parameters the file must match (usually model.params); "
                        f"got {describe(like)}")
    expected = {}
    for name, value in like.items():
        if not isinstance(name, str):
            raise TypeError(f"{func}: the names in like must be strings; got "
                            f"{name!r}")
        array = np.asarray(value)
        if array.dtype.hasobject:
            raise TypeError(f"{func}: like[{name!r}] must be a numeric array; got "
                            f"{describe(value)}")
        expected[name] = (array.shape, array.dtype)
    return expected


def _existing_file(func, path):
    """`path` as a str, or with ``.npz`` added when only that exists."""
    path = os.fspath(path)
    if os.path.exists(path):
        return path
    with_suffix = _npz_path(path)
    if os.path.exists(with_suffix):
        return with_suffix
    tried = path if with_suffix == path else f"{path} (nor {with_suffix})"
    raise FileNotFoundError(errno.ENOENT, f"{func}: no such file: {tried}")


def _check_zip_directory_size(file, where, expected):
    """Refuse a file whose zip directory is far larger than `expected`'s members need.

    ``zipfile`` reads the whole directory into memory on opening, at a few hundred bytes
    per entry, so the size it will read is checked first, from the archive's end record.
    """
    size = file.seek(0, os.SEEK_END)
    if size >= 6:
        file.seek(0)
        if file.read(6) == b"\x93NUMPY":
            raise ValueError(f"{where} holds a single array (.npy), not a parameter file "
                             "written by save_params (.npz)")
    directory_bytes = _zip_directory_bytes(file, size)
    if directory_bytes is None:
        raise ValueError(f"{where} is not a readable .npz file (truncated or corrupt?): "
                         "it has no zip end record")
    longest = max((len(name.encode()) for name in expected), default=0)
    limit = (len(expected) + _SPARE_MEMBERS) * (_ZIP_ENTRY_BYTES + longest + 4)
    if directory_bytes > limit:
        raise ValueError(f"{where} is not a parameter file for these {len(expected)} "
                         f"parameters: its zip directory is {directory_bytes} bytes, more "
                         f"than their {len(expected)} members can need ({limit})")


def _zip_directory_bytes(file, size):
    """The central directory's size as the end records of the zip in `file` declare it.

    None when no end record is found. The end record (22 bytes, signature ``PK\\5\\6``)
    is followed by a comment of up to 64 KiB; a ZIP64 locator (20 bytes, ``PK\\6\\7``)
    just before it announces a ZIP64 end record (56 bytes, ``PK\\6\\6``) before that,
    whose 64-bit size then counts instead.
    """
    start = max(size - 22 - 0xFFFF, 0)
    file.seek(start)
    tail = file.read()
    at = tail.rfind(b"PK\x05\x06")
    if at < 0 or len(tail) - at < 22:
        return None
    directory_bytes = struct.unpack_from("<L", tail, at + 12)[0]
    end_record = start + at
    if end_record >= 20 + 56:
        file.seek(end_record - 20 - 56)
        zip64 = file.read(56 + 20)
        if zip64[56:60] == b"PK\x06\x07" and zip64[:4] == b"PK\x06\x06":
            directory_bytes = struct.unpack_from("<Q", zip64, 40)[0]
    return directory_bytes


def _members(archive, expected, optional, where):
    """{name: ZipInfo} of the archive's members, which must be exactly `expected`'s, or
    `expected`'s less every name in `optional`."""
    members, extra = {}, []
    for info in archive.infolist():
        name = info.filename[:-4] if info.filename.endswith(".npy") else info.filename
        if name in members:
            raise ValueError(f"{where}: member {info.filename!r} appears twice (a crafted "
                             f"or corrupt file)")
        members[name] = info
        if name not in expected:
            extra.append(name)
    missing = [name for name in expected if name not in members]
    if optional and set(missing) == set(optional):
        missing = []
    if missing or extra:
        parts = [f"missing {', '.join(map(repr, missing))}" if missing else "",
                 f"unexpected {', '.join(map(repr, extra))}" if extra else ""]
        raise ValueError(f"{where} does not hold the model's parameters: "
                         f"{'; '.join(p for p in parts if p)}")
    return members


def _read_layout(archive, info, expected, where):
    """(shape, fortran_order, dtype, header bytes) of a member, checked against `expected`.

    Reads the member's .npy header only (at most `_MAX_NPY_HEADER` bytes), checks the
    shape and dtype against ``expected = (shape, dtype)`` and the member's declared size
    against the header's, so that reading the data allocates exactly the expected array.
    """
    if info.flag_bits & 0x1:
        raise ValueError(f"{where} is encrypted; parameter files are not")
    if info.compress_type not in (zipfile.ZIP_STORED, zipfile.ZIP_DEFLATED):
        raise ValueError(f"{where} uses zip compression method {info.compress_type}; "
                         "parameter files are stored or deflated (as np.savez and "
                         "np.savez_compressed write them)")
    try:
        with archive.open(info) as stream:
            shape, fortran_order, dtype, header_bytes = _read_npy_header(stream)
    except (ValueError, EOFError, zipfile.BadZipFile, zlib.error) as exc:
        raise ValueError(f"{where} cannot be read (truncated or corrupt file?): "
                         f"{type(exc).__name__}: {exc}") from exc
    expected_shape, expected_dtype = expected
    if dtype.hasobject:
        raise ValueError(f"{where} holds Python objects ({dtype}), which would be "
                         "unpickled to load; a parameter file holds numbers only")
    if shape != expected_shape:
        raise ValueError(f"{where} has shape {shape} in the file but {expected_shape} in "
                         f"the model")
    if dtype != expected_dtype:
        raise ValueError(f"{where} is {dtype} in the file but {expected_dtype} in the "
                         f"model")
    data_bytes = int(np.prod(shape, dtype=np.int64)) * dtype.itemsize
    if info.file_size != header_bytes + data_bytes:
        raise ValueError(f"{where}: the zip member declares {info.file_size} bytes, but a "
                         f"{shape} {dtype} array with its header takes "
                         f"{header_bytes + data_bytes} (a crafted or corrupt file)")
    return shape, fortran_order, dtype, header_bytes


def _read_npy_header(stream):
    """(shape, fortran_order, dtype, header bytes) from the .npy header `stream` starts with.

    numpy's header readers read the whole declared header before checking its length
    (up to 4 GiB for version 2.0), so the length is checked here first and numpy then
    parses the bytes already read.
    """
    version = npy_format.read_magic(stream)
    readers = {(1, 0): (2, npy_format.read_array_header_1_0),
               (2, 0): (4, npy_format.read_array_header_2_0)}
    if version not in readers:
        raise ValueError(f".npy format version {version[0]}.{version[1]} is not one "
                         "numpy writes for numbers (1.0 or 2.0)")
    length_bytes, reader = readers[version]
    length_field = _read_exactly(stream, length_bytes)
    length = int.from_bytes(length_field, "little")
    if length > _MAX_NPY_HEADER:
        raise ValueError(f"the .npy header claims {length} bytes; numpy writes at most "
                         f"{_MAX_NPY_HEADER}")
    header = _read_exactly(stream, length)
    shape, fortran_order, dtype = reader(io.BytesIO(length_field + header),
                                         max_header_size=_MAX_NPY_HEADER)
    return shape, fortran_order, dtype, npy_format.MAGIC_LEN + length_bytes + length


def _read_exactly(stream, count):
    data = stream.read(count)
    if len(data) != count:
        raise EOFError(f"the .npy header ends after {len(data)} of {count} bytes")
    return data


def _read_data(archive, info, layout, where):
    """The array of a member whose `layout` `_read_layout` checked, read in pieces."""
    shape, fortran_order, dtype, header_bytes = layout
    flat = np.empty(int(np.prod(shape, dtype=np.int64)), dtype)
    view = memoryview(flat.view(np.uint8))
    try:
        with archive.open(info) as stream:
            stream.read(header_bytes)
            done = 0
            while done < len(view):
                piece = stream.read(min(_CHUNK_BYTES, len(view) - done))
                if not piece:
                    raise EOFError(f"the data ends after {done} of {len(view)} bytes")
                view[done:done + len(piece)] = piece
                done += len(piece)
    except (EOFError, zipfile.BadZipFile, zlib.error) as exc:
        raise ValueError(f"{where} cannot be read (truncated or corrupt file?): "
                         f"{type(exc).__name__}: {exc}") from exc
    if fortran_order:
        return flat.reshape(shape[::-1]).transpose()
    return flat.reshape(shape)
