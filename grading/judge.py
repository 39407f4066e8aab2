"""The trusted process that grades one assignment for a class: ``python -m grading.judge``
reads its job (JSON) on stdin and writes the outcomes (JSON) on stdout.

It runs the reference (solution) notebook cell by cell in an IPython shell. At each
exercise it runs the reference exercise cell, then, for every submission, forks a
*checker*: a copy of this process in which the names the exercise defines are bound to
proxies of the student's objects (`Remote`) and the exercise's check cell, hidden tests
included, runs at the student's seed. A proxy's call goes to the student's process (one
per submission, started from ``job["child"]``, in a sandbox), which has run the student's
own notebook up to that exercise and answers with plain data only (`grading.wire`). So
every comparison, every numeric gradient and every verdict is computed here, where no
student code ever ran; the student's process is told nothing it could lie about.

A layer's gradient check (`check_layer`, `assert_gradients`) takes its numeric side from
the reference forward: the student's forward is checked by value, the student's backward
against the reference. A graph the student built is checked against the reference graph
(`check_graph`).

The job: ``{"cells": [{"kind", "source", "exercise", "check"}], "timeout", "jobs",
"child": [argv], "env": {...}, "submissions": [{"seed", "cells": [{"source",
"exercise", "check"}]}]}``. The outcome per submission: ``{exercise id: {"status", "feedback"}}``
and ``"setup"``: what went wrong in the notebook's other cells.
"""

import ast
import inspect
import json
import os
import signal
import subprocess
import sys
import time
import traceback
import types

if __name__ == "__main__":
    # Run as a file: its folder is not a package root; an installed gatelab stays the one
    # imported, and a checkout that is not installed still finds its own.
    from pathlib import Path
    if sys.path and Path(sys.path[0]).resolve() == Path(__file__).resolve().parent:
        del sys.path[0]
    sys.path.append(str(Path(__file__).resolve().parents[1]))

import numpy as np  # noqa: E402

from grading.channel import ChildBroken, Endpoint, StudentError, describe  # noqa: E402
from grading.sandbox import die_with_parent  # noqa: E402
from grading.wire import Ref, WireError, read_message, write_message  # noqa: E402

SEED_VARIABLE = "GATELAB_SEED"
FEEDBACK_CHARACTERS = 400
POLL_SECONDS = 0.005
STARTUP_SECONDS = 60
# The packages whose objects a student's function may be handed (a model to update, a
# graph): their public attributes and methods, and dicts and lists, nothing else.
SHARED_PACKAGES = ("layers", "graph", "checks", "training")
DICT_VIEWS = (type({}.items()), type({}.keys()), type({}.values()))


def make_shell():
    """An IPython shell without history, drawing nothing: grading shows no figures."""
    from IPython.core.interactiveshell import InteractiveShell
    from traitlets.config import Config

    config = Config()
    config.HistoryManager.enabled = False
    shell = InteractiveShell.instance(config=config)
    shell.display_formatter.active_types = ["text/plain"]
    # Nobody reads a traceback here, and formatting one costs a failing exercise about a
    # second: the exception itself is what `summary` reads.
    shell.showtraceback = lambda *args, **kwargs: None
    shell.showsyntaxerror = lambda *args, **kwargs: None
    shell.register_magic_function(lambda line: None, magic_name="matplotlib")
    shell.events.register("post_run_cell", _close_figures)
    return shell


def _close_figures(result):
    if "matplotlib.pyplot" in sys.modules:
        sys.modules["matplotlib.pyplot"].close("all")


def run_cell(shell, source):
    """Run `source` in `shell`; return the exception it raised, or None."""
    result = shell.run_cell(source, store_history=False)
    return result.error_before_exec or result.error_in_exec


def summary(error):
    """One line saying what `error` (an exception from a check cell) means for the
    student."""
    report = getattr(error, "report", None)
    if report is not None and hasattr(report, "arguments"):     # checks.GradientCheckError
        wrong = [f"{a.name}: {a.hint or f'max rel err {a.max_rel_error:.1e}'}"
                 for a in report.arguments if a.status == "FAIL"]
        text = f"gradient check of {report.layer} failed: " + "; ".join(
            wrong + list(report.problems))
    elif isinstance(error, SyntaxError):
        text = f"SyntaxError: {error.msg} (line {error.lineno} of the exercise cell)"
    elif isinstance(error, AssertionError):
        lines = [line for line in str(error).splitlines() if line.strip()]
        text = lines[0] if lines else f"a check failed: {_failing_line(error)}"
    elif isinstance(error, StudentError):
        text = str(error)
    else:
        lines = str(error).strip().splitlines()
        text = type(error).__name__ + (f": {lines[0]}" if lines else "")
    return text[:FEEDBACK_CHARACTERS]


