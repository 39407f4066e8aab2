"""Every registered layer, probed with bad arguments: each refusal is a ValueError or
TypeError that starts with the name of the function the user called and names the
argument; parameter dicts refuse unknown keys; empty batches follow one rule."""

import copy
import inspect
import re
import warnings

import numpy as np
import pytest

import layers
from layers.contract import Args, gradient_positions
from layers.registry import REGISTRY

LAYER_NAMES = sorted(REGISTRY)
SEEDS = (0, 1, 2)


def bound_example(spec, seed):
    """The registered example of `spec` as `inspect.BoundArguments` of its forward."""
    example = spec.example(np.random.default_rng(seed))
    signature = inspect.signature(spec.forward)
    return signature, signature.bind(*copy.deepcopy(example.args),
                                     **copy.deepcopy(example.kwargs))


def call(function, bound):
    """function(*bound.args, **bound.kwargs) with every warning raised as an error, so
    that a NumPy RuntimeWarning counts as a failure of the probe."""
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        return function(*bound.args, **bound.kwargs)


def with_value(signature, bound, name, value):
    """A copy of `bound` with argument `name` replaced by `value`."""
    return signature.bind(**dict(bound.arguments, **{name: value}))


def dict_arguments(name):
    """(argument, value) of the parameter dicts among the arguments of layer `name`."""
    signature, bound = bound_example(REGISTRY[name], 0)
    return [(argument, value) for argument, value in bound.arguments.items()
            if isinstance(value, dict)]


WITH_DICTS = [name for name in LAYER_NAMES if dict_arguments(name)]


def bad_values(value):
    """(description, bad value, must_refuse) for an argument whose valid value is `value`."""
    yield "a string", "bad", True
    yield "an object", object(), True
    yield "None", None, True
    if isinstance(value, np.ndarray):
        yield "a complex array", np.ones(value.shape, complex), True
        if value.ndim:
            # Shape-free arguments (an elementwise layer's x) may take these.
            yield "a wrong shape", np.ones(tuple(n + 1 for n in value.shape), value.dtype), False
            yield "one axis less", np.ones(value.shape[1:], value.dtype), False
        yield "one axis more", np.ones(value.shape + (2,), value.dtype), False
    else:
        yield "a complex array", np.ones((2, 3), complex), True
        yield "an array", np.ones((2, 3)), False


def names_argument(message, name):
    return re.search(rf"(?<![\w]){re.escape(name)}(?![\w])", message) is not None


def assert_clear_refusal(function, bound, name, must_refuse, what):
    """Calling `function` either succeeds (when `must_refuse` is False) or raises a
    ValueError/TypeError that starts with the function's name and names `name`."""
    func = function.__name__
    try:
        call(function, bound)
    except (ValueError, TypeError) as error:
        message = str(error)
        assert message.startswith(f"{func}: "), \
            f"{func} given {what} for {name}: the message does not start with " \
            f"'{func}: ': {type(error).__name__}: {message}"
        assert names_argument(message, name), \
            f"{func} given {what} for {name}: the message does not name {name}: {message}"
    except Exception as error:  # noqa: BLE001 - any other kind is the failure
        pytest.fail(f"{func} given {what} for {name} raised {type(error).__name__}: {error}")
    else:
        assert not must_refuse, f"{func} accepted {what} for {name}"


def optional(signature, name):
    return signature.parameters[name].default is None


@pytest.mark.parametrize("name", LAYER_NAMES)
def test_forward_refuses_bad_arguments_under_its_own_name(name):
    spec = REGISTRY[name]
    for seed in SEEDS:
        signature, bound = bound_example(spec, seed)
        for argument, value in bound.arguments.items():
            for what, bad, must_refuse in bad_values(value):
                if bad is None and optional(signature, argument):
                    must_refuse = False
                assert_clear_refusal(spec.forward, with_value(signature, bound, argument, bad),
                                     argument, must_refuse, what)


