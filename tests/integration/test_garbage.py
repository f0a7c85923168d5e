# SPDX-License-Identifier: MIT
"""Garbage on both broker sockets while other clients' tasks keep
completing: random bytes, truncated msgpack, wrong versions, wrong types
in every field, multi-frame messages and a frame over the size limit.
The broker must answer with ERROR where it can, stay up, and lose
nobody's task."""

import json
import os
import random
import subprocess
import sys
import time
import unittest

import msgpack
import zmq

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from harness import ClusterTest, ZJOB, EXIT_OK  # noqa: E402

ERROR = 11


def bad_frames(rng):
    """Frames each of which a correct broker must refuse."""
    good_submit = msgpack.packb([1, 1, 7, [["echo", [1, 2], {}]]])
    good_ready = msgpack.packb([1, 20, 0, {"name": "x"}, 1, ["echo"]])
    frames = [
        b"",
        b"\xc1",                                   # never-used msgpack byte
        b"\xdd\xff\xff\xff\xff",                   # array claiming 2^32-1 items
        b"\xdf\xff\xff\xff\xff",                   # map claiming 2^32-1 pairs
        b"\x91" * 5000,                            # nesting far too deep
        msgpack.packb({"not": "an array"}),
        msgpack.packb([2, 1, 7, [["echo", [], {}]]]),      # wrong version
        msgpack.packb([1, 99, 7]),                         # unknown type
        msgpack.packb(["1", 1, 7, [["echo", [], {}]]]),    # version is a string
        msgpack.packb([1, 1, -7, [["echo", [], {}]]]),     # negative req
        msgpack.packb([1, 1, 7, []]),                      # no tasks
        msgpack.packb([1, 1, 7, [[1, [], {}]]]),           # fn not a string
        msgpack.packb([1, 1, 7, [["", [], {}]]]),          # empty fn
        msgpack.packb([1, 1, 7, [["e cho", [], {}]]]),     # fn with a space
        msgpack.packb([1, 1, 7, [["echo", "notarray", {}]]]),
        msgpack.packb([1, 1, 7, [["echo", [], []]]]),      # options not a map
        msgpack.packb([1, 1, 7, [["echo", [], {"priority": "high"}]]]),
        msgpack.packb([1, 1, 7, [["echo", [], {"timeout": "soon"}]]]),
        msgpack.packb([1, 3, 7, [12]]),                    # ticket not a string
        msgpack.packb([1, 3, 7, ["x" * 500]]),             # ticket too long
        msgpack.packb([1, 20, 0, {"name": 5}, 1, ["echo"]]),
        msgpack.packb([1, 20, 0, {}, 0, ["echo"]]),        # zero credit
        msgpack.packb([1, 20, 0, {}, 1, []]),              # no functions
        msgpack.packb([1, 22, 0, [["t", 9, None]]]),       # bad state in DONE
        msgpack.packb([1, 22, 0, [["t", 4, ["only type"]]]]),
        good_submit + b"\x00",                             # trailing bytes
    ]
    frames += [good_submit[:i] for i in range(len(good_submit))]   # every truncation
    frames += [good_ready[:i] for i in range(len(good_ready))]
    for _ in range(300):
        frames.append(bytes(rng.getrandbits(8) for _ in range(rng.randint(1, 64))))
    for _ in range(300):
        b = bytearray(rng.choice([good_submit, good_ready]))
        for _ in range(rng.randint(1, 4)):
            b[rng.randrange(len(b))] = rng.getrandbits(8)
        frames.append(bytes(b))
    return frames


class GarbageTest(ClusterTest):
    broker_args = ("--max-frame", str(1 << 20))

    def setUp(self):
        super().setUp()
        self.c.start_worker(procs=2)
        self.ctx = zmq.Context()
        self.addCleanup(self.ctx.destroy, 0)

    def sock(self, ep):
        s = self.ctx.socket(zmq.DEALER)
        s.setsockopt(zmq.LINGER, 0)
        s.connect(ep)
        return s

    def test_garbage_on_both_sockets_while_tasks_complete(self):
        # Honest traffic: a map of 3,000 echo tasks, started before the
        # garbage and running while it arrives.
        n = 3000
        env = dict(os.environ, ZJOB_BROKER=self.c.clients_ep)
        mapper = subprocess.Popen([ZJOB, "map", "echo", "--chunksize", "1"],
                                  stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                                  stderr=subprocess.PIPE, text=True, env=env)
        self.addCleanup(lambda: mapper.poll() is None and mapper.kill())
        rng = random.Random(1234)
        frames = bad_frames(rng)
        cs, ws = self.sock(self.c.clients_ep), self.sock(self.c.workers_ep)
        half = "".join(f"{i}\n" for i in range(n // 2))
        mapper.stdin.write(half)
        mapper.stdin.flush()
        for f in frames:
            cs.send(f)
            ws.send(f)
        # Multi-frame messages and a frame over --max-frame (1 MiB), from
        # sockets of their own: libzmq drops the connection of a peer that
        # sends an oversized frame, with any replies still queued for it.
        extra_c, extra_w = self.sock(self.c.clients_ep), self.sock(self.c.workers_ep)
        extra_c.send_multipart([b"a", b"b"])
        extra_w.send_multipart([msgpack.packb([1, 12, 1]), b"extra"])
        big = msgpack.packb([1, 1, 9, [["echo", ["x" * (2 << 20)], {}]]])
        extra_c.send(big)
        rest = "".join(f"{i}\n" for i in range(n // 2, n))
        out, err = mapper.communicate(rest, timeout=120)   # closes stdin after it
        self.assertEqual(mapper.returncode, 0, err)
        self.assertEqual([json.loads(x) for x in out.splitlines()], list(range(n)))

        # The broker answered the client-socket garbage with ERROR frames.
        errors = 0
        while cs.poll(500):
            msg = msgpack.unpackb(cs.recv(), raw=False)
            if isinstance(msg, list) and len(msg) >= 5 and msg[1] == ERROR:
                errors += 1
                self.assertIn(msg[3], ("ProtocolError", "VersionMismatch", "TooLarge"))
        self.assertGreater(errors, len(frames) // 2)
        # Still alive and serving.
        self.assertIsNone(self.c.broker.poll())
        r = self.zjob("run", "echo", "still-here")
        self.assertEqual(r.returncode, EXIT_OK, r.stderr)
        self.assertEqual(json.loads(r.stdout), "still-here")

    def test_valid_submit_from_raw_socket(self):
        # The protocol document is enough to talk to the broker by hand.
        s = self.sock(self.c.clients_ep)
        s.send(msgpack.packb([1, 1, 42, [["echo", ["raw", 1], {}]]]))
        reply = msgpack.unpackb(s.recv(), raw=False)
        self.assertEqual(reply[:3], [1, 2, 42])
        (ticket,) = reply[3]
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            if s.poll(1000):
                msg = msgpack.unpackb(s.recv(), raw=False)
                if msg[1] == 10:
                    self.assertEqual(msg[3], [[ticket, 3, ["raw", 1]]])
                    return
        self.fail("no RESULT pushed to the submitting raw client")


if __name__ == "__main__":
    unittest.main(verbosity=2)