def _failing_line(error):
    frames = traceback.extract_tb(error.__traceback__)
    return frames[-1].line if frames and frames[-1].line else "an assert without a message"


def defined_names(source):
    """The names a cell binds at its top level (functions, classes, assignments)."""
    names = []
    for node in ast.parse(source).body:
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
            targets = [node.name]
        elif isinstance(node, (ast.Assign, ast.AnnAssign, ast.AugAssign)):
            found = node.targets if isinstance(node, ast.Assign) else [node.target]
            targets = [n.id for t in found for n in ast.walk(t) if isinstance(n, ast.Name)]
        else:
            continue
        names += [name for name in targets if name not in names]
    return names


class Remote(Ref):
    """A student's object in the checker: calls, public attributes and items go to the
    student's process and come back as plain data (or as another Remote). It has no
    __array__, __eq__ or numeric methods: a check that compares it fails."""

    def __init__(self, number, endpoint, is_callable, name="student's object"):
        super().__init__(number)
        self.__dict__.update(_endpoint=endpoint, _callable=is_callable, __name__=name,
                             __qualname__=name)

    def __call__(self, *args, **kwargs):
        endpoint = self._endpoint
        return endpoint.request("call", target=endpoint.encode(self),
                                args=endpoint.encode(list(args)),
                                kwargs=endpoint.encode(kwargs))

    def __getattr__(self, name):
        # A student's function has no attributes here: what it would claim of itself
        # (which arguments are differentiable, say) is not the grader's to believe.
        if name.startswith("_") or self._callable:
            raise AttributeError(name)
        return self._endpoint.request("attr", target=self._endpoint.encode(self), name=name)

    def __getitem__(self, key):
        return self._endpoint.request("item", target=self._endpoint.encode(self),
                                      key=self._endpoint.encode(key))

    def __repr__(self):
        return f"<{self.__name__}>"


class Undefined:
    """A name the reference exercise defines and the student's cell does not: any use of
    it in a check raises, never the reference's value."""

    def __init__(self, name):
        self.__dict__["_name"] = name

    def _missing(self, *args, **kwargs):
        raise NameError(f"the exercise's cell does not define {self._name}")

    __call__ = __getitem__ = __iter__ = __len__ = __bool__ = __float__ = _missing
    __repr__ = __str__ = __format__ = _missing

    def __getattr__(self, name):
        if name.startswith("__"):
            raise AttributeError(name)
        self._missing()


class ByReference:
    """A dict or list of the grader's handed to the student as a handle, so that what the
    student writes into it (a model's params) is seen by the check."""

    def __init__(self, value):
        self.value = value


class LazyCache:
    """The cache of a student's layer for a backward call: the student's forward runs
    (in the student's process) when the backward is called, at the same arguments."""

    def __init__(self, forward, args, kwargs):
        self.forward, self.args, self.kwargs = forward, args, kwargs

    def resolve(self):
        result = self.forward(*self.args, **self.kwargs)
        if type(result) is not tuple or len(result) != 2:
            raise AssertionError(f"{self.forward.__name__} must return (out, cache)")
        return result[1]


def allowed(value):
    """Whether the student's process may hold a handle on `value` of the grader's."""
    if type(value) in (dict, list):
        return True
    if isinstance(value, types.MethodType):
        return allowed(value.__self__)
    if isinstance(value, types.BuiltinMethodType):
        return type(value.__self__) in (dict, list)
    if isinstance(value, types.FunctionType):
        # The library's layers are pure functions of plain data: a student's function
        # may be handed one to call (rnn_forward), computed here.
        return (value.__module__ or "").split(".")[0] == "layers"
    if isinstance(value, (type, types.ModuleType, types.CodeType, types.FrameType)):
        return False
    return type(value).__module__.split(".")[0] in SHARED_PACKAGES


