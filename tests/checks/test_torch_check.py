"""check_torch: gatelab's gradient checker on PyTorch code, gradcheck's calling convention.

The catalogue of hand-written torch Functions with planted backward bugs
(``benchmarks/torch_mutations.py``): every bug caught in float64 and float32, the correct
Functions pass at many seeds. Then torch's built-ins (correct, must pass), a backward
that modifies its upstream gradient, the calling convention, devices, and the message
without torch. Everything but that last test skips without torch.
"""

import contextlib
import io
import re
import sys
from pathlib import Path

import numpy as np
import pytest

from checks import check_torch

ROOT = Path(__file__).resolve().parents[2]

SEEDS = range(12)


@pytest.fixture(scope="module")
def torch():
    return pytest.importorskip("torch")


@pytest.fixture(scope="module")
def catalogue(torch):
    import torch_mutations

    return torch_mutations


def tensor(torch, array, grad=True):
    return torch.tensor(np.asarray(array), requires_grad=grad)


def test_without_torch_the_error_says_how_to_install_it(monkeypatch):
    monkeypatch.setitem(sys.modules, "torch", None)
    with pytest.raises(ModuleNotFoundError, match=r"check_torch .*pip install torch"):
        check_torch(lambda x: x, np.ones(3))


# --- the catalogue ---------------------------------------------------------------------------

@pytest.mark.parametrize("dtype", ["float64", "float32"])
def test_every_planted_bug_is_caught(catalogue, dtype):
    bugs = list(catalogue.planted(dtype, seed=0))
    assert {bug.kind for bug in bugs} == set(catalogue.KINDS)
    assert {bug.layer for bug in bugs} == set(catalogue.LAYERS)
    missed, planted_nothing = [], []
    for bug in bugs:
        report = check_torch(bug.fn, *bug.inputs, name=bug.label)
        if report.ok:
            missed.append(f"{bug.kind}: {bug.label}")
        if dtype == "float64" and not bug.effective:
            planted_nothing.append(bug.label)
    assert not missed, f"{len(missed)} of {len(bugs)} bugs missed: {missed}"
    assert not planted_nothing


@pytest.mark.parametrize("dtype", ["float64", "float32"])
def test_correct_functions_pass_at_every_seed(catalogue, dtype):
    failed = []
    for layer in catalogue.LAYERS:
        for seed in SEEDS:
            report = check_torch(catalogue.function(layer).apply,
                                 *catalogue.example(layer, dtype, seed), seed=seed)
            if not report.ok:
                failed.append(str(report))
    assert not failed, "\n".join(failed)


def test_a_bug_is_reported_with_its_worst_element_and_hint(catalogue):
    bug = next(b for b in catalogue.planted("float64") if b.kind == "factor 2"
               and b.variant == "dw")
    report = check_torch(bug.fn, *bug.inputs)
    rows = {arg.name: arg for arg in report.arguments}
    # The names come from the Function's forward(ctx, x, w, b).
    assert list(rows) == ["x", "w", "b"]
    assert [rows[n].status for n in "xwb"] == ["pass", "FAIL", "pass"]
    assert rows["w"].hint == "analytic = 2 x numeric"
    assert rows["w"].analytic == pytest.approx(2 * rows["w"].numeric, rel=1e-6)
    assert report.layer == "Affine"
    assert "FAIL: analytic = 2 x numeric" in str(report)


# --- torch's built-ins -------------------------------------------------------------------------

def builtins(torch, dtype):
    """(name, fn, inputs) of torch's own ops, whose gradients are right."""
    F = torch.nn.functional
    rng = np.random.default_rng(3)

    def t(*shape, grad=True, scale=1.0, loc=0.0):
        array = loc + scale * rng.standard_normal(shape)
        return torch.tensor(array, dtype=getattr(torch, dtype), requires_grad=grad)

    labels = torch.from_numpy(rng.integers(0, 5, 6))
    linear = torch.nn.Linear(4, 3).to(getattr(torch, dtype))
    return [
        ("linear", F.linear, (t(5, 4), t(3, 4), t(3))),
        ("sigmoid", torch.sigmoid, (t(3, 4, scale=2.0),)),
        ("tanh", torch.tanh, (t(3, 4),)),
        ("cross_entropy", F.cross_entropy, (t(6, 5), labels)),
        ("layer_norm", F.layer_norm, (t(4, 6, scale=2.0, loc=0.5), [6], t(6, loc=1.0),
                                      t(6))),
        ("batch_norm", lambda x, g, b: F.batch_norm(x, None, None, g, b, training=True),
         (t(6, 3, scale=2.0, loc=0.5), t(3, loc=1.0), t(3))),
        ("conv2d", lambda x, w, b: F.conv2d(x, w, b, stride=1, padding=1),
         (t(2, 2, 4, 4), t(3, 2, 3, 3, scale=0.5), t(3))),
        ("softmax", lambda x: torch.softmax(x, dim=1), (t(3, 5),)),
        ("matmul", torch.matmul, (t(3, 4), t(4, 2))),
        ("module", linear, (t(5, 4),)),
    ]


