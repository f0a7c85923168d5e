# SPDX-License-Identifier: MIT
"""Operations: the systemd units pass systemd-analyze verify, systemd
notification and watchdog through a fake NOTIFY_SOCKET, config files for both daemons (--config, errors naming the
file and line, flags overriding the file)."""

import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import unittest
from contextlib import contextmanager

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from harness import Cluster, wait_for, ZJOBD, WORKER, EXIT_OK  # noqa: E402

ROOT = os.path.normpath(os.path.join(os.path.dirname(os.path.abspath(__file__)),
                                    "..", ".."))


def help_flags(binary):
    """The long flags a daemon's --help lists, without --help/--version/--config."""
    out = subprocess.run([binary, "--help"], capture_output=True, text=True,
                         timeout=10).stdout
    flags = set(re.findall(r"^\s+--([a-z][a-z-]*)", out, re.M))
    return sorted(flags - {"help", "version", "config"})


class UnitsTest(unittest.TestCase):
    """Every unit in systemd/, pointed at this build's binaries and example
    config files, passes systemd-analyze verify without a warning."""

    def test_verify(self):
        analyze = shutil.which("systemd-analyze")
        if not analyze:
            self.skipTest("systemd-analyze is not installed (Debian package systemd)")
        tmp = tempfile.mkdtemp(prefix="zjob-units-")
        self.addCleanup(shutil.rmtree, tmp, True)
        units = sorted(f for f in os.listdir(os.path.join(ROOT, "systemd"))
                       if f.endswith(".service"))
        self.assertEqual(units, ["zjob-worker@.service", "zjobd.service"])
        subst = {
            "/usr/local/bin/zjobd": ZJOBD,
            "/usr/local/bin/zjob-worker": WORKER,
            "/etc/zjob/zjobd.conf": os.path.join(ROOT, "systemd", "zjobd.conf.example"),
            "/etc/zjob/worker-%i.conf": os.path.join(ROOT, "systemd", "worker.conf.example"),
        }
        for unit in units:
            with open(os.path.join(ROOT, "systemd", unit)) as f:
                text = f.read()
            for a, b in subst.items():
                text = text.replace(a, b)
            self.assertIn(ZJOBD if unit.startswith("zjobd") else WORKER, text)
            with open(os.path.join(tmp, unit), "w") as f:
                f.write(text)
        # An instance of the template is verified by name through the
        # unit path; the plain unit too.
        env = dict(os.environ, SYSTEMD_UNIT_PATH=tmp + ":")
        r = subprocess.run([analyze, "verify", "zjobd.service", "zjob-worker@test.service"],
                           capture_output=True, text=True, timeout=60, env=env)
        self.assertEqual(r.returncode, 0, r.stdout + r.stderr)
        # Unknown keys and bad values are only warnings: refuse them too.
        ours = [line for line in (r.stdout + r.stderr).splitlines()
                if "zjob" in line]
        self.assertEqual(ours, [])

    def test_config_examples_are_valid(self):
        for binary, example in ((ZJOBD, "zjobd.conf.example"),
                                (WORKER, "worker.conf.example")):
            r = subprocess.run([binary, "--config", os.path.join(ROOT, "systemd", example),
                                "--help"], capture_output=True, text=True, timeout=10)
            self.assertEqual(r.returncode, 0, r.stderr)
            self.assertEqual(r.stderr, "")


@contextmanager
def environ(**changes):
    """Processes started inside see os.environ with these changes (None
    removes a variable); the harness spawns with os.environ."""
    old = dict(os.environ)
    for k, v in changes.items():
        if v is None:
            os.environ.pop(k, None)
        else:
            os.environ[k] = v
    try:
        yield
    finally:
        os.environ.clear()
        os.environ.update(old)