class Checker(Endpoint):
    """The grader's side of one student's process, in a checker."""

    def proxy(self, number, is_callable):
        return Remote(number, self, is_callable)

    def encode(self, value):
        return super().encode(self._resolved(value))

    def _resolved(self, value):
        if isinstance(value, LazyCache):
            return value.resolve()
        if isinstance(value, (tuple, list)) and type(value) in (tuple, list):
            return type(value)(self._resolved(item) for item in value)
        if type(value) is dict:
            return {key: self._resolved(item) for key, item in value.items()}
        return value

    def keep(self, value):
        if isinstance(value, ByReference):
            value = value.value
        if not allowed(value):
            raise TypeError(f"the grader does not hand {type(value).__name__} objects to "
                            "student code")
        return super().keep(value)

    def handle(self, message):
        op = message["op"]
        target = self.decode(message.get("target"))
        if isinstance(target, Remote) or not allowed(target):
            raise WireError(f"a request {op!r} on something the grader did not hand out")
        name = message.get("name")
        if op in ("attr", "setattr") and (type(name) is not str or name.startswith("_")):
            raise AttributeError(f"{name!r}: only public attributes")
        if op == "attr":
            value = getattr(target, name)
            return ByReference(value) if type(value) in (dict, list) else value
        if op == "setattr":
            # Only data the object already holds (a model's params): never a method, a
            # path or a callback that the grader's code would then use.
            if not isinstance(getattr(target, name, None), (dict, list, np.ndarray)):
                raise AttributeError(f"{name!r}: only a dict or array attribute can be set")
            setattr(target, name, self.decode(message["value"]))
            return None
        if op == "item":
            value = target[self.decode(message["key"])]
            return ByReference(value) if type(value) in (dict, list) else value
        if op == "setitem":
            target[self.decode(message["key"])] = self.decode(message["value"])
            return None
        if op == "list":
            return list(target)
        if op == "call" and callable(target):
            value = target(*self.decode(message["args"]), **self.decode(message["kwargs"]))
            return list(value) if isinstance(value, DICT_VIEWS) else value
        raise WireError(f"unexpected request {op!r}")


def trusted_checks(namespace, reference):
    """Replace the checker functions in `namespace` by ones that judge a student's layer
    or graph against the reference (module docstring); other arguments pass through."""
    import checks

    def paired(forward):
        right = reference.get(getattr(forward, "__name__", None))
        if not isinstance(forward, Remote) or not callable(right):
            return forward

        def forward_for_check(*args, **kwargs):
            out, _ = right(*args, **kwargs)
            return out, LazyCache(forward, args, kwargs)

        forward_for_check.__name__ = forward.__name__
        forward_for_check.__signature__ = inspect.signature(right)
        return forward_for_check

    def check_layer(forward, backward, *args, **kwargs):
        return checks.check_layer(paired(forward), backward, *args, **kwargs)

    def assert_gradients(forward, backward, *args, **kwargs):
        return checks.assert_gradients(paired(forward), backward, *args, **kwargs)

    def check_graph(graph, *args, raise_on_fail=False, **feeds):
        right = reference.get(getattr(graph, "__name__", None))
        if not isinstance(graph, Remote):
            return checks.check_graph(graph, *args, raise_on_fail=raise_on_fail, **feeds)
        if right is None:
            raise AssertionError("this graph cannot be checked")
        return graph_against_reference(graph, right, feeds)

    for name, function in (("check_layer", check_layer), ("assert_gradients",
                           assert_gradients), ("check_graph", check_graph)):
        if name in namespace:
            namespace[name] = function


def graph_against_reference(graph, right, feeds, step=1e-6):
    """Assert that the student's graph computes the reference graph's output, and the
    gradients of central differences of the reference graph's output, at `feeds`."""
    name = graph.__name__
    got, expected = graph.forward(**feeds), right.forward(**feeds)
    assert np.shape(got) == np.shape(expected) and np.allclose(
        got, expected, rtol=1e-10, atol=1e-12), f"{name}: the output is wrong at {feeds}"
    grads = graph.backward()
    assert type(grads) is dict and set(feeds) <= set(grads), \
        f"{name}.backward() returns a gradient for every input"
    for wrt, value in feeds.items():
        numeric = np.zeros(np.shape(value))
        for index in np.ndindex(numeric.shape):
            plus, minus = np.array(value, dtype=float), np.array(value, dtype=float)
            plus[index] += step
            minus[index] -= step
            numeric[index] = (np.sum(right.forward(**{**feeds, wrt: plus[()]}))
                              - np.sum(right.forward(**{**feeds, wrt: minus[()]}))) / (2 * step)
        assert np.shape(grads[wrt]) == numeric.shape and np.allclose(
            grads[wrt], numeric, rtol=1e-5, atol=1e-8), \
            f"gradient check of {name} failed: the gradient of {wrt} is wrong"


