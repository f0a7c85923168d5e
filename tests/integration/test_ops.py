# SPDX-License-Identifier: MIT
"""Operations: the systemd units pass systemd-analyze verify, systemd
notification and watchdog through a fake NOTIFY_SOCKET, config files
for both daemons (--config, errors naming the file and line, flags
overriding the file), and the Prometheus page scraped over HTTP after a
known sequence of tasks."""

import json
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
import urllib.error
import urllib.request
from contextlib import contextmanager

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from harness import (Cluster, ClusterTest, wait_for, ZJOBD, WORKER, EXIT_OK,  # noqa: E402
                     EXIT_FAILED, EXIT_CANCELLED)

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

    def test_hardening(self):
        """systemd's own exposure score of each unit stays "OK" (< 2 of 10)."""
        analyze = shutil.which("systemd-analyze")
        if not analyze:
            self.skipTest("systemd-analyze is not installed (Debian package systemd)")
        tmp = tempfile.mkdtemp(prefix="zjob-units-")
        self.addCleanup(shutil.rmtree, tmp, True)
        for unit, instance in (("zjobd.service", "zjobd.service"),
                               ("zjob-worker@.service", "zjob-worker@test.service")):
            with open(os.path.join(ROOT, "systemd", unit)) as f:
                text = f.read().replace("/usr/local/bin/zjobd", ZJOBD)
            text = text.replace("/usr/local/bin/zjob-worker", WORKER)
            path = os.path.join(tmp, instance)
            with open(path, "w") as f:
                f.write(text)
            r = subprocess.run([analyze, "security", "--offline=yes", path],
                               capture_output=True, text=True, timeout=60)
            m = re.search(r"Overall exposure level for \S+: ([0-9.]+)", r.stdout)
            if not m:
                self.skipTest("systemd-analyze security --offline needs systemd 252 or later")
            self.assertLess(float(m.group(1)), 2.0, r.stdout)

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
        with environ(NOTIFY_SOCKET=self.path, WATCHDOG_USEC="200000", WATCHDOG_PID=None,
                     STATE_DIRECTORY=self.tmp):
            c.start_broker()
        ready = self.receive_until(lambda m: "READY=1" in m, 10, "READY=1")
        m = re.search(r"STATUS=serving: (\d+) queued, 0 running, 0 workers", ready)
        self.assertTrue(m, ready)
        queued = int(m.group(1))
        # Pings every 100 ms (half of WATCHDOG_USEC): five take about half
        # a second (the bound leaves room for a loaded machine).
        start = time.monotonic()
        pings = 0
        while pings < 5:
            self.receive_until(lambda m: "WATCHDOG=1" in m, 2, "WATCHDOG=1")
            pings += 1
        self.assertLess(time.monotonic() - start, 4.0)
        # STATUS follows the broker's state.
        self.assertEqual(c.zjob("submit", "nobody").returncode, EXIT_OK)
        want = f"STATUS=serving: {queued + 1} queued, 0 running, 0 workers"
        self.receive_until(lambda m: want in m, 5, "STATUS with one more queued task")
        c.stop(c.broker, signal.SIGTERM)
        self.receive_until(lambda m: "STOPPING=1" in m, 5, "STOPPING=1")

    def test_worker_ready_status_watchdog_stopping(self):
        # Both ways a worker runs: alone (--procs 1) and as a supervisor of
        # worker processes, whose children must not speak to systemd.
        c = self.cluster
        c.start_broker()
        for procs, status in ((1, r"STATUS=serving tcp://\S+: 0 tasks running"),
                              (3, r"STATUS=3 of 3 worker processes running, 0 restarts")):
            with environ(NOTIFY_SOCKET=self.path, WATCHDOG_USEC="200000", WATCHDOG_PID=None):
                w = c.start_worker(procs=procs)
            ready = self.receive_until(lambda m: "READY=1" in m, 10, "READY=1")
            if not re.search(status, ready):
                self.receive_until(lambda m: re.search(status, m), 10, status)
            start, pings = time.monotonic(), 0
            while pings < 5:
                self.receive_until(lambda m: "WATCHDOG=1" in m, 2, "WATCHDOG=1")
                pings += 1
            self.assertLess(time.monotonic() - start, 4.0)
            c.stop(w, signal.SIGTERM)
            self.receive_until(lambda m: "STOPPING=1" in m, 5, "STOPPING=1")
            self.assertEqual(w.returncode, 0, c.log(w))
            # One voice per worker: exactly one READY=1 came.
            self.assertEqual(sum("READY=1" in m for m in self.messages), 1, self.messages)
            self.messages.clear()

    def test_silent_without_notify_socket(self):
        c = self.cluster
        with environ(NOTIFY_SOCKET=None, WATCHDOG_USEC=None, STATE_DIRECTORY=self.tmp):
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
        with environ(STATE_DIRECTORY=self.tmp):
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
        with environ(STATE_DIRECTORY=self.tmp):
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


