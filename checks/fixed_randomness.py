"""Call a user's forward the same way every time the checker needs it.

Three things could make repeated calls of one forward at one input differ, and none is
the layer's gradient's fault:

- a forward that writes into its inputs (``x -= x.max(axis=1, keepdims=True)``) or into
  a parameter dict (running statistics): every call gets its own copies of every array,
  also inside dicts, lists and tuples, so the writes reach neither the caller's arrays
  nor the checker's, nor later calls. Each copy has the memory layout of the array it
  stands for (C or Fortran order, transposed, strided, negative strides: `copy_like`),
  so the forward sees what the caller gave it, and the checker's perturbations, written
  into its own C-ordered copies, reach every call;
- randomness drawn from NumPy's global RNG (``np.random.rand`` in a hand-written
  dropout): as Caffe's checker does, every call starts from the same global state, so
  every evaluation draws the same mask. A layer drawing from a fresh ``default_rng()``
  has no state to fix and is reported as not deterministic.

NumPy's global state is one for the whole process, so checks running in several threads
at once would otherwise set it under each other's calls. Every seeded call therefore
holds one process-wide lock from setting the state to putting back the state it found,
and between calls the global state is always the caller's: concurrent checks give the
verdicts of serial ones and leave the state as they found it. Reading and setting the
state costs more than a small layer's forward, so the first call finds out whether the
forward draws from the global RNG at all (whether the state moved), and the calls of a
forward that does not run without the lock and without touching the state.
"""

import copy
import threading
import types

import numpy as np

# Reentrant: a forward may itself run a check (a graph checked inside a layer).
_GLOBAL_STATE = threading.RLock()


def copy_like(array, template=None):
    """A fresh, writable copy of `array` laid out in memory as `template` is.

    `template` (by default `array` itself) is an array of `array`'s shape, of any dtype:
    the copy has its strides scaled to the copy's item size (Fortran order, a transpose,
    a slice with a step, negative strides), so that a forward sees the layout its caller
    passed. An array whose layout cannot be rebuilt that way (a broadcast view, whose
    zero strides alias elements) is copied in C order.
    """
    template = array if template is None else template
    if (not isinstance(template, np.ndarray) or template.shape != array.shape
            or template.flags.c_contiguous or template.size <= 1):
        return np.array(array, order="C")
    if template.flags.f_contiguous:
        return np.array(array, order="F")
    copy = _empty_like_layout(template, array.dtype, array.shape)
    copy[...] = array
    return copy