class Session:
    """One submission's process, as the judge sees it: where its notebook has got to."""

    def __init__(self, submission, job):
        self.cells, self.seed = submission["cells"], submission["seed"]
        self.command, self.env = job["child"], job["env"]
        self.process, self.position = None, -1
        self.skipped, self.setup, self.answered = set(), [], True

    def start(self):
        if self.process is None:
            to_child, self.write_fd = os.pipe()
            self.read_fd, from_child = os.pipe()
            self.process = subprocess.Popen(
                self.command, stdin=to_child, stdout=from_child, stderr=subprocess.DEVNULL,
                env=self.env, cwd="/", start_new_session=True, preexec_fn=die_with_parent)
            os.close(to_child)
            os.close(from_child)
            self.position = -1

    def stop(self):
        """Kill the process and everything it started (in a sandbox, the whole PID
        namespace goes with it)."""
        if self.process is not None:
            try:
                os.killpg(self.process.pid, signal.SIGKILL)
            except (ProcessLookupError, PermissionError):
                pass
            self.process.kill()
            self.process.wait()
            os.close(self.read_fd)
            os.close(self.write_fd)
            self.process = None


def check_submission(shell, session, exercise, check, reference, timeout):
    """In a checker: bring the student's notebook up to `exercise`, then run `check`.

    Returns
    -------
    dict
        {"status", "feedback", "position", "skip": [cell indices], "setup": [lines],
        "broken": bool}: the outcome, and what the judge must remember of the session.
    """
    endpoint = Checker(session.read_fd, session.write_fd)
    state = {"position": session.position, "skip": [], "setup": [], "broken": False,
             "answered": session.answered}
    stop = next(i for i, c in enumerate(session.cells) if c["exercise"] == exercise)
    for index in range(session.position + 1, stop + 1):
        if index in session.skipped:
            continue
        # A process that has run nothing yet is still starting (Python, NumPy, gatelab):
        # that is not the student's time.
        starting = STARTUP_SECONDS if state["position"] == -1 else 0
        endpoint.deadline = time.monotonic() + timeout + starting
        try:
            endpoint.request("run", source=session.cells[index]["source"])
            error = None
        except StudentError as exc:
            error = str(exc)
        except ChildBroken as exc:
            state.update(skip=[index], broken=True)
            if index == stop:
                return {**state, "status": "timeout" if exc.timed_out else "error",
                        "feedback": _timed_out(timeout) if exc.timed_out else str(exc)}
            state["setup"].append(f"code cell {index + 1} stopped its process: {exc}")
            return {**state, "status": "error", "feedback":
                    "not graded: the notebook's process stopped before this exercise"}
        state["position"] = index
        if index == stop and error is not None:
            return {**state, "status": "error", "feedback": error, "answered": False}
        cell = session.cells[index]
        if error is not None and cell["exercise"] is not None:
            state["answered"] = False
        # A cell that fails after an unfinished exercise may fail because of it: only a
        # failure before any exercise did is the notebook's own.
        elif error is not None and not cell["check"] and state["answered"]:
            state["setup"].append(f"code cell {index + 1} raised {error}")
    endpoint.deadline = time.monotonic() + timeout
    try:
        for name, right in reference.items():
            try:
                value = endpoint.request("get", name=name)
            except StudentError:
                # Not an error yet: the reference's helper variables need not exist in
                # the student's answer; only a check that uses the name fails.
                value = Undefined(name)
            if isinstance(value, Remote):
                value.__dict__.update(__name__=name, __qualname__=name)
                if callable(right):
                    try:
                        value.__dict__["__signature__"] = inspect.signature(right)
                    except (TypeError, ValueError):
                        pass
            shell.user_ns[name] = value
        trusted_checks(shell.user_ns, reference)
        os.environ[SEED_VARIABLE] = str(session.seed)
        error = run_cell(shell, check)
    except ChildBroken as exc:
        error = exc
    if isinstance(error, ChildBroken):
        state.update(broken=True)
        if error.timed_out:
            return {**state, "status": "timeout", "feedback": _timed_out(timeout)}
        return {**state, "status": "error", "feedback": str(error)}
    if error is None:
        return {**state, "status": "pass", "feedback": "all checks passed"}
    status = "fail" if isinstance(error, AssertionError) else "error"
    return {**state, "status": status, "feedback": summary(error)}


def _timed_out(timeout):
    return f"did not finish within {timeout:g} s (an endless loop?)"


