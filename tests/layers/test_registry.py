"""Every layer of the library: registered, checked, dtype-preserving and pure."""

import importlib
import inspect
import pkgutil

import numpy as np
import pytest
from hypothesis import given, settings, strategies as st

import layers
from checks import check_layer
from layers.contract import is_float_array
from layers.registry import REGISTRY

LAYER_NAMES = sorted(REGISTRY)


def public_modules():
    for info in pkgutil.iter_modules(layers.__path__):
        if not info.name.startswith("_") and info.name != "registry":
            yield importlib.import_module(f"layers.{info.name}")


def forwards_defined_in(module):
    return [(name, obj) for name, obj in vars(module).items()
            if name.endswith("_forward") and inspect.isfunction(obj)
            and obj.__module__ == module.__name__]


COURSE_LAYERS = ("affine", "relu", "batchnorm", "layernorm", "dropout", "conv", "max_pool",
                 "spatial_batchnorm", "spatial_groupnorm", "softmax_loss", "svm_loss",
                 "rnn_step", "rnn", "lstm_step", "lstm", "word_embedding", "temporal_affine",
                 "temporal_softmax_loss")


@pytest.mark.parametrize("name", COURSE_LAYERS)
def test_the_course_layers_are_registered_under_their_pair_names(name):
    spec = REGISTRY[name]
    assert (spec.name, spec.forward.__name__, spec.backward.__name__) == \
        (name, f"{name}_forward", f"{name}_backward")
    assert spec.forward is getattr(layers, f"{name}_forward")
    assert spec.backward is getattr(layers, f"{name}_backward")


@pytest.mark.parametrize("module", list(public_modules()), ids=lambda m: m.__name__)
def test_layers_package_exports_every_public_name(module):
    # `layers/__init__.py` star-imports each module and joins their __all__ lists; a
    # module left out there would be missing from `layers`. The
    # contract (with its argument checks and dtype promotion), the importer of optional
    # dependencies and CS224N's functions (plain functions, not pairs) stay in their
    # modules.
    if module.__name__ in ("layers.args", "layers.contract", "layers.promotion",
                           "layers.optional", "layers.cs224n"):
        assert getattr(layers, module.__name__.split(".")[1]) is module
        assert not set(getattr(module, "__all__", ())) & set(layers.__all__)
        return
    missing = [n for n in module.__all__ if getattr(layers, n, None) is not getattr(module, n)]
    assert not missing, f"layers/__init__.py does not import {missing} from {module.__name__}"
    assert set(module.__all__) <= set(layers.__all__)


@pytest.mark.parametrize("module", list(public_modules()), ids=lambda m: m.__name__)
def test_every_forward_has_a_backward_and_a_registration(module):
    for name, forward in forwards_defined_in(module):
        base = name[: -len("_forward")]
        assert inspect.isfunction(getattr(module, f"{base}_backward", None)), \
            f"{module.__name__}.{name} has no {base}_backward"
        assert base in REGISTRY and REGISTRY[base].forward is forward, \
            f"{module.__name__}.{name} is not registered for the checker"
        assert getattr(layers, name, None) is forward, f"layers does not export {name}"


def call_pair(spec, example, rng):
    """Forward, then backward with a random upstream gradient per output.

    Returns (outputs, grads as a tuple, upstream gradients).
    """
    result = spec.forward(*example.args, **example.kwargs)
    outputs = [np.asarray(o) for o in result[:-1]]
    upstream = [rng.standard_normal(o.shape).astype(o.dtype) for o in outputs]
    grads = spec.backward(*upstream, result[-1])
    return outputs, grads if isinstance(grads, tuple) else (grads,), upstream


@pytest.mark.parametrize("seed", [0, 1, 2])
@pytest.mark.parametrize("name", LAYER_NAMES)
def test_gradients_float64(name, seed):
    spec = REGISTRY[name]
    example = spec.example(np.random.default_rng(seed), np.float64)
    report = check_layer(spec.forward, spec.backward, *example.args, seed=seed,
                         **example.kwargs)
    assert report.ok, str(report)
    assert report.max_rel_error < 1e-6


@pytest.mark.parametrize("name", LAYER_NAMES)
def test_float32_in_float32_out(name):
    spec = REGISTRY[name]
    example = spec.example(np.random.default_rng(7), np.float32)
    assert any(is_float_array(a) and np.asarray(a).dtype == np.float32
               for a in example.args), "example has no float32 argument"
    outputs, grads, _ = call_pair(spec, example, np.random.default_rng(0))
    assert all(o.dtype == np.float32 for o in outputs)
    assert all(np.asarray(g).dtype == np.float32 for g in grads)
    report = check_layer(spec.forward, spec.backward, *example.args, **example.kwargs)
    assert report.ok, str(report)


def arrays_in(value):
    if isinstance(value, np.ndarray):
        return [value]
    if isinstance(value, dict):
        return [a for v in value.values() for a in arrays_in(v)]
    if isinstance(value, (list, tuple)):
        return [a for v in value for a in arrays_in(v)]
    return []


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
@pytest.mark.parametrize("name", LAYER_NAMES)
@settings(max_examples=8, deadline=None)
@given(seed=st.integers(0, 2**32 - 1))
def test_inputs_are_never_modified(name, dtype, seed):
    """Bit for bit: the arguments, and the upstream gradients handed to backward."""
    spec = REGISTRY[name]
    example = spec.example(np.random.default_rng(seed), dtype)
    inputs = arrays_in((example.args, example.kwargs))
    saved_inputs = [(a.dtype, a.shape, a.tobytes()) for a in inputs]
    forward = spec.forward(*example.args, **example.kwargs)
    rng = np.random.default_rng(seed)
    upstream = [rng.standard_normal(np.shape(o)).astype(np.asarray(o).dtype)
                for o in forward[:-1]]
    saved_upstream = [u.tobytes() for u in upstream]
    spec.backward(*upstream, forward[-1])
    check_layer(spec.forward, spec.backward, *example.args, **example.kwargs)
    for array, (dtype_before, shape_before, bytes_before) in zip(inputs, saved_inputs,
                                                                 strict=True):
        assert (array.dtype, array.shape) == (dtype_before, shape_before)
        assert array.tobytes() == bytes_before
    assert [u.tobytes() for u in upstream] == saved_upstream


@pytest.mark.parametrize("name", LAYER_NAMES)
def test_gradients_alias_neither_upstream_nor_each_other(name):
    """CS231n-style code accumulates into gradients (dx += ...): that must not write into
    the caller's upstream gradient, another gradient, or an input."""
    spec = REGISTRY[name]
    example = spec.example(np.random.default_rng(3), np.float64)
    _, grads, upstream = call_pair(spec, example, np.random.default_rng(4))
    others = upstream + arrays_in((example.args, example.kwargs))
    for i, grad in enumerate(grads):
        for other in others + list(grads[:i]):
            assert not np.may_share_memory(grad, other), \
                f"{name}: gradient {i} shares memory with another array"
