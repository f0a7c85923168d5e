# SPDX-License-Identifier: MIT
"""zjob.Executor and zjob.Future: concurrent.futures on a zjob broker.
Callers' threads build futures and pack arguments; one connection thread
(_io.Connection) owns the socket."""

import concurrent.futures as cf
import functools
import os
import sys
import threading
import time

import zmq
import zmq.auth

from . import _io, _wire
from ._errors import BrokerLost, Expired, UnknownTicket, task_exception

DEFAULT_BROKER = "tcp://127.0.0.1:5555"

_DONE_STATES = ("CANCELLED", "CANCELLED_AND_NOTIFIED", "FINISHED")


class Future(cf.Future):
    """A concurrent.futures.Future for one zjob task, with its ticket.

    cancel() asks the broker: it succeeds while the task is still queued
    there, and fails once a worker runs it, as with ProcessPoolExecutor."""

    _fetched = False

    def __init__(self, executor):
        super().__init__()
        self._executor = executor
        self._ticket = None
        self.zstate = _io.LOCAL

    @property
    def ticket(self):
        """The broker's ticket for this task: a string any client can pass
        to Executor.result_of or `zjob result`. Waits (briefly) for the
        broker to accept the task; None if it never did."""
        conn = self._executor._conn
        if self._ticket is None and not conn.on_thread():
            # Not self._condition: Future.result() waits on it only once,
            # and would take a wake-up for the ticket as its timeout.
            with conn.tickets_known:
                conn.tickets_known.wait_for(
                    lambda: self._ticket is not None or self._state in _DONE_STATES
                    or self.zstate not in (_io.LOCAL, _io.SENT),
                    timeout=self._executor._wait_limit)
        return self._ticket

    def cancel(self):
        with self._condition:
            if self._state in ("RUNNING", "FINISHED"):
                return False
            if self._state in ("CANCELLED", "CANCELLED_AND_NOTIFIED"):
                return True
        return self._executor._cancel_one(self)

    def __repr__(self):
        text = super().__repr__()
        return text[:-1] + f" ticket={self._ticket}>" if self._ticket else text


class _Submitter:
    """What submit and map share: the executor and the task options."""

    def __init__(self, executor, options):
        self._ex = executor
        self._options = options
        self._packed_options = _wire.packb(options)

    def submit(self, fn, /, *args, **kwargs):
        name = function_name(fn)
        f = Future(self._ex)
        task = _wire.array_header(3) + _wire.packb(name) + \
            _pack_args(name, args, kwargs) + self._packed_options
        self._ex._post_submit([(f, task)])
        return f

    def map(self, fn, *iterables, timeout=None, chunksize=1):
        if chunksize < 1:
            raise ValueError("chunksize must be >= 1.")
        end_time = None if timeout is None else timeout + time.monotonic()
        name = function_name(fn)
        head = _wire.array_header(3) + _wire.packb(name)
        calls = list(zip(*iterables))
        fs, entries = [], []
        if chunksize == 1:
            for args in calls:
                f = Future(self._ex)
                fs.append(f)
                entries.append((f, head + _pack_args(name, args, None) + self._packed_options))
        else:
            # One task per chunk (docs/protocol.md 5.14); its result is the
            # [ok, payload] pair of each call.
            opts = _wire.packb(dict(self._options, chunk=True))
            for i in range(0, len(calls), chunksize):
                f = Future(self._ex)
                fs.append(f)
                entries.append((f, head + _pack_args(name, calls[i:i + chunksize], None,
                                                     chunk=True) + opts))
        if entries:
            self._ex._post_submit(entries)
        return self._results(fs, end_time, chunksize > 1)

    def _results(self, fs, end_time, chunks):
        """The lazy iterator of map: results in order; a timeout or an
        early close cancels what is left."""
        try:
            fs.reverse()
            while fs:
                # The future stays in fs until it has a result, so that a
                # timeout or a close cancels it with the rest.
                if end_time is None:
                    result = fs[-1].result()
                else:
                    result = fs[-1].result(end_time - time.monotonic())
                fs.pop()
                if not chunks:
                    yield result
                    continue
                for ok, value in result:
                    if not ok:
                        raise task_exception(*value[:3])
                    yield value
        finally:
            if fs:
                self._ex._cancel_many(fs)


