"""The process that runs one assignment's exercises for a class: `notebooks.grade` starts
one per assignment, as ``python notebooks/runner.py JOB RESULT`` (two JSON files).

It executes the reference (solution) notebook cell by cell in an IPython shell, the
shell a Jupyter kernel runs. On reaching an exercise's cell it forks one child per
submission, so every child starts from the state the reference solutions of the
exercises before it left. A child runs the student's version of the exercise cell, then
the exercise's check cell with its hidden tests, at the student's seed (in the
environment variable ``GATELAB_SEED``), writes its outcome to a pipe and exits. The
runner kills a child that runs past the timeout, together with anything it started,
and reports a child that dies without an outcome (``os._exit``, a crash). When every
child of the exercise is done, the runner runs the reference cell itself and goes on.
So each exercise is graded on its own and costs the class one run of the notebook plus
the students' exercise cells.

The job file holds ``{"cells": [{"kind", "source", "exercise", "check"}], "timeout",
"jobs", "submissions": [{"seed", "answers": {exercise id: source or null}}]}``; the
result file gets one ``{exercise id: {"status", "feedback"}}`` per submission. Needs
``os.fork`` (Linux, macOS).
"""

import json
import os
import signal
import sys
import time
import traceback
from pathlib import Path

HERE = Path(__file__).resolve().parent

SEED_VARIABLE = "GATELAB_SEED"
# A child's outcome must fit in a pipe's buffer (64 KiB on Linux, 16 KiB on macOS) so
# that the child never blocks writing it before it exits.
FEEDBACK_CHARACTERS = 400
POLL_SECONDS = 0.005
ALARM_MARGIN_SECONDS = 5


def make_shell():
    """An IPython shell without history, drawing nothing: grading shows no figures."""
    from IPython.core.interactiveshell import InteractiveShell
    from traitlets.config import Config

    config = Config()
    config.HistoryManager.enabled = False
    shell = InteractiveShell.instance(config=config)
    shell.display_formatter.active_types = ["text/plain"]
    # Nobody reads a traceback here, and formatting one (stack_data, pygments) costs a
    # failing exercise about a second: the exception itself is what `summary` reads.
    shell.showtraceback = lambda *args, **kwargs: None
    shell.showsyntaxerror = lambda *args, **kwargs: None
    # Figures are drawn by the Agg backend and closed after every cell; the notebooks'
    # "%matplotlib inline" asks for a frontend that is not there.
    shell.register_magic_function(lambda line: None, magic_name="matplotlib")
    shell.events.register("post_run_cell", _close_figures)
    _load_fonts()
    return shell


def _load_fonts():
    """Draw some text once, before any fork: matplotlib loads its fonts on the first
    text it lays out, and every child would otherwise pay for that again."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    figure = Figure()
    figure.text(0.5, 0.5, "gatelab")
    FigureCanvasAgg(figure).draw()


def _close_figures(result):
    if "matplotlib.pyplot" in sys.modules:
        sys.modules["matplotlib.pyplot"].close("all")


def run_cell(shell, source):
    """Run `source` in `shell`; return the exception it raised, or None."""
    result = shell.run_cell(source, store_history=False)
    return result.error_before_exec or result.error_in_exec


def summary(error):
    """One line saying what `error` (an exception from a cell) means for the student."""
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
    else:
        lines = str(error).strip().splitlines()
        text = type(error).__name__ + (f": {lines[0]}" if lines else "")
    return text[:FEEDBACK_CHARACTERS]


def _failing_line(error):
    frames = traceback.extract_tb(error.__traceback__)
    return frames[-1].line if frames and frames[-1].line else "an assert without a message"


def outcome(shell, answer, check):
    """Run the student's exercise cell `answer`, then the `check` cell: the outcome."""
    error = run_cell(shell, answer)
    if error is None:
        error = run_cell(shell, check)
        if error is None:
            return {"status": "pass", "feedback": "all checks passed"}
        if isinstance(error, AssertionError):
            return {"status": "fail", "feedback": summary(error)}
    return {"status": "error", "feedback": summary(error)}


def _child(shell, answer, check, seed, pipe, timeout):
    """In a forked child: run the exercise, write its outcome to `pipe`, exit."""
    try:
        os.setpgid(0, 0)            # one group: a kill reaches whatever the student started
        # The runner kills the child at the timeout; the alarm ends it even if the
        # runner itself was stopped first (Ctrl-C), so no endless loop outlives grading.
        signal.alarm(int(timeout) + ALARM_MARGIN_SECONDS)
        os.environ[SEED_VARIABLE] = str(seed)
        result = outcome(shell, answer, check)
    except BaseException as exc:    # noqa: BLE001 - the child must always report and exit
        result = {"status": "error", "feedback": summary(exc)}
    try:
        os.write(pipe, json.dumps(result).encode())
    finally:
        os._exit(0)


