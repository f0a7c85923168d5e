# SPDX-License-Identifier: MIT
# A tqdm progress bar over as_completed, unchanged but for the constructor.
# Workers serve it with: zjob-worker --serve "python3 -m zjob.serve progress"
import concurrent.futures
import os
import time

from tqdm import tqdm

import zjob

def simulate(step):
    time.sleep(0.02)
    return step % 7

def main():
    with zjob.Executor(broker=os.environ.get("ZJOB_BROKER")) as executor:
        futures = [executor.submit(simulate, i) for i in range(200)]
        total = 0
        for future in tqdm(concurrent.futures.as_completed(futures), total=len(futures)):
            total += future.result()
    print('total:', total)

if __name__ == '__main__':
    main()
