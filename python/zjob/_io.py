# SPDX-License-Identifier: MIT
"""The connection thread of a zjob.Executor: the only code that touches
the ZeroMQ socket. Callers hand it commands through a locked deque and
an eventfd; it batches submits into SUBMIT messages, matches replies by
req, settles futures from RESULT, pings a silent broker, and fails what
is pending with BrokerLost when the broker is gone or came back without
our tasks (docs/protocol.md, sections 5 and 6.2)."""

import collections
import logging
import os
import threading
import time
from concurrent.futures import Future as _BaseFuture

import zmq

from . import _wire
from ._errors import BrokerError, BrokerLost, Expired, UnknownTicket, task_exception

log = logging.getLogger("zjob")

# Future life on the client side (the zjob part of its state): queued here,
# cancelled before it left, sent and waiting for its ticket, ticketed.
LOCAL, DROPPED, SENT, TICKETED = 0, 1, 2, 3

# Most bytes of tasks in one SUBMIT (the broker takes up to 64 MiB frames).
_BATCH_BYTES = 8 << 20
# A larger task could not reach a broker with the default --max-frame, and
# the broker would drop the connection over it (ZMQ_MAXMSGSIZE): refuse it.
MAX_TASK_BYTES = (64 << 20) - (64 << 10)
# Messages read per wake-up, so that sending is not starved.
_DRAIN = 1000


class Request:
    """An outstanding request: what it was, and who waits for its reply. A
    caller that waits makes one with an event and reads reply or error
    once the event is set."""

    __slots__ = ("type", "entries", "frame", "event", "reply", "error", "resent")

    def __init__(self, event=None):
        self.type = None
        self.resent = False         # SUBMIT: sent again after a reconnect
        self.entries = None         # SUBMIT: the futures, in order
        self.frame = None           # SUBMIT: the bytes, for a resend
        self.event = event          # set when reply or error is there
        self.reply = None
        self.error = None

    def finish(self, reply=None, error=None):
        self.reply, self.error = reply, error
        if self.event is not None:
            self.event.set()


def cancel_locally(f):
    """Cancel f without asking the broker, and wake as_completed/wait."""
    if _BaseFuture.cancel(f):
        f.set_running_or_notify_cancel()


def _settle(f, result=None, exc=None):
    try:
        if exc is not None:
            f.set_exception(exc)
        else:
            f.set_result(result)
    except Exception:  # noqa: BLE001 - already cancelled or settled
        pass