def _died(status):
    if os.WIFSIGNALED(status):
        name = signal.Signals(os.WTERMSIG(status)).name
        return f"the kernel died (killed by {name}) while running this exercise"
    return (f"the kernel died (it exited with status {os.WEXITSTATUS(status)}) while "
            "running this exercise")


def _timed_out(timeout):
    return {"status": "timeout",
            "feedback": f"did not finish within {timeout:g} s (an endless loop?)"}


def _kill_group(pid):
    """Kill the child's process group: the child, and whatever its code started."""
    try:
        os.killpg(pid, signal.SIGKILL)
    except (ProcessLookupError, PermissionError):
        pass


def _collect(pid, pipe, status, timeout):
    """The outcome a finished child wrote, or why there is none."""
    _kill_group(pid)
    chunks = []
    while True:
        try:
            chunk = os.read(pipe, 65536)
        except BlockingIOError:
            break
        if not chunk:
            break
        chunks.append(chunk)
    os.close(pipe)
    try:
        return json.loads(b"".join(chunks))
    except ValueError:
        if os.WIFSIGNALED(status) and os.WTERMSIG(status) == signal.SIGALRM:
            return _timed_out(timeout)          # its own alarm ended it first
        return {"status": "error", "feedback": _died(status)}


def run_children(shell, runs, check, timeout, jobs):
    """Fork one child per (key, answer source, seed) in `runs`, at most `jobs` at once.

    Returns
    -------
    dict
        key -> {"status", "feedback"}.
    """
    pending, running, results = list(runs), {}, {}
    while pending or running:
        while pending and len(running) < jobs:
            key, answer, seed = pending.pop(0)
            read_end, write_end = os.pipe()
            os.set_blocking(read_end, False)
            pid = os.fork()
            if pid == 0:
                os.close(read_end)
                _child(shell, answer, check, seed, write_end, timeout)
            os.close(write_end)
            try:
                os.setpgid(pid, pid)     # also here: the child may not have run yet
            except (PermissionError, ProcessLookupError):
                pass
            running[pid] = (key, read_end, time.monotonic())
        time.sleep(POLL_SECONDS)
        for pid, (key, pipe, start) in list(running.items()):
            done, status = os.waitpid(pid, os.WNOHANG)
            if not done and time.monotonic() - start > timeout:
                _kill_group(pid)
                os.waitpid(pid, 0)
                os.close(pipe)
                results[key] = _timed_out(timeout)
            elif done:
                results[key] = _collect(pid, pipe, status, timeout)
            else:
                continue
            del running[pid]
    return results


def grade(job):
    """Run `job` (the dict of the module docstring); one dict of outcomes per submission."""
    shell = make_shell()
    cells, submissions = job["cells"], job["submissions"]
    results = [{} for _ in submissions]
    last = max((i for i, cell in enumerate(cells) if cell.get("check")), default=-1)
    broken = None
    for index, cell in enumerate(cells[:last + 1]):
        if cell["kind"] != "code":
            continue
        exercise = cell.get("exercise")
        if exercise is not None:
            check = next(c["source"] for c in cells[index + 1:] if c.get("check") == exercise)
            runs = []
            for key, submission in enumerate(submissions):
                answer = submission["answers"].get(exercise)
                if broken is not None:
                    results[key][exercise] = {"status": "error", "feedback": broken}
                elif answer is None:
                    results[key][exercise] = {"status": "missing", "feedback":
                                              "the exercise's cell is not in the notebook"}
                else:
                    runs.append((key, answer, submission["seed"]))
            for key, result in run_children(shell, runs, check, job["timeout"],
                                            job["jobs"]).items():
                results[key][exercise] = result
        if broken is None:
            error = run_cell(shell, cell["source"])
            if error is not None:
                broken = (f"not graded: the reference solution fails in its cell {index} "
                          f"({summary(error)})")
    return results


def command(job_path, result_path):
    """The command line that runs this module on a job: the file as a script, so that
    the repository comes after the installed packages on the path (see `main`)."""
    return [sys.executable, str(HERE / "runner.py"), str(job_path), str(result_path)]


def main(argv=None):
    # The notebooks import layers, graph, checks, training: an installed gatelab stays
    # the one imported, and a checkout that is not installed still finds its own.
    if sys.path and Path(sys.path[0]).resolve() == HERE:
        del sys.path[0]
    sys.path.append(str(HERE.parent))
    job_path, result_path = argv if argv is not None else sys.argv[1:]
    with open(job_path, encoding="utf-8") as file:
        job = json.load(file)
    results = grade(job)
    with open(result_path, "w", encoding="utf-8") as file:
        json.dump(results, file)
    return 0


if __name__ == "__main__":
    sys.exit(main())
