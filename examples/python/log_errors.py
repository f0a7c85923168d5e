# SPDX-License-Identifier: MIT
# Errors collected per future: the logarithm of random numbers in (-1, 1)
# fails for the negative ones with ValueError, which comes back as itself.
# math.log runs on the workers: zjob-worker --serve "python3 -m zjob.serve math"
import concurrent.futures
import math
import os
import random

import zjob

def main():
    rng = random.Random(2024)
    numbers = [rng.uniform(-1, 1) for _ in range(12)]
    with zjob.Executor(broker=os.environ.get("ZJOB_BROKER")) as executor:
        futures = {executor.submit(math.log, x): x for x in numbers}
        results, errors = {}, {}
        for future in concurrent.futures.as_completed(futures):
            x = futures[future]
            try:
                results[x] = future.result()
            except ValueError as exc:
                errors[x] = exc
    for x in numbers:
        if x in results:
            print('log(%+.3f) = %+.3f' % (x, results[x]))
        else:
            print('log(%+.3f) failed: %s: %s' % (x, type(errors[x]).__name__, errors[x]))
    print('%d results, %d errors' % (len(results), len(errors)))

if __name__ == '__main__':
    main()
