"""CheckOptions: the options of the four entry points, validated once, naming the caller."""

import dataclasses
import inspect

import numpy as np
import pytest

from checks import CheckOptions, check_graph, check_layer, check_model, check_torch
from graph import ComputationalGraph
from layers import affine_backward, affine_forward
from training.models import TwoLayerNet

ENTRY_POINTS = {"check_layer": check_layer, "check_graph": check_graph,
                "check_model": check_model}


def test_the_defaults_and_the_keywords():
    options = CheckOptions()
    assert (options.tol, options.seed, options.strategy, options.directions,
            options.nudge_kinks, options.raise_on_fail, options.name) == \
        (None, 0, "auto", 4, False, False, None)
    assert CheckOptions.keywords() == ("tol", "seed", "strategy", "directions",
                                       "nudge_kinks", "raise_on_fail", "name")


def test_it_is_frozen_and_the_caller_is_not_part_of_its_value():
    options = CheckOptions(tol=1e-5, caller="check_layer")
    with pytest.raises(dataclasses.FrozenInstanceError):
        options.tol = 1e-3
    assert options == CheckOptions(tol=1e-5, caller="check_graph")
    assert "caller" not in repr(options)


@pytest.mark.parametrize("name", sorted(ENTRY_POINTS))
def test_each_entry_point_takes_the_options_with_their_defaults(name):
    parameters = inspect.signature(ENTRY_POINTS[name]).parameters
    defaults = {field.name: field.default for field in dataclasses.fields(CheckOptions)}
    taken = [key for key in CheckOptions.keywords() if key in parameters]
    assert {"tol", "seed", "strategy", "directions", "raise_on_fail"} <= set(taken)
    for key in taken:
        assert parameters[key].default == defaults[key], key
        assert parameters[key].kind == inspect.Parameter.KEYWORD_ONLY


@pytest.mark.parametrize("options, message", [
    (dict(strategy="random"),
     "strategy must be 'auto', 'elementwise' or 'directional'; got 'random'"),
    (dict(tol=1.5), "tol must be a number in (0, 1); got 1.5"),
    (dict(tol="1e-6"), "tol must be a number in (0, 1); got '1e-6'"),
    (dict(directions=0), "directions must be an integer >= 1; got 0"),
    (dict(directions=2.0), "directions must be an integer >= 1; got 2.0"),
])
def test_a_value_out_of_range_is_refused_naming_the_caller(options, message):
    with pytest.raises(ValueError) as info:
        CheckOptions(**options)
    assert str(info.value) == f"CheckOptions: {message}"
    with pytest.raises(ValueError) as info:
        CheckOptions(**options, caller="check_model")
    assert str(info.value) == f"check_model: {message}"


def test_every_entry_point_names_itself_in_the_refusal(rng):
    x, w, b = rng.standard_normal((2, 3)), rng.standard_normal((3, 4)), rng.standard_normal(4)
    with pytest.raises(ValueError, match=r"^check_layer: tol must be"):
        check_layer(affine_forward, affine_backward, x, w, b, tol=2.0)
    g = ComputationalGraph()
    g.gate("multiply", g.input("x"), g.input("y"))
    with pytest.raises(ValueError, match=r"^check_graph: directions must be"):
        check_graph(g, x=1.0, y=2.0, directions=-1)
    model = TwoLayerNet(input_dim=4, hidden_dim=5, num_classes=3, weight_seed=0)
    with pytest.raises(ValueError, match=r"^check_model: strategy must be"):
        check_model(model, rng.standard_normal((2, 4)), np.array([0, 2]), strategy="all")


def test_check_torch_builds_the_options_from_its_keywords():
    torch = pytest.importorskip("torch")
    x = torch.randn(3, dtype=torch.float64, requires_grad=True)
    with pytest.raises(ValueError, match=r"^check_torch: tol must be a number in \(0, 1\)"):
        check_torch(torch.tanh, x, tol=2.0)
    with pytest.raises(TypeError) as info:
        check_torch(torch.tanh, x, caller="check_layer")
    assert str(info.value) == ("check_torch: unknown option 'caller'; the options are tol, "
                               "seed, strategy, directions, nudge_kinks, raise_on_fail, name")
    report = check_torch(torch.tanh, x, seed=3, strategy="directional", directions=2,
                         name="my tanh")
    assert report.ok
    assert report.layer == "my tanh"
