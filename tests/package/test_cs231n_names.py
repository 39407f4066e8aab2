"""Every function CS231n's assignments 2 and 3 (2019 and 2021) call from its ``layers.py``,
``layer_utils.py``, ``fast_layers.py``, ``rnn_layers.py``, ``optim.py`` and
``gradient_check.py``, and the Solver's and the models' constructors, exists in gatelab
under CS231n's name with CS231n's signature: parameter names, positional order and
defaults (gatelab may add parameters after CS231n's, each with a default), and CS231n's
return order.

The table is written from the course's files; where gatelab's default differs on purpose
the difference is listed in DIFFERENT_DEFAULTS, with the reason.
"""

import ast
import inspect

import numpy as np
import pytest

import checks
import layers
from checks import gradient_check
from layers import rnn
from layers.registry import REGISTRY
from training import models, optim
from training.solver import Solver

REQUIRED = inspect.Parameter.empty

# name: (gatelab's module, CS231n's file, CS231n's signature, number of values returned).
# A backward's count is its number of gradients; a fused loss returns (loss, dx).
CS231N = {
    # layers.py (assignment 2, and assignment 3's copy)
    "affine_forward": (layers, "layers.py", "x, w, b", 2),
    "affine_backward": (layers, "layers.py", "dout, cache", 3),
    "relu_forward": (layers, "layers.py", "x", 2),
    "relu_backward": (layers, "layers.py", "dout, cache", 1),
    "batchnorm_forward": (layers, "layers.py", "x, gamma, beta, bn_param", 2),
    "batchnorm_backward": (layers, "layers.py", "dout, cache", 3),
    "batchnorm_backward_alt": (layers, "layers.py", "dout, cache", 3),
    "layernorm_forward": (layers, "layers.py", "x, gamma, beta, ln_param", 2),
    "layernorm_backward": (layers, "layers.py", "dout, cache", 3),
    "dropout_forward": (layers, "layers.py", "x, dropout_param", 2),
    "dropout_backward": (layers, "layers.py", "dout, cache", 1),
    "conv_forward_naive": (layers, "layers.py", "x, w, b, conv_param", 2),
    "conv_backward_naive": (layers, "layers.py", "dout, cache", 3),
    "max_pool_forward_naive": (layers, "layers.py", "x, pool_param", 2),
    "max_pool_backward_naive": (layers, "layers.py", "dout, cache", 1),
    "spatial_batchnorm_forward": (layers, "layers.py", "x, gamma, beta, bn_param", 2),
    "spatial_batchnorm_backward": (layers, "layers.py", "dout, cache", 3),
    "spatial_groupnorm_forward": (layers, "layers.py", "x, gamma, beta, G, gn_param", 2),
    "spatial_groupnorm_backward": (layers, "layers.py", "dout, cache", 3),
    "svm_loss": (layers, "layers.py", "x, y", 2),
    "softmax_loss": (layers, "layers.py", "x, y", 2),
    # layer_utils.py
    "affine_relu_forward": (layers, "layer_utils.py", "x, w, b", 2),
    "affine_relu_backward": (layers, "layer_utils.py", "dout, cache", 3),
    "conv_relu_forward": (layers, "layer_utils.py", "x, w, b, conv_param", 2),
    "conv_relu_backward": (layers, "layer_utils.py", "dout, cache", 3),
    "conv_bn_relu_forward": (layers, "layer_utils.py",
                             "x, w, b, gamma, beta, conv_param, bn_param", 2),
    "conv_bn_relu_backward": (layers, "layer_utils.py", "dout, cache", 5),
    "conv_relu_pool_forward": (layers, "layer_utils.py",
                               "x, w, b, conv_param, pool_param", 2),
    "conv_relu_pool_backward": (layers, "layer_utils.py", "dout, cache", 3),
    # fast_layers.py
    "conv_forward_fast": (layers, "fast_layers.py", "x, w, b, conv_param", 2),
    "conv_backward_fast": (layers, "fast_layers.py", "dout, cache", 3),
    "max_pool_forward_fast": (layers, "fast_layers.py", "x, pool_param", 2),
    "max_pool_backward_fast": (layers, "fast_layers.py", "dout, cache", 1),
    "conv_forward_strides": (layers, "fast_layers.py", "x, w, b, conv_param", 2),
    "conv_backward_strides": (layers, "fast_layers.py", "dout, cache", 3),
    "conv_forward_im2col": (layers, "fast_layers.py", "x, w, b, conv_param", 2),
    "conv_backward_im2col": (layers, "fast_layers.py", "dout, cache", 3),
    "max_pool_forward_reshape": (layers, "fast_layers.py", "x, pool_param", 2),
    "max_pool_backward_reshape": (layers, "fast_layers.py", "dout, cache", 1),
    "max_pool_forward_im2col": (layers, "fast_layers.py", "x, pool_param", 2),
    "max_pool_backward_im2col": (layers, "fast_layers.py", "dout, cache", 1),
    # rnn_layers.py (2021's also holds affine_forward/affine_backward, listed above)
    "rnn_step_forward": (layers, "rnn_layers.py", "x, prev_h, Wx, Wh, b", 2),
    "rnn_step_backward": (layers, "rnn_layers.py", "dnext_h, cache", 5),
    "rnn_forward": (layers, "rnn_layers.py", "x, h0, Wx, Wh, b", 2),
    "rnn_backward": (layers, "rnn_layers.py", "dh, cache", 5),
    "word_embedding_forward": (layers, "rnn_layers.py", "x, W", 2),
    "word_embedding_backward": (layers, "rnn_layers.py", "dout, cache", 1),
    "lstm_step_forward": (layers, "rnn_layers.py", "x, prev_h, prev_c, Wx, Wh, b", 3),
    "lstm_step_backward": (layers, "rnn_layers.py", "dnext_h, dnext_c, cache", 6),
    "lstm_forward": (layers, "rnn_layers.py", "x, h0, Wx, Wh, b", 2),
    "lstm_backward": (layers, "rnn_layers.py", "dh, cache", 5),
    "temporal_affine_forward": (layers, "rnn_layers.py", "x, w, b", 2),
    "temporal_affine_backward": (layers, "rnn_layers.py", "dout, cache", 3),
    "temporal_softmax_loss": (layers, "rnn_layers.py", "x, y, mask, verbose=False", 2),
    "sigmoid": (rnn, "rnn_layers.py", "x", 1),
    # optim.py
    "sgd": (optim, "optim.py", "w, dw, config=None", 2),
    "sgd_momentum": (optim, "optim.py", "w, dw, config=None", 2),
    "rmsprop": (optim, "optim.py", "w, dw, config=None", 2),
    "adam": (optim, "optim.py", "w, dw, config=None", 2),
    # gradient_check.py (and the notebooks' own rel_error)
    "eval_numerical_gradient": (gradient_check, "gradient_check.py",
                                "f, x, verbose=True, h=0.00001", 1),
    "eval_numerical_gradient_array": (gradient_check, "gradient_check.py",
                                      "f, x, df, h=1e-5", 1),
    "eval_numerical_gradient_blobs": (gradient_check, "gradient_check.py",
                                      "f, inputs, output, h=1e-5", None),
    "eval_numerical_gradient_net": (gradient_check, "gradient_check.py",
                                    "net, inputs, output, h=1e-5", None),
    "grad_check_sparse": (gradient_check, "gradient_check.py",
                          "f, x, analytic_grad, num_checks=10, h=1e-5", None),
    "rel_error": (gradient_check, "the notebooks", "x, y", 1),
}

