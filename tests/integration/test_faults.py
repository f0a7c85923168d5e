# SPDX-License-Identifier: MIT
"""Fault tests against real processes (issue 3, item 9): kill -9 of the
worker process running a task; kill -9 of every worker, then new ones; the
supervisor restarting a killed child; kill -9 of the broker and a restart
on the same ports and state while workers and a waiting client stay; and a
soak of 10,000 tasks with a worker child killed every half second. Each
ticket's RESULT entries are counted on a raw ZJP/1 socket, so that a
ticket resolved twice is seen, not overwritten. docs/reliability.md lists
what each test stands for."""

import json
import os
import random
import signal
import subprocess
import sys
import threading
import time
import unittest

import msgpack

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from harness import ClusterTest, ZJOB, wait_for, EXIT_OK  # noqa: E402
from test_store import Wire, SUBMIT, SUBMITTED, RESULT, ERROR  # noqa: E402

DONE, FAILED = 3, 4


class Counter(Wire):
    """A raw client that submits and counts every RESULT entry per ticket
    (the SUBMIT subscribes the socket to its tickets, protocol 5.1)."""

    def __init__(self, endpoint):
        super().__init__(endpoint)
        self.tickets = {}       # ticket -> the value its task returns
        self.pending = {}       # req -> values, until SUBMITTED
        self.counts = {}        # ticket -> RESULT entries seen; outcomes keeps the first

    def submit(self, tasks, values):
        self.req += 1
        self.pending[self.req] = values
        self.send(SUBMIT, self.req, tasks)

    def pump(self, timeout_ms=50):
        while self.s.poll(timeout_ms):
            timeout_ms = 0
            m = msgpack.unpackb(self.s.recv(), raw=False)
            if m[1] == SUBMITTED:
                for t, v in zip(m[3], self.pending.pop(m[2])):
                    self.tickets[t] = v
            elif m[1] == RESULT:
                for ticket, state, payload in m[3]:
                    self.counts[ticket] = self.counts.get(ticket, 0) + 1
                    self.outcomes.setdefault(ticket, (state, payload))
            elif m[1] == ERROR:
                self.errors.append(m[2:])

    def until(self, cond, timeout):
        """Pump until cond() or the deadline; returns cond()."""
        deadline = time.monotonic() + timeout
        while not cond() and time.monotonic() < deadline:
            self.pump(50)
        return cond()

    def duplicated(self):
        return sorted(t for t, n in self.counts.items() if n > 1)


def sleep_tasks(first, n, seconds=0.001):
    """`sleep S i` returns i: each result names its task."""
    return [["sleep", [seconds, i], {}] for i in range(first, first + n)]


def children(pid):
    """The live child pids of a process (a worker supervisor's children)."""
    try:
        with open(f"/proc/{pid}/task/{pid}/children") as f:
            return [int(x) for x in f.read().split()]
    except OSError:
        return []


def ppid(pid):
    with open(f"/proc/{pid}/stat") as f:
        return int(f.read().rsplit(")", 1)[1].split()[1])


