"""Every error of ComputationalGraph names the gate (or input) and what is wrong."""

import re

import numpy as np
import pytest

from graph import ComputationalGraph, Sequential


def add_graph():
    g = ComputationalGraph()
    x, y = g.input("x"), g.input("y")
    g.gate("add", x, y, name="q")
    return g


# -- structure ------------------------------------------------------------------------------------

def test_a_cycle_names_its_gates():
    g = ComputationalGraph()
    x, z = g.input("x"), g.input("z")
    g.gate("add", x, "f", name="q")
    g.gate("multiply", "q", z, name="f")
    with pytest.raises(ValueError, match=re.escape(
            "the gates form a cycle: 'f' (multiply) -> 'q' (add) -> 'f' (multiply)")):
        g.forward(x=1.0, z=2.0)


def test_a_gate_fed_by_its_own_output():
    g = ComputationalGraph()
    g.gate("add", g.input("x"), "loop", name="loop")
    with pytest.raises(ValueError, match=re.escape("cycle: 'loop' (add) -> 'loop' (add)")):
        g.forward(x=1.0)


def test_a_node_of_another_graph():
    g, other = ComputationalGraph(), ComputationalGraph("other")
    x = g.input("x")
    y = other.input("y")
    with pytest.raises(ValueError, match=re.escape(
            "gate 'q' (add): argument 1 is node 'y' of another ComputationalGraph ('other')")):
        g.gate("add", x, y, name="q")
    with pytest.raises(ValueError, match="gate 'add1' \\(add\\): argument 1 is node 'y'"):
        x + y


def test_a_name_that_is_no_node():
    g = ComputationalGraph()
    g.gate("add", g.input("x"), "qq", name="f")
    with pytest.raises(ValueError, match=re.escape(
            "gate 'f' (add): argument 1: 'qq' is not a node of this graph (nodes: 'x', 'f')")):
        g.forward(x=1.0)


def test_names_must_be_unique():
    g = add_graph()
    with pytest.raises(ValueError, match="input 'q': the name 'q' is already used by gate 'q'"):
        g.input("q")
    with pytest.raises(ValueError, match="gate 'x' \\(exp\\): the name 'x' is already used by "
                                         "input 'x'"):
        g.gate("exp", g.node("x"), name="x")
    with pytest.raises(ValueError, match="input: name must be a Python identifier"):
        g.input("not a name")


def test_unknown_layers():
    g = add_graph()
    with pytest.raises(ValueError, match="gate: unknown layer 'rellu'; did you mean 'relu'"):
        g.gate("rellu", g.node("q"))
    with pytest.raises(TypeError, match="gate: layer must be a registered layer name or a "
                                        "\\(forward, backward\\) pair"):
        g.gate(42, g.node("q"))


def test_the_output_must_be_clear():
    with pytest.raises(ValueError, match="no gates yet"):
        ComputationalGraph().forward()

    def pair_forward(x):
        return x, -x, None

    def pair_backward(da, db, cache):
        return da - db

    g = ComputationalGraph()
    g.gate((pair_forward, pair_backward), g.input("x"), name="s")
    with pytest.raises(ValueError, match=re.escape(
            "the last gate 's' (pair) has 2 outputs; say which one is the output with "
            "g.output(node)")):
        g.forward(x=1.0)
    with pytest.raises(ValueError, match=re.escape(
            "output: 's' is a gate with 2 outputs; name one of them: 's:0', 's:1'")):
        g.output("s")
    g.output("s:1")
    assert g.forward(x=1.0) == -1.0


# -- feeds --------------------------------------------------------------------------------------

def test_missing_extra_and_mistyped_feeds():
    g = add_graph()
    with pytest.raises(ValueError, match="forward: missing feed for input 'y'; the inputs are "
                                         "'x', 'y'"):
        g.forward(x=1.0)
    with pytest.raises(ValueError, match="forward: no input named 'w'; the inputs are 'x', 'y'"):
        g.forward(x=1.0, y=2.0, w=3.0)
    with pytest.raises(TypeError, match="forward: input 'x' must be a NumPy array or a Python "
                                        "number; got list"):
        g.forward(x=[1.0], y=2.0)


