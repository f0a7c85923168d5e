#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
"""An exec handler: the classic concurrent.futures example, is_prime(n).
zjob-worker passes the task's arguments as a JSON array on stdin and
takes the JSON printed on stdout as the result."""
import json
import math
import sys


def is_prime(n):
    if n < 2:
        return False
    if n == 2:
        return True
    if n % 2 == 0:
        return False
    for i in range(3, int(math.isqrt(n)) + 1, 2):
        if n % i == 0:
            return False
    return True


if __name__ == "__main__":
    (n,) = json.load(sys.stdin)
    print(json.dumps(is_prime(n)))