# The update rules' config defaults (optim.py's config.setdefault lines), and the state
# each rule keeps.
OPTIM_DEFAULTS = {
    "sgd": ({"learning_rate": 1e-2}, ()),
    "sgd_momentum": ({"learning_rate": 1e-2, "momentum": 0.9}, ("velocity",)),
    "rmsprop": ({"learning_rate": 1e-2, "decay_rate": 0.99, "epsilon": 1e-8}, ("cache",)),
    "adam": ({"learning_rate": 1e-3, "beta1": 0.9, "beta2": 0.999, "epsilon": 1e-8},
             ("m", "v", "t")),
}

# CS231n's Solver(model, data, **kwargs): the keywords it pops, with their defaults.
SOLVER_KEYWORDS = {
    "update_rule": "sgd", "optim_config": {}, "lr_decay": 1.0, "batch_size": 100,
    "num_epochs": 10, "num_train_samples": 1000, "num_val_samples": None,
    "checkpoint_name": None, "print_every": 10, "verbose": True,
}

# The classifiers' constructors as the assignments give them (input_dim=3*32*32 written
# out; 2021's FullyConnectedNet, whose dropout_keep_ratio 2019 calls `dropout`: checked
# below).
MODELS = {
    "TwoLayerNet": "input_dim=3072, hidden_dim=100, num_classes=10, weight_scale=1e-3, "
                   "reg=0.0",
    "FullyConnectedNet": "hidden_dims, input_dim=3072, num_classes=10, "
                         "dropout_keep_ratio=1, normalization=None, reg=0.0, "
                         "weight_scale=1e-2, dtype='float32', seed=None",
    "ThreeLayerConvNet": "input_dim=(3, 32, 32), num_filters=32, filter_size=7, "
                         "hidden_dim=100, num_classes=10, weight_scale=1e-3, reg=0.0, "
                         "dtype='float32'",
}

