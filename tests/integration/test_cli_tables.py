# SPDX-License-Identifier: MIT
"""`zjob workers` and `zjob queues`: aligned tables for people and --json
for scripts, against a real zjobd and real zjob-worker processes."""

import json
import os
import socket
import sys
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from harness import ClusterTest, wait_for, EXIT_OK, EXIT_UNREACHABLE, EXIT_USAGE  # noqa: E402

WORKER_COLS = [("ID", "l"), ("NAME", "l"), ("HOST", "l"), ("PID", "r"), ("FUNCTIONS", "l"),
               ("CREDIT", "r"), ("RUNNING", "r"), ("LAST SEEN", "r"), ("LIVENESS", "l")]
QUEUE_COLS = [("FUNCTION", "l"), ("DEPTH", "r"), ("RUNNING", "r"), ("WORKERS", "r"),
              ("OLDEST", "r"), ("SUBMITTED", "r"), ("COMPLETED", "r"), ("FAILED", "r"),
              ("CANCELLED", "r")]


def parse_table(test, text, cols):
    """Check that every row lines up under the header (left columns start,
    right columns end, where their title does) and return the rows as
    dicts. Cells in these tests hold no blanks, so split() finds them."""
    lines = text.rstrip("\n").split("\n")
    header = lines[0]
    test.assertEqual(header.split("  ")[0], cols[0][0])
    rows = []
    for line in lines[1:]:
        test.assertEqual(line, line.rstrip(), "trailing blanks")
        for title, align in cols:
            at = header.index(title)
            if align == "l":
                test.assertNotEqual(line[at], " ", f"{title} misaligned in {line!r}")
                if at:
                    test.assertEqual(line[at - 1], " ", f"{title} misaligned in {line!r}")
            else:
                end = at + len(title)
                test.assertNotEqual(line[end - 1], " ", f"{title} misaligned in {line!r}")
                test.assertTrue(end == len(line) or line[end] == " ",
                                f"{title} misaligned in {line!r}")
        cells = line.split()
        test.assertEqual(len(cells), len(cols), line)
        rows.append(dict(zip([c[0] for c in cols], cells)))
    return rows


class TablesTest(ClusterTest):
    def setUp(self):
        super().setUp()
        self.alpha = self.c.start_worker("--name", "alpha", "--concurrency", "2",
                                         "--prefetch", "1")
        self.beta = self.c.start_worker("--name", "beta")

        def two_workers():
            r = self.zjob("workers", "--json")
            return r.returncode == 0 and len(json.loads(r.stdout)) == 2
        wait_for(two_workers, 10, "two workers registered")

    def test_workers_table_and_json(self):
        # Load: 3 long tasks fill alpha (credit 3) and beta (credit 1)
        # between them; the fifth waits in the queue.
        for i in range(5):
            self.assertExit(self.zjob("submit", "sleep", "30"), EXIT_OK)

        def busy():
            ws = json.loads(self.zjob("workers", "--json").stdout)
            return sum(w["running"] for w in ws) == 4 and ws
        ws = wait_for(busy, 10, "4 tasks running")
        by_name = {w["name"]: w for w in ws}
        self.assertEqual(set(by_name), {"alpha", "beta"})
        self.assertEqual(by_name["alpha"]["credit"], 3)
        self.assertEqual(by_name["beta"]["credit"], 1)
        for w in ws:
            self.assertEqual(w["host"], socket.gethostname())
            self.assertIn("sleep", w["functions"])
            self.assertGreater(w["pid"], 0)
            self.assertRegex(w["id"], r"^\S+$")
            self.assertGreaterEqual(w["last_seen"], 0)

        r = self.zjob("workers")
        self.assertExit(r, EXIT_OK)
        print(r.stdout)
        rows = parse_table(self, r.stdout, WORKER_COLS)
        # Sorted by name, one row per worker, the same facts as --json.
        self.assertEqual([row["NAME"] for row in rows], ["alpha", "beta"])
        for row in rows:
            w = by_name[row["NAME"]]
            self.assertTrue(w["id"].startswith(row["ID"]))
            self.assertEqual(row["HOST"], w["host"])
            self.assertEqual(int(row["PID"]), w["pid"])
            self.assertEqual(int(row["CREDIT"]), w["credit"])
            self.assertEqual(row["FUNCTIONS"].split(","), w["functions"])
            self.assertRegex(row["LAST SEEN"], r"^\d+\.\ds$")
            self.assertEqual(row["LIVENESS"], w["liveness"])
            self.assertRegex(row["LIVENESS"], r"^(alive|late \d+/\d+)$")
        self.assertEqual(sum(int(row["RUNNING"]) for row in rows), 4)

    def test_queues_table_and_json(self):
        self.assertExit(self.zjob("run", "echo", "1"), EXIT_OK)
        self.assertExit(self.zjob("run", "echo", "2"), EXIT_OK)
        self.assertEqual(self.zjob("run", "fail", "E", "m").returncode, 1)
        # No worker runs "nosuch": its task waits and ages.
        self.assertExit(self.zjob("submit", "nosuch"), EXIT_OK)

        def aged():
            qs = {q["function"]: q for q in json.loads(self.zjob("queues", "--json").stdout)}
            return qs.get("nosuch", {}).get("oldest_age", 0) > 0.1 and qs
        qs = wait_for(aged, 10, "the nosuch task to age")
        self.assertEqual(qs["nosuch"]["depth"], 1)
        self.assertEqual(qs["echo"]["depth"], 0)
        self.assertEqual(qs["echo"]["completed"], 2)
        self.assertEqual(qs["fail"]["failed"], 1)

        r = self.zjob("queues")
        self.assertExit(r, EXIT_OK)
        print(r.stdout)
        rows = {row["FUNCTION"]: row for row in parse_table(self, r.stdout, QUEUE_COLS)}
        self.assertEqual(list(rows), sorted(rows))
        self.assertTrue({"echo", "fail", "nosuch", "sleep", "noop"} <= set(rows))
        self.assertEqual(rows["nosuch"]["DEPTH"], "1")
        self.assertEqual(rows["nosuch"]["WORKERS"], "0")
        self.assertRegex(rows["nosuch"]["OLDEST"], r"^\d+\.\ds$")
        self.assertEqual(rows["echo"]["OLDEST"], "-")       # nothing waits
        self.assertEqual(rows["echo"]["SUBMITTED"], "2")
        self.assertEqual(rows["echo"]["COMPLETED"], "2")
        self.assertEqual(rows["echo"]["WORKERS"], "2")
        self.assertEqual(rows["fail"]["FAILED"], "1")


class EmptyBrokerTest(ClusterTest):
    def test_no_workers_no_queues(self):
        r = self.zjob("workers")
        self.assertExit(r, EXIT_OK)
        self.assertEqual(r.stdout, "no workers are registered\n")
        r = self.zjob("workers", "--json")
        self.assertExit(r, EXIT_OK)
        self.assertEqual(json.loads(r.stdout), [])
        r = self.zjob("queues", "--json")
        self.assertExit(r, EXIT_OK)
        self.assertEqual(json.loads(r.stdout), [])

    def test_usage_and_unreachable(self):
        r = self.zjob("workers", "extra")
        self.assertExit(r, EXIT_USAGE)
        self.assertIn("takes no operands", r.stderr)
        s = socket.socket()
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
        s.close()
        r = self.zjob("queues", "--connect-timeout", "0.3", broker=f"tcp://127.0.0.1:{port}")
        self.assertExit(r, EXIT_UNREACHABLE)
        self.assertIn("cannot reach the broker", r.stderr)


if __name__ == "__main__":
    unittest.main()
