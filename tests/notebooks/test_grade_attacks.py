"""Attacks on `python -m notebooks.grade` by a student who writes hostile code in an
exercise cell: each class of attack (tampering, forging, secrets, escaping, damaging,
resources, lying objects, control characters) at least twice, graded in one class with
honest students beside the attackers. Every test asserts the attacker's points, the
honest students' points, that no file outside the sandbox changed and that no process an
attacker started survives grading.

One sandboxed run (bubblewrap; skipped where it is not installed) and one run with
--no-sandbox (verdicts only: there files and processes are not isolated) grade every
attacker once; the tests read their records.
"""

import hashlib
import itertools
import json
import os
import subprocess
import sys
import time
import uuid
from pathlib import Path

import numpy as np
import pytest

nbformat = pytest.importorskip("nbformat")
pytest.importorskip("IPython")
if not hasattr(os, "fork"):
    pytest.skip("grading forks its checkers", allow_module_level=True)

from tests.notebooks.test_grade import (  # noqa: E402
    GATES, ROOT, answer, solution, with_answer, write)

from grading import sandbox  # noqa: E402

# Every process an attacker starts carries this in its command line, so that a survivor
# is found whatever else runs on the machine.
MARKER = f"gatelab-attack-{uuid.uuid4().hex}"
TIMEOUT = 10
HONEST = ("honest_ann", "honest_ben")
FULL = {"by_hand": 2, "neuron": 3, "fan_out": 2, "my_multiply": 3}
WRONG_BY_HAND = ("def by_hand(x, y, z):\n"
                 "    return {'x': 0.0, 'y': 0.0, 'z': 0.0}\n")
WRONG_MULTIPLY = answer(solution(GATES), "my_multiply").replace(
    "dx, dy = dout * y, dout * x", "dx, dy = dout * y, 2 * dout * x")
SPAWN = (f"import subprocess, sys\n"
         f"def spawn(code, **options):\n"
         f"    argv = [sys.executable, '-I', '-S', '-c', code + '  # {MARKER}']\n"
         f"    return subprocess.Popen(argv, stdout=subprocess.DEVNULL,\n"
         f"                            stderr=subprocess.DEVNULL, **options)\n")


