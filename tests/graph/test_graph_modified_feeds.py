"""backward refuses an input or param array written into after forward read it.

The layers' caches hold the caller's arrays, not copies, so such a write would silently
give gradients that mix the array's old and new values; PyTorch raises "modified by an
inplace operation" in the same place. Unchanged arrays, rebound params and fresh forwards
keep working, with their gradients asserted.
"""

import numpy as np
import pytest

from graph import ComputationalGraph, Sequential
from graph.computational_graph import _BLOCK, _SMALL_BYTES

MODIFIED = (r"backward: {} was modified in place after forward read it; the layers' caches "
            r"hold that array, so the gradients would mix its old and new values\. Call "
            r"forward again after changing it, or change a copy")


def weighted_sum():
    """f = sum(x * w): df/dx = w, df/dw = x."""
    g = ComputationalGraph()
    x, w = g.input("x"), g.param("w", np.array([1.0, -2.0, 3.0]))
    g.gate("multiply", x, w).sum()
    return g


def test_unchanged_feeds_give_their_gradients_at_every_backward():
    g = weighted_sum()
    x = np.array([0.5, 4.0, -1.0])
    assert g.forward(x=x) == 0.5 - 8.0 - 3.0
    for _ in range(2):
        grads = g.backward()
        np.testing.assert_array_equal(grads["x"], [1.0, -2.0, 3.0])
        np.testing.assert_array_equal(grads["w"], [0.5, 4.0, -1.0])
    np.testing.assert_array_equal(x, [0.5, 4.0, -1.0])


def test_a_feed_written_into_is_refused_by_name_and_a_new_forward_takes_it():
    g = weighted_sum()
    x = np.array([0.5, 4.0, -1.0])
    g.forward(x=x)
    x[1] = 10.0
    with pytest.raises(ValueError, match=MODIFIED.format("input 'x'")):
        g.backward()
    assert g.forward(x=x) == 0.5 - 20.0 - 3.0
    np.testing.assert_array_equal(g.backward()["w"], [0.5, 10.0, -1.0])


def test_a_param_written_into_is_refused_and_a_rebound_one_is_not():
    g = weighted_sum()
    x = np.array([0.5, 4.0, -1.0])
    g.forward(x=x)
    g.params["w"] *= 2            # an in-place update between forward and backward
    with pytest.raises(ValueError, match=MODIFIED.format("param 'w'")):
        g.backward()
    g.forward(x=x)
    g.params["w"] = np.zeros(3)   # rebinding leaves the array forward read untouched
    np.testing.assert_array_equal(g.backward()["x"], [2.0, -4.0, 6.0])


def test_integer_labels_written_into_are_refused():
    rng = np.random.default_rng(0)
    net = Sequential(("affine", {"W": rng.standard_normal((4, 3)), "b": np.zeros(3)}),
                     loss="softmax_loss")
    X, y = rng.standard_normal((5, 4)), np.array([0, 2, 1, 1, 0])
    net.forward(x=X, y=y)
    expected = net.backward()
    y[3] = 2
    with pytest.raises(ValueError, match=MODIFIED.format("input 'y'")):
        net.backward()
    y[3] = 1                      # written back: the bytes are forward's again
    grads = net.backward()
    assert all(np.array_equal(grads[k], expected[k]) for k in expected)