def run_checkers(shell, runs, check, reference, exercise, timeout, jobs):
    """Fork one checker per session in `runs` [(key, session)], at most `jobs` at once;
    key -> outcome (`check_submission`)."""
    pending, running, results = list(runs), {}, {}
    while pending or running:
        while pending and len(running) < jobs:
            key, session = pending.pop(0)
            session.start()
            read_end, write_end = os.pipe()
            pid = os.fork()
            if pid == 0:
                _checker(shell, session, exercise, check, reference, timeout, write_end)
            os.close(write_end)
            limit = timeout * (len(session.cells) + 2) + STARTUP_SECONDS + 10
            running[pid] = (key, session, read_end, time.monotonic() + limit)
        time.sleep(POLL_SECONDS)
        for pid, (key, session, pipe, end) in list(running.items()):
            done, status = os.waitpid(pid, os.WNOHANG)
            if not done and time.monotonic() < end:
                continue
            if not done:
                os.kill(pid, signal.SIGKILL)
                os.waitpid(pid, 0)
            try:
                outcome = read_message(pipe, time.monotonic() + 1)
            except (EOFError, TimeoutError, WireError):
                outcome = {"status": "error", "feedback": "the grader's checker stopped "
                           f"(status {status}) while checking this exercise",
                           "position": session.position, "skip": [], "setup": [],
                           "broken": True}
            os.close(pipe)
            session.position = outcome["position"]
            session.skipped.update(outcome["skip"])
            session.setup += outcome["setup"]
            session.answered = outcome.get("answered", session.answered)
            if outcome["broken"]:
                session.stop()
            results[key] = {"status": outcome["status"], "feedback": outcome["feedback"]}
            del running[pid]
    return results


def _checker(shell, session, exercise, check, reference, timeout, pipe):
    """In the forked checker: check, write the outcome to the judge, exit."""
    die_with_parent()
    try:
        outcome = check_submission(shell, session, exercise, check, reference, timeout)
    except BaseException as exc:     # noqa: BLE001 - the checker must always report
        outcome = {"status": "error", "feedback": f"the grader failed: {describe(exc)}",
                   "position": session.position, "skip": [], "setup": [], "broken": True}
    try:
        write_message(pipe, outcome)
    finally:
        os._exit(0)


def grade(job):
    """Run `job` (module docstring); one dict of outcomes per submission."""
    shell = make_shell()
    cells = job["cells"]
    sessions = [Session(submission, job) for submission in job["submissions"]]
    results = [{} for _ in sessions]
    last = max((i for i, cell in enumerate(cells) if cell.get("check")), default=-1)
    broken = None
    try:
        # Every submission's process starts now, while the reference notebook runs: their
        # start (Python, NumPy, gatelab) overlaps with it and with each other.
        for session in sessions:
            session.start()
        for index, cell in enumerate(cells[:last + 1]):
            if cell["kind"] != "code":
                continue
            exercise = cell.get("exercise")
            if broken is None:
                error = run_cell(shell, cell["source"])
                if error is not None:
                    broken = (f"not graded: the reference solution fails in its cell "
                              f"{index} ({summary(error)})")
            if exercise is None:
                continue
            check = next(c["source"] for c in cells[index + 1:] if c.get("check") == exercise)
            reference = {name: shell.user_ns.get(name) for name in defined_names(cell["source"])}
            runs = []
            for key, session in enumerate(sessions):
                if broken is not None:
                    results[key][exercise] = {"status": "error", "feedback": broken}
                elif not any(c["exercise"] == exercise for c in session.cells):
                    results[key][exercise] = {"status": "missing", "feedback":
                                              "the exercise's cell is not in the notebook"}
                else:
                    runs.append((key, session))
            outcomes = run_checkers(shell, runs, check, reference, exercise, job["timeout"],
                                    job["jobs"])
            for key, outcome in outcomes.items():
                results[key][exercise] = outcome
    finally:
        for session in sessions:
            session.stop()
    for result, session in zip(results, sessions):
        result["setup"] = list(dict.fromkeys(session.setup))     # a replay finds them again
    return results


def main():
    job = json.load(sys.stdin)
    out = os.dup(1)
    # The reference notebook prints; only the outcomes go to the grader.
    null = os.open(os.devnull, os.O_WRONLY)
    os.dup2(null, 1)
    results = grade(job)
    with os.fdopen(out, "w", encoding="utf-8") as file:
        json.dump(results, file)
    return 0


if __name__ == "__main__":
    sys.exit(main())