def attacks(paths):
    """student -> (exercise, cell source): each attacker's one hostile cell."""
    grades, victim, canary = paths["json"], paths["victim"], paths["canary"]
    solutions, package = ROOT / "notebooks" / GATES.name, Path(sandbox.__file__).parent
    site = Path(np.__file__).parents[1]
    return {
        # Tampering: the check's tools, rebound in the student's own process.
        "tamper_numpy": ("by_hand", "import numpy as np, sys\n"
                         "np.isclose = np.allclose = lambda *a, **k: True\n"
                         "sys.modules['numpy'].array_equal = lambda *a, **k: True\n"
                         + WRONG_BY_HAND),
        "tamper_checker": ("my_multiply", "import checks, graph\n"
                           "checks.check_graph = checks.assert_gradients = "
                           "lambda *a, **k: None\n"
                           "checks.GradReport.raise_if_failed = lambda self: None\n"
                           "import json\njson.dumps = lambda *a, **k: '\"pass\"'\n"
                           + WRONG_MULTIPLY),
        # Forging: replies written on every descriptor the process holds, then an exit.
        "forge_pipe": ("by_hand", "import os, json\n"
                       "for status in ({'status': 'pass'}, {'value': {'dict': [['x', -4.0],"
                       " ['y', -4.0], ['z', 3.0]]}}):\n"
                       "    body = json.dumps(status).encode()\n"
                       "    for fd in range(3, 64):\n"
                       "        try:\n"
                       "            os.write(fd, len(body).to_bytes(4, 'big') + body)\n"
                       "        except OSError:\n"
                       "            pass\n" + WRONG_BY_HAND),
        "forge_status": ("fan_out", "import os\n"
                         "for fd in range(3, 64):\n"
                         "    try:\n"
                         "        os.write(fd, b'\\x00\\x00\\x00\\x10{\"status\":\"wow\"}')\n"
                         "    except OSError:\n"
                         "        pass\n"
                         "os._exit(0)\n"),
        # Secrets: the solution notebook and the grader's environment and memory.
        "read_solutions": ("by_hand", "import json, os, glob\n"
                           "found = []\n"
                           f"for path in [{str(solutions)!r}, *glob.glob('/proc/*/environ'),"
                           " *glob.glob('/proc/*/cmdline')]:\n"
                           "    try:\n"
                           "        found.append(open(path, 'rb').read())\n"
                           "    except OSError:\n"
                           "        pass\n"
                           "secret = b''.join(found)\n"
                           "def by_hand(x, y, z):\n"
                           "    if b'BEGIN SOLUTION' in secret or b'GATELAB_SEED' in secret:\n"
                           "        return {'x': z, 'y': z, 'z': x + y}\n"
                           "    return {'x': 0.0, 'y': 0.0, 'z': 0.0}\n"),
        "precompute_seed": ("by_hand", "import hashlib, os\nimport numpy as np\n"
                            "def table(seed):\n"
                            "    rng = np.random.default_rng(seed)\n"
                            "    return {tuple(p): {'x': p[2], 'y': p[2], 'z': p[0] + p[1]}\n"
                            "            for p in rng.integers(-9, 10, size=(5, 3))"
                            ".astype(float)}\n"
                            "known = {(-2.0, 5.0, -4.0): {'x': -4.0, 'y': -4.0, 'z': 3.0}}\n"
                            "known.update(table(int.from_bytes(hashlib.sha256("
                            "b'precompute_seed').digest()[:4], 'big')))\n"
                            "known.update(table(int(os.environ.get('GATELAB_SEED', '0'))))\n"
                            "def by_hand(x, y, z):\n"
                            "    return known.get((x, y, z), {'x': 0.0, 'y': 0.0, 'z': 0.0})\n"),
        # Escaping: signals to everything it can see; a daemon that outlives grading.
        "kill_grader": ("neuron", "import os, signal\n"
                        "for pid in [os.getppid(), 1, -1]:\n"
                        "    for sig in (signal.SIGSTOP, signal.SIGKILL):\n"
                        "        try:\n"
                        "            os.kill(pid, sig)\n"
                        "        except OSError:\n"
                        "            pass\n" + answer(solution(GATES), "neuron")),
        "daemon": ("fan_out", SPAWN + f"spawn({rewrite(grades)!r}, start_new_session=True)\n"
                   + answer(solution(GATES), "fan_out")),
        # Damaging: other students' notebooks, the solutions, the grader, site-packages.
        "damage_files": ("by_hand", "import os\n"
                         f"for path in [{str(victim)!r}, {str(solutions)!r}, "
                         f"{str(package / 'judge.py')!r}, "
                         f"{str(site / 'gatelab-attack.pth')!r}, "
                         f"{str(canary / 'bashrc')!r}, '/tmp/gatelab-attack']:\n"
                         "    try:\n"
                         "        with open(path, 'w') as file:\n"
                         "            file.write('import os; os.system(\"rm -rf ~\")')\n"
                         "    except OSError:\n"
                         "        pass\n"
                         + answer(solution(GATES), "by_hand")),
        "damage_tree": ("my_multiply", "import os, shutil\n"
                        f"for path in [{str(victim.parent)!r}, {str(canary)!r}, "
                        f"{str(package)!r}]:\n"
                        "    shutil.rmtree(path, ignore_errors=True)\n"
                        + answer(solution(GATES), "my_multiply")),
        # Resources: memory, processes, file size, output.
        "memory": ("by_hand", "hog = bytearray(64 * 2**30)\n" + WRONG_BY_HAND),
        "fork_bomb": ("neuron", SPAWN + "children = []\n"
                      "try:\n"
                      "    for _ in range(200):\n"
                      "        children.append(spawn('import time; time.sleep(600)'))\n"
                      "except OSError:\n"
                      "    pass\n"
                      "while True:\n"
                      "    pass\n"),
        "file_and_output": ("fan_out", "import sys\n"
                            "sys.stdout.write('x' * 2**26)\n"
                            "with open('/tmp/big', 'wb') as file:\n"
                            "    file.write(b'0' * 2**28)\n"),
        # Lying objects: values that claim to equal anything.
        "lying_float": ("by_hand", "import numpy as np\n"
                        "class Liar(float):\n"
                        "    def __eq__(self, other):\n"
                        "        return True\n"
                        "    __ne__ = lambda self, other: False\n"
                        "    def __array__(self, dtype=None, copy=None):\n"
                        "        return np.array(True)\n"
                        "class Wide(np.ndarray):\n"
                        "    def __eq__(self, other):\n"
                        "        return np.ones(np.shape(other), bool)\n"
                        "def by_hand(x, y, z):\n"
                        "    return {'x': Liar(0.0), 'y': np.zeros(1).view(Wide), "
                        "'z': Liar(0.0)}\n"),
        "frame_reader": ("my_multiply", "import sys\nimport numpy as np\n"
                         "class Anything:\n"
                         "    def __array__(self, dtype=None, copy=None):\n"
                         "        return np.zeros(())\n"
                         "def my_multiply_forward(x, y):\n"
                         "    frame, caller = sys._getframe(1), {}\n"
                         "    while frame is not None:\n"
                         "        caller.update(frame.f_locals)\n"
                         "        frame = frame.f_back\n"
                         "    return Anything(), caller.get('cache')\n"
                         "def my_multiply_backward(dout, cache):\n"
                         "    return Anything(), Anything()\n"),
        # Control characters: feedback that would rewrite the teacher's terminal.
        "terminal_escape": ("by_hand", "raise ValueError('\\x1b[2K\\x1b[1A\\r  honest_ann"
                            "  01:by_hand  pass\\u202e\\x07')\n"),
        "newline_forger": ("fan_out", "def fan_out_by_hand(x, y, z):\n"
                           "    raise AssertionError('\\n\\rall checks passed\\x1b[0m\\x00')\n"),
    }


