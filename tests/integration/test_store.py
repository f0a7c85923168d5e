# SPDX-License-Identifier: MIT
"""The durable store against real processes: kill -9 of zjobd with 10,000
acknowledged tasks in flight, then a restart on the same state directory
and ports, after which every acknowledged ticket completes with its own
result, fetched by a client that did not submit it; idempotent resubmits
across the restart; expired and unknown tickets from the zjob CLI; and
the bad states an operator meets (an unusable directory, a damaged or
cut store, a full store, a second zjobd on the same directory)."""

import os
import re
import signal
import subprocess
import sys
import time
import unittest

import msgpack
import zmq

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from harness import (Cluster, ClusterTest, wait_for, ZJOBD, EXIT_OK,  # noqa: E402
                     EXIT_UNKNOWN)

SUBMIT, SUBMITTED, FETCH, RESULT, ERROR, STATS, STATS_REPLY = 1, 2, 3, 10, 11, 8, 9
DONE_STATE = 3


class Wire:
    """A raw ZJP/1 client: batches of SUBMIT, FETCH, and what comes back."""

    def __init__(self, endpoint, client_id=None):
        self.ctx = zmq.Context()
        self.s = self.ctx.socket(zmq.DEALER)
        self.s.setsockopt(zmq.LINGER, 0)
        self.s.setsockopt(zmq.RCVHWM, 0)
        self.s.setsockopt(zmq.SNDHWM, 0)
        self.s.connect(endpoint)
        self.client_id = client_id
        self.req = 0
        self.submitted = {}     # req -> tickets
        self.outcomes = {}      # ticket -> (state, payload)
        self.errors = []        # (req, code, message)
        self.stats = None

    def close(self):
        self.s.close(0)
        self.ctx.term()

    def send(self, *fields):
        self.s.send(msgpack.packb([1] + list(fields)))

    def submit(self, tasks, req=None):
        if req is None:
            self.req += 1
            req = self.req
        fields = [SUBMIT, req, tasks]
        if self.client_id:
            fields.append(self.client_id)
        self.send(*fields)
        return req

    def fetch(self, tickets):
        self.req += 1
        self.send(FETCH, self.req, tickets)

    def pump(self, timeout_ms=100):
        got = 0
        while self.s.poll(timeout_ms if got == 0 else 0):
            m = msgpack.unpackb(self.s.recv(), raw=False)
            got += 1
            if m[1] == SUBMITTED:
                self.submitted[m[2]] = m[3]
            elif m[1] == RESULT:
                for ticket, state, payload in m[3]:
                    self.outcomes[ticket] = (state, payload)
            elif m[1] == ERROR:
                self.errors.append((m[2], m[3], m[4]))
            elif m[1] == STATS_REPLY:
                self.stats = m[3]
        return got

    def until(self, cond, timeout, what):
        deadline = time.monotonic() + timeout
        while not cond():
            if time.monotonic() > deadline:
                raise AssertionError(f"timed out after {timeout}s waiting for {what}")
            self.pump(50)


def echo_tasks(first, n):
    """`sleep 0.001 i` returns i: each task's result names it."""
    return [["sleep", [0.001, i], {}] for i in range(first, first + n)]


