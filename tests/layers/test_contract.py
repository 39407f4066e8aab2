"""The layer contract, for every registered layer: declared differentiable arguments,
NumPy's type promotion, gradients in each argument's dtype, clear refusals, and caches
that only their own forward's backward takes."""

import copy
import inspect
import re
import warnings

import numpy as np
import pytest

import layers
from layers.contract import Cache, declared, gradient_positions
from layers.registry import REGISTRY

LAYER_NAMES = sorted(REGISTRY)


def example(name, dtype=np.float64, seed=0):
    return REGISTRY[name].example(np.random.default_rng(seed), dtype)


def declared_positions(name):
    spec = REGISTRY[name]
    parameters = list(inspect.signature(spec.forward).parameters)
    return [parameters.index(n) for n in declared(spec.forward)]


def run(name, args, kwargs, seed=1):
    """(outputs, grads as a tuple) of the pair on fresh copies of its dict arguments."""
    spec = REGISTRY[name]
    args, kwargs = copy.deepcopy(args), copy.deepcopy(kwargs)
    result = spec.forward(*args, **kwargs)
    outputs = [np.asarray(o) for o in result[:-1]]
    rng = np.random.default_rng(seed)
    upstream = [rng.standard_normal(o.shape) for o in outputs]
    grads = spec.backward(*upstream, result[-1])
    return outputs, grads if isinstance(grads, tuple) else (grads,)


def replaced(args, position, value):
    args = list(args)
    args[position] = value
    return tuple(args)


@pytest.mark.parametrize("name", LAYER_NAMES)
def test_every_layer_declares_its_differentiable_arguments(name):
    spec = REGISTRY[name]
    names = declared(spec.forward)
    assert names, f"{name}_forward declares no differentiable argument"
    assert set(names) <= set(inspect.signature(spec.forward).parameters)
    assert spec.forward in spec.backward.forwards
    # The declaration, not the dtype of a call, decides: an integer label array passed
    # where the layer expects labels still gets no gradient.
    ex = example(name)
    assert gradient_positions(spec.forward, ex.args) == declared_positions(name)


@pytest.mark.parametrize("name", [n for n in LAYER_NAMES if len(declared_positions(n)) > 1])
def test_one_float32_argument_among_float64_computes_in_float64(name):
    ex = example(name)
    expected_out, expected_grads = run(name, ex.args, ex.kwargs)
    for k, position in enumerate(declared_positions(name)):
        lowered = ex.args[position].astype(np.float32)
        # The reference: the float64 computation on the float32 values, exactly.
        reference = replaced(ex.args, position, lowered.astype(np.float64))
        want_out, want_grads = run(name, reference, ex.kwargs)
        out, grads = run(name, replaced(ex.args, position, lowered), ex.kwargs)
        for got, want in zip(out, want_out, strict=True):
            assert got.dtype == np.float64
            np.testing.assert_array_equal(got, want)
        for j, (got, want) in enumerate(zip(grads, want_grads, strict=True)):
            assert got.dtype == (np.float32 if j == k else np.float64), (name, j)
            np.testing.assert_array_equal(got, want.astype(got.dtype))
    assert len(expected_grads) == len(declared_positions(name))
    assert all(o.dtype == np.float64 for o in expected_out)


def integer_valued(array):
    """`array` rounded to integers, away from zero so that logs and divisions stay finite."""
    rounded = np.round(2 * array)
    return np.where(rounded == 0, 1, rounded).astype(np.int64)


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
@pytest.mark.parametrize("name", LAYER_NAMES)
def test_integer_arguments_are_promoted_as_numpy_does(name, dtype):
    ex = example(name, dtype)
    checked = 0
    for k, position in enumerate(declared_positions(name)):
        integers = integer_valued(ex.args[position])
        # NumPy's rule: int64 with float32 computes in float64.
        reference = replaced(ex.args, position, integers.astype(np.float64))
        reference = tuple(a.astype(np.float64) if isinstance(a, np.ndarray)
                          and a.dtype == np.float32 else a for a in reference)
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("error")
                want_out, want_grads = run(name, reference, ex.kwargs)
        except (ValueError, RuntimeWarning):
            continue  # the layer refuses these values (e.g. a tie at a kink): not dtypes
        out, grads = run(name, replaced(ex.args, position, integers), ex.kwargs)
        for got, want in zip(out, want_out, strict=True):
            assert got.dtype == np.float64
            np.testing.assert_allclose(got, want, rtol=1e-12, atol=1e-300)
        for j, (got, want) in enumerate(zip(grads, want_grads, strict=True)):
            own = np.float64 if j == k else np.dtype(dtype)
            assert got.dtype == own and got.shape == np.shape(ex.args[
                declared_positions(name)[j]]), (name, j)
            np.testing.assert_allclose(got, want.astype(own),
                                       rtol=1e-12 if own == np.float64 else 1e-6,
                                       atol=1e-300 if own == np.float64 else 1e-30)
        checked += 1
    assert checked, f"{name}: no argument could be checked with integer values"


