# SPDX-License-Identifier: MIT
# An embarrassingly parallel bootstrap: each task resamples the data with
# its own seed and returns the medians; the client aggregates them into a
# 95% confidence interval. Only the constructor differs from the
# ProcessPoolExecutor version. Workers serve it with
#   zjob-worker --serve "python3 -m zjob.serve bootstrap"
import concurrent.futures
import os
import random
import statistics

import zjob

# The sample: the same on the client and the workers (a fixed seed).
_rng = random.Random(7)
DATA = [_rng.lognormvariate(0, 1) for _ in range(2000)]

def resample_medians(seed, count):
    rng = random.Random(seed)
    return [statistics.median(rng.choices(DATA, k=len(DATA))) for _ in range(count)]

def main():
    tasks, per_task = 16, 25
    with zjob.Executor(broker=os.environ.get("ZJOB_BROKER")) as executor:
        medians = []
        for chunk in executor.map(resample_medians, range(tasks), [per_task] * tasks):
            medians.extend(chunk)
    medians.sort()
    low = medians[int(0.025 * len(medians))]
    high = medians[int(0.975 * len(medians)) - 1]
    print('resamples: %d' % len(medians))
    print('median: %.4f' % statistics.median(DATA))
    print('95%% bootstrap interval: [%.4f, %.4f]' % (low, high))

if __name__ == '__main__':
    main()