def test_a_param_fed_as_an_input():
    g = ComputationalGraph()
    g.input("x") * g.param("w", 2.0)
    with pytest.raises(ValueError, match=re.escape(
            "no input named 'w' (a param: set g.params['w'])")):
        g.forward(x=1.0, w=3.0)


def test_feeds_of_the_wrong_shape():
    g = ComputationalGraph()
    x, t = g.input("x", shape="N 3"), g.input("t", shape="N")
    g.gate("mse_loss", g.gate("sum", x, axis=1), t)
    with pytest.raises(ValueError, match=re.escape(
            "forward: x must have shape (N, 3); got x.shape = (2, 4)")):
        g.forward(x=np.ones((2, 4)), t=np.ones(2))
    with pytest.raises(ValueError, match=re.escape(
            "forward: t must have shape (N,) with N=2 from x; got t.shape = (5,)")):
        g.forward(x=np.ones((2, 3)), t=np.ones(5))


def test_params_must_keep_their_shape_and_type():
    g = ComputationalGraph()
    g.input("x") * g.param("w", np.ones(3))
    g.params["w"] = np.ones(4)
    with pytest.raises(ValueError, match=re.escape(
            "forward: param 'w' has shape (4,), but it was created with shape (3,)")):
        g.forward(x=np.ones(3))
    with pytest.raises(TypeError, match="param 'v': value must be a floating-point array"):
        g.param("v", np.arange(3))


# -- order of calls -----------------------------------------------------------------------------

def test_backward_before_forward():
    g = add_graph()
    with pytest.raises(RuntimeError, match=re.escape(
            "backward: no forward pass yet; call forward(**feeds) first")):
        g.backward()
    with pytest.raises(RuntimeError, match="value: no forward pass yet"):
        g.value("q")
    g.forward(x=1.0, y=2.0)
    with pytest.raises(RuntimeError, match="grad: no backward pass since the last forward"):
        g.grad("q")
    g.node("q").exp()
    with pytest.raises(RuntimeError, match="backward: the graph changed since the last forward "
                                           "pass"):
        g.backward()


def test_dout_must_fit_the_output():
    g = add_graph()
    g.forward(x=np.ones(3), y=np.ones(3))
    with pytest.raises(ValueError, match=re.escape(
            "backward: dout must have the shape of the output 'q', (3,); got dout.shape = (2,)")):
        g.backward(np.ones(2))


def test_a_non_float_output_cannot_be_differentiated():
    g = ComputationalGraph()
    g.output(g.input("labels"))
    g.forward(labels=np.arange(3))
    with pytest.raises(ValueError, match="the output 'labels' is not floating-point"):
        g.backward()


# -- a user's pair that breaks the contract -------------------------------------------------

def relu_forward(x):
    return np.maximum(x, 0), x


def relu_backward(dout, cache):
    return dout * (cache > 0), dout                # one gradient too many


def test_backward_returning_too_many_gradients():
    g = ComputationalGraph()
    g.gate((relu_forward, relu_backward), g.input("x"), name="h1")
    g.forward(x=np.ones(3))
    with pytest.raises(ValueError, match=re.escape(
            "gate 'h1' (relu): backward returned a tuple of 2 for one differentiable argument "
            "(argument 0 (node 'x', float64 array of shape (3,))); the contract returns a "
            "bare array")):
        g.backward()


def test_backward_returning_too_few_gradients():
    def scale_forward(x, w):
        return x * w, (x, w)

    def scale_backward(dout, cache):
        return dout * cache[1]

    g = ComputationalGraph()
    g.gate((scale_forward, scale_backward), g.input("x"), g.input("w"), name="s")
    g.forward(x=np.ones(3), w=np.ones(3))
    with pytest.raises(ValueError, match=re.escape(
            "gate 's' (scale): backward returned 1 gradient for 2 differentiable arguments")):
        g.backward()