@pytest.mark.parametrize("bad, shown", [
    (lambda a: a.astype(bool), "bool array"),
    (lambda a: a.astype(np.complex128), "complex128 array"),
    (lambda a: a.astype(np.float16), "float16 array"),
    (lambda a: "values", "str"),
    (lambda a: None, "NoneType"),
    (lambda a: [object()], "list"),
])
@pytest.mark.parametrize("name", LAYER_NAMES)
def test_non_numbers_are_refused_by_name(name, bad, shown):
    spec = REGISTRY[name]
    ex = example(name)
    parameters = list(inspect.signature(spec.forward).parameters)
    for position in declared_positions(name):
        args = replaced(ex.args, position, bad(ex.args[position]))
        message = (f"{spec.forward.__name__}: {parameters[position]} must be a number "
                   f"array, float32 or float64 (integers and Python numbers are promoted as "
                   f"NumPy does); got {shown}")
        with pytest.raises(TypeError, match=re.escape(message)):
            spec.forward(*copy.deepcopy(args), **copy.deepcopy(ex.kwargs))


def test_python_numbers_in_gates_are_constants_of_the_arrays_dtype():
    x = np.array([1.0, -2.0], dtype=np.float32)
    out, cache = layers.multiply_forward(x, 3.0)
    assert out.dtype == np.float32
    dx = layers.multiply_backward(np.ones(2, np.float32), cache)
    assert isinstance(dx, np.ndarray) and dx.dtype == np.float32
    np.testing.assert_array_equal(dx, [3.0, 3.0])


def test_an_integer_bias_gets_a_float_gradient():
    # CS231n's image-filter cell: float64 images, float64 filters, b = np.array([0, 128]).
    rng = np.random.default_rng(0)
    x, w, b = rng.standard_normal((2, 3, 5, 5)), rng.standard_normal((2, 3, 3, 3)), \
        np.array([0, 128])
    out, cache = layers.conv_forward(x, w, b, {"stride": 1, "pad": 1})
    want, _ = layers.conv_forward(x, w, b.astype(np.float64), {"stride": 1, "pad": 1})
    np.testing.assert_array_equal(out, want)
    dx, dw, db = layers.conv_backward(np.ones_like(out), cache)
    assert db.dtype == np.float64 and db.shape == (2,)
    np.testing.assert_allclose(db, [50.0, 50.0])


def test_float32_weights_with_float64_data_give_float64_out_and_float32_dw():
    rng = np.random.default_rng(0)
    x = rng.standard_normal((2, 3, 6, 6))
    w = (0.1 * rng.standard_normal((4, 3, 3, 3))).astype(np.float32)
    b = np.zeros(4, np.float32)
    out, cache = layers.conv_forward(x, w, b, {"stride": 1, "pad": 1})
    assert out.dtype == np.float64
    dx, dw, db = layers.conv_backward(np.ones_like(out), cache)
    assert (dx.dtype, dw.dtype, db.dtype) == (np.float64, np.float32, np.float32)


@pytest.mark.parametrize("step", ["lstm", "rnn", "gru"])
def test_a_zero_initial_state_may_be_the_python_number_0(step):
    rng = np.random.default_rng(0)
    n, d, h = 2, 3, 4
    gates = {"rnn": 1, "lstm": 4, "gru": 3}[step]
    x = rng.standard_normal((n, d))
    weights = [rng.standard_normal((d, gates * h)), rng.standard_normal((h, gates * h)),
               rng.standard_normal(gates * h)]
    if step == "gru":
        weights.append(rng.standard_normal(gates * h))
    forward = getattr(layers, f"{step}_step_forward")
    backward = getattr(layers, f"{step}_step_backward")
    states = {"lstm": (rng.standard_normal((n, h)), 0), "rnn": (0,), "gru": (0,)}[step]
    zeros = tuple(np.zeros((n, h)) if np.ndim(s) == 0 else s for s in states)
    given = forward(x, *states, *weights)
    full = forward(x, *zeros, *weights)
    for a, b in zip(given[:-1], full[:-1], strict=True):
        np.testing.assert_array_equal(a, b)
    upstream = [rng.standard_normal((n, h)) for _ in given[:-1]]
    grads = backward(*upstream, given[-1])
    grads_full = backward(*upstream, full[-1])
    scalar = 1 + len(states) - 1     # the position of the 0-d state in the gradients
    assert grads[scalar].shape == ()
    np.testing.assert_allclose(grads[scalar], grads_full[scalar].sum(), rtol=1e-12)


