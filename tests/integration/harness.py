# SPDX-License-Identifier: MIT
"""harness - start real zjobd and zjob-worker processes on loopback for
one test, drive them through the zjob CLI, and clean up every process by
PID at teardown. Each cluster gets its own temporary directory and its own
free ports (the broker binds tcp://127.0.0.1:* and reports the ports)."""

import os
import shutil
import signal
import subprocess
import tempfile
import time
import unittest

BUILD = os.environ.get("ZJOB_BUILD_DIR") or os.path.join(
    os.path.dirname(os.path.abspath(__file__)), "..", "..", "build")
ZJOBD = os.path.join(BUILD, "broker", "zjobd")
WORKER = os.path.join(BUILD, "worker", "zjob-worker")
ZJOB = os.path.join(BUILD, "client", "zjob")

# Exit codes of the zjob CLI (README.md, "Exit codes").
EXIT_OK, EXIT_FAILED, EXIT_USAGE, EXIT_TIMEOUT = 0, 1, 2, 3
EXIT_UNREACHABLE, EXIT_CANCELLED, EXIT_UNKNOWN, EXIT_REFUSED, EXIT_TOOLATE = 4, 5, 6, 7, 8

# Lines that ASan, LSan and UBSan print when they find something. A daemon
# under a sanitizer build (scripts/test's second pass) may report and go on
# or die; either way the test that ran it fails at teardown.
SANITIZER_MARKS = ("ERROR: AddressSanitizer", "ERROR: LeakSanitizer",
                   "runtime error:", "SUMMARY: UndefinedBehaviorSanitizer")


def sanitizer_report(text):
    """The first sanitizer report in a log, with some context, or None."""
    for mark in SANITIZER_MARKS:
        at = text.find(mark)
        if at >= 0:
            start = text.rfind("\n", 0, max(at - 2000, 0)) + 1
            return text[start:at + 6000]
    return None


def wait_for(cond, timeout=10.0, what="condition"):
    """Poll cond() until it is truthy or the deadline passes."""
    deadline = time.monotonic() + timeout
    while True:
        value = cond()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout}s waiting for {what}")
        time.sleep(0.02)


