#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
"""An exec handler that raises: a Python error in a worker arrives at the
client as `ValueError: ...` with the remote traceback."""
import json
import sys


def checked_div(a, b):
    if b == 0:
        raise ValueError(f"cannot divide {a} by zero")
    return a / b


if __name__ == "__main__":
    print(json.dumps(checked_div(*json.load(sys.stdin))))