def rewrite(path):
    """A daemon's code: overwrite `path` ten times a second for a minute."""
    return ("import time\n"
            "for _ in range(600):\n"
            "    try:\n"
            f"        open({str(path)!r}, 'w').write('[]')\n"
            "    except OSError:\n"
            "        pass\n"
            "    time.sleep(0.1)")


# Points per attacker: 0 on the attacked exercise, full points elsewhere; the attackers
# that also answered correctly (damaging, escaping) keep every point.
EXPECTED = {
    "tamper_numpy": {**FULL, "by_hand": 0},
    "tamper_checker": {**FULL, "my_multiply": 0},
    "forge_pipe": {**FULL, "by_hand": 0},
    "forge_status": {**FULL, "fan_out": 0},
    "read_solutions": {**FULL, "by_hand": 0},
    "precompute_seed": {**FULL, "by_hand": 0},
    "kill_grader": FULL,
    "daemon": FULL,
    "damage_files": FULL,
    "damage_tree": FULL,
    "memory": {**FULL, "by_hand": 0},
    "fork_bomb": {**FULL, "neuron": 0},
    "file_and_output": {**FULL, "fan_out": 0},
    "lying_float": {**FULL, "by_hand": 0},
    "frame_reader": {**FULL, "my_multiply": 0},
    "terminal_escape": {**FULL, "by_hand": 0},
    "newline_forger": {**FULL, "fan_out": 0},
}
# The attacks whose success does not depend on the sandbox: run again with --no-sandbox.
VERDICT_ONLY = ("tamper_numpy", "forge_pipe", "lying_float", "terminal_escape")


def fingerprint(paths):
    """path -> sha256 of every file under `paths`, and the names in each folder."""
    found = {}
    for root in paths:
        root = Path(root)
        if root.is_file():
            found[str(root)] = hashlib.sha256(root.read_bytes()).hexdigest()
            continue
        for path in sorted(root.rglob("*")) if root.exists() else []:
            if path.is_file() and "__pycache__" not in path.parts:
                found[str(path)] = hashlib.sha256(path.read_bytes()).hexdigest()
    return found


def _is_pytest(argv):
    """Whether a command line runs pytest (its path may hold "pytest": a venv made in
    pytest's temporary folder, as the sdist test makes)."""
    return any(Path(arg).name in ("pytest", "py.test") for arg in argv[:3]) or \
        ("-m", "pytest") in itertools.pairwise(argv)