class Executor(cf.Executor):
    """A concurrent.futures.Executor whose tasks run on zjob workers.

    broker: the broker's client endpoint (default $ZJOB_BROKER, else
        tcp://127.0.0.1:5555).
    timeout: seconds each task may run on a worker (None: no limit); a task
        over it fails with TimeoutError.
    priority: higher runs first (default 0).
    max_retries: attempts after the first when a worker is lost (None: the
        broker's default).
    connect_timeout, heartbeat, liveness: seconds to wait for the broker's
        first answer, seconds between pings while waiting, and missed
        pings after which pending futures fail with BrokerLost.
    batch: most tasks in one SUBMIT message.
    curve_secret, broker_key: for a broker that requires CURVE
        (docs/security.md): this client's NAME.key_secret and the broker's
        public NAME.key, as `zjob keygen` writes them (default: the
        ZJOB_CURVE_SECRET and ZJOB_BROKER_KEY environment variables).

    fn, for submit and map, is a function importable on the workers, sent
    as "module:qualname" and served by `python3 -m zjob.serve module`, or
    a string naming any zjob function ("echo", an --exec handler, ...)."""

    def __init__(self, broker=None, *, timeout=None, priority=0, max_retries=None,
                 connect_timeout=5.0, heartbeat=1.0, liveness=5, batch=1000,
                 curve_secret=None, broker_key=None):
        self.broker = broker or os.environ.get("ZJOB_BROKER") or DEFAULT_BROKER
        options = _task_options(timeout, priority, max_retries)
        curve = _curve_keys(curve_secret or os.environ.get("ZJOB_CURVE_SECRET"),
                            broker_key or os.environ.get("ZJOB_BROKER_KEY"))
        self._wait_limit = connect_timeout + heartbeat * liveness
        self._shutdown_lock = threading.Lock()
        self._shutdown = False
        self._conn = _io.Connection(self.broker, connect_timeout, heartbeat, liveness,
                                    max(1, int(batch)), curve)
        self._submitter = _Submitter(self, options)

    # -- the Executor API ----------------------------------------------------
    def submit(self, fn, /, *args, **kwargs):
        """Run fn(*args, **kwargs) on a worker; returns a zjob.Future."""
        return self._submitter.submit(fn, *args, **kwargs)

    def map(self, fn, *iterables, timeout=None, chunksize=1):
        """Like map(fn, *iterables), the calls running on workers; results in
        order. chunksize > 1 sends that many calls as one chunk task."""
        return self._submitter.map(fn, *iterables, timeout=timeout, chunksize=chunksize)

    def shutdown(self, wait=True, *, cancel_futures=False):
        """No new submits. cancel_futures: cancel what is still queued at the
        broker. wait: return once every future is settled."""
        with self._shutdown_lock:
            self._shutdown = True
        if cancel_futures:
            self._cancel_all()
        self._conn.close(wait)

    # -- zjob additions ------------------------------------------------------
    def with_options(self, *, timeout=None, priority=0, max_retries=None):
        """A submitter on the same connection whose tasks carry these options:
        ex.with_options(timeout=5).submit(fn, x)."""
        return _Submitter(self, _task_options(timeout, priority, max_retries))

    def result_of(self, ticket):
        """A Future for a task submitted elsewhere (another process, the zjob
        CLI): settled when the task is. An unknown ticket raises
        zjob.UnknownTicket from result(), an expired one zjob.Expired."""
        self._check_open()
        f = Future(self)
        f._ticket = str(ticket)
        f._fetched = True
        f.zstate = _io.SENT
        self._conn.post(("fetch", [f], None))
        return f

    def retry(self, ticket, timeout=None):
        """Run a failed task again, as `zjob retry` does: same ticket, the
        arguments and options it was submitted with, its retries renewed.
        Returns a Future for its new outcome. Raises zjob.UnknownTicket or
        zjob.Expired for a ticket the broker no longer has, and ValueError
        for a task that has not failed (queued and running ones count as
        already retried)."""
        self._check_open()
        ticket = str(ticket)
        r = _io.Request(threading.Event())
        self._conn.post(("retry", ticket, r))
        if not r.event.wait(self._wait_limit if timeout is None else timeout):
            raise BrokerLost(f"no answer to a retry from the broker at {self.broker}")
        if r.error:
            raise r.error
        state = r.reply.get(ticket)
        if state == _wire.UNKNOWN:
            raise UnknownTicket(ticket)
        if state == _wire.EXPIRED:
            raise Expired(ticket)
        if state == _wire.FAILED:
            raise ValueError(f"the broker kept no arguments for {ticket} (it was out of "
                             "memory when the task failed); submit it again")
        if state not in (_wire.QUEUED, _wire.RUNNING):
            raise ValueError(f"cannot retry {ticket}: it is "
                             f"{_wire.STATE_NAMES.get(state, state)}, not failed")
        return self.result_of(ticket)

    def stats(self, timeout=None):
        """The broker's statistics map (docs/protocol.md, section 7)."""
        self._check_open()
        r = _io.Request(threading.Event())
        self._conn.post(("stats", r))
        if not r.event.wait(self._wait_limit if timeout is None else timeout):
            raise BrokerLost(f"no statistics from the broker at {self.broker}")
        if r.error:
            raise r.error
        return r.reply

    # -- internals -----------------------------------------------------------
    def _check_open(self):
        if self._shutdown:
            raise RuntimeError("cannot schedule new futures after shutdown")

    def _post_submit(self, entries):
        with self._shutdown_lock:
            self._check_open()
            self._conn.post(("submit", entries))

    def _drop_unsent(self, entries):
        """Cancel here the entries that have not left for the broker yet;
        return the others."""
        dropped = []
        with self._conn.lock:
            for e in entries:
                if e.zstate == _io.LOCAL:
                    e.zstate = _io.DROPPED
                    dropped.append(e)
        for f in dropped:
            _io.cancel_locally(f)
        return [e for e in entries if e.zstate != _io.DROPPED]

    def _cancel_one(self, f):
        if not self._drop_unsent([f]):
            return f.cancelled()
        if self._conn.on_thread():
            # A done-callback cannot wait for the broker's answer.
            self._conn.post(("cancel", [f], None))
            return False
        r = _io.Request(threading.Event())
        try:
            self._conn.post(("cancel", [f], r))
        except RuntimeError:
            return False
        r.event.wait(self._wait_limit)
        return f.cancelled()

    def _cancel_many(self, futures):
        rest = self._drop_unsent([f for f in futures if not f.done()])
        if rest:
            try:
                self._conn.post(("cancel", rest, None))
            except RuntimeError:
                pass

    def _cancel_all(self):
        # What has not left yet is dropped here; the connection thread asks
        # the broker about the rest.
        with self._conn.lock:
            queued = [e for command in self._conn.queue if command[0] == "submit"
                      for e, _ in command[1]]
        self._drop_unsent(queued)
        try:
            self._conn.post(("cancel_all",))
        except RuntimeError:
            pass


