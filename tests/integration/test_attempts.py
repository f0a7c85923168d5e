# SPDX-License-Identifier: MIT
"""Every attempt on record (issue 3, item 8): `zjob status --json` shows a
ticket's runs, with worker host and pid, start and end, and outcome; a
worker killed mid-task leaves a lost attempt before the done one, and an
exec command killed by a signal is a crash, retried within max_retries;
--retry-on retries a raised type; `zjob failed` lists the dead letters."""

import json
import os
import signal
import sys
import time
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from harness import ClusterTest, wait_for, EXIT_OK  # noqa: E402


class AttemptsTest(ClusterTest):
    broker_args = ("--heartbeat", "0.2", "--liveness", "3", "--max-retries", "2")

    def status(self, ticket):
        r = self.zjob("status", "--json", ticket)
        self.assertExit(r, EXIT_OK)
        return json.loads(r.stdout)

    def workers(self):
        r = self.zjob("workers", "--json")
        return json.loads(r.stdout) if r.returncode == 0 and r.stdout.strip() else []

    def test_killed_worker_leaves_a_lost_attempt_then_done(self):
        a = self.c.start_worker()
        wait_for(lambda: len(self.workers()) == 1, 20, "a worker")
        r = self.zjob("submit", "sleep", "2")
        self.assertExit(r, EXIT_OK)
        ticket = r.stdout.strip()
        st = wait_for(lambda: (lambda s: s if s["state"] == "running" else None)
                      (self.status(ticket)), 20, "the task to run")
        self.assertEqual(len(st["attempts"]), 1)
        first = st["attempts"][0]
        self.assertEqual((first["n"], first["outcome"], first["end"]), (1, "running", None))
        victim = first["pid"]
        self.assertTrue(victim > 0 and first["host"])
        os.kill(victim, signal.SIGKILL)
        if victim != a.pid:
            os.kill(a.pid, signal.SIGKILL)
        self.c.start_worker()
        st = wait_for(lambda: (lambda s: s if s["state"] == "done" else None)
                      (self.status(ticket)), 30, "the task to finish")
        att = st["attempts"]
        self.assertEqual([x["outcome"] for x in att], ["lost", "done"], att)
        self.assertEqual(att[0]["pid"], victim)
        self.assertEqual(att[0]["error"], "WorkerLost")
        self.assertNotEqual(att[1]["pid"], victim)
        self.assertIsNone(att[1]["error"])
        self.assertLessEqual(att[0]["start"], att[0]["end"])
        self.assertLessEqual(att[0]["end"], att[1]["start"])
        self.assertGreaterEqual(att[1]["end"] - att[1]["start"], 1.9)
        self.assertLess(abs(att[1]["end"] - time.time()), 60)

    def test_crash_is_retried_and_raise_is_not(self):
        self.c.start_worker("--exec", "die=kill -9 $$", "--exec", "bad=echo 'ValueError: no' >&2; exit 1")
        wait_for(lambda: len(self.workers()) == 1, 20, "a worker")
        r = self.zjob("run", "die")
        self.assertEqual(r.returncode, 1, r.stderr)
        self.assertIn("ExecError", r.stderr)
        ticket = self.zjob("submit", "die").stdout.strip()
        st = wait_for(lambda: (lambda s: s if s["state"] == "failed" else None)
                      (self.status(ticket)), 20, "the crashes")
        self.assertEqual([x["outcome"] for x in st["attempts"]], ["crashed"] * 3)
        ticket = self.zjob("submit", "bad").stdout.strip()
        st = wait_for(lambda: (lambda s: s if s["state"] == "failed" else None)
                      (self.status(ticket)), 20, "the error")
        self.assertEqual([(x["outcome"], x["error"]) for x in st["attempts"]],
                         [("raised", "ValueError")])

    def test_retry_on_retries_that_type_only(self):
        self.c.start_worker()
        wait_for(lambda: len(self.workers()) == 1, 20, "a worker")
        r = self.zjob("submit", "--retry-on", "KeyError", "--retry-on", "ValueError",
                      "--max-retries", "1", "fail", "ValueError", "boom")
        self.assertExit(r, EXIT_OK)
        ticket = r.stdout.strip()
        st = wait_for(lambda: (lambda s: s if s["state"] == "failed" else None)
                      (self.status(ticket)), 20, "the retries")
        self.assertEqual([(x["outcome"], x["error"]) for x in st["attempts"]],
                         [("raised", "ValueError")] * 2)
        r = self.zjob("run", "--retry-on", "KeyError", "fail", "ValueError", "boom")
        self.assertEqual(r.returncode, 1)
        ticket = self.zjob("submit", "--retry-on", "KeyError", "fail", "ValueError",
                           "x").stdout.strip()
        st = wait_for(lambda: (lambda s: s if s["state"] == "failed" else None)
                      (self.status(ticket)), 20, "the error")
        self.assertEqual(len(st["attempts"]), 1)
        r = self.zjob("submit", "--max-retries", "-1", "noop")
        self.assertEqual(r.returncode, 2)

    def test_failed_lists_dead_letters_only(self):
        r = self.zjob("failed")
        self.assertExit(r, EXIT_OK)
        self.assertIn("no dead letters", r.stdout)
        self.c.start_worker()
        wait_for(lambda: len(self.workers()) == 1, 20, "a worker")
        self.assertEqual(self.zjob("run", "--retry-on", "ValueError", "--max-retries", "1",
                                   "fail", "ValueError", "boom").returncode, 1)
        self.assertEqual(self.zjob("run", "fail", "TypeError", "once").returncode, 1)
        r = self.zjob("failed", "--json")
        self.assertExit(r, EXIT_OK)
        dead = json.loads(r.stdout)
        self.assertEqual([(d["function"], d["error"], d["message"], d["attempts"])
                          for d in dead], [("fail", "ValueError", "boom", 2)])
        r = self.zjob("failed")
        self.assertExit(r, EXIT_OK)
        self.assertIn(dead[0]["ticket"], r.stdout)
        self.assertIn("ValueError: boom", r.stdout)
        self.assertNotIn("TypeError", r.stdout)

    def test_queued_and_unknown_tickets(self):
        r = self.zjob("submit", "noop")
        ticket = r.stdout.strip()
        self.assertEqual(self.status(ticket),
                         {"ticket": ticket, "state": "queued", "attempts": []})
        r = self.zjob("status", "--json", "zzzzzzzz-00000009")
        self.assertEqual(r.returncode, 6)
        self.assertEqual(json.loads(r.stdout)["state"], "unknown")


if __name__ == "__main__":
    unittest.main()