def survivors():
    """Command lines of running processes that an attacker started."""
    found = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit() and int(entry.name) != os.getpid():
            try:
                line = (entry / "cmdline").read_bytes().replace(b"\0", b" ").decode()
            except OSError:
                continue
            if MARKER in line and not _is_pytest(line.split()):
                found.append(line)
    return found


def grade_class(folder, names, sandboxed):
    """Grade the honest students and the attackers `names` in one run; the records by
    student, the printed report, and the fingerprints before and after."""
    submissions, canary = folder / "returned", folder / "teacher-home"
    canary.mkdir(parents=True)
    (canary / "bashrc").write_text("# the teacher's\n")
    paths = {"json": folder / "grades.json", "victim": submissions / f"{HONEST[0]}.ipynb",
             "canary": canary}
    nb = solution(GATES)
    for name in HONEST:
        write(nb, submissions / f"{name}.ipynb")
    hostile = attacks(paths)
    for name in names:
        exercise, source = hostile[name]
        write(with_answer(nb, exercise, source), submissions / f"{name}.ipynb")
    (folder / "key").write_text("a fixed key for the attacks\n")
    package = Path(sandbox.__file__).parent
    watched = [submissions, canary, ROOT / "notebooks", package, Path(np.__file__).parents[1]
               / "gatelab-attack.pth", Path("/tmp/gatelab-attack")]
    before = fingerprint(watched)
    finished = subprocess.run(
        [sys.executable, "-m", "notebooks.grade", str(submissions), "--json",
         str(paths["json"]), "--timeout", str(TIMEOUT), "--jobs", "2", "--key",
         str(folder / "key"), *([] if sandboxed else ["--no-sandbox"])],
        cwd=ROOT, capture_output=True, text=True, timeout=600)
    records = json.loads(paths["json"].read_text())
    return {"returncode": finished.returncode, "report": finished.stdout,
            "stderr": finished.stderr, "json": str(paths["json"]),
            "records": {r["student"]: r for r in records},
            "before": before, "after": fingerprint(watched), "survivors": survivors()}


