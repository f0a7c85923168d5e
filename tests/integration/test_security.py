# SPDX-License-Identifier: MIT
"""Security: CURVE admits only listed keys, each list for its own socket
(a client's key cannot register as a worker, nor a worker's submit); peers
without keys are refused (a client within its connect timeout, exit 4);
a broker bound to a non-loopback address without CURVE warns loudly; and
the argument, result and per-client limits refuse a whole SUBMIT with a
stable error while other work goes on undisturbed."""

import json
import os
import re
import subprocess
import sys
import time
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from harness import (Cluster, ClusterTest, wait_for, ZJOB, ZJOBD, EXIT_OK,  # noqa: E402
                     EXIT_FAILED, EXIT_USAGE, EXIT_UNREACHABLE, EXIT_REFUSED)


def keygen(directory, name):
    """zjob keygen NAME in directory; returns (public, secret) paths."""
    r = subprocess.run([ZJOB, "keygen", name], cwd=directory, capture_output=True,
                       text=True, timeout=10)
    assert r.returncode == 0, r.stderr
    return os.path.join(directory, name + ".key"), os.path.join(directory, name + ".key_secret")


def public_txt(path):
    with open(path) as f:
        return re.search(r'public-key = "(.{40})"', f.read()).group(1)


class CurveTest(ClusterTest):
    """A broker with a key pair, one client key and one worker key listed."""

    def setUp(self):
        self.c = Cluster()
        self.addCleanup(self._teardown)
        keys = os.path.join(self.c.tmp, "keys")
        self.cdir, self.wdir = os.path.join(keys, "clients"), os.path.join(keys, "workers")
        os.makedirs(self.cdir)
        os.makedirs(self.wdir)
        self.broker_pub, broker_sec = keygen(keys, "broker")
        self.alice_pub, self.alice_sec = keygen(keys, "alice")
        self.w1_pub, self.w1_sec = keygen(keys, "w1")
        os.rename(self.alice_pub, os.path.join(self.cdir, "alice.key"))
        os.rename(self.w1_pub, os.path.join(self.wdir, "w1.key"))
        self.alice_pub = os.path.join(self.cdir, "alice.key")
        self.w1_pub = os.path.join(self.wdir, "w1.key")
        self.c.start_broker(extra=["--curve-secret", broker_sec, "--client-keys", self.cdir,
                                   "--worker-keys", self.wdir])

    def alice(self, *args, **kw):
        return self.zjob("--curve-secret", self.alice_sec, "--broker-key", self.broker_pub,
                         *args, **kw)

    def worker(self, secret=None, name="w"):
        keys = ["--curve-secret", secret, "--broker-key", self.broker_pub] if secret else []
        return self.c.start_worker("--name", name, *keys)

    def worker_names(self):
        r = self.alice("workers", "--json")
        self.assertExit(r, EXIT_OK)
        return sorted(w.get("name") for w in json.loads(r.stdout))

    def test_keygen_files_and_modes(self):
        self.assertEqual(os.stat(self.alice_sec).st_mode & 0o777, 0o600)
        self.assertEqual(os.stat(self.alice_pub).st_mode & 0o777, 0o644)
        with open(self.alice_pub) as f:
            self.assertNotIn("secret-key", f.read())
        again = subprocess.run([ZJOB, "keygen", "alice"], cwd=os.path.dirname(self.alice_sec),
                               capture_output=True, text=True, timeout=10)
        self.assertExit(again, EXIT_FAILED)
        self.assertIn("exists already", again.stderr)

    def test_authenticated_client_and_worker_complete_tasks(self):
        self.worker(self.w1_sec)
        r = self.alice("run", "echo", "42", timeout=20)
        self.assertExit(r, EXIT_OK)
        self.assertEqual(json.loads(r.stdout), 42)
        r = self.alice("map", "echo", stdin="1\n2\n3\n", timeout=20)
        self.assertExit(r, EXIT_OK)
        self.assertEqual([json.loads(x) for x in r.stdout.split()], [1, 2, 3])
        # The environment variables work as the flags do.
        env = dict(os.environ, ZJOB_BROKER=self.c.clients_ep,
                   ZJOB_CURVE_SECRET=self.alice_sec, ZJOB_BROKER_KEY=self.broker_pub)
        r = subprocess.run([ZJOB, "run", "echo", "7"], env=env, capture_output=True,
                           text=True, timeout=20)
        self.assertExit(r, EXIT_OK)

    def test_client_without_keys_is_unreachable_within_connect_timeout(self):
        t0 = time.monotonic()
        r = self.zjob("--connect-timeout", "1", "run", "echo", "1")
        took = time.monotonic() - t0
        self.assertExit(r, EXIT_UNREACHABLE)
        # The refused handshake must not count as a broker lost after
        # answering (which would wait for --reconnect-timeout, 60 s).
        self.assertLess(took, 5, "a refused client waits its connect timeout only")

    def test_keys_from_the_wrong_list_are_refused(self):
        # A worker's key on the client socket: not in --client-keys.
        r = self.zjob("--connect-timeout", "1", "--curve-secret", self.w1_sec,
                      "--broker-key", self.broker_pub, "stats")
        self.assertExit(r, EXIT_UNREACHABLE)
        # A client's key on the worker socket: the ZAP handler says no.
        self.worker(self.alice_sec, name="rogue-client-key")
        alice_key = public_txt(self.alice_pub)
        wait_for(lambda: f"socket=workers key={alice_key}" in self.c.log(self.c.broker),
                 10, "the broker's refusal of a client key on the worker socket")
        r = self.zjob("--connect-timeout", "1", "--curve-secret", self.alice_sec,
                      "--broker-key", self.w1_pub, "stats")
        self.assertExit(r, EXIT_UNREACHABLE)   # wrong broker key: no handshake

    def test_workers_without_or_with_wrong_keys_never_register(self):
        self.worker(None, name="rogue-nokey")
        self.worker(self.alice_sec, name="rogue-client-key")
        self.worker(self.w1_sec, name="good")
        wait_for(lambda: self.worker_names() == ["good"], 10, "the good worker")
        # Five heartbeats (0.2 s) more: a rogue that got in would show.
        time.sleep(1.0)
        self.assertEqual(self.worker_names(), ["good"])
        self.assertExit(self.alice("run", "echo", "ok", timeout=20), EXIT_OK)

    def test_bad_key_files_are_usage_errors(self):
        r = self.zjob("--curve-secret", self.alice_pub, "--broker-key", self.broker_pub, "stats")
        self.assertExit(r, EXIT_USAGE)
        self.assertIn("no secret key", r.stderr)
        r = self.zjob("--curve-secret", self.alice_sec, "stats")
        self.assertExit(r, EXIT_USAGE)
        self.assertIn("--broker-key", r.stderr)
        r = subprocess.run([ZJOBD, "--durability", "memory", "--clients", "tcp://127.0.0.1:*",
                            "--workers", "tcp://127.0.0.1:*", "--curve-secret", self.alice_sec],
                           capture_output=True, text=True, timeout=10)
        self.assertEqual(r.returncode, EXIT_USAGE, r.stderr)
        self.assertIn("--client-keys", r.stderr)


