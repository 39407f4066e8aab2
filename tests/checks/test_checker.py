"""The checker itself: it passes correct pairs, catches wrong ones and says why."""

import subprocess
import sys
import textwrap

import numpy as np
import pytest

from checks import (GradientCheckError, assert_gradients, check_layer,
                    eval_numerical_gradient, eval_numerical_gradient_array,
                    grad_check_sparse, rel_error)
from layers import affine_backward, affine_forward


def scale_forward(x, w):
    return x * w, (x, w)


def scale_backward(dout, cache):
    x, w = cache
    return dout * w, (dout * x).sum(axis=0)


def affine_inputs(rng, dtype=np.float64):
    return (rng.standard_normal((4, 3)).astype(dtype), rng.standard_normal((3, 5)).astype(dtype),
            rng.standard_normal(5).astype(dtype))


def test_correct_pair_passes_with_a_row_per_argument(rng):
    report = check_layer(scale_forward, scale_backward, rng.standard_normal((4, 3)),
                         rng.standard_normal(3))
    assert report.ok
    assert [a.name for a in report.arguments] == ["x", "w"]
    assert report.max_rel_error < 1e-8
    assert "pass" in str(report)


def test_wrong_factor_fails_and_reports_the_worst_element(rng):
    def bad_backward(dout, cache):
        dx, dw = scale_backward(dout, cache)
        return dx, 2 * dw

    report = check_layer(scale_forward, bad_backward, rng.standard_normal((4, 3)),
                         rng.standard_normal(3))
    assert not report.ok
    row = {a.name: a for a in report.arguments}
    assert row["x"].status == "pass" and row["w"].status == "FAIL"
    assert row["w"].analytic == pytest.approx(2 * row["w"].numeric, rel=1e-6)
    assert row["w"].max_rel_error == pytest.approx(1 / 3, rel=1e-6)


def test_one_element_off_by_1e_4_is_caught(rng):
    def bad_backward(dout, cache):
        dx, dw, db = affine_backward(dout, cache)
        dw = dw.copy()
        dw[1, 2] *= 1 + 1e-4
        return dx, dw, db

    report = check_layer(affine_forward, bad_backward, *affine_inputs(rng))
    bad = {a.name: a for a in report.arguments}["w"]
    assert bad.status == "FAIL" and bad.worst_index == (1, 2)


def test_assert_gradients_raises_with_the_table(rng):
    def swapped(dout, cache):
        dx, dw = scale_backward(dout, cache)
        return -dx, dw

    with pytest.raises(GradientCheckError, match=r"(?s)scale.*x .*FAIL"):
        assert_gradients(scale_forward, swapped, rng.standard_normal((2, 3)),
                         rng.standard_normal(3))


def test_float32_is_judged_with_the_float32_tolerance(rng):
    report = check_layer(affine_forward, affine_backward, *affine_inputs(rng, np.float32))
    assert report.ok and report.dtype == "float32"
    assert all(0 <= a.precision_error < 1e-3 for a in report.arguments)


@pytest.mark.parametrize("grads, message", [
    (lambda dx, dw: dx, "returned 1 gradient for 2 differentiable arguments (x, w)"),
    (lambda dx, dw: (dx, dw, dw), "returned 3 gradients for 2"),
    (lambda dx, dw: (dx.T, dw), "returned a gradient of shape (3, 4) for x, of shape (4, 3)"),
    (lambda dx, dw: (dx.astype(np.float32), dw),
     "returned a float32 gradient for x, whose gradient is float64"),
    (lambda dx, dw: (dx.tolist(), dw), "returned list as the gradient of x, not an array"),
])
def test_contract_violations_are_named(rng, grads, message):
    def backward(dout, cache):
        return grads(*scale_backward(dout, cache))

    report = check_layer(scale_forward, backward, rng.standard_normal((4, 3)),
                         rng.standard_normal(3))
    assert not report.ok
    assert any(message in p for p in report.problems), report.problems


def test_one_gradient_must_be_a_bare_array(rng):
    report = check_layer(lambda x: (2 * x, None), lambda dout, cache: (2 * dout,),
                         rng.standard_normal(3))
    assert not report.ok and "contract returns a bare array" in report.problems[0]


