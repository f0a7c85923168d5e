# SPDX-License-Identifier: MIT
"""Reliability paths against real processes: cancelling a running task
aborts it on its worker and frees the worker at once; task timeouts;
the workers' liveness in `zjob workers`. docs/reliability.md lists what
each test stands for."""

import os
import signal
import subprocess
import sys
import time
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from harness import (ClusterTest, wait_for, EXIT_OK, EXIT_FAILED,  # noqa: E402
                     EXIT_CANCELLED, EXIT_TOOLATE)


class CancelRunningTest(ClusterTest):
    def setUp(self):
        super().setUp()
        # One slot: the next task can only run once the cancelled one let go.
        # A command line no other test runs, to look for it afterwards.
        self.hang = f"sleep 30.{os.getpid()}"
        self.c.start_worker("--concurrency", "1", "--exec", "hang=" + self.hang)

    def status(self, ticket):
        return self.zjob("status", ticket).stdout.strip()

    def cancel_running(self, fn, *args):
        r = self.zjob("submit", fn, *args)
        self.assertExit(r, EXIT_OK)
        ticket = r.stdout.strip()
        wait_for(lambda: self.status(ticket) == "running", 10, f"{fn} running")
        t0 = time.monotonic()
        r = self.zjob("cancel", ticket)
        self.assertExit(r, EXIT_OK)
        self.assertEqual(r.stdout.strip(), "cancelled")
        self.assertLess(time.monotonic() - t0, 5)
        self.assertEqual(self.status(ticket), "cancelled")
        r = self.zjob("result", ticket, "--timeout", "5")
        self.assertExit(r, EXIT_CANCELLED)
        # The worker aborted it: the only slot takes a new task at once.
        t0 = time.monotonic()
        r = self.zjob("run", "echo", "after", "--timeout", "10")
        self.assertExit(r, EXIT_OK)
        self.assertLess(time.monotonic() - t0, 5)
        # Cancelled is final: cancelling again answers the same, and the
        # worker's late outcome (none, it was aborted) changes nothing.
        r = self.zjob("cancel", ticket)
        self.assertExit(r, EXIT_OK)
        self.assertEqual(r.stdout.strip(), "cancelled")
        self.assertEqual(self.status(ticket), "cancelled")
        return ticket

    def test_cancel_running_builtin_sleep(self):
        self.cancel_running("sleep", "30")

    def test_cancel_running_exec_kills_the_command(self):
        r = self.zjob("submit", "hang")
        ticket = r.stdout.strip()
        wait_for(lambda: self.status(ticket) == "running", 10, "hang running")
        pattern = "^(/bin/sh -c )?" + self.hang.replace(".", r"\.") + "$"
        # It really runs, so that its absence below means something.
        wait_for(lambda: subprocess.run(["pgrep", "-f", pattern],
                                        capture_output=True).returncode == 0,
                 5, "the exec command started")
        self.assertExit(self.zjob("cancel", ticket), EXIT_OK)
        # The exec command's process group was killed, not left running.
        # Anchored: the worker's own argv names the command too.
        wait_for(lambda: subprocess.run(["pgrep", "-f", pattern],
                                        capture_output=True).returncode == 1,
                 5, "the exec command killed")

    def test_finished_task_is_too_late(self):
        r = self.zjob("submit", "echo", "1")
        ticket = r.stdout.strip()
        self.assertExit(self.zjob("result", ticket, "--timeout", "10"), EXIT_OK)
        self.assertExit(self.zjob("cancel", ticket), EXIT_TOOLATE)


class TimeoutTest(ClusterTest):
    def setUp(self):
        super().setUp()
        self.c.start_worker("--concurrency", "1")

    def test_task_timeout_fails_timeouterror(self):
        t0 = time.monotonic()
        r = self.zjob("run", "sleep", "5", "--task-timeout", "0.5", "--timeout", "20")
        self.assertExit(r, EXIT_FAILED)
        self.assertTrue(r.stderr.startswith("TimeoutError"), r.stderr)
        self.assertLess(time.monotonic() - t0, 4)
        # The slot is free again.
        self.assertExit(self.zjob("run", "echo", "1", "--timeout", "10"), EXIT_OK)


class LivenessTest(ClusterTest):
    def test_workers_table_shows_liveness(self):
        self.c.start_worker()
        wait_for(lambda: "alive" in self.zjob("workers").stdout, 10, "worker listed")
        r = self.zjob("workers")
        self.assertExit(r, EXIT_OK)
        self.assertIn("LIVENESS", r.stdout.splitlines()[0])


class DrainTest(ClusterTest):
    """SIGTERM to a worker process drains it: running tasks finish (or, at
    --drain-timeout, are given back and run elsewhere), then it exits 0."""

    def running(self, ticket):
        return self.zjob("status", ticket).stdout.strip() == "running"

    def test_running_task_finishes_before_exit(self):
        w = self.c.start_worker("--concurrency", "1")
        ticket = self.zjob("submit", "sleep", "1.5", "x").stdout.strip()
        wait_for(lambda: self.running(ticket), 10, "the task to start")
        os.kill(w.pid, signal.SIGTERM)
        self.assertEqual(w.wait(10), 0, self.c.log(w))
        r = self.zjob("result", ticket, "--timeout", "5")
        self.assertExit(r, EXIT_OK)
        self.assertEqual(r.stdout.strip(), '"x"')
        self.assertIn("info draining reason=SIGTERM", self.c.log(w))
        self.assertIn("reason=drained", self.c.log(w))

    def test_drain_timeout_gives_the_task_back(self):
        hang = f"sleep 30.{os.getpid()}"
        w = self.c.start_worker("--drain-timeout", "0.5", "--exec", f"slow={hang}; echo a")
        ticket = self.zjob("submit", "slow").stdout.strip()
        wait_for(lambda: self.running(ticket), 10, "the task to start")
        t0 = time.monotonic()
        os.kill(w.pid, signal.SIGTERM)
        self.assertEqual(w.wait(10), 0, self.c.log(w))
        self.assertLess(time.monotonic() - t0, 4)
        self.assertIn("drain cut short reason=drain-timeout", self.c.log(w))
        # The command's process group went with it.
        wait_for(lambda: subprocess.run(["pgrep", "-f", hang]).returncode == 1, 5,
                 "the aborted command to be gone")
        # Given back, not lost: it waits for, and runs on, another worker.
        self.c.start_worker("--exec", "slow=echo b")
        r = self.zjob("result", ticket, "--timeout", "10")
        self.assertExit(r, EXIT_OK)
        self.assertEqual(r.stdout.strip(), '"b"')


if __name__ == "__main__":
    unittest.main()