class NotifyTest(unittest.TestCase):
    """zjobd under a fake systemd: a Unix datagram socket the test binds."""

    def setUp(self):
        self.tmp = tempfile.mkdtemp(prefix="zjob-ops-")
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
        self.path = os.path.join(self.tmp, "notify")
        self.sock.bind(self.path)
        self.sock.settimeout(0.1)
        self.cluster = Cluster(tmp=self.tmp)
        self.messages = []

    def tearDown(self):
        self.cluster.close()
        self.sock.close()

    def receive_until(self, pred, timeout, what):
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            try:
                data = self.sock.recv(4096).decode()
            except socket.timeout:
                continue
            self.messages.append(data)
            if pred(data):
                return data
        self.fail(f"no {what} within {timeout}s; got {self.messages!r}\n"
                  + self.cluster.log(self.cluster.broker))

    def test_ready_status_watchdog_stopping(self):
        # WATCHDOG_PID is left out: it would have to be zjobd's own pid.
        c = self.cluster
        with environ(NOTIFY_SOCKET=self.path, WATCHDOG_USEC="200000", WATCHDOG_PID=None):
            c.start_broker()
        ready = self.receive_until(lambda m: "READY=1" in m, 10, "READY=1")
        self.assertRegex(ready, r"STATUS=serving: 0 queued, 0 running, 0 workers")
        # Pings every 100 ms (half of WATCHDOG_USEC): a handful in a second.
        start = time.monotonic()
        pings = 0
        while pings < 5:
            self.receive_until(lambda m: "WATCHDOG=1" in m, 2, "WATCHDOG=1")
            pings += 1
        self.assertLess(time.monotonic() - start, 2.0)
        # STATUS follows the broker's state.
        self.assertEqual(c.zjob("submit", "nobody").returncode, EXIT_OK)
        self.receive_until(lambda m: "STATUS=serving: 1 queued, 0 running, 0 workers" in m,
                           5, "STATUS with one queued task")
        c.stop(c.broker, signal.SIGTERM)
        self.receive_until(lambda m: "STOPPING=1" in m, 5, "STOPPING=1")

    def test_silent_without_notify_socket(self):
        c = self.cluster
        with environ(NOTIFY_SOCKET=None, WATCHDOG_USEC=None):
            c.start_broker()
        c.zjob("submit", "nobody")
        with self.assertRaises(socket.timeout):
            self.sock.recv(4096)
        self.assertNotIn("systemd notify", c.log(c.broker))


