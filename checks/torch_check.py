"""Gradient checks of PyTorch code: `check_torch`, with gradcheck's calling convention.

``check_torch(fn, *inputs)`` checks the gradient that torch's autograd computes for `fn`
(a ``torch.autograd.Function``'s ``apply``, a module, any function of tensors) with
gatelab's checker: `fn` becomes a layer pair, and `checks.check_layer` judges it, so the
report, hints, kinks, directional checks of large inputs and float32 judged through
float64 are those of every gatelab check. The pair:

- forward(*arrays): tensors made from the arrays, in the arrays' dtype, those of the
  checked inputs with ``requires_grad=True``; ``fn`` on them; its floating-point outputs
  as arrays, and the autograd graph as the cache;
- backward(*douts, cache): ``torch.autograd.grad`` from those outputs to the checked
  tensors, with the upstream gradients `douts` as ``grad_outputs``.

Which inputs are checked: the tensors with ``requires_grad=True`` (float32 or float64),
as ``torch.autograd.gradcheck`` does, so that switching is one line. Every other input (a
float tensor without requires_grad, integer labels, a Python number) is passed to `fn`
as it is (a tensor as a fresh copy at every call, so that `fn` cannot change what later
calls see) and listed in the report as getting no gradient.

float32: `check_layer` also runs the pair on float64 copies of the checked inputs; for
that run every floating-point input, checked or not, is given to `fn` in float64. A
logic bug shows there against float64 central differences, and the float32 gradient is
then compared with the float64 one for precision.

Randomness and state: torch's CPU generator is put back to one state before every call
of `fn` (a dropout inside `fn` draws the same mask at every evaluation), and is restored
when the check ends, as `checks.fixed_randomness` does for NumPy's global generator.
torch draws other numbers from one state in float32 and in float64, so in the float64
runs of float32 inputs its random functions draw in float32 and cast (`_Float32Draws`):
both runs drop the same units. A module's parameters and buffers (batch norm's running
statistics, which move at every call in train mode) are restored too. The inputs are
never modified, and `fn` gets them with their own strides (a transposed or sliced tensor
stays so).

What is compared: fn's floating-point outputs that require grad (all of them when none
does, so that a detached fn fails); outputs marked non-differentiable (native batch
norm's saved statistics) are left out of both sides, as gradcheck leaves them out. A
complex output is compared through its real and imaginary parts, as gradcheck does.
Lazy negative and conjugate views and ZeroTensor gradients are read as their values. A
float32 fn that returns float64 (``.double()``, ``softmax(dtype=torch.float64)``) is
accepted, its outputs compared in float32, the precision of its gradients.

Devices: an input on another device (a GPU) is copied to the CPU for the checker; at
every call `fn` runs on copies placed back on the input's device, and its outputs and
gradients are copied to the CPU, where the central differences and the comparison are
computed. The report says so in a note. Random generators of other devices are not
reset.

In-place upstream gradients: after each backward, the upstream gradients passed to
``torch.autograd.grad`` are compared with copies taken before; a backward that modified
one in place gets a warning in ``report.warnings``. Such a backward corrupts the gradient
of any other consumer of the same value; the warning does not fail the check by itself.
Only the upstream gradients that `check_torch` passes in are watched: a Function deeper
inside `fn` that modifies the gradient it receives shows only through wrong gradients.

torch is imported when `check_torch` is called: gatelab itself does not need it.
"""

import contextlib
import copy
import inspect
from dataclasses import replace

import numpy as np

from layers.contract import describe
from layers.optional import import_torch
from .fixed_randomness import copy_like
from .checker import check_layer_with
from .options import CheckOptions
from .report import NO_GRADIENT

__all__ = ["check_torch"]

CHECKED_DTYPES = ("float32", "float64")
GRADCHECK_OPTIONS = ("eps", "atol", "rtol", "raise_exception", "nondet_tol",
                     "check_undefined_grad", "check_grad_dtypes", "check_batched_grad",
                     "check_batched_forward_grad", "check_forward_ad", "check_backward_ad",
                     "fast_mode", "masked")


