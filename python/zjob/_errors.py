# SPDX-License-Identifier: MIT
"""The exceptions zjob raises, and the mapping from a task's wire error
(type, message, traceback) back to a Python exception, the way
ProcessPoolExecutor re-raises a worker's exception with the remote
traceback attached as its cause."""

import ast
import builtins
from concurrent.futures import BrokenExecutor


class RemoteTraceback(Exception):
    """The cause attached to an exception raised by a task: the traceback
    text as the task process formatted it (ProcessPoolExecutor's
    _RemoteTraceback)."""

    def __init__(self, tb):
        super().__init__(tb)
        self.tb = tb

    def __str__(self):
        return '\n"""\n' + self.tb.rstrip("\n") + '\n"""'


class RemoteError(Exception):
    """A task failed with an error that is not a Python built-in exception:
    `type` is its remote type name (e.g. "mymodule.Invalid", "ExecError",
    "ProcessExited"), `message` its text, `traceback` the remote details."""

    def __init__(self, type, message="", traceback=""):
        super().__init__(f"{type}: {message}" if message else type)
        self.type = type
        self.message = message
        self.traceback = traceback


class WorkerLost(RemoteError):
    """Every attempt of the task ran on a worker that died or vanished."""


class BrokerLost(BrokenExecutor):
    """The broker stopped answering, or came back without this task's state.
    The executor stays usable: new submits connect again."""


class BrokerError(Exception):
    """The broker refused a request: `code` is its stable name
    (QueueFull, TooLarge, ShutDown, ProtocolError, NoSpace, ...)."""

    def __init__(self, code, message=""):
        super().__init__(f"{code}: {message}" if message else code)
        self.code = code
        self.message = message


class UnknownTicket(LookupError):
    """No task has this ticket (Executor.result_of)."""

    def __init__(self, ticket, message=None):
        super().__init__(message or f"no task has the ticket {ticket!r}")
        self.ticket = ticket


class Expired(UnknownTicket):
    """The task's record was deleted after the broker's retention time."""

    def __init__(self, ticket):
        super().__init__(ticket, f"the result of {ticket!r} was deleted after the "
                                 "broker's retention time")


def _builtin_exception(name):
    if not name.isidentifier():
        return None
    cls = getattr(builtins, name, None)
    if isinstance(cls, type) and issubclass(cls, Exception):
        return cls
    return None


def task_exception(type_name, message, traceback):
    """The exception a failed task's future raises: the built-in class when
    type_name names one (ValueError("x==2")), WorkerLost, else RemoteError;
    with the remote traceback, when there is one, as __cause__."""
    type_name = str(type_name)
    message = "" if message is None else str(message)
    traceback = "" if traceback is None else str(traceback)
    exc = None
    if type_name == "WorkerLost":
        exc = WorkerLost(type_name, message, traceback)
    else:
        cls = _builtin_exception(type_name)
        if cls is not None:
            arg = message
            if cls is KeyError:
                # str(KeyError('k')) is "'k'": read the key back.
                try:
                    arg = ast.literal_eval(message)
                except (ValueError, SyntaxError, MemoryError, RecursionError):
                    pass
            try:
                exc = cls(arg)
            except Exception:  # noqa: BLE001 - classes that need other arguments
                exc = None
        if exc is None:
            exc = RemoteError(type_name, message, traceback)
    if traceback:
        exc.__cause__ = RemoteTraceback(traceback)
    return exc
