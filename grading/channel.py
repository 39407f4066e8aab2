"""Calls between the grader and a student's process over two pipes, in plain data.

Each side is an `Endpoint`. A request is ``{"op": ..., ...}``; its reply is
``{"value": encoded}`` or ``{"raised": "TypeName: message"}``. While waiting for the reply
to its own request an endpoint serves the other side's requests (a student's function may
call a method of an object the grader passed it), so calls nest in both directions.

An object that is not plain data stays with its owner: the other side gets a handle
(``{"ref": n}``) and sends it back as ``{"yours": n}``. The owner decides what a handle
allows (`Endpoint.handle`); the grader's side allows little (see `grading.judge`).
"""

import itertools

from grading.wire import Ref, WireError, decode, encode, read_message, write_message

__all__ = ["Endpoint", "ChildBroken", "StudentError"]

MESSAGE_CHARACTERS = 300


class StudentError(Exception):
    """The student's code raised; the message is the student process's one line."""


class ChildBroken(Exception):
    """The student process is gone, hung, or broke the protocol: the exercise is an
    error or a timeout, and the process is not used again."""

    def __init__(self, reason, timed_out=False):
        super().__init__(reason)
        self.timed_out = timed_out


class Endpoint:
    """One side of the conversation: `request` sends, waits, and serves nested calls.

    Parameters
    ----------
    read_fd, write_fd : int
        The pipes from and to the other side.
    deadline : float or None
        time.monotonic() past which a wait is a `ChildBroken` timeout (grader's side).
    """

    def __init__(self, read_fd, write_fd, deadline=None):
        self.read_fd, self.write_fd, self.deadline = read_fd, write_fd, deadline
        self.kept = {}
        self._numbers = itertools.count(1)

    def keep(self, value):
        """Keep `value` here; the number the other side will call it by."""
        number = next(self._numbers)
        self.kept[number] = value
        return number

    def resolve(self, tag, number, is_callable):
        """The value a handle stands for: one of ours ("yours"), or a proxy of theirs."""
        if tag == "yours":
            if number not in self.kept:
                raise WireError(f"no object number {number}")
            return self.kept[number]
        return self.proxy(number, is_callable)

    def proxy(self, number, is_callable):
        return Ref(number)

    def encode(self, value):
        return encode(value, self.keep)

    def decode(self, data):
        return decode(data, self.resolve)

    def request(self, op, **fields):
        """Send a request; serve the other side's requests until its reply; the value.

        Raises
        ------
        StudentError
            The other side raised while serving it.
        ChildBroken
            The other side is gone, hung past the deadline, or sent garbage.
        """
        try:
            write_message(self.write_fd, {"op": op, **fields})
            while True:
                message = read_message(self.read_fd, self.deadline)
                if type(message) is not dict:
                    raise WireError("a message that is not an object")
                if "op" in message:
                    self.serve(message)
                elif set(message) == {"value"}:
                    return self.decode(message["value"])
                elif set(message) == {"raised"} and type(message["raised"]) is str:
                    raise StudentError(message["raised"][:MESSAGE_CHARACTERS])
                else:
                    raise WireError("a reply that is neither a value nor an error")
        except TimeoutError:
            raise ChildBroken("did not answer in time (an endless loop?)", True) from None
        except (EOFError, BrokenPipeError):
            raise ChildBroken("the student's process ended while running this "
                              "exercise") from None
        except (WireError, RecursionError) as exc:
            raise ChildBroken(f"the student's process broke the protocol: {exc}") from None

    def serve(self, message):
        """Answer one request of the other side."""
        try:
            reply = {"value": self.encode(self.handle(message))}
        except (ChildBroken, WireError):
            raise
        except BaseException as exc:     # noqa: BLE001 - any error is the caller's answer
            reply = {"raised": describe(exc)}
        write_message(self.write_fd, reply)

    def handle(self, message):
        raise WireError(f"unexpected request {message.get('op')!r}")


def describe(error):
    """One line: the exception's type and the first line of its message."""
    lines = str(error).strip().splitlines()
    return (type(error).__name__ + (f": {lines[0]}" if lines else ""))[:MESSAGE_CHARACTERS]
