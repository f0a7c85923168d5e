# SPDX-License-Identifier: MIT
"""ZJP/1 constants and msgpack helpers shared by the client and the task
process: message and state numbers from docs/protocol.md, the keyword
argument marker, and the value packing rules (what msgpack can carry)."""

import msgpack

VERSION = 1

# Message types (docs/protocol.md, section 5).
SUBMIT, SUBMITTED, FETCH, STATUS, STATUS_REPLY = 1, 2, 3, 4, 5
CANCEL, CANCEL_REPLY, STATS, STATS_REPLY, RESULT, ERROR = 6, 7, 8, 9, 10, 11
PING, PONG, RETRY, RETRY_REPLY, DISCONNECT = 12, 13, 14, 15, 25

# Task states (section 4).
QUEUED, RUNNING, DONE, FAILED, CANCELLED, UNKNOWN, EXPIRED = 1, 2, 3, 4, 5, 6, 7
STATE_NAMES = {QUEUED: "queued", RUNNING: "running", DONE: "done", FAILED: "failed",
               CANCELLED: "cancelled", UNKNOWN: "unknown", EXPIRED: "expired"}

# Keyword arguments travel as one trailing msgpack ext value of this type
# whose data is a msgpack map from names to values (section 8.4).
KWARGS_EXT = 75

# The pipe protocol of task processes (section 8).
PIPE_VERSION = 1

SUPPORTED = "None, bool, int, float, str, bytes, list, tuple and dict"


def packb(obj):
    """msgpack bytes of obj: tuples become arrays, bytes bin, str str."""
    return msgpack.packb(obj, use_bin_type=True)


def unpackb(data):
    """Python objects of msgpack bytes: str for str, bytes for bin, any
    map key type; ext values stay msgpack.ExtType."""
    return msgpack.unpackb(data, raw=False, strict_map_key=False)


def pack_args(args, kwargs):
    """The msgpack bytes of a task's argument array, keyword arguments
    appended as the KWARGS_EXT marker."""
    if kwargs:
        args = list(args)
        args.append(msgpack.ExtType(KWARGS_EXT, packb(kwargs)))
    return packb(list(args))


def split_args(args):
    """Positional list and keyword dict of a task's decoded arguments."""
    if args and isinstance(args[-1], msgpack.ExtType) and args[-1].code == KWARGS_EXT:
        kwargs = unpackb(args[-1].data)
        if not isinstance(kwargs, dict):
            raise TypeError("keyword arguments marker does not hold a map")
        return args[:-1], {str(k): v for k, v in kwargs.items()}
    return args, {}


def array_header(n):
    """The msgpack header of an array of n elements."""
    if n < 16:
        return bytes((0x90 | n,))
    if n < 0x10000:
        return b"\xdc" + n.to_bytes(2, "big")
    return b"\xdd" + n.to_bytes(4, "big")