@pytest.mark.parametrize("size", [3, _SMALL_BYTES // 8 + 100])   # kept as bytes; summed
def test_the_smallest_change_anywhere_is_refused(size):
    rng = np.random.default_rng(1)
    g = ComputationalGraph()
    g.input("x").sum()
    x = rng.standard_normal(size)
    assert (x.nbytes > _SMALL_BYTES) == (size > 3)
    for position in rng.choice(size, min(size, 40), replace=False):
        g.forward(x=x)
        old = x[position]
        x[position] = np.nextafter(old, np.inf)   # one unit in the last place
        with pytest.raises(ValueError, match="input 'x' was modified in place"):
            g.backward()
        x[position] = old
        np.testing.assert_array_equal(g.backward()["x"], np.ones(size))


def test_moved_values_are_refused_even_across_blocks():
    """A shuffle keeps every value (and the sum): the positions must count. Positions one
    block of the checksum's weights apart get the same weight, the blocks different
    factors."""
    g = ComputationalGraph()
    g.input("x").sum()
    rng = np.random.default_rng(2)
    x = rng.standard_normal(_SMALL_BYTES // 8 + 2 * _BLOCK + 5)
    assert x.nbytes > _SMALL_BYTES
    for i, j in [(0, 1), (7, 7 + _BLOCK), (3, 3 + 2 * _BLOCK), (1, x.size - 1)]:
        g.forward(x=x)
        x[[i, j]] = x[[j, i]]
        with pytest.raises(ValueError, match="input 'x' was modified in place"):
            g.backward()
        x[[i, j]] = x[[j, i]]
        g.forward(x=x)
        np.testing.assert_array_equal(g.backward()["x"], np.ones(x.size))


def test_rows_shuffled_in_place_are_refused():
    rng = np.random.default_rng(3)
    net = Sequential(("affine", {"W": rng.standard_normal((4, 3)), "b": np.zeros(3)}),
                     loss="softmax_loss")
    for rows in (64, _SMALL_BYTES // 32 + 1):   # kept as bytes; summed
        X, y = rng.standard_normal((rows, 4)), rng.integers(0, 3, rows)
        net.forward(x=X, y=y)
        rng.shuffle(X)
        with pytest.raises(ValueError, match=MODIFIED.format("input 'x'")):
            net.backward()


@pytest.mark.parametrize("shape", [(4, 6), (400, 400)])   # kept as bytes; summed
@pytest.mark.parametrize("layout", ["fortran", "transposed", "strided", "negative strides",
                                    "read-only"])
def test_every_layout_is_fingerprinted(layout, shape):
    base = np.arange(np.prod(shape)).reshape(shape) / 7
    if layout == "fortran":
        base = np.asfortranarray(base)
    x = {"fortran": lambda: base,
         "transposed": lambda: base.T,
         "strided": lambda: base[:, ::2],
         "negative strides": lambda: base[::-1],
         "read-only": lambda: base.view()}[layout]()
    if layout == "read-only":
        x.flags.writeable = False
    g = ComputationalGraph()
    g.input("x").sum()
    g.forward(x=x)
    np.testing.assert_array_equal(g.backward()["x"], np.ones(x.shape))
    base[1, 2] += 1.0             # written through the array x views
    with pytest.raises(ValueError, match=MODIFIED.format("input 'x'")):
        g.backward()


@pytest.mark.parametrize("dtype", ["float32", "int32", "int16", "bool", "uint8"])
def test_sizes_that_are_not_whole_words_are_fingerprinted_to_the_last_byte(dtype):
    x = np.zeros(_SMALL_BYTES + 3, dtype)   # checksummed, with 3 to 6 bytes past 8-byte words
    g = ComputationalGraph()
    g.input("x")                  # fed, not used: its fingerprint is taken all the same
    g.input("z").sum()
    g.forward(x=x, z=np.ones(2))
    assert g.backward()["z"].tolist() == [1.0, 1.0]
    x[-1] = 1                     # in the bytes past the last whole 8-byte word
    with pytest.raises(ValueError, match=MODIFIED.format("input 'x'")):
        g.backward()


def test_a_feed_reshaped_in_place_is_refused():
    g = ComputationalGraph()
    g.input("x").sum()
    x = np.ones((2, 3))
    g.forward(x=x)
    x.shape = (3, 2)
    with pytest.raises(ValueError, match=MODIFIED.format("input 'x'")):
        g.backward()


def test_python_numbers_and_numpy_scalars_are_the_graphs_own():
    g = ComputationalGraph()
    x, y = g.input("x"), g.input("y")
    g.gate("multiply", x, y)
    assert g.forward(x=3.0, y=np.float64(-2.0)) == -6.0
    assert g.backward() == {"x": -2.0, "y": 3.0}
