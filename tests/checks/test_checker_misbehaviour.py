"""How a backward misbehaves, and what the checker says about it: writing into dout,
writing into or consuming its cache, not being linear in dout, one wrong element among many, an
exception in a user's backward; and checks running in several threads at once."""

import subprocess
import sys
import textwrap
import threading
import tracemalloc

import numpy as np
import pytest

from checks import check_layer
from layers import lstm_step_backward, lstm_step_forward


def double_forward(x):
    return 2 * x, None


def double_backward(dout, cache):
    dout *= 2                      # right values, written into the upstream gradient
    return dout


def test_a_backward_that_writes_into_dout_passes_with_a_warning(rng):
    x = rng.standard_normal((3, 4))
    before = x.copy()
    report = check_layer(double_forward, double_backward, x)
    assert report.ok, str(report)
    assert report.max_rel_error < 1e-8
    [warning] = report.warnings
    assert warning.startswith(
        f"backward wrote into its upstream gradient dout in place (at {__file__}:23, in "
        "double_backward: dout *= 2")
    assert warning.endswith(
        "; its gradients were judged as returned, so this does not fail the check, but it "
        "breaks wherever the same array is used again (make a new array: 2 * dout, not "
        "dout *= 2)")
    assert "  warning: backward wrote into its upstream gradient dout in place" in str(report)
    np.testing.assert_array_equal(x, before)


def test_an_lstm_step_that_adds_into_dnext_c_passes_with_a_warning_naming_it(rng):
    # CS231n-style: dnext_c += ... accumulates into the second upstream gradient.
    def lstm_step_backward_accumulating(dnext_h, dnext_c, cache):
        dx, dprev_h, dprev_c, dWx, dWh, db = lstm_step_backward(dnext_h, dnext_c.copy(),
                                                                 cache)
        dnext_c += 1.0
        return dx, dprev_h, dprev_c, dWx, dWh, db

    n, d, h = 3, 4, 5
    args = (rng.standard_normal((n, d)), rng.standard_normal((n, h)),
            rng.standard_normal((n, h)), rng.standard_normal((d, 4 * h)) / 2,
            rng.standard_normal((h, 4 * h)) / 2, rng.standard_normal(4 * h))
    report = check_layer(lstm_step_forward, lstm_step_backward_accumulating, *args)
    assert report.ok, str(report)
    assert len(report.warnings) == 1 and "gradient dnext_c in place" in report.warnings[0]


def test_correct_layers_raise_no_warning(rng):
    report = check_layer(lambda x: (np.tanh(x), x), lambda dout, x: dout / np.cosh(x) ** 2,
                         rng.standard_normal(5))
    assert report.ok and report.warnings == []


def sigmoid_forward(x):
    out = 1 / (1 + np.exp(-x))
    return out, [out]


def test_a_backward_that_writes_into_its_cache_passes_with_a_warning(rng):
    def sigmoid_backward(dout, cache):
        out = cache[0]
        dx = dout * out * (1 - out)
        cache[0] = out * 0.5          # "frees" or reuses its cache: a second call differs
        return dx

    x = rng.standard_normal((3, 4))
    before = x.copy()
    report = check_layer(sigmoid_forward, sigmoid_backward, x)
    assert report.ok and not report.problems, str(report)
    [warning] = report.warnings
    assert warning.startswith("backward modified its cache at cache[0] (at ")
    assert "in sigmoid_backward: cache[0] = out * 0.5" in warning
    assert "every backward call was given its own copy of the cache" in warning
    np.testing.assert_array_equal(x, before)


def test_a_backward_that_consumes_its_cache_passes_with_a_warning(rng):
    # Student code that runs once per forward, as the course uses it: the steps' caches
    # are popped off a list.
    def steps_forward(x):
        outs = [np.tanh(row) for row in x]
        return np.stack(outs), list(outs)

    def steps_backward(dout, cache):
        dx = np.zeros_like(dout)
        for t in reversed(range(dout.shape[0])):
            out = cache.pop()
            dx[t] = dout[t] * (1 - out ** 2)
        return dx

    x = rng.standard_normal((4, 3))
    before = x.copy()
    report = check_layer(steps_forward, steps_backward, x)
    assert report.ok and not report.problems, str(report)
    [warning] = report.warnings
    assert warning.startswith("backward consumed its cache (a container in it lost items: "
                              "pop or del) at cache (at ")
    assert "in steps_backward: out = cache.pop()" in warning
    np.testing.assert_array_equal(x, before)


def test_a_backward_that_is_random_is_not_repeatable(rng):
    noise = np.random.default_rng(5)

    def sigmoid_backward(dout, cache):
        out = cache[0]
        return dout * out * (1 - out) * (1 + 1e-3 * noise.standard_normal())

    report = check_layer(sigmoid_forward, sigmoid_backward, rng.standard_normal((3, 4)))
    assert not report.ok
    assert any(p.startswith("backward is not repeatable: a second call with the same cache "
                            "and dout returns other gradients") and
               p.endswith("does backward draw random numbers or keep state between calls?")
               for p in report.problems)


@pytest.mark.parametrize("misuse", [
    lambda dout: np.ones_like(dout),         # dout ignored
    lambda dout: np.abs(dout),               # its sign dropped
    lambda dout: dout + 1.0,                 # something added to it
    lambda dout: dout ** 2,
], ids=["ignored", "abs", "shifted", "squared"])
def test_a_backward_not_linear_in_dout_is_reported_as_such(rng, misuse):
    def cube_backward(dout, x):
        return 3 * x ** 2 * misuse(dout)

    report = check_layer(lambda x: (x ** 3, x), cube_backward, rng.standard_normal((2, 3)))
    assert not report.ok
    assert any(p.startswith("backward is not linear in dout: backward(-2 dout) differs from "
                            "-2 backward(dout)") for p in report.problems), report.problems