@pytest.mark.parametrize("dtype", ["float64", "float32"])
def test_torch_builtins_pass(torch, dtype):
    for name, fn, inputs in builtins(torch, dtype):
        report = check_torch(fn, *inputs)
        assert report.ok, f"{name}:\n{report}"
        assert report.dtype == dtype
        checked = [a for a in report.arguments if a.status != "no gradient"]
        assert len(checked) == sum(isinstance(i, torch.Tensor) and i.requires_grad
                                   for i in inputs)
        if dtype == "float32":
            # Judged through float64: the float32 backward is compared with the float64 run.
            assert report.precision_tolerance == pytest.approx(1e-3)
            assert all(np.isfinite(a.precision_error) for a in checked)


def test_the_inputs_are_left_as_they_were(torch):
    x = tensor(torch, np.random.default_rng(0).standard_normal((3, 4)))
    saved = x.detach().clone()
    state = torch.get_rng_state()
    check_torch(lambda v: torch.nn.functional.dropout(v, 0.5) * v, x)
    assert torch.equal(x.detach(), saved) and x.grad is None
    assert torch.equal(torch.get_rng_state(), state)


def test_a_modules_state_is_restored_and_raise_on_fail_raises_the_full_report(torch):
    from checks import GradientCheckError

    torch.manual_seed(1)
    module = torch.nn.BatchNorm1d(3).double()
    saved = {k: v.clone() for k, v in module.state_dict().items()}
    x = torch.randn(5, 3, dtype=torch.float64, requires_grad=True)
    assert check_torch(module, x, raise_on_fail=True).ok
    assert all(torch.equal(module.state_dict()[k], v) for k, v in saved.items())

    square = square_writing_into_its_upstream(torch)
    with pytest.raises(GradientCheckError) as caught:
        check_torch(lambda v: v + square.apply(v), x, raise_on_fail=True)
    assert "warning: the backward modified" in str(caught.value)


def test_torch_randomness_is_the_same_at_every_evaluation(torch):
    x = tensor(torch, np.random.default_rng(0).standard_normal((4, 5)))
    report = check_torch(lambda v: torch.nn.functional.dropout(v, 0.5, training=True) ** 2, x)
    assert report.ok, str(report)


# --- what gets a gradient ------------------------------------------------------------------

def test_only_tensors_with_requires_grad_are_checked(torch):
    rng = np.random.default_rng(1)
    x = tensor(torch, rng.standard_normal((4, 3)))
    w = tensor(torch, rng.standard_normal((3, 2)), grad=False)
    labels = torch.tensor([0, 1, 1, 0])

    def loss(x, w, labels, scale):
        return scale * torch.nn.functional.cross_entropy(x @ w, labels)

    report = check_torch(loss, x, w, labels, 0.5)
    assert report.ok, str(report)
    rows = {arg.name: arg for arg in report.arguments}
    assert rows["x"].status == "pass"
    assert rows["w"].detail == "requires_grad=False: float64 tensor of shape (3, 2)"
    assert rows["labels"].detail == "not floating-point: int64 tensor of shape (4,)"
    assert rows["scale"].detail == "not a tensor: float"
    assert all(rows[n].status == "no gradient" for n in ("w", "labels", "scale"))