def test_integer_arguments_are_reported_without_a_gradient(rng):
    def pick_forward(x, index):
        return x[index], (x.shape, index)

    def pick_backward(dout, cache):
        shape, index = cache
        dx = np.zeros(shape)
        np.add.at(dx, index, dout)
        return dx

    report = check_layer(pick_forward, pick_backward, rng.standard_normal(5),
                         np.array([0, 2, 2]))
    assert report.ok
    index_row = {a.name: a for a in report.arguments}["index"]
    assert index_row.status == "no gradient" and "int64" in index_row.detail


def test_nothing_to_check_is_not_a_pass():
    report = check_layer(lambda y: (y * 1.0, None), lambda dout, cache: None,
                         np.array([1, 2]))
    assert not report.ok and "nothing to check" in report.problems[0]


def test_non_deterministic_forward_is_reported(rng):
    noise = np.random.default_rng()

    def noisy_forward(x):
        return x * noise.random(x.shape), None

    report = check_layer(noisy_forward, lambda dout, cache: dout, rng.standard_normal(3))
    assert not report.ok and "not deterministic" in report.problems[0]


def test_non_finite_output_is_reported():
    report = check_layer(lambda x: (np.where(x > 0, x, np.inf), None),
                         lambda dout, cache: dout, np.array([1.0, -1.0]))
    assert not report.ok and "non-finite" in report.problems[0]


def test_forward_that_raises_is_reported(rng):
    with pytest.raises(GradientCheckError, match="forward raised ValueError: affine_forward"):
        assert_gradients(affine_forward, affine_backward, rng.standard_normal((2, 3)),
                         rng.standard_normal((4, 5)), rng.standard_normal(5))


def test_in_place_modification_is_a_warning_and_the_input_is_untouched(rng):
    def clobber_forward(x):
        out = x * 2
        x[...] = 0
        return out, None

    x = rng.standard_normal(3)
    before = x.copy()
    report = check_layer(clobber_forward, lambda dout, cache: 2 * dout, x)
    assert report.ok and not report.problems
    [warning] = report.warnings
    assert warning.startswith("forward wrote into its input x in place (at ")
    assert "in clobber_forward: x[...] = 0)" in warning
    assert "the previous layer may have cached that array" in warning
    np.testing.assert_array_equal(x, before)


def test_kinks_are_counted_not_failed():
    x = np.array([-1.0, 0.0, 2.0])  # relu at exactly 0 is a kink
    report = check_layer(lambda x: (np.maximum(x, 0), x),
                         lambda dout, x: dout * (x > 0), x)
    assert report.ok and report.arguments[0].kinks == 1


def test_parameter_dicts_are_copied_before_every_call(rng):
    calls = []

    def counting_forward(x, param):
        param["calls"] = param.get("calls", 0) + 1
        calls.append(param["calls"])
        return 3 * x, None

    param = {}
    check_layer(counting_forward, lambda dout, cache: 3 * dout, rng.standard_normal(2), param)
    assert param == {} and set(calls) == {1}


# -- CS231n's helpers --------------------------------------------------------------------

def test_rel_error_matches_cs231n_definition():
    assert rel_error(np.array([1.0, 2.0]), np.array([1.0, 2.2])) == pytest.approx(0.2 / 4.2)
    assert rel_error(0.0, 0.0) == 0.0


def test_eval_numerical_gradient_restores_x_even_when_f_raises():
    x = np.array([1.0, 2.0, 3.0])

    def f(v):
        if v[1] > 2.0:
            raise RuntimeError("boom")
        return float(np.sum(v ** 2))

    with pytest.raises(RuntimeError):
        eval_numerical_gradient(f, x, verbose=False)
    np.testing.assert_array_equal(x, [1.0, 2.0, 3.0])
    grad = eval_numerical_gradient(lambda v: float(np.sum(v ** 2)), x, verbose=False)
    np.testing.assert_allclose(grad, 2 * x, rtol=1e-8)


