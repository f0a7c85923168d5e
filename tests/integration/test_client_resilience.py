# SPDX-License-Identifier: MIT
"""Client resilience against a real zjobd: a `zjob result` or `zjob run`
waiting while the broker is restarted on the same ports, killed, or hung.
With a durable store the CLI reconnects and prints the result; with the
memory store the futures fail with BrokerLost (exit 4) instead of
hanging."""

import json
import os
import signal
import subprocess
import sys
import time
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from harness import (ClusterTest, Cluster, wait_for, sanitizer_report,  # noqa: E402
                     EXIT_OK, EXIT_UNREACHABLE, ZJOB)


class ResilienceTest(ClusterTest):
    def setUp(self):
        # Each test starts its broker itself, with the store it needs.
        self.c = Cluster(self.broker_args)
        self.addCleanup(self._teardown)
        self.waiters = []

    # -- helpers -----------------------------------------------------
    def subscribed_clients(self):
        r = self.zjob("stats")
        self.assertExit(r, EXIT_OK)
        return json.loads(r.stdout)["clients"]

    def start_waiting(self, *args):
        """Start `zjob ARGS...` in the background, its stderr in a file;
        return once the broker counts it as a subscribed client."""
        before = self.subscribed_clients()
        err = open(os.path.join(self.c.tmp, f"zjob-{len(self.waiters)}.err"), "w+")
        p = subprocess.Popen([ZJOB] + [str(a) for a in args], stdout=subprocess.PIPE,
                             stderr=err, text=True,
                             env=dict(os.environ, ZJOB_BROKER=self.c.clients_ep))
        p.err = err
        self.waiters.append(p)
        self.addCleanup(self.reap, p)
        wait_for(lambda: self.subscribed_clients() > before, 10, "the CLI's FETCH")
        return p

    def reap(self, p):
        if p.poll() is None:
            p.kill()
            p.wait()
        p.stdout.close()
        p.err.close()

    def stderr_so_far(self, p):
        with open(p.err.name) as f:
            return f.read()

    def finish(self, p, timeout=30):
        """Wait for the background CLI; return (exit code, stdout, stderr)."""
        out, _ = p.communicate(timeout=timeout)
        p.err.seek(0)
        err = p.err.read()
        report = sanitizer_report(err)
        if report:
            self.fail(f"sanitizer report from zjob:\n{report}")
        return p.returncode, out, err

    def restart_broker(self, sig, **kw):
        """Stop the broker with sig and start a new one on the same ports."""
        clients, workers = self.c.clients_ep, self.c.workers_ep
        self.c.stop(self.c.broker, sig)
        self.c.start_broker(clients=clients, workers=workers, **kw)

    # -- memory store: the broker comes back empty --------------------
    def check_brokerlost(self, sig):
        self.c.start_broker(durability="memory")
        r = self.zjob("submit", "nosuch")       # no worker runs it: it waits
        self.assertExit(r, EXIT_OK)
        ticket = r.stdout.strip()
        p = self.start_waiting("result", ticket, "--reconnect-timeout", "20")
        t0 = time.monotonic()
        self.restart_broker(sig, durability="memory")
        code, out, err = self.finish(p)
        took = time.monotonic() - t0
        print(f"{sig.name}: exit {code} after {took:.2f} s: {err.strip()}")
        self.assertEqual(code, EXIT_UNREACHABLE, err)
        self.assertEqual(out, "")
        self.assertIn("restarted without the task's state", err)
        self.assertIn(ticket, err)
        self.assertLess(took, 10)
        return err

    def test_sigterm_memory_restart_fails_brokerlost(self):
        # DISCONNECT tells the CLI at once.
        err = self.check_brokerlost(signal.SIGTERM)
        self.assertIn('why="it sent DISCONNECT"', err)

    def test_kill9_memory_restart_fails_brokerlost(self):
        # No DISCONNECT: the broken connection tells the CLI, long before
        # heartbeat silence (5 s) would.
        err = self.check_brokerlost(signal.SIGKILL)
        self.assertIn('why="the connection broke"', err)

    def test_broker_gone_for_good_fails_after_reconnect_timeout(self):
        self.c.start_broker(durability="memory")
        ticket = self.zjob("submit", "nosuch").stdout.strip()
        p = self.start_waiting("result", ticket, "--reconnect-timeout", "1.5")
        t0 = time.monotonic()
        self.c.stop(self.c.broker, signal.SIGTERM)
        code, out, err = self.finish(p)
        took = time.monotonic() - t0
        self.assertEqual(code, EXIT_UNREACHABLE, err)
        self.assertIn("did not answer again within 1.5 s", err)
        self.assertGreater(took, 1.4)
        self.assertLess(took, 6)

    # -- durable store: the result survives ---------------------------
    def test_result_survives_durable_restart(self):
        self.c.start_broker(durability="normal")
        ticket = self.zjob("submit", "echo", '"kept"').stdout.strip()
        p = self.start_waiting("result", ticket, "--timeout", "30")
        self.restart_broker(signal.SIGTERM, durability="normal")
        # Only now a worker: the task ran on no broker before the restart.
        self.c.start_worker()
        code, out, err = self.finish(p)
        self.assertEqual(code, EXIT_OK, err)
        self.assertEqual(json.loads(out), "kept")
        self.assertIn("broker lost", err)

    def test_run_survives_durable_restart_mid_task(self):
        self.c.start_broker(durability="normal")
        self.c.start_worker()
        p = self.start_waiting("run", "sleep", "1", '"slept"', "--timeout", "30")
        # The task is running at the worker when the broker goes away.
        wait_for(lambda: any(w["running"] for w in json.loads(
            self.zjob("workers", "--json").stdout)), 10, "the task to run")
        self.restart_broker(signal.SIGKILL, durability="normal")
        code, out, err = self.finish(p)
        self.assertEqual(code, EXIT_OK, err)
        self.assertEqual(json.loads(out), "slept")

    # -- a hung broker: heartbeats notice, the wait goes on -----------
    def test_cli_waits_through_a_hung_broker(self):
        self.c.start_broker(durability="memory")
        ticket = self.zjob("submit", "echo", '"after"').stdout.strip()
        p = self.start_waiting("result", ticket, "--timeout", "40")
        os.killpg(self.c.broker.pid, signal.SIGSTOP)
        try:
            # liveness (5) x heartbeat (1 s) of silence, then reconnecting.
            wait_for(lambda: "broker lost" in self.stderr_so_far(p), 15,
                     "the CLI to notice the hung broker")
        finally:
            os.killpg(self.c.broker.pid, signal.SIGCONT)
        self.c.start_worker()
        code, out, err = self.finish(p)
        self.assertEqual(code, EXIT_OK, err)
        self.assertEqual(json.loads(out), "after")
        self.assertIn('why="it stopped answering"', err)


if __name__ == "__main__":
    unittest.main()