def test_the_float64_run_gets_float64_copies_of_every_float_input(torch):
    rng = np.random.default_rng(2)
    x = torch.tensor(rng.standard_normal((3, 4)), dtype=torch.float32, requires_grad=True)
    w = torch.tensor(rng.standard_normal((4, 2)), dtype=torch.float32)
    seen = set()

    def fn(x, w):
        seen.add((x.dtype, w.dtype))
        return torch.tanh(x @ w)

    report = check_torch(fn, x, w)
    assert report.ok, str(report)
    assert seen == {(torch.float32, torch.float32), (torch.float64, torch.float64)}


def test_a_float32_module_is_judged_through_a_float64_copy(torch):
    torch.manual_seed(0)
    module = torch.nn.Sequential(torch.nn.Linear(4, 3), torch.nn.Tanh())
    x = torch.randn(5, 4, requires_grad=True)
    report = check_torch(module, x)
    assert report.ok, str(report)
    assert "float64 copy of the module" in " ".join(report.notes)
    assert report.tolerance == pytest.approx(1e-6)
    assert next(module.parameters()).dtype == torch.float32


def test_an_fn_that_cannot_run_in_float64_is_judged_in_its_own_dtype(torch):
    rng = np.random.default_rng(3)
    weight = torch.tensor(rng.standard_normal((4, 3)), dtype=torch.float32)
    x = torch.tensor(rng.standard_normal((5, 4)), dtype=torch.float32, requires_grad=True)

    class Wrong(torch.autograd.Function):
        @staticmethod
        def forward(ctx, v):
            ctx.save_for_backward(v)
            return torch.tanh(v @ weight)

        @staticmethod
        def backward(ctx, grad):
            v, = ctx.saved_tensors
            out = torch.tanh(v @ weight)
            return 1.01 * (grad * (1 - out * out)) @ weight.T

    report = check_torch(lambda v: torch.tanh(v @ weight), x)
    assert report.ok, str(report)
    assert any(note.startswith("fn does not run on float64 copies of its inputs (RuntimeError")
               for note in report.notes)
    wrong = check_torch(Wrong.apply, x)
    assert not wrong.ok and wrong.arguments[0].hint == "analytic = 1.01 x numeric"


def test_gradchecks_tuple_of_inputs_is_accepted(torch):
    rng = np.random.default_rng(4)
    x, w = tensor(torch, rng.standard_normal((2, 3))), tensor(torch, rng.standard_normal(3))
    one = check_torch(torch.mul, (x, w))
    other = check_torch(torch.mul, x, w)
    assert one.ok and [a.max_rel_error for a in one.arguments] == \
        [a.max_rel_error for a in other.arguments]


def test_non_floating_outputs_are_left_out(torch):
    x = tensor(torch, np.random.default_rng(5).standard_normal((3, 4)))
    report = check_torch(lambda v: torch.max(v, dim=1), x)
    assert report.ok, str(report)


def test_a_detached_output_fails_with_zero_analytic_gradient(torch):
    x = tensor(torch, np.random.default_rng(6).standard_normal((2, 3)))
    report = check_torch(lambda v: (v ** 2).detach(), x)
    assert not report.ok
    assert all(analytic == 0 for _, analytic, _, _ in report.arguments[0].worst)


# --- a backward that writes into its upstream gradient -----------------------------------------

def square_writing_into_its_upstream(torch):
    class Square(torch.autograd.Function):
        @staticmethod
        def forward(ctx, x):
            ctx.save_for_backward(x)
            return x * x

        @staticmethod
        def backward(ctx, grad):
            x, = ctx.saved_tensors
            return grad.mul_(2 * x)   # right value, written into the upstream gradient

    return Square


def test_a_backward_modifying_its_upstream_gradient_is_warned_about(torch):
    square = square_writing_into_its_upstream(torch)
    x = tensor(torch, np.random.default_rng(7).standard_normal((3, 3)))
    report = check_torch(square.apply, x)
    # The gradient it returns is right: the check passes, with a warning.
    assert report.ok
    assert len(report.warnings) == 1
    assert "modified its upstream gradient in place" in report.warnings[0]
    assert "  warning: the backward modified its upstream gradient" in str(report)
    clean = check_torch(torch.square, x)
    assert clean.ok and clean.warnings == []


def test_the_warning_names_the_output_whose_gradient_was_modified(torch):
    square = square_writing_into_its_upstream(torch)
    x = tensor(torch, np.random.default_rng(8).standard_normal(4))
    report = check_torch(lambda v: (torch.sin(v), square.apply(v)), x)
    assert report.ok
    assert len(report.warnings) == 1 and "upstream gradient of output 1" in report.warnings[0]