def test_eval_numerical_gradient_array_on_affine(rng):
    x, w, b = affine_inputs(rng)
    dout = rng.standard_normal((4, 5))
    dx, dw, db = affine_backward(dout, affine_forward(x, w, b)[1])
    dx_num = eval_numerical_gradient_array(lambda v: affine_forward(v, w, b)[0], x, dout)
    dw_num = eval_numerical_gradient_array(lambda v: affine_forward(x, v, b)[0], w, dout)
    assert rel_error(dx, dx_num) < 1e-8 and rel_error(dw, dw_num) < 1e-8


def test_grad_check_sparse_prints_and_returns_errors(rng, capsys):
    x = rng.standard_normal((3, 4))
    errors = grad_check_sparse(lambda v: float(np.sum(v ** 3)), x, 3 * x ** 2,
                               num_checks=5, seed=0)
    assert len(errors) == 5 and max(errors) < 1e-7
    assert capsys.readouterr().out.count("relative error") == 5


# -- the command line --------------------------------------------------------------------

USER_LAYERS = textwrap.dedent('''
    import numpy as np
    from checks import register

    def cube_forward(x):
        return x ** 3, x

    def cube_backward(dout, x):
        return 3 * x ** 2 * dout

    def square_forward(x):
        return x ** 2, x

    def square_backward(dout, x):
        return {good} * x * dout

    @register(cube_forward, cube_backward)
    def cube_example(rng, dtype):
        return (rng.standard_normal((2, 3)).astype(dtype),)

    @register(square_forward, square_backward)
    def square_example(rng, dtype):
        return (rng.standard_normal(4).astype(dtype),)

    def orphan_forward(x):
        return x, None

    def orphan_backward(dout, cache):
        return dout
''')


def run_cli(*args, cwd=None):
    return subprocess.run([sys.executable, "-m", "checks", *args], capture_output=True,
                          text=True, cwd=cwd)


def test_cli_checks_a_users_file_and_flags_unregistered_pairs(tmp_path):
    path = tmp_path / "my_layers.py"
    path.write_text(USER_LAYERS.format(good=2))
    result = run_cli(str(path))
    assert "cube" in result.stdout and "square" in result.stdout
    assert "NOT CHECKED: my_layers.orphan_forward" in result.stdout
    assert "2 passed, 0 failed, 1 not registered" in result.stdout
    assert result.returncode == 1


def test_cli_fails_on_a_wrong_gradient(tmp_path):
    path = tmp_path / "buggy_layers.py"
    path.write_text(USER_LAYERS.format(good=3).replace(
        "def orphan_forward", "def _orphan").replace("def orphan_backward", "def _orphan_b"))
    result = run_cli(str(path))
    assert result.returncode == 1
    assert "1 passed, 1 failed" in result.stdout
    assert any("square" in line and "FAIL" in line for line in result.stdout.splitlines())


def test_cli_checks_the_library():
    result = run_cli("--only", "affine", "--dtype", "both")
    assert result.returncode == 0, result.stdout + result.stderr
    assert "2 passed, 0 failed" in result.stdout


# -- strategies, hints, kinks, precision, plots, Jacobians ------------------------------

def big_affine(rng):
    return (rng.standard_normal((32, 40)), rng.standard_normal((40, 30)) / 6,
            rng.standard_normal(30))


def test_large_arguments_use_random_directions_and_pass(rng):
    report = check_layer(affine_forward, affine_backward, *big_affine(rng))
    assert report.ok, str(report)
    strategies = {a.name: a.strategy for a in report.arguments}
    assert strategies == {"x": "directional (k=4)", "w": "directional (k=4)",
                          "b": "elementwise"}
    assert report.evaluations < 100


def test_directional_failure_is_located_by_bisection(rng):
    def one_wrong(dout, cache):
        dx, dw, db = affine_backward(dout, cache)
        dw = dw.copy()
        dw[17, 5] += 0.5
        return dx, dw, db

    report = check_layer(affine_forward, one_wrong, *big_affine(rng))
    w_row = {a.name: a for a in report.arguments}["w"]
    assert w_row.status == "FAIL" and w_row.worst_index == (17, 5)
    assert w_row.analytic == pytest.approx(w_row.numeric + 0.5, rel=1e-6)


