# SPDX-License-Identifier: MIT
# submit + as_completed with a dictionary from futures to inputs, the shape
# of the ThreadPoolExecutor example of the Python documentation; only the
# constructor differs from ProcessPoolExecutor code. Workers serve it with
#   zjob-worker --serve "python3 -m zjob.serve squares_as_completed"
import concurrent.futures
import os
import time

import zjob

NUMBERS = [3, 14, 15, 92, 65, 35, 89, 79]

def slow_square(n):
    time.sleep(0.1 * (n % 5))
    if n == 92:
        raise ValueError('%d is too large' % n)
    return n * n

def main():
    with zjob.Executor(broker=os.environ.get("ZJOB_BROKER")) as executor:
        future_to_n = {executor.submit(slow_square, n): n for n in NUMBERS}
        for future in concurrent.futures.as_completed(future_to_n):
            n = future_to_n[future]
            try:
                data = future.result()
            except Exception as exc:
                print('%r generated an exception: %s' % (n, exc))
            else:
                print('%r squared is %d' % (n, data))

if __name__ == '__main__':
    main()