def test_backward_returning_a_gradient_of_the_wrong_shape():
    def total_forward(x):
        return x.sum(), x.shape

    def total_backward(dout, shape):
        return np.full(shape[:-1], dout)           # forgot the last axis

    g = ComputationalGraph()
    g.gate((total_forward, total_backward), g.input("x"), name="total")
    g.forward(x=np.ones((2, 3)))
    with pytest.raises(ValueError, match=re.escape(
            "gate 'total' (total): backward returned a gradient of shape (2,) for argument 0 "
            "(node 'x', float64 array of shape (2, 3)), of shape (2, 3)")):
        g.backward()


def test_forward_returning_no_cache():
    def bare_forward(x):
        return 2 * x

    def bare_backward(dout, cache):
        return 2 * dout

    g = ComputationalGraph()
    g.gate((bare_forward, bare_backward), g.input("x"), name="b")
    with pytest.raises(ValueError, match=re.escape(
            "gate 'b' (bare): forward must return (out, cache) (its backward takes 1 upstream "
            "gradient); got float64 array of shape (2,)")):
        g.forward(x=np.ones(2))


def notes(exc):
    return "\n".join(getattr(exc, "__notes__", []))


def test_a_failing_forward_is_reraised_with_the_gate_and_its_inputs():
    net = Sequential(("affine", {"W1": np.ones((4, 5)), "b1": np.zeros(5)}))
    with pytest.raises(ValueError, match=re.escape(
            "affine_forward: w must have shape (D, M) with D=3 from x (N, d_1, ..., d_k)")
            ) as raised:
        net.forward(x=np.ones((2, 3)))
    assert notes(raised.value) == (
        "gate 'affine1' (affine): raised in its forward\n  arguments: "
        "0: node 'x', float64 array of shape (2, 3); 1: node 'W1', float64 array of shape "
        "(4, 5); 2: node 'b1', float64 array of shape (5,)")


def test_a_failing_backward_is_reraised_with_the_gate():
    def fragile_forward(x):
        return x, None

    def fragile_backward(dout, cache):
        raise ArithmeticError("no can do")

    g = ComputationalGraph()
    g.gate((fragile_forward, fragile_backward), g.input("x"), name="fr")
    g.forward(x=1.0)
    with pytest.raises(ArithmeticError, match="^no can do") as raised:
        g.backward()
    assert notes(raised.value).startswith("gate 'fr' (fragile): raised in its backward\n")


def test_a_failure_inside_a_gate_keeps_its_type_message_and_attributes():
    def lookup_forward(x, table):
        return table["missing"] * x, None

    def lookup_backward(dout, cache):
        return dout

    g = ComputationalGraph()
    g.gate((lookup_forward, lookup_backward), g.input("x"), {"present": 1.0}, name="lk")
    with pytest.raises(KeyError) as raised:
        g.forward(x=1.0)
    assert raised.value.args == ("missing",)       # not a mangled message
    assert str(raised.value) == "'missing'"
    assert notes(raised.value) == ("gate 'lk' (lookup): raised in its forward\n  arguments: "
                                   "0: node 'x', float64 array of shape (); 1: constant, dict")


def test_draw_refuses_huge_graphs():
    g = ComputationalGraph()
    node = g.input("x")
    for _ in range(5):
        node = node.exp()
    with pytest.raises(ValueError, match=re.escape(
            "draw: the graph has 6 inputs, params and gates; pictures are legible up to "
            "max_nodes=4")):
        g.draw(max_nodes=4)


# -- regressions: malformed backward results, bad names and options, each named -------------

def one_gradient_graph(backward_result):
    def relu_forward(x):
        return np.maximum(x, 0), x

    def relu_backward(dout, cache):
        return backward_result(dout)

    g = ComputationalGraph()
    g.gate((relu_forward, relu_backward), g.input("x"), name="h1")
    return g


def test_backward_returning_none_names_the_gate():
    g = one_gradient_graph(lambda dout: None)
    g.forward(x=np.ones(3))
    with pytest.raises(TypeError, match=re.escape(
            "gate 'h1' (relu): backward returned NoneType as the gradient of argument 0 (node "
            "'x', float64 array of shape (3,)), not an array")):
        g.backward()


