#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
"""make_broker_seeds - writes tests/fuzz/seeds-broker/: scripts in
broker_fuzz.c's input format that walk the broker through its main
paths (dispatch, results, cancel, worker loss, limits, failing sends and
store, shutdown), so libFuzzer starts from deep states. Rerun after
changing the format: python3 tests/fuzz/make_broker_seeds.py"""

import os
import struct

HERE = os.path.dirname(os.path.abspath(__file__))

# Operation numbers: the enum at the top of broker_fuzz.c.
(CLIENT_FRAME, WORKER_FRAME, FRAMES, CLOCK, FLUSH, DONE, TICKETS, RETURN,
 SUBMIT, READY, WORKER_SIMPLE, STORE, SHUTDOWN) = range(13)
C1, C2, C3 = 0, 1, 2                 # client peers
W1, W2, W3 = 0, 1, 2                 # worker peers
ECHO, SLEEP, F, XYZ = 0, 1, 2, 3     # function names
CHUNK, TIMEOUT, RETRIES = 0x04, 0x08, 0x10
FETCH, STATUS, CANCEL = 0, 1, 2

# Config byte bits.
SHORT_RETENTION, TIGHT_FRAME, TIGHT_QUEUE, DEBUG_LOG = 0x01, 0x20, 0x40, 0x80


def liveness(n):
    return (n % 4) << 1


def retries(n):
    return (n % 4) << 3


def raw(peer, data, worker=False):
    return bytes([WORKER_FRAME if worker else CLIENT_FRAME, peer]) + \
        struct.pack("<H", len(data)) + data


def flush(fail=0, err=0):
    return bytes([FLUSH, fail, err])


def clock(ticks):            # ticks of 0.05 s
    return bytes([CLOCK, ticks])


def ready(peer, credit, fns, hb=0):
    mask = sum(1 << f for f in fns)
    return bytes([READY, peer, credit - 1, mask, hb])


def submit(peer, req, tasks):
    """tasks: (fn | flags, priority) pairs."""
    out = bytes([SUBMIT, peer, len(tasks) - 1, req])
    for how, prio in tasks:
        out += bytes([how, prio & 0xff])
    return out


def done(peer, outcomes):
    """outcomes: (ticket index, how) pairs; how bit 0 = failed."""
    out = bytes([DONE, peer, len(outcomes) - 1])
    for t, how in outcomes:
        out += bytes([t, how])
    return out


def tickets(kind, peer, req, idx, op=TICKETS):
    out = bytes([op]) + (bytes([kind]) if op == TICKETS else b"")
    return out + bytes([peer, len(idx) - 1, req]) + bytes(idx)


SEEDS = {
    "dispatch_results": bytes([liveness(3) | retries(1)]) + ready(W1, 2, [ECHO]) +
    submit(C1, 5, [(ECHO, 0)] * 3) + flush() + done(W1, [(1, 0)]) + flush() +
    clock(2) + done(W1, [(2, 1), (3, 6)]) + flush() +
    tickets(STATUS, C2, 7, [0, 1, 2, 0xff]) + tickets(FETCH, C1, 8, [0]) + flush(),
    "cancel_return": bytes([liveness(3)]) + submit(C1, 1, [(SLEEP, 0), (SLEEP, 1)]) +
    ready(W2, 1, [SLEEP]) + flush() + tickets(CANCEL, C1, 2, [0, 1]) + flush() +
    tickets(0, W2, 0, [1], op=RETURN) + flush() + clock(20) + flush(),
    "worker_lost": bytes([liveness(2) | retries(1)]) + ready(W1, 4, [F, ECHO], hb=2) +
    submit(C2, 1, [(F, 0), (F | RETRIES | 0x20, 3)]) + flush() + clock(20) +
    bytes([WORKER_SIMPLE, W1, 0]) + clock(40) + flush() + clock(40) + flush() +
    ready(W1, 1, [F]) + flush() + done(W1, [(0, 0)]) + flush(),
    "chunks_priorities": bytes([SHORT_RETENTION | liveness(3)]) +
    submit(C1, 9, [(ECHO | CHUNK, 5), (ECHO | TIMEOUT, -3), (XYZ, 100)]) +
    ready(W3, 3, [ECHO, XYZ]) + flush() + done(W3, [(1, 2), (2, 0), (3, 1)]) + flush() +
    clock(60) + tickets(STATUS, C1, 1, [1, 2, 3]) + flush(),
    "limits": bytes([TIGHT_QUEUE | TIGHT_FRAME | liveness(3)]) +
    submit(C1, 1, [(ECHO, 0)] * 2) + submit(C1, 2, [(ECHO, 0)] * 2) +
    submit(C2, 3, [(ECHO, 0)] * 8) + flush() + raw(C1, bytes(200)) + flush(),
    "failing_sends_and_store": bytes([liveness(3) | retries(2)]) + ready(W1, 2, [ECHO]) +
    ready(W2, 2, [ECHO]) + submit(C1, 1, [(ECHO, 0)] * 4) + flush(0xff, 1) +
    flush(0x0f, 0) + bytes([STORE, 0x3f]) + submit(C1, 2, [(ECHO, 0)]) + flush() +
    bytes([STORE, 0]) + flush(0x55, 2) + done(W1, [(0, 0), (1, 0)]) + flush(),
    "shutdown": bytes([liveness(3)]) + ready(W1, 1, [ECHO]) + submit(C1, 1, [(ECHO, 0)] * 2) +
    flush() + tickets(FETCH, C2, 3, [1]) + bytes([SHUTDOWN]) + submit(C1, 2, [(ECHO, 0)]) +
    flush() + done(W1, [(0, 0)]) + bytes([WORKER_SIMPLE, W1, 1]) + flush(),
    "bad_frames": bytes([DEBUG_LOG | liveness(3)]) + raw(C1, b"\xc1") +
    raw(W1, b"\xdd\xff\xff\xff\xff", worker=True) + bytes([FRAMES, 0x03, C2, 0, 0]) +
    raw(3, b"\x93\x01\x0c\x01") + flush(),
}


def main():
    out = os.path.join(HERE, "seeds-broker")
    os.makedirs(out, exist_ok=True)
    for name, script in SEEDS.items():
        with open(os.path.join(out, name + ".bin"), "wb") as f:
            f.write(script)
    # Every codec seed as a frame on each socket from a known peer.
    frames = b""
    for name in sorted(os.listdir(os.path.join(HERE, "seeds"))):
        with open(os.path.join(HERE, "seeds", name), "rb") as f:
            data = f.read()
        frames += raw(C1, data) + raw(W1, data, worker=True)
    with open(os.path.join(out, "codec_seeds.bin"), "wb") as f:
        f.write(bytes([liveness(3)]) + ready(W1, 2, [ECHO, SLEEP]) + frames + flush())


if __name__ == "__main__":
    main()