def test_the_modified_upstream_corrupts_a_fan_out_and_the_check_fails(torch):
    square = square_writing_into_its_upstream(torch)
    x = tensor(torch, np.random.default_rng(9).standard_normal(4))
    # x + square(x): the add sends one gradient tensor to both uses, and square's backward
    # writes into it before the skip connection's share is added.
    report = check_torch(lambda v: v + square.apply(v), x)
    assert not report.ok


# --- devices -------------------------------------------------------------------------------

def test_an_input_on_another_device_is_moved_and_reported(torch, monkeypatch):
    """The device path with a stand-in for the GPU: no GPU is needed to run this test.

    `_device_of` reports "cuda:0" for x, and `_on_device`, which would copy a tensor to
    it, records the call and keeps the tensor on the CPU. What a real GPU adds (the copy,
    a kernel running there) is not exercised here.
    """
    from checks import torch_check

    rng = np.random.default_rng(10)
    x, w = tensor(torch, rng.standard_normal((3, 4))), tensor(torch, rng.standard_normal(4))
    gpu = torch.device("cuda:0")
    monkeypatch.setattr(torch_check, "_device_of",
                        lambda torch, value: gpu if value is x else torch.device("cpu"))
    moved = []

    def on_device(tensor, device):
        if device.type != "cpu":
            moved.append((tuple(tensor.shape), device))
        return tensor

    monkeypatch.setattr(torch_check, "_on_device", on_device)
    report = check_torch(torch.mul, x, w)
    assert report.ok, str(report)
    assert moved and set(moved) == {((3, 4), gpu)}
    assert any("inputs on cuda:0: fn ran there" in note and "copied to the CPU" in note
               for note in report.notes)


# --- argument errors -------------------------------------------------------------------------

def test_argument_errors_name_check_torch(torch):
    x = tensor(torch, np.ones((2, 2)))
    with pytest.raises(ValueError, match=r"check_torch: no input is a tensor with "
                                         r"requires_grad=True.*inputs\[0\]: float64 tensor"):
        check_torch(torch.sin, x.detach())
    with pytest.raises(TypeError, match=r"check_torch: inputs\[0\] has requires_grad=True "
                                        r"and dtype torch.float16"):
        check_torch(torch.sin, torch.ones(2, dtype=torch.float16, requires_grad=True))
    with pytest.raises(TypeError, match=r"check_torch: unknown option 'atol' \(a "
                                        r"torch.autograd.gradcheck option"):
        check_torch(torch.sin, x, atol=1e-5)
    with pytest.raises(TypeError, match="check_torch: fn must be callable"):
        check_torch(x, x)


def test_a_failing_fn_is_a_problem_of_the_report(torch):
    x = tensor(torch, np.ones(3))
    report = check_torch(lambda v: v.detach().numpy(), x)
    assert not report.ok
    assert report.problems == ["forward raised TypeError: fn must return a tensor or a tuple "
                               "of tensors; output 0 is float64 array of shape (3,)"]


# --- the documentation's examples -------------------------------------------------------------

def test_torch_page_examples_print_what_they_claim(torch):
    """The blocks of docs/torch.md that import torch (tests/package/test_readme.py runs them
    too, each in a fresh interpreter)."""
    text = (ROOT / "docs" / "torch.md").read_text()
    blocks = [(code, printed) for code, printed in re.findall(
        r"```python\n(.*?)```(?:\n\nprints\n\n```\n(.*?)```)?", text, re.S)
        if "import torch" in code]
    assert len(blocks) >= 2
    namespace = {"__name__": "torch_page_examples"}
    for code, printed in blocks:
        output = io.StringIO()
        with contextlib.redirect_stdout(output):
            exec(compile(code, "docs/torch.md", "exec"), namespace)
        if printed:
            assert output.getvalue() == printed


# --- layouts -----------------------------------------------------------------------------------