# -- caches -----------------------------------------------------------------------------------

def made_cache(name):
    spec = REGISTRY[name]
    ex = example(name)
    return spec.forward(*copy.deepcopy(ex.args), **copy.deepcopy(ex.kwargs))


CACHES = {name: made_cache(name) for name in LAYER_NAMES}


@pytest.mark.parametrize("name", LAYER_NAMES)
def test_a_backward_refuses_every_other_layers_cache(name):
    spec = REGISTRY[name]
    own = CACHES[name]
    upstream = [np.ones(np.shape(o)) for o in own[:-1]]
    for result in CACHES.values():
        cache = result[-1]
        if cache.forward in spec.backward.forwards:
            continue
        with pytest.raises(ValueError, match=re.escape(
                f"{spec.backward.__name__}: cache must be the cache returned by "
                f"{spec.forward.__name__}; got the cache of {cache.forward.__name__}")):
            spec.backward(*upstream, cache)
    for bad, shown in ((None, "NoneType"), ((1, 2, 3), "a tuple of length 3"),
                       (np.ones(3), "float64 array of shape (3,)")):
        with pytest.raises(TypeError, match=re.escape(
                f"{spec.backward.__name__}: cache must be the cache returned by "
                f"{spec.forward.__name__}; got {shown}")):
            spec.backward(*upstream, bad)


def test_sandwich_caches_unpack_as_in_cs231n_code():
    rng = np.random.default_rng(0)
    x, w, b = rng.standard_normal((2, 3)), rng.standard_normal((3, 4)), np.zeros(4)
    out, cache = layers.affine_relu_forward(x, w, b)
    fc_cache, relu_cache = cache                      # CS231n's layer_utils unpacking
    da = layers.relu_backward(np.ones_like(out), relu_cache)
    dx, dw, db = layers.affine_backward(da, fc_cache)
    np.testing.assert_array_equal(dx, layers.affine_relu_backward(np.ones_like(out),
                                                                  cache)[0])
    assert isinstance(fc_cache, Cache)
    assert repr(fc_cache) == "<cache of affine_forward: (float64 (2, 3), float64 (3, 4))>"
    with pytest.raises(TypeError, match="the cache of relu_forward is opaque"):
        tuple(relu_cache)


def test_batchnorm_backward_alt_takes_batchnorm_forwards_cache():
    rng = np.random.default_rng(0)
    x = rng.standard_normal((4, 3))
    _, cache = layers.batchnorm_forward(x, np.ones(3), np.zeros(3), {"mode": "train"})
    dout = rng.standard_normal((4, 3))
    for a, b in zip(layers.batchnorm_backward(dout, cache),
                    layers.batchnorm_backward_alt(dout, cache), strict=True):
        np.testing.assert_allclose(a, b, rtol=1e-10, atol=1e-14)


# -- what a decorated backward may return ----------------------------------------------------

def test_a_decorated_backward_returning_a_gradient_of_the_wrong_shape_is_refused_by_name():
    # db = dout, of shape (N, M), for b of shape (M,): summed silently it would pass a
    # gradient check; it is the sentence an undecorated pair gets from match_gradients.
    @layers.contract.differentiable("x", "w", "b")
    def affine_like_forward(x, w, b):
        return x @ w + b, (x, w)

    @layers.contract.backward_of(affine_like_forward)
    def affine_like_backward(dout, cache):
        x, w = cache
        return dout @ w.T, x.T @ dout, dout

    rng = np.random.default_rng(0)
    x, w, b = rng.standard_normal((4, 2)), rng.standard_normal((2, 3)), rng.standard_normal(3)
    out, cache = affine_like_forward(x, w, b)
    sentence = "backward returned a gradient of shape (4, 3) for b, of shape (3,)"
    with pytest.raises(ValueError, match=re.escape(f"affine_like_backward: {sentence}")):
        affine_like_backward(rng.standard_normal(out.shape), cache)
    undecorated = affine_like_backward.__wrapped__(rng.standard_normal(out.shape),
                                                   cache.inner)
    grads, problems = layers.contract.match_gradients(undecorated, (x, w, b), [0, 1, 2],
                                                      ["x", "w", "b"])
    assert grads is None and problems == [(ValueError, sentence)]


