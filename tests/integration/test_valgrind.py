# SPDX-License-Identifier: MIT
"""zjobd and one zjob-worker (with its runner processes) under valgrind
memcheck through a short workload: tasks that succeed and fail, an exec
handler, a map, a cancel, stats, garbage frames on both sockets and a
client that leaves before its result. Both daemons then stop on SIGTERM
and must exit 0 with no leak and no invalid access in their logs."""

import json
import os
import random
import re
import shutil
import signal
import subprocess
import sys
import unittest

import msgpack
import zmq

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from harness import (Cluster, wait_for, ZJOBD, EXIT_OK, EXIT_FAILED,  # noqa: E402
                     EXIT_CANCELLED)
from test_garbage import bad_frames  # noqa: E402

VALGRIND = shutil.which("valgrind")
# Exit status valgrind gives a process in which it found an error.
VALGRIND_ERROR = 99
VALGRIND_ARGS = [
    "--error-exitcode=%d" % VALGRIND_ERROR, "--leak-check=full",
    "--errors-for-leak-kinds=definite,indirect", "--show-leak-kinds=definite,indirect",
    "--track-fds=no", "--num-callers=30",
    # The worker's runners are zjob-worker again: check them too, but not
    # the shells and programs that exec handlers start.
    "--trace-children=yes", "--trace-children-skip=/bin/sh,/usr/bin/*,*/sh",
    "--child-silent-after-fork=yes",
]
# What memcheck prints for an error; any of these fails the test.
BAD = re.compile(r"definitely lost: [1-9]|indirectly lost: [1-9]|Invalid read|"
                 r"Invalid write|Invalid free|Mismatched free|uninitialised|"
                 r"Syscall param .* points to|ERROR SUMMARY: [1-9]")


def asan_build():
    """True when the binaries were built with AddressSanitizer, which
    cannot run under valgrind."""
    try:
        with open(ZJOBD, "rb") as f:
            return b"__asan_init" in f.read()
    except OSError:
        return False


@unittest.skipUnless(VALGRIND, "valgrind is not installed: scripts/deps installs it "
                     "(Debian package valgrind)")
class ValgrindTest(unittest.TestCase):
    def setUp(self):
        if asan_build():
            self.skipTest("binaries built with AddressSanitizer cannot run under valgrind; "
                          "the plain build's pass runs this test")
        self.c = Cluster(prefix=[VALGRIND] + VALGRIND_ARGS)
        self.c.ready_timeout = 60
        self.addCleanup(self.c.close)
        self.ctx = zmq.Context()
        self.addCleanup(self.ctx.destroy, 0)

    def zjob(self, *args, code=EXIT_OK, **kw):
        r = self.c.zjob(*args, timeout=120, **kw)
        if r.returncode != code:
            self.fail(f"zjob {args}: exit {r.returncode}, expected {code}\n"
                      f"stdout: {r.stdout}\nstderr: {r.stderr}\n{self.logs()}")
        return r

    def logs(self):
        return "\n".join(f"--- {p.args[len(self.c.prefix)]} (pid {p.pid}) ---\n"
                         f"{self.c.log(p)[-6000:]}" for p in self.c.procs)

    def dealer(self, ep):
        s = self.ctx.socket(zmq.DEALER)
        s.setsockopt(zmq.LINGER, 0)
        s.connect(ep)
        return s

    def test_daemons_clean_under_memcheck(self):
        c = self.c
        broker = c.start_broker()
        # Two processes: the supervisor and its two sessions are all checked.
        worker = c.start_worker("--heartbeat", "1", "--concurrency", "2",
                                "--exec", "upper=tr a-z A-Z", procs=2)
        # The first task waits for the worker to come up under valgrind.
        r = self.zjob("run", "echo", '{"a": [1, 2.5, "x"]}')
        self.assertEqual(json.loads(r.stdout), {"a": [1, 2.5, "x"]})
        r = self.zjob("run", "fail", "KeyError", "no such key", code=EXIT_FAILED)
        self.assertIn("KeyError: no such key", r.stderr)
        r = self.zjob("run", "upper", "abc")
        self.assertEqual(json.loads(r.stdout), ["ABC"])   # stdin is the JSON args
        r = self.zjob("map", "echo", stdin="".join(f"{i}\n" for i in range(200)))
        self.assertEqual([json.loads(x) for x in r.stdout.splitlines()], list(range(200)))

        # A task nobody can run, cancelled while queued.
        ticket = self.zjob("submit", "nobody", "1").stdout.strip()
        self.zjob("cancel", ticket)
        self.zjob("result", ticket, code=EXIT_CANCELLED)
        stats = json.loads(self.zjob("stats").stdout)
        self.assertIsInstance(stats, dict)

        # Garbage on both sockets, then a raw client that submits and
        # leaves before its result comes back.
        rng = random.Random(99)
        cs, ws = self.dealer(c.clients_ep), self.dealer(c.workers_ep)
        for f in bad_frames(rng)[:300]:
            cs.send(f)
            ws.send(f)
        cs.send_multipart([b"a", b"b"])
        gone = self.dealer(c.clients_ep)
        gone.send(msgpack.packb([1, 1, 1, [["sleep", [0.2, "late"], {}]]]))
        wait_for(lambda: gone.poll(100), 60, "SUBMITTED for the leaving client")
        gone.close(0)
        r = self.zjob("run", "echo", "still-here")
        self.assertEqual(json.loads(r.stdout), "still-here")

        # Stop the worker first (its runners finish and exit), then zjobd.
        for p in (worker, broker):
            rc = c.stop(p, signal.SIGTERM, timeout=120)
            self.assertEqual(rc, 0, f"exit status {rc} (valgrind reports errors with "
                             f"{VALGRIND_ERROR})\n{self.logs()}")
        for p in (worker, broker):
            log = c.log(p)
            self.assertIn("ERROR SUMMARY: 0 errors", log, self.logs())
            bad = BAD.search(log)
            self.assertIsNone(bad, f"valgrind found an error ({bad and bad.group(0)}):\n"
                              f"{log[-12000:]}")


if __name__ == "__main__":
    result = unittest.main(verbosity=2, exit=False).result
    # 77 tells meson the test was skipped (no valgrind, or an ASan build).
    if result.testsRun and len(result.skipped) == result.testsRun:
        sys.exit(77)
    sys.exit(0 if result.wasSuccessful() else 1)