def check_torch(fn, *inputs, **options):
    """Check the gradients torch's autograd computes for `fn` against central differences.

    Parameters
    ----------
    fn : callable
        ``fn(*inputs)`` returning a tensor or a tuple of tensors: a
        ``torch.autograd.Function``'s ``apply``, a ``torch.nn.Module`` (its inputs are
        checked, not its parameters), or any function of tensors. Non-floating outputs
        (indices) are left out of the check.
    *inputs : tensors and other values
        As for ``torch.autograd.gradcheck``: the tensors with ``requires_grad=True`` are
        checked (float32 or float64, any shape); everything else is passed to `fn` as it
        is and gets no gradient. One tuple or list of inputs is also accepted, as
        gradcheck takes them: ``check_torch(fn, (x, w))``.
    **options
        The check's options, by keyword (``tol``, ``seed``, ``strategy``, ``directions``,
        ``nudge_kinks``, ``raise_on_fail``, ``name``): see `CheckOptions`. `name` is by
        default the Function's, module's or function's name.

    Returns
    -------
    GradReport
        ``report.ok``, ``print(report)``: a row per input (max relative error, worst
        index, analytic and numeric values, a hint), ``report.warnings``, ``report.notes``.

    Raises
    ------
    ModuleNotFoundError
        When torch is not installed; the message says how to install it.
    TypeError, ValueError
        For an `fn` that is not callable, an unknown option or one out of range, no input
        with ``requires_grad=True``, or a checked input that is not a float32 or float64
        strided tensor.

    Examples
    --------
    >>> import torch
    >>> x = torch.randn(3, 4, dtype=torch.float64, requires_grad=True)
    >>> check_torch(torch.tanh, x).ok
    True
    """
    torch = import_torch("check_torch")
    if not callable(fn):
        raise TypeError(f"check_torch: fn must be callable (a Function's apply, a module, a "
                        f"function of tensors); got {describe(fn)}")
    options = _options(options)
    if len(inputs) == 1 and isinstance(inputs[0], (tuple, list)):
        inputs = tuple(inputs[0])
    checked = [i for i, value in enumerate(inputs)
               if isinstance(value, torch.Tensor) and value.requires_grad]
    if not checked:
        raise ValueError("check_torch: no input is a tensor with requires_grad=True, so "
                         "nothing would be checked (gradcheck's convention: the inputs "
                         f"with requires_grad=True are checked); got "
                         f"{_describe_inputs(torch, inputs)}")
    for i in checked:
        _check_checked_input(torch, i, inputs[i])

    pair = _TorchPair(torch, fn, inputs, checked)
    options = replace(options, name=options.name or _fn_name(fn))
    # A module's buffers (batch norm's running statistics) would move at every one of
    # the check's calls: they are put back afterwards, as torch's generator is.
    state = copy.deepcopy(fn.state_dict()) if isinstance(fn, torch.nn.Module) else None
    try:
        report = check_layer_with(replace(options, raise_on_fail=False), pair.forward,
                                  pair.backward, pair.arguments(), {})
    finally:
        torch.set_rng_state(pair.rng_state)
        if state is not None:
            fn.load_state_dict(state)
    _describe_unchecked(torch, report, pair)
    report.warnings += pair.warnings
    report.notes += pair.notes
    if pair.native is not None:
        report.notes.append(f"fn does not run on float64 copies of its inputs "
                            f"({pair.native}); its float64 runs used the inputs' own dtypes")
    if pair.devices:
        report.notes.append(
            f"inputs on {', '.join(pair.devices)}: fn ran there, on copies of the inputs; "
            "its outputs and gradients were copied to the CPU, where the central "
            "differences and the comparison were computed")
    if options.raise_on_fail:
        report.raise_if_failed()
    return report



def _options(options):
    """`CheckOptions` of check_torch's keyword arguments; TypeError for an unknown one."""
    for key in options:
        if key in CheckOptions.keywords():
            continue
        advice = ""
        if key in GRADCHECK_OPTIONS:
            advice = (" (a torch.autograd.gradcheck option: check_torch chooses its own "
                      "steps and judges relative errors against tol)")
        raise TypeError(f"check_torch: unknown option {key!r}{advice}; the options are "
                        f"{', '.join(CheckOptions.keywords())}")
    return CheckOptions(**options, caller="check_torch")


def _check_checked_input(torch, position, tensor):
    if str(tensor.dtype).replace("torch.", "") not in CHECKED_DTYPES:
        raise TypeError(f"check_torch: inputs[{position}] has requires_grad=True and dtype "
                        f"{tensor.dtype}; the checked inputs must be float32 or float64 "
                        "(cast with .double() or .float())")
    if tensor.layout != torch.strided:
        raise TypeError(f"check_torch: inputs[{position}] has layout {tensor.layout}; the "
                        "checked inputs must be dense (strided) tensors (use .to_dense())")


class _Held:
    """An input that is passed to fn as it is: the checker sees a constant, not an array."""

    def __init__(self, value):
        self.value = value