@pytest.mark.parametrize("name", WITH_DICTS)
def test_forward_refuses_bad_parameter_dict_entries_under_its_own_name(name):
    spec = REGISTRY[name]
    for seed in SEEDS:
        signature, bound = bound_example(spec, seed)
        for argument, value in bound.arguments.items():
            if not isinstance(value, dict):
                continue
            for key in value:
                for what, bad, _ in bad_values(value[key]):
                    # None is a valid choice for some keys (no dropout seed).
                    changed = dict(value, **{key: bad})
                    assert_clear_refusal(spec.forward,
                                         with_value(signature, bound, argument, changed),
                                         argument, bad is not None, f"{what} at key {key!r}")


@pytest.mark.parametrize("name", LAYER_NAMES)
def test_backward_refuses_a_bad_upstream_gradient_under_its_own_name(name):
    spec = REGISTRY[name]
    signature, bound = bound_example(spec, 0)
    result = call(spec.forward, bound)
    outputs, cache = [np.asarray(o) for o in result[:-1]], result[-1]
    backward_signature = inspect.signature(spec.backward)
    upstream_names = list(backward_signature.parameters)[:len(outputs)]
    for j, (upstream_name, output) in enumerate(zip(upstream_names, outputs, strict=True)):
        for what, bad, _ in bad_values(output):
            upstream = [np.ones(o.shape, o.dtype) for o in outputs]
            upstream[j] = bad
            bound_backward = backward_signature.bind(*upstream, cache)
            assert_clear_refusal(spec.backward, bound_backward, upstream_name, True, what)


# -- parameter dicts --------------------------------------------------------------------------

@pytest.mark.parametrize("name", WITH_DICTS)
def test_every_parameter_dict_refuses_an_unknown_key_and_lists_the_known_ones(name):
    spec = REGISTRY[name]
    signature, bound = bound_example(spec, 0)
    for argument, value in dict_arguments(name):
        misspelled = dict(value, seeed=1)
        with pytest.raises(ValueError) as raised:
            call(spec.forward, with_value(signature, bound, argument, misspelled))
        message = str(raised.value)
        assert message.startswith(f"{spec.forward.__name__}: {argument} has unexpected key "
                                  "'seeed'"), message
        assert "allowed keys are" in message
        for key in value:
            assert repr(key) in message.split("allowed keys are")[1], (key, message)


X = np.random.default_rng(0).standard_normal((4, 3))
FEATURE_MAPS = np.random.default_rng(1).standard_normal((2, 4, 3, 3))


@pytest.mark.parametrize("forward, args, param", [
    # CS231n's starter code of 2016-2017 set bn_param[mode] = mode: keys 'train'/'test'.
    (layers.batchnorm_forward, (X, np.ones(3), np.zeros(3)),
     {"mode": "train", "train": "train", "eps": 1e-5, "momentum": 0.9,
      "running_mean": np.zeros(3), "running_var": np.ones(3)}),
    (layers.batchnorm_forward, (X, np.ones(3), np.zeros(3)), {"mode": "test", "test": "test"}),
    (layers.spatial_batchnorm_forward, (FEATURE_MAPS, np.ones(4), np.zeros(4)),
     {"mode": "train", "train": "train"}),
    # CS231n's networks and its group-norm notebook pass {'mode': 'train'} here.
    (layers.layernorm_forward, (X, np.ones(3), np.zeros(3)), {"mode": "train", "eps": 1e-5}),
    (layers.spatial_groupnorm_forward, (FEATURE_MAPS, np.ones(4), np.zeros(4), 2),
     {"mode": "train", "eps": 1e-5}),
    (layers.dropout_forward, (X,), {"mode": "train", "p": 0.5, "seed": 1}),
])
def test_parameter_dicts_take_the_keys_cs231n_code_sets(forward, args, param):
    out = forward(*args, param)[0]
    assert np.isfinite(out).all()


def test_a_misspelled_dropout_seed_is_refused_rather_than_ignored():
    with pytest.raises(ValueError, match=re.escape(
            "dropout_forward: dropout_param has unexpected key 'seeed'; allowed keys are "
            "'mode', 'p', 'keep_prob', 'seed'")):
        layers.dropout_forward(X, {"mode": "train", "p": 0.5, "seeed": 1})


