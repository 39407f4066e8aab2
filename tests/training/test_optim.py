"""Update rules, learning-rate schedules and initializers, against hand-computed values."""

import math

import numpy as np
import pytest

from training import init, optim
from training.schedules import CosineDecay, ExponentialDecay, LinearWarmup, StepDecay


def run(rule, w, grads, config):
    """Apply `rule` once per gradient in `grads`; return every iterate and the config."""
    iterates = []
    for dw in grads:
        w, config = rule(w, np.array(dw, dtype=float), config)
        iterates.append(w)
    return iterates, config


# -- hand-computed steps ----------------------------------------------------------------

def test_sgd_steps():
    iterates, _ = run(optim.sgd, np.array([1.0, -2.0]), [[0.5, -1.0], [-0.25, 2.0]],
                      {"learning_rate": 0.1})
    np.testing.assert_allclose(iterates, [[0.95, -1.9], [0.975, -2.1]], rtol=1e-15)


def test_sgd_momentum_steps():
    # v = 0.9 v - 0.1 dw; w += v.
    # first coordinate, dw = 1, 1, -2: v = -0.1, -0.19, 0.029; w = 0.9, 0.71, 0.739.
    # second, dw = -1, 0.5, 0: v = 0.1, 0.04, 0.036; w = -0.9, -0.86, -0.824.
    iterates, config = run(optim.sgd_momentum, np.array([1.0, -1.0]),
                           [[1.0, -1.0], [1.0, 0.5], [-2.0, 0.0]],
                           {"learning_rate": 0.1, "momentum": 0.9})
    np.testing.assert_allclose(iterates, [[0.9, -0.9], [0.71, -0.86], [0.739, -0.824]],
                               rtol=1e-14)
    np.testing.assert_allclose(config["velocity"], [0.029, 0.036], rtol=1e-13)


def test_nesterov_steps():
    # v_new = 0.9 v - 0.1 dw; w += -0.9 v + 1.9 v_new. With dw = 1, 1, -2:
    # v = -0.1, -0.19, 0.029;  w = 1 - 0.19 = 0.81;  0.81 + 0.09 - 0.361 = 0.539;
    # 0.539 + 0.171 + 0.0551 = 0.7651.
    iterates, config = run(optim.nesterov, np.array([1.0]), [[1.0], [1.0], [-2.0]],
                           {"learning_rate": 0.1, "momentum": 0.9})
    np.testing.assert_allclose(np.ravel(iterates), [0.81, 0.539, 0.7651], rtol=1e-14)
    np.testing.assert_allclose(config["velocity"], [0.029], rtol=1e-13)


def test_rmsprop_steps():
    # decay 0.5, dw = 2, 2, -1: cache = 2, 3, 2; steps 0.1 * dw / sqrt(cache).
    iterates, config = run(optim.rmsprop, np.array([1.0]), [[2.0], [2.0], [-1.0]],
                           {"learning_rate": 0.1, "decay_rate": 0.5, "epsilon": 0.0})
    w1 = 1 - 0.2 / math.sqrt(2)
    w2 = w1 - 0.2 / math.sqrt(3)
    w3 = w2 + 0.1 / math.sqrt(2)
    np.testing.assert_allclose(np.ravel(iterates), [w1, w2, w3], rtol=1e-15)
    np.testing.assert_allclose(config["cache"], [2.0], rtol=1e-15)


def test_rmsprop_adds_epsilon_outside_the_square_root():
    # cache = 0.01 * 4e-16 = 4e-18, sqrt = 2e-9; step = 0.01 * 2e-8 / (2e-9 + 1e-8).
    next_w, _ = optim.rmsprop(np.array([0.0]), np.array([2e-8]))
    np.testing.assert_allclose(next_w, [-0.01 * 2e-8 / 1.2e-8], rtol=1e-12)


def test_adam_steps():
    # beta1 0.5, beta2 0.75, dw = 2, -2, 4:
    # t=1: m = 1, v = 1; m_hat = 2, v_hat = 4; w = 1 - 0.1 * 2 / 2 = 0.9
    # t=2: m = -0.5, v = 1.75; m_hat = -2/3, v_hat = 4; w = 0.9 + 0.1 / 3
    # t=3: m = 1.75, v = 5.3125; m_hat = 2, v_hat = 5.3125 / 0.578125
    config = {"learning_rate": 0.1, "beta1": 0.5, "beta2": 0.75, "epsilon": 0.0}
    iterates, config = run(optim.adam, np.array([1.0]), [[2.0], [-2.0], [4.0]], config)
    w2 = 0.9 + 0.1 / 3
    w3 = w2 - 0.1 * 2 / math.sqrt(5.3125 / 0.578125)
    np.testing.assert_allclose(np.ravel(iterates), [0.9, w2, w3], rtol=1e-15)
    assert config["t"] == 3
    np.testing.assert_allclose([config["m"][0], config["v"][0]], [1.75, 5.3125], rtol=1e-15)