def parse_metrics(text):
    """{(name, ((label, value), ...)): float} from a text exposition,
    checking that every sample's family was declared with a TYPE."""
    samples, types = {}, {}
    for line in text.splitlines():
        if line.startswith("# TYPE "):
            _, _, name, kind = line.split(" ")
            types[name] = kind
            continue
        if not line or line.startswith("#"):
            continue
        m = re.fullmatch(r'([a-z_]+)(?:\{(.*)\})? (\S+)', line)
        assert m, f"bad sample line {line!r}"
        name, labels, value = m.groups()
        family = re.sub(r"_(bucket|sum|count)$", "", name)
        assert name in types or family in types, f"no TYPE for {name}"
        pairs = tuple(re.findall(r'([a-z_]+)="((?:[^"\\]|\\.)*)"', labels or ""))
        samples[(name, pairs)] = float(value)
    return samples


class FreshClusterTest(ClusterTest):
    """A ClusterTest whose broker keeps its state (when it keeps any) in a
    directory of its own: systemd's $STATE_DIRECTORY is the default."""

    def setUp(self):
        state = tempfile.mkdtemp(prefix="zjob-state-")
        self.addCleanup(shutil.rmtree, state, True)
        with environ(STATE_DIRECTORY=state):
            super().setUp()


class MetricsTest(FreshClusterTest):
    """--metrics serves the Prometheus page; its counters follow a known
    sequence of tasks exactly."""

    broker_args = ("--metrics", "127.0.0.1:0", "--heartbeat", "0.2", "--liveness", "3")

    def setUp(self):
        super().setUp()
        m = re.search(r"metrics listening url=(\S+)", self.c.log(self.c.broker))
        self.assertTrue(m, self.c.log(self.c.broker))
        self.url = m.group(1)
        self.assertRegex(self.url, r"^http://127\.0\.0\.1:\d+/metrics$")

    def scrape(self):
        with urllib.request.urlopen(self.url, timeout=10) as r:
            self.assertEqual(r.status, 200)
            self.assertEqual(r.headers["Content-Type"],
                             "text/plain; version=0.0.4; charset=utf-8")
            return parse_metrics(r.read().decode())

    def value(self, samples, name, **labels):
        return samples.get((name, tuple(labels.items())), 0.0)

    def test_known_sequence(self):
        c = self.c
        c.start_worker()
        for i in range(5):
            self.assertEqual(self.zjob("run", "echo", str(i)).returncode, EXIT_OK)
        for _ in range(2):
            self.assertEqual(self.zjob("run", "fail", "ValueError", "no").returncode,
                             EXIT_FAILED)
        # Nobody serves "idle": its tasks wait; one is cancelled.
        ticket = self.zjob("submit", "idle", "x").stdout.strip()
        self.assertEqual(self.zjob("submit", "idle", "y").returncode, EXIT_OK)
        r = self.zjob("cancel", ticket)
        self.assertEqual(r.returncode, EXIT_OK, r.stderr)
        self.assertEqual(self.zjob("result", ticket).returncode, EXIT_CANCELLED)

        s = self.scrape()
        v = lambda name, fn: self.value(s, name, function=fn)  # noqa: E731
        self.assertEqual(v("zjob_tasks_submitted_total", "echo"), 5)
        self.assertEqual(v("zjob_tasks_completed_total", "echo"), 5)
        self.assertEqual(v("zjob_tasks_failed_total", "echo"), 0)
        self.assertEqual(v("zjob_tasks_submitted_total", "fail"), 2)
        self.assertEqual(v("zjob_tasks_failed_total", "fail"), 2)
        self.assertEqual(v("zjob_tasks_completed_total", "fail"), 0)
        self.assertEqual(v("zjob_tasks_submitted_total", "idle"), 2)
        self.assertEqual(v("zjob_tasks_cancelled_total", "idle"), 1)
        self.assertEqual(v("zjob_queue_depth", "idle"), 1)
        self.assertEqual(v("zjob_queue_depth", "echo"), 0)
        self.assertGreater(v("zjob_queue_oldest_age_seconds", "idle"), 0)
        for fn in ("echo", "fail", "idle"):
            self.assertEqual(v("zjob_tasks_retried_total", fn), 0)
            self.assertEqual(v("zjob_tasks_expired_total", fn), 0)
        # Functions a worker registered have series even without tasks.
        self.assertIn(("zjob_tasks_submitted_total", (("function", "noop"),)), s)
        self.assertEqual(self.value(s, "zjob_workers_alive"), 1)
        # One wait and one run observation per task a worker answered.
        for hist in ("zjob_task_wait_seconds", "zjob_task_run_seconds"):
            self.assertEqual(v(hist + "_count", "echo"), 5)
            self.assertEqual(v(hist + "_count", "fail"), 2)
            self.assertEqual(v(hist + "_count", "idle"), 0)
            inf = self.value(s, hist + "_bucket", function="echo", le="+Inf")
            self.assertEqual(inf, 5)
            # Cumulative buckets never decrease.
            buckets = sorted((float(dict(k[1])["le"]), val) for k, val in s.items()
                             if k[0] == hist + "_bucket" and dict(k[1])["function"] == "echo")
            self.assertEqual(len(buckets), 20)
            self.assertEqual([b for _, b in buckets], sorted(b for _, b in buckets))
            self.assertLess(v(hist + "_sum", "echo"), 5 * 10)

        # The same page through the client socket: zjob stats --format
        # prometheus (the STATS map carries it; plain JSON leaves it out).
        r = self.zjob("stats", "--format", "prometheus")
        self.assertEqual(r.returncode, EXIT_OK, r.stderr)
        p = parse_metrics(r.stdout)
        for key, val in s.items():
            if key[0].endswith("_total"):
                self.assertEqual(p[key], val, key)
        r = self.zjob("stats")
        self.assertEqual(r.returncode, EXIT_OK, r.stderr)
        self.assertNotIn("metrics", json.loads(r.stdout))

    def test_retried_and_expired(self):
        c = self.c
        w = c.start_worker()
        ticket = self.zjob("submit", "sleep", "30").stdout.strip()
        wait_for(lambda: self.value(self.scrape(), "zjob_tasks_running", function="sleep") == 1,
                 10, "task running")
        c.stop(w, signal.SIGKILL)
        # The broker loses the silent worker and queues the task again.
        wait_for(lambda: self.value(self.scrape(), "zjob_tasks_retried_total",
                                    function="sleep") == 1, 10, "retried 1")
        s = self.scrape()
        self.assertEqual(self.value(s, "zjob_queue_depth", function="sleep"), 1)
        self.assertEqual(self.value(s, "zjob_tasks_running", function="sleep"), 0)
        self.assertEqual(self.value(s, "zjob_workers_alive"), 0)
        self.assertEqual(self.zjob("cancel", ticket).returncode, EXIT_OK)

    def test_http_errors(self):
        base = self.url.rsplit("/", 1)[0]
        with self.assertRaises(urllib.error.HTTPError) as e:
            urllib.request.urlopen(base + "/nope", timeout=10)
        self.assertEqual(e.exception.code, 404)
        req = urllib.request.Request(self.url, data=b"x", method="POST")
        with self.assertRaises(urllib.error.HTTPError) as e:
            urllib.request.urlopen(req, timeout=10)
        self.assertEqual(e.exception.code, 405)
        # Still serving afterwards.
        self.assertIn(("zjob_workers_alive", ()), self.scrape())


