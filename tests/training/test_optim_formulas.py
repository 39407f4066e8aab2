"""Each update rule gives its docstring's formula, written plainly as NumPy expressions,
bit for bit, over several steps: the rules compute in place and in a kept scratch array
(`layers.scratch`), one operation at a time in the formula's order. Also: w, dw and the
state arrays passed in are never written into, and results stay arrays of w's dtype."""

import numpy as np
import pytest

from layers import scratch
from training import optim


def plain_sgd(w, dw, c):
    return w - c["learning_rate"] * dw, {}


def plain_sgd_momentum(w, dw, c):
    v = c["momentum"] * c["velocity"] - c["learning_rate"] * dw
    return w + v, {"velocity": v}


def plain_nesterov(w, dw, c):
    v = c["momentum"] * c["velocity"] - c["learning_rate"] * dw
    return w - c["momentum"] * c["velocity"] + (1 + c["momentum"]) * v, {"velocity": v}


def plain_rmsprop(w, dw, c):
    cache = c["decay_rate"] * c["cache"] + (1 - c["decay_rate"]) * dw * dw
    return (w - c["learning_rate"] * dw / (np.sqrt(cache) + c["epsilon"]),
            {"cache": cache})


def plain_adam_direction(dw, c):
    t = c["t"] + 1
    m = c["beta1"] * c["m"] + (1 - c["beta1"]) * dw
    v = c["beta2"] * c["v"] + (1 - c["beta2"]) * dw * dw
    m_hat, v_hat = m / (1 - c["beta1"] ** t), v / (1 - c["beta2"] ** t)
    return m_hat / (np.sqrt(v_hat) + c["epsilon"]), {"m": m, "v": v, "t": t}


def plain_adam(w, dw, c):
    direction, state = plain_adam_direction(dw, c)
    return w - c["learning_rate"] * direction, state


def plain_adamw(w, dw, c):
    direction, state = plain_adam_direction(dw, c)
    return w - c["learning_rate"] * (c["weight_decay"] * w + direction), state


PLAIN = {"sgd": plain_sgd, "sgd_momentum": plain_sgd_momentum, "nesterov": plain_nesterov,
         "rmsprop": plain_rmsprop, "adam": plain_adam, "adamw": plain_adamw}
ADAM = {"learning_rate": 0.03, "beta1": 0.85, "beta2": 0.99, "epsilon": 1e-6}
HYPER = {"sgd": {"learning_rate": 0.03},
         "sgd_momentum": {"learning_rate": 0.03, "momentum": 0.8},
         "nesterov": {"learning_rate": 0.03, "momentum": 0.8},
         "rmsprop": {"learning_rate": 0.03, "decay_rate": 0.95, "epsilon": 1e-6},
         "adam": ADAM, "adamw": {**ADAM, "weight_decay": 0.1}}
STATE = {"sgd_momentum": ("velocity",), "nesterov": ("velocity",), "rmsprop": ("cache",),
         "adam": ("m", "v"), "adamw": ("m", "v")}


@pytest.mark.parametrize("shape", [(), (7,), (5, 3), (4, 3, 2)])
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("name", sorted(PLAIN))
def test_each_rule_is_its_formula_bit_for_bit(name, dtype, shape):
    rng = np.random.default_rng(7)
    rule = optim.UPDATE_RULES[name]
    w = rng.standard_normal(shape).astype(dtype)
    config = dict(HYPER[name])
    for _ in range(4):
        dw = rng.standard_normal(shape).astype(dtype)
        # The plain formula reads the state the rule holds before this step.
        before = dict(config)
        for key in STATE.get(name, ()):
            before.setdefault(key, np.zeros(shape, dtype))
        if name.startswith("adam"):
            before.setdefault("t", 0)
        saved = [(a, a.copy()) for a in [w, dw, *(before[k] for k in STATE.get(name, ()))]]
        expected_w, expected_state = PLAIN[name](w, dw, before)
        next_w, config = rule(w, dw, config)
        for array, copy in saved:
            np.testing.assert_array_equal(array, copy)            # nothing written into
        assert isinstance(next_w, np.ndarray) and next_w.dtype == dtype
        assert next_w.shape == shape
        np.testing.assert_array_equal(next_w, expected_w, strict=True)
        for key, value in expected_state.items():
            np.testing.assert_array_equal(config[key], value)
        w = next_w


def test_the_rules_keep_one_scratch_array_per_dtype():
    scratch.clear_scratch()
    w, dw = np.ones((30, 20)), np.full((30, 20), 0.5)
    config = {}
    for _ in range(3):
        w, config = optim.adam(w, dw, config)
    kept = scratch.scratch_buffers()
    assert list(kept) == [("update_rule", np.dtype(np.float64))]
    assert kept[("update_rule", np.dtype(np.float64))].size == 600
    scratch.clear_scratch()
