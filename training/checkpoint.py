"""Save and load a model's parameters as a ``.npz`` file, all or nothing.

`save_params` writes one array per parameter name in ``np.savez``'s format, to a file of
its own in the target's directory that replaces the target in one step
(``os.replace``): a reader, or another process saving to the same path at the same time,
sees either the old file or a complete new one, never a mixture.

`load_params` trusts nothing in the file. From the zip directory and each member's
``.npy`` header alone, before reading any array data, it checks the member names, shapes
and dtypes against the parameters they replace, and that each member's size is what its
header says; only then does it read the data, into arrays of the expected size. So a
small crafted file cannot make it allocate more than about the model's own parameters
(a header claiming 10**12 elements, a highly compressed member, a huge zip directory),
and it never unpickles anything (object arrays are refused). `load_into` then swaps a
model's dict in one step. A truncated or corrupt file, a missing or extra name, a wrong
shape or dtype raises ``ValueError`` naming the file and the parameter; an operating
system error (no such file, disk full, not a directory) raises ``OSError`` naming the
file; the model is never half-loaded.

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

import errno
import io
import os
import secrets
import struct
import zipfile
import zlib

import numpy as np
from numpy.lib import format as npy_format

from layers.contract import describe

__all__ = ["save_params", "load_params", "load_into"]

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


def save_params(path, params):
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
    try:
        if os.path.isdir(path):
            raise IsADirectoryError(errno.EISDIR, os.strerror(errno.EISDIR))
        _replace_atomically(path, lambda file: _write_npz(file, params))
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
        shape and dtype (usually ``model.params``).

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
    if not isinstance(path, (str, os.PathLike)):
        raise TypeError(f"load_params: path must be a str or os.PathLike; got "
                        f"{describe(path)}")
    expected = _expected_layouts(like)
    path = _existing_file(path)
    where = f"load_params: {path}"
    try:
        with open(path, "rb") as file:
            _check_zip_directory_size(file, where, expected)
            try:
                archive = zipfile.ZipFile(file)
            except (zipfile.BadZipFile, EOFError, ValueError) as exc:
                raise ValueError(f"{where} is not a readable .npz file (truncated or "
                                 f"corrupt?): {exc}") from exc
            with archive:
                members = _members(archive, expected, where)
                # Every header first: nothing is allocated for a file that fails.
                layouts = {name: _read_layout(archive, members[name], expected[name],
                                              f"{where}: parameter {name!r}")
                           for name in expected}
                return {name: _read_data(archive, members[name], layouts[name],
                                         f"{where}: parameter {name!r}")
                        for name in expected}
    except OSError as exc:
        raise _os_error("load_params", "read", path, exc) from exc


def load_into(model, path):
    """Replace ``model.params`` with the parameters in `path`, after checking all of them.

    The model's dict is updated only once every parameter has been read and checked
    (`load_params`), so a failure leaves the model exactly as it was.
    """
    model.params.update(load_params(path, model.params))
    return model


# -- saving ------------------------------------------------------------------------------

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

def _expected_layouts(like):
    """{name: (shape, dtype)} of the parameters `like` describes, checked."""
    if not isinstance(like, dict):
        raise TypeError(f"load_params: like must be a dict of parameter name -> array, "
                        f"the parameters the file must match (usually model.params); "
                        f"got {describe(like)}")
    expected = {}
    for name, value in like.items():
        if not isinstance(name, str):
            raise TypeError(f"load_params: the names in like must be strings; got "
                            f"{name!r}")
        array = np.asarray(value)
        if array.dtype.hasobject:
            raise TypeError(f"load_params: like[{name!r}] must be a numeric array; got "
                            f"{describe(value)}")
        expected[name] = (array.shape, array.dtype)
    return expected


def _existing_file(path):
    """`path` as a str, or with ``.npz`` added when only that exists."""
    path = os.fspath(path)
    if os.path.exists(path):
        return path
    with_suffix = _npz_path(path)
    if os.path.exists(with_suffix):
        return with_suffix
    tried = path if with_suffix == path else f"{path} (nor {with_suffix})"
    raise FileNotFoundError(errno.ENOENT, f"load_params: no such file: {tried}")


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


def _members(archive, expected, where):
    """{name: ZipInfo} of the archive's members, which must be exactly `expected`'s."""
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
