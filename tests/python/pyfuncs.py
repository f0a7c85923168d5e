# SPDX-License-Identifier: MIT
"""Functions the Python tests run on workers, through
`zjob-worker --serve "python3 -m zjob.serve pyfuncs"`, and locally through
ProcessPoolExecutor, to compare the two."""

import os
import time


class Invalid(Exception):
    """An exception that is not a built-in one."""


def square(x):
    return x * x


def add(a, b, c=0):
    return a + b + c


def fail_if_two(x):
    if x == 2:
        raise ValueError("x==%d" % x)
    return x


def raise_invalid(text):
    raise Invalid(text)


def raise_key(key):
    return {}[key]


def slow(seconds, value=None):
    time.sleep(seconds)
    return seconds if value is None else value


def slow_square(x, seconds=0.05):
    time.sleep(seconds)
    return x * x


def noop():
    return None


def kwargs_echo(*args, **kwargs):
    return {"args": list(args), "kwargs": kwargs}


def pid():
    return os.getpid()


def crash(status):
    os._exit(status)


def unsendable():
    return object()


def shout(text):
    print("printed by a task:", text)
    return text.upper()


def need_file(path):
    """Fails until `path` exists (for retries)."""
    if not os.path.exists(path):
        raise FileNotFoundError(path)
    return "found"