class CrashTest(ClusterTest):
    """kill -9 of the broker with 10,000 acknowledged tasks in flight."""

    def test_kill_9_loses_no_acknowledged_task(self):
        c = self.c
        c.start_worker("--concurrency", "4", "--prefetch", "50", procs=2)
        sub = Wire(c.clients_ep)
        self.addCleanup(sub.close)
        n, batch = 10000, 500
        for first in range(0, n, batch):
            sub.submit(echo_tasks(first, batch))
        sub.until(lambda: sum(map(len, sub.submitted.values())) == n, 60, "10,000 tickets")
        self.assertEqual(sub.errors, [])
        # Kill it while results are still coming: some done, most not.
        sub.until(lambda: len(sub.outcomes) >= 200, 60, "the first results")
        clients_ep, workers_ep = c.clients_ep, c.workers_ep
        c.stop(c.broker, signal.SIGKILL)
        done_before = len(sub.outcomes)
        self.assertLess(done_before, n, "every task finished before the kill; nothing in flight")
        tickets = {}
        for req, ts in sub.submitted.items():
            for i, t in enumerate(ts):
                tickets[t] = (req - 1) * batch + i

        # Same state directory, same ports: workers reconnect by themselves.
        c.start_broker(clients=clients_ep, workers=workers_ep)
        log = c.log(c.broker)
        m = re.search(r"recovered store=sqlite .*queued=(\d+) requeued=(\d+) lost=(\d+) "
                      r"finished=(\d+).* seconds=([0-9.]+)", log)
        self.assertTrue(m, "no recovery summary in the log:\n" + log[-2000:])
        queued, requeued, lost, finished = (int(x) for x in m.groups()[:4])
        self.assertEqual(queued + requeued + finished, n, m.group(0))
        self.assertEqual(lost, 0)
        self.assertGreaterEqual(finished, done_before * 0.5)
        print(f"\n  killed with {n - done_before} of {n} acknowledged tasks unfinished; "
              + m.group(0), file=sys.stderr)

        # A client that submitted nothing fetches every ticket.
        other = Wire(c.clients_ep)
        self.addCleanup(other.close)
        keys = list(tickets)
        for i in range(0, n, 1000):
            other.fetch(keys[i:i + 1000])
        other.until(lambda: len(other.outcomes) == n, 120, "every outcome after the restart")
        wrong = [(t, other.outcomes[t]) for t in keys
                 if other.outcomes[t] != (DONE_STATE, tickets[t])]
        self.assertEqual(wrong[:5], [], f"{len(wrong)} tickets lost or wrong")


class ResubmitTest(ClusterTest):
    def test_resend_after_restart_gets_the_same_tickets(self):
        c = self.c
        a = Wire(c.clients_ep, client_id="client-7f3a")
        self.addCleanup(a.close)
        a.submit(echo_tasks(0, 3), req=41)
        a.until(lambda: 41 in a.submitted, 10, "SUBMITTED")
        first = a.submitted[41]
        clients_ep, workers_ep = c.clients_ep, c.workers_ep
        c.stop(c.broker, signal.SIGKILL)
        c.start_broker(clients=clients_ep, workers=workers_ep)
        # The client resends from a new socket (its reply was lost, say).
        b = Wire(c.clients_ep, client_id="client-7f3a")
        self.addCleanup(b.close)
        b.submit(echo_tasks(0, 3), req=41)
        b.until(lambda: 41 in b.submitted, 10, "SUBMITTED again")
        self.assertEqual(b.submitted[41], first)
        b.send(STATS, 99)
        b.until(lambda: b.stats is not None, 10, "STATS")
        self.assertEqual(b.stats["counters"]["submitted"], 0)
        self.assertEqual(b.stats["tasks"]["queued"], 3)
        # Results reach the resender when a worker comes.
        c.start_worker()
        b.until(lambda: len(b.outcomes) == 3, 30, "results")
        self.assertEqual(sorted(p for _, p in b.outcomes.values()), [0, 1, 2])


class ExpiredTest(ClusterTest):
    broker_args = ("--retention", "1")

    def test_expired_and_unknown_tickets_across_a_restart(self):
        c = self.c
        c.start_worker()
        r = self.zjob("submit", "echo", "1")
        self.assertExit(r, EXIT_OK)
        ticket = r.stdout.strip()
        self.assertExit(self.zjob("result", ticket), EXIT_OK)
        # After the restart the ticket belongs to an earlier generation,
        # and once its retention ends it is expired, not unknown.
        c.stop(c.broker, signal.SIGKILL)
        c.start_broker()
        self.assertEqual(self.zjob("status", ticket).stdout.strip(), "done")
        time.sleep(1.5)

        def expired():
            r = self.zjob("result", ticket)
            return r if r.returncode == EXIT_UNKNOWN else None
        r = wait_for(expired, 10, "retention to end")
        self.assertIn("expired", r.stderr)
        self.assertNotIn("unknown", r.stderr)
        r = self.zjob("result", "zzzzzzzz-00000001")     # a generation never seen
        self.assertExit(r, EXIT_UNKNOWN)
        self.assertIn("unknown ticket", r.stderr)
        self.assertNotIn("expired", r.stderr)


