"""Work arrays that outlive a call, one set per thread.

A layer or an update rule that needs a large temporary (the fast conv's columns, a
normalization's gradient term, Adam's intermediates) takes it from here instead of
allocating it afresh in every call: glibc
maps and unmaps arrays of a few MB, or trims them off its heap, and faulting their pages
in again costs more than the arithmetic that fills them (benchmarks/bench_norms.py,
benchmarks/bench_conv_choices.py, section scratch). A scratch array is only ever used
inside the call that took it: it is never returned nor kept in a cache, and the next
call of any layer in the same thread may overwrite it.

A buffer above `SCRATCH_LIMIT` bytes is never kept, nor one that would take a thread's
kept buffers past `SCRATCH_TOTAL_LIMIT`: such a temporary is allocated afresh, as it
would be without this module. `clear_scratch()` releases the calling thread's buffers,
e.g. after training, before a memory-hungry step, or before measuring memory.
"""

import math
import threading

import numpy as np

# The package exports clear_scratch; the rest is for code built on the library (layers,
# update rules), imported from this module: `layers.scratch.scratch`.
__all__ = ["clear_scratch"]

# 16 MB: twice the fast conv's columns per chunk (`layers.conv.CHUNK_BYTES`). The total
# keeps a thread's buffers bounded: the conv alone names seven per dtype.
SCRATCH_LIMIT = 16 << 20
SCRATCH_TOTAL_LIMIT = 64 << 20
_kept = threading.local()


def scratch_buffers():
    """This thread's kept buffers, flat arrays by (name, dtype)."""
    if not hasattr(_kept, "buffers"):
        _kept.buffers = {}
    return _kept.buffers


def scratch(name, shape, dtype):
    """A contiguous array of `shape` and `dtype`, uninitialized, that later calls asking
    for the same `name` (and dtype) in this thread get again (see `SCRATCH_LIMIT`).

    Two arrays live at once in one call need two names.
    """
    dtype = np.dtype(dtype)
    size = math.prod(shape)
    buffers = scratch_buffers()
    key = (name, dtype)
    flat = buffers.get(key)
    if flat is None or flat.size < size:
        old = buffers.pop(key, None)
        flat = np.empty(size, dtype)
        kept = sum(kept.nbytes for kept in buffers.values())
        if flat.nbytes <= SCRATCH_LIMIT and kept + flat.nbytes <= SCRATCH_TOTAL_LIMIT:
            buffers[key] = flat
        elif old is not None:
            buffers[key] = old
    return flat[:size].reshape(shape)


def clear_scratch():
    """Release the scratch buffers the layers keep for the calling thread.

    Returns
    -------
    freed : int, the bytes the buffers held (returned to the allocator once no array
        still refers to them)

    Examples
    --------
    >>> from layers import conv_forward
    >>> _ = conv_forward(np.ones((1, 1, 3, 3)), np.ones((1, 1, 2, 2)), np.zeros(1),
    ...                  {"stride": 1, "pad": 0})
    >>> clear_scratch() > 0, clear_scratch()
    (True, 0)
    """
    buffers = scratch_buffers()
    freed = sum(flat.nbytes for flat in buffers.values())
    buffers.clear()
    return freed
