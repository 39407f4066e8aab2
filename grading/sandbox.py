"""The command that starts a submission's process (`grading.student`): under bubblewrap,
or bare with ``--no-sandbox``.

The sandbox (bubblewrap, ``bwrap``) gives the process a read-only view of the Python
installation and of gatelab's packages only (no notebooks, no submissions, no home),
a private /tmp, no network, its own PID namespace (it sees and signals only its own
processes, and all of them die with it), and uid 65534 (nobody). Resource limits are
set with setrlimit before any student code runs (`grading.student`).
"""

import importlib.util
import json
import os
import shutil
import sys
from pathlib import Path

STUDENT = Path(__file__).resolve().parent / "student.py"
PACKAGES = ("layers", "graph", "checks", "training", "grading")
NOBODY = "65534"
SYSTEM = ("/usr", "/bin", "/lib", "/lib64", "/sbin", "/etc/ld.so.cache", "/etc/alternatives")
# Defaults of the limits: generous for an exercise (the notebooks need a few hundred MB),
# small enough that a student cannot take the grading machine down.
DEFAULT_LIMITS = {"memory": 4 * 2**30, "cpu": 600, "fsize": 64 * 2**20, "nproc": 64}
INSTALL_HINT = ("grading runs each submission under bubblewrap, which is not installed: "
                "apt-get install bubblewrap (Debian, Ubuntu) or dnf install bubblewrap "
                "(Fedora); or pass --no-sandbox to grade without isolating files and "
                "processes")


def bwrap():
    """The path of bwrap, or None."""
    return shutil.which("bwrap")


def environment():
    """The submission process's whole environment: nothing of the grader's."""
    return {"PATH": "/usr/local/bin:/usr/bin:/bin", "HOME": "/tmp", "LANG": "C.UTF-8",
            "MPLBACKEND": "Agg", "MPLCONFIGDIR": "/tmp/matplotlib",
            "OMP_NUM_THREADS": "1", "OPENBLAS_NUM_THREADS": "1", "MKL_NUM_THREADS": "1",
            "PYTHONDONTWRITEBYTECODE": "1"}


def command(limits, sandbox=True):
    """argv of a submission's process.

    Parameters
    ----------
    limits : dict
        "memory" (bytes of address space), "cpu" (seconds), "fsize" (bytes per file),
        "nproc" (processes, counted above those the grader's user already runs); a None
        value is no limit.
    sandbox : bool
        Run under bubblewrap (`bwrap` must be installed).
    """
    limits = dict(limits)
    if limits.get("nproc") is not None:
        # The kernel counts every process of the real user; the sandbox's uid is mapped.
        limits["nproc"] += _processes_of_user()
    python = [sys.executable, "-I", str(STUDENT), json.dumps(limits)]
    if not sandbox:
        return python
    argv = [bwrap(), "--unshare-all", "--unshare-user", "--uid", NOBODY, "--gid", NOBODY,
            "--die-with-parent", "--new-session", "--proc", "/proc", "--dev", "/dev",
            "--tmpfs", "/tmp", "--dir", "/tmp/matplotlib", "--chdir", "/tmp"]
    for path in SYSTEM:
        if os.path.islink(path):        # /lib -> usr/lib on a merged /usr
            argv += ["--symlink", os.readlink(path), path]
        elif os.path.exists(path):
            argv += ["--ro-bind", path, path]
    for path in _read_only_paths():
        argv += ["--ro-bind", path, path]
    for font_list in _font_lists():
        argv += ["--ro-bind", str(font_list), f"/tmp/matplotlib/{font_list.name}"]
    return argv + ["--", *python]


def _read_only_paths():
    """The Python installation, its site-packages, and gatelab's package folders only
    (an editable install points into a checkout that also holds the solutions)."""
    paths = [sys.prefix, sys.base_prefix, sys.exec_prefix,
             str(Path(sys.executable).resolve().parent)]
    for name in PACKAGES:
        spec = importlib.util.find_spec(name)
        if spec is not None and spec.submodule_search_locations:
            paths += list(spec.submodule_search_locations)
    for entry in sys.path:
        if "site-packages" in entry or "dist-packages" in entry:
            paths.append(entry)
    unique = []
    for path in paths:
        path = os.path.realpath(path)
        if os.path.exists(path) and path not in unique and not path.startswith(SYSTEM):
            unique.append(path)
    return unique


def _font_lists():
    """matplotlib's font cache, so that each sandbox does not rebuild it (seconds)."""
    try:
        import matplotlib
    except ImportError:
        return []
    return sorted(Path(matplotlib.get_cachedir()).glob("fontlist-*.json"))


def die_with_parent():
    """Ask the kernel to kill this process when its parent dies (Linux; elsewhere
    nothing), so that no part of grading outlives the command that started it."""
    if sys.platform.startswith("linux"):
        import ctypes
        import signal

        set_parent_death_signal = 1         # prctl's PR_SET_PDEATHSIG
        ctypes.CDLL(None, use_errno=True).prctl(set_parent_death_signal, signal.SIGKILL)


def _processes_of_user():
    uid = os.getuid()
    count = 0
    for entry in os.scandir("/proc"):
        if entry.name.isdigit():
            try:
                count += entry.stat().st_uid == uid
            except OSError:
                pass
    return count