class ExpiryMetricsTest(FreshClusterTest):
    broker_args = ("--metrics", "127.0.0.1:0", "--retention", "0.5")

    def test_expired(self):
        url = re.search(r"metrics listening url=(\S+)", self.c.log(self.c.broker)).group(1)
        self.c.start_worker()
        for i in range(3):
            self.assertEqual(self.zjob("run", "echo", str(i)).returncode, EXIT_OK)

        def expired():
            with urllib.request.urlopen(url, timeout=10) as r:
                s = parse_metrics(r.read().decode())
            return s.get(("zjob_tasks_expired_total", (("function", "echo"),)))
        wait_for(lambda: expired() == 3, 10, "3 expired")


class MetricsStartupTest(unittest.TestCase):
    def run_zjobd(self, addr):
        state = tempfile.mkdtemp(prefix="zjob-state-")
        self.addCleanup(shutil.rmtree, state, True)
        return subprocess.run([ZJOBD, "--clients", "tcp://127.0.0.1:*", "--workers",
                               "tcp://127.0.0.1:*", "--metrics", addr],
                              capture_output=True, text=True, timeout=10,
                              env=dict(os.environ, STATE_DIRECTORY=state))

    def test_bad_address_is_a_usage_error(self):
        for addr in ("nonsense", "127.0.0.1:99999", "127.0.0.1:"):
            r = self.run_zjobd(addr)
            self.assertEqual(r.returncode, 2, r.stderr)
            self.assertIn("--metrics", r.stderr)

    def test_port_in_use_is_a_runtime_error(self):
        s = socket.socket()
        s.bind(("127.0.0.1", 0))
        s.listen(1)
        self.addCleanup(s.close)
        r = self.run_zjobd(f"127.0.0.1:{s.getsockname()[1]}")
        self.assertEqual(r.returncode, 1, r.stderr)
        self.assertIn("Address already in use", r.stderr)