def test_directional_factor_is_named(rng):
    def doubled(dout, cache):
        dx, dw, db = affine_backward(dout, cache)
        return 2 * dx, dw, db

    report = check_layer(affine_forward, doubled, *big_affine(rng))
    assert {a.name: a.hint for a in report.arguments}["x"] == "analytic = 2 x numeric"


@pytest.mark.parametrize("bug, expected", [
    (lambda dx, dw, db: (dx, -dw, db), "wrong sign: analytic = -1 x numeric"),
    (lambda dx, dw, db: (dx, dw.T, db), "transposed: analytic.T matches numeric"),
    (lambda dx, dw, db: (dx, dw, 0 * db), "the analytic gradient is all zero"),
])
def test_elementwise_hints(rng, bug, expected):
    x, w, b = rng.standard_normal((4, 3)), rng.standard_normal((3, 3)), rng.standard_normal(3)
    report = check_layer(affine_forward, lambda d, c: bug(*affine_backward(d, c)), x, w, b)
    assert expected in [a.hint for a in report.arguments]


def test_hint_for_a_dropped_batch_term(rng):
    def center_forward(x):
        return x - x.mean(axis=0), x.shape[0]

    report = check_layer(center_forward, lambda dout, n: dout, rng.standard_normal((5, 3)))
    assert "same for every example along axis 0" in report.arguments[0].hint


def test_hint_for_a_mask_not_applied():
    x = np.array([[-1.0, 2.0], [0.5, -0.3]])
    report = check_layer(lambda x: (np.maximum(x, 0), x), lambda dout, x: dout, x)
    assert "mask or a routing" in report.arguments[0].hint


def test_nudge_kinks_moves_inputs_off_the_kink():
    x = np.array([-1.0, 0.0, 2.0, 0.0])
    relu = (lambda x: (np.maximum(x, 0), x), lambda dout, x: dout * (x > 0))
    assert check_layer(*relu, x).arguments[0].kinks == 2
    report = check_layer(*relu, x, nudge_kinks=True)
    assert report.ok and report.arguments[0].kinks == 0
    assert "2 elements at kinks were moved 20 or more steps" in report.notes[0]
    np.testing.assert_array_equal(x, [-1.0, 0.0, 2.0, 0.0])


def test_float32_precision_problem_is_caught_but_float64_passes(rng):
    def log1p_forward(x):
        return np.log1p(x), x

    def sloppy_backward(dout, x):
        big = x.dtype.type(1e5)
        return dout / ((1 + x + big) - big)   # loses float32 digits, not float64's

    x = rng.uniform(0.1, 1.0, size=(3, 4))
    assert check_layer(log1p_forward, sloppy_backward, x).ok
    report = check_layer(log1p_forward, sloppy_backward, x.astype(np.float32))
    assert not report.ok and "precision problem" in report.arguments[0].hint
    assert report.arguments[0].max_rel_error < 1e-6   # the float64 run of it is right


def test_plot_draws_one_heatmap_per_argument(rng):
    report = check_layer(affine_forward, affine_backward, *affine_inputs(rng))
    figure = report.plot()
    titles = [ax.get_title() for ax in figure.axes if ax.get_title()]
    assert titles == [t for t in titles if t.split(":")[0] in "xwb"] and len(titles) == 3


def test_strategy_is_validated(rng):
    with pytest.raises(ValueError, match="check_layer: strategy must be"):
        check_layer(affine_forward, affine_backward, *affine_inputs(rng), strategy="fast")


def test_numeric_and_analytic_jacobians_agree_and_have_jacobian_form(rng):
    from checks import analytic_jacobian, jacobian

    x, w, b = affine_inputs(rng)
    numeric = jacobian(lambda v: affine_forward(v, w, b)[0], x[:1])
    assert numeric.shape == (5, 3)
    np.testing.assert_allclose(numeric, w.T, rtol=1e-8)   # d(xW + b)/dx = W^T per row
    full = analytic_jacobian(affine_forward, affine_backward, x, w, b, wrt=2)
    np.testing.assert_allclose(full, np.tile(np.eye(5), (4, 1)), atol=0)