class BadStateTest(unittest.TestCase):
    """zjobd refuses to start on a store it cannot use, and says why."""

    def setUp(self):
        self.c = Cluster()
        self.addCleanup(self.c.close)

    def run_zjobd(self, state, env=None, timeout=30):
        return subprocess.run([ZJOBD, "--clients", "tcp://127.0.0.1:*", "--workers",
                               "tcp://127.0.0.1:*", "--state-dir", state],
                              capture_output=True, text=True, timeout=timeout,
                              env=dict(os.environ, **(env or {})))

    def filled_store(self):
        """A store with a few tasks, closed cleanly (no log left)."""
        c = self.c
        c.start_broker()
        for i in range(20):
            self.assertEqual(c.zjob("submit", "nobody", str(i)).returncode, EXIT_OK)
        self.assertEqual(c.stop(c.broker), 0)
        return os.path.join(c.state_dir, "zjob.db")

    def assertRefused(self, r, *needles):
        self.assertEqual(r.returncode, 1, r.stderr)
        for needle in needles:
            self.assertIn(needle, r.stderr)

    def test_unusable_directory(self):
        path = os.path.join(self.c.tmp, "a-file")
        open(path, "w").close()
        r = self.run_zjobd(os.path.join(path, "state"))
        self.assertRefused(r, "cannot create state directory", "--state-dir")
        r = self.run_zjobd(path)
        self.assertRefused(r, path, "not a directory")

    def test_damaged_store(self):
        db = self.filled_store()
        with open(db, "r+b") as f:
            f.write(b"this is not a database" * 10)
        r = self.run_zjobd(self.c.state_dir)
        self.assertRefused(r, db, "move zjob.db")

    def test_truncated_store(self):
        db = self.filled_store()
        # Enough rows to span several pages, then cut in half.
        c = self.c
        c.start_broker()
        w = Wire(c.clients_ep)
        self.addCleanup(w.close)
        for first in range(0, 5000, 500):
            w.submit([["nobody", ["x" * 100], {}]] * 500)
        w.until(lambda: len(w.submitted) == 10, 30, "SUBMITTED")
        self.assertEqual(c.stop(c.broker), 0)
        size = os.path.getsize(db)
        os.truncate(db, size // 2)
        r = self.run_zjobd(self.c.state_dir)
        self.assertRefused(r, db, "damaged")

    def test_second_broker_on_one_directory(self):
        c = self.c
        c.start_broker()
        r = self.run_zjobd(c.state_dir)
        self.assertRefused(r, "in use by another zjobd", f"pid {c.broker.pid}")

    def test_full_store_refuses_new_tasks_and_finishes_the_others(self):
        c = self.c
        # A store held to 60 pages (ZJOBD_STORE_MAX_PAGES: the test hook).
        os.environ["ZJOBD_STORE_MAX_PAGES"] = "60"
        try:
            c.start_broker()
        finally:
            del os.environ["ZJOBD_STORE_MAX_PAGES"]
        w = Wire(c.clients_ep)
        self.addCleanup(w.close)
        accepted = []
        big = "y" * 3000
        for i in range(200):
            req = w.submit([["echo", [i, big], {}]])
            w.until(lambda: req in w.submitted or any(e[0] == req for e in w.errors), 10,
                    "an answer")
            if req in w.submitted:
                accepted += w.submitted[req]
            else:
                break
        self.assertTrue(accepted, "nothing was accepted")
        self.assertTrue(w.errors, "the store never filled up")
        req, code, message = w.errors[0]
        self.assertEqual(code, "NoSpace")
        self.assertIn("broker store is full", message)
        self.assertIn("zjob.db", message)
        # Another submit is refused whole; nothing of it becomes a task.
        req = w.submit([["echo", [-1, big], {}]] * 3)
        w.until(lambda: any(e[0] == req for e in w.errors), 10, "NoSpace again")
        self.assertNotIn(req, w.submitted)
        # The accepted tasks still run and their results arrive.
        c.start_worker("--concurrency", "4")
        w.fetch(accepted)
        w.until(lambda: all(t in w.outcomes for t in accepted), 60, "the accepted results")
        self.assertTrue(all(w.outcomes[t][0] == DONE_STATE for t in accepted))
        log = c.log(c.broker)
        self.assertIn("store degraded", log)
        self.assertEqual(c.broker.poll(), None, "zjobd exited")


if __name__ == "__main__":
    unittest.main()