@pytest.mark.parametrize("forward, args, param, label", [
    (layers.batchnorm_forward, (X.astype(np.float32), np.ones(3, np.float32),
                                np.zeros(3, np.float32)), {"mode": "train"}, "bn_param"),
    (layers.spatial_batchnorm_forward, (FEATURE_MAPS.astype(np.float32),
                                        np.ones(4, np.float32), np.zeros(4, np.float32)),
     {"mode": "train"}, "bn_param"),
    (layers.layernorm_forward, (X.astype(np.float32), np.ones(3, np.float32),
                                np.zeros(3, np.float32)), {}, "ln_param"),
    (layers.spatial_groupnorm_forward, (FEATURE_MAPS.astype(np.float32),
                                        np.ones(4, np.float32), np.zeros(4, np.float32), 2),
     {}, "gn_param"),
])
def test_an_eps_that_underflows_in_the_dtype_is_refused(forward, args, param, label):
    assert np.float32(1e-50) == 0
    with pytest.raises(ValueError, match=re.escape(
            f"{forward.__name__}: {label}['eps'] = 1e-50 is 0 in float32")):
        forward(*args, dict(param, eps=1e-50))
    # The same eps is a positive float64, and a constant feature then gives beta.
    args64 = [a.astype(np.float64) if isinstance(a, np.ndarray) else a for a in args]
    args64[0] = np.ones_like(args64[0])
    out = forward(*args64, dict(param, eps=1e-50))[0]
    np.testing.assert_array_equal(out, np.zeros_like(out))


# -- options ----------------------------------------------------------------------------------

@pytest.mark.parametrize("forward, backward", [(layers.sum_forward, layers.sum_backward),
                                               (layers.mean_forward, layers.mean_backward)])
def test_numpy_booleans_are_accepted_wherever_a_bool_is(forward, backward):
    x = np.arange(6.0).reshape(2, 3)
    for flag in (np.True_, np.False_):
        out, cache = forward(x, axis=1, keepdims=flag)
        expected, expected_cache = forward(x, axis=1, keepdims=bool(flag))
        np.testing.assert_array_equal(out, expected)
        np.testing.assert_array_equal(backward(np.ones_like(out), cache),
                                      backward(np.ones_like(out), expected_cache))


def test_the_contract_takes_numpy_booleans_as_flags_and_refuses_them_as_numbers():
    check = Args("f")
    assert check.flag("keepdims", np.True_) is True
    assert check.flag("keepdims", False) is False
    with pytest.raises(TypeError, match=r"f: keepdims must be True or False; got int"):
        check.flag("keepdims", 1)
    # A bool is not a number, whether Python's or NumPy's.
    for flag in (True, np.True_):
        with pytest.raises(TypeError, match=r"f: alpha must be a real number"):
            check.number("alpha", flag)
        with pytest.raises(TypeError, match=r"f: G must be an integer"):
            check.integer("G", flag)


def test_a_choice_given_an_array_is_refused_clearly():
    with pytest.raises(TypeError, match=re.escape(
            "window_classifier_forward: activation must be 'sigmoid' or 'tanh'; got float64 "
            "array of shape (2,)")):
        layers.window_classifier_forward(np.zeros((1, 1), int), np.ones((2, 1)),
                                         np.ones((1, 1)), np.ones(1), np.ones(1),
                                         activation=np.ones(2))


# -- empty batches ----------------------------------------------------------------------------
# The rule: a layer that averages over the batch (every loss; batch norm in train mode,
# whose statistics run over the batch; a mean over the batch axis) refuses N = 0 with a
# ValueError; every other layer takes it, returning empty outputs and gradients of the
# arguments' shapes (zero for the weights).

# The arguments that carry the batch along axis 0, by name; layers without one.
BATCH_ARGUMENTS = ("x", "a", "query", "q", "windows", "y", "mask", "h0", "prev_h", "prev_c",
                   "key", "value", "k", "v", "may_attend")
