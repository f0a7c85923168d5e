# SPDX-License-Identifier: MIT
"""Every zjob CLI command and exit code against a real zjobd and real
zjob-worker processes on loopback."""

import json
import os
import socket
import sys
import time
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from harness import (ClusterTest, wait_for, EXIT_OK, EXIT_FAILED, EXIT_USAGE,  # noqa: E402
                     EXIT_TIMEOUT, EXIT_UNREACHABLE, EXIT_CANCELLED, EXIT_UNKNOWN,
                     EXIT_TOOLATE, ZJOB, ZJOBD, WORKER)
import subprocess  # noqa: E402

PY_VALUEERROR = ("python3 -c \"import json,sys; a=json.load(sys.stdin); "
                 "raise ValueError('x==%d' % a[0])\"")
PY_SQUARE = ("python3 -c \"import json,sys; a=json.load(sys.stdin); "
             "print(json.dumps(a[0]*a[0]))\"")


class RunTest(ClusterTest):
    def setUp(self):
        super().setUp()
        self.c.start_worker("--exec", "square=" + PY_SQUARE,
                            "--exec", "pyfail=" + PY_VALUEERROR,
                            "--exec", "shout=tr a-z A-Z")

    def test_echo_one_arg_prints_json(self):
        r = self.zjob("run", "echo", '{"a": [1, 2.5, "x"]}')
        self.assertExit(r, EXIT_OK)
        self.assertEqual(json.loads(r.stdout), {"a": [1, 2.5, "x"]})
        self.assertEqual(r.stdout.count("\n"), 1)

    def test_echo_many_args_is_array_and_bare_text_is_string(self):
        r = self.zjob("run", "echo", "hello world", "3", "[1]", "null")
        self.assertExit(r, EXIT_OK)
        self.assertEqual(json.loads(r.stdout), ["hello world", 3, [1], None])

    def test_noop_and_sleep(self):
        r = self.zjob("run", "noop")
        self.assertExit(r, EXIT_OK)
        self.assertEqual(json.loads(r.stdout), None)
        r = self.zjob("run", "sleep", "0.05", '"woke"')
        self.assertExit(r, EXIT_OK)
        self.assertEqual(json.loads(r.stdout), "woke")
        r = self.zjob("run", "sleep", "0.01")
        self.assertEqual(json.loads(r.stdout), 0.01)

    def test_fail_builtin_exit_1_with_type_and_message(self):
        r = self.zjob("run", "fail", "KeyError", "no such key")
        self.assertExit(r, EXIT_FAILED)
        self.assertEqual(r.stdout, "")
        self.assertEqual(r.stderr.splitlines()[0], "KeyError: no such key")

    def test_exec_handler_result_and_python_error(self):
        r = self.zjob("run", "square", "7")
        self.assertExit(r, EXIT_OK)
        self.assertEqual(json.loads(r.stdout), 49)
        r = self.zjob("run", "shout", "abc")
        self.assertExit(r, EXIT_OK)
        # tr turns the JSON array ["abc"] into ["ABC"], which parses as JSON.
        self.assertEqual(json.loads(r.stdout), ["ABC"])
        r = self.zjob("run", "pyfail", "2")
        self.assertExit(r, EXIT_FAILED)
        self.assertEqual(r.stderr.splitlines()[0], "ValueError: x==2")
        # The remote traceback travels too.
        self.assertIn("Traceback (most recent call last)", r.stderr)

    def test_submit_then_result_status_from_another_client(self):
        r = self.zjob("submit", "sleep", "0.2", '"later"')
        self.assertExit(r, EXIT_OK)
        ticket = r.stdout.strip()
        self.assertRegex(ticket, r"^[a-z0-9-]+$")
        # A second process, which did not submit, waits for it by ticket.
        r = self.zjob("result", ticket, "--timeout", "10")
        self.assertExit(r, EXIT_OK)
        self.assertEqual(json.loads(r.stdout), "later")
        r = self.zjob("status", ticket)
        self.assertExit(r, EXIT_OK)
        self.assertEqual(r.stdout.strip(), "done")
        # And fetching again gives the same answer (kept for retention).
        r = self.zjob("result", ticket)
        self.assertEqual(json.loads(r.stdout), "later")

    def test_failed_result_by_ticket(self):
        ticket = self.zjob("submit", "fail", "OSError", "disk on fire").stdout.strip()
        r = self.zjob("result", ticket, "--timeout", "10")
        self.assertExit(r, EXIT_FAILED)
        self.assertEqual(r.stderr.splitlines()[0], "OSError: disk on fire")
        self.assertEqual(self.zjob("status", ticket).stdout.strip(), "failed")

    def test_result_timeout_does_not_cancel(self):
        ticket = self.zjob("submit", "sleep", "1", '"slow"').stdout.strip()
        r = self.zjob("result", ticket, "--timeout", "0.1")
        self.assertExit(r, EXIT_TIMEOUT)
        r = self.zjob("run", "sleep", "1", "--timeout", "0.1")
        self.assertExit(r, EXIT_TIMEOUT)
        r = self.zjob("result", ticket, "--timeout", "10")
        self.assertExit(r, EXIT_OK)
        self.assertEqual(json.loads(r.stdout), "slow")

    def test_unknown_ticket(self):
        for cmd in ("result", "status", "cancel"):
            r = self.zjob(cmd, "nosuchgen-00000001")
            self.assertExit(r, EXIT_UNKNOWN)
            self.assertIn("unknown ticket", r.stderr)

    def test_cancel_queued_and_too_late(self):
        # Nobody serves "nobody", so its task stays queued.
        ticket = self.zjob("submit", "nobody", "1").stdout.strip()
        self.assertEqual(self.zjob("status", ticket).stdout.strip(), "queued")
        r = self.zjob("cancel", ticket)
        self.assertExit(r, EXIT_OK)
        self.assertEqual(self.zjob("status", ticket).stdout.strip(), "cancelled")
        r = self.zjob("result", ticket)
        self.assertExit(r, EXIT_CANCELLED)
        # Cancelling a finished task is too late, and says so.
        done = self.zjob("submit", "echo", "1").stdout.strip()
        self.assertExit(self.zjob("result", done), EXIT_OK)
        r = self.zjob("cancel", done)
        self.assertExit(r, EXIT_TOOLATE)
        self.assertIn("done", r.stderr)

    def test_task_for_unregistered_function_waits_and_shows_in_stats(self):
        ticket = self.zjob("submit", "later_fn", "x").stdout.strip()
        # setUp does not wait for its worker to register: under load the
        # first STATS can come before its READY.

        def registered():
            r = self.zjob("stats")
            self.assertExit(r, EXIT_OK)
            s = json.loads(r.stdout)
            return s if s["workers"] else None
        stats = wait_for(registered, 10, "the worker's registration")
        queues = {q["function"]: q for q in stats["queues"]}
        self.assertEqual(queues["later_fn"]["depth"], 1)
        self.assertEqual(stats["tasks"]["queued"], 1)
        self.assertEqual(len(stats["workers"]), 1)
        self.assertIn("echo", stats["workers"][0]["functions"])
        # A worker serving it arrives later and the task completes.
        self.c.start_worker("--exec", "later_fn=cat")
        r = self.zjob("result", ticket, "--timeout", "10")
        self.assertExit(r, EXIT_OK)
        self.assertEqual(json.loads(r.stdout), ["x"])

    def test_usage_errors(self):
        for args in ([], ["frobnicate"], ["run"], ["result"], ["map"],
                     ["run", "echo", "--timeout", "abc"]):
            r = self.zjob(*args)
            self.assertExit(r, EXIT_USAGE)
            self.assertTrue(r.stderr.strip(), f"no message for {args}")

    def test_help_for_every_binary(self):
        for argv in ([ZJOB, "--help"], [ZJOB, "map", "--help"],
                     [ZJOBD, "--help"], [WORKER, "--help"]):
            r = subprocess.run(argv, capture_output=True, text=True, timeout=10)
            self.assertEqual(r.returncode, 0, argv)
            self.assertIn("--", r.stdout)


