# SPDX-License-Identifier: MIT
"""python3 -m zjob.serve MODULE [MODULE...] - a persistent task process
for `zjob-worker --serve`: imports the modules and serves their public
functions as "module:name" over the pipe protocol of docs/protocol.md
(section 8): a hello naming the functions, then one task at a time.

stdin and stdout belong to the protocol: the task functions see
/dev/null as stdin, and what they print goes to stderr, which the worker
logs (a print() cannot corrupt a frame)."""

import importlib
import os
import struct
import sys
import traceback

from . import _wire

USAGE = """\
Usage: python3 -m zjob.serve [--list] MODULE [MODULE...]
Serve the public functions of each MODULE as "MODULE:NAME" to zjob-worker,
which runs this once per task slot:

    zjob-worker --serve "python3 -m zjob.serve mymodule"

A public function is a callable attribute not starting with "_", defined
in that module (not imported into it), and listed in __all__ when the
module has one; classes are not served. The modules must be importable
where the worker runs (working directory or PYTHONPATH).

  --list    print the names that would be served, one a line, and exit
  --help    print this help and exit
Exit codes: 0 end of input, 1 a module could not be imported, 2 usage.
"""


def public_functions(module):
    """{"module:name": callable} of a module's public functions."""
    names = getattr(module, "__all__", None)
    if names is None:
        names = [n for n in vars(module) if not n.startswith("_")]
    served = {}
    for name in names:
        obj = getattr(module, name, None)
        if obj is None or isinstance(obj, type) or not callable(obj):
            continue
        if getattr(obj, "__module__", None) != module.__name__:
            continue
        full = f"{module.__name__}:{name}"
        if len(full) > 128 or not full.isascii() or not full.isprintable() or " " in full:
            print(f"zjob.serve: skipping {full!r}: function names are 1 to 128 "
                  "printable ASCII characters", file=sys.stderr)
            continue
        served[full] = obj
    return served


def error_type_name(exc):
    """A built-in exception's name ("ValueError"), else module.QualName."""
    t = type(exc)
    if t.__module__ == "builtins":
        return t.__qualname__
    return f"{t.__module__}.{t.__qualname__}"


class _Pipe:
    """Length-prefixed frames over two file descriptors."""

    def __init__(self, fd_in, fd_out):
        self.rf = open(fd_in, "rb", buffering=1 << 16)
        self.fd_out = fd_out

    def read(self):
        header = self.rf.read(4)
        if len(header) < 4:
            return None
        (n,) = struct.unpack(">I", header)
        body = self.rf.read(n)
        if len(body) < n:
            return None
        return body

    def write(self, body):
        data = memoryview(struct.pack(">I", len(body)) + body)
        while data:
            data = data[os.write(self.fd_out, data):]


def _call(func, fn, args):
    """(True, packed result) or (False, [type, message, traceback]) of one
    call of func."""
    if not isinstance(args, list):
        return False, ["BadArguments", f"the arguments of {fn} must be an array, "
                       f"got {type(args).__name__}", ""]
    try:
        args, kwargs = _wire.split_args(args)
        result = func(*args, **kwargs)
    except BaseException as exc:  # noqa: B902 - every failure is the task's outcome
        tb = exc.__traceback__.tb_next if exc.__traceback__ else None
        text = "".join(traceback.format_exception(type(exc), exc, tb))
        return False, [error_type_name(exc), str(exc), text]
    try:
        return True, _wire.packb(result)
    except (TypeError, ValueError, OverflowError) as exc:
        return False, ["TypeError", f"the result of {fn} is a {type(result).__name__} that "
                       f"zjob cannot send ({exc}); return {_wire.SUPPORTED}", ""]


_OK = _wire.packb("ok")
_TRUE_PAIR = b"\x92\xc3"     # the head of [true, value]


def _answer(table, kind, tid, fn, args):
    """The frame that answers a task (one call) or a chunk (many)."""
    func = table.get(fn)
    if func is None:
        return _wire.packb(["error", tid, "UnknownFunction",
                            f"this process does not serve {fn!r}", ""])
    head = _wire.array_header(3) + _OK + _wire.packb(tid)
    if kind == "task":
        ok, out = _call(func, fn, args)
        return head + out if ok else _wire.packb(["error", tid] + out)
    if not isinstance(args, list):
        return _wire.packb(["error", tid, "BadArguments",
                            "a chunk's arguments must be an array of argument arrays", ""])
    parts = [_wire.array_header(len(args))]
    for call_args in args:
        ok, out = _call(func, fn, call_args)
        parts.append(_TRUE_PAIR + out if ok else _wire.packb([False, out]))
    return head + b"".join(parts)


def serve(table, pipe):
    """Say hello, then answer tasks until the worker closes stdin."""
    pipe.write(_wire.packb(["hello", _wire.PIPE_VERSION, sorted(table), {"chunk": True}]))
    while True:
        body = pipe.read()
        if body is None:
            return
        msg = _wire.unpackb(body)
        # Unknown kinds are for a later version of the worker: skip them.
        if not isinstance(msg, list) or len(msg) < 4 or msg[0] not in ("task", "chunk"):
            continue
        pipe.write(_answer(table, msg[0], msg[1], msg[2], msg[3]))


def main(argv=None):
    argv = sys.argv[1:] if argv is None else argv
    if not argv or "--help" in argv or "-h" in argv:
        (sys.stdout if argv else sys.stderr).write(USAGE)
        return 0 if argv else 2
    listing = "--list" in argv
    modules = [a for a in argv if a != "--list"]
    bad = [m for m in modules if m.startswith("-")]
    if bad:
        print(f"zjob.serve: unknown flag {bad[0]!r} (see --help)", file=sys.stderr)
        return 2
    if not listing:
        # The protocol keeps the real stdin and stdout; tasks get /dev/null
        # and stderr in their place.
        fd_in, fd_out = os.dup(0), os.dup(1)
        null = os.open(os.devnull, os.O_RDONLY)
        os.dup2(null, 0)
        os.close(null)
        os.dup2(2, 1)
        sys.stdout = sys.stderr
    # The working directory, as for `python3 -m`, so that local modules import.
    if "" not in sys.path and os.getcwd() not in sys.path:
        sys.path.insert(0, os.getcwd())
    table = {}
    for name in modules:
        try:
            module = importlib.import_module(name)
        except BaseException:  # noqa: B902 - report any import failure and stop
            traceback.print_exc()
            print(f"zjob.serve: cannot import module {name!r}; check PYTHONPATH and "
                  "the working directory of zjob-worker", file=sys.stderr)
            return 1
        table.update(public_functions(module))
    if not table:
        print(f"zjob.serve: no public functions in {', '.join(modules)}", file=sys.stderr)
        return 1
    if listing:
        print("\n".join(sorted(table)))
        return 0
    try:
        serve(table, _Pipe(fd_in, fd_out))
    except BrokenPipeError:
        pass
    return 0


if __name__ == "__main__":
    sys.exit(main())