def test_a_decorated_backward_returning_too_few_gradients_is_refused_by_name():
    @layers.contract.differentiable("x", "w")
    def product_forward(x, w):
        return x * w, (x, w)

    @layers.contract.backward_of(product_forward)
    def product_backward(dout, cache):
        return dout * cache[1]

    out, cache = product_forward(np.ones(3), np.full(3, 2.0))
    with pytest.raises(ValueError, match=re.escape(
            "product_backward: backward returned 1 gradient for 2 differentiable arguments "
            "(x, w)")):
        product_backward(np.ones(3), cache)


@pytest.mark.parametrize("scale", [2.0, 2, np.float32(2.0), np.array(2.0)],
                         ids=["python float", "python int", "numpy scalar", "0-d array"])
def test_the_gradient_of_a_0d_argument_the_layer_broadcast_is_summed(scale):
    @layers.contract.differentiable("x", "scale")
    def scaled_forward(x, scale):
        return x * scale, (x, scale)

    @layers.contract.backward_of(scaled_forward)
    def scaled_backward(dout, cache):
        x, scale = cache
        return dout * scale, dout * x      # dscale per element, before summing

    x = np.array([[1.0, 2.0], [3.0, 4.0]])
    dout = np.array([[0.5, -1.0], [2.0, 0.25]])
    out, cache = scaled_forward(x, scale)
    dx, dscale = scaled_backward(dout, cache)
    np.testing.assert_array_equal(dx, 2.0 * dout)
    assert isinstance(dscale, np.ndarray) and dscale.shape == ()
    assert dscale == 0.5 * 1.0 - 1.0 * 2.0 + 2.0 * 3.0 + 0.25 * 4.0   # 5.5
    # A float32 NumPy scalar keeps its own dtype; integers and Python numbers take the
    # computation's (float64 here).
    assert dscale.dtype == (np.float32 if isinstance(scale, np.float32) else np.float64)


def test_an_upstream_gradient_is_checked_against_the_output_it_stands_for():
    x = np.ones((2, 3))
    out, cache = layers.relu_forward(x)
    with pytest.raises(ValueError, match=re.escape(
            "relu_backward: dout must have the shape of the forward output (2, 3); got "
            "dout.shape = (3, 2)")):
        layers.relu_backward(np.ones((3, 2)), cache)
    with pytest.raises(TypeError, match=re.escape(
            "relu_backward: dout must be a floating-point array; got int64 array of shape "
            "(2, 3)")):
        layers.relu_backward(np.ones((2, 3), dtype=np.int64), cache)
    # The upstream gradient takes the output's dtype, so the gradient keeps x's.
    assert layers.relu_backward(np.ones((2, 3), np.float32), cache).dtype == np.float64
    h, cache = layers.lstm_step_forward(*REGISTRY["lstm_step"].example(
        np.random.default_rng(0)).args)[1:]
    with pytest.raises(ValueError, match="lstm_step_backward: dnext_c must have the shape"):
        layers.lstm_step_backward(np.ones(h.shape), np.ones(h.shape[:1]), cache)


def test_a_cache_prints_its_maker_and_what_it_holds():
    x = np.ones((6, 3), np.float32)
    _, cache = layers.batchnorm_forward(x, np.ones(3, np.float32), np.zeros(3, np.float32),
                                        {"mode": "train"})
    shown = repr(cache)
    assert shown.startswith("<cache of batchnorm_forward: BatchnormCache(mode='train', ")
    assert "xhat=float32 (6, 3)" in shown and "gamma=float32 (3,)" in shown
    assert str(cache) == shown
    assert cache.forward is layers.batchnorm_forward


# -- the name in a message -------------------------------------------------------------------

def test_args_names_the_layer_the_user_called_and_needs_a_name_elsewhere():
    with pytest.raises(ValueError, match=re.escape(
            "affine_relu_forward: w must have shape (D, M) with D=3 from x (N, d_1, ..., "
            "d_k); got w.shape = (2, 4)")):
        layers.affine_relu_forward(np.ones((2, 3)), np.ones((2, 4)), np.ones(4))
    with pytest.raises(ValueError, match=re.escape("affine_forward: w must have shape")):
        layers.affine_forward(np.ones((2, 3)), np.ones((2, 4)), np.ones(4))
    with pytest.raises(TypeError, match=re.escape(
            "Args() outside a decorated layer needs the function's name")):
        layers.contract.Args()
    assert layers.contract.Args("Solver").error("x").args == ("Solver: x",)