def test_analytic_jacobian_rejects_a_non_float_argument(rng):
    from checks import analytic_jacobian

    with pytest.raises(ValueError, match="wrt=3 is not a floating-point array argument"):
        analytic_jacobian(affine_forward, affine_backward, *affine_inputs(rng), wrt=3)


def test_not_implemented_propagates_for_unfinished_exercises(rng):
    def todo_backward(dout, cache):
        raise NotImplementedError("compute dx")

    with pytest.raises(NotImplementedError, match="compute dx"):
        check_layer(scale_forward, todo_backward, rng.standard_normal((2, 3)),
                    rng.standard_normal(3))


def test_nudge_kinks_breaks_ties_of_a_max():
    from layers import max_pool_backward, max_pool_forward

    x = np.ones((1, 1, 4, 4))            # every 2x2 window is a four-way tie
    param = {"pool_height": 2, "pool_width": 2, "stride": 2}
    assert check_layer(max_pool_forward, max_pool_backward, x, param).arguments[0].kinks
    report = check_layer(max_pool_forward, max_pool_backward, x, param, nudge_kinks=True)
    assert report.ok and report.arguments[0].kinks == 0, str(report)


def test_output_dtype_must_follow_the_input():
    report = check_layer(lambda x: (x.astype(np.float64) * 2, None),
                         lambda dout, cache: (2 * dout).astype(np.float32),
                         np.ones(3, np.float32))
    assert not report.ok
    assert "output is float64 for float32 inputs" in report.problems[0]


def test_rel_error_refuses_different_shapes():
    with pytest.raises(ValueError, match=r"rel_error: x and y must have the same shape; "
                                         r"got x.shape = \(3, 1\) and y.shape = \(3,\)"):
        rel_error(np.ones((3, 1)), np.ones(3))


def failing_after_first_call():
    calls = []

    def f(v):
        calls.append(1)
        if len(calls) > 1:
            raise RuntimeError("boom")
        return v * 2

    return f


def test_eval_numerical_gradient_array_restores_x_when_f_raises():
    x = np.array([1.0, 2.0])
    with pytest.raises(RuntimeError):
        eval_numerical_gradient_array(failing_after_first_call(), x, np.ones(2))
    np.testing.assert_array_equal(x, [1.0, 2.0])


def test_grad_check_sparse_restores_x_when_f_raises():
    x = np.array([1.0, 2.0])
    f = failing_after_first_call()
    with pytest.raises(RuntimeError):
        grad_check_sparse(lambda v: float(np.sum(f(v))), x, np.ones(2), num_checks=2, seed=0)
    np.testing.assert_array_equal(x, [1.0, 2.0])


def test_cli_refuses_zero_seeds():
    result = run_cli("--seeds", "0")
    assert result.returncode == 2 and "--seeds must be at least 1; got 0" in result.stderr


def test_global_numpy_randomness_is_fixed_for_every_evaluation(rng):
    # A hand-written dropout on NumPy's global RNG, checked as Caffe does: same mask each call.
    def global_dropout_forward(x):
        mask = (np.random.rand(*x.shape) < 0.5) / 0.5
        return x * mask, mask

    np.random.seed(3)
    before = np.random.get_state()[1].copy()
    report = check_layer(global_dropout_forward, lambda dout, mask: dout * mask,
                         rng.standard_normal((3, 4)))
    assert report.ok, str(report)
    np.testing.assert_array_equal(np.random.get_state()[1], before)   # caller's state kept


def test_checker_options_are_validated(rng):
    args = affine_inputs(rng)
    with pytest.raises(ValueError, match=r"check_layer: tol must be a number in \(0, 1\); "
                                         r"got 'a'"):
        check_layer(affine_forward, affine_backward, *args, tol="a")
    with pytest.raises(ValueError, match="check_layer: tol must be a number in"):
        check_layer(affine_forward, affine_backward, *args, tol=-1)
    with pytest.raises(ValueError, match="check_layer: directions must be an integer >= 1; "
                                         "got 0"):
        check_layer(affine_forward, affine_backward, *args, directions=0)