LOG_LINE = re.compile(r'(zjobd|zjob-worker): (error|warn|info|debug) ([a-z][a-z0-9 _-]*?)'
                      r'((?: [a-z_]+=(?:"[^"]*"|[^" ]*))*)')


class LogTest(FreshClusterTest):
    """One event per line with a level and key=value fields; nothing per
    task at the default level, whatever the number of tasks."""

    broker_args = ("--log-level", "info")

    def test_info_has_no_per_task_lines(self):
        c = self.c
        w = c.start_worker("--log-level", "info")
        self.assertEqual(self.zjob("run", "echo", "warm").returncode, EXIT_OK)
        before = len(c.log(c.broker).splitlines()) + len(c.log(w).splitlines())
        items = "".join(f"{i}\n" for i in range(3000))
        r = self.zjob("map", "echo", stdin=items, timeout=120)
        self.assertEqual(r.returncode, EXIT_OK, r.stderr)
        self.assertEqual(len(r.stdout.splitlines()), 3000)
        self.assertEqual(self.zjob("run", "fail", "ValueError", "x").returncode, EXIT_FAILED)
        after = len(c.log(c.broker).splitlines()) + len(c.log(w).splitlines())
        self.assertLessEqual(after - before, 2, c.log(c.broker) + c.log(w))
        c.stop(w)
        for text in (c.log(c.broker), c.log(w)):
            for line in text.splitlines():
                self.assertRegex(line, LOG_LINE)
                self.assertTrue(LOG_LINE.fullmatch(line), line)
        # The stable field names.
        self.assertRegex(c.log(c.broker), r"info worker ready peer=[0-9a-f]+ worker=\S+ ")
        self.assertRegex(c.log(w), r"info connecting .* worker=\S+ .*functions=")


if __name__ == "__main__":
    unittest.main()