def test_adamw_steps_decay_the_weights_outside_the_adam_direction():
    # As in test_adam_steps, plus 0.1 * 0.5 * w: 1 - 0.1 * (0.5 + 1) = 0.85, then
    # 0.85 - 0.1 * (0.5 * 0.85 - 1/3).
    config = {"learning_rate": 0.1, "weight_decay": 0.5, "beta1": 0.5, "beta2": 0.75,
              "epsilon": 0.0}
    iterates, config = run(optim.adamw, np.array([1.0]), [[2.0], [-2.0]], config)
    np.testing.assert_allclose(np.ravel(iterates), [0.85, 0.85 - 0.1 * (0.425 - 1 / 3)],
                               rtol=1e-15)
    # The decay never enters the moments: they are Adam's, from dw alone.
    np.testing.assert_allclose([config["m"][0], config["v"][0]], [-0.5, 1.75], rtol=1e-15)


# -- the contract shared by every rule --------------------------------------------------

RULES = sorted(optim.UPDATE_RULES.items())
CS231N_DEFAULTS = {
    "sgd": {"learning_rate": 1e-2},
    "sgd_momentum": {"learning_rate": 1e-2, "momentum": 0.9},
    "nesterov": {"learning_rate": 1e-2, "momentum": 0.9},
    "rmsprop": {"learning_rate": 1e-2, "decay_rate": 0.99, "epsilon": 1e-8},
    "adam": {"learning_rate": 1e-3, "beta1": 0.9, "beta2": 0.999, "epsilon": 1e-8},
    "adamw": {"learning_rate": 1e-3, "beta1": 0.9, "beta2": 0.999, "epsilon": 1e-8,
              "weight_decay": 1e-2},
}


@pytest.mark.parametrize("name, rule", RULES)
def test_defaults_are_cs231n_and_written_into_the_config(name, rule):
    _, config = rule(np.ones(3), np.ones(3))
    assert {k: config[k] for k in CS231N_DEFAULTS[name]} == CS231N_DEFAULTS[name]


@pytest.mark.parametrize("name, rule", RULES)
def test_inputs_are_never_modified_and_state_is_rebound(name, rule, rng):
    w, dw = rng.standard_normal((3, 4)), rng.standard_normal((3, 4))
    w0, dw0 = w.copy(), dw.copy()
    config = {}
    _, returned = rule(w, dw, config)
    assert returned is config                        # the caller's dict holds the state
    states = {k: v.copy() for k, v in config.items() if isinstance(v, np.ndarray)}
    held = {k: config[k] for k in states}
    rule(w, dw, config)
    np.testing.assert_array_equal(w, w0)
    np.testing.assert_array_equal(dw, dw0)
    for key, array in held.items():                  # old state arrays are not written into
        np.testing.assert_array_equal(array, states[key])
        assert config[key] is not array


@pytest.mark.parametrize("name, rule", RULES)
def test_float32_stays_float32(name, rule, rng):
    w = rng.standard_normal(5).astype(np.float32)
    config = {"learning_rate": np.float64(0.01)}    # a schedule's NumPy scalar, say
    for _ in range(2):
        w, config = rule(w, np.ones(5, np.float32), config)
    assert w.dtype == np.float32
    assert all(v.dtype == np.float32 for v in config.values() if isinstance(v, np.ndarray))


def test_errors_name_the_rule_and_the_argument():
    with pytest.raises(ValueError, match=r"adam: dw must have w's shape \(3,\); got "
                                         r"dw.shape = \(4,\)"):
        optim.adam(np.ones(3), np.ones(4))
    with pytest.raises(ValueError, match=r"sgd_momentum: config\['velocity'\] must have "
                                         r"w's shape \(3,\).*state of ONE parameter"):
        optim.sgd_momentum(np.ones(3), np.ones(3), {"velocity": np.zeros(2)})
    with pytest.raises(ValueError, match=r"rmsprop: config\['decay_rate'\] must be in "
                                         r"\[0, 1\); got 1.5"):
        optim.rmsprop(np.ones(3), np.ones(3), {"decay_rate": 1.5})
    with pytest.raises(TypeError, match=r"sgd: dw must be a floating-point array.*int64"):
        optim.sgd(np.ones(3), np.ones(3, dtype=np.int64))
    with pytest.raises(TypeError, match="nesterov: config must be a dict"):
        optim.nesterov(np.ones(3), np.ones(3), [0.1])


# -- schedules ---------------------------------------------------------------------------