NO_BATCH = {"naive_softmax_loss", "negative_sampling_loss", "skipgram"}
AVERAGE_OVER_THE_BATCH = {"softmax_loss", "svm_loss", "sigmoid_cross_entropy_loss",
                          "mse_loss", "temporal_softmax_loss", "batchnorm",
                          "spatial_batchnorm", "conv_bn_relu"}


def batch_example(spec):
    """A bound example whose batch size N >= 2 is no other axis's length, so that the
    batch arguments are told apart by their axis 0 alone; and N."""
    for seed in range(500):
        signature, bound = bound_example(spec, seed)
        arguments = bound.arguments
        batch = [n for n in BATCH_ARGUMENTS if isinstance(arguments.get(n), np.ndarray)]
        lead = arguments[batch[0]]
        if lead.ndim < 2:
            continue
        n = lead.shape[0]
        other_axes = [size for name, value in arguments.items()
                      if isinstance(value, np.ndarray)
                      for axis, size in enumerate(value.shape)
                      if not (axis == 0 and name in batch)]
        if n >= 2 and n not in other_axes:
            return signature, bound, n
    raise AssertionError(f"no example of {spec.name} with a distinct batch size")


def averages_over_the_batch(name, bound):
    if name in ("mean",):
        axis = bound.arguments.get("axis")
        return axis is None or 0 in (axis if isinstance(axis, tuple) else (axis,))
    return name in AVERAGE_OVER_THE_BATCH


def test_every_layer_is_classified_for_empty_batches():
    for name in LAYER_NAMES:
        arguments = inspect.signature(REGISTRY[name].forward).parameters
        assert (name in NO_BATCH) != any(a in BATCH_ARGUMENTS for a in arguments), name


@pytest.mark.parametrize("name", [n for n in LAYER_NAMES if n not in NO_BATCH])
def test_empty_batches_follow_one_rule(name):
    spec = REGISTRY[name]
    signature, bound, n = batch_example(spec)
    empty = dict(bound.arguments)
    for argument, value in bound.arguments.items():
        if argument in BATCH_ARGUMENTS and isinstance(value, np.ndarray) and value.ndim \
                and value.shape[0] == n:
            empty[argument] = value[:0]
    empty_bound = signature.bind(**empty)
    if averages_over_the_batch(name, bound):
        with pytest.raises(ValueError) as raised:
            call(spec.forward, empty_bound)
        message = str(raised.value)
        assert message.startswith(f"{spec.forward.__name__}: ") and \
            names_argument(message, "x"), message
        return
    full_shapes = [np.shape(o) for o in call(spec.forward, bound)[:-1]]
    result = call(spec.forward, empty_bound)
    outputs, cache = [np.asarray(o) for o in result[:-1]], result[-1]
    for output, full_shape in zip(outputs, full_shapes, strict=True):
        # The batch axis is empty; a sum over it is 0.
        if full_shape[:1] == (n,):
            assert output.shape == (0, *full_shape[1:])
        else:
            assert output.shape == full_shape
            np.testing.assert_array_equal(output, np.zeros(full_shape))
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        grads = spec.backward(*[np.ones(o.shape, o.dtype) for o in outputs], cache)
    grads = grads if isinstance(grads, tuple) else (grads,)
    positions = gradient_positions(spec.forward, empty_bound.args)
    assert [g.shape for g in grads] == [np.shape(empty_bound.args[i]) for i in positions]
    for grad in grads:
        assert grad.size == 0 or not grad.any(), "a weight's gradient from no examples is 0"


@pytest.mark.parametrize("forward, args", [
    (layers.mean_forward, (np.ones((0, 3)),)),
    (layers.global_avg_pool_forward, (np.ones((2, 3, 0, 4)),)),
    (layers.spatial_groupnorm_forward, (np.ones((2, 4, 0, 3)), np.ones(4), np.zeros(4), 2,
                                        {})),
])
def test_a_mean_over_no_elements_is_refused(forward, args):
    with pytest.raises(ValueError, match=rf"^{forward.__name__}: .*\bx\b"):
        call(forward, inspect.signature(forward).bind(*args))