def test_float16_arguments_are_labelled_as_not_checked(rng):
    report = check_layer(scale_forward, lambda dout, cache: dout * cache[1],
                         rng.standard_normal((2, 3)), np.ones(3, np.float16))
    row = {a.name: a for a in report.arguments}["w"]
    assert row.status == "no gradient" and "contract covers float32 and float64" in row.detail


def test_analytic_jacobian_leaves_parameter_dicts_alone_and_checks_output(rng):
    from checks import analytic_jacobian
    from layers import batchnorm_backward, batchnorm_forward

    x = rng.standard_normal((4, 3))
    bn_param = {"mode": "train"}
    analytic_jacobian(batchnorm_forward, batchnorm_backward, x, np.ones(3), np.zeros(3),
                      bn_param)
    assert bn_param == {"mode": "train"}
    with pytest.raises(ValueError, match="analytic_jacobian: output=3 is out of range; the "
                                         "forward returns 1 output"):
        analytic_jacobian(affine_forward, affine_backward, *affine_inputs(rng), output=3)


def zero_largest(g):
    g = g.copy()
    g.flat[np.argmax(np.abs(g))] = 0
    return g


@pytest.mark.parametrize("bug", [
    lambda dx, dw, db: (2 * dx, dw, db),                       # factor 2
    lambda dx, dw, db: (dx, -dw, db),                          # wrong sign
    lambda dx, dw, db: (zero_largest(dx), dw, db),             # one element zeroed
    lambda dx, dw, db: (dx, dw * (1 + 1e-4), db),              # 1e-4 relative everywhere
    lambda dx, dw, db: (dx, np.roll(dw, 1, axis=0), db),       # off by one row
], ids=["factor", "sign", "zeroed", "1e-4", "shifted"])
@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_directional_strategy_catches_planted_bugs_in_large_arguments(bug, dtype):
    rng = np.random.default_rng(5)
    x, w, b = (a.astype(dtype) for a in big_affine(rng))
    report = check_layer(affine_forward, lambda d, c: bug(*affine_backward(d, c)), x, w, b,
                         strategy="directional")
    assert not report.ok, str(report)
    assert all(a.strategy == "directional (k=4)" for a in report.arguments)


@pytest.mark.parametrize("seed", range(6))
def test_ties_in_overlapping_pool_windows_are_kinks_not_failures(seed):
    # Regression: an element tied in one window and winning an overlapping one has a
    # small jump on a large slope; the step test must still call it a kink.
    from layers import max_pool_backward, max_pool_forward

    x = np.random.default_rng(seed).integers(0, 3, size=(2, 2, 5, 5)).astype(float)
    param = {"pool_height": 2, "pool_width": 2, "stride": 1}
    report = check_layer(max_pool_forward, max_pool_backward, x, param, seed=seed)
    assert report.ok and report.arguments[0].kinks > 0, str(report)


@pytest.mark.parametrize("seed", range(3))
def test_kinks_crossed_along_a_random_direction_of_a_large_argument_are_no_failure(seed):
    # Half a million elements: a random direction's step moves every one of them, and a
    # few cross ReLU's kink at 0; their error shrinks with the step, a wrong gradient's
    # does not.
    def relu_forward(x):
        return np.maximum(x, 0), x

    def relu_backward(dout, x):
        return dout * (x > 0)

    def one_wrong(dout, x):
        dx = relu_backward(dout, x)
        dx[11] *= 3.0
        return dx

    x = np.random.default_rng(seed).standard_normal(500_000)
    x[11] = 2.0
    before = x.copy()
    report = check_layer(relu_forward, relu_backward, x)
    assert report.ok, str(report)
    assert report.arguments[0].strategy == "directional (k=4)"
    wrong = check_layer(relu_forward, one_wrong, x)
    assert not wrong.ok and wrong.arguments[0].worst_index == (11,)
    np.testing.assert_array_equal(x, before)