def test_step_and_exponential_decay():
    step = StepDecay(0.1, step_size=3, gamma=0.5)
    assert [step(t) for t in range(7)] == [0.1, 0.1, 0.1, 0.05, 0.05, 0.05, 0.025]
    exponential = ExponentialDecay(2.0, gamma=0.5)
    assert [exponential(t) for t in range(4)] == [2.0, 1.0, 0.5, 0.25]


def test_cosine_decay_halfway_and_after_the_end():
    cosine = CosineDecay(1.0, total_steps=4, final_learning_rate=0.2)
    # 0.2 + 0.8 * (1 + cos(pi t / 4)) / 2
    expected = [1.0, 0.2 + 0.4 * (1 + math.sqrt(0.5)), 0.6, 0.2 + 0.4 * (1 - math.sqrt(0.5)),
                0.2, 0.2]
    np.testing.assert_allclose([cosine(t) for t in range(6)], expected, rtol=1e-15)


def test_linear_warmup_then_the_wrapped_schedule_on_its_own_clock():
    warm = LinearWarmup(StepDecay(0.4, step_size=2, gamma=0.5), warmup_steps=4)
    np.testing.assert_allclose([warm(t) for t in range(8)],
                               [0.1, 0.2, 0.3, 0.4, 0.4, 0.4, 0.2, 0.2], rtol=1e-15)
    assert LinearWarmup(0.5, warmup_steps=2)(0) == 0.25


def test_schedule_errors():
    with pytest.raises(ValueError, match=r"StepDecay: step_size must be >= 1; got 0"):
        StepDecay(0.1, step_size=0)
    with pytest.raises(ValueError, match=r"CosineDecay: t must be >= 0; got -1"):
        CosineDecay(0.1, total_steps=10)(-1)
    with pytest.raises(ValueError, match=r"CosineDecay: final_learning_rate must be in "
                                         r"\[0, 0.1\]; got 0.2"):
        CosineDecay(0.1, total_steps=10, final_learning_rate=0.2)


# -- initializers ------------------------------------------------------------------------

def test_fans_follow_the_cs231n_layouts():
    assert init.fans((64, 100)) == (64, 100)               # affine (D, M)
    assert init.fans((8, 3, 5, 5)) == (75, 200)            # conv (F, C, HH, WW)


@pytest.mark.parametrize("initializer, variance", [
    (init.xavier_normal, 2 / (300 + 200)),
    (init.xavier_uniform, 2 / (300 + 200)),
    (init.he_normal, 2 / 300),
    (init.he_uniform, 2 / 300),
])
def test_initializer_variances(initializer, variance):
    w = initializer(np.random.default_rng(0), (300, 200))
    # 60,000 draws: the sample variance is within ~1.5% (3 standard errors) of the truth.
    assert w.var() == pytest.approx(variance, rel=0.02)
    assert abs(w.mean()) < 4 * math.sqrt(variance / w.size)


def test_uniform_bounds_and_he_fan_out():
    w = init.he_uniform(np.random.default_rng(1), (10, 40), mode="fan_out")
    bound = math.sqrt(2) * math.sqrt(3 / 40)
    assert np.abs(w).max() <= bound and np.abs(w).max() > 0.9 * bound


def test_initializers_are_seeded_and_dtype_aware():
    a = init.normal(np.random.default_rng(3), (4, 5), std=0.1, dtype=np.float32)
    b = init.normal(3, (4, 5), std=0.1)
    assert a.dtype == np.float32 and b.dtype == np.float64
    np.testing.assert_array_equal(a, b.astype(np.float32))
    with pytest.raises(TypeError, match="normal: rng must be a np.random.Generator or an "
                                        "int seed; got NoneType"):
        init.normal(None, (2, 2))
    with pytest.raises(ValueError, match=r"he_normal: mode must be 'fan_in' or 'fan_out'; "
                                         r"got 'fan_avg'"):
        init.he_normal(0, (2, 2), mode="fan_avg")


def test_initializer_errors_name_the_initializer_and_the_argument():
    assert init.he_normal(0, 5).shape == (5,)              # an int n is (n,), as in NumPy
    assert init.fans((np.int64(3), 4)) == (3, 4)
    with pytest.raises(TypeError, match=r"he_normal: shape must be an int or a tuple of "
                                        r"ints; got str"):
        init.he_normal(0, "5")
    with pytest.raises(ValueError, match=r"xavier_uniform: shape must be a non-empty tuple "
                                         r"of ints >= 1; got \(4, 0\)"):
        init.xavier_uniform(0, (4, 0))
    with pytest.raises(ValueError, match=r"he_normal: gain must be in \(0, inf\]; got -1"):
        init.he_normal(0, (2, 2), gain=-1)
    with pytest.raises(ValueError, match=r"normal: shape must be a non-empty tuple"):
        init.normal(0, ())