class OpenBindWarningTest(unittest.TestCase):
    """Bind 0.0.0.0 (nothing leaves the machine: only 127.0.0.1 connects)."""

    def test_non_loopback_without_curve_warns(self):
        c = Cluster()
        self.addCleanup(c.close)
        c.start_broker(clients="tcp://0.0.0.0:*", durability="memory")
        log = c.log(c.broker)
        self.assertRegex(log, r"warn no authentication socket=clients .*anyone who can "
                              r"reach port \d+ can submit tasks.*--curve-secret")
        self.assertNotIn("socket=workers", log)     # the workers socket is on loopback
        port = c.clients_ep.rsplit(":", 1)[1]
        r = c.zjob("stats", broker=f"tcp://127.0.0.1:{port}")
        self.assertEqual(r.returncode, EXIT_OK, r.stderr)

    def test_loopback_does_not_warn(self):
        c = Cluster()
        self.addCleanup(c.close)
        c.start_broker(durability="memory")
        self.assertNotIn("no authentication", c.log(c.broker))


BIG_RESULT = "python3 -c 'print(\"x\" * 5000)'"


class LimitsTest(ClusterTest):
    broker_args = ("--max-args", "1000", "--max-result", "2000",
                   "--max-queued-per-client", "3", "--durability", "memory")

    def setUp(self):
        super().setUp()
        self.c.start_worker("--exec", "big=" + BIG_RESULT, "--concurrency", "4")

    def submitted(self):
        r = self.zjob("stats")
        self.assertExit(r, EXIT_OK)
        s = json.loads(r.stdout)
        return sum(f["submitted"] for f in s.get("functions", {}).values()) \
            if isinstance(s.get("functions"), dict) else s["counters"]["submitted"]

    def raw_submit(self, tasks):
        """One SUBMIT message holding every task, from a raw socket: how the
        CLI splits a map into messages depends on timing, a raw batch not."""
        import msgpack
        import zmq
        ctx = zmq.Context()
        try:
            s = ctx.socket(zmq.DEALER)
            s.setsockopt(zmq.LINGER, 0)
            s.connect(self.c.clients_ep)
            s.send(msgpack.packb([1, 1, 77, [[fn, args, {}] for fn, args in tasks]]))
            self.assertTrue(s.poll(10000), "no answer to SUBMIT")
            return msgpack.unpackb(s.recv(), raw=False)
        finally:
            ctx.destroy(0)

    def test_arguments_over_the_limit_are_refused_whole(self):
        before = self.submitted()
        r = self.zjob("run", "echo", "x" * 2000)
        self.assertExit(r, EXIT_REFUSED)
        self.assertIn("TooLarge", r.stderr + r.stdout)
        self.assertIn("--max-args", r.stderr)
        # A batch with one large task among small ones: none accepted.
        reply = self.raw_submit([("echo", [1]), ("echo", ["y" * 2000]), ("echo", [2])])
        self.assertEqual(reply[1:4], [11, 77, "TooLarge"])
        self.assertEqual(self.submitted(), before)
        # map reports each refused item failed with the refusal (exit 1).
        r = self.zjob("map", "echo", stdin="y" * 2000 + "\n")
        self.assertExit(r, EXIT_FAILED)
        self.assertIn("TooLarge", r.stderr)
        self.assertEqual(self.submitted(), before)
        self.assertExit(self.zjob("run", "echo", "small"), EXIT_OK)

    def test_result_over_the_limit_fails_the_task(self):
        r = self.zjob("run", "big", timeout=20)
        self.assertExit(r, EXIT_FAILED)
        self.assertIn("TooLarge", r.stderr + r.stdout)
        self.assertExit(self.zjob("run", "echo", "after"), EXIT_OK)

    def test_per_client_limit_refuses_the_batch(self):
        before = self.submitted()
        # One connection, one SUBMIT of 5 tasks: over 3, none accepted.
        reply = self.raw_submit([("sleep", [5])] * 5)
        self.assertEqual(reply[1:4], [11, 77, "QueueFull"])
        self.assertIn("--max-queued-per-client", reply[4])
        self.assertEqual(self.submitted(), before)
        # Through the CLI the refusal reaches the user as a clear message.
        r = self.zjob("map", "sleep", stdin="5\n5\n5\n5\n5\n")
        self.assertExit(r, EXIT_FAILED)
        self.assertIn("QueueFull", r.stderr)
        self.assertIn("--max-queued-per-client", r.stderr)
        r = self.zjob("map", "echo", stdin="1\n2\n3\n")
        self.assertExit(r, EXIT_OK)


if __name__ == "__main__":
    unittest.main()