class Cluster:
    """One broker plus any number of worker processes."""

    # Seconds zjobd may take to write its endpoints file (valgrind is slow).
    ready_timeout = 10

    def __init__(self, broker_args=(), tmp=None, prefix=()):
        self.tmp = tmp or tempfile.mkdtemp(prefix="zjob-test-")
        # Put before every daemon's argv, e.g. ["valgrind", ...].
        self.prefix = list(prefix)
        self.procs = []
        self.broker = None
        self.broker_args = list(broker_args)
        self.clients_ep = self.workers_ep = None
        self.state_dir = os.path.join(self.tmp, "state")

    # -- processes ---------------------------------------------------
    def _spawn(self, argv, name):
        argv = self.prefix + argv
        log = open(os.path.join(self.tmp, f"{name}-{len(self.procs)}.log"), "wb")
        p = subprocess.Popen(argv, stdout=log, stderr=subprocess.STDOUT,
                             stdin=subprocess.DEVNULL, start_new_session=True)
        p.log_path = log.name
        log.close()
        self.procs.append(p)
        return p

    def start_broker(self, clients="tcp://127.0.0.1:*", workers="tcp://127.0.0.1:*",
                     extra=(), state_dir=None, durability=None):
        """Start zjobd. Its store is `state_dir`, by default the cluster's
        own `state` directory (never the machine's /var/lib/zjob), so a
        broker started again in the same cluster finds what the last one
        kept. `durability` is memory, normal or full (zjobd's default:
        normal)."""
        epfile = os.path.join(self.tmp, "endpoints")
        if os.path.exists(epfile):
            os.unlink(epfile)
        argv = [ZJOBD, "--clients", clients, "--workers", workers,
                "--endpoints-file", epfile, "--log-level", "debug"]
        argv += self.broker_args + list(extra)
        if not any(a.startswith("--state-dir") for a in argv):
            argv += ["--state-dir", state_dir or self.state_dir]
        if durability:
            argv += ["--durability", durability]
        self.broker = self._spawn(argv, "zjobd")

        def ready():
            if self.broker.poll() is not None:
                raise AssertionError("zjobd exited early:\n" + self.log(self.broker))
            return os.path.exists(epfile)
        wait_for(ready, self.ready_timeout, "zjobd endpoints file")
        with open(epfile) as f:
            eps = dict(line.strip().split("=", 1) for line in f if "=" in line)
        self.clients_ep, self.workers_ep = eps["clients"], eps["workers"]
        return self.broker

    def start_worker(self, *args, procs=1):
        argv = [WORKER, "--broker", self.workers_ep, "--procs", str(procs),
                "--heartbeat", "0.2", "--log-level", "debug"] + list(args)
        return self._spawn(argv, "worker")

    def log(self, p):
        try:
            with open(p.log_path, "rb") as f:
                return f.read().decode(errors="replace")
        except OSError:
            return ""

    def stop(self, p, sig=signal.SIGTERM, timeout=10):
        """Signal a process group and reap it; SIGKILL after timeout."""
        if p.poll() is None:
            try:
                os.killpg(p.pid, sig)
            except ProcessLookupError:
                pass
            try:
                p.wait(timeout)
            except subprocess.TimeoutExpired:
                os.killpg(p.pid, signal.SIGKILL)
                p.wait(5)
        return p.returncode

    def close(self):
        """Stop every process and remove the directory. Returns the
        sanitizer reports found in the daemons' logs, as (argv0, pid,
        excerpt) tuples; empty when there were none."""
        for p in reversed(self.procs):
            try:
                self.stop(p, timeout=5)
            except (ProcessLookupError, PermissionError):
                pass
        # Anything a supervisor might have left behind in its group.
        for p in self.procs:
            try:
                os.killpg(p.pid, signal.SIGKILL)
            except (ProcessLookupError, PermissionError):
                pass
        reports = [(p.args[0], p.pid, r) for p in self.procs
                   if (r := sanitizer_report(self.log(p)))]
        shutil.rmtree(self.tmp, ignore_errors=True)
        return reports

    # -- the CLI -----------------------------------------------------
    def zjob(self, *args, stdin=None, timeout=30, broker=None):
        env = dict(os.environ, ZJOB_BROKER=broker or self.clients_ep)
        r = subprocess.run([ZJOB] + [str(a) for a in args], input=stdin,
                           capture_output=True, text=True, timeout=timeout, env=env)
        report = sanitizer_report(r.stderr or "")
        if report:
            raise AssertionError(f"sanitizer report from zjob {args}:\n{report}")
        return r


class ClusterTest(unittest.TestCase):
    """A test case with a fresh broker per test; workers added by tests."""

    broker_args = ()

    def setUp(self):
        self.c = Cluster(self.broker_args)
        self.addCleanup(self._teardown)
        self.c.start_broker()

    def _teardown(self):
        if hasattr(self, "_outcome"):
            # Keep daemon logs visible when a test failed.
            errs = [e for e in getattr(self._outcome.result, "failures", []) +
                    getattr(self._outcome.result, "errors", []) if e[0] is self]
            if errs:
                for p in self.c.procs:
                    print(f"--- {p.args[0]} (pid {p.pid}) log ---\n{self.c.log(p)[-4000:]}")
        reports = self.c.close()
        if reports:
            self.fail("sanitizer report in a daemon's log:\n" + "\n".join(
                f"--- {argv0} (pid {pid}) ---\n{text}" for argv0, pid, text in reports))

    def zjob(self, *args, **kw):
        return self.c.zjob(*args, **kw)

    def assertExit(self, r, code):
        if r.returncode != code:
            self.fail(f"exit {r.returncode}, expected {code}\nstdout: {r.stdout}\n"
                      f"stderr: {r.stderr}")