class _TorchPair:
    """`fn` as a gatelab layer pair (module docstring); collects warnings and devices."""

    def __init__(self, torch, fn, inputs, checked):
        self.torch = torch
        self.fn = fn
        self.inputs = inputs
        self.checked = checked
        self.dtypes = {i: _numpy_dtype(inputs[i]) for i in checked}
        self.places = [_device_of(torch, value) for value in inputs]
        self.devices = sorted({str(d) for d in self.places if d is not None
                               and d.type != "cpu"})
        self.rng_state = torch.get_rng_state()
        self.draws = None  # whether fn draws from torch's generator; known after a call
        self.float32_draws = None  # made when a float64 run needs it
        # The dtype the checked inputs promote to: fn's outputs are compared in it.
        self.own_dtype = np.result_type(*self.dtypes.values())
        self.warnings = []
        self.notes = []
        self.fn64 = None
        # Why fn does not run in float64 (then its float64 runs use the inputs' dtypes).
        self.native = None
        self.names = _input_names(fn, len(inputs))
        self.forward = _with_signature(self._forward, self.names)
        self.backward = self._backward

    def arguments(self):
        """What the checker is given: arrays for the checked inputs (with the tensors'
        strides, which every call of fn gets again), _Held for the rest."""
        args = []
        for i, value in enumerate(self.inputs):
            if i in self.checked:
                args.append(copy_like(_as_array(value)))
            else:
                args.append(_Held(value))
        return args

    def _forward(self, *args):
        promote = any(np.asarray(args[i]).dtype != self.dtypes[i] for i in self.checked)
        if promote and self.native is not None:
            return self._call(self._in_own_dtypes(args), promote=False)
        try:
            return self._call(args, promote)
        except Exception as exc:  # noqa: BLE001 - retried below; raised again if it recurs
            if not promote:
                raise
            self.native = f"{type(exc).__name__}: {exc}"
        return self._call(self._in_own_dtypes(args), promote=False)

    def _call(self, args, promote):
        """fn on tensors made from `args`: (*output arrays, cache)."""
        torch = self.torch
        tensors, checked = [], []
        for i, arg in enumerate(args):
            if i in self.checked:
                # A copy with the input's strides: fn must not reach the checker's arrays
                # through shared memory, and sees the layout it was given.
                tensor = _on_device(torch.from_numpy(copy_like(arg)), self.places[i])
                tensor.requires_grad_(True)
                checked.append(tensor)
            else:
                tensor = self._held(arg.value, promote)
            tensors.append(tensor)
        fn = self._float64_fn() if promote else self.fn
        torch.set_rng_state(self.rng_state)
        # A float64 run of float32 inputs draws its random numbers in float32, so that it
        # drops what the float32 run drops (torch draws other numbers per dtype). An fn
        # seen not to draw runs without the interception, which costs a little per call.
        same_draws = promote and self.draws is not False
        if same_draws and self.float32_draws is None:
            self.float32_draws = _Float32Draws(torch)
        with torch.enable_grad(), self.float32_draws if same_draws else _NO_CONTEXT:
            result = fn(*tensors)
        if self.draws is None and not promote:
            self.draws = not torch.equal(torch.get_rng_state(), self.rng_state)
        outputs = self._compared_outputs(result)
        arrays = [np.array(_as_array(out), copy=True) for out in outputs]
        wider = [a.dtype.itemsize > self.own_dtype.itemsize for a in arrays]
        if not promote and any(wider):
            # A float32 fn that returns float64 (.double(), softmax(dtype=float64)) is
            # compared in its inputs' precision: its gradients are float32 anyway.
            arrays = [a.astype(self.own_dtype) if w else a for a, w in zip(arrays, wider)]
            self.note("fn returns float64 for float32 inputs: its outputs were compared in "
                      "float32, the precision of its gradients")
        return (*arrays, _Graph(checked, outputs))

    def _compared_outputs(self, result):
        """fn's outputs that the check compares: the floating-point ones that require
        grad (all of them when none does, so that a detached fn fails), a complex one as
        its real and imaginary parts, as gradcheck takes them."""
        torch = self.torch
        outputs = _floating_outputs(torch, result)
        differentiable = [out for out in outputs if out.requires_grad]
        if differentiable and len(differentiable) < len(outputs):
            self.note(f"{len(outputs) - len(differentiable)} of fn's {len(outputs)} "
                      "floating-point outputs do not require grad (marked non-differentiable "
                      "or detached): left out of both sides, as gradcheck leaves them out")
            outputs = differentiable
        parts = []
        for out in outputs:
            if out.is_complex():
                parts += [torch.real(out), torch.imag(out)]
                self.note("complex outputs are checked through their real and imaginary "
                          "parts")
            else:
                parts.append(out)
        return parts

    def note(self, text):
        if text not in self.notes:
            self.notes.append(text)

    def _in_own_dtypes(self, args):
        return [np.asarray(a, dtype=self.dtypes[i]) if i in self.checked else a
                for i, a in enumerate(args)]

    def _float64_fn(self):
        """fn for the float64 run: a float64 copy of a module that holds other floats."""
        torch = self.torch
        if self.fn64 is None:
            self.fn64 = self.fn
            if isinstance(self.fn, torch.nn.Module) and any(
                    t.is_floating_point() and t.dtype != torch.float64
                    for t in [*self.fn.parameters(), *self.fn.buffers()]):
                self.fn64 = copy.deepcopy(self.fn).to(torch.float64)
                self.notes.append("the float64 run used a float64 copy of the module "
                                  "(its parameters and buffers)")
        return self.fn64

    def _held(self, value, promote):
        """A fresh copy of an unchecked tensor input (in float64 in a float64 run)."""
        torch = self.torch
        if not isinstance(value, torch.Tensor):
            return value
        copy = value.detach().clone()
        if promote and copy.is_floating_point():
            copy = copy.to(torch.float64)
        return copy

    def _backward(self, *douts_and_cache):
        torch = self.torch
        *douts, graph = douts_and_cache
        checked, outputs = graph.checked, graph.outputs
        upstream = [torch.from_numpy(np.array(d)).to(dtype=out.dtype, device=out.device)
                    for d, out in zip(douts, outputs)]
        kept = [(k, out, up) for k, (out, up) in enumerate(zip(outputs, upstream))
                if out.requires_grad]
        grads = [None] * len(checked)
        if kept:
            before = [up.clone() for _, _, up in kept]
            with torch.enable_grad():
                grads = torch.autograd.grad([out for _, out, _ in kept], checked,
                                            [up for _, _, up in kept], retain_graph=True,
                                            allow_unused=True)
            for (k, _, up), saved in zip(kept, before):
                if not torch.equal(up, saved):
                    self._warn_modified(k, len(outputs))
        arrays = [np.zeros(tuple(t.shape), _numpy_dtype(t)) if g is None
                  else np.array(_as_array(g), copy=True) for t, g in zip(checked, grads)]
        return arrays[0] if len(arrays) == 1 else tuple(arrays)

    def _warn_modified(self, k, count):
        which = "its upstream gradient" if count == 1 else f"the upstream gradient of output {k}"
        warning = (f"the backward modified {which} in place: the gradient of any other "
                   "consumer of the same value would be corrupted (clone it before writing "
                   "into it)")
        if warning not in self.warnings:
            self.warnings.append(warning)