class Connection:
    """The socket and its thread. Public methods are called from any
    thread; everything else runs on the connection thread."""

    def __init__(self, endpoint, connect_timeout, heartbeat, liveness, batch, curve=None):
        self.endpoint = endpoint
        self.curve = curve                  # (public, secret, broker public), Z85, or None
        self.batch = batch
        self.connect_timeout = connect_timeout
        self.heartbeat = heartbeat
        self.liveness = liveness
        self.client_id = os.urandom(16).hex()
        self.lock = threading.Lock()
        self.tickets_known = threading.Condition()  # notified after each SUBMITTED
        self.queue = collections.deque()    # commands from callers
        self.wake_pending = False
        self.closing = False                # shutdown: exit once nothing waits
        self.drained = threading.Event()    # set when the thread is gone
        self.ctx = zmq.Context()
        self.sock = self.monitor = None
        self.next_req = 1
        self.requests = {}                  # req -> _Request
        self.tickets = {}                   # ticket -> Future, or [Futures] (see _track)
        self.unticketed = 0                 # futures sent, SUBMITTED awaited
        self.deferred = []                  # (entry, waiter): cancels awaiting a ticket
        self.heard = False
        self.silent_since = time.monotonic()
        self.last_ping = 0.0
        self.had_work = False
        self.disconnected = False
        if hasattr(os, "eventfd"):
            self.wake_r = self.wake_w = os.eventfd(0, os.EFD_NONBLOCK | os.EFD_CLOEXEC)
        else:  # pragma: no cover - not Linux
            self.wake_r, self.wake_w = os.pipe()
            os.set_blocking(self.wake_r, False)
        self._open()
        self.thread = threading.Thread(target=self._run, name="zjob-connection",
                                       daemon=True)
        self.thread.start()

    # -- called from any thread ------------------------------------------
    def post(self, command):
        """Queue a command tuple for the thread and wake it."""
        with self.lock:
            if self.drained.is_set():
                raise RuntimeError("the executor's connection is closed")
            self.queue.append(command)
            wake = not self.wake_pending
            self.wake_pending = True
        if wake:
            self._wake()

    def close(self, wait):
        """Stop once nothing is outstanding; with wait, block until then."""
        with self.lock:
            self.closing = True
        self._wake()
        if wait:
            self.drained.wait()

    def on_thread(self):
        return threading.current_thread() is self.thread

    def _wake(self):
        try:
            if self.wake_r == self.wake_w:
                os.eventfd_write(self.wake_w, 1)
            else:  # pragma: no cover
                os.write(self.wake_w, b"x")
        except (BlockingIOError, OSError):
            pass

    # -- the socket ------------------------------------------------------
    def _open(self):
        sock = self.ctx.socket(zmq.DEALER)
        sock.setsockopt(zmq.LINGER, 0)
        sock.setsockopt(zmq.RCVHWM, 0)
        sock.setsockopt(zmq.SNDHWM, 0)
        if self.curve:
            sock.curve_publickey, sock.curve_secretkey, sock.curve_serverkey = self.curve
        events = zmq.EVENT_DISCONNECTED | getattr(zmq, "EVENT_HANDSHAKE_SUCCEEDED",
                                                  zmq.EVENT_CONNECTED)
        self.monitor = sock.get_monitor_socket(events)
        sock.connect(self.endpoint)
        self.sock = sock
        self.poller = zmq.Poller()
        self.poller.register(self.sock, zmq.POLLIN)
        self.poller.register(self.monitor, zmq.POLLIN)
        self.poller.register(self.wake_r, zmq.POLLIN)
        self.disconnected = False

    def _close_socket(self):
        if self.sock is not None:
            try:
                self.sock.disable_monitor()
            except zmq.ZMQError:
                pass
            self.monitor.close(0)
            self.sock.close(0)
            self.sock = self.monitor = None

    def _send(self, frame):
        try:
            self.sock.send(frame, zmq.NOBLOCK)
            return True
        except zmq.ZMQError as e:
            log.warning("zjob: cannot send to the broker at %s: %s", self.endpoint, e)
            return False

    def _request(self, type, body_parts, r=None):
        """Send [1, type, req, ...] whose fields after req are the already
        packed body_parts; remember r (or a new Request) under its req."""
        req = self.next_req
        self.next_req += 1
        head = _wire.array_header(3 + len(body_parts)) + _wire.packb(_wire.VERSION) + \
            _wire.packb(type) + _wire.packb(req)
        frame = b"".join([head] + body_parts)
        r = r or Request()
        r.type = type
        if type == _wire.SUBMIT:
            r.frame = frame
        self.requests[req] = r
        self._send(frame)
        return r

    # -- the thread ------------------------------------------------------
    def _run(self):
        try:
            while True:
                timeout = self._poll_timeout()
                events = dict(self.poller.poll(timeout))
                if self.wake_r in events:
                    self._drain_wake()
                self._take_commands()
                if self.sock in events:
                    self._drain_socket()
                if self.monitor in events:
                    self._drain_monitor()
                self._check_broker()
                if self.closing and not self._has_work() and not self.queue:
                    break
        except Exception:  # noqa: BLE001 - a bug here must not hang every caller
            log.exception("zjob: the connection thread failed")
            self._fail_all(BrokerLost("the zjob connection thread failed; see the log"))
        finally:
            with self.lock:
                self.drained.set()
                leftover = list(self.queue)
                self.queue.clear()
            for command in leftover:
                self._refuse(command)
            self._close_socket()
            os.close(self.wake_r)
            if self.wake_w != self.wake_r:
                os.close(self.wake_w)
            self.ctx.term()

    def _drain_wake(self):
        try:
            if self.wake_r == self.wake_w:
                os.eventfd_read(self.wake_r)
            else:  # pragma: no cover
                os.read(self.wake_r, 4096)
        except (BlockingIOError, OSError):
            pass

    def _has_work(self):
        return bool(self.requests or self.tickets or self.unticketed)

    def _poll_timeout(self):
        """Milliseconds until the liveness check has something to do."""
        if not self._has_work():
            return None
        limit = self.heartbeat * self.liveness if self.heard else self.connect_timeout
        now = time.monotonic()
        due = min(self.silent_since + limit,
                  max(self.silent_since, self.last_ping) + self.heartbeat)
        return max(1, min(1000, int((due - now) * 1000) + 1))

    def _check_broker(self):
        if not self._has_work():
            self.had_work = False
            return
        now = time.monotonic()
        if not self.had_work:
            # Silence counts only while something waits for the broker.
            self.had_work = True
            self.silent_since = now
        silent = now - self.silent_since
        if not self.heard and silent >= self.connect_timeout:
            self._broker_gone(f"no answer from the broker at {self.endpoint} after "
                              f"{self.connect_timeout:g} s; is zjobd running there?")
        elif self.heard and silent >= self.heartbeat * self.liveness:
            self._broker_gone(f"the broker at {self.endpoint} stopped answering for "
                              f"{self.heartbeat * self.liveness:g} s")
        elif silent >= self.heartbeat and now - self.last_ping >= self.heartbeat:
            self._request(_wire.PING, [])
            self.last_ping = now

    def _track(self, ticket, e):
        """Remember who waits for ticket's outcome: mostly one future, a
        list when the same ticket was also fetched (result_of)."""
        old = self.tickets.get(ticket)
        if old is None:
            self.tickets[ticket] = e
        elif isinstance(old, list):
            old.append(e)
        else:
            self.tickets[ticket] = [old, e]

    def _tracked(self):
        """Every future waiting for a ticket."""
        for value in self.tickets.values():
            yield from value if isinstance(value, list) else (value,)

    def _fail_all(self, exc):
        entries = list(self._tracked())
        for r in self.requests.values():
            if r.entries:
                entries.extend(e for e in r.entries if e.zstate == SENT)
            r.finish(error=exc)
        for _, waiter in self.deferred:
            if waiter is not None:
                waiter.finish(error=exc)
        self.tickets.clear()
        self.requests.clear()
        self.unticketed = 0
        self.deferred.clear()
        for f in entries:
            _settle(f, exc=exc)
        with self.tickets_known:
            self.tickets_known.notify_all()

    def _broker_gone(self, message):
        log.warning("zjob: %s", message)
        self._fail_all(BrokerLost(message))
        self._close_socket()
        self._open()
        self.heard = False
        self.had_work = False

    def _refuse(self, command):
        exc = RuntimeError("cannot schedule new futures after shutdown")
        kind = command[0]
        if kind == "submit":
            for f, _ in command[1]:
                _settle(f, exc=exc)
        elif kind in ("cancel", "stats") and command[-1] is not None:
            command[-1].finish(error=exc)

    # -- commands ----------------------------------------------------------
    def _take_commands(self):
        with self.lock:
            commands = list(self.queue)
            self.queue.clear()
            self.wake_pending = False
            # Claim submitted entries under the lock: a cancel racing with
            # us sees LOCAL (and drops the entry itself) or SENT.
            batch = []
            for command in commands:
                if command[0] == "submit":
                    for e, task in command[1]:
                        if e.zstate == LOCAL:
                            e.zstate = SENT
                            batch.append((e, task))
        for i in range(0, len(batch), self.batch):
            self._submit(batch[i:i + self.batch])
        for command in commands:
            kind = command[0]
            if kind == "fetch":
                self._fetch(command[1])
            elif kind == "cancel":
                self._cancel(command[1], command[2])
            elif kind == "stats":
                self._request(_wire.STATS, [], command[1])
            elif kind == "retry":
                self._request(_wire.RETRY, [_wire.packb([command[1]])], command[2])
            elif kind == "cancel_all":
                sent = [e for r in self.requests.values() if r.entries
                        for e in r.entries if e.zstate == SENT]
                self._cancel(list(self._tracked()) + sent, None)

    def _submit(self, batch):
        entries, parts, size = [], [], 0
        for e, task in batch:
            if len(task) > MAX_TASK_BYTES:
                e.zstate = DROPPED
                _settle(e, exc=BrokerError("TooLarge", f"the task takes {len(task)} bytes; "
                                           f"a broker takes at most {MAX_TASK_BYTES}"))
                continue
            entries.append(e)
            parts.append(task)
            size += len(task)
            if size >= _BATCH_BYTES:
                self._send_submit(entries, parts)
                entries, parts, size = [], [], 0
        if entries:
            self._send_submit(entries, parts)

    def _send_submit(self, entries, parts):
        self.unticketed += len(entries)
        r = Request()
        r.entries = entries
        self._request(_wire.SUBMIT, [_wire.array_header(len(parts)) + b"".join(parts),
                                     _wire.packb(self.client_id)], r)

    def _fetch(self, futures):
        tickets = []
        for f in futures:
            f.zstate = TICKETED
            self._track(f._ticket, f)
            tickets.append(f._ticket)
        self._request(_wire.FETCH, [_wire.packb(tickets)])

    def _cancel(self, entries, waiter):
        """Ask the broker to cancel entries; those still waiting for their
        ticket are asked once it arrives. `waiter` (a Request, or None)
        gets the broker's {ticket: state}."""
        tickets = []
        for e in entries:
            if e.zstate == SENT:
                self.deferred.append((e, waiter))
                waiter = None               # answered with the deferred one
            elif e.zstate == TICKETED and e._ticket in self.tickets \
                    and e._ticket not in tickets:
                tickets.append(e._ticket)
        if tickets:
            # concurrent.futures cancels pending work only: running tasks stay.
            self._request(_wire.CANCEL, [_wire.packb(tickets),
                                         _wire.packb({"running": False})], waiter)
        elif waiter is not None:
            waiter.finish({})               # nothing left to cancel: final already

    def _cancel_deferred(self):
        """Send the cancels that waited for tickets that are now known."""
        ready = [(e, w) for e, w in self.deferred if e.zstate != SENT]
        self.deferred = [(e, w) for e, w in self.deferred if e.zstate == SENT]
        groups = {}
        for e, w in ready:
            groups.setdefault(id(w), (w, []))[1].append(e)
        for waiter, entries in groups.values():
            self._cancel(entries, waiter)

    # -- messages ----------------------------------------------------------
    def _drain_socket(self):
        for _ in range(_DRAIN):
            try:
                parts = self.sock.recv_multipart(zmq.NOBLOCK)
            except zmq.Again:
                return
            if len(parts) != 1:
                log.warning("zjob: dropped a %d-frame message from the broker", len(parts))
                continue
            try:
                msg = _wire.unpackb(parts[0])
                if not isinstance(msg, list) or len(msg) < 3 or msg[0] != _wire.VERSION:
                    raise ValueError("not a ZJP/1 message")
                self._on_message(msg)
            except (ValueError, TypeError, IndexError, KeyError) as e:
                log.warning("zjob: bad message from the broker at %s: %s", self.endpoint, e)

    def _on_message(self, msg):
        self.heard = True
        self.silent_since = time.monotonic()
        type, req = msg[1], msg[2]
        if type == _wire.RESULT:
            self._on_result(msg[3])
            return
        r = self.requests.pop(req, None) if req else None
        # The broker answers one peer's requests in order: an answer to req
        # means every earlier FETCH and CANCEL was taken too.
        if req:
            self._retire_before(req)
        if r is None:
            return
        if type == _wire.SUBMITTED:
            self._on_submitted(r, msg[3])
        elif type == _wire.ERROR:
            self._on_error(r, str(msg[3]), str(msg[4]) if len(msg) > 4 else "")
        elif type in (_wire.CANCEL_REPLY, _wire.STATUS_REPLY, _wire.RETRY_REPLY):
            self._on_states(r, msg[3])
        elif type == _wire.STATS_REPLY:
            r.finish(msg[3])

    def _retire_before(self, req):
        for old in [q for q, r in self.requests.items()
                    if q < req and r.type in (_wire.FETCH, _wire.PING)]:
            del self.requests[old]

    def _on_submitted(self, r, tickets):
        if len(tickets) != len(r.entries):
            self._on_error(r, "ProtocolError", "SUBMITTED does not match the SUBMIT")
            return
        for e, ticket in zip(r.entries, tickets):
            self.unticketed -= 1
            e.zstate = TICKETED
            e._ticket = ticket
            self._track(ticket, e)
        with self.tickets_known:
            self.tickets_known.notify_all()
        if self.deferred:
            self._cancel_deferred()

    def _on_error(self, r, code, message, exc=None):
        exc = exc or BrokerError(code, message)
        if r.type == _wire.SUBMIT:
            for e in r.entries:
                if e.zstate == SENT:
                    self.unticketed -= 1
                    e.zstate = DROPPED
                    with self.tickets_known:
                        self.tickets_known.notify_all()
                    _settle(e, exc=exc)
            if self.deferred:
                self._cancel_deferred()
        r.finish(error=exc)

    def _on_states(self, r, states):
        reply = {}
        for ticket, state in states:
            reply[ticket] = state
            value = self.tickets.get(ticket)
            if value is None:
                continue
            if state == _wire.CANCELLED:
                del self.tickets[ticket]
            for f in value if isinstance(value, list) else (value,):
                if state == _wire.CANCELLED:
                    cancel_locally(f)
                elif state == _wire.RUNNING and not f.running() and not f.done():
                    f.set_running_or_notify_cancel()
        r.finish(reply)

    def _on_result(self, outcomes):
        for outcome in outcomes:
            ticket, state, payload = outcome[0], outcome[1], outcome[2]
            value = self.tickets.pop(ticket, None)
            if value is None:
                continue
            for e in value if isinstance(value, list) else (value,):
                self._settle_entry(e, ticket, state, payload)

    def _settle_entry(self, e, ticket, state, payload):
        if state == _wire.DONE:
            _settle(e, payload)
        elif state == _wire.FAILED:
            _settle(e, exc=task_exception(*payload[:3]))
        elif state == _wire.CANCELLED:
            cancel_locally(e)
        elif state == _wire.UNKNOWN:
            _settle(e, exc=self._unknown(e, ticket))
        elif state == _wire.EXPIRED:
            _settle(e, exc=Expired(ticket))

    def _unknown(self, e, ticket):
        if e._fetched:
            return UnknownTicket(ticket)
        return BrokerLost(f"the broker at {self.endpoint} no longer knows task {ticket} "
                          "(it restarted without its state)")

    # -- reconnects --------------------------------------------------------
    def _drain_monitor(self):
        from zmq.utils.monitor import recv_monitor_message
        while True:
            try:
                event = recv_monitor_message(self.monitor, zmq.NOBLOCK)
            except zmq.Again:
                return
            if event["event"] == zmq.EVENT_DISCONNECTED:
                self.disconnected = True
            elif self.disconnected:
                self.disconnected = False
                self._resync()

    def _resync(self):
        """The link came back: the broker may be a new one. Resend what was
        not answered (the client id makes a SUBMIT idempotent), and FETCH
        every ticket, so that a broker that lost them says so (UNKNOWN ->
        BrokerLost) and one that kept them sends their results."""
        log.info("zjob: reconnected to the broker at %s", self.endpoint)
        for req, r in sorted(self.requests.items()):
            if r.type == _wire.SUBMIT and not r.resent:
                r.resent = True
                self._send(r.frame)
            elif r.type == _wire.SUBMIT:
                # Sent twice and the link broke twice: give up on it.
                del self.requests[req]
                self._on_error(r, None, None, BrokerLost(
                    "the link to the broker broke twice while the task was being submitted"))
            elif r.event is not None:
                del self.requests[req]
                r.finish(error=BrokerLost("the link to the broker broke during the request"))
        if self.tickets:
            self._request(_wire.FETCH, [_wire.packb(list(self.tickets))])