DIFFERENT_DEFAULTS = {
    # A mutable default is a trap; None means a new empty dict, as CS231n's {} does.
    ("Solver", "optim_config"): None,
    # gatelab's models compute in float64 unless told otherwise, so that their gradients
    # check; CS231n's notebooks pass dtype=np.float64 wherever they check numbers.
    ("FullyConnectedNet", "dtype"): np.float64,
    ("ThreeLayerConvNet", "dtype"): np.float64,
}


def parse(signature):
    """[(name, default or REQUIRED)] of a signature written as in a def statement."""
    arguments = ast.parse(f"def f({signature}): pass").body[0].args
    names = [a.arg for a in arguments.args]
    defaults = [ast.literal_eval(d) for d in arguments.defaults]
    return list(zip(names, [REQUIRED] * (len(names) - len(defaults)) + defaults, strict=True))


def same_default(ours, theirs):
    if isinstance(theirs, str) and theirs.startswith("float"):
        return ours is getattr(np, theirs)
    return type(ours) is type(theirs) and ours == theirs or (ours is theirs)


def assert_signature_extends(function, expected, owner):
    """`function`'s leading parameters are `expected`, positional, with its defaults;
    every parameter it adds has a default."""
    parameters = [p for p in inspect.signature(function).parameters.values()
                  if p.name != "self"]
    got = [p.name for p in parameters[:len(expected)]]
    assert got == [name for name, _ in expected], f"{owner}: parameters {got}"
    for parameter, (name, default) in zip(parameters[:len(expected)], expected, strict=True):
        assert parameter.kind is inspect.Parameter.POSITIONAL_OR_KEYWORD, \
            f"{owner}: {name} must be positional, as in CS231n"
        wanted = DIFFERENT_DEFAULTS.get((owner, name), default)
        assert (parameter.default is REQUIRED) == (wanted is REQUIRED), \
            f"{owner}: {name} default {parameter.default!r}, CS231n's {default!r}"
        if wanted is not REQUIRED:
            assert same_default(parameter.default, wanted) or \
                parameter.default == pytest.approx(wanted), \
                f"{owner}: {name} default {parameter.default!r}, expected {wanted!r}"
    extra = [p.name for p in parameters[len(expected):] if p.default is REQUIRED
             and p.kind not in (p.VAR_POSITIONAL, p.VAR_KEYWORD)]
    assert not extra, f"{owner}: added parameters without a default: {extra}"


@pytest.mark.parametrize("name", sorted(CS231N))
def test_cs231n_function_exists_with_cs231ns_signature(name):
    module, _, signature, _ = CS231N[name]
    function = getattr(module, name, None)
    assert callable(function), f"{module.__name__} has no {name}"
    assert_signature_extends(function, parse(signature), name)


def test_the_gradient_check_helpers_are_exported_by_checks_too():
    for name in ("eval_numerical_gradient", "eval_numerical_gradient_array",
                 "eval_numerical_gradient_blobs", "eval_numerical_gradient_net",
                 "grad_check_sparse", "rel_error"):
        assert getattr(checks, name) is getattr(gradient_check, name)


def test_cs231ns_module_name_re_exports_every_helper_as_the_same_object():
    from checks import cs231n_helpers

    assert gradient_check.__all__ == cs231n_helpers.__all__
    assert len(cs231n_helpers.__all__) == 6
    for name in cs231n_helpers.__all__:
        assert getattr(gradient_check, name) is getattr(cs231n_helpers, name)