class ConfigTest(unittest.TestCase):
    def setUp(self):
        self.tmp = tempfile.mkdtemp(prefix="zjob-ops-")
        self.cluster = None

    def tearDown(self):
        if self.cluster:
            self.cluster.close()
        subprocess.run(["rm", "-rf", self.tmp])

    def write(self, name, text):
        path = os.path.join(self.tmp, name)
        with open(path, "w") as f:
            f.write(text)
        return path

    def run_bad(self, binary, text, *extra):
        path = self.write("bad.conf", text)
        r = subprocess.run([binary, "--config", path] + list(extra),
                           capture_output=True, text=True, timeout=10)
        self.assertEqual(r.returncode, 2, r.stderr)
        self.assertEqual(r.stdout, "")
        self.assertEqual(len(r.stderr.splitlines()), 1, r.stderr)
        return path, r.stderr

    def test_broker_errors_name_file_and_line(self):
        prog = "zjobd"
        cases = [
            ("clients = tcp://127.0.0.1:*\n\nbogus = 1\n", 3, "unknown key 'bogus'"),
            ("# c\nretention = soon\n", 2, "--retention needs a number"),
            ("retention = 1\nheartbeat = \"1\" x\n", 2, "syntax error"),
            ("retention = 1\n  heartbeat = 1\n", 2, "syntax error: indent"),
            ("retention = 1\nretention = 2\n", 2, "set twice (first on line 1)"),
            ("help = yes\n", 1, "unknown key 'help'"),
        ]
        for text, line, says in cases:
            path, err = self.run_bad(ZJOBD, text)
            self.assertIn(f"{prog}: error bad config file={path} line={line} ", err)
            self.assertIn(says, err)

    def test_worker_errors_name_file_and_line(self):
        cases = [
            ("procs = 2\nprocs = 3\n", 2, "set twice"),
            ("concurrency = many\n", 1, "--concurrency 'many'"),
            ("exec\n    a = x\n    a = y\n", 3, "given twice in section 'exec'"),
            ("exec\n    bad = \n", 2, "no value"),
        ]
        for text, line, says in cases:
            path, err = self.run_bad(WORKER, text)
            self.assertIn(f"zjob-worker: error bad config file={path} line={line} ", err)
            self.assertIn(says, err)

    def test_missing_file(self):
        for binary in (ZJOBD, WORKER):
            r = subprocess.run([binary, "--config", os.path.join(self.tmp, "nope.conf")],
                               capture_output=True, text=True, timeout=10)
            self.assertEqual(r.returncode, 2)
            self.assertIn("No such file or directory", r.stderr)

    def test_every_flag_is_a_key(self):
        # With --help after it, a file with a known key either prints the
        # help or complains about the value; never about the key.
        for binary in (ZJOBD, WORKER):
            flags = help_flags(binary)
            self.assertIn("log-level", flags)
            for flag in flags:
                path = self.write("k.conf", f"{flag} = x\n")
                r = subprocess.run([binary, "--config", path, "--help"],
                                   capture_output=True, text=True, timeout=10)
                self.assertNotIn("unknown key", r.stderr, f"{binary} --{flag}")

    def test_broker_file_and_flag_override(self):
        epfile = os.path.join(self.tmp, "endpoints")
        path = self.write("zjobd.conf", f"""# zjobd for the test
clients = tcp://127.0.0.1:*
workers = tcp://127.0.0.1:*
endpoints-file = {epfile}
retention = 600
max-queued = 2
log-level = warn
""")
        c = self.cluster = Cluster(tmp=self.tmp)
        # Flags win over the file: debug logging, and room for 3 tasks.
        c.broker = c._spawn([ZJOBD, "--config", path, "--log-level", "debug",
                             "--max-queued", "3"], "zjobd")
        wait_for(lambda: os.path.exists(epfile), 10, "endpoints file")
        with open(epfile) as f:
            eps = dict(line.strip().split("=", 1) for line in f)
        c.clients_ep, c.workers_ep = eps["clients"], eps["workers"]
        for _ in range(3):
            self.assertEqual(c.zjob("submit", "nobody").returncode, EXIT_OK)
        r = c.zjob("submit", "nobody")
        self.assertNotEqual(r.returncode, EXIT_OK)
        self.assertIn("limit 3", r.stderr)
        # debug (the flag) rather than warn (the file): the startup info
        # line is there.
        wait_for(lambda: "info listening" in c.log(c.broker), 5, "listening line")

    def test_worker_file_and_flag_override(self):
        c = self.cluster = Cluster(tmp=self.tmp)
        c.start_broker()
        path = self.write("worker.conf", f"""broker = {c.workers_ep}
name = from-file
procs = 2
heartbeat = 0.2
exec
    shout = "tr a-z A-Z"
    twice = "sed 's/.*/&&/'"
""")
        # The flag's exec replaces the file's one of the same name.
        c._spawn([WORKER, "--config", path, "--name", "from-flag",
                  "--exec", "twice=echo '\"flag\"'"], "worker")
        # The handler gets ["abc"] on stdin and prints ["ABC"].
        wait_for(lambda: c.zjob("run", "--timeout", "5", "shout", "abc").stdout.strip()
                 == '["ABC"]', 20, "shout from the file")
        r = c.zjob("run", "--timeout", "5", "twice", "x")
        self.assertEqual(r.stdout.strip(), '"flag"')
        stats = c.zjob("stats").stdout
        self.assertIn('"from-flag"', stats)
        self.assertNotIn('"from-file"', stats)
        # Two supervised processes, both with the merged settings.
        self.assertEqual(stats.count('"from-flag"'), 2)


if __name__ == "__main__":
    unittest.main()