def _empty_like_layout(template, dtype, shape):
    """An empty array of `shape` and `dtype` with `template`'s strides, scaled."""
    item, size = template.itemsize, np.dtype(dtype).itemsize
    if any(s == 0 or s % item for s, n in zip(template.strides, shape) if n > 1):
        return np.empty(shape, dtype)
    strides = [s // item * size for s in template.strides]
    low = sum(s * (n - 1) for s, n in zip(strides, shape) if s < 0)
    high = sum(s * (n - 1) for s, n in zip(strides, shape) if s > 0)
    buffer = np.empty((high - low) // size + 1, dtype)
    return np.lib.stride_tricks.as_strided(buffer[-low // size:], shape, strides)


def fresh(value, template=None, found=None, path=(), frozen=False, share=False):
    """`value` with a `copy_like` of every array in it, through dicts, lists and tuples.

    `template` is the caller's value the call stands for (the checker calls the forward
    with float64 or perturbed versions of it): each array copy takes the layout of the
    template's array at the same place. When `found` is a list, (path, array, copy) is
    appended for every array copied, the path being the keys and indices that lead to
    it; `frozen` makes the copies read-only, so that a write into one raises where it
    is made. With `share`, an array already in its template's layout is passed as a
    read-only view instead of a copy: no write can reach it, and a large argument is not
    copied at every call.
    """
    if isinstance(value, np.ndarray):
        template = template if isinstance(template, np.ndarray) else None
        if share and _same_layout(value, template):
            view = value.view()
            view.flags.writeable = False
            return view
        copy = copy_like(value, template)
        if found is not None:
            found.append((path, value, copy))
        if frozen:
            copy.flags.writeable = False
        return copy
    if isinstance(value, dict):
        inner = template if isinstance(template, dict) else {}
        return {k: fresh(v, inner.get(k), found, (*path, k), frozen, share)
                for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        inner = template if isinstance(template, (list, tuple)) and len(
            template) == len(value) else [None] * len(value)
        copied = [fresh(v, t, found, (*path, k), frozen, share)
                  for k, (v, t) in enumerate(zip(value, inner))]
        return copied if isinstance(value, list) else _same_kind(value, copied)
    return value


def _same_layout(value, template):
    """Whether `value` is laid out as a copy of it like `template` would be."""
    if value.flags.c_contiguous:
        return template is None or template.flags.c_contiguous or template.size <= 1
    return template is not None and value.strides == template.strides and (
        value.dtype == template.dtype)


def _same_kind(value, items):
    """A tuple (or named tuple) of `value`'s type holding `items`."""
    if type(value) is tuple:
        return tuple(items)
    try:
        return type(value)(*items)
    except TypeError:
        return tuple(items)


class FixedCalls:
    """``calls(args, kwargs)`` runs ``forward(*args, **kwargs)`` with fixed randomness.

    Every call starts from NumPy's global random state as it was when the context was
    entered, and puts back the state it found when it returns::

        with FixedCalls(forward) as calls:
            out, cache = calls(args, kwargs)
    """

    def __init__(self, forward, args=(), kwargs=None):
        self.forward = forward
        # The caller's arguments: every call's copies take their memory layout.
        self.layout_args, self.layout_kwargs = list(args), dict(kwargs or {})
        self.state = None
        self.draws = None  # whether the forward draws from the global RNG; known after a call
        # Set by the checker once the forward is known not to write into its inputs: the
        # arrays already in their caller's layout are then passed as read-only views.
        self.share = False

    def __enter__(self):
        with _GLOBAL_STATE:
            self.state = np.random.get_state()
        return self

    def __exit__(self, *exc_info):
        return False

    def copies(self, args, kwargs, found=None, frozen=False, share=False):
        """Fresh copies of `args` and `kwargs` in the caller's layouts (`fresh`); paths
        in `found` start with the argument's position or keyword."""
        layout = self.layout_args + [None] * (len(args) - len(self.layout_args))
        return ([fresh(a, t, found, (i,), frozen, share)
                 for i, (a, t) in enumerate(zip(args, layout))],
                {k: fresh(v, self.layout_kwargs.get(k), found, (k,), frozen, share)
                 for k, v in kwargs.items()})

    def __call__(self, args, kwargs, found=None, frozen=False):
        """``forward(*args, **kwargs)`` on fresh copies (`copies`), or read-only views
        (`share`); a forward that then raises for a read-only array runs on copies."""
        if self.share and found is None and not frozen:
            try:
                return self.call(*self.copies(args, kwargs, share=True))
            except ValueError as exc:
                if not is_read_only_error(exc):
                    raise
                self.share = False
        return self.call(*self.copies(args, kwargs, found, frozen))

    def call(self, args, kwargs):
        """``forward(*args, **kwargs)`` from the fixed global random state."""
        if self.draws is False:
            return self.forward(*args, **kwargs)
        with _GLOBAL_STATE:
            found_state = np.random.get_state()
            np.random.set_state(self.state)
            try:
                result = self.forward(*args, **kwargs)
                if self.draws is None:
                    self.draws = not _same_state(np.random.get_state(), self.state)
                return result
            finally:
                np.random.set_state(found_state)


def _same_state(one, other):
    """Whether two states of ``np.random.get_state()`` are equal."""
    return (one[0] == other[0] and np.array_equal(one[1], other[1])
            and tuple(one[2:]) == tuple(other[2:]))


def is_read_only_error(exc):
    """Whether `exc` is NumPy's refusal to write into a read-only array (or a compiled
    extension's refusal to take one)."""
    return isinstance(exc, ValueError) and "read-only" in str(exc)


def viewed(value, depth=0):
    """A copy of the cache `value` whose containers are new and whose arrays are
    read-only views of its own: a backward can consume it (``cache.pop()``) without
    touching `value`, and a write into one of its arrays raises where it is made.
    Objects are copied shallowly and their attributes viewed; objects that define how
    they are deep-copied, and what cannot be copied so, are deep-copied."""
    if isinstance(value, np.ndarray):
        view = value.view()
        view.flags.writeable = False
        return view
    if depth > DEPTH:
        return copy.deepcopy(value)
    if isinstance(value, dict):
        return {k: viewed(v, depth + 1) for k, v in value.items()}
    if isinstance(value, list):
        return [viewed(v, depth + 1) for v in value]
    if isinstance(value, tuple):
        return _same_kind(value, [viewed(v, depth + 1) for v in value])
    if isinstance(value, (type, types.ModuleType, types.FunctionType)) or callable(value):
        return value
    names = _attributes(value) if _has_attributes(value) else ()
    if not names or hasattr(value, "__deepcopy__"):  # an object that says how it copies
        return copy.deepcopy(value)
    try:
        clone = copy.copy(value)
        for name in names:
            setattr(clone, name, viewed(getattr(value, name), depth + 1))
    except (AttributeError, TypeError):  # frozen or read-only attributes
        return copy.deepcopy(value)
    return clone


def _has_attributes(value):
    return hasattr(value, "__dict__") or bool(getattr(type(value), "__slots__", ()))


def written(found):
    """The paths of the copies in `found` (see `fresh`) that no longer equal their
    arrays: what a call wrote into."""
    return [path for path, array, copy in found if not same_array(array, copy)]


def same_array(one, other):
    """Whether two arrays have one shape and equal values (NaN equal to NaN)."""
    if one.shape != other.shape or one.dtype != other.dtype:
        return False
    if one.dtype.kind in "fc":
        return bool(np.array_equal(one, other, equal_nan=True))
    try:
        return bool(np.array_equal(one, other))
    except (TypeError, ValueError):  # object arrays whose items do not compare
        return one.tolist() == other.tolist()


# How deep `difference` follows containers and objects' attributes into a cache.
DEPTH = 8


def difference(before, after, path="cache", depth=0):
    """Where `after` (a copy of the cache `before`, given to a backward) differs from it:
    ``(path, "consumed")`` when a list or dict in it lost items (``cache.pop()``),
    ``(path, "modified")`` for any other change, or None."""
    if before is after or depth > DEPTH:
        return None
    if isinstance(before, np.ndarray):
        same = isinstance(after, np.ndarray) and (_is_view(after, before)
                                                   or same_array(before, after))
        return None if same else (path, "modified")
    if type(before) is not type(after):
        return path, "modified"
    if isinstance(before, dict):
        if len(after) < len(before):
            return path, "consumed"
        if before.keys() != after.keys():
            return path, "modified"
        pairs = [(f"{path}[{k!r}]", before[k], after[k]) for k in before]
    elif isinstance(before, (list, tuple)):
        if len(after) < len(before):
            return path, "consumed"
        if len(after) != len(before):
            return path, "modified"
        pairs = [(f"{path}[{k}]", b, a) for k, (b, a) in enumerate(zip(before, after))]
    elif _has_attributes(before):
        names = _attributes(before) | _attributes(after)
        pairs = [(f"{path}.{n}", getattr(before, n, None), getattr(after, n, None))
                 for n in sorted(names)]
    else:
        try:
            same = bool(before == after)
        except Exception:  # noqa: BLE001 - a value that does not compare cannot be judged
            same = True
        return None if same else (path, "modified")
    for inner, one, other in pairs:
        found = difference(one, other, inner, depth + 1)
        if found:
            return found
    return None


def _is_view(view, array):
    """Whether `view` is a read-only view of all of `array` (`viewed`): equal by
    construction."""
    return (not view.flags.writeable and view.shape == array.shape
            and view.strides == array.strides and view.dtype == array.dtype
            and view.__array_interface__["data"][0] == array.__array_interface__["data"][0])


def _attributes(value):
    names = set(vars(value)) if hasattr(value, "__dict__") else set()
    return names | {n for n in getattr(type(value), "__slots__", ()) if hasattr(value, n)}


def frozen(value, depth=0):
    """A copy of `value` that raises where it is written into: arrays read-only, lists
    made tuples, dicts read-only mappings (one level of objects' attributes kept)."""
    if isinstance(value, np.ndarray):
        copy = value.copy()
        copy.flags.writeable = False
        return copy
    if depth > DEPTH:
        return value
    if isinstance(value, dict):
        return types.MappingProxyType({k: frozen(v, depth + 1) for k, v in value.items()})
    if isinstance(value, list):
        return tuple(frozen(v, depth + 1) for v in value)
    if isinstance(value, tuple):
        return _same_kind(value, [frozen(v, depth + 1) for v in value])
    return value
