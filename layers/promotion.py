"""NumPy's type promotion, as the layer contract applies it to declared arguments.

A declared argument is a number array as NumPy sees it: a float32/float64 array, an
integer array, a NumPy scalar, a Python number or a nested list of numbers. The layer
computes in their NumPy result type (`computation_dtype`; Python numbers weak, integers
alone float64), and each gradient comes back in its own argument's dtype
(`gradient_dtype`).
"""

import numbers

import numpy as np

from .args import FLOAT_DTYPES, describe, is_float_array

__all__ = ["SUPPORTED", "computation_dtype", "gradient_dtype", "is_python_number", "promote"]

SUPPORTED = "float32 or float64 (integers and Python numbers are promoted as NumPy does)"


def is_python_number(value):
    """A Python int or float (not bool, not a NumPy scalar): a constant in a gate."""
    return isinstance(value, numbers.Real) and not isinstance(value, (bool, np.generic))


def promote(func, slots, args, kwargs, numbers_are_constants=False):
    """Convert the declared arguments (`slots`: (name, position) pairs) to the call's
    computation dtype.

    Returns the new args and kwargs and (name, dtype, shape) of the gradient of each
    declared argument that gets one.
    """
    arrays = {}
    for name, position in slots:
        value = args[position] if position < len(args) else kwargs.get(name, _ABSENT)
        if value is _ABSENT or (numbers_are_constants and is_python_number(value)):
            continue  # a missing argument is the forward's own signature's to report
        arrays[name] = (value, _number_array(func, name, value))
    if not arrays:
        return args, kwargs, ()
    # Python numbers stay weak (NumPy's rule): 2.0 next to a float32 array is float32.
    dtype = computation_dtype([value if is_python_number(value) else array
                               for value, array in arrays.values()])
    args, grads = list(args), []
    for name, position in slots:
        if name not in arrays:
            continue
        array = arrays[name][1]
        grads.append((name, gradient_dtype(array, dtype), array.shape))
        if position < len(args):
            args[position] = array.astype(dtype, copy=False)
        else:
            kwargs = {**kwargs, name: array.astype(dtype, copy=False)}
    return tuple(args), kwargs, tuple(grads)


_ABSENT = object()


def _number_array(func, name, value):
    """`value` as a number array (no copy where it already is one), or a clear refusal."""
    array = None
    if isinstance(value, np.ndarray):
        array = value
    elif isinstance(value, (numbers.Real, np.generic, list, tuple)) and \
            not isinstance(value, (bool, np.bool_)):
        try:
            array = np.asarray(value)
        except (ValueError, TypeError):
            pass
    if array is None or not (array.dtype.kind in "iu" or array.dtype in FLOAT_DTYPES):
        raise TypeError(f"{func}: {name} must be a number array, {SUPPORTED}; got "
                        f"{describe(value)}")
    return array


def computation_dtype(values):
    """The dtype a declared layer computes in for these argument values: NumPy's result
    type (Python numbers weak), float64 where they are all integers."""
    dtype = np.result_type(*(v if is_python_number(v) else np.asarray(v) for v in values)) \
        if values else np.dtype(np.float64)
    return np.dtype(np.float64) if dtype.kind in "iub" else dtype


def gradient_dtype(value, computation):
    """The dtype of the gradient of argument `value`: its own where it is float32/float64,
    else (integers, Python numbers) the computation's."""
    return np.asarray(value).dtype if is_float_array(value) else computation