class MapTest(ClusterTest):
    def setUp(self):
        super().setUp()
        # Two worker processes under one supervisor, like the demo.
        self.c.start_worker("--exec", "square=" + PY_SQUARE, procs=2)

    def test_map_in_order_with_two_workers(self):
        lines = "\n".join(f"[0.0{i % 3}, {i}]" for i in range(40)) + "\n"
        r = self.zjob("map", "sleep", stdin=lines)
        self.assertExit(r, EXIT_OK)
        self.assertEqual([json.loads(x) for x in r.stdout.splitlines()], list(range(40)))

    def test_map_chunked_and_unordered(self):
        lines = "".join(f"{i}\n" for i in range(1000))
        r = self.zjob("map", "echo", "--chunksize", "64", stdin=lines)
        self.assertExit(r, EXIT_OK)
        self.assertEqual([json.loads(x) for x in r.stdout.splitlines()], list(range(1000)))
        r = self.zjob("map", "echo", "--unordered", "--chunksize", "7", stdin=lines)
        self.assertExit(r, EXIT_OK)
        self.assertEqual(sorted(json.loads(x) for x in r.stdout.splitlines()), list(range(1000)))

    def test_map_failed_item_reported_others_go_on(self):
        lines = '["KeyError", "a"]\n["ValueError", "b"]\n'
        r = self.zjob("map", "fail", stdin=lines)
        self.assertExit(r, EXIT_FAILED)
        r = self.zjob("map", "square", stdin="1\n2\nnot-a-number\n4\n")
        self.assertExit(r, EXIT_FAILED)
        out = [json.loads(x) for x in r.stdout.splitlines()]
        self.assertEqual(out[0], 1)
        self.assertEqual(out[1], 4)
        self.assertIn("error", out[2])
        self.assertEqual(out[3], 16)
        self.assertIn("item 3 failed", r.stderr)

    def test_parallel_speedup_tasks_overlap(self):
        # Each task reports when it ran; with two worker processes, tasks
        # must run at the same time. Overlap is behaviour, not a timing
        # threshold: a serial pool could never produce it.
        stamp = ("python3 -c \"import json,sys,time; json.load(sys.stdin); "
                 "s=time.time(); time.sleep(0.3); print(json.dumps([s, time.time()]))\"")
        self.c.start_worker("--exec", "stamp=" + stamp, procs=2)
        r = self.zjob("map", "stamp", stdin="1\n2\n3\n4\n")
        self.assertExit(r, EXIT_OK)
        spans = sorted(json.loads(x) for x in r.stdout.splitlines())
        overlaps = sum(1 for a, b in zip(spans, spans[1:]) if b[0] < a[1])
        self.assertGreaterEqual(overlaps, 1, spans)


class UnreachableTest(unittest.TestCase):
    def test_unreachable_broker_exit_4_bounded(self):
        s = socket.socket()
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
        s.close()  # nothing listens there now
        env = dict(os.environ, ZJOB_BROKER=f"tcp://127.0.0.1:{port}")
        t0 = time.monotonic()
        r = subprocess.run([ZJOB, "--connect-timeout", "1", "run", "echo", "1"],
                           capture_output=True, text=True, timeout=30, env=env)
        self.assertEqual(r.returncode, EXIT_UNREACHABLE, r.stderr)
        self.assertIn("cannot reach the broker", r.stderr)
        self.assertLess(time.monotonic() - t0, 20)


if __name__ == "__main__":
    unittest.main(verbosity=2)