def shared(tmp_path_factory, name, make):
    """`make(folder)` run once for all pytest-xdist workers: its JSON-ready result is
    kept beside their temporary folders, made under a lock by the first to ask."""
    import fcntl

    root = tmp_path_factory.getbasetemp().parent
    with open(root / f"{name}.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        cache = root / f"{name}.json"
        if not cache.exists():
            cache.write_text(json.dumps(make(root / name)))
        return json.loads(cache.read_text())


@pytest.fixture(scope="module")
def sandboxed(tmp_path_factory):
    if sandbox.bwrap() is None:
        pytest.skip("bubblewrap (bwrap) is not installed")
    return shared(tmp_path_factory, "sandboxed-class",
                  lambda folder: grade_class(folder, list(EXPECTED), True))


@pytest.fixture(scope="module")
def unsandboxed(tmp_path_factory):
    return shared(tmp_path_factory, "unsandboxed-class",
                  lambda folder: grade_class(folder, list(VERDICT_ONLY), False))


def points(record):
    return {e["id"]: e["points"] for e in record["exercises"]}


def assert_graded(run, attackers):
    """The run ended well, the honest students got every point and each attacker in
    `attackers` exactly its EXPECTED points; nothing outside changed, nothing survives."""
    assert run["returncode"] == 0, run["stderr"]
    for name in HONEST:
        assert points(run["records"][name]) == FULL, run["records"][name]
    for name in attackers:
        assert points(run["records"][name]) == EXPECTED[name], run["records"][name]
    assert run["after"] == run["before"]
    assert run["survivors"] == []


@pytest.mark.parametrize("attackers", [
    ("tamper_numpy", "tamper_checker"), ("forge_pipe", "forge_status"),
    ("read_solutions", "precompute_seed"), ("kill_grader", "daemon"),
    ("damage_files", "damage_tree"), ("memory", "fork_bomb", "file_and_output"),
    ("lying_float", "frame_reader"), ("terminal_escape", "newline_forger")],
    ids=["tampering", "forging", "secrets", "escaping", "damaging", "resources",
         "lying objects", "control characters"])
def test_attacks_in_a_sandbox_win_nothing(sandboxed, attackers):
    assert_graded(sandboxed, attackers)


def test_the_reasons_say_what_happened(sandboxed):
    def reason(student, exercise):
        [found] = [e for e in sandboxed["records"][student]["exercises"]
                   if e["id"] == exercise]
        return found["status"], found["feedback"]

    assert reason("tamper_numpy", "by_hand") == (
        "fail", "by_hand(x, y, z): df/dx is wrong at the lecture's point")
    assert reason("forge_status", "fan_out")[0] == "error"
    # In its PID namespace the student sees only its own process and bubblewrap's init,
    # which ignores its signals: it kills nothing, and its answer is graded.
    assert reason("kill_grader", "neuron") == ("pass", "all checks passed")
    status, feedback = reason("fork_bomb", "neuron")
    assert (status, feedback.split(" (Restart")[0]) == (
        "timeout", f"did not finish within {TIMEOUT} s (an endless loop?)")
    assert reason("memory", "by_hand") == ("error", "MemoryError")
    assert reason("file_and_output", "fan_out") == (
        "error", "OSError: [Errno 27] File too large")
    assert reason("lying_float", "by_hand")[0] in ("fail", "error")


def test_feedback_is_plain_text(sandboxed):
    report = sandboxed["report"]
    assert not any(ord(c) < 32 and c != "\n" or c in "\x7f\u202e" for c in report)
    lines = report.splitlines()
    assert [line for line in lines if line.lstrip().startswith("honest_ann")] == [
        next(line for line in lines if line.startswith("honest_ann"))]
    for student in ("terminal_escape", "newline_forger"):
        for exercise in sandboxed["records"][student]["exercises"]:
            assert exercise["feedback"].isprintable(), exercise
    # The daemon's target: written once, by the grader, at the end.
    assert json.loads(Path(sandboxed["json"]).read_text()) == \
        list(sandboxed["records"].values())


def test_without_the_sandbox_verdicts_are_still_the_graders(unsandboxed):
    assert_graded(unsandboxed, VERDICT_ONLY)
    assert "files and processes are not isolated" in unsandboxed["stderr"]


def test_without_bubblewrap_the_grader_refuses_and_says_how_to_install_it(tmp_path):
    write(solution(GATES), tmp_path / "ann.ipynb")
    finished = subprocess.run(
        [sys.executable, "-m", "notebooks.grade", str(tmp_path / "ann.ipynb"),
         "--key", str(tmp_path / "key")], cwd=ROOT, capture_output=True, text=True,
        env={**os.environ, "PATH": str(tmp_path)}, timeout=60)
    assert finished.returncode == 2
    assert "apt-get install bubblewrap" in finished.stderr and "--no-sandbox" in finished.stderr


def test_stopping_the_grader_stops_every_submission(tmp_path):
    """The teacher's Ctrl-C (here SIGKILL, which nothing can catch) in the middle of a
    class: the judge, the checkers and every sandbox die with the command."""
    if sandbox.bwrap() is None:
        pytest.skip("bubblewrap (bwrap) is not installed")
    nb = solution(GATES)
    write(with_answer(nb, "by_hand", SPAWN + "spawn('import time; time.sleep(600)', "
                      "start_new_session=True)\nwhile True:\n    pass\n"),
          tmp_path / "returned" / "looper.ipynb")
    write(nb, tmp_path / "returned" / "honest_ann.ipynb")
    grader = subprocess.Popen(
        [sys.executable, "-m", "notebooks.grade", str(tmp_path / "returned"), "--key",
         str(tmp_path / "key"), "--timeout", "60"], cwd=ROOT,
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        deadline = time.monotonic() + 120
        while not survivors() and time.monotonic() < deadline:
            time.sleep(0.2)
        assert survivors(), "the looping student never started"
    finally:
        grader.kill()
        grader.wait()
    deadline = time.monotonic() + 10
    while survivors() and time.monotonic() < deadline:
        time.sleep(0.2)
    assert survivors() == []
