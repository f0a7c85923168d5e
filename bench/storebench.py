# SPDX-License-Identifier: MIT
"""storebench - what durability.py and recovery.py share: start and stop
zjobd on free loopback ports with a given store, and speak ZJP/1 to it
with raw pyzmq (a batching client and a worker that answers at once), so
that the figures are the broker's and not a client library's."""
import os
import shutil
import signal
import subprocess
import tempfile
import time

import msgpack
import zmq

HERE = os.path.dirname(os.path.abspath(__file__))
BUILD = os.environ.get("ZJOB_BUILD_DIR") or os.path.join(HERE, "..", "build")
ZJOBD = os.path.join(BUILD, "broker", "zjobd")

SUBMIT, SUBMITTED, FETCH, RESULT, ERROR = 1, 2, 3, 10, 11
READY, TASKS, DONE, HEARTBEAT = 20, 21, 22, 23


def pack(*fields):
    return msgpack.packb([1] + list(fields))


def unpack(frame):
    return msgpack.unpackb(frame, raw=False)


class Broker:
    """One zjobd with its own state directory (kept across restart())."""

    def __init__(self, durability, tmp=None, extra=()):
        self.tmp = tmp or tempfile.mkdtemp(prefix="zjob-bench-")
        self.state = os.path.join(self.tmp, "state-" + durability)
        self.durability = durability
        self.extra = list(extra)
        self.proc = None
        self.clients = self.workers = None
        self.log_path = os.path.join(self.tmp, f"zjobd-{durability}.log")

    def start(self, clients="tcp://127.0.0.1:*", workers="tcp://127.0.0.1:*", timeout=600):
        """Start and wait for the endpoints file; returns seconds taken."""
        epfile = os.path.join(self.tmp, "endpoints")
        if os.path.exists(epfile):
            os.unlink(epfile)
        argv = [ZJOBD, "--clients", clients, "--workers", workers, "--endpoints-file", epfile,
                "--durability", self.durability, "--state-dir", self.state,
                "--log-level", "info"] + self.extra
        t0 = time.monotonic()
        with open(self.log_path, "ab") as log:
            self.proc = subprocess.Popen(argv, stdout=log, stderr=subprocess.STDOUT,
                                         stdin=subprocess.DEVNULL, start_new_session=True)
        while not os.path.exists(epfile):
            if self.proc.poll() is not None:
                raise RuntimeError(f"zjobd exited early; see {self.log_path}:\n" + self.log())
            if time.monotonic() - t0 > timeout:
                raise RuntimeError(f"zjobd did not start in {timeout}s; see {self.log_path}")
            time.sleep(0.005)
        took = time.monotonic() - t0
        with open(epfile) as f:
            eps = dict(line.strip().split("=", 1) for line in f if "=" in line)
        self.clients, self.workers = eps["clients"], eps["workers"]
        return took

    def log(self):
        with open(self.log_path, errors="replace") as f:
            return f.read()

    def cpu(self):
        """Seconds of CPU zjobd used so far (user + system)."""
        with open(f"/proc/{self.proc.pid}/stat") as f:
            fields = f.read().rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")

    def kill(self, sig=signal.SIGKILL):
        if self.proc and self.proc.poll() is None:
            os.killpg(self.proc.pid, sig)
            self.proc.wait(60)

    def close(self):
        self.kill(signal.SIGTERM)
        shutil.rmtree(self.tmp, ignore_errors=True)


def worker_loop(endpoint, credit, stop_after=None):
    """A worker for `noop` that answers every TASKS batch with DONE nil at
    once. Runs until killed (it is meant for a child process)."""
    ctx = zmq.Context()
    s = ctx.socket(zmq.DEALER)
    s.setsockopt(zmq.LINGER, 0)
    s.setsockopt(zmq.RCVHWM, 0)
    s.setsockopt(zmq.SNDHWM, 0)
    s.connect(endpoint)
    ready = pack(READY, 0, {"name": "bench", "heartbeat": 1.0}, credit, ["noop"])
    s.send(ready)
    beat = pack(HEARTBEAT, 0)
    last = time.monotonic()
    while True:
        if not s.poll(500):
            s.send(beat)
            last = time.monotonic()
            continue
        m = unpack(s.recv())
        if m[1] == TASKS:
            s.send(pack(DONE, 0, [[j[0], 3, None] for j in m[3]]))
        elif m[1] == ERROR:
            s.send(ready)
        if time.monotonic() - last > 0.5:
            s.send(beat)
            last = time.monotonic()


class Client:
    """A DEALER that submits batches of no-op tasks and counts outcomes."""

    def __init__(self, endpoint, batch=500, client_id=None):
        self.ctx = zmq.Context()
        self.s = self.ctx.socket(zmq.DEALER)
        self.s.setsockopt(zmq.LINGER, 0)
        self.s.setsockopt(zmq.RCVHWM, 0)
        self.s.setsockopt(zmq.SNDHWM, 0)
        self.s.connect(endpoint)
        self.batch = batch
        self.tasks = [["noop", [], {}]] * batch
        self.client_id = client_id
        self.req = 0
        self.submitted = 0      # tasks acknowledged
        self.tickets = []       # kept when asked to
        self.outcomes = 0       # RESULT entries
        self.errors = []

    def submit(self, n=None):
        self.req += 1
        tasks = self.tasks if n is None else [["noop", [], {}]] * n
        fields = [SUBMIT, self.req, tasks]
        if self.client_id:
            fields.append(self.client_id)
        self.s.send(pack(*fields))
        return len(tasks)

    def pump(self, timeout_ms=0, keep=False):
        """Read what is waiting (waiting up to timeout_ms for the first)."""
        n = 0
        while self.s.poll(timeout_ms if n == 0 else 0):
            m = unpack(self.s.recv())
            n += 1
            if m[1] == SUBMITTED:
                self.submitted += len(m[3])
                if keep:
                    self.tickets.extend(m[3])
            elif m[1] == RESULT:
                self.outcomes += len(m[3])
            elif m[1] == ERROR:
                self.errors.append(f"{m[3]}: {m[4]}")
        return n

    def close(self):
        self.s.close(0)
        self.ctx.term()