class FaultTest(ClusterTest):
    # Quick loss detection (2.5 s), and retries enough that no task under
    # test exhausts them.
    broker_args = ("--heartbeat", "0.5", "--max-retries", "10")

    def setUp(self):
        super().setUp()
        self.w = Counter(self.c.clients_ep)
        self.addCleanup(self.w.close)

    def workers(self):
        r = self.zjob("workers", "--json")
        return json.loads(r.stdout) if r.returncode == 0 and r.stdout.strip() else []

    def stats(self):
        r = self.zjob("stats")
        self.assertExit(r, EXIT_OK)
        return json.loads(r.stdout)

    def submit(self, n, seconds=0.001, batch=500):
        for first in range(0, n, batch):
            self.w.submit(sleep_tasks(first, min(batch, n - first), seconds),
                          list(range(first, min(first + batch, n))))
        self.assertTrue(self.w.until(lambda: len(self.w.tickets) == n, 60),
                        f"{len(self.w.tickets)} of {n} tickets")
        self.assertEqual(self.w.errors, [])

    def assert_each_done_once(self, n, timeout):
        w = self.w
        self.assertTrue(w.until(lambda: len(w.tickets) == n, 30), "SUBMITTED")
        w.until(lambda: len(w.outcomes) == len(w.tickets), timeout)
        lost = [t for t in w.tickets if t not in w.outcomes]
        wrong = [(t, w.outcomes[t]) for t in w.tickets
                 if t in w.outcomes and w.outcomes[t] != (DONE, w.tickets[t])]
        self.assertEqual((len(lost), wrong[:5]), (0, []), "lost or wrong tickets")
        self.assertEqual(w.duplicated(), [])

    def test_worker_killed_mid_task_runs_elsewhere_once(self):
        a = self.c.start_worker("--concurrency", "1")
        b = self.c.start_worker("--concurrency", "1")
        wait_for(lambda: len(self.workers()) == 2, 20, "two workers")
        self.w.submit([["sleep", [2, "x"], {}]], ["x"])
        running = wait_for(lambda: [x for x in self.workers() if x["running"] == 1],
                           20, "the task to run")
        victim = running[0]["pid"]
        self.assertIn(victim, [p for g in (a, b) for p in [g.pid] + children(g.pid)])
        os.kill(victim, signal.SIGKILL)
        self.assert_each_done_once(1, 60)
        # Another process ran it: the victim never came back.
        self.assertNotIn(victim, [x["pid"] for x in self.workers()])
        self.assertGreaterEqual(self.stats()["counters"]["retried"], 1)
        # Past the loss and the requeue, nothing comes a second time.
        self.w.until(lambda: False, 1.5)
        self.assertEqual(self.w.duplicated(), [])

    def test_every_worker_killed_then_new_ones_finish_everything(self):
        first = [self.c.start_worker("--concurrency", "2", "--prefetch", "2", procs=2)
                 for _ in range(2)]
        wait_for(lambda: len(self.workers()) == 4, 20, "four worker processes")
        n = 300
        self.submit(n, seconds=0.05, batch=100)
        # Some done, some running, most queued.
        self.assertTrue(self.w.until(lambda: len(self.w.outcomes) >= 20, 60), "first results")
        self.assertGreater(sum(x["running"] for x in self.workers()), 0)
        for g in first:
            self.c.stop(g, signal.SIGKILL)
        self.assertLess(len(self.w.outcomes), n, "all done before the kill")
        for _ in range(2):
            self.c.start_worker("--concurrency", "2", procs=2)
        self.assert_each_done_once(n, 120)
        self.assertGreaterEqual(self.stats()["counters"]["retried"], 1)

    def test_supervisor_restarts_a_killed_child(self):
        sup = self.c.start_worker("--concurrency", "1", procs=2)
        wait_for(lambda: len(self.workers()) == 2, 20, "two worker processes")
        before = {x["pid"] for x in self.workers()}
        self.assertEqual(before, set(children(sup.pid)))
        victim = sorted(before)[0]
        os.kill(victim, signal.SIGKILL)
        new = wait_for(lambda: {x["pid"] for x in self.workers()} - before, 30,
                       "a new child in zjob workers")
        (child,) = new
        self.assertEqual(ppid(child), sup.pid)
        self.assertIsNone(sup.poll())
        # The new child takes tasks.
        self.submit(40, seconds=0.3, batch=40)
        wait_for(lambda: any(x["pid"] == child and x["running"] > 0 for x in self.workers()),
                 30, "the new child running a task")
        self.assert_each_done_once(40, 120)
        self.assertIsNone(sup.poll())
        self.assertIn(child, children(sup.pid))

    def test_broker_killed_and_restarted_while_everyone_waits(self):
        c = self.c
        sup = c.start_worker("--concurrency", "1", procs=2)
        wait_for(lambda: len(self.workers()) == 2, 20, "two worker processes")
        pids = {x["pid"] for x in self.workers()}
        r = self.zjob("submit", "sleep", "3", "late")
        self.assertExit(r, EXIT_OK)
        ticket = r.stdout.strip()
        wait_for(lambda: self.zjob("status", ticket).stdout.strip() == "running", 20,
                 "the task to run")
        waiter = subprocess.Popen([ZJOB, "result", ticket, "--timeout", "120"],
                                  stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                                  env=dict(os.environ, ZJOB_BROKER=c.clients_ep))
        self.addCleanup(lambda: waiter.poll() is None and (waiter.kill(), waiter.wait()))
        time.sleep(0.3)  # let the waiter send its FETCH; either way it must get the result
        clients_ep, workers_ep = c.clients_ep, c.workers_ep
        c.stop(c.broker, signal.SIGKILL)
        c.start_broker(clients=clients_ep, workers=workers_ep)
        out, err = waiter.communicate(timeout=120)
        self.assertEqual((waiter.returncode, out.strip()), (EXIT_OK, '"late"'), err)
        # The workers registered again by themselves: same processes.
        wait_for(lambda: {x["pid"] for x in self.workers()} == pids, 30,
                 "the same worker pids registered again")
        self.assertIsNone(sup.poll())
        self.assertEqual(set(children(sup.pid)), pids)
        self.assertExit(self.zjob("run", "echo", "1", "--timeout", "30"), EXIT_OK)

    def test_soak_10000_tasks_with_random_worker_kills(self):
        c, w = self.c, self.w
        sups = [c.start_worker("--concurrency", "4", "--prefetch", "8", procs=2)
                for _ in range(2)]
        wait_for(lambda: len(self.workers()) == 4, 20, "four worker processes")
        n, batch, kill_every, kill_for = 10000, 250, 0.5, 60.0
        rng = random.Random(os.getpid())
        kills = [0]
        stop = threading.Event()

        def killer():
            end = time.monotonic() + kill_for
            while not stop.wait(kill_every) and time.monotonic() < end:
                live = [p for s in sups for p in children(s.pid)]
                # Keep one process alive so that the soak moves while the
                # supervisors back off from children that keep dying.
                if len(live) >= 2:
                    try:
                        os.kill(rng.choice(live), signal.SIGKILL)
                        kills[0] += 1
                    except ProcessLookupError:
                        pass

        t0 = time.monotonic()
        th = threading.Thread(target=killer, daemon=True)
        th.start()
        self.addCleanup(stop.set)
        # Submitted over ~20 s so that kills land all through the run.
        for first in range(0, n, batch):
            w.submit(sleep_tasks(first, batch), list(range(first, first + batch)))
            w.until(lambda: False, 0.5)
        w.until(lambda: len(w.tickets) == n, 60)
        w.until(lambda: len(w.outcomes) == n, 180)
        stop.set()
        th.join(10)
        # Anything resolved twice shows up within a few heartbeats.
        w.until(lambda: False, 2)
        elapsed = time.monotonic() - t0
        lost = [t for t in w.tickets if t not in w.outcomes]
        dup = w.duplicated()
        failed = [t for t, o in w.outcomes.items() if o[0] == FAILED]
        wrong = [t for t, o in w.outcomes.items()
                 if o[0] == DONE and o[1] != w.tickets.get(t)]
        retried = self.stats()["counters"]["retried"]
        print(f"\n  soak: tasks={len(w.tickets)} kills={kills[0]} lost={len(lost)} "
              f"duplicated={len(dup)} failed={len(failed)} retried={retried} "
              f"elapsed={elapsed:.1f}s", file=sys.stderr)
        self.assertEqual(w.errors, [])
        self.assertEqual(len(w.tickets), n)
        self.assertEqual(len(lost), 0)
        self.assertEqual(len(dup), 0)
        self.assertEqual(wrong, [])
        # With --max-retries 10 no ticket exhausts its attempts.
        self.assertEqual([w.outcomes[t] for t in failed][:5], [])
        self.assertGreaterEqual(kills[0], 10)


if __name__ == "__main__":
    unittest.main()
