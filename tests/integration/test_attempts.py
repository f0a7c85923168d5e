# SPDX-License-Identifier: MIT
"""Every attempt on record (issue 3, item 8): `zjob status --json` shows a
ticket's runs, with worker host and pid, start and end, and outcome; a
worker killed mid-task leaves a lost attempt before the done one, and an
exec command killed by a signal is a crash, retried within max_retries;
--retry-on retries a raised type; `zjob failed` lists the dead letters and
`zjob retry` runs one again; the history and the dead letters survive a
kill -9 and restart of a durable broker."""

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

    def flaky_worker(self, marker):
        # Crashes (killed by a signal) while the marker file exists.
        cmd = f"if [ -e {marker} ]; then kill -9 $$; fi; echo '\"fixed\"'"
        w = self.c.start_worker("--exec", f"flaky={cmd}")
        wait_for(lambda: len(self.workers()) == 1, 20, "a worker")
        return w

    def dead_letter(self, marker):
        open(marker, "w").close()
        r = self.zjob("submit", "flaky")
        self.assertExit(r, EXIT_OK)
        ticket = r.stdout.strip()
        wait_for(lambda: self.status(ticket)["state"] == "failed", 30, "the crashes")
        return ticket

    def test_retry_runs_a_dead_letter_again(self):
        marker = os.path.join(self.c.tmp, "broken")
        self.flaky_worker(marker)
        ticket = self.dead_letter(marker)
        r = self.zjob("failed", "--json")
        self.assertEqual([d["ticket"] for d in json.loads(r.stdout)], [ticket])
        # Still broken: it fails again, crashed three more times.
        r = self.zjob("retry", ticket, "--wait", "--timeout", "30")
        self.assertEqual(r.returncode, 1, r.stderr)
        self.assertIn("ExecError", r.stderr)
        self.assertEqual([x["outcome"] for x in self.status(ticket)["attempts"]],
                         ["crashed"] * 6)
        os.unlink(marker)
        r = self.zjob("retry", ticket)
        self.assertExit(r, EXIT_OK)
        self.assertEqual(r.stdout, "queued\n")
        r = self.zjob("result", ticket, "--timeout", "30")
        self.assertExit(r, EXIT_OK)
        self.assertEqual(r.stdout.strip(), '"fixed"')
        att = self.status(ticket)["attempts"]
        self.assertEqual([x["outcome"] for x in att], ["crashed"] * 6 + ["done"])
        self.assertEqual([x["n"] for x in att], list(range(1, 8)))
        r = self.zjob("failed", "--json")
        self.assertEqual(json.loads(r.stdout), [])
        # Done is final; unknown is unknown; --timeout wants --wait.
        r = self.zjob("retry", ticket)
        self.assertEqual(r.returncode, 8, r.stderr)
        self.assertIn("it is done, not failed", r.stderr)
        self.assertEqual(self.zjob("retry", "zzzzzzzz-00000009").returncode, 6)
        r = self.zjob("retry", "--timeout", "1", ticket)
        self.assertEqual(r.returncode, 2)
        self.assertIn("--wait", r.stderr)

    def restart_broker(self):
        clients, workers = self.c.clients_ep, self.c.workers_ep
        self.c.stop(self.c.broker, signal.SIGKILL)
        self.c.start_broker(clients=clients, workers=workers)

    def test_history_and_dead_letters_survive_a_restart(self):
        marker = os.path.join(self.c.tmp, "broken")
        self.flaky_worker(marker)
        dead = self.dead_letter(marker)
        before = self.status(dead)["attempts"]
        self.assertEqual([x["outcome"] for x in before], ["crashed"] * 3)
        # A task that raised (kept, not a dead letter), and one out on a
        # worker when the broker dies: its run comes back as lost.
        raised = self.zjob("submit", "fail", "TypeError", "no").stdout.strip()
        wait_for(lambda: self.status(raised)["state"] == "failed", 20, "the error")
        running = self.zjob("submit", "sleep", "3", "slept").stdout.strip()
        wait_for(lambda: self.status(running)["state"] == "running", 20, "the task to run")
        self.restart_broker()
        after = self.status(dead)["attempts"]
        self.assertEqual(len(after), 3)
        for x, y in zip(before, after):
            self.assertEqual((x["host"], x["pid"], x["outcome"], x["error"]),
                             (y["host"], y["pid"], y["outcome"], y["error"]))
            self.assertAlmostEqual(x["start"], y["start"], delta=0.01)
            self.assertAlmostEqual(x["end"], y["end"], delta=0.01)
        r = self.zjob("failed", "--json")
        self.assertEqual([d["ticket"] for d in json.loads(r.stdout)], [dead])
        self.assertEqual([(x["outcome"], x["error"]) for x in
                          self.status(raised)["attempts"]], [("raised", "TypeError")])
        # The interrupted run is on record as lost; the task runs again.
        r = self.zjob("result", running, "--timeout", "30")
        self.assertExit(r, EXIT_OK)
        att = self.status(running)["attempts"]
        self.assertEqual([x["outcome"] for x in att], ["lost", "done"], att)
        self.assertEqual(att[0]["error"], "WorkerLost")
        # Retried after the restart: its args came back from the store.
        os.unlink(marker)
        r = self.zjob("retry", dead, "--wait", "--timeout", "30")
        self.assertExit(r, EXIT_OK)
        self.assertEqual(r.stdout.strip(), '"fixed"')
        r = self.zjob("retry", raised, "--wait", "--timeout", "30")
        self.assertEqual(r.returncode, 1)
        self.assertIn("TypeError: no", r.stderr)
        # ... and the retried history survives another restart.
        self.restart_broker()
        self.assertEqual([x["outcome"] for x in self.status(dead)["attempts"]],
                         ["crashed"] * 3 + ["done"])
        self.assertEqual([x["outcome"] for x in self.status(raised)["attempts"]],
                         ["raised", "raised"])

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