def test_backward_returning_a_gradient_of_the_wrong_dtype_names_the_gate():
    g = one_gradient_graph(lambda dout: dout.astype(np.float64))
    g.forward(x=np.ones(3, np.float32))
    with pytest.raises(TypeError, match=re.escape(
            "gate 'h1' (relu): backward returned a float64 gradient for argument 0 (node 'x', "
            "float32 array of shape (3,)), whose gradient is float32 (a gradient has its "
            "argument's dtype)")):
        g.backward()


def test_an_unknown_key_in_params_is_named():
    g = ComputationalGraph()
    g.gate("multiply", g.input("x"), g.param("w", np.ones(3)))
    g.params["extra"] = np.ones(3)
    message = ("g.params has 'extra', which is not a param of the graph (its params are 'w'); "
               "add a param with g.param(name, value)")
    with pytest.raises(ValueError, match=re.escape("forward: " + message)):
        g.forward(x=np.ones(3))
    with pytest.raises(ValueError, match=re.escape("as_layer: " + message)):
        g.as_layer()
    with pytest.raises(ValueError, match=re.escape("layer_args: " + message)):
        g.layer_args(x=np.ones(3))


def test_check_graph_refuses_what_is_not_a_graph():
    from checks import check_graph

    with pytest.raises(TypeError, match=re.escape(
            "check_graph: graph must be a ComputationalGraph (its first argument); got int")):
        check_graph(42, x=np.ones(3))


@pytest.mark.parametrize("name", [3, "", "a b"])
def test_param_names_are_identifiers(name):
    with pytest.raises(ValueError, match=re.escape(
            f"param: name must be a Python identifier (it is a key of g.params and of "
            f"backward's dict); got {name!r}")):
        ComputationalGraph().param(name, 1.0)


def test_an_empty_gate_name_is_a_value_error():
    g = ComputationalGraph()
    with pytest.raises(ValueError, match="gate \\(exp\\): name must be a non-empty string; "
                                         "got ''"):
        g.gate("exp", g.input("x"), name="")
    with pytest.raises(TypeError, match="gate \\(exp\\): name must be a string; got int"):
        g.gate("exp", "x", name=3)


def test_sequential_names_the_position_of_a_bad_layer():
    w, b = np.ones((3, 2)), np.zeros(2)
    with pytest.raises(TypeError, match=re.escape(
            "Sequential: layer 0 must be a layer (a registered name or a (forward, backward) "
            "pair) or (layer, params[, options]); got int")):
        Sequential(42)
    with pytest.raises(TypeError, match=re.escape(
            "Sequential: layer 1's params must be a dict of name -> initial array "
            "({'W1': w1, 'b1': b1}); got list")):
        Sequential("relu", ("affine", [w, b]))


def test_an_unknown_option_is_refused_when_the_gate_is_declared():
    g = ComputationalGraph()
    with pytest.raises(TypeError, match=re.escape(
            "gate 's' (sum): sum_forward(x, *, axis=None, keepdims=False) cannot be called with "
            "these arguments: got an unexpected keyword argument 'axs'")):
        g.gate("sum", g.input("x"), axs=0, name="s")
    with pytest.raises(TypeError, match="gate 'r' \\(relu\\): relu_forward\\(x\\) cannot be "
                                        "called with these arguments: too many positional"):
        g.gate("relu", "x", "x", name="r")


def test_a_positional_string_that_is_no_node_suggests_a_keyword_option():
    g = ComputationalGraph()
    g.gate("relu", g.input("x"))
    g.gate("add", "relu1", "train", name="a")
    with pytest.raises(ValueError, match=re.escape(
            "gate 'a' (add): argument 1: 'train' is not a node of this graph (nodes: 'x', "
            "'relu1', 'a'); a positional string names a node: pass strings as keyword options "
            "(option='train')")):
        g.forward(x=1.0)