@pytest.mark.parametrize("layout", ["transposed", "sliced"])
def test_non_contiguous_inputs_are_perturbed_and_passed_with_their_strides(torch, layout):
    rng = np.random.default_rng(8)
    a = rng.standard_normal((4, 4))
    spd = torch.tensor(a @ a.T + 4 * np.eye(4))
    factor = torch.linalg.cholesky(spd)
    if layout == "transposed":
        b = torch.tensor(rng.standard_normal((3, 4))).T.requires_grad_()
    else:
        b = torch.tensor(rng.standard_normal((4, 6)))[:, ::2].requires_grad_()
    assert not b.is_contiguous()
    saved, strides = b.detach().clone(), b.stride()
    seen = set()

    def solve(rhs, factor):
        seen.add(rhs.stride())
        return torch.cholesky_solve(rhs, factor)

    report = check_torch(solve, b, factor)
    assert report.ok, str(report)
    assert report.max_rel_error < 1e-7
    assert seen == {strides}
    assert torch.equal(b.detach(), saved) and b.stride() == strides and b.grad is None


# --- torch code as it is written -------------------------------------------------------------

def scaled_by(torch, factor, backward_factor):
    """A Function multiplying by a complex `factor`, its backward using `backward_factor`
    (the right one is factor's conjugate)."""
    class Scale(torch.autograd.Function):
        @staticmethod
        def forward(ctx, x):
            return x * factor

        @staticmethod
        def backward(ctx, grad):
            return (grad * backward_factor).real

    return Scale


def test_complex_outputs_are_checked_through_their_real_and_imaginary_parts(torch):
    x = tensor(torch, np.random.default_rng(9).standard_normal(5))
    saved = x.detach().clone()
    report = check_torch(torch.fft.fft, x)
    assert report.ok, str(report)
    assert "complex outputs are checked through their real and imaginary parts" in report.notes
    right = check_torch(scaled_by(torch, 1 + 2j, 1 - 2j).apply, x)
    assert right.ok, str(right)
    wrong = check_torch(scaled_by(torch, 1 + 2j, 1 + 2j).apply, x)  # conjugate forgotten
    assert not wrong.ok and wrong.arguments[0].status == "FAIL"
    assert torch.equal(x.detach(), saved) and x.grad is None


@pytest.mark.parametrize("fn", ["ifft imag", "conj", "sgn"])
def test_negative_and_conjugate_views_and_zero_tensor_gradients_are_read(torch, fn):
    x = tensor(torch, np.random.default_rng(10).standard_normal(6))
    saved = x.detach().clone()
    functions = {"ifft imag": lambda t: torch.fft.ifft(t).imag,          # negative bit
                 "conj": lambda t: torch.fft.fft(t).conj(),                 # conjugate bit
                 "sgn": torch.sgn}                                       # ZeroTensor grad
    report = check_torch(functions[fn], x)
    assert report.ok, str(report)
    assert report.problems == []
    assert torch.equal(x.detach(), saved) and x.grad is None


def batch_statistics(torch, wrong=False):
    """Batch norm's output and its saved mean, marked non-differentiable, as native batch
    norm returns them."""
    class Normalize(torch.autograd.Function):
        @staticmethod
        def forward(ctx, x):
            mean = x.mean(0)
            centred = x - mean
            ctx.mark_non_differentiable(mean)
            return centred, mean

        @staticmethod
        def backward(ctx, grad, grad_mean):
            return grad - (0 if wrong else grad.mean(0))

    return Normalize


def test_outputs_marked_non_differentiable_are_left_out_of_both_sides(torch):
    x = tensor(torch, np.random.default_rng(11).standard_normal((4, 3)))
    saved = x.detach().clone()
    report = check_torch(batch_statistics(torch).apply, x)
    assert report.ok, str(report)
    assert report.notes == [
        "1 of fn's 2 floating-point outputs do not require grad (marked non-differentiable "
        "or detached): left out of both sides, as gradcheck leaves them out"]
    wrong = check_torch(batch_statistics(torch, wrong=True).apply, x)
    assert not wrong.ok and wrong.arguments[0].status == "FAIL"
    native = check_torch(lambda v: torch.native_batch_norm(v, None, None, None, None, True,
                                                           0.1, 1e-5), x)
    assert native.ok, str(native)
    assert torch.equal(x.detach(), saved) and x.grad is None


