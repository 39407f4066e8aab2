"""Every layer of the library: registered, checked, dtype-preserving and pure."""

import copy
import importlib
import inspect
import pkgutil

import numpy as np
import pytest
from hypothesis import given, settings, strategies as st

import layers
from checks import check_layer
from layers._validate import is_float_array
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


def test_library_has_layers():
    assert len(LAYER_NAMES) >= 1


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
    """Forward, then backward with a random upstream gradient per output."""
    result = spec.forward(*example.args, **example.kwargs)
    outputs = [np.asarray(o) for o in result[:-1]]
    upstream = [rng.standard_normal(o.shape).astype(o.dtype) for o in outputs]
    grads = spec.backward(*upstream, result[-1])
    return outputs, grads


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
    outputs, grads = call_pair(spec, example, np.random.default_rng(0))
    assert all(o.dtype == np.float32 for o in outputs)
    grads = grads if isinstance(grads, tuple) else (grads,)
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


@pytest.mark.parametrize("name", LAYER_NAMES)
@settings(max_examples=8, deadline=None)
@given(seed=st.integers(0, 2**32 - 1))
def test_inputs_are_never_modified(name, seed):
    spec = REGISTRY[name]
    example = spec.example(np.random.default_rng(seed), np.float64)
    originals = arrays_in((example.args, example.kwargs))
    saved = copy.deepcopy(originals)
    call_pair(spec, example, np.random.default_rng(seed))
    check_layer(spec.forward, spec.backward, *example.args, **example.kwargs)
    for array, before in zip(originals, saved):
        assert array.dtype == before.dtype and array.shape == before.shape
        assert np.array_equal(array, before, equal_nan=True)