def _curve_keys(secret_file, broker_file):
    """(public, secret, broker public) from `zjob keygen` certificates (czmq's
    format, which pyzmq's zmq.auth reads), or None when neither is given."""
    if not secret_file and not broker_file:
        return None
    if not secret_file or not broker_file:
        raise ValueError("CURVE needs both curve_secret (this client's NAME.key_secret "
                         "from zjob keygen) and broker_key (the broker's public NAME.key)")
    if not zmq.has("curve"):
        raise ValueError("this libzmq was built without CURVE; install one with it "
                         "(Debian's libzmq5 has it)")
    public, secret = zmq.auth.load_certificate(secret_file)
    if not secret:
        raise ValueError(f"curve_secret {secret_file} holds no secret key; give the "
                         "NAME.key_secret file that zjob keygen NAME wrote")
    server, _ = zmq.auth.load_certificate(broker_file)
    return public, secret, server


def _task_options(timeout, priority, max_retries):
    options = {}
    if timeout is not None:
        if not timeout > 0:
            raise ValueError("timeout must be a positive number of seconds, or None")
        options["timeout"] = float(timeout)
    if priority:
        options["priority"] = int(priority)
    if max_retries is not None:
        options["max_retries"] = int(max_retries)
    return options


def _pack_args(name, args, kwargs, chunk=False):
    try:
        if chunk:
            return _wire.packb([list(a) for a in args])
        return _wire.pack_args(args, kwargs)
    except (TypeError, ValueError, OverflowError) as e:
        raise TypeError(f"cannot send the arguments of {name} to a worker ({e}); "
                        f"zjob sends {_wire.SUPPORTED}") from None


def _main_module_name():
    main = sys.modules.get("__main__")
    spec = getattr(main, "__spec__", None)
    if spec is not None and spec.name:
        name = spec.name
        return name[:-len(".__main__")] if name.endswith(".__main__") else name
    path = getattr(main, "__file__", None)
    if path:
        return os.path.splitext(os.path.basename(path))[0]
    raise TypeError("a function defined in an interactive session cannot run on a "
                    "worker; define it in a module the workers can import")


def function_name(fn):
    """The zjob function name of fn: a string as it is, a function as
    "module:qualname" (a function of the main script by the script's module
    name, the rule ProcessPoolExecutor teaches for the spawn start method)."""
    if isinstance(fn, str):
        if not 1 <= len(fn) <= 128 or not fn.isascii() or not fn.isprintable() or " " in fn:
            raise ValueError(f"function name {fn!r}: 1 to 128 printable ASCII characters")
        return fn
    if isinstance(fn, functools.partial):
        raise TypeError("functools.partial cannot run on a worker; pass the extra "
                        "arguments to submit instead")
    module = getattr(fn, "__module__", None)
    qualname = getattr(fn, "__qualname__", None) or getattr(fn, "__name__", None)
    if not module or not qualname or not callable(fn):
        raise TypeError(f"{fn!r} is not a function the workers can import; pass a "
                        "module-level function or a zjob function name")
    if "<" in qualname:
        raise TypeError(f"{qualname} is a lambda or a nested function: workers can only "
                        "import functions defined at the top level of a module")
    if module == "__main__":
        module = _main_module_name()
    return f"{module}:{qualname}"