@pytest.mark.parametrize("fn", ["double", "softmax"])
def test_float32_code_returning_float64_is_accepted(torch, fn):
    x = tensor(torch, np.random.default_rng(12).standard_normal(6).astype(np.float32))
    saved = x.detach().clone()
    functions = {"double": lambda t: t.double() ** 2,
                 "softmax": lambda t: torch.softmax(t, 0, dtype=torch.float64)}
    report = check_torch(functions[fn], x)
    assert report.ok, str(report)
    assert ("fn returns float64 for float32 inputs: its outputs were compared in float32, "
            "the precision of its gradients") in report.notes
    assert torch.equal(x.detach(), saved) and x.grad is None


def masked_by_rand_like(torch, apply_mask=True):
    class Dropout(torch.autograd.Function):
        @staticmethod
        def forward(ctx, x):
            mask = (torch.rand_like(x) < 0.5).to(x.dtype)
            ctx.save_for_backward(mask)
            return x * mask

        @staticmethod
        def backward(ctx, grad):
            mask, = ctx.saved_tensors
            return grad * mask if apply_mask else grad

    return Dropout


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_float32_and_float64_runs_draw_the_same_random_numbers(torch, dtype):
    x = tensor(torch, np.random.default_rng(13).standard_normal(40).astype(dtype))
    saved, state = x.detach().clone(), torch.get_rng_state()
    for fn in (lambda t: t * (torch.rand_like(t) < 0.5),
               lambda t: t * torch.empty_like(t).bernoulli_(0.3),
               lambda t: torch.nn.functional.dropout(t, 0.4),
               masked_by_rand_like(torch).apply):
        report = check_torch(fn, x)
        assert report.ok, str(report)
    wrong = check_torch(masked_by_rand_like(torch, apply_mask=False).apply, x)
    assert not wrong.ok and wrong.arguments[0].status == "FAIL"
    assert torch.equal(x.detach(), saved) and x.grad is None
    assert torch.equal(torch.get_rng_state(), state)


def test_kinks_crossed_along_random_directions_of_a_large_input_are_no_failure(torch):
    # A million elements: a random direction's step moves every one, and a few cross
    # ReLU's kink at 0.
    x = tensor(torch, np.random.default_rng(14).standard_normal(10 ** 6))
    report = check_torch(torch.relu, x)
    assert report.ok, str(report)
    assert report.arguments[0].strategy == "directional (k=4)"

    def one_wrong(v):
        class Relu(torch.autograd.Function):
            @staticmethod
            def forward(ctx, v):
                ctx.save_for_backward(v)
                return v.clamp(min=0)

            @staticmethod
            def backward(ctx, grad):
                v, = ctx.saved_tensors
                dv = grad * (v > 0)
                dv[7] *= 1.5
                return dv

        return Relu.apply(v)

    with torch.no_grad():
        x[7] = 2.0
    wrong = check_torch(one_wrong, x)
    assert not wrong.ok and wrong.arguments[0].worst_index == (7,)


# --- what central differences cannot judge -----------------------------------------------------

def test_minus_inf_logits_are_held_fixed(torch):
    x = torch.tensor(np.random.default_rng(15).standard_normal((3, 5)))
    x[0, 1] = x[2, 3] = -float("inf")
    x.requires_grad_()
    saved = x.detach().clone()
    report = check_torch(lambda t: torch.softmax(t, 1), x)
    assert report.ok, str(report)
    assert report.arguments[0].held == 2 and report.max_rel_error < 1e-8
    wrong = check_torch(lambda t: torch.exp(t) / torch.exp(t).sum(1, keepdim=True).detach(), x)
    assert not wrong.ok and wrong.arguments[0].status == "FAIL"
    assert torch.equal(x.detach(), saved) and x.grad is None


def test_float_labels_that_require_grad_are_named_and_excuse_nothing(torch):
    rng = np.random.default_rng(16)
    x1, x2 = (tensor(torch, rng.standard_normal((4, 3))) for _ in range(2))
    y = tensor(torch, [1.0, -1.0, 1.0, -1.0])
    report = check_torch(torch.nn.functional.cosine_embedding_loss, x1, x2, y)
    assert [row.status for row in report.arguments] == ["pass", "pass", "FAIL"]
    assert report.max_rel_error < 1e-8
    [problem] = report.problems
    assert problem.startswith("cannot judge target: it sits on a discontinuity of the "
                              "forward (moving it by 4 ulps changes L by ")
    assert torch.equal(y.detach(), torch.tensor([1.0, -1.0, 1.0, -1.0], dtype=torch.float64))