def pairs_by_base_name():
    """(forward name, backward name, registered example's layer) for the table's pairs."""
    aliases = {"conv_forward_fast": "conv", "max_pool_forward_fast": "max_pool",
               "conv_forward_naive": "conv_naive",
               "max_pool_forward_naive": "max_pool_naive",
               "conv_forward_strides": "conv_strides", "conv_forward_im2col": "conv_im2col",
               "max_pool_forward_reshape": "max_pool_reshape",
               "max_pool_forward_im2col": "max_pool_im2col"}
    for name in sorted(CS231N):
        if name.endswith("_forward") or name in aliases:
            backward = name.replace("_forward", "_backward")
            yield name, backward, aliases.get(name, name[: -len("_forward")])


@pytest.mark.parametrize("forward, backward, base", list(pairs_by_base_name()),
                         ids=lambda value: value if isinstance(value, str) else "")
def test_cs231n_return_order(forward, backward, base):
    """As many outputs, and gradients in argument order: each has its argument's shape."""
    example = REGISTRY[base].example(np.random.default_rng(0))
    result = getattr(layers, forward)(*example.args, **example.kwargs)
    assert isinstance(result, tuple) and len(result) == CS231N[forward][3]
    upstream = [np.ones(np.shape(out)) for out in result[:-1]]
    grads = getattr(layers, backward)(*upstream, result[-1])
    count = CS231N[backward][3]
    grads = grads if count > 1 else (grads,)
    assert len(grads) == count
    floats = [a for a in example.args if isinstance(a, np.ndarray) and a.dtype.kind == "f"]
    assert [np.shape(g) for g in grads] == [a.shape for a in floats]


@pytest.mark.parametrize("name", ["svm_loss", "softmax_loss"])
def test_fused_losses_return_loss_then_dx(name):
    x = np.random.default_rng(0).standard_normal((4, 3))
    loss, dx = getattr(layers, name)(x, np.array([0, 2, 1, 2]))
    assert np.ndim(loss) == 0 and dx.shape == x.shape


def test_temporal_softmax_loss_returns_loss_then_dx_and_prints_when_verbose(capsys):
    x = np.random.default_rng(0).standard_normal((2, 3, 4))
    y, mask = np.zeros((2, 3), dtype=int), np.ones((2, 3), dtype=bool)
    loss, dx = layers.temporal_softmax_loss(x, y, mask, verbose=True)
    assert np.ndim(loss) == 0 and dx.shape == x.shape
    assert capsys.readouterr().out == "dx_flat:  (6, 4)\n"
    layers.temporal_softmax_loss(x, y, mask)
    assert capsys.readouterr().out == ""


@pytest.mark.parametrize("rule", sorted(OPTIM_DEFAULTS))
def test_update_rules_fill_cs231ns_config_defaults(rule):
    hyperparameters, state = OPTIM_DEFAULTS[rule]
    w = np.linspace(-1, 1, 6).reshape(2, 3)
    next_w, config = getattr(optim, rule)(w, np.ones_like(w))
    assert next_w.shape == w.shape
    assert {key: config[key] for key in hyperparameters} == hyperparameters
    assert set(config) == set(hyperparameters) | set(state)
    if rule == "adam":
        assert config["t"] == 1       # CS231n's t counts the updates done


def test_solver_takes_cs231ns_keywords_with_their_defaults():
    parameters = inspect.signature(Solver).parameters
    assert list(parameters)[:2] == ["model", "data"]
    for name, default in SOLVER_KEYWORDS.items():
        assert name in parameters, f"Solver has no keyword {name}"
        wanted = DIFFERENT_DEFAULTS.get(("Solver", name), default)
        assert parameters[name].default == wanted, name
    assert_signature_extends(Solver.check_accuracy,
                             parse("X, y, num_samples=None, batch_size=100"),
                             "Solver.check_accuracy")
    assert list(inspect.signature(Solver.train).parameters) == ["self"]


@pytest.mark.parametrize("name", sorted(MODELS))
def test_models_take_the_assignments_constructor_arguments(name):
    assert_signature_extends(getattr(models, name), parse(MODELS[name]), name)


def test_fully_connected_net_takes_2019s_dropout_keyword():
    parameter = inspect.signature(models.FullyConnectedNet).parameters["dropout"]
    assert parameter.kind is inspect.Parameter.KEYWORD_ONLY and parameter.default is None
