"""Plain data between the grader and a student's process: framing, encoding, decoding.

Nothing is pickled. A message is a 4-byte big-endian length and that many bytes of JSON.
Values are encoded as

- JSON null, true/false, numbers and strings for None, bool, int, float and str (only
  these exact types: a subclass of float is not a float here);
- ``{"tuple": [...]}``, ``{"list": [...]}``, ``{"dict": [[key, value], ...]}`` (keys str
  or int);
- ``{"nd": dtype, "shape": [...], "data": base64}`` for an ndarray of one of `DTYPES`
  (exactly ``np.ndarray``, never a subclass), ``{"np": dtype, "data": base64}`` for a
  NumPy scalar of those dtypes; the receiver rebuilds a fresh array from the raw bytes;
- ``{"ref": n, "callable": bool}``: an object that stays in the process that sent it (a
  handle), and ``{"yours": n}``: a handle sent back to the process that owns it.

`decode` accepts exactly this grammar and raises `WireError` for anything else, so a
process that writes garbage, or a value of the wrong kind, is an error, never a pass.
"""

import base64
import json
import math
import os
import select
import time

import numpy as np

__all__ = ["DTYPES", "MAX_MESSAGE_BYTES", "Ref", "WireError", "decode", "encode",
           "read_message", "write_message"]

DTYPES = ("float64", "float32", "int64", "int32", "bool")
# Generous for the arrays of an exercise (a few MB), small enough that a flood is refused
# before it fills the grader's memory.
MAX_MESSAGE_BYTES = 64 * 2**20
MAX_DEPTH = 32


class WireError(ValueError):
    """A message or value that does not follow the protocol."""


class Ref:
    """A handle on an object kept by the other process: only its number travels."""

    __slots__ = ("number",)

    def __init__(self, number):
        self.number = number


def encode(value, keep=None, depth=0):
    """The JSON-ready form of `value`; objects that are not plain data become handles
    via `keep(value) -> int` (a TypeError without it)."""
    if depth > MAX_DEPTH:
        raise WireError("value nested too deeply")
    kind = type(value)
    if value is None or kind in (bool, int, str):
        return value
    if kind is float:
        return value if math.isfinite(value) else {"float": repr(value)}
    if kind is tuple or kind is list:
        items = [encode(item, keep, depth + 1) for item in value]
        return {"tuple" if kind is tuple else "list": items}
    if kind is dict and all(type(key) in (str, int) for key in value):
        return {"dict": [[key, encode(item, keep, depth + 1)] for key, item in value.items()]}
    if kind is np.ndarray and value.dtype.name in DTYPES:
        data = np.ascontiguousarray(value).tobytes()
        return {"nd": value.dtype.name, "shape": list(value.shape),
                "data": base64.b64encode(data).decode("ascii")}
    if isinstance(value, np.generic) and type(value) is np.dtype(type(value)).type \
            and value.dtype.name in DTYPES:
        return {"np": value.dtype.name,
                "data": base64.b64encode(value.tobytes()).decode("ascii")}
    if isinstance(value, Ref):
        return {"yours": value.number}
    if keep is None:
        raise TypeError(f"not plain data: an object of type {kind.__name__}")
    return {"ref": keep(value), "callable": callable(value)}


def decode(data, resolve=None, depth=0):
    """The value `data` (JSON-ready, from `encode`) describes; handles go through
    `resolve(tag, number, callable)`. Raises WireError for anything outside the grammar."""
    if depth > MAX_DEPTH:
        raise WireError("value nested too deeply")
    kind = type(data)
    if data is None or kind in (bool, int, float, str):
        return data
    if kind is not dict or len(data) not in (1, 2, 3):
        raise WireError(f"unexpected value of type {kind.__name__}")
    if len(data) == 1:
        [(tag, body)] = data.items()
        if tag in ("tuple", "list") and type(body) is list:
            items = [decode(item, resolve, depth + 1) for item in body]
            return tuple(items) if tag == "tuple" else items
        if tag == "dict" and type(body) is list:
            return {_key(pair): decode(pair[1], resolve, depth + 1) for pair in body}
        if tag == "float" and body in ("nan", "inf", "-inf"):
            return float(body)
        if tag == "yours" and type(body) is int and resolve is not None:
            return resolve(tag, body, False)
    if set(data) == {"ref", "callable"} and type(data["ref"]) is int \
            and type(data["callable"]) is bool and resolve is not None:
        return resolve("ref", data["ref"], data["callable"])
    if set(data) == {"np", "data"} and data["np"] in DTYPES:
        array = _array(data["np"], [], data["data"])
        return array[()]
    if set(data) == {"nd", "shape", "data"} and data["nd"] in DTYPES:
        return _array(data["nd"], data["shape"], data["data"])
    raise WireError("unexpected value: " + ", ".join(sorted(map(str, data)))[:80])


def _key(pair):
    if type(pair) is not list or len(pair) != 2 or type(pair[0]) not in (str, int):
        raise WireError("a dict item must be [str or int key, value]")
    return pair[0]


def _array(dtype, shape, data):
    if type(shape) is not list or not all(type(n) is int and n >= 0 for n in shape) \
            or type(data) is not str:
        raise WireError("an array needs a list of sizes and base64 data")
    try:
        raw = base64.b64decode(data.encode("ascii"), validate=True)
    except (ValueError, UnicodeEncodeError) as exc:
        raise WireError(f"array data is not base64: {exc}") from None
    dtype = np.dtype(dtype)
    if len(raw) != math.prod(shape) * dtype.itemsize:
        raise WireError(f"array data of {len(raw)} bytes for shape {tuple(shape)} of {dtype}")
    return np.frombuffer(raw, dtype=dtype).reshape(shape).copy()


def write_message(fd, message):
    """Write `message` (JSON-ready) to the file descriptor `fd`, framed."""
    body = json.dumps(message, allow_nan=False).encode("utf-8")
    view = memoryview(len(body).to_bytes(4, "big") + body)
    while view:
        written = os.write(fd, view)
        view = view[written:]


def read_message(fd, deadline=None):
    """The next framed message from `fd` (JSON-decoded but not `decode`d).

    Raises
    ------
    TimeoutError
        Past `deadline` (time.monotonic()) before the message is complete.
    EOFError
        The writer closed the pipe.
    WireError
        A frame too long or not JSON.
    """
    size = int.from_bytes(_read_exactly(fd, 4, deadline), "big")
    if size > MAX_MESSAGE_BYTES:
        raise WireError(f"a message of {size} bytes (at most {MAX_MESSAGE_BYTES})")
    body = _read_exactly(fd, size, deadline)
    try:
        return json.loads(body.decode("utf-8"), parse_constant=_no_constant)
    except (UnicodeDecodeError, ValueError) as exc:
        raise WireError(f"a message that is not JSON ({exc})"[:120]) from None


def _no_constant(name):
    raise WireError(f"{name} is not plain JSON")


def _read_exactly(fd, size, deadline):
    chunks, remaining = [], size
    while remaining:
        if deadline is not None:
            left = deadline - time.monotonic()
            if left <= 0 or not select.select([fd], [], [], left)[0]:
                raise TimeoutError
        chunk = os.read(fd, min(remaining, 1 << 20))
        if not chunk:
            raise EOFError
        chunks.append(chunk)
        remaining -= len(chunk)
    return b"".join(chunks)