class _Graph:
    """The cache of `_TorchPair`: the checked input tensors and fn's outputs, whose
    autograd graph is kept (``retain_graph=True``) and read, never written, by every
    backward call; so every call is given this one object rather than a copy."""

    __slots__ = ("checked", "outputs")

    def __init__(self, checked, outputs):
        self.checked, self.outputs = checked, outputs

    def __deepcopy__(self, memo):
        return self


_NO_CONTEXT = contextlib.nullcontext()


def _with_signature(method, names):
    """A function calling `method` whose signature names the inputs (for the report)."""
    def forward(*args):
        return method(*args)

    forward.__signature__ = inspect.Signature(
        [inspect.Parameter(name, inspect.Parameter.POSITIONAL_ONLY) for name in names])
    return forward


def _device_of(torch, value):
    """The device of a tensor input (None for other inputs)."""
    return value.device if isinstance(value, torch.Tensor) else None


def _on_device(tensor, device):
    """`tensor` (made on the CPU) moved to `device`, the device its input came from."""
    if device is None or device.type == "cpu":
        return tensor
    return tensor.to(device)


def _floating_outputs(torch, result):
    """fn's floating-point output tensors, as a list; TypeError for anything else."""
    outputs = list(result) if isinstance(result, (tuple, list)) else [result]
    for k, out in enumerate(outputs):
        if not isinstance(out, torch.Tensor):
            raise TypeError(f"fn must return a tensor or a tuple of tensors; output {k} is "
                            f"{describe(out)}")
    floating = [out for out in outputs if out.is_floating_point() or out.is_complex()]
    if not floating:
        raise TypeError("fn returned no floating-point or complex tensor: "
                        + ", ".join(str(out.dtype) for out in outputs))
    return floating


def _as_array(tensor):
    """A tensor's values as a NumPy array (a view where torch allows one): its lazy
    negation or conjugation applied, a ZeroTensor (torch's gradient known to be 0)
    made zeros."""
    if tensor.is_neg() or tensor.is_conj() or tensor._is_zerotensor() or tensor.is_cuda:
        return tensor.detach().cpu().numpy(force=True)
    return tensor.detach().cpu().numpy()