def sine_forward(x):
    return np.sin(x), x


def test_one_wrong_element_of_a_large_argument_is_named_by_its_index_in_small_memory():
    shape, wrong = (200, 250), (146, 157)

    def sine_backward(dout, x):
        dx = dout * np.cos(x)
        dx[wrong] *= 1.5
        return dx

    x = np.random.default_rng(1).standard_normal(shape)
    tracemalloc.start()
    try:
        report = check_layer(sine_forward, sine_backward, x)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    [row] = report.arguments
    assert row.status == "FAIL" and row.strategy == "directional (k=4)"
    assert row.worst_index == wrong
    assert row.analytic == pytest.approx(1.5 * row.numeric, rel=1e-4)
    assert row.hint.endswith("wrong, at (146, 157)")
    # The argument itself, the numeric side's float64 copy, the upstream gradient, the
    # gradient, and a backward call or a move along a direction at a time.
    assert peak < 7 * x.nbytes, f"peak {peak / x.nbytes:.1f} x the argument"


def test_a_correct_large_argument_passes_in_small_memory():
    x = np.random.default_rng(2).standard_normal((200, 250))
    tracemalloc.start()
    try:
        report = check_layer(sine_forward, lambda dout, x: dout * np.cos(x), x)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert report.ok, str(report)
    assert peak < 7 * x.nbytes, f"peak {peak / x.nbytes:.1f} x the argument"


def test_the_error_proportional_to_the_argument_is_named():
    # A regularized loss whose backward forgot reg * w.
    reg = 0.25

    def ridge_forward(w):
        return np.sum(np.sin(w)) + 0.5 * reg * np.sum(w * w), w

    rng = np.random.default_rng(3)
    for w in (rng.standard_normal((4, 5)), rng.standard_normal((40, 50))):
        report = check_layer(ridge_forward, lambda dout, w: dout * np.cos(w), w)
        [row] = report.arguments
        assert row.status == "FAIL"
        assert row.hint.startswith("analytic - numeric = -0.25 x the argument itself"), row.hint


# -- thread safety -------------------------------------------------------------------------

def global_dropout_forward(x):
    mask = (np.random.rand(*x.shape) < 0.5) / 0.5
    return x * mask, mask


def global_dropout_backward(dout, mask):
    return dout * mask


def test_concurrent_checks_give_serial_verdicts_and_keep_numpys_global_state():
    x = np.random.default_rng(4).standard_normal((30, 40))

    def check():
        return str(check_layer(global_dropout_forward, global_dropout_backward, x))

    np.random.seed(11)
    serial = check()
    np.random.seed(11)
    before = np.random.get_state()
    threads, start = 6, threading.Barrier(6)
    found = [[] for _ in range(threads)]

    def work(k):
        start.wait()
        for _ in range(4):
            found[k].append(check())

    workers = [threading.Thread(target=work, args=(k,)) for k in range(threads)]
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join()
    after = np.random.get_state()
    assert serial.startswith("gradient check of global_dropout (float64, tolerance 1e-06): ok")
    assert [report for reports in found for report in reports] == [serial] * (4 * threads)
    assert after[0] == before[0] and after[2:] == before[2:]
    np.testing.assert_array_equal(after[1], before[1])


# -- the command line ------------------------------------------------------------------------

USER_LAYERS = textwrap.dedent('''
    import numpy as np
    from checks import register

    def square_forward(x):
        return x ** 2, x

    def square_backward(dout, x):
        return 3 * x * dout

    def product_forward(x, w):
        return x @ w, (x, w)

    def product_backward(dout, cache):
        x, w = cache
        dx = dout @ w
        return dx, x.T @ dout

    @register(square_forward, square_backward)
    def square_example(rng, dtype):
        return (rng.standard_normal(4).astype(dtype),)

    @register(product_forward, product_backward)
    def product_example(rng, dtype):
        return rng.standard_normal((2, 3)).astype(dtype), rng.standard_normal((3, 4)).astype(dtype)
''')


def test_cli_prints_worst_elements_and_where_a_backward_raised(tmp_path):
    path = tmp_path / "my_layers.py"
    path.write_text(USER_LAYERS)
    result = subprocess.run([sys.executable, "-m", "checks", str(path)],
                            capture_output=True, text=True)
    assert result.returncode == 1
    lines = result.stdout.splitlines()
    square = next(k for k, line in enumerate(lines) if line.startswith("2/2") and "square" in line)
    assert lines[square].endswith("FAIL: analytic = 1.5 x numeric")

    def square_forward(x):
        return x ** 2, x

    def square_backward(dout, x):
        return 3 * x * dout

    x = np.random.default_rng(0).standard_normal(4)      # what square_example draws
    details = str(check_layer(square_forward, square_backward, x)).splitlines()[3:]
    assert details[0].startswith("  x: elementwise") and len(details) == 5
    assert lines[square + 1: square + 6] == details   # the lines print(check_layer) shows

    [raised] = [line for line in lines if "backward raised ValueError" in line]
    line = USER_LAYERS.splitlines().index("    dx = dout @ w") + 1
    assert f"(at {path}:{line}, in product_backward: dx = dout @ w)" in raised
