"""The student's process: runs the cells of one submitted notebook and answers the
grader's calls with plain data. Started by the grader as ``python -I -m grading.student
LIMITS`` (inside bubblewrap on Linux); stdin and stdout are the pipes to the grader.

Nothing here is trusted: the student's code runs in this process and may replace any of
it. The grader believes no status from here, only values, which it checks (`grading.wire`).

LIMITS is JSON ``{"memory": bytes, "cpu": seconds, "fsize": bytes, "nproc": count}``
(null: no limit), applied with setrlimit before any student code runs.
"""

import builtins
import json
import os
import re
import resource
import sys
from pathlib import Path

if __name__ == "__main__":      # run as a file: gatelab's packages sit beside this folder
    sys.path.append(str(Path(__file__).resolve().parents[1]))

from grading.channel import Endpoint, describe  # noqa: E402
from grading.wire import Ref, WireError, read_message  # noqa: E402

# A magic (%matplotlib inline) or shell escape (!pip ...) is IPython syntax: grading runs
# cells as plain Python, where these lines do nothing.
MAGIC = re.compile(r"^(\s*)[%!].*$", re.MULTILINE)
LIMITS = {"memory": resource.RLIMIT_AS, "cpu": resource.RLIMIT_CPU,
          "fsize": resource.RLIMIT_FSIZE, "nproc": resource.RLIMIT_NPROC}


class GraderObject(Ref):
    """An object of the grader's (a model the student's function updates): attribute
    access, items and calls go to the grader, which allows what `grading.judge` says."""

    __slots__ = ("_endpoint",)

    def __init__(self, number, endpoint):
        object.__setattr__(self, "number", number)
        object.__setattr__(self, "_endpoint", endpoint)

    def __getattr__(self, name):
        if name.startswith("_"):
            raise AttributeError(name)
        return self._endpoint.request("attr", target=self._endpoint.encode(self), name=name)

    def __setattr__(self, name, value):
        self._endpoint.request("setattr", target=self._endpoint.encode(self), name=name,
                               value=self._endpoint.encode(value))

    def __getitem__(self, key):
        return self._endpoint.request("item", target=self._endpoint.encode(self),
                                      key=self._endpoint.encode(key))

    def __setitem__(self, key, value):
        self._endpoint.request("setitem", target=self._endpoint.encode(self),
                               key=self._endpoint.encode(key),
                               value=self._endpoint.encode(value))

    def __iter__(self):
        return iter(self._endpoint.request("list", target=self._endpoint.encode(self)))

    def __len__(self):
        return len(self._endpoint.request("list", target=self._endpoint.encode(self)))

    def __call__(self, *args, **kwargs):
        return self._endpoint.request("call", target=self._endpoint.encode(self),
                                      args=self._endpoint.encode(list(args)),
                                      kwargs=self._endpoint.encode(kwargs))


class Notebook(Endpoint):
    """The student's side: a namespace in which cells run, and calls into it."""

    def __init__(self, read_fd, write_fd):
        super().__init__(read_fd, write_fd)
        self.namespace = {"__name__": "__main__", "__builtins__": builtins}

    def proxy(self, number, is_callable):
        return GraderObject(number, self)

    def handle(self, message):
        op = message["op"]
        if op == "run":
            source = MAGIC.sub(r"\1pass", message["source"])
            exec(compile(source, "<cell>", "exec"), self.namespace)
            _close_figures()
            return None
        if op == "get":
            return self.namespace[message["name"]]
        target = self.decode(message["target"])
        if op == "call":
            return target(*self.decode(message["args"]), **self.decode(message["kwargs"]))
        if op == "attr" and not message["name"].startswith("_"):
            return getattr(target, message["name"])
        if op == "item":
            return target[self.decode(message["key"])]
        raise WireError(f"unexpected request {op!r}")

    def run(self):
        while True:
            message = self._next()
            if message is None:
                return
            self.serve(message)

    def _next(self):
        try:
            return read_message(self.read_fd)
        except EOFError:
            return None


def _close_figures():
    if "matplotlib.pyplot" in sys.modules:
        sys.modules["matplotlib.pyplot"].close("all")


def apply_limits(limits):
    for name, value in limits.items():
        if value is not None:
            resource.setrlimit(LIMITS[name], (value, value))


def main(argv=None):
    argv = sys.argv[1:] if argv is None else argv
    apply_limits(json.loads(argv[0]) if argv else {})
    read_fd, write_fd = os.dup(0), os.dup(1)
    # What the student's code prints goes nowhere: the pipes carry only the protocol.
    null = os.open(os.devnull, os.O_RDWR)
    for fd in (0, 1, 2):
        os.dup2(null, fd)
    try:
        Notebook(read_fd, write_fd).run()
    except BaseException as exc:     # noqa: BLE001 - say why, if the pipe still works
        sys.__stderr__.write(describe(exc))
    os._exit(0)


if __name__ == "__main__":
    main()