class _Float32Draws:
    """A context in which torch's random functions called on float64 tensors draw in
    float32 and cast: the same numbers as the float32 run of the same fn draws from
    the same generator state (a dropout mask, ``torch.rand_like(t) < p``)."""

    def __init__(self, torch):
        from torch.overrides import TorchFunctionMode

        functional = torch.nn.functional
        like = (torch.rand_like, torch.randn_like)
        made = (torch.rand, torch.randn)
        in_place = (torch.Tensor.uniform_, torch.Tensor.normal_, torch.Tensor.bernoulli_,
                    torch.Tensor.exponential_)
        # Dropouts that multiply by a mask: the mask is drawn on float32 ones.
        dropouts = (functional.dropout, torch.dropout, functional.dropout1d,
                    functional.dropout2d, functional.dropout3d)
        float32, float64 = torch.float32, torch.float64

        class Mode(TorchFunctionMode):
            def __torch_function__(self, func, types, args=(), kwargs=None):
                kwargs = kwargs or {}
                if func in like and args and args[0].dtype == float64 and (
                        kwargs.get("dtype") in (None, float64)):
                    kwargs = {**kwargs, "dtype": float32}
                    return func(*args, **kwargs).to(float64)
                if func in made and kwargs.get("dtype") == float64:
                    return func(*args, **{**kwargs, "dtype": float32}).to(float64)
                if func in in_place and args and args[0].dtype == float64:
                    drawn = func(torch.empty_like(args[0], dtype=float32), *args[1:], **kwargs)
                    return args[0].copy_(drawn)
                if func is torch.bernoulli and args and args[0].dtype == float64:
                    return func(args[0].to(float32), *args[1:], **kwargs).to(float64)
                if func in dropouts and args and args[0].dtype == float64:
                    x, rest = args[0], args[1:]
                    kept = func(torch.ones_like(x, dtype=float32), *rest,
                                **{k: v for k, v in kwargs.items() if k != "inplace"})
                    return x * kept.to(float64)
                return func(*args, **kwargs)

        self.mode = Mode()

    def __enter__(self):
        return self.mode.__enter__()

    def __exit__(self, *exc_info):
        return self.mode.__exit__(*exc_info)


def _numpy_dtype(tensor):
    return np.dtype(str(tensor.dtype).replace("torch.", ""))


def _fn_name(fn):
    """The Function's, module's or function's name, for the report."""
    owner = getattr(fn, "__self__", None)
    if isinstance(owner, type):
        return owner.__name__
    name = getattr(fn, "__name__", None)
    return name or type(fn).__name__


def _input_names(fn, count):
    """Names of fn's inputs: from the Function's forward (after ctx), the module's
    forward, or the function's signature, else ``input<k>``; unique."""
    owner = getattr(fn, "__self__", None)
    target, skip = fn, 0
    if isinstance(owner, type) and hasattr(owner, "forward"):
        target, skip = owner.forward, 1
    elif not inspect.isfunction(fn) and not inspect.ismethod(fn) and hasattr(fn, "forward"):
        target = fn.forward
    try:
        params = list(inspect.signature(target).parameters.values())[skip:]
    except (TypeError, ValueError):
        params = []
    params = [p for p in params if p.kind in (p.POSITIONAL_ONLY, p.POSITIONAL_OR_KEYWORD)]
    names = [p.name for p in params[:count]]
    names += [f"input{k}" for k in range(len(names), count)]
    seen = set()
    for k, name in enumerate(names):
        if name in seen:
            names[k] = f"input{k}"
        seen.add(names[k])
    return names


def _describe_input(torch, value):
    if isinstance(value, torch.Tensor):
        return f"{str(value.dtype).replace('torch.', '')} tensor of shape {tuple(value.shape)}"
    return describe(value)


def _describe_inputs(torch, inputs):
    return "; ".join(f"inputs[{k}]: {_describe_input(torch, v)}"
                     for k, v in enumerate(inputs)) or "no inputs"


def _describe_unchecked(torch, report, pair):
    """Say why each unchecked input has no gradient (the checker sees only constants)."""
    for result in report.arguments:
        if result.status != NO_GRADIENT or result.name not in pair.names:
            continue
        value = pair.inputs[pair.names.index(result.name)]
        if isinstance(value, torch.Tensor) and value.is_floating_point():
            why = "requires_grad=False"
        elif isinstance(value, torch.Tensor):
            why = "not floating-point"
        else:
            why = "not a tensor"
        result.detail = f"{why}: {_describe_input(torch, value)}"
