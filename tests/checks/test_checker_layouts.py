"""Every memory layout of an argument is checked alike, and the caller's arrays are never
touched: C and Fortran order, transposes, strided and negative-stride views, read-only
arrays, arrays nested in dicts, lists and tuples."""

import numpy as np
import pytest

from checks import check_layer
from layers import affine_backward, affine_forward
from layers.contract import is_float_array
from layers.registry import REGISTRY


def c_order(a):
    return np.ascontiguousarray(a)


def fortran(a):
    return np.asfortranarray(a)


def transposed(a):
    """The values of `a`, held as the transpose of a C-ordered array of the last two axes
    swapped (a Fortran-ordered array for 2-D `a`)."""
    if a.ndim < 2:
        return a.copy()
    return np.ascontiguousarray(np.swapaxes(a, -1, -2)).swapaxes(-1, -2)


def strided(a):
    """The values of `a`, held as every other element of a larger array's last axis."""
    if a.ndim < 1:
        return a.copy()
    big = np.full((*a.shape[:-1], 2 * a.shape[-1]), np.nan, dtype=a.dtype)
    big[..., ::2] = a
    return big[..., ::2]


def reversed_strides(a):
    """The values of `a`, held with negative strides on every axis."""
    flipped = a[(slice(None, None, -1),) * a.ndim].copy()
    return flipped[(slice(None, None, -1),) * a.ndim]


def read_only(a):
    copy = transposed(a)
    copy.flags.writeable = False
    return copy


LAYOUTS = [c_order, fortran, transposed, strided, reversed_strides, read_only]


def snapshot(values):
    """(bytes, strides, writeable) of every array in `values`, to compare bit for bit."""
    found = []
    for value in values:
        if isinstance(value, np.ndarray):
            found.append((value.tobytes(), value.strides, value.flags.writeable, value))
        elif isinstance(value, dict):
            found += snapshot(value.values())
        elif isinstance(value, (list, tuple)):
            found += snapshot(value)
    return found


def assert_untouched(before):
    for data, strides, writeable, array in before:
        assert (array.tobytes(), array.strides, array.flags.writeable) == (
            data, strides, writeable)


def test_a_transposed_argument_is_checked_like_a_c_ordered_one(rng):
    a = rng.standard_normal((4, 3))
    w, b = rng.standard_normal((4, 5)), rng.standard_normal(5)
    before = snapshot([a, w, b])
    report = check_layer(affine_forward, affine_backward, a.T, w, b)
    assert report.ok, str(report)
    assert [row.status for row in report.arguments] == ["pass"] * 3
    assert report.max_rel_error < 1e-8
    assert report.problems == report.warnings == []
    assert_untouched(before)


@pytest.mark.parametrize("layout", LAYOUTS, ids=lambda f: f.__name__)
def test_the_forward_sees_the_callers_layout_and_every_perturbation(rng, layout):
    x = layout(rng.standard_normal((3, 4)))
    seen = set()

    def cube_forward(x):
        seen.add((x.strides, x.flags.c_contiguous))
        return x ** 3, x

    def cube_backward(dout, x):
        return 3 * x ** 2 * dout

    def wrong_backward(dout, x):
        return 3.003 * x ** 2 * dout

    before = snapshot([x])
    report = check_layer(cube_forward, cube_backward, x)
    assert report.ok, str(report)
    assert report.max_rel_error < 1e-8
    strides = {s for s, _ in seen}
    itemsize = x.itemsize
    assert strides == {x.strides} or (x.flags.c_contiguous and strides == {
        (4 * itemsize, itemsize)})
    wrong = check_layer(cube_forward, wrong_backward, x)
    assert not wrong.ok and wrong.arguments[0].hint == "analytic = 1.001 x numeric"
    assert_untouched(before)


@pytest.mark.parametrize("layout", LAYOUTS, ids=lambda f: f.__name__)
def test_a_forward_that_writes_into_its_input_in_any_layout(rng, layout):
    # A softmax loss written the short way: its shift is written into the input.
    x = layout(rng.standard_normal((3, 5)))
    y = np.array([0, 3, 4])

    def softmax_loss_forward(x, y):
        logits = x
        logits -= x.max(axis=1, keepdims=True)
        p = np.exp(logits) / np.exp(logits).sum(axis=1, keepdims=True)
        return -np.log(p[np.arange(len(y)), y]).mean(), (p, y)

    def softmax_loss_backward(dout, cache):
        p, y = cache
        dx = p.copy()
        dx[np.arange(len(y)), y] -= 1
        return dout * dx / len(y)

    before = snapshot([x, y])
    report = check_layer(softmax_loss_forward, softmax_loss_backward, x, y)
    assert report.ok, str(report)
    assert report.arguments[0].kinks == 0
    [warning] = report.warnings
    assert warning.startswith("forward wrote into its input x in place (at ")
    assert "logits -= x.max(axis=1, keepdims=True)" in warning
    assert_untouched(before)


def test_arrays_nested_in_dicts_lists_and_tuples_are_fresh_at_every_call(rng):
    x = rng.standard_normal(4)
    state = {"scale": np.array([2.0]), "history": [np.zeros(4)], "pair": (np.ones(4),)}

    def scaled_forward(x, state):
        state["history"][0] += x          # written into: every call must start from zeros
        state["pair"][0][0] = 5.0
        return state["scale"] * x + state["history"][0], None

    def scaled_backward(dout, cache):
        return 3.0 * dout

    before = snapshot([x, state])
    report = check_layer(scaled_forward, scaled_backward, x, state)
    assert report.ok, str(report)
    assert [w.split(" in place")[0] for w in report.warnings] == [
        "forward wrote into its input state['history'][0]",
        "forward wrote into its input state['pair'][0]"]
    assert_untouched(before)
    assert state["history"][0].tolist() == [0.0] * 4


def layout_variants(example):
    """(label, args) for every layout, applied to every float array argument at once."""
    for layout in (c_order, fortran, transposed, strided):
        args = tuple(layout(a) if is_float_array(a) and np.ndim(a) else a
                     for a in example.args)
        yield layout.__name__, args


def test_every_registered_layer_gets_one_verdict_in_every_layout():
    mismatches = []
    for name in sorted(REGISTRY):
        spec = REGISTRY[name]
        example = spec.example(np.random.default_rng(0), np.float64)
        verdicts = {}
        for label, args in layout_variants(example):
            before = snapshot([args, example.kwargs])
            report = check_layer(spec.forward, spec.backward, *args, **example.kwargs)
            assert_untouched(before)
            verdicts[label] = (report.ok, tuple(row.status for row in report.arguments),
                               tuple(report.problems))
        if len(set(verdicts.values())) != 1:
            mismatches.append(f"{name}: {verdicts}")
        assert verdicts["c_order"][0], f"{name} fails in C order: {verdicts['c_order']}"
    assert not mismatches, "\n".join(mismatches)
